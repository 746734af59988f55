//! Issue 15: reliability under a shared CPU, floods, a full disk and torn logs.

use hie_hl7::mllp;
use hie_tests::engine::Engine;
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, free_port, hl7, wait_for};
use std::collections::HashSet;
use std::process::{Child, Command};
use std::time::Duration;

/// The longest a real sender waits for an ACK before it resends (10–30 s is usual).
const SENDER_TIMEOUT: Duration = Duration::from_secs(10);

/// `n` busy loops at the engine's priority, as a backup job or a virus scan would be;
/// killed when dropped.
struct BusyLoops(Vec<Child>);

impl BusyLoops {
    fn start(n: usize) -> BusyLoops {
        BusyLoops((0..n).map(|_| Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("sh")).collect())
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Service → Passthrough → TCP operation.
fn production(dir: &TempDir, in_port: u16, out_port: u16, durability: &str) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: SharedCpu
durability: {durability}
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Route}}
  - id: Route
    class: HIE.Process.Passthrough
    host_settings: {{TargetConfigNames: Out}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    concurrency: 4
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
    host_settings: {{RetryInterval: 1}}
"#
        ),
    )
    .expect("production");
    config
}

/// Sends `count` messages on one connection, `pipeline` frames per write, and returns the
/// control ids accepted ([`hl7::accepted`]: AA or CA). Each ACK must come within [`SENDER_TIMEOUT`], as a real sender
/// would require before it resends.
fn send(port: u16, conn: usize, count: usize, pipeline: usize) -> Vec<String> {
    let mut client = Client::connect_retry(port);
    client.stream.set_read_timeout(Some(SENDER_TIMEOUT)).expect("read timeout");
    let mut acked = Vec::new();
    let mut n = 0;
    while n < count {
        let batch: Vec<String> = (n..(n + pipeline).min(count)).map(|i| format!("C{conn}-{i}")).collect();
        let mut frames = Vec::new();
        for id in &batch {
            mllp::encode_into(&mut frames, &hl7::adt(id, &format!("MRN{conn}-{}", n % 7)));
        }
        client.write_raw(&frames).expect("send");
        for id in &batch {
            let ack = client
                .read_reply()
                .unwrap_or_else(|e| panic!("no ACK for {id} within {SENDER_TIMEOUT:?} ({e}): a sender would resend"));
            assert!(hl7::accepted(&ack), "{id}: {}", String::from_utf8_lossy(&ack));
            assert_eq!(hl7::value(&ack, "MSA-2"), *id, "ACKs come in order");
            acked.push(id.clone());
        }
        n += batch.len();
    }
    acked
}

#[test]
fn acks_keep_coming_within_a_senders_timeout_with_busy_loops_beside_the_engine_and_the_index_catches_up_after() {
    for durability in ["process", "fsync"] {
        let dir = TempDir::new(&format!("shared-cpu-{durability}"));
        let (in_port, out_port) = (free_port(), free_port());
        let config = production(&dir, in_port, out_port, durability);
        let receiver = Receiver::start(out_port);
        let engine = Engine::start(&config, &dir.join("data"), &[]);
        let busy = BusyLoops::start(2);
        // 16 senders, half of them pipelining 20 frames per write: more records than the
        // warehouse could index meanwhile at the lowest priority beside two busy loops.
        let senders: Vec<_> = (0..16)
            .map(|c| std::thread::spawn(move || send(in_port, c, 500, if c % 2 == 0 { 1 } else { 20 })))
            .collect();
        let mut acked = HashSet::new();
        for s in senders {
            acked.extend(s.join().expect("sender"));
        }
        assert_eq!(acked.len(), 16 * 500);
        wait_for(Duration::from_secs(120), "every ACKed message at the receiver", || {
            (receiver.count() >= acked.len()).then_some(())
        });
        let delivered: HashSet<String> = receiver.control_ids().into_iter().collect();
        assert!(acked.is_subset(&delivered), "{durability}: every ACKed message is delivered");
        // How far the warehouse trails is shown, and it catches up behind the ACKs.
        let journal = engine.get("/api/journal");
        assert!(journal["index_lag"]["written_lsn"].as_u64().unwrap_or(0) > 0, "{journal}");
        drop(busy);
        wait_for(Duration::from_secs(120), "the warehouse to catch up", || {
            (engine.get("/api/journal")["index_lag_records"] == 0).then_some(())
        });
        let found = engine.get("/api/messages?control_id=C15-499&item=Out");
        assert_eq!(found["count"], 1, "the last message's last hop is searchable: {found}");
        assert_eq!(found["complete"], true, "{found}");
        let metrics = hie_tests::api::request(&engine.api, "GET", "/metrics", None).expect("metrics").1;
        assert!(metrics.contains("hie_journal_index_lag_records 0"), "{metrics}");
    }
}

#[test]
fn acks_and_deliveries_never_wait_for_the_warehouse_while_another_process_holds_its_write_lock() {
    let dir = TempDir::new("warehouse-locked");
    let (in_port, out_port) = (free_port(), free_port());
    let config = production(&dir, in_port, out_port, "fsync");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    // A backup or reporting tool takes the warehouse's write lock and keeps it.
    let db = rusqlite::Connection::open(dir.join("data").join("journal.db")).expect("open journal.db");
    wait_for(Duration::from_secs(30), "the warehouse's write lock", || db.execute_batch("BEGIN EXCLUSIVE").ok());
    // About 26 MiB of records: more than the 16 MiB the indexer's queue once held before
    // the ACK path waited for it.
    let note = "x".repeat(1500);
    let senders: Vec<_> = (0..16)
        .map(|c| {
            let note = note.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect_retry(in_port);
                client.stream.set_read_timeout(Some(SENDER_TIMEOUT)).expect("read timeout");
                for i in 0..400 {
                    let id = format!("L{c}-{i}");
                    let ack = client
                        .send(&hl7::with_note(hl7::adt(&id, &format!("MRN{c}")), &note))
                        .unwrap_or_else(|e| panic!("no ACK for {id} within {SENDER_TIMEOUT:?}: {e}"));
                    assert!(hl7::accepted(&ack), "{id}: {}", String::from_utf8_lossy(&ack));
                }
            })
        })
        .collect();
    for s in senders {
        s.join().expect("sender");
    }
    // Delivered too, while the warehouse is still locked: bodies come from the log.
    receiver.wait_for_count(16 * 400, Duration::from_secs(120));
    let lag = engine.get("/api/journal");
    assert!(lag["index_lag_records"].as_u64().unwrap_or(0) >= 3 * 16 * 400, "the warehouse trails every hop: {lag}");
    let search = engine.get("/api/messages?control_id=L0-0");
    assert_eq!(search["complete"], false, "a search says it is not complete: {search}");
    db.execute_batch("ROLLBACK").expect("release the lock");
    drop(db);
    wait_for(Duration::from_secs(120), "the warehouse to catch up", || {
        (engine.get("/api/journal")["index_lag_records"] == 0).then_some(())
    });
    let found = engine.get("/api/messages?control_id=L15-399&item=Out&status=Completed");
    assert_eq!(found["count"], 1, "{found}");
}
