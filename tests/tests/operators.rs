//! Issue 3: operators' message tools over the API and the CLI: search, trace, show,
//! suspend, resend (edited too) and purge.

mod common;

use common::{pipeline, send_all};
use hie_tests::engine::{Engine, run_hie};
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, free_port, hl7, wait_for};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn operators_find_trace_suspend_resend_and_purge_messages() {
    let dir = TempDir::new("operator");
    let (in_port, out_port) = (free_port(), free_port());
    let config = pipeline(&dir, in_port, out_port, "process", "");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);
    for i in 0..5 {
        client.send(&hl7::adt(&format!("C{i}"), &format!("MRN-{i}"))).unwrap();
    }
    client.send(&hl7::oru("LAB1", "MRN-9")).unwrap();
    receiver.wait_for_count(6, T);
    engine.wait_until(T, "Out finished all six", |_| engine.item("Out")["processed"] == 6);

    // Search by control id, item, type, status and an indexed HL7 field.
    let by_id = engine.get("/api/messages?control_id=C3");
    assert_eq!(by_id["count"], 3, "intake + two hops: {by_id}");
    let by_field = engine.get("/api/messages?field=PID-3.1&value=MRN-9&item=Out");
    assert_eq!(by_field["count"], 1, "{by_field}");
    assert_eq!(by_field["messages"][0]["control_id"], "LAB1");
    let unindexed = engine.get("/api/messages?field=PID-5.1&value=Jones&item=Out");
    assert_eq!(unindexed["count"], 1, "unindexed paths are scanned: {unindexed}");
    let by_type = engine.get("/api/messages?type=ORU&item=Route");
    assert_eq!(by_type["count"], 1, "the ORU hop into Route: {by_type}");
    let sent_by_route = engine.get("/api/messages?source=Route&type=ORU^R01");
    assert_eq!(sent_by_route["count"], 1, "and the one it sent on: {sent_by_route}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let recent = engine.get(&format!("/api/messages?item=Out&since={}", now - 3600));
    assert_eq!(recent["count"], 6, "time bounds: {recent}");
    let old = engine.get(&format!("/api/messages?item=Out&until={}", now - 3600));
    assert_eq!(old["count"], 0, "{old}");
    let completed = engine.get("/api/messages?status=Completed&item=Out");
    assert_eq!(completed["count"], 6);
    let bad = hie_tests::api::request(&engine.api, "GET", "/api/messages?status=Nope", None).unwrap();
    assert_eq!(bad.0, 400);

    // Header + body + the downstream ACK stored as the reply.
    let out_msg = &completed["messages"][0];
    let shown = engine.get(&format!("/api/messages/{}", out_msg["id"]));
    assert!(shown["body"].as_str().unwrap().starts_with("MSH|"));
    assert!(shown["reply"].as_str().unwrap().contains("MSA|AA"), "{shown}");

    // The session: intake → Route → Out, with timings.
    let session = engine.get(&format!("/api/sessions/{}", out_msg["session_id"]));
    assert_eq!(session["count"], 3);
    let root = &session["tree"][0];
    assert_eq!(root["target"], "In");
    assert_eq!(root["children"][0]["target"], "Route");
    assert_eq!(root["children"][0]["children"][0]["target"], "Out");

    // Suspend a queued message, resend it, resend a completed one with an edited body.
    engine.post("/api/items/Out/pause", None);
    client.send(&hl7::adt("SUSP", "M")).unwrap();
    let queued = wait_for(T, "SUSP queued at Out", || {
        let r = engine.get("/api/messages?control_id=SUSP&item=Out&status=Queued");
        (r["count"] == 1).then(|| r["messages"][0]["id"].as_u64().unwrap())
    });
    let (code, _) = engine.post(&format!("/api/messages/{queued}/suspend"), None);
    assert_eq!(code, 200);
    engine.post("/api/items/Out/resume", None);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!receiver.control_ids().contains(&"SUSP".to_string()));
    let (code, body) = engine.post("/api/items/Out/resend-suspended", None);
    assert_eq!((code, body["resent"].as_u64()), (200, Some(1)));
    receiver.wait_for_count(7, T);
    assert_eq!(receiver.control_ids().last().unwrap(), "SUSP");

    let edited = String::from_utf8(hl7::adt("EDITED", "M")).unwrap();
    let (code, body) =
        engine.post(&format!("/api/messages/{queued}/resend"), Some(&serde_json::json!({"body": edited}).to_string()));
    assert_eq!(code, 200, "{body}");
    receiver.wait_for_count(8, T);
    assert_eq!(receiver.control_ids().last().unwrap(), "EDITED");

    // Purge everything finished: no orphans, the file shrinks, unfinished work is kept.
    for i in 0..300 {
        client.send(&hl7::adt(&format!("BULK{i}"), "M")).unwrap();
    }
    receiver.wait_for_count(308, T);
    engine
        .wait_until(T, "Out idle", |_| engine.item("Out")["queue_depth"] == 0 && engine.item("Out")["in_flight"] == 0);
    std::thread::sleep(Duration::from_millis(300));
    let (code, report) = engine.post("/api/purge?keep_days=0", None);
    assert_eq!(code, 200, "{report}");
    assert!(report["headers"].as_u64().unwrap() >= 900, "{report}");
    assert!(report["bodies"].as_u64().unwrap() >= 300, "{report}");
    assert!(
        report["bytes_after"].as_u64().unwrap() < report["bytes_before"].as_u64().unwrap(),
        "disk space comes back: {report}"
    );
    let left = engine.get("/api/messages?limit=1000");
    assert_eq!(left["count"], 0, "all finished messages purged: {left}");
    let stats = engine.get("/api/journal");
    assert_eq!(stats["orphan_bodies"], 0, "{stats}");
    assert_eq!(stats["bodies"], 0, "{stats}");
    assert_eq!(stats["headers"], 0, "{stats}");
}

/// `hie messages ARGS` against `engine`: exit code and the JSON it printed.
fn cli(engine: &Engine, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["messages", "--json", "--api", engine.api.as_str()];
    all.extend_from_slice(args);
    let (code, out, err) = run_hie(&all);
    let json = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out} {err}"));
    (code, json)
}

#[test]
fn the_cli_finds_shows_suspends_resends_and_purges_messages() {
    let dir = TempDir::new("cli");
    let (in_port, out_port) = (free_port(), free_port());
    let config = pipeline(&dir, in_port, out_port, "fsync", "");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    assert_eq!(send_all(in_port, &[hl7::adt("CLI1", "MRN77"), hl7::oru("CLI2", "MRN78")]), vec!["CA"; 2]);
    receiver.wait_for_count(2, T);

    // search by control id, by HL7 field, by item and status; show one with its body.
    let (code, found) = cli(&engine, &["search", "--control-id", "CLI1"]);
    assert_eq!((code, found["count"].as_u64()), (0, Some(3)), "three hops: {found}");
    let (_, by_field) = cli(&engine, &["search", "--field", "PID-3.1", "--value", "MRN78", "--item", "Out"]);
    assert_eq!(by_field["messages"][0]["control_id"], "CLI2", "{by_field}");
    let done_id = wait_for(T, "CLI2 Completed at Out", || {
        let (_, r) = cli(&engine, &["search", "--control-id", "CLI2", "--item", "Out", "--status", "Completed"]);
        r["messages"][0]["id"].as_u64()
    });
    let (code, shown) = cli(&engine, &["show", &done_id.to_string()]);
    assert_eq!(code, 0);
    assert!(shown["body"].as_str().unwrap_or("").contains("ORU^R01"), "{shown}");

    // A finished message cannot be suspended: exit code 1 and the reason.
    let (code, refused) = cli(&engine, &["suspend", &done_id.to_string()]);
    assert_eq!(code, 1, "{refused}");

    // Suspend a queued one, resend the item's suspended messages, resend with an edited body.
    engine.post("/api/items/Out/pause", None);
    assert_eq!(send_all(in_port, &[hl7::adt("CLI3", "MRN79")]), vec!["CA"]);
    let queued = wait_for(T, "CLI3 queued at Out", || {
        let (_, r) = cli(&engine, &["search", "--control-id", "CLI3", "--item", "Out", "--status", "Queued"]);
        r["messages"][0]["id"].as_u64()
    });
    assert_eq!(cli(&engine, &["suspend", &queued.to_string()]).0, 0);
    engine.post("/api/items/Out/resume", None);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.count(), 2, "the suspended message waits");
    let (code, resent) = cli(&engine, &["resend-suspended", "Out"]);
    assert_eq!((code, resent["resent"].as_u64()), (0, Some(1)), "{resent}");
    receiver.wait_for_count(3, T);
    let edited = dir.join("edited.hl7");
    std::fs::write(&edited, hl7::adt("CLI3-EDITED", "MRN79")).unwrap();
    let (code, _) = cli(&engine, &["resend", &queued.to_string(), "--body", edited.to_str().unwrap()]);
    assert_eq!(code, 0);
    receiver.wait_for_count(4, T);
    assert_eq!(receiver.control_ids().last().map(String::as_str), Some("CLI3-EDITED"));

    // Purge everything finished (keep 0 days): the finished messages are gone.
    wait_for(T, "the edited resend Completed", || {
        let (_, r) = cli(&engine, &["search", "--control-id", "CLI3-EDITED", "--item", "Out", "--status", "Completed"]);
        r["messages"][0]["id"].as_u64()
    });
    let (code, purged) = cli(&engine, &["purge", "--keep-days", "0"]);
    assert_eq!(code, 0, "{purged}");
    assert!(purged["headers"].as_u64().unwrap_or(0) >= 9, "{purged}");
    let (_, after) = cli(&engine, &["search", "--control-id", "CLI1"]);
    assert_eq!(after["count"], 0, "{after}");
}
