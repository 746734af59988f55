//! `hie run --set ITEM.SETTING=VALUE` (issue 14, item 1): one node's own value of a
//! setting, over the production file, kept across reloads, named in errors and in the
//! item's settings.

use hie_tests::engine::{Engine, hie_bin};
use hie_tests::mllp::Client;
use hie_tests::{TempDir, free_port, hl7};
use std::process::Command;
use std::time::Duration;

fn production(dir: &TempDir, port: u16, retry: u32) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: Sets\nitems:\n  - id: ADT_In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {port}}}\n    host_settings: {{TargetConfigNames: Files_Out}}\n  - id: Files_Out\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n    host_settings: {{RetryInterval: {retry}}}\n",
            dir.join("out").display()
        ),
    )
    .expect("production");
    config
}

#[test]
fn a_set_on_the_command_line_wins_over_the_file_survives_a_reload_and_is_named_as_its_source() {
    let dir = TempDir::new("sets");
    let (written, node) = (free_port(), free_port());
    let config = production(&dir, written, 5);
    let set = format!("ADT_In.Port={node}");
    let engine = Engine::start_with(&config, &dir.join("data"), &[], &["--set", &set]);
    let mut client = Client::connect_retry(node);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("SET1", "M1")).expect("ack")), "CA");
    assert!(std::net::TcpStream::connect(("127.0.0.1", written)).is_err(), "the file's port is not listened on");
    let settings = engine.get("/api/items/ADT_In/settings");
    let port = settings["settings"].as_array().into_iter().flatten().find(|s| s["setting"] == "Port").cloned();
    let port = port.unwrap_or_else(|| panic!("{settings}"));
    assert_eq!(port["value"], node.to_string(), "{port}");
    assert_eq!(port["source"], "command line --set:1", "{port}");

    // A reload of another change keeps the node's port.
    production(&dir, written, 7);
    let (status, body) = engine.post("/api/reload", None);
    assert_eq!(status, 200, "{body}");
    let mut client = Client::connect_retry(node);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("SET2", "M2")).expect("ack")), "CA");
}

#[test]
fn validate_takes_the_same_sets_as_run_and_names_a_set_for_an_item_the_production_lacks() {
    let dir = TempDir::new("sets-validate");
    let config = production(&dir, free_port(), 5);
    let path = config.to_str().expect("path");
    let (code, out, err) = hie_tests::engine::run_hie(&["validate", path, "--set", "Nope.Port=9000"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(format!("{out}{err}").contains("--set:1") && format!("{out}{err}").contains("Nope"), "{out}{err}");
    let (code, out, err) = hie_tests::engine::run_hie(&["validate", path, "--set", "ADT_In.Port=70000"]);
    assert_eq!(code, 2, "a bad value from --set is an error at --set:1: {out}{err}");
    assert!(format!("{out}{err}").contains("--set:1"), "{out}{err}");
    let (code, out, err) =
        hie_tests::engine::run_hie(&["validate", path, "--set", "ADT_In.Port=9001", "--explain", "ADT_In"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines().any(|l| l.contains("Port") && l.contains("9001") && l.contains("command line --set:1")),
        "{out}"
    );
}

#[test]
fn a_set_naming_no_item_or_malformed_stops_hie_run_with_the_reason() {
    let dir = TempDir::new("sets-bad");
    let config = production(&dir, free_port(), 5);
    for (arg, says) in [("Nope.Port=9000", "--set:1"), ("ADT_In.Port", "expected ITEM.SETTING=VALUE")] {
        let mut child = Command::new(hie_bin())
            .arg("run")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--api")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--set")
            .arg(arg)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("hie run");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("hie run --set {arg} kept running");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = child.wait_with_output().expect("output");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!status.success(), "{arg}: {text}");
        assert!(text.contains(says), "{arg}: {text}");
    }
}
