//! Issue 12: HL7 v2 to and from JSON and HL7 v2.xml, in the real engine and on the command
//! line. A YAML rule sends through `HIE.Transform.HL7ToJSON` and `HL7ToXML`; what the file
//! operations write converts back (`hie convert --to hl7`) to the very bytes sent. Every
//! sample message round-trips through `hie convert` byte for byte (the samples' own
//! terminators and BOMs normalised as docs/hl7-conversions.md says).

use hie_tests::engine::{Engine, run_hie};
use hie_tests::mllp::Client;
use hie_tests::{TempDir, finished_files, free_port, hl7, wait_for, workspace_root};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn hie_convert(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(hie_tests::engine::hie_bin())
        .arg("convert")
        .args(args)
        .output()
        .expect("hie convert runs");
    assert!(out.status.success(), "hie convert {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn a_rule_sends_json_and_xml_made_by_the_conversion_transforms_and_they_convert_back_to_the_message() {
    let dir = TempDir::new("conversions");
    let port = free_port();
    let out = |name: &str| dir.join("out").join(name);
    std::fs::write(
        dir.join("rules.yaml"),
        "rules:\n  - send:\n      - target: Json_Out\n        transform: HIE.Transform.HL7ToJSON\n      - target: Xml_Out\n        transform: HIE.Transform.HL7ToXML\n",
    )
    .expect("rules");
    let file_op = |name: &str| {
        format!(
            "  - id: {name}\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n",
            out(name).display()
        )
    };
    let production = format!(
        "name: Conversions\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {port}}}\n    host_settings: {{TargetConfigNames: Router, MessageSchemaCategory: '2.5'}}\n  - id: Router\n    class: EnsLib.HL7.MsgRouter.RoutingEngine\n    host_settings: {{BusinessRuleName: rules.yaml}}\n{}{}",
        file_op("Json_Out"),
        file_op("Xml_Out")
    );
    let config = dir.join("production.yaml");
    std::fs::write(&config, production).expect("production");
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let msg = std::fs::read(workspace_root().join("tests/fixtures/iris/messages/oru_r01_normal.hl7")).expect("fixture");
    let ack = Client::connect_retry(port).send(&msg).expect("send");
    assert!(["AA", "CA"].contains(&hl7::ack_code(&ack).as_str()), "{}", String::from_utf8_lossy(&ack));

    let written = |item: &str| wait_for(T, item, || finished_files(&out(item)).and_then(|f| f.into_iter().next()));
    let json_file = written("Json_Out");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_file).expect("read")).expect("JSON");
    assert_eq!(json["doctype"], "2.5:ORU_R01", "the service's MessageSchemaCategory named the fields");
    assert!(json.to_string().contains("ObservationValue"), "schema field names: {json}");
    let xml_file = written("Xml_Out");
    let xml = std::fs::read_to_string(&xml_file).expect("read");
    assert!(xml.contains("<ORU_R01 ") && xml.contains("<OBX.5>"), "{xml}");
    for f in [&json_file, &xml_file] {
        let back = hie_convert(&["--to", "hl7", "--raw", f.to_str().expect("path")]);
        assert_eq!(String::from_utf8_lossy(&back), String::from_utf8_lossy(&msg), "{} converts back", f.display());
    }
}

/// The samples, as docs/hl7-conversions.md normalises them: no BOM, each segment ending
/// in exactly one CR.
fn normalised(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).into_owned();
    let mut out = Vec::new();
    for seg in text.split(['\r', '\n']).filter(|s| !s.trim().is_empty()) {
        out.extend_from_slice(seg.as_bytes());
        out.push(b'\r');
    }
    out
}

#[test]
fn every_sample_message_round_trips_through_hie_convert_to_json_and_to_xml() {
    let samples = workspace_root().join("plugin-api/hl7/tests/samples");
    let dir = TempDir::new("convert-cli");
    let mut n = 0;
    let mut files: Vec<_> = std::fs::read_dir(&samples).expect("samples").map(|e| e.expect("entry").path()).collect();
    files.sort();
    for path in files.iter().filter(|p| p.extension().is_some_and(|x| x == "hl7")) {
        let bytes = std::fs::read(path).expect("sample");
        let is_batch =
            String::from_utf8_lossy(&bytes).contains("FHS|") || String::from_utf8_lossy(&bytes).contains("BHS|");
        if is_batch {
            continue; // one document per message: covered by the library's tests
        }
        for to in ["json", "xml"] {
            let doc = hie_convert(&["--to", to, path.to_str().expect("path")]);
            let file = dir.join(&format!("{n}.{to}"));
            std::fs::write(&file, &doc).expect("write");
            let back = hie_convert(&["--to", "hl7", "--raw", file.to_str().expect("path")]);
            assert_eq!(back, normalised(&bytes), "{} via {to}", path.display());
            n += 1;
        }
    }
    assert!(n >= 20, "only {n} conversions");
    let (code, _, err) = run_hie(&["convert", "--to", "hl7", path_str(&samples.join("SOURCES.md"))]);
    assert_eq!(code, 1);
    assert!(err.contains("neither JSON") || err.contains("SOURCES.md"), "{err}");
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("path")
}
