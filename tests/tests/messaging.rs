//! Issue 5: service-to-service messaging, sessions, resilient operations.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::http::FakeHttp;
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, finished_files, free_port, hl7, packs, wait_for};
use serde_json::Value;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// In → Caller (probe) → Out, with Callee (probe) reachable by send_sync.
fn call_production(
    dir: &TempDir,
    in_port: u16,
    out_port: u16,
    caller_mode: &str,
    callee_mode: &str,
) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Calls
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Caller}}
  - id: Caller
    class: HIE.Test.Probe
    execution_mode: {caller_mode}
    host_settings: {{TargetConfigNames: Out}}
  - id: Callee
    class: HIE.Test.Probe
    execution_mode: {callee_mode}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
    host_settings: {{RetryInterval: 1}}
"#
        ),
    )
    .unwrap();
    config
}

fn find<'a>(tree: &'a Value, pred: &dyn Fn(&Value) -> bool) -> Option<&'a Value> {
    for n in tree.as_array()? {
        if pred(n) {
            return Some(n);
        }
        if let Some(f) = find(&n["children"], pred) {
            return Some(f);
        }
    }
    None
}

#[test]
fn sync_calls_work_from_async_to_multi_process_and_back_with_ids_in_the_journal() {
    for (caller, callee) in [("async", "multi_process"), ("multi_process", "async")] {
        let dir = TempDir::new(&format!("sync-{caller}"));
        let (in_port, out_port) = (free_port(), free_port());
        let config = call_production(&dir, in_port, out_port, caller, callee);
        let receiver = Receiver::start(out_port);
        let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
        let mut c = Client::connect_retry(in_port);
        c.send(&hl7::with_note(hl7::adt("SYNC1", "M"), "CALL:Callee;")).unwrap();
        receiver.wait_for_count(1, T);
        let out = &receiver.messages()[0];
        assert_eq!(hl7::value(out, "ZPC-1"), "SYNC1^direct", "{caller}→{callee}: {}", String::from_utf8_lossy(out));

        // The journal holds the request, the correlated response and the causation chain.
        let caller_msg = engine.get("/api/messages?control_id=SYNC1&item=Out");
        let session_id = caller_msg["messages"][0]["session_id"].as_u64().unwrap();
        let session = engine.get(&format!("/api/sessions/{session_id}"));
        let request = find(&session["tree"], &|n| n["target"] == "Callee" && n["kind"] == "request")
            .unwrap_or_else(|| panic!("{session}"));
        let request_id = request["id"].as_u64().unwrap();
        assert_eq!(request["correlation_id"].as_u64().unwrap(), request_id, "a sync request correlates with itself");
        assert_eq!(request["status"], "Completed");
        let response = find(&session["tree"], &|n| n["kind"] == "response").unwrap_or_else(|| panic!("{session}"));
        assert_eq!(response["correlation_id"].as_u64().unwrap(), request_id);
        assert_eq!(response["causation_id"].as_u64().unwrap(), request_id);
        assert_eq!((response["source"].as_str(), response["target"].as_str()), (Some("Callee"), Some("Caller")));
        let caller_hop = find(&session["tree"], &|n| n["target"] == "Caller").unwrap();
        assert_eq!(request["causation_id"], caller_hop["id"], "the request was caused by the message Caller processed");
        for m in session["messages"].as_array().unwrap() {
            assert_eq!(m["session_id"].as_u64().unwrap(), session_id);
        }
        // The CLI prints the session as a tree.
        let (code, text, _) = run_hie(&["messages", "--api", &engine.api, "session", &session_id.to_string()]);
        assert_eq!(code, 0, "{text}");
        assert!(text.lines().any(|l| l.starts_with("    ") && l.contains("Callee")), "indented tree:\n{text}");
    }
}

#[test]
fn a_service_calls_send_sync_from_its_intake_thread_while_other_connections_are_served() {
    let dir = TempDir::new("service-call");
    let in_port = free_port();
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: ServiceCall\nitems:\n  - id: In\n    class: HIE.Test.ProbeService\n    adapter_settings: {{Port: {in_port}}}\n  - id: Callee\n    class: HIE.Test.Probe\n    execution_mode: thread_pool\n"
        ),
    )
    .unwrap();
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    // Several connections at once, each asking the service to call Callee synchronously
    // (the callee defers every other reply, answering it from another thread).
    let replies: Vec<Vec<u8>> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..4)
            .map(|i| {
                s.spawn(move || {
                    let mut c = Client::connect_retry(in_port);
                    let note = if i % 2 == 0 { "CALL:Callee; SLEEP50" } else { "CALL:Callee; DEFER50" };
                    c.send(&hl7::with_note(hl7::adt(&format!("SVC{i}"), "M"), note)).expect("reply")
                })
            })
            .collect();
        calls.into_iter().map(|h| h.join().expect("client")).collect()
    });
    for (i, reply) in replies.iter().enumerate() {
        let how = if i % 2 == 0 { "direct" } else { "deferred" };
        assert_eq!(hl7::value(reply, "ZPC-1"), format!("SVC{i}^{how}"), "{}", String::from_utf8_lossy(reply));
    }
    // Each call is recorded as a request and its response in the caller's session.
    let intake = engine.get("/api/messages?control_id=SVC0&item=In");
    let session_id = intake["messages"][0]["session_id"].as_u64().expect("session");
    let session = engine.get(&format!("/api/sessions/{session_id}"));
    assert!(find(&session["tree"], &|n| n["target"] == "Callee" && n["status"] == "Completed").is_some(), "{session}");
    assert!(find(&session["tree"], &|n| n["kind"] == "response").is_some(), "{session}");
    // The operator is told, once, that these calls hold the service's other connections.
    let log = engine.log_text();
    assert_eq!(log.matches("send_sync from the service's intake thread").count(), 1, "{log}");
}

#[test]
fn a_timed_out_call_returns_a_timeout_and_the_late_response_is_recorded() {
    let dir = TempDir::new("late");
    let (in_port, out_port) = (free_port(), free_port());
    let config = call_production(&dir, in_port, out_port, "async", "thread_pool");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let mut c = Client::connect_retry(in_port);
    // The caller waits 300 ms; the callee needs 1.5 s.
    c.send(&hl7::with_note(hl7::adt("LATE", "M"), "CALL:Callee; CALLMS300 SLEEP700")).unwrap();
    receiver.wait_for_count(1, T);
    let zpc = hl7::value(&receiver.messages()[0], "ZPC-1");
    assert!(zpc.starts_with("ERROR:") && zpc.contains("timed out"), "{zpc}");
    let request = wait_for(T, "the late response recorded", || {
        let r = engine.get("/api/messages?control_id=LATE&item=Callee&status=Completed");
        (r["count"].as_u64() >= Some(1))
            .then(|| r["messages"].as_array().unwrap().iter().find(|m| m["target"] == "Callee").cloned())
            .flatten()
    });
    assert!(request["note"].as_str().unwrap().contains("timed out"), "{request}");
    assert!(request["has_reply"].as_bool().unwrap(), "the reply is kept: {request}");
    let session = engine.get(&format!("/api/sessions/{}", request["session_id"]));
    assert!(find(&session["tree"], &|n| n["kind"] == "response").is_some(), "late response header: {session}");
}

#[test]
fn a_deferred_reply_answered_later_from_another_thread_reaches_the_caller() {
    for callee in ["async", "multi_process"] {
        let dir = TempDir::new(&format!("deferred-{callee}"));
        let (in_port, out_port) = (free_port(), free_port());
        let config = call_production(&dir, in_port, out_port, "async", callee);
        let receiver = Receiver::start(out_port);
        let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
        let mut c = Client::connect_retry(in_port);
        c.send(&hl7::with_note(hl7::adt("DEF", "M"), "CALL:Callee; DEFER300")).unwrap();
        receiver.wait_for_count(1, T);
        assert_eq!(hl7::value(&receiver.messages()[0], "ZPC-1"), "DEF^deferred", "{callee}");
        let r = engine.get("/api/messages?control_id=DEF&item=Callee");
        let req = r["messages"].as_array().unwrap().iter().find(|m| m["target"] == "Callee").unwrap().clone();
        assert_eq!(req["status"], "Completed", "{callee}: {req}");
        assert!(req["note"].as_str().unwrap_or("").contains("deferred"), "{callee}: {req}");
    }
}

#[test]
fn a_call_to_an_unknown_item_is_an_error_at_call_time_and_validation_catches_fixed_targets() {
    let dir = TempDir::new("unknown");
    let (in_port, out_port) = (free_port(), free_port());
    let config = call_production(&dir, in_port, out_port, "async", "async");
    let receiver = Receiver::start(out_port);
    let _engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let mut c = Client::connect_retry(in_port);
    c.send(&hl7::with_note(hl7::adt("U", "M"), "CALL:Nowhere;")).unwrap();
    receiver.wait_for_count(1, T);
    let zpc = hl7::value(&receiver.messages()[0], "ZPC-1");
    assert!(zpc.contains("unknown target"), "{zpc}");

    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "name: B\nitems:\n  - id: E\n    class: HIE.Example.ADTEnricher\n    host_settings: {LookupTarget: Ghost}\n",
    )
    .unwrap();
    let (code, out, _) = run_hie(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.contains("setting 'LookupTarget'") && out.contains("Ghost"), "{out}");
}

#[test]
fn async_fan_out_reaches_three_targets_in_one_session() {
    let dir = TempDir::new("fanout");
    let in_port = free_port();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut yaml = format!(
        "name: Fan\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {in_port}}}\n    host_settings: {{TargetConfigNames: Fan}}\n  - id: Fan\n    class: HIE.Process.Passthrough\n    host_settings: {{TargetConfigNames: \"A,B,C\"}}\n"
    );
    for (name, port) in ["A", "B", "C"].iter().zip(&ports) {
        yaml.push_str(&format!("  - id: {name}\n    class: EnsLib.HL7.Operation.TCPOperation\n    adapter_settings: {{IPAddress: 127.0.0.1, Port: {port}}}\n"));
    }
    let config = dir.join("production.yaml");
    std::fs::write(&config, yaml).unwrap();
    let receivers: Vec<Receiver> = ports.iter().map(|p| Receiver::start(*p)).collect();
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    Client::connect_retry(in_port).send(&hl7::adt("FAN", "M")).unwrap();
    for r in &receivers {
        r.wait_for_count(1, T);
        assert_eq!(r.control_ids(), vec!["FAN"]);
    }
    let found = engine.get("/api/messages?control_id=FAN");
    let msgs = found["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 5, "intake, Fan, A, B, C: {found}");
    let session = msgs[0]["session_id"].clone();
    assert!(msgs.iter().all(|m| m["session_id"] == session));
    let fan_id = msgs.iter().find(|m| m["target"] == "Fan").unwrap()["id"].clone();
    for t in ["A", "B", "C"] {
        let m = msgs.iter().find(|m| m["target"] == t).unwrap();
        assert_eq!(m["causation_id"], fan_id, "{t} caused by the Fan hop");
    }
}

#[test]
fn errors_go_to_the_error_target_and_show_in_the_dead_letter_view() {
    let dir = TempDir::new("errors");
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Errors
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Probe}}
  - id: Probe
    class: HIE.Test.Probe
    host_settings: {{TargetConfigNames: Out, ErrorTarget: Errors}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
  - id: Errors
    class: EnsLib.HL7.Operation.FileOperation
    adapter_settings: {{FilePath: {}}}
"#,
            dir.join("errors").display()
        ),
    )
    .unwrap();
    let _receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    Client::connect_retry(in_port).send(&hl7::with_note(hl7::adt("BAD", "M"), "FAIL")).unwrap();
    wait_for(T, "the error copy", || (finished_files(&dir.join("errors"))?.len() == 1).then_some(()));
    let dead = engine.get("/api/dead-letters");
    let m = dead["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["control_id"] == "BAD")
        .unwrap_or_else(|| panic!("{dead}"))
        .clone();
    assert_eq!(m["status"], "Error");
    assert!(m["note"].as_str().unwrap().contains("probe was asked to fail"), "{m}");
    assert_eq!(dead["by_item"]["Probe"]["Error"], 1, "{dead}");
}

#[test]
fn the_circuit_breaker_opens_on_a_failing_receiver_and_closes_when_it_recovers() {
    let dir = TempDir::new("breaker");
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: Breaker\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {in_port}}}\n    host_settings: {{TargetConfigNames: Out}}\n  - id: Out\n    class: EnsLib.HL7.Operation.TCPOperation\n    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}, ConnectTimeout: 1}}\n    host_settings: {{RetryInterval: 1, CircuitBreakerThreshold: 3, CircuitBreakerCooldown: 2}}\n"
        ),
    )
    .unwrap();
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut c = Client::connect_retry(in_port);
    for i in 0..5 {
        c.send(&hl7::adt(&format!("CB{i}"), "M")).unwrap();
    }
    engine.wait_until(T, "the breaker open", |_| engine.item("Out")["state"] == "CircuitOpen");
    let out = engine.item("Out");
    assert!(out["queue_depth"].as_u64().unwrap() >= 4, "messages stay queued: {out}");
    let retries_when_open = out["retries"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(engine.item("Out")["retries"].as_u64().unwrap() <= retries_when_open + 1, "no hammering while open");
    let receiver = Receiver::start(out_port);
    receiver.wait_for_count(5, T);
    assert_eq!(receiver.control_ids(), vec!["CB0", "CB1", "CB2", "CB3", "CB4"]);
    engine.wait_until(T, "the breaker closed", |_| engine.item("Out")["state"] == "Running");
    assert!(engine.log_text().contains("circuit breaker closed"));
}

#[test]
fn a_rate_limit_holds_within_ten_percent_over_ten_seconds() {
    let dir = TempDir::new("rate");
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: Rate\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {in_port}}}\n    host_settings: {{TargetConfigNames: Limited}}\n  - id: Limited\n    class: HIE.Process.Passthrough\n    host_settings: {{TargetConfigNames: Out, RateLimit: 40}}\n  - id: Out\n    class: EnsLib.HL7.Operation.TCPOperation\n    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}\n"
        ),
    )
    .unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Limited/pause", None);
    let mut c = Client::connect_retry(in_port);
    for i in 0..600 {
        c.send(&hl7::adt(&format!("RL{i}"), "M")).unwrap();
    }
    engine.wait_until(T, "600 queued", |_| engine.item("Limited")["queue_depth"] == 600);
    let before = receiver.count();
    engine.post("/api/items/Limited/resume", None);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let elapsed = start.elapsed().as_secs_f64();
    let delivered = (engine.item("Limited")["processed"].as_u64().unwrap() as f64) - before as f64;
    let rate = delivered / elapsed;
    assert!((36.0..=44.0).contains(&rate), "{rate:.1} msg/s against a limit of 40");
}

#[test]
fn the_demographics_pattern_enriches_adt_through_a_synchronous_lookup() {
    demographics_pattern(false);
}

#[test]
fn the_demographics_lookup_works_over_https_with_ssl_config() {
    demographics_pattern(true);
}

/// ADT in → an enricher that looks the patient up synchronously through an HTTP(S)
/// operation (in worker processes) → out, against a fake PDS.
fn demographics_pattern(https: bool) {
    let dir = TempDir::new("pds");
    let (in_port, out_port, http_port) = (free_port(), free_port(), free_port());
    let pki = hie_tests::tls::TestPki::new();
    pki.write_client_config(&dir.join("tls"), "pds");
    let answer = |_method: &str, path: &str| {
        if path.ends_with("/Patient/9434765919") {
            (
                200,
                r#"{"family":"SMITH","given":"ALICE","birth_date":"19800101","gp_practice":"A81001"}"#.into(),
                Duration::ZERO,
            )
        } else {
            (404, "{}".into(), Duration::ZERO)
        }
    };
    let pds = if https {
        FakeHttp::start_tls(http_port, pki.rustls_server(), answer)
    } else {
        FakeHttp::start(http_port, answer)
    };
    let ssl = if https { ", SSLConfig: pds" } else { "" };
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: PDS
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Enrich}}
  - id: Enrich
    class: HIE.Example.ADTEnricher
    host_settings: {{LookupTarget: PDS, TargetConfigNames: Out}}
  - id: PDS
    class: HIE.Example.DemographicsLookup
    execution_mode: multi_process
    adapter_settings: {{HTTPServer: 127.0.0.1, HTTPPort: {http_port}, URL: /pds{ssl}}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
"#
        ),
    )
    .unwrap();
    let receiver = Receiver::start(out_port);
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let msg =
        b"MSH|^~\\&|PAS|RXX|EPR|RXX|20260101||ADT^A01|PDS1|P|2.4\rPID|1||123^^^RXX^MR~9434765919^^^NHS^NH||unknown^x\r"
            .to_vec();
    let unknown =
        b"MSH|^~\\&|PAS|RXX|EPR|RXX|20260101||ADT^A01|PDS2|P|2.4\rPID|1||123^^^RXX^MR~1111111111^^^NHS^NH||keep^me\r"
            .to_vec();
    let mut c = Client::connect_retry(in_port);
    c.send(&msg).unwrap();
    c.send(&unknown).unwrap();
    receiver.wait_for_count(2, T);
    let out = receiver.messages();
    assert_eq!(hl7::value(&out[0], "PID-5.1"), "SMITH");
    assert_eq!(hl7::value(&out[0], "PID-5.2"), "ALICE");
    assert_eq!(hl7::value(&out[0], "PID-7"), "19800101");
    assert_eq!(hl7::value(&out[0], "PD1-3.10"), "A81001");
    assert_eq!(hl7::value(&out[1], "PID-5.1"), "keep", "unknown patients pass unchanged");
    assert_eq!(pds.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn alerts_on_error_queue_count_queue_wait_and_inactivity_reach_ens_alert_the_api_and_the_metrics() {
    let dir = TempDir::new("alerts");
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Alerts
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Probe, InactivityTimeout: 1}}
  - id: Probe
    class: HIE.Test.Probe
    host_settings: {{TargetConfigNames: Out, AlertOnError: 1}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
    host_settings: {{QueueCountAlert: 3, QueueWaitAlert: 1}}
  - id: Ens.Alert
    class: HIE.Process.Passthrough
"#
        ),
    )
    .unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    engine.post("/api/items/Out/pause", None);
    let mut client = Client::connect_retry(in_port);
    client.send(&hl7::with_note(hl7::adt("BAD", "M"), "FAIL")).unwrap();
    for i in 0..4 {
        assert_eq!(hl7::ack_code(&client.send(&hl7::adt(&format!("Q{i}"), "M")).unwrap()), "CA");
    }
    let alerts_of = |kind: &str, item: &str| {
        let a = engine.get("/api/alerts");
        a["alerts"].as_array().unwrap().iter().filter(|x| x["kind"] == kind && x["item"] == item).count()
    };
    wait_for(T, "an error alert from Probe", || (alerts_of("error", "Probe") == 1).then_some(()));
    wait_for(T, "a queue alert from Out", || (alerts_of("queue_count", "Out") == 1).then_some(()));
    wait_for(T, "a wait alert from Out", || (alerts_of("queue_wait", "Out") == 1).then_some(()));
    // Nothing arrives at In for a second: it reports itself silent.
    wait_for(T, "an inactivity alert from In", || (alerts_of("inactivity", "In") >= 1).then_some(()));

    // A lasting condition alerts once: the queue stays long, no second alert.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(alerts_of("queue_count", "Out"), 1, "one alert while the queue stays long");
    assert_eq!(alerts_of("queue_wait", "Out"), 1, "one alert while messages keep waiting");
    engine.post("/api/items/Out/resume", None);
    receiver.wait_for_count(4, T);

    // Each alert went to Ens.Alert as a message, with IRIS's Ens.AlertRequest fields.
    let sent = wait_for(T, "the alerts stored for Ens.Alert", || {
        let m = engine.get("/api/messages?item=Ens.Alert&limit=100");
        (m["count"].as_u64().unwrap_or(0) >= 3).then_some(m)
    });
    let id = sent["messages"].as_array().unwrap().iter().find(|m| m["source"] == "Probe").expect("Probe's alert")["id"]
        .clone();
    let shown = engine.get(&format!("/api/messages/{id}"));
    let body: serde_json::Value = serde_json::from_str(shown["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["SourceConfigName"], "Probe");
    assert!(body["AlertText"].as_str().unwrap().contains("ended in Error"), "{body}");
    let (_, metrics) = hie_tests::api::request(&engine.api, "GET", "/metrics", None).unwrap();
    let raised: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("hie_alerts_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("hie_alerts_total");
    assert!(raised >= 3, "{raised}");
}
