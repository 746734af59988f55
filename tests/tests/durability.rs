//! Issue 3: the journal, durable queues, ACK after commit (operators' tools: operators.rs).

use hie_tests::engine::Engine;
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, finished_files, free_port, hl7, wait_for};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{pipeline, send_all, set_out_queue_window};

const T: Duration = Duration::from_secs(30);

#[test]
fn every_acked_message_survives_kill_9_at_several_points_during_load() {
    let dir = TempDir::new("kill9");
    let (in_port, out_port) = (free_port(), free_port());
    let config = pipeline(&dir, in_port, out_port, "fsync", "");
    let receiver = Receiver::start(out_port);
    let mut engine = Engine::start(&config, &dir.join("data"), &[]);

    // Four senders; each records the control ids that were accepted (CA; see `hl7::accepted`).
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let running = Arc::new(AtomicBool::new(true));
    let senders: Vec<_> = (0..4)
        .map(|s| {
            let (acked, running) = (acked.clone(), running.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                let mut client: Option<Client> = None;
                while running.load(Ordering::SeqCst) {
                    if client.is_none() {
                        client = Client::connect(in_port).ok();
                        if client.is_none() {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                    }
                    let id = format!("S{s}-{n}");
                    n += 1;
                    match client.as_mut().unwrap().send(&hl7::adt(&id, &format!("MRN{s}"))) {
                        Ok(ack) if hl7::accepted(&ack) => acked.lock().unwrap().push(id),
                        Ok(_) => {}
                        Err(_) => client = None,
                    }
                }
            })
        })
        .collect();

    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(700 + 300 * round));
        engine.kill9();
        std::thread::sleep(Duration::from_millis(100));
        engine.restart();
    }
    std::thread::sleep(Duration::from_millis(500));
    running.store(false, Ordering::SeqCst);
    for s in senders {
        s.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 100, "the load actually ran ({} acked)", acked.len());
    wait_for(Duration::from_secs(60), "every ACKed message downstream", || {
        let got: HashSet<String> = receiver.control_ids().into_iter().collect();
        acked.iter().all(|id| got.contains(id)).then_some(())
    });
    let ids = receiver.control_ids();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *counts.entry(id).or_default() += 1;
    }
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    // In flight at a kill: the operation's one message plus the passthrough's two; a few
    // per kill at most.
    assert!(duplicates <= 3 * 4, "duplicates bounded by what was in flight: {duplicates}");
    // Per sender, delivery keeps the order messages were ACKed in.
    for s in 0..4 {
        let prefix = format!("S{s}-");
        let mut seen = HashSet::new();
        let firsts: Vec<u64> = ids
            .iter()
            .filter(|i| i.starts_with(&prefix) && seen.insert(i.to_string()))
            .map(|i| i[prefix.len()..].parse().unwrap())
            .collect();
        let mut sorted = firsts.clone();
        sorted.sort();
        assert_eq!(firsts, sorted, "sender {s} delivered in order");
    }
}

#[test]
fn a_downstream_outage_grows_the_queue_and_delivery_resumes_in_order() {
    let dir = TempDir::new("outage");
    let (in_port, out_port) = (free_port(), free_port());
    let config = pipeline(&dir, in_port, out_port, "process", "");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);
    for i in 0..200 {
        assert!(hl7::accepted(&client.send(&hl7::adt(&format!("D{i:03}"), "M")).unwrap()), "D{i:03} accepted");
    }
    engine.wait_until(T, "199 queued behind the retrying message", |_| {
        engine.item("Out")["queue_depth"].as_u64().unwrap_or(0) >= 199
    });
    let receiver = Receiver::start(out_port);
    receiver.wait_for_count(200, T);
    let expected: Vec<String> = (0..200).map(|i| format!("D{i:03}")).collect();
    assert_eq!(receiver.control_ids(), expected);
}

#[test]
fn an_unwritable_data_directory_gets_nacks_and_intake_recovers_by_itself() {
    let dir = TempDir::new("readonly");
    let (in_port, out_port) = (free_port(), free_port());
    let config = pipeline(&dir, in_port, out_port, "fsync", "");
    let receiver = Receiver::start(out_port);
    let data = dir.join("data");
    let engine = Engine::start(&config, &data, &[]);
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("BEFORE", "M")).unwrap()), "CA");

    // Immutable files refuse writes even to root and even through open descriptors. The
    // WAL index (-shm) is shared memory, not storage; it stays writable.
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            }
            out.push(p.display().to_string());
        }
    }
    let mut files = Vec::new();
    walk(&data, &mut files);
    files.retain(|p| !p.ends_with("-shm"));
    files.push(data.display().to_string());
    let lock = std::process::Command::new("chattr").arg("+i").args(&files).status();
    if !lock.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: chattr +i is not supported here; cannot make the journal unwritable");
        return;
    }
    let unlock = || {
        let _ = std::process::Command::new("chattr").arg("-i").args(&files).status();
    };
    let nack = client.send(&hl7::adt("DURING", "M"));
    let during = nack.as_ref().map(|n| hl7::ack_code(n)).unwrap_or_default();
    let status = engine.production();
    unlock();
    // A failed commit is a system error: CR for the v2.4 message (docs/iris-settings.md §9.1.4).
    assert_eq!(during, "CR", "a message that cannot be committed is refused: {nack:?}");
    let text = String::from_utf8_lossy(nack.as_ref().unwrap()).to_string();
    assert!(text.contains("ERR"), "with an ERR segment: {text}");
    assert_eq!(status["journal_writable"], false);
    assert!(engine.log_text().contains("journal commit failed"), "a clear error is logged");

    // Writable again: intake resumes without a restart.
    let ack = wait_for(T, "an accept after the journal is writable", || {
        client.send(&hl7::adt("AFTER", "M")).ok().filter(|a| hl7::accepted(a))
    });
    assert_eq!(hl7::ack_code(&ack), "CA");
    // BEFORE may arrive twice: its delivery was done but not yet recorded when the journal
    // stopped accepting writes (at-least-once, bounded by what was in flight).
    let ids = wait_for(T, "AFTER delivered", || {
        let ids = receiver.control_ids();
        ids.contains(&"AFTER".to_string()).then_some(ids)
    });
    assert!(ids.contains(&"BEFORE".to_string()), "{ids:?}");
    assert!(ids.iter().filter(|i| *i == "BEFORE").count() <= 2, "{ids:?}");
    assert!(!ids.contains(&"DURING".to_string()), "the refused message was not delivered");
}

/// A production where a router sets priorities by message type, in front of a queue.
fn queue_production(dir: &TempDir, in_port: u16, out_port: u16, queue: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("rules.yaml"),
        "rules:\n  - when: MSH-9.1 = \"ORU\"\n    send:\n      - target: Out\n        priority: 1\n    return: true\n  - send: [Out]\n",
    )
    .unwrap();
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Queues
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Router}}
  - id: Router
    class: EnsLib.HL7.MsgRouter.RoutingEngine
    host_settings: {{BusinessRuleName: rules.yaml}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
{queue}
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
  - id: Overflow
    class: EnsLib.HL7.Operation.FileOperation
    adapter_settings: {{FilePath: {}}}
"#,
            dir.join("overflow").display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn a_priority_queue_delivers_by_priority_then_arrival() {
    let dir = TempDir::new("priority");
    let (in_port, out_port) = (free_port(), free_port());
    let config = queue_production(&dir, in_port, out_port, "    queue_type: priority");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Out/pause", None);
    let msgs = vec![hl7::adt("A1", "M"), hl7::oru("O1", "M"), hl7::adt("A2", "M"), hl7::oru("O2", "M")];
    assert_eq!(send_all(in_port, &msgs), vec!["CA"; 4]);
    engine.wait_until(T, "4 queued", |_| engine.item("Out")["queue_depth"] == 4);
    engine.post("/api/items/Out/resume", None);
    receiver.wait_for_count(4, T);
    assert_eq!(receiver.control_ids(), vec!["O1", "O2", "A1", "A2"]);
}

#[test]
fn a_lifo_queue_delivers_newest_first() {
    let dir = TempDir::new("lifo");
    let (in_port, out_port) = (free_port(), free_port());
    let config = queue_production(&dir, in_port, out_port, "    queue_type: lifo");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Out/pause", None);
    let msgs: Vec<_> = (1..=3).map(|i| hl7::adt(&format!("L{i}"), "M")).collect();
    send_all(in_port, &msgs);
    engine.wait_until(T, "3 queued", |_| engine.item("Out")["queue_depth"] == 3);
    engine.post("/api/items/Out/resume", None);
    receiver.wait_for_count(3, T);
    assert_eq!(receiver.control_ids(), vec!["L3", "L2", "L1"]);
}

/// Queues `msgs` at a paused Out whose queue keeps 5 entries in memory, kills the engine
/// and restarts it; returns the control ids in the order Out delivered them.
fn deliver_a_deep_queue_after_kill_9(name: &str, queue_type: &str, msgs: &[Vec<u8>]) -> Vec<String> {
    let dir = TempDir::new(name);
    let (in_port, out_port) = (free_port(), free_port());
    let queue = format!("    queue_type: {queue_type}\n    host_settings: {{QueueWindow: 5}}");
    let config = queue_production(&dir, in_port, out_port, &queue);
    let receiver = Receiver::start(out_port);
    let mut engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Out/pause", None);
    assert_eq!(send_all(in_port, msgs), vec!["CA"; msgs.len()]);
    let n = msgs.len() as u64;
    engine.wait_until(T, "all queued at Out", |_| engine.item("Out")["queue_depth"] == n);
    assert_eq!(
        engine.item("Out")["queue_in_journal"],
        n - 5,
        "memory holds the window, the journal the rest: {}",
        engine.item("Out")
    );
    // Recovery loads the 5 best into memory; the rest stays in the journal.
    engine.kill9();
    engine.restart();
    receiver.wait_for_count(msgs.len(), T);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(engine.item("Out")["queue_depth"], 0);
    receiver.control_ids()
}

#[test]
fn deep_priority_and_lifo_queues_keep_their_order_beyond_the_in_memory_window() {
    // Routine ADTs and urgent ORUs (priority 1 by the router's rule), interleaved.
    let msgs: Vec<Vec<u8>> = (0..40)
        .map(|i| if i % 2 == 0 { hl7::adt(&format!("A{i:02}"), "M") } else { hl7::oru(&format!("O{i:02}"), "M") })
        .collect();
    let by_priority = deliver_a_deep_queue_after_kill_9("deep-priority", "priority", &msgs);
    let mut expected: Vec<String> = (0..40).filter(|i| i % 2 == 1).map(|i| format!("O{i:02}")).collect();
    expected.extend((0..40).filter(|i| i % 2 == 0).map(|i| format!("A{i:02}")));
    assert_eq!(by_priority, expected, "urgent first, each priority in arrival order, each message once");

    let msgs: Vec<Vec<u8>> = (0..40).map(|i| hl7::adt(&format!("L{i:02}"), "M")).collect();
    let newest_first = deliver_a_deep_queue_after_kill_9("deep-lifo", "lifo", &msgs);
    let expected: Vec<String> = (0..40).rev().map(|i| format!("L{i:02}")).collect();
    assert_eq!(newest_first, expected, "newest first, each message once");
}

#[test]
fn overflow_drop_records_discarded_and_nacks_the_waiting_sender() {
    let dir = TempDir::new("drop");
    let (in_port, out_port) = (free_port(), free_port());
    let config = queue_production(&dir, in_port, out_port, "    queue_size: 2\n    queue_overflow: drop");
    let _receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Out/pause", None);
    // The router acks nothing; services do. Route directly: In → Router → Out (full).
    let codes = send_all(in_port, &(0..4).map(|i| hl7::adt(&format!("F{i}"), "M")).collect::<Vec<_>>());
    assert_eq!(codes, vec!["CA"; 4], "the service accepted all four; the router met the full queue");
    engine.wait_until(T, "two discarded at Out", |_| engine.item("Out")["discarded"] == 2);
    let found = engine.get("/api/messages?status=Discarded&item=Out");
    assert_eq!(found["count"], 2, "{found}");
    assert!(found["messages"][0]["note"].as_str().unwrap().contains("full"), "{found}");
}

#[test]
fn overflow_drop_at_a_service_target_nacks_the_sender() {
    let dir = TempDir::new("dropnack");
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: DropNack\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {in_port}}}\n    host_settings: {{TargetConfigNames: Out}}\n  - id: Out\n    class: EnsLib.HL7.Operation.TCPOperation\n    queue_size: 1\n    queue_overflow: drop\n    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}\n"
        ),
    )
    .unwrap();
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Out/pause", None);
    let codes = send_all(in_port, &[hl7::adt("N1", "M"), hl7::adt("N2", "M")]);
    // A full queue is a system error: CR for the v2.4 message (docs/iris-settings.md §9.1.4).
    assert_eq!(codes, vec!["CA", "CR"], "the second message meets a full queue");
}

#[test]
fn overflow_redirect_sends_to_the_overflow_target() {
    let dir = TempDir::new("redirect");
    let (in_port, out_port) = (free_port(), free_port());
    let config = queue_production(
        &dir,
        in_port,
        out_port,
        "    queue_size: 1\n    queue_overflow: redirect\n    overflow_target: Overflow",
    );
    let _receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Out/pause", None);
    send_all(in_port, &[hl7::adt("R1", "M"), hl7::adt("R2", "M"), hl7::adt("R3", "M")]);
    let files = wait_for(T, "two overflow files", || {
        let n = finished_files(&dir.join("overflow"))?.len();
        (n == 2).then_some(n)
    });
    assert_eq!(files, 2);
    assert_eq!(engine.item("Out")["queue_depth"], 1);
}

#[test]
fn overflow_block_holds_the_ack_until_there_is_room() {
    let dir = TempDir::new("block");
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: Block\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {in_port}}}\n    host_settings: {{TargetConfigNames: Out}}\n  - id: Out\n    class: EnsLib.HL7.Operation.TCPOperation\n    queue_size: 1\n    queue_overflow: block\n    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}\n"
        ),
    )
    .unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Out/pause", None);
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("B1", "M")).unwrap()), "CA");
    client.stream.set_read_timeout(Some(Duration::from_millis(700))).unwrap();
    let held = client.send(&hl7::adt("B2", "M"));
    assert!(held.is_err(), "the ACK is held while the queue is full: {held:?}");
    engine.post("/api/items/Out/resume", None);
    client.stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(hl7::ack_code(&client.read_reply().unwrap()), "CA");
    receiver.wait_for_count(2, T);
    assert_eq!(receiver.control_ids(), vec!["B1", "B2"]);
}

#[test]
fn a_search_field_added_while_running_covers_messages_stored_before_it_and_a_dropped_one_falls_back_to_scanning() {
    let dir = TempDir::new("searchfields");
    let (in_port, out_port) = (free_port(), free_port());
    let config = pipeline(&dir, in_port, out_port, "process", "");
    let original = std::fs::read_to_string(&config).unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);
    let send = |client: &mut Client, id: &str| {
        assert_eq!(hl7::ack_code(&client.send(&hl7::adt(id, &format!("MRN-{id}"))).unwrap()), "CA");
    };
    for id in ["F1", "F2", "F3"] {
        send(&mut client, id);
    }
    receiver.wait_for_count(3, T);
    let found = |id: &str| engine.get(&format!("/api/messages?field=MSH-10&value={id}&item=Out"))["count"].clone();
    let indexed = || engine.get("/api/journal")["search_fields_indexed"].clone();
    assert_eq!(found("F2"), 1, "not indexed yet: found by scanning bodies");
    assert_eq!(indexed(), serde_json::json!(["PID-3.1"]), "the default SearchFields, complete from the start");

    // Add MSH-10 to SearchFields while running: the stored messages get their rows.
    let with_msh10 = original
        .replace("durability: process\n", "durability: process\nsettings: {SearchFields: \"PID-3.1, MSH-10\"}\n");
    std::fs::write(&config, &with_msh10).unwrap();
    let (code, body) = engine.post("/api/reload", None);
    assert_eq!(code, 200, "{body}");
    wait_for(T, "MSH-10 indexed for the stored messages", || {
        (indexed() == serde_json::json!(["MSH-10", "PID-3.1"])).then_some(())
    });
    send(&mut client, "F4");
    receiver.wait_for_count(4, T);
    for id in ["F1", "F2", "F4"] {
        assert_eq!(found(id), 1, "{id} through the index");
    }
    let stats = engine.get("/api/journal");
    assert_eq!(stats["orphan_bodies"], 0, "{stats}");

    // Drop it again: new messages have no rows for it, so searches scan again and still find them.
    std::fs::write(&config, &original).unwrap();
    let (code, body) = engine.post("/api/reload", None);
    assert_eq!(code, 200, "{body}");
    wait_for(T, "MSH-10 no longer counted as indexed", || (indexed() == serde_json::json!(["PID-3.1"])).then_some(()));
    send(&mut client, "F5");
    receiver.wait_for_count(5, T);
    for id in ["F1", "F5"] {
        assert_eq!(found(id), 1, "{id} by scanning");
    }
    assert!(engine.log_text().contains("search index brought up to date"), "the backfill is logged");
}

#[test]
fn purge_keep_days_set_by_a_reload_purges_at_once_without_a_restart() {
    let dir = TempDir::new("purgereload");
    let (in_port, out_port) = (free_port(), free_port());
    let config = pipeline(&dir, in_port, out_port, "process", "");
    let original = std::fs::read_to_string(&config).unwrap();
    let _receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    assert!(!engine.log_text().contains("scheduled purge"), "PurgeKeepDays 0: no purge");
    let with_purge = original.replace("durability: process\n", "durability: process\nsettings: {PurgeKeepDays: 3}\n");
    std::fs::write(&config, &with_purge).unwrap();
    let (code, body) = engine.post("/api/reload", None);
    assert_eq!(code, 200, "{body}");
    wait_for(T, "the purge the new setting asks for", || {
        let log = engine.log_text();
        (log.contains("scheduled purge (PurgeKeepDays)") && log.contains("purge done")).then_some(())
    });
}

#[test]
fn a_deep_fifo_queue_spills_to_the_journal_and_drains_in_order_exactly_once_even_across_a_restart() {
    let dir = TempDir::new("spill");
    let (in_port, out_port) = (free_port(), free_port());
    // A window of 20: most of the 300 queued messages live only in the journal.
    let config = pipeline(&dir, in_port, out_port, "process", "");
    set_out_queue_window(&config, 20);
    let mut engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Out/pause", None);
    let mut client = Client::connect_retry(in_port);
    for i in 0..300 {
        assert!(hl7::accepted(&client.send(&hl7::adt(&format!("W{i:03}"), "M")).unwrap()), "W{i:03} accepted");
    }
    engine.wait_until(T, "300 waiting at Out", |_| engine.item("Out")["queue_depth"] == 300);
    assert_eq!(engine.item("Out")["queue_in_journal"], 280, "the window holds 20, the journal the rest");
    drop(client);
    // Restart with the deep queue: recovery loads the window, the rest stays spilled.
    engine.kill9();
    engine.restart();
    // Out is no longer paused after the restart; with no receiver yet, one message is in
    // flight (retrying) and the rest wait.
    engine.wait_until(T, "300 waiting after the restart", |_| {
        let out = engine.item("Out");
        out["queue_depth"].as_u64().unwrap_or(0) + out["in_flight"].as_u64().unwrap_or(0) == 300
    });
    let receiver = Receiver::start(out_port);
    receiver.wait_for_count(300, T);
    std::thread::sleep(Duration::from_millis(300));
    let expected: Vec<String> = (0..300).map(|i| format!("W{i:03}")).collect();
    assert_eq!(receiver.control_ids(), expected, "in order, each exactly once");
    assert_eq!(engine.item("Out")["queue_depth"], 0);
}

#[test]
fn spilling_under_continuous_load_delivers_every_message_exactly_once() {
    let dir = TempDir::new("spill-load");
    let (in_port, out_port) = (free_port(), free_port());
    let config = pipeline(&dir, in_port, out_port, "process", "");
    // Tiny windows on both hops so refills race with pushes and finishes all the time.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("{RetryInterval: 1}", "{RetryInterval: 1, QueueWindow: 8}")
        .replace("{TargetConfigNames: Out}", "{TargetConfigNames: Out, QueueWindow: 8}");
    std::fs::write(&config, text).unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let senders: Vec<_> = (0..4)
        .map(|s| {
            std::thread::spawn(move || {
                let mut c = Client::connect_retry(in_port);
                for i in 0..400 {
                    let ack = c.send(&hl7::adt(&format!("X{s}-{i}"), &format!("K{s}"))).unwrap();
                    assert!(hl7::accepted(&ack), "X{s}-{i}: {}", String::from_utf8_lossy(&ack));
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    receiver.wait_for_count(1600, T);
    engine.wait_until(T, "Out idle", |_| {
        let out = engine.item("Out");
        out["queue_depth"] == 0 && out["in_flight"] == 0
    });
    std::thread::sleep(Duration::from_millis(300));
    let ids = receiver.control_ids();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 1600, "every message delivered");
    assert_eq!(ids.len(), 1600, "and none twice");
    assert_eq!(engine.get("/api/journal")["pending"], 0, "nothing left stranded in the journal");
}

#[test]
fn operations_suspend_on_ae_fail_after_failure_timeout_keep_trying_while_disconnected_and_never_hold_up_others() {
    let dir = TempDir::new("retries");
    let in_port = free_port();
    let (ae_port, down_port, ok_port, patient_port) = (free_port(), free_port(), free_port(), free_port());
    std::fs::write(
        dir.join("rules.yaml"),
        "rules:\n  - when: MSH-10 = \"AE1\"\n    send: [OutAE]\n  - when: MSH-10 = \"DOWN1\"\n    send: [OutDown]\n  - when: MSH-10 = \"OK1\"\n    send: [OutOK]\n  - when: MSH-10 = \"PAT1\"\n    send: [OutPatient]\n",
    )
    .unwrap();
    let config = dir.join("production.yaml");
    let op = |name: &str, port: u16, host: &str| {
        format!(
            "  - id: {name}\n    class: EnsLib.HL7.Operation.TCPOperation\n    adapter_settings: {{IPAddress: 127.0.0.1, Port: {port}, ConnectTimeout: 1, ResponseTimeout: 2}}\n    host_settings: {{RetryInterval: 1{host}}}\n"
        )
    };
    let mut text = format!(
        "name: Retries\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {in_port}}}\n    host_settings: {{TargetConfigNames: Router}}\n  - id: Router\n    class: EnsLib.HL7.MsgRouter.RoutingEngine\n    host_settings: {{BusinessRuleName: rules.yaml, BadMessageHandler: Bad}}\n  - id: Bad\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n  - id: Errors\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n",
        dir.join("bad").display(),
        dir.join("errors").display()
    );
    text += &op("OutAE", ae_port, "");
    text += &op("OutDown", down_port, ", FailureTimeout: 2, ErrorTarget: Errors");
    text += &op("OutOK", ok_port, "");
    text += &op("OutPatient", patient_port, ", FailureTimeout: 1, NoFailWhileDisconnected: 1");
    std::fs::write(&config, text).unwrap();
    let _ae = Receiver::with_policy(ae_port, |_| hie_tests::mllp::Reply::Ack("AE"));
    let ok = Receiver::start(ok_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let msgs = [
        hl7::adt("DOWN1", "M"),
        hl7::adt("PAT1", "M"),
        hl7::adt("AE1", "M"),
        hl7::adt("OK1", "M"),
        hl7::adt("NONE1", "M"),
    ];
    assert_eq!(send_all(in_port, &msgs), vec!["CA"; 5]);
    let status_at = |item: &str| {
        let found = engine.get(&format!("/api/messages?item={item}"));
        found["messages"].as_array().and_then(|m| m.first()).map(|m| m["status"].as_str().unwrap_or("").to_string())
    };

    // Two operations retry against absent receivers; the others are not held up.
    ok.wait_for_count(1, Duration::from_secs(5));
    wait_for(T, "the unmatched message at BadMessageHandler", || {
        (finished_files(&dir.join("bad"))?.len() == 1).then_some(())
    });
    // :?E=S (the default ReplyCodeActions): an AE reply suspends the message.
    wait_for(T, "the AE message Suspended", || (status_at("OutAE")? == "Suspended").then_some(()));

    // FailureTimeout 2 s: the message fails, is recorded Error and copied to ErrorTarget.
    wait_for(T, "the undeliverable message Error", || (status_at("OutDown")? == "Error").then_some(()));
    wait_for(T, "its copy at the error target", || (finished_files(&dir.join("errors"))?.len() == 1).then_some(()));
    // NoFailWhileDisconnected: well past its FailureTimeout of 1 s it is still trying...
    std::thread::sleep(Duration::from_secs(2));
    assert_ne!(status_at("OutPatient").as_deref(), Some("Error"), "disconnected time does not count");
    assert!(engine.item("OutPatient")["retries"].as_u64().unwrap_or(0) >= 2, "{}", engine.item("OutPatient"));
    // ...and delivers once its receiver appears.
    let patient = Receiver::start(patient_port);
    patient.wait_for_count(1, T);
    assert_eq!(patient.control_ids(), vec!["PAT1"]);
    wait_for(T, "PAT1 Completed", || (status_at("OutPatient")? == "Completed").then_some(()));
}

#[test]
fn a_message_deep_in_a_spilled_queue_can_be_suspended_and_resent() {
    let dir = TempDir::new("deep-suspend");
    let (in_port, out_port) = (free_port(), free_port());
    let config = pipeline(&dir, in_port, out_port, "process", "");
    set_out_queue_window(&config, 5);
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Out/pause", None);
    let msgs: Vec<Vec<u8>> = (0..30).map(|i| hl7::adt(&format!("D{i:02}"), "M")).collect();
    assert_eq!(send_all(in_port, &msgs), vec!["CA"; 30]);
    engine.wait_until(T, "30 waiting at Out", |_| engine.item("Out")["queue_depth"] == 30);
    assert_eq!(engine.item("Out")["queue_in_journal"], 25);
    // D25 is far beyond the 5 held in memory: an operator can still suspend it.
    let deep = engine.get("/api/messages?control_id=D25&item=Out&status=Queued");
    let id = deep["messages"][0]["id"].as_u64().unwrap_or_else(|| panic!("{deep}"));
    let (code, body) = engine.post(&format!("/api/messages/{id}/suspend"), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(engine.item("Out")["queue_depth"], 29);
    engine.post("/api/items/Out/resume", None);
    receiver.wait_for_count(29, T);
    std::thread::sleep(Duration::from_millis(300));
    let expected: Vec<String> = (0..30).filter(|i| *i != 25).map(|i| format!("D{i:02}")).collect();
    assert_eq!(receiver.control_ids(), expected, "in order, without the suspended one");
    let found = engine.get("/api/messages?control_id=D25&item=Out");
    assert_eq!(found["messages"][0]["status"], "Suspended", "{found}");
    let (code, body) = engine.post("/api/items/Out/resend-suspended", None);
    assert_eq!((code, body["resent"].as_u64()), (200, Some(1)), "{body}");
    receiver.wait_for_count(30, T);
    assert_eq!(receiver.control_ids().last().map(String::as_str), Some("D25"));
}
