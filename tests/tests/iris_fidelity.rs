//! Issue 17: IRIS productions run unchanged — disabled items validated as IRIS starts them,
//! `LocalInterface` as IRIS stores it, `hie validate --json` on every path.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, free_port, hl7};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A bare-XML IRIS production: an MLLP service bound as IRIS stores `LocalInterface`, a
/// router, an MLLP operation, and two disabled items IRIS would start the production with
/// (a custom class HIE lacks, a target that is not an item).
fn production(dir: &TempDir, in_port: u16, out_port: u16) -> std::path::PathBuf {
    let text = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Production Name="Trust.ADT" LogGeneralTraceEvents="false">
  <Item Name="PAS_In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="Port">{in_port}</Setting>
    <Setting Target="Adapter" Name="LocalInterface">127.0.0.1 (IPv4 Loopback)</Setting>
    <Setting Target="Host" Name="TargetConfigNames">Route</Setting>
  </Item>
  <Item Name="Route" ClassName="HIE.Process.Passthrough" PoolSize="1" Enabled="true">
    <Setting Target="Host" Name="TargetConfigNames">EPR_Out</Setting>
  </Item>
  <Item Name="EPR_Out" ClassName="EnsLib.HL7.Operation.TCPOperation" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Adapter" Name="Port">{out_port}</Setting>
    <Setting Target="Adapter" Name="LocalInterface">127.0.0.1 (lo)</Setting>
  </Item>
  <Item Name="Old_Feed" ClassName="Trust.Custom.LegacyFeed" PoolSize="1" Enabled="false">
  </Item>
  <Item Name="Old_Route" ClassName="HIE.Process.Passthrough" PoolSize="1" Enabled="false">
    <Setting Target="Host" Name="TargetConfigNames">Decommissioned_Out</Setting>
  </Item>
</Production>
"#
    );
    let file = dir.join("Trust.ADT.xml");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn a_production_with_disabled_items_iris_would_start_validates_with_warnings_and_runs() {
    let dir = TempDir::new("iris-disabled");
    let (in_port, out_port) = (free_port(), free_port());
    let config = production(&dir, in_port, out_port);
    let (code, out, err) = run_hie(&["validate", config.to_str().unwrap()]);
    assert_eq!(code, 0, "IRIS starts it, so it validates:\n{out}{err}");
    let warned =
        |item: &str, text: &str| out.lines().any(|l| l.contains("warning") && l.contains(item) && l.contains(text));
    assert!(warned("Old_Feed", "unknown class Trust.Custom.LegacyFeed"), "{out}");
    assert!(warned("Old_Route", "\"Decommissioned_Out\" is not an item"), "{out}");
    assert!(out.contains("is valid (4 items, 2 warnings)"), "the skipped item is not counted: {out}");
    // And it runs: the listener on the IRIS-form LocalInterface, messages through.
    let receiver = Receiver::start(out_port);
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("D1", "MRN1")).unwrap()), "CA");
    receiver.wait_for_count(1, T);
    assert_eq!(receiver.control_ids(), ["D1"]);
    // Enabled, the same items are errors.
    let enabled = std::fs::read_to_string(&config).unwrap().replace("Enabled=\"false\"", "Enabled=\"true\"");
    let file = dir.join("enabled.xml");
    std::fs::write(&file, enabled).unwrap();
    let (code, out, _) = run_hie(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("2 errors and 0 warnings; the production would not start"), "{out}");
}

#[test]
fn validate_json_prints_one_summary_object_on_every_path_unreadable_and_malformed_files_included() {
    let dir = TempDir::new("validate-json");
    let json = |args: &[&str]| -> (i32, serde_json::Value) {
        let (code, out, err) = run_hie(args);
        let value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is JSON ({e}):\n{out}\n{err}"));
        (code, value)
    };
    let missing = dir.join("missing.yaml");
    let (code, v) = json(&["validate", "--json", missing.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(
        (v["valid"].clone(), v["errors"].clone(), v["items"].clone()),
        (false.into(), 1.into(), 0.into()),
        "{v}"
    );
    assert!(v["diagnostics"][0]["message"].as_str().is_some_and(|m| m.contains("cannot read")), "{v}");

    let malformed = dir.join("malformed.xml");
    std::fs::write(&malformed, "<Production Name=\"X\">\n  <Item Name=\"A\"\n</Production>\n").unwrap();
    let (code, v) = json(&["validate", "--json", malformed.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(v["valid"], false, "{v}");
    assert!(v["diagnostics"][0]["line"].as_u64().is_some_and(|l| l > 0), "the line of the problem: {v}");
    assert_eq!(v["diagnostics"][0]["file"], malformed.display().to_string());

    let config = production(&dir, free_port(), free_port());
    let (code, v) = json(&["validate", "--json", config.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(v["production"], "Trust.ADT");
    assert_eq!(
        (v["valid"].clone(), v["items"].clone(), v["errors"].clone(), v["warnings"].clone()),
        (true.into(), 4.into(), 0.into(), 2.into()),
        "{v}"
    );
    assert_eq!(v["diagnostics"].as_array().map(Vec::len), Some(2));

    // One item reads "1 item".
    let one = dir.join("one.yaml");
    std::fs::write(&one, "name: One\nitems:\n  - id: P\n    class: HIE.Process.Passthrough\n").unwrap();
    let (code, out, _) = run_hie(&["validate", one.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is valid (1 item, 0 warnings)"), "{out}");
}

#[test]
fn operations_write_clean_hl7_while_the_stored_message_stays_byte_exact() {
    let dir = TempDir::new("clean-output");
    let (in_port, out_port) = (free_port(), free_port());
    let (plain, crlf) = (dir.join("plain"), dir.join("crlf"));
    let config = dir.join("Clean.xml");
    std::fs::write(
        &config,
        format!(
            r#"<Production Name="Clean">
  <Item Name="In" ClassName="EnsLib.HL7.Service.TCPService" Enabled="true">
    <Setting Target="Adapter" Name="Port">{in_port}</Setting>
    <Setting Target="Host" Name="TargetConfigNames">Tcp_Out,File_Out,Crlf_Out</Setting>
  </Item>
  <Item Name="Tcp_Out" ClassName="EnsLib.HL7.Operation.TCPOperation" Enabled="true">
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Adapter" Name="Port">{out_port}</Setting>
  </Item>
  <Item Name="File_Out" ClassName="EnsLib.HL7.Operation.FileOperation" Enabled="true">
    <Setting Target="Adapter" Name="FilePath">{}</Setting>
    <Setting Target="Host" Name="Filename">%f.hl7</Setting>
  </Item>
  <Item Name="Crlf_Out" ClassName="EnsLib.HL7.Operation.FileOperation" Enabled="true">
    <Setting Target="Adapter" Name="FilePath">{}</Setting>
    <Setting Target="Host" Name="Filename">%f.hl7</Setting>
    <Setting Target="Host" Name="Separators"><![CDATA[|^~\&\r\n]]></Setting>
  </Item>
</Production>
"#,
            plain.display(),
            crlf.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::create_dir_all(&crlf).unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);
    // A BOM, LF terminators and a blank line, as some senders write.
    let sent = b"\xEF\xBB\xBFMSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000||ADT^A01|C1|P|2.4\nEVN|A01|20260101120000\n\nPID|1||MRN9^^^RXX^MR||Smith^Al\n";
    assert_eq!(hl7::ack_code(&client.send(sent).unwrap()), "CA");
    let clean: &[u8] =
        b"MSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000||ADT^A01|C1|P|2.4\rEVN|A01|20260101120000\rPID|1||MRN9^^^RXX^MR||Smith^Al\r";
    receiver.wait_for_count(1, T);
    assert_eq!(receiver.messages()[0], clean, "MLLP: no BOM, CR after every segment");
    let file_of = |dir: &std::path::Path| {
        hie_tests::wait_for(T, "the file written", || hie_tests::finished_files(dir).filter(|f| f.len() == 1)).remove(0)
    };
    assert_eq!(std::fs::read(file_of(&plain)).unwrap(), clean, "file: the same by default");
    let crlf_bytes = std::fs::read(file_of(&crlf)).unwrap();
    assert_eq!(crlf_bytes, String::from_utf8_lossy(clean).replace('\r', "\r\n").as_bytes(), "Separators |^~\\&\\r\\n");
    // The stored message is what arrived, byte for byte.
    let found = engine.get("/api/messages?control_id=C1&item=In");
    let id = found["messages"][0]["id"].as_u64().unwrap_or_else(|| panic!("{found}"));
    let shown = engine.get(&format!("/api/messages/{id}"));
    assert_eq!(shown["body"].as_str().map(str::as_bytes), Some(&sent[..]), "{shown}");
}

#[test]
fn system_default_settings_in_a_studio_export_apply_with_iris_precedence_and_explain_says_where_from() {
    let dir = TempDir::new("esd");
    let fixtures = hie_tests::workspace_root().join("tests/fixtures/iris/productions");
    let ports: Vec<(String, String)> = ["21001", "21002", "21003", "21004", "21999"]
        .iter()
        .map(|p| (p.to_string(), free_port().to_string()))
        .collect();
    let mut text = std::fs::read_to_string(fixtures.join("esd-precedence.export.xml")).unwrap();
    for (old, new) in &ports {
        text = text.replace(old.as_str(), new);
    }
    let out_dir = dir.join("data/out");
    text = text.replace("data/out/", &format!("{}/", out_dir.display()));
    for d in ["adt", "default"] {
        std::fs::create_dir_all(out_dir.join(d)).unwrap();
    }
    let config = dir.join("esd-precedence.export.xml");
    std::fs::write(&config, &text).unwrap();
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    let rules = "HIE.Fixture.ESD.Rules.Main.yaml";
    std::fs::copy(fixtures.join("rules").join(rules), dir.join("rules").join(rules)).unwrap();
    let port = |p: &str| ports.iter().find(|(o, _)| o == p).map(|(_, n)| n.clone()).unwrap_or_default();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).map(|i| i + 1).unwrap_or(0);

    let (code, out, err) = run_hie(&["validate", config.to_str().unwrap(), "--explain", "PAS_ADT_In"]);
    assert_eq!(code, 0, "{out}{err}");
    let said = |setting: &str| {
        out.lines().find(|l| l.trim_start().starts_with(&format!("{setting} "))).unwrap_or("").to_string()
    };
    let file = config.display().to_string();
    assert!(
        said("Port").contains(&format!(
            "\"{}\"  (System Default Settings {file}:{})",
            port("21001"),
            line_of("E5 PAS")
        )),
        "{out}"
    );
    assert!(
        said("ReadTimeout").contains(&format!("\"12\"  (System Default Settings {file}:{})", line_of("E3 PAS"))),
        "{out}"
    );
    assert!(
        said("MessageSchemaCategory").contains("\"\"  (production"),
        "an empty value written in the production wins: {out}"
    );
    assert!(said("AckMode").contains("\"Immed\"  (production"), "{out}");

    let (_, out, _) = run_hie(&["validate", "--json", config.to_str().unwrap(), "--explain", "LAB_ORU_In"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let get = |name: &str| v["explain"].as_array().and_then(|a| a.iter().find(|x| x["setting"] == name).cloned());
    assert_eq!(get("Port").map(|x| x["value"].clone()), Some(port("21999").into()), "the class-wide entry: {v}");
    assert_eq!(get("ReadTimeout").map(|x| x["value"].clone()), Some("20".into()), "class beats *: {v}");
    assert_eq!(get("MessageSchemaCategory").map(|x| x["value"].clone()), Some("2.5".into()), "{v}");

    // It runs as validated: the PAS port and the EPR address exist only in the ESD.
    let (epr, rad) = (Receiver::start(port("21002").parse().unwrap()), Receiver::start(port("21004").parse().unwrap()));
    let _engine = Engine::start(&config, &dir.join("engine-data"), &[]);
    let mut client = Client::connect_retry(port("21001").parse().unwrap());
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("E1", "MRN1")).unwrap()), "CA");
    epr.wait_for_count(1, T);
    rad.wait_for_count(1, T);
    let written = hie_tests::wait_for(T, "the ADT archive file", || {
        hie_tests::finished_files(&out_dir.join("adt")).filter(|f| !f.is_empty())
    });
    let bytes = std::fs::read(&written[0]).unwrap();
    assert!(bytes.ends_with(b"\r") && !bytes.contains(&b'\n'), "E15's Separators: CR only");
}

/// IRIS `ConfirmComplete` 1 with `FileAccessTimeout`: a file still being written (a
/// writer that pauses 200 ms between writes) is taken only once it has gone unmodified
/// for FileAccessTimeout, so the message holds everything the writer wrote.
#[test]
fn a_file_being_written_is_taken_whole_after_file_access_timeout() {
    let dir = TempDir::new("iris-file-access");
    let (inbox, out) = (dir.join("in"), dir.join("out"));
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: Slow\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.FileService\n    adapter_settings: {{FilePath: {}, CallInterval: 0.1, ConfirmComplete: 1, FileAccessTimeout: 5}}\n    host_settings: {{TargetConfigNames: Out}}\n  - id: Out\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n",
            inbox.display(),
            out.display()
        ),
    )
    .unwrap();
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let file = inbox.join("slow.hl7");
    std::fs::write(&file, b"MSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000||ADT^A01|SLOW1|P|2.4\rPID|1||M1\r").unwrap();
    for i in 1..=6 {
        std::thread::sleep(Duration::from_millis(200));
        let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
        std::io::Write::write_all(&mut f, format!("ZAP|{i}\r").as_bytes()).unwrap();
    }
    let written =
        hie_tests::wait_for(T, "the message written out", || hie_tests::finished_files(&out).filter(|f| !f.is_empty()));
    assert_eq!(written.len(), 1, "one message: {written:?}");
    let text = String::from_utf8(std::fs::read(&written[0]).unwrap()).unwrap();
    for i in 1..=6 {
        assert!(text.contains(&format!("ZAP|{i}\r")), "segment {i} of the writer is in the message: {text:?}");
    }
}

/// A service's `DefCharEncoding` says how the bytes that came in are read by every later
/// hop; an operation's, in which charset they are written. The stored message stays as
/// it came; a value HIE does not know is refused by `hie validate`, naming item and setting.
#[test]
fn def_char_encoding_reads_input_as_the_service_says_for_items_and_search_and_writes_output_as_the_operation_says() {
    let dir = TempDir::new("iris-charset");
    let (forced_port, plain_port) = (free_port(), free_port());
    let (utf8_dir, latin1_dir) = (dir.join("utf8"), dir.join("latin1"));
    std::fs::create_dir_all(&utf8_dir).unwrap();
    std::fs::create_dir_all(&latin1_dir).unwrap();
    let production = |service_encoding: &str| {
        format!(
            r#"<Production Name="Charsets">
  <Setting Target="Adapter" Name="SearchFields">PID-3.1, PID-5.1</Setting>
  <Item Name="Mislabelled_In" ClassName="EnsLib.HL7.Service.TCPService" Enabled="true">
    <Setting Target="Adapter" Name="Port">{forced_port}</Setting>
    <Setting Target="Host" Name="DefCharEncoding">{service_encoding}</Setting>
    <Setting Target="Host" Name="TargetConfigNames">Route</Setting>
  </Item>
  <Item Name="Route" ClassName="HIE.Process.Passthrough" Enabled="true">
    <Setting Target="Host" Name="TargetConfigNames">Utf8_Out</Setting>
  </Item>
  <Item Name="Utf8_Out" ClassName="EnsLib.HL7.Operation.FileOperation" Enabled="true">
    <Setting Target="Adapter" Name="FilePath">{}</Setting>
    <Setting Target="Host" Name="Filename">%f.hl7</Setting>
    <Setting Target="Host" Name="DefCharEncoding">!UTF-8</Setting>
  </Item>
  <Item Name="Plain_In" ClassName="EnsLib.HL7.Service.TCPService" Enabled="true">
    <Setting Target="Adapter" Name="Port">{plain_port}</Setting>
    <Setting Target="Host" Name="TargetConfigNames">Latin1_Out</Setting>
  </Item>
  <Item Name="Latin1_Out" ClassName="EnsLib.HL7.Operation.FileOperation" Enabled="true">
    <Setting Target="Adapter" Name="FilePath">{}</Setting>
    <Setting Target="Host" Name="Filename">%f.hl7</Setting>
    <Setting Target="Host" Name="DefCharEncoding">Latin1</Setting>
  </Item>
</Production>
"#,
            utf8_dir.display(),
            latin1_dir.display()
        )
    };
    let bad = dir.join("Bad.xml");
    std::fs::write(&bad, production("EBCDIC")).unwrap();
    let (code, out, err) = run_hie(&["validate", bad.to_str().unwrap()]);
    let said = format!("{out}{err}");
    assert_ne!(code, 0, "an unknown DefCharEncoding fails validation: {said}");
    assert!(said.contains("Mislabelled_In") && said.contains("DefCharEncoding") && said.contains("EBCDIC"), "{said}");

    let config = dir.join("Charsets.xml");
    std::fs::write(&config, production("!Latin1")).unwrap();
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    // MSH-18 says UTF-8, the bytes are Latin-1 (0xFC is ü): the service is told to read Latin-1.
    let mislabelled =
        b"MSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000||ADT^A01|CS1|P|2.4||||||UNICODE UTF-8\rPID|1||M1||M\xfcller^Ann\r";
    let mut client = Client::connect_retry(forced_port);
    assert_eq!(hl7::ack_code(&client.send(mislabelled).unwrap()), "CA");
    // MSH-18 empty, the bytes UTF-8: written in Latin-1, as the operation says.
    let utf8 = "MSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000||ADT^A01|CS2|P|2.4\rPID|1||M2||Müller^Bo\r";
    let mut client = Client::connect_retry(plain_port);
    assert_eq!(hl7::ack_code(&client.send(utf8.as_bytes()).unwrap()), "CA");
    let file_of = |dir: &std::path::Path| {
        let found =
            hie_tests::wait_for(T, "the file written", || hie_tests::finished_files(dir).filter(|f| f.len() == 1));
        std::fs::read(&found[0]).unwrap()
    };
    let as_utf8 = file_of(&utf8_dir);
    assert!(
        String::from_utf8(as_utf8.clone()).is_ok_and(|t| t.contains("PID|1||M1||Müller^Ann\r")),
        "read as Latin-1 through the process hop, written as UTF-8: {:?}",
        String::from_utf8_lossy(&as_utf8)
    );
    let as_latin1 = file_of(&latin1_dir);
    assert!(as_latin1.windows(9).any(|w| w == b"M\xfcller^Bo"), "written as Latin-1: {as_latin1:?}");
    // The stored messages are what arrived.
    let found = engine.get("/api/messages?control_id=CS1&item=Mislabelled_In");
    let id = found["messages"][0]["id"].as_u64().unwrap_or_else(|| panic!("{found}"));
    let shown = engine.get(&format!("/api/messages/{id}"));
    // (The API shows bodies as UTF-8, so the stored Latin-1 byte reads as U+FFFD: not re-encoded.)
    assert!(shown["body"].as_str().is_some_and(|b| b.contains("M\u{fffd}ller")), "{shown}");
    // The search index reads the stored bytes as the service did: Latin-1 0xFC is ü.
    let by_name = engine.get("/api/messages?item=Mislabelled_In&field=PID-5.1&value=M%C3%BCller");
    assert_eq!(by_name["count"], 1, "found by the name as the service read it: {by_name}");
}
