//! Issue 2: plugin host, standard HL7 pack, IRIS/YAML productions, MLLP and files end to end.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::mllp::{Client, Receiver, Reply};
use hie_tests::{TempDir, finished_files, free_port, hl7, packs, wait_for};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// An IRIS production file (bare `<Production>`), the shape Trusts export.
fn iris_production(in_port: u16, out_port: u16, outdir: &str, rules: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<Production Name="Test.Production" LogGeneralTraceEvents="false">
  <Description>end-to-end test</Description>
  <ActorPoolSize>2</ActorPoolSize>
  <Item Name="HL7 In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="Port">{in_port}</Setting>
    <Setting Target="Host" Name="TargetConfigNames">Router</Setting>
  </Item>
  <Item Name="Router" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" PoolSize="1">
    <Setting Target="Host" Name="BusinessRuleName">{rules}</Setting>
  </Item>
  <Item Name="EPR Out" ClassName="EnsLib.HL7.Operation.TCPOperation" PoolSize="1">
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Adapter" Name="Port">{out_port}</Setting>
    <Setting Target="Host" Name="RetryInterval">1</Setting>
  </Item>
  <Item Name="Lab Files" ClassName="EnsLib.HL7.Operation.FileOperation" PoolSize="1">
    <Setting Name="FilePath">{outdir}</Setting>
    <Setting Target="Host" Name="Filename">lab_%f.hl7</Setting>
  </Item>
</Production>
"#
    )
}

const RULES: &str = r#"
rules:
  - name: ADT to the EPR
    when: MSH-9.1 = "ADT"
    send: ["EPR Out"]
    return: true
  - name: results to files
    when: MSH-9.1 = "ORU" and MSH-9.2 in ("R01", "R03")
    send: ["Lab Files"]
"#;

#[test]
fn iris_production_routes_mllp_to_mllp_and_files_by_content() {
    let dir = TempDir::new("iris-e2e");
    let (in_port, out_port) = (free_port(), free_port());
    let out = dir.join("out");
    std::fs::write(dir.join("rules.yaml"), RULES).unwrap();
    let config = dir.join("production.xml");
    std::fs::write(&config, iris_production(in_port, out_port, out.to_str().unwrap(), "rules.yaml")).unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);

    let mut client = Client::connect_retry(in_port);
    let ack = client.send(&hl7::adt("ADT-1", "MRN1")).unwrap();
    assert_eq!(hl7::ack_code(&ack), "CA");
    assert_eq!(hl7::value(&ack, "MSA-2"), "ADT-1");
    assert_eq!(hl7::value(&ack, "MSH-9.1"), "ACK");
    let ack = client.send(&hl7::oru("ORU-1", "MRN2")).unwrap();
    assert_eq!(hl7::ack_code(&ack), "CA");

    receiver.wait_for_count(1, T);
    assert_eq!(receiver.control_ids(), vec!["ADT-1"]);
    assert_eq!(receiver.messages()[0], hl7::adt("ADT-1", "MRN1"), "forwarded byte for byte");

    // The file operation names files from the message's control id (no source file name).
    let written = wait_for(T, "the lab file", || {
        std::fs::read_dir(&out)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("lab_")))
    });
    assert_eq!(std::fs::read(&written).unwrap(), hl7::oru("ORU-1", "MRN2"));
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    engine.wait_until(T, "router and operation counters", |p| {
        let items = p["items"].as_array().unwrap();
        let get = |n: &str| items.iter().find(|i| i["name"] == n).unwrap()["processed"].as_u64().unwrap();
        get("Router") == 2 && get("EPR Out") == 1 && get("Lab Files") == 1
    });
    let status = engine.production();
    assert_eq!(status["name"], "Test.Production");
    let router = engine.item("Router");
    assert_eq!(router["pack"], "hie-pack-hl7");
    assert_eq!(router["pack_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(router["execution_mode"], "async");
}

#[test]
fn malformed_input_gets_a_nack_with_err_and_the_connection_stays_usable() {
    let dir = TempDir::new("nack");
    let (in_port, out_port) = (free_port(), free_port());
    std::fs::write(dir.join("rules.yaml"), RULES).unwrap();
    let config = dir.join("production.xml");
    std::fs::write(&config, iris_production(in_port, out_port, dir.join("out").to_str().unwrap(), "rules.yaml"))
        .unwrap();
    let _receiver = Receiver::start(out_port);
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);

    // Junk is a content error with no version to read: the A code (docs/iris-settings.md §9.1.3).
    let nack = client.send(b"this is not HL7 at all").unwrap();
    assert_eq!(hl7::ack_code(&nack), "AE");
    assert!(hie_hl7::parse(&nack).unwrap().has_segment("ERR"), "NACK has ERR: {}", String::from_utf8_lossy(&nack));

    let nack = client.send(b"MSH|^~\\&|A|B|C|D|20260101||||1|P|2.4\rPID|1\r").unwrap();
    // A content error; this header's MSH-12 is `P` (no version), so the A code.
    assert_eq!(hl7::ack_code(&nack), "AE", "missing MSH-9: {}", String::from_utf8_lossy(&nack));

    // Same connection, good message: accepted.
    let ack = client.send(&hl7::adt("OK-1", "M")).unwrap();
    assert_eq!(hl7::ack_code(&ack), "CA");
}

#[test]
fn mllp_listener_handles_junk_split_and_pipelined_frames_and_fs_cr_lf() {
    let dir = TempDir::new("framing");
    let (in_port, out_port) = (free_port(), free_port());
    std::fs::write(dir.join("rules.yaml"), RULES).unwrap();
    let config = dir.join("production.xml");
    std::fs::write(&config, iris_production(in_port, out_port, dir.join("out").to_str().unwrap(), "rules.yaml"))
        .unwrap();
    let receiver = Receiver::start(out_port);
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);

    // Junk before the start byte, then a frame split across three writes.
    let framed = hie_hl7::mllp::encode(&hl7::adt("SPLIT", "M1"));
    client.write_raw(b"\r\nnoise").unwrap();
    client.write_raw(&framed[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    client.write_raw(&framed[10..40]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    client.write_raw(&framed[40..]).unwrap();
    assert_eq!(hl7::value(&client.read_reply().unwrap(), "MSA-2"), "SPLIT");

    // Two frames in one write: two ACKs, in order.
    let mut two = hie_hl7::mllp::encode(&hl7::adt("P1", "M2"));
    two.extend(hie_hl7::mllp::encode(&hl7::adt("P2", "M3")));
    client.write_raw(&two).unwrap();
    assert_eq!(hl7::value(&client.read_reply().unwrap(), "MSA-2"), "P1");
    assert_eq!(hl7::value(&client.read_reply().unwrap(), "MSA-2"), "P2");

    // FS CR LF ending.
    let mut lf = vec![0x0b];
    lf.extend(hl7::adt("CRLF", "M4"));
    lf.extend([0x1c, 0x0d, 0x0a]);
    client.write_raw(&lf).unwrap();
    assert_eq!(hl7::value(&client.read_reply().unwrap(), "MSA-2"), "CRLF");

    receiver.wait_for_count(4, T);
    assert_eq!(receiver.control_ids(), vec!["SPLIT", "P1", "P2", "CRLF"]);
}

fn probe_production(dir: &TempDir, in_port: u16, out_port: u16, extra_probe: &str) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
name: Probe
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}, MaxFrameSize: 4096}}
    host_settings: {{TargetConfigNames: Probe}}
  - id: Probe
    class: HIE.Test.Probe
{extra_probe}
    host_settings: {{TargetConfigNames: Out}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}, ConnectTimeout: 1}}
    host_settings: {{RetryInterval: 1}}
"#
        ),
    )
    .unwrap();
    config
}

#[test]
fn a_panicking_plugin_takes_the_error_path_and_the_engine_keeps_running() {
    let dir = TempDir::new("panic");
    let (in_port, out_port) = (free_port(), free_port());
    let config = probe_production(&dir, in_port, out_port, "");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let mut client = Client::connect_retry(in_port);

    // Accepted (committed) first; the panic happens later, in the probe's process.
    let bad = hl7::with_note(hl7::adt("BOOM", "M"), "PANIC");
    assert_eq!(hl7::ack_code(&client.send(&bad).unwrap()), "CA");
    for i in 0..3 {
        assert_eq!(hl7::ack_code(&client.send(&hl7::adt(&format!("OK{i}"), "M")).unwrap()), "CA");
    }
    receiver.wait_for_count(3, T);
    assert_eq!(receiver.control_ids(), vec!["OK0", "OK1", "OK2"]);
    engine.wait_until(T, "the probe's error count", |_| engine.item("Probe")["errors"] == 1);
    let probe = engine.item("Probe");
    assert_eq!(probe["state"], "Running");
    assert_eq!(probe["counters"]["hook_on_process_error"], 1, "{probe}");
    assert!(engine.log_text().contains("panic"), "the panic is logged");
}

#[test]
fn oversize_frames_close_the_connection_and_are_logged_with_the_peer() {
    let dir = TempDir::new("oversize");
    let (in_port, out_port) = (free_port(), free_port());
    let config = probe_production(&dir, in_port, out_port, "");
    let _receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let mut client = Client::connect_retry(in_port);
    let mut big = hl7::adt("BIG", "M");
    big.extend(std::iter::repeat_n(b'X', 10_000));
    client.write_raw(&hie_hl7::mllp::encode(&big)).unwrap();
    assert!(client.read_reply().is_err(), "the engine closes the connection");
    wait_for(T, "the oversize log line", || engine.log_text().contains("MaxFrameSize").then_some(()));
    assert!(engine.log_text().contains("127.0.0.1"), "peer address logged");
    // The listener still works for others.
    let mut other = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&other.send(&hl7::adt("AFTER", "M")).unwrap()), "CA");
}

#[test]
fn a_pack_built_against_a_mismatched_interface_is_rejected_readably_and_others_load() {
    let mismatched = packs::mismatched();
    let (code, out, _err) = run_hie(&["plugins", "--plugins", mismatched.to_str().unwrap()]);
    assert_eq!(code, 0);
    let line = out.lines().find(|l| l.starts_with("REJECTED")).unwrap_or_else(|| panic!("no rejection in:\n{out}"));
    assert!(line.contains("incompatible pack"), "{line}");
    assert!(line.len() < 500, "the reason is short, not a layout dump: {line}");
    assert!(out.contains("EnsLib.HL7.Service.TCPService"), "the standard pack still loads");

    // A production runs with the bad pack in its plugin dirs.
    let dir = TempDir::new("mismatch-run");
    let (in_port, out_port) = (free_port(), free_port());
    let config = probe_production(&dir, in_port, out_port, "");
    let _receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe(), mismatched]);
    assert!(engine.log_text().contains("pack rejected"));
}

#[test]
fn iris_samples_load_with_standard_classes_resolved_and_custom_ones_named() {
    let samples = hie_tests::workspace_root().join("config/samples/iris");
    for (file, custom) in [
        ("06_irisdemo-demo-readmission_risksrv_IRISDemo.Production.cls", "IRISDemo.BP.ReadmissionRisk.Process"),
        ("07_irisdemo-demo-readmission_hisdb_IRISDemo.Production.cls", "IRISDemo.BS.AppTrigger.Service"),
    ] {
        let path = samples.join(file);
        let (code, out, _) = run_hie(&["validate", path.to_str().unwrap()]);
        assert_eq!(code, 2, "custom classes are errors by default:\n{out}");
        assert!(out.contains(custom) && out.contains("unknown class"), "{out}");
        assert!(!out.contains("unknown class EnsLib.HL7"), "standard classes resolve:\n{out}");
        let (code, out, _) = run_hie(&["validate", path.to_str().unwrap(), "--skip-unresolved"]);
        assert_eq!(code, 0, "with --skip-unresolved the rest is valid:\n{out}");
        assert!(out.contains("skipped: --skip-unresolved"), "{out}");
    }
}

#[test]
fn configuration_errors_name_file_line_item_and_setting_and_nothing_starts() {
    let dir = TempDir::new("badconfig");
    let config = dir.join("bad.yaml");
    std::fs::write(
        &config,
        r#"name: Bad
items:
  - id: A
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {Port: 7001}
    host_settings: {TargetConfigNames: Nowhere}
  - id: B
    class: EnsLib.HL7.Service.TCPService
    queue_type: sideways
    adapter_settings: {Port: 7001}
  - id: A
    class: HIE.Process.Passthrough
  - id: C
    class: Acme.Custom.Thing
  - id: D
    class: EnsLib.HL7.Service.TCPService
    adapter_settings:
      Port: 7002
      AllowedIPAddresses: "10.0.0.1, 10.1.2.300"
      LocalInterface: eth0
"#,
    )
    .unwrap();
    let (code, out, _) = run_hie(&["validate", config.to_str().unwrap()]);
    assert_eq!(code, 2);
    let f = config.display().to_string();
    let has = |line: u32, item: &str, setting: &str, text: &str| {
        out.lines().any(|l| {
            l.starts_with(&format!("{f}:{line}: error"))
                && l.contains(&format!("item '{item}'"))
                && l.contains(&format!("setting '{setting}'"))
                && l.contains(text)
        })
    };
    assert!(has(6, "A", "TargetConfigNames", "Nowhere"), "{out}");
    assert!(has(9, "B", "QueueType", "sideways"), "{out}");
    assert!(out.contains("port 7001 is already used"), "{out}");
    assert!(out.contains("duplicate item name"), "{out}");
    assert!(out.contains("unknown class Acme.Custom.Thing") && out.contains("searched"), "{out}");
    // An allow-list entry that cannot be read is an error, never skipped (that could let anyone in).
    assert!(has(19, "D", "AllowedIPAddresses", "\"10.1.2.300\""), "{out}");
    assert!(has(20, "D", "LocalInterface", "10.1.2.3 (eth0)"), "{out}");

    // `hie run` refuses to start and says why.
    let (code, _, err) = run_hie(&["run", config.to_str().unwrap(), "--data-dir", dir.join("d").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing started"), "{err}");
}

#[test]
fn a_taken_management_api_port_stops_the_start_with_a_message_naming_it() {
    let dir = TempDir::new("apiport");
    let (in_port, out_port) = (free_port(), free_port());
    let config = probe_production(&dir, in_port, out_port, "");
    let api_port = free_port();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", api_port)).expect("hold the API port");
    let api = format!("127.0.0.1:{api_port}");
    let (probe, data) = (packs::probe(), dir.join("d"));
    let args = [
        "run",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--api",
        &api,
        "--plugins",
        probe.to_str().unwrap(),
    ];
    let (code, _, err) = run_hie(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("management API cannot listen on") && err.contains(&api) && err.contains("--api"), "{err}");
    // Nothing started: the production's MLLP port was never opened.
    assert!(std::net::TcpStream::connect(("127.0.0.1", in_port)).is_err(), "the MLLP listener opened");
}

#[test]
fn the_management_api_needs_its_bearer_token_and_is_never_open_to_the_network_without_one() {
    let dir = TempDir::new("apitoken");
    let (in_port, out_port) = (free_port(), free_port());
    let config = probe_production(&dir, in_port, out_port, "");
    let (probe, data, token_file) = (packs::probe(), dir.join("d"), dir.join("api.token"));
    let base = |api: &str| -> Vec<String> {
        let mut a = vec!["run", config.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--api", api];
        a.extend(["--plugins", probe.to_str().unwrap()]);
        a.into_iter().map(String::from).collect()
    };
    let run = |args: Vec<String>| run_hie(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // Off loopback without a token: refused before anything starts.
    let (code, _, err) = run(base(&format!("0.0.0.0:{}", free_port())));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("without authentication") && err.contains("--api-token-file"), "{err}");
    // A guessable token is refused too.
    std::fs::write(&token_file, "secret\n").unwrap();
    let mut short = base(&format!("127.0.0.1:{}", free_port()));
    short.extend(["--api-token-file".to_string(), token_file.display().to_string()]);
    let (code, _, err) = run(short);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at least 16"), "{err}");

    // With a token every path needs it, and the CLI sends it.
    let token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let token_arg = token_file.to_str().unwrap();
    let mut engine = Engine::spawn(&config, &data, std::slice::from_ref(&probe), &["--api-token-file", token_arg]);
    engine.token = Some(token.to_string());
    engine.wait_running(T);
    for path in ["/api/production", "/api/messages", "/metrics"] {
        let (status, body) = hie_tests::api::request(&engine.api, "GET", path, None).unwrap();
        assert_eq!(status, 401, "{path} without a token: {body}");
        let (status, _) =
            hie_tests::api::request_as(&engine.api, Some("0f1e2d3c4b5a69788796a5b4c3d2e1f1"), "GET", path, None)
                .unwrap();
        assert_eq!(status, 401, "{path} with a wrong token");
    }
    assert_eq!(engine.production()["state"], "Running", "with the token");
    let (code, out, _) =
        run_hie(&["messages", "--api", &engine.api, "--api-token-file", token_arg, "search", "--limit", "1"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run_hie(&["messages", "--api", &engine.api, "search", "--limit", "1"]);
    assert_ne!(code, 0, "without the token the CLI is refused: {out}");
    assert!(engine.log_text().contains("missing or wrong bearer token"));
}

#[test]
fn sigterm_drains_in_flight_work_and_exits_zero() {
    let dir = TempDir::new("sigterm");
    let (in_port, out_port) = (free_port(), free_port());
    let config = probe_production(&dir, in_port, out_port, "");
    let receiver = Receiver::start(out_port);
    let mut engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let mut client = Client::connect_retry(in_port);
    let slow = hl7::with_note(hl7::adt("SLOW", "M"), "SLEEP500");
    assert_eq!(hl7::ack_code(&client.send(&slow).unwrap()), "CA");
    // SIGTERM while the probe is inside its 500 ms call (not while it is still queued).
    engine.wait_until(T, "SLOW in flight at Probe", |_| engine.item("Probe")["in_flight"] == 1);
    let status = engine.terminate();
    assert!(status.success(), "exit status {status}");
    assert_eq!(receiver.control_ids(), vec!["SLOW"], "the message in flight was finished before exit");
}

#[test]
fn shutdown_timeout_leaves_a_stuck_item_and_its_message_is_back_in_flight_after_the_restart() {
    let dir = TempDir::new("shutdowntimeout");
    let (in_port, out_port) = (free_port(), free_port());
    let config = probe_production(&dir, in_port, out_port, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("name: Probe\n", "name: Probe\nsettings: {ShutdownTimeout: 1}\n");
    std::fs::write(&config, text).unwrap();
    let _receiver = Receiver::start(out_port);
    let mut engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let mut client = Client::connect_retry(in_port);
    // The probe will be inside a 60 s call when the engine is told to stop.
    let stuck = hl7::with_note(hl7::adt("STUCK", "M"), "SLEEP60000");
    assert_eq!(hl7::ack_code(&client.send(&stuck).unwrap()), "CA");
    engine.wait_until(T, "STUCK in flight at Probe", |_| engine.item("Probe")["in_flight"] == 1);
    // Waits at most 30 s: without ShutdownTimeout the drain would take the full minute.
    let status = engine.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(engine.log_text().contains("ShutdownTimeout reached"), "the abandoned item is logged");
    // Nothing is lost: after the restart the message is at the probe again.
    engine.restart();
    engine.wait_until(T, "STUCK recovered at Probe", |_| {
        engine.item("Probe")["in_flight"] == 1 || engine.item("Probe")["queue_depth"] == 1
    });
}

#[test]
fn a_paused_operation_keeps_messages_queued_and_delivers_them_on_resume() {
    let dir = TempDir::new("pause");
    let (in_port, out_port) = (free_port(), free_port());
    let config = probe_production(&dir, in_port, out_port, "");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let (code, _) = engine.post("/api/items/Out/pause", None);
    assert_eq!(code, 200);
    assert_eq!(engine.item("Out")["state"], "Paused");
    let mut client = Client::connect_retry(in_port);
    for i in 0..5 {
        assert_eq!(hl7::ack_code(&client.send(&hl7::adt(&format!("Q{i}"), "M")).unwrap()), "CA");
    }
    engine.wait_until(T, "5 queued at Out", |_| engine.item("Out")["queue_depth"] == 5);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.count(), 0, "nothing leaves a paused operation");
    let (code, _) = engine.post("/api/items/Out/resume", None);
    assert_eq!(code, 200);
    receiver.wait_for_count(5, T);
    assert_eq!(receiver.control_ids(), vec!["Q0", "Q1", "Q2", "Q3", "Q4"]);
    let metrics = hie_tests::api::request(&engine.api, "GET", "/metrics", None).unwrap().1;
    assert!(metrics.contains("hie_item_processed_total{item=\"Out\""), "{metrics}");
}

#[test]
fn file_service_takes_a_batch_file_and_archives_it_after_commit() {
    let dir = TempDir::new("files");
    let (inbox, archive, out) = (dir.join("in"), dir.join("archive"), dir.join("out"));
    std::fs::create_dir_all(&inbox).unwrap();
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Files
items:
  - id: FilesIn
    class: EnsLib.HL7.Service.FileService
    adapter_settings: {{FilePath: {}, FileSpec: "*.hl7", ArchivePath: {}, CallInterval: 0.2}}
    host_settings: {{TargetConfigNames: Copy}}
  - id: Copy
    class: HIE.Process.Passthrough
    host_settings: {{TargetConfigNames: FilesOut}}
  - id: FilesOut
    class: EnsLib.HL7.Operation.FileOperation
    adapter_settings: {{FilePath: {}}}
    host_settings: {{Filename: "%F_%Q%!+(_a).out"}}
"#,
            inbox.display(),
            archive.display(),
            out.display()
        ),
    )
    .unwrap();
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let batch = std::fs::read(
        hie_tests::workspace_root().join("plugin-api/hl7/tests/samples/pyhl7_sample_file_FHS_BHS_batch.hl7"),
    )
    .unwrap();
    let expected = hie_hl7::split_messages(&batch).unwrap().len();
    std::fs::write(inbox.join(".batch.tmp"), &batch).unwrap();
    std::fs::rename(inbox.join(".batch.tmp"), inbox.join("batch.hl7")).unwrap();
    wait_for(T, "the batch file to be archived", || archive.join("batch.hl7").exists().then_some(()));
    assert!(!inbox.join("batch.hl7").exists());
    let files = wait_for(T, "one output file per message", || {
        let n = finished_files(&out)?;
        (n.len() == expected).then_some(n)
    });
    for f in files {
        let name = f.file_name().unwrap_or_default().to_string_lossy().to_string();
        assert!(name.starts_with("batch_") && name.ends_with(".out"), "{name}");
        hie_hl7::parse(&std::fs::read(&f).unwrap()).expect("each output file is one HL7 message");
    }
}

#[test]
fn allowed_ip_addresses_refuse_other_peers() {
    let dir = TempDir::new("allowed");
    let in_port = free_port();
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: Allowed\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {in_port}, AllowedIPAddresses: \"10.9.9.9\"}}\n"
        ),
    )
    .unwrap();
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);
    assert!(client.send(&hl7::adt("X", "M")).is_err(), "connection from 127.0.0.1 is closed");
    assert!(engine.log_text().contains("AllowedIPAddresses"));
}

#[test]
fn local_interface_limits_the_listener_and_allowed_addresses_take_names_and_ports() {
    let dir = TempDir::new("interface");
    let (open_port, named_port, port_bound) = (free_port(), free_port(), free_port());
    let config = dir.join("production.yaml");
    let service = |id: &str, port: u16, settings: &str| {
        format!(
            "  - id: {id}\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {port}{settings}}}\n"
        )
    };
    let yaml = format!(
        "name: Interfaces\nitems:\n{}{}{}",
        service("Loopback", open_port, ", LocalInterface: \"lo (127.0.0.1)\""),
        service("ByName", named_port, ", AllowedIPAddresses: \"localhost\""),
        // Only peers connecting from source port 1: not us.
        service("ByPort", port_bound, ", AllowedIPAddresses: \"127.0.0.1:1\""),
    );
    std::fs::write(&config, yaml).unwrap();
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let ack = |port: u16| Client::connect_retry(port).send(&hl7::adt("L", "M")).map(|a| hl7::ack_code(&a));
    assert_eq!(ack(open_port).expect("127.0.0.1 is served"), "CA");
    // 127.0.0.2 is loopback too, but not the address the listener is bound to.
    assert!(std::net::TcpStream::connect(("127.0.0.2", open_port)).is_err(), "bound to 127.0.0.1 only");
    assert_eq!(ack(named_port).expect("localhost resolves to this peer"), "CA");
    assert!(ack(port_bound).is_err(), "a peer from another source port is refused");
}

#[test]
fn mllp_over_tls_flows_from_an_operation_to_a_service_and_a_plain_peer_is_refused() {
    let dir = TempDir::new("tls");
    let (in_port, hub_port, out_port) = (free_port(), free_port(), free_port());
    // tls/ beside the production file is the default TLSDir.
    let pki = hie_tests::tls::TestPki::new();
    pki.write_server_config(&dir.join("tls"), "hub");
    pki.write_client_config(&dir.join("tls"), "to-hub");
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Tls
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: ToHub}}
  - id: ToHub
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {hub_port}, SSLConfig: to-hub}}
  - id: Hub
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {hub_port}, SSLConfig: hub}}
    host_settings: {{TargetConfigNames: Out}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
"#
        ),
    )
    .unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("TLS-1", "M")).unwrap()), "CA");
    receiver.wait_for_count(1, T);
    assert_eq!(receiver.control_ids(), vec!["TLS-1"], "through ToHub and Hub over TLS");
    let hub = engine.item("ToHub");
    assert_eq!(hub["errors"], 0, "{hub}");
    // Plain MLLP to the TLS listener gets no ACK: the handshake fails and the connection closes.
    let mut plain = Client::connect_retry(hub_port);
    assert!(plain.send(&hl7::adt("PLAIN", "M")).is_err(), "a plain peer is not answered");
    wait_for(T, "the failed handshake in the log", || engine.log_text().contains("TLS handshake failed").then_some(()));
    assert_eq!(receiver.control_ids(), vec!["TLS-1"]);

    // A configuration that is not there is a validation error naming the file, item and setting.
    let broken = std::fs::read_to_string(&config).unwrap().replace("SSLConfig: hub}", "SSLConfig: nowhere}");
    let broken_file = dir.join("broken.yaml");
    std::fs::write(&broken_file, broken).unwrap();
    let (code, out, _) = run_hie(&["validate", broken_file.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.lines().any(|l| l.contains("error")
            && l.contains("item 'Hub'")
            && l.contains("setting 'SSLConfig'")
            && l.contains("nowhere.crt")),
        "{out}"
    );
}

#[test]
fn operations_retry_while_the_receiver_is_down_and_deliver_when_it_returns() {
    let dir = TempDir::new("retry");
    let (in_port, out_port) = (free_port(), free_port());
    let config = probe_production(&dir, in_port, out_port, "");
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let mut client = Client::connect_retry(in_port);
    for i in 0..3 {
        assert_eq!(hl7::ack_code(&client.send(&hl7::adt(&format!("R{i}"), "M")).unwrap()), "CA");
    }
    engine.wait_until(T, "retries at Out", |_| engine.item("Out")["retries"].as_u64().unwrap_or(0) >= 1);
    // A receiver that first rejects (AR: retry per ReplyCodeActions), then accepts.
    let mut n = 0;
    let receiver = Receiver::with_policy(out_port, move |_| {
        n += 1;
        if n == 1 { Reply::Ack("AR") } else { Reply::Ack("AA") }
    });
    receiver.wait_for_count(4, Duration::from_secs(30));
    let ids = receiver.control_ids();
    assert_eq!(ids, vec!["R0", "R0", "R1", "R2"], "in order, R0 retried after AR");
}

#[test]
fn update_timeout_rolls_a_reload_back_and_the_busy_item_restarts_as_it_was() {
    let dir = TempDir::new("updatetimeout");
    let (in_port, out_port) = (free_port(), free_port());
    let config = probe_production(&dir, in_port, out_port, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("name: Probe\n", "name: Probe\nsettings: {UpdateTimeout: 1}\n");
    std::fs::write(&config, &text).unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let mut client = Client::connect_retry(in_port);
    let slow = hl7::with_note(hl7::adt("BUSY", "M"), "SLEEP4000");
    assert_eq!(hl7::ack_code(&client.send(&slow).unwrap()), "CA");
    engine.wait_until(T, "BUSY in flight at Probe", |_| engine.item("Probe")["in_flight"] == 1);
    let edited = text.replace(
        "    host_settings: {TargetConfigNames: Out}\n",
        "    host_settings: {TargetConfigNames: Out, AlertOnError: 1}\n",
    );
    assert_ne!(edited, text, "the probe's settings changed");
    std::fs::write(&config, edited).unwrap();
    let (code, body) = engine.post("/api/reload", None);
    assert_ne!(code, 200, "the reload is refused: {body}");
    assert!(body.to_string().contains("UpdateTimeout"), "{body}");
    // The message in hand is finished and the probe runs again, as it was.
    receiver.wait_for_count(1, T);
    engine.wait_until(T, "Probe running again", |_| engine.item("Probe")["state"] == "Running");
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("AFTER", "M")).unwrap()), "CA");
    receiver.wait_for_count(2, T);
}
