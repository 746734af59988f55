//! Issue 4: execution modes, worker processes, supervision, per-key order, hooks.

use hie_tests::engine::Engine;
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, free_port, hl7, packs, wait_for};
use std::collections::HashMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// In (MLLP) → Probe (in `mode`) → Out (MLLP to a receiver).
fn production(dir: &TempDir, in_port: u16, out_port: u16, probe: &str) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Modes
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Probe}}
  - id: Probe
    class: HIE.Test.Probe
{probe}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    concurrency: 1
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
    host_settings: {{RetryInterval: 1}}
"#
        ),
    )
    .unwrap();
    config
}

fn worker_pids(engine: &Engine, item: &str) -> Vec<u64> {
    engine.item(item)["workers"].as_array().unwrap().iter().map(|w| w["pid"].as_u64().unwrap()).collect()
}

#[test]
fn a_multi_process_item_runs_four_workers_and_survives_kill_9_of_one_under_load() {
    let dir = TempDir::new("mp-kill");
    let (in_port, out_port) = (free_port(), free_port());
    let probe = "    execution_mode: multi_process\n    concurrency: 4\n    host_settings: {TargetConfigNames: Out}";
    let config = production(&dir, in_port, out_port, probe);
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    // Workers come up on their own after the item starts: wait for all four pids.
    engine.wait_until(T, "four workers with pids", |_| {
        let pids = worker_pids(&engine, "Probe");
        pids.len() == 4 && pids.iter().all(|p| *p != 0)
    });
    let pids = worker_pids(&engine, "Probe");
    for pid in &pids {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(
            cmdline.contains("worker") && cmdline.contains("--item Probe") && cmdline.contains("--slot"),
            "{cmdline}"
        );
    }
    assert!(engine.item("Probe")["workers"][0]["rss_bytes"].as_u64().unwrap() > 0);

    let sender = std::thread::spawn(move || {
        let mut c = Client::connect_retry(in_port);
        for i in 0..400 {
            let ack = c.send(&hl7::adt(&format!("K{i}"), &format!("M{}", i % 7))).unwrap();
            assert!(hl7::accepted(&ack), "K{i}: {}", String::from_utf8_lossy(&ack));
        }
    });
    receiver.wait_for_count(50, T);
    let victim = pids[1];
    // SAFETY: killing a worker process of our own engine.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    sender.join().unwrap();
    receiver.wait_for_count(400, T);
    let got: std::collections::HashSet<String> = receiver.control_ids().into_iter().collect();
    for i in 0..400 {
        assert!(got.contains(&format!("K{i}")), "K{i} lost");
    }
    engine.wait_until(T, "slot 1 back with a new pid", |_| {
        let w = &engine.item("Probe")["workers"][1];
        w["state"] == "running" && w["restarts"] == 1 && w["pid"].as_u64() != Some(victim)
    });
    assert!(engine.log_text().contains("worker died; restarting"));

    // Workers die with the engine, however it ends.
    let pids = worker_pids(&engine, "Probe");
    let mut engine = engine;
    engine.kill9();
    wait_for(T, "the workers to exit with the engine", || {
        pids.iter()
            .all(|p| {
                !std::path::Path::new(&format!("/proc/{p}/cmdline")).exists()
                    || std::fs::read(format!("/proc/{p}/cmdline")).map(|c| c.is_empty()).unwrap_or(true)
            })
            .then_some(())
    });
}

#[test]
fn a_message_that_segfaults_its_worker_is_quarantined_and_the_rest_flow() {
    let dir = TempDir::new("segv");
    let (in_port, out_port) = (free_port(), free_port());
    let probe = "    execution_mode: multi_process\n    concurrency: 2\n    host_settings: {TargetConfigNames: Out, MaxWorkerCrashes: 3}";
    let config = production(&dir, in_port, out_port, probe);
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let engine_pid = engine.pid();
    let mut c = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&c.send(&hl7::with_note(hl7::adt("CRASH", "X"), "SEGV")).unwrap()), "CA");
    for i in 0..20 {
        assert_eq!(hl7::ack_code(&c.send(&hl7::adt(&format!("N{i}"), "M")).unwrap()), "CA");
    }
    receiver.wait_for_count(20, T);
    let quarantined = wait_for(T, "the crashing message quarantined", || {
        let r = engine.get("/api/messages?control_id=CRASH&item=Probe&status=Suspended");
        (r["count"] == 1).then(|| r["messages"][0].clone())
    });
    assert!(quarantined["note"].as_str().unwrap().contains("quarantined after 3 worker crashes"), "{quarantined}");
    assert!(!receiver.control_ids().contains(&"CRASH".to_string()));
    assert_eq!(engine.pid(), engine_pid, "the engine itself never restarted");
    // The supervisor counts a restart once it has reaped the dead worker, a moment after
    // the crash is reported.
    let restarts = |e: &Engine| -> u64 {
        e.item("Probe")["workers"].as_array().unwrap().iter().map(|w| w["restarts"].as_u64().unwrap()).sum()
    };
    engine.wait_until(T, "three restarts", |_| restarts(&engine) >= 3);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(restarts(&engine), 3, "one restart per crash");
    let dead = engine.get("/api/dead-letters");
    assert!(dead["count"].as_u64().unwrap() >= 1, "{dead}");
}

#[test]
fn messages_with_the_same_key_arrive_in_order_through_four_processes() {
    let dir = TempDir::new("order");
    let (in_port, out_port) = (free_port(), free_port());
    let probe = "    execution_mode: multi_process\n    concurrency: 4\n    ordering_key: PID-3.1\n    host_settings: {TargetConfigNames: Out}";
    let config = production(&dir, in_port, out_port, probe);
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let per_key = 1000;
    let senders: Vec<_> = (0..8)
        .map(|k| {
            std::thread::spawn(move || {
                let mut c = Client::connect_retry(in_port);
                for i in 0..per_key {
                    c.send(&hl7::adt(&format!("K{k}-{i}"), &format!("KEY{k}"))).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    receiver.wait_for_count(8 * per_key, Duration::from_secs(180));
    let mut last: HashMap<String, i64> = HashMap::new();
    let mut pids = std::collections::HashSet::new();
    for m in receiver.messages() {
        let id = hl7::control_id(&m);
        let (key, n) = id.split_once('-').unwrap();
        let n: i64 = n.parse().unwrap();
        let prev = last.insert(key.to_string(), n).unwrap_or(-1);
        assert!(n > prev, "key {key}: {n} arrived after {prev}");
        pids.insert(hl7::value(&m, "ZPR-2"));
    }
    assert_eq!(last.len(), 8);
    assert!(pids.len() > 1, "work was spread over several processes: {pids:?}");
    drop(engine);
}

#[test]
fn panics_in_thread_pool_and_single_process_items_become_errors() {
    for mode in ["thread_pool", "single_process"] {
        let dir = TempDir::new(&format!("panic-{mode}"));
        let (in_port, out_port) = (free_port(), free_port());
        let probe =
            format!("    execution_mode: {mode}\n    concurrency: 2\n    host_settings: {{TargetConfigNames: Out}}");
        let config = production(&dir, in_port, out_port, &probe);
        let receiver = Receiver::start(out_port);
        let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
        let mut c = Client::connect_retry(in_port);
        c.send(&hl7::with_note(hl7::adt("P", "M"), "PANIC")).unwrap();
        c.send(&hl7::adt("AFTER", "M")).unwrap();
        receiver.wait_for_count(1, T);
        assert_eq!(receiver.control_ids(), vec!["AFTER"], "{mode}");
        engine.wait_until(T, "the error counted", |_| engine.item("Probe")["errors"] == 1);
        let err = engine.get("/api/messages?control_id=P&item=Probe&status=Error");
        assert!(err["messages"][0]["note"].as_str().unwrap().contains("panic"), "{mode}: {err}");
        assert_eq!(engine.item("Probe")["execution_mode"], mode);
    }
}

#[test]
fn hooks_run_in_the_documented_order_in_every_mode() {
    for mode in ["async", "thread_pool", "single_process", "multi_process"] {
        let dir = TempDir::new(&format!("hooks-{mode}"));
        let (in_port, out_port) = (free_port(), free_port());
        let probe = format!("    execution_mode: {mode}\n    host_settings: {{TargetConfigNames: Out}}");
        let config = production(&dir, in_port, out_port, &probe);
        let receiver = Receiver::start(out_port);
        let mut engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
        let mut c = Client::connect_retry(in_port);
        c.send(&hl7::adt("H1", "M")).unwrap();
        c.send(&hl7::with_note(hl7::adt("H2", "M"), "HOOKFAIL")).unwrap();
        c.send(&hl7::adt("H3", "M")).unwrap();
        receiver.wait_for_count(2, T);
        let msgs = receiver.messages();
        // The probe appends the hooks it saw since its last message.
        assert_eq!(hl7::value(&msgs[0], "ZPR-3"), "on_init,on_start,on_before_process,process", "{mode}");
        assert_eq!(
            hl7::value(&msgs[1], "ZPR-3"),
            "on_after_process,on_before_process,on_process_error,on_before_process,process",
            "{mode}: a failing hook goes to on_process_error and process is skipped"
        );
        engine.wait_until(T, "hook counters", |_| engine.item("Probe")["counters"]["hook_on_process_error"] == 1);
        let counters = engine.item("Probe")["counters"].clone();
        assert_eq!(counters["hook_on_init"], 1, "{mode}: {counters}");
        assert_eq!(counters["hook_process"], 2, "{mode}: {counters}");
        assert_eq!(counters["hook_on_after_process"], 2, "{mode}: {counters}");
        assert!(engine.terminate().success());
        let log = engine.log_text();
        assert!(log.contains("probe on_stop") && log.contains("probe on_teardown"), "{mode}: stop hooks ran:\n{log}");
        let stop = log.find("probe on_stop").unwrap();
        let teardown = log.find("probe on_teardown").unwrap();
        assert!(stop < teardown, "{mode}: on_stop before on_teardown");
    }
}

#[test]
fn a_worker_over_its_memory_limit_or_hung_is_restarted_and_the_message_quarantined() {
    let dir = TempDir::new("limits");
    let (in_port, out_port) = (free_port(), free_port());
    let probe = "    execution_mode: multi_process\n    concurrency: 1\n    host_settings: {TargetConfigNames: Out, MemoryLimitMB: 100, HangTimeout: 2, MaxWorkerCrashes: 2}";
    let config = production(&dir, in_port, out_port, probe);
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let mut c = Client::connect_retry(in_port);
    c.send(&hl7::with_note(hl7::adt("FAT", "A"), "ALLOC300")).unwrap();
    c.send(&hl7::with_note(hl7::adt("HUNG", "B"), "SLEEP60000")).unwrap();
    c.send(&hl7::adt("FINE", "C")).unwrap();
    receiver.wait_for_count(1, Duration::from_secs(60));
    assert_eq!(receiver.control_ids(), vec!["FINE"]);
    for (id, why) in [("FAT", "MemoryLimitMB"), ("HUNG", "HangTimeout")] {
        let r = engine.get(&format!("/api/messages?control_id={id}&item=Probe&status=Suspended"));
        assert_eq!(r["count"], 1, "{id}: {r}");
        assert!(r["messages"][0]["note"].as_str().unwrap().contains(why), "{id}: {r}");
    }
}

#[test]
fn a_hung_call_on_an_item_thread_is_abandoned_and_its_thread_replaced() {
    let dir = TempDir::new("thread-hang");
    let (in_port, out_port) = (free_port(), free_port());
    let probe = "    execution_mode: thread_pool\n    concurrency: 1\n    host_settings: {TargetConfigNames: Out, HangTimeout: 1, MaxWorkerCrashes: 1}";
    let config = production(&dir, in_port, out_port, probe);
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[packs::probe()]);
    let mut c = Client::connect_retry(in_port);
    c.send(&hl7::with_note(hl7::adt("STUCK", "A"), "SLEEP30000")).unwrap();
    c.send(&hl7::adt("NEXT", "B")).unwrap();
    receiver.wait_for_count(1, T);
    assert_eq!(receiver.control_ids(), vec!["NEXT"], "the item keeps working on a fresh thread");
    let r = engine.get("/api/messages?control_id=STUCK&item=Probe&status=Suspended");
    assert!(r["messages"][0]["note"].as_str().unwrap().contains("HangTimeout"), "{r}");
}
