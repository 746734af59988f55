//! Issue 6: hot reload of packs and productions on a live engine, with nothing lost.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, finished_files, free_port, hl7, packs, wait_for};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// Deploys `dir/libhie_pack_probe.so` into `deploy` the way ops should: a temporary
/// name, then a rename.
fn deploy(from: &Path, deploy: &Path) {
    packs::copy_atomically(&from.join("libhie_pack_probe.so"), &deploy.join("libhie_pack_probe.so"));
}

fn probe_version(name: &str, env: &[(&str, &str)]) -> PathBuf {
    let mut all = vec![("HIE_PROBE_VERSION", name)];
    all.extend_from_slice(env);
    packs::build("probe", &format!("probe-{name}"), &all)
}

fn production(dir: &TempDir, in_port: u16, out_port: u16, probe: &str) -> PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Reload
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Probe}}
  - id: Probe
    class: HIE.Test.Probe
{probe}
    host_settings: {{TargetConfigNames: Out}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
"#
        ),
    )
    .unwrap();
    config
}

/// Senders on fixed connections; each records (control id, ack time) and whether its
/// connection ever failed.
struct Load {
    running: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, Instant)>>>,
    dropped: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, senders: usize) -> Load {
        let running = Arc::new(AtomicBool::new(true));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let dropped = Arc::new(AtomicBool::new(false));
        let threads = (0..senders)
            .map(|s| {
                let (running, acked, dropped) = (running.clone(), acked.clone(), dropped.clone());
                std::thread::spawn(move || {
                    let mut c = Client::connect_retry(port);
                    let mut n = 0;
                    while running.load(Ordering::SeqCst) {
                        let id = format!("L{s}-{n}");
                        n += 1;
                        match c.send(&hl7::adt(&id, &format!("M{s}"))) {
                            Ok(ack) if hl7::accepted(&ack) => acked.lock().unwrap().push((id, Instant::now())),
                            _ => {
                                dropped.store(true, Ordering::SeqCst);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        Load { running, acked, dropped, threads }
    }

    fn stop(self) -> (Vec<(String, Instant)>, bool) {
        self.running.store(false, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        (acked, self.dropped.load(Ordering::SeqCst))
    }
}

fn swap_under_load(mode: &str) {
    let v1 = probe_version("v1", &[]);
    let v2 = probe_version("v2", &[]);
    let dir = TempDir::new(&format!("swap-{mode}"));
    let deploy_dir = dir.join("packs");
    std::fs::create_dir_all(&deploy_dir).unwrap();
    deploy(&v1, &deploy_dir);
    let (in_port, out_port) = (free_port(), free_port());
    let probe = if mode == "multi_process" {
        "    execution_mode: multi_process\n    concurrency: 2"
    } else {
        "    execution_mode: async"
    };
    let config = production(&dir, in_port, out_port, probe);
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), std::slice::from_ref(&deploy_dir));
    let pid = engine.pid();
    let worker_pids = || -> Vec<u64> {
        engine.item("Probe")["workers"].as_array().unwrap().iter().map(|w| w["pid"].as_u64().unwrap()).collect()
    };
    // Workers come up on their own after the item starts.
    wait_for(T, "every worker up", || worker_pids().iter().all(|p| *p != 0).then_some(()));
    let pids_before = worker_pids();
    assert_eq!(engine.item("Probe")["pack_version"], "v1");
    let generation_before = engine.item("Probe")["pack_generation"].as_u64().unwrap();

    let load = Load::start(in_port, 4);
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    deploy(&v2, &deploy_dir);
    wait_for(T, "the item to run v2", || (engine.item("Probe")["pack_version"] == "v2").then_some(()));
    let swapped_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let (acked, dropped) = load.stop();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(!dropped, "no sender connection dropped or was refused during the swap");
    let rate = acked.len() as f64 / elapsed;
    eprintln!("{mode}: {} messages in {elapsed:.1} s = {rate:.0} msg/s", acked.len());
    assert!(rate >= 500.0, "the swap must happen under at least 500 msg/s (got {rate:.0})");

    receiver.wait_for_count(acked.len(), T);
    let msgs = receiver.messages();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut order = Vec::new();
    for m in &msgs {
        let id = hl7::control_id(m);
        let version = hl7::value(m, "ZPR-1");
        assert!(seen.insert(id.clone(), version.clone()).is_none(), "{id} delivered twice");
        order.push(version);
    }
    assert_eq!(seen.len(), acked.len(), "every ACKed message delivered exactly once");
    for (id, _) in &acked {
        assert!(seen.contains_key(id), "{id} lost");
    }
    assert!(order.iter().any(|v| v == "v1") && order.iter().any(|v| v == "v2"), "both versions served");
    // Everything taken in after the swap finished ran on v2.
    for (id, at) in &acked {
        if *at > swapped_at + Duration::from_millis(300) {
            assert_eq!(seen[id], "v2", "{id} acked after the swap but processed by v1");
        }
    }
    if mode == "async" {
        let first_v2 = order.iter().position(|v| v == "v2").unwrap();
        assert!(order[first_v2..].iter().all(|v| v == "v2"), "a single instance switches once, in order");
    } else {
        let pids_after = worker_pids();
        assert!(
            pids_before.iter().all(|p| !pids_after.contains(p)),
            "rolling restart replaced every worker: {pids_before:?} → {pids_after:?}"
        );
        let restarts: u64 =
            engine.item("Probe")["workers"].as_array().unwrap().iter().map(|w| w["restarts"].as_u64().unwrap()).sum();
        assert_eq!(restarts, 0, "a planned roll is not counted as crashes");
    }
    assert_eq!(engine.pid(), pid, "the engine never restarted");
    let item = engine.item("Probe");
    assert!(item["pack_generation"].as_u64().unwrap() > generation_before);
    assert_eq!(item["pack_sha256"].as_str().unwrap().len(), 64);
    let metrics = hie_tests::api::request(&engine.api, "GET", "/metrics", None).unwrap().1;
    assert!(metrics.contains("hie_reloads_total{kind=\"pack\",outcome=\"applied\"} 1"), "{metrics}");
    let (code, out, _) = run_hie(&["plugins", "--api", &engine.api]);
    assert_eq!(code, 0);
    assert!(out.contains("hie-pack-probe v2") && out.contains("staged"), "{out}");
}

#[test]
fn a_pack_swapped_under_load_changes_behaviour_with_nothing_lost_or_duplicated() {
    swap_under_load("async");
}

#[test]
fn a_multi_process_item_rolls_its_workers_onto_the_new_pack_under_load() {
    swap_under_load("multi_process");
}

#[test]
fn broken_packs_are_rejected_and_the_running_version_keeps_serving() {
    let v1 = probe_version("v1", &[]);
    let failing = probe_version("v3-fails", &[("HIE_PROBE_FAIL_INIT", "1")]);
    let panicking = probe_version("v4-panics", &[("HIE_PROBE_FAIL_INIT", "panic")]);
    let mismatched = packs::mismatched();
    let dir = TempDir::new("broken");
    let deploy_dir = dir.join("packs");
    std::fs::create_dir_all(&deploy_dir).unwrap();
    deploy(&v1, &deploy_dir);
    let (in_port, out_port) = (free_port(), free_port());
    let config = production(&dir, in_port, out_port, "    execution_mode: async");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), std::slice::from_ref(&deploy_dir));
    let mut client = Client::connect_retry(in_port);
    let cases: [(&str, PathBuf, &str); 3] = [
        ("mismatched interface", mismatched.join("libhie_pack_mismatched.so"), "incompatible pack"),
        ("on_init fails", failing.join("libhie_pack_probe.so"), "refuses to initialise"),
        ("on_init panics", panicking.join("libhie_pack_probe.so"), "panic"),
    ];
    for (n, (what, file, reason)) in cases.iter().enumerate() {
        packs::copy_atomically(file, &deploy_dir.join("libhie_pack_probe.so"));
        let event = wait_for(T, &format!("the {what} pack rejected"), || {
            let p = engine.get("/api/plugins");
            p["recent_reloads"].as_array().and_then(|r| r.get(n).cloned())
        });
        assert_eq!(event["outcome"], "rejected", "{what}: {event}");
        assert!(event["detail"].as_str().unwrap().contains(reason), "{what}: {event}");
        let id = format!("B{n}");
        assert_eq!(hl7::ack_code(&client.send(&hl7::adt(&id, "M")).unwrap()), "CA");
        receiver.wait_for_count(n + 1, T);
        assert_eq!(hl7::value(&receiver.messages()[n], "ZPR-1"), "v1", "{what}: v1 still serving");
    }
    assert_eq!(engine.item("Probe")["pack_version"], "v1");
    let metrics = hie_tests::api::request(&engine.api, "GET", "/metrics", None).unwrap().1;
    assert!(metrics.contains("hie_reloads_total{kind=\"pack\",outcome=\"rejected\"} 3"), "{metrics}");
}

fn config_v1(in_port: u16, in2_port: u16, out_port: u16) -> String {
    format!(
        r#"name: Edits
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
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
  - id: In2
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in2_port}}}
    host_settings: {{TargetConfigNames: Gone}}
  - id: Gone
    class: HIE.Process.Passthrough
    host_settings: {{TargetConfigNames: Out}}
"#
    )
}

fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_config_edit_touches_only_what_it_changes_bad_edits_are_rejected_and_rollback_restores() {
    let dir = TempDir::new("edits");
    let (in_port, in2_port, out_port) = (free_port(), free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(&config, config_v1(in_port, in2_port, out_port)).unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let started = |name: &str| engine.item(name)["started_us"].as_u64().unwrap();
    let (in_started, out_started, route_started) = (started("In"), started("Out"), started("Route"));

    // Messages waiting for Gone (paused), and a live connection to In.
    engine.post("/api/items/Gone/pause", None);
    let mut c2 = Client::connect_retry(in2_port);
    for i in 0..3 {
        c2.send(&hl7::adt(&format!("G{i}"), "M")).unwrap();
    }
    engine.wait_until(T, "3 waiting at Gone", |_| engine.item("Gone")["queue_depth"] == 3);
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("BEFORE", "M")).unwrap()), "CA");

    // Edit: add New, change Route (now also to New), remove Gone (and In2 that fed it).
    let edited = config_v1(in_port, in2_port, out_port)
        .replace(
            "    host_settings: {TargetConfigNames: Out}\n  - id: Out",
            "    host_settings: {TargetConfigNames: \"Out,New\"}\n  - id: Out",
        )
        .split("  - id: In2")
        .next()
        .unwrap()
        .to_string()
        + "  - id: New\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {FilePath: "
        + dir.join("new").to_str().unwrap()
        + "}\n";
    write_atomically(&config, &edited);
    let status = wait_for(T, "the edit applied", || {
        let p = engine.production();
        (p["config"]["version"] == 2).then_some(p)
    });
    let report = &status["config"]["last_reload"]["report"];
    assert_eq!(report["added"], serde_json::json!(["New"]), "{report}");
    assert_eq!(report["changed"], serde_json::json!(["Route"]), "{report}");
    let mut removed: Vec<String> =
        report["removed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    removed.sort();
    assert_eq!(removed, vec!["Gone", "In2"], "{report}");
    assert_eq!(started("In"), in_started, "unchanged service untouched");
    assert_eq!(started("Out"), out_started, "unchanged operation untouched");
    assert_ne!(started("Route"), route_started, "changed item restarted");
    let suspended = engine.get("/api/messages?item=Gone&status=Suspended");
    assert_eq!(suspended["count"], 3, "the removed item's messages are kept, Suspended: {suspended}");

    // The old connection to the unchanged service still works, and routing uses the edit.
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("AFTER", "M")).unwrap()), "CA");
    wait_for(T, "a file from New", || (finished_files(&dir.join("new"))?.len() == 1).then_some(()));

    // An invalid edit is rejected with file/line/item/setting and traffic continues.
    write_atomically(&config, &edited.replace("\"Out,New\"", "\"Out,Nowhere\""));
    let errors = wait_for(T, "the bad edit rejected", || {
        let p = engine.production();
        let e = p["config"]["errors"].as_array()?.clone();
        (!e.is_empty()).then_some(e)
    });
    let line = errors.iter().filter_map(|e| e.as_str()).find(|e| e.contains("Nowhere")).unwrap().to_string();
    assert!(
        line.contains("production.yaml:")
            && line.contains("item 'Route'")
            && line.contains("setting 'TargetConfigNames'"),
        "{line}"
    );
    assert_eq!(engine.production()["config"]["version"], 2);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("STILL", "M")).unwrap()), "CA");
    receiver.wait_for_count(3, T);

    // Roll back to version 1: Gone and In2 return, New goes.
    let (code, ev) = engine.post("/api/config/rollback/1", None);
    assert_eq!(code, 200, "{ev}");
    assert_eq!(ev["outcome"], "applied");
    let versions = engine.get("/api/config/versions");
    assert_eq!(versions["current"], 3, "{versions}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        config_v1(in_port, in2_port, out_port),
        "the file says what runs"
    );
    let names: Vec<String> = engine.production()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"Gone".to_string()) && !names.contains(&"New".to_string()), "{names:?}");
    // ... and the suspended messages can flow again.
    let (code, body) = engine.post("/api/items/Gone/resend-suspended", None);
    assert_eq!((code, body["resent"].as_u64()), (200, Some(3)));
    receiver.wait_for_count(6, T);

    // `hie reload` and SIGHUP reach the same path; an unchanged file is a no-op.
    let (code, out, _) = run_hie(&["reload", "--json", "--api", &engine.api]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"outcome\":\"applied\"") || out.contains("\"outcome\":\"unchanged\""), "{out}");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(engine.pid() as i32, libc::SIGHUP) };
    wait_for(T, "the SIGHUP reload", || engine.log_text().contains("SIGHUP").then_some(()));
}

#[test]
fn a_reloaded_production_that_names_a_new_plugin_directory_gets_its_packs_without_a_restart() {
    let dir = TempDir::new("newdir");
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    let item = |id: &str, class: &str, settings: &str| format!("  - id: {id}\n    class: {class}\n{settings}");
    let service = |target: &str| {
        item(
            "In",
            "EnsLib.HL7.Service.TCPService",
            &format!("    adapter_settings: {{Port: {in_port}}}\n    host_settings: {{TargetConfigNames: {target}}}\n"),
        )
    };
    let out = item(
        "Out",
        "EnsLib.HL7.Operation.TCPOperation",
        &format!("    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}\n"),
    );
    std::fs::write(&config, format!("name: NewDir\nitems:\n{}{out}", service("Out"))).unwrap();
    let receiver = Receiver::start(out_port);
    // Started without the probe pack's directory: HIE.Test.Probe is unknown.
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("BEFORE", "M")).unwrap()), "CA");

    // The edit names the probe's directory and routes through a probe item.
    let probe_dir = packs::probe();
    let probe = item("Probe", "HIE.Test.Probe", "    host_settings: {TargetConfigNames: Out}\n");
    let edited =
        format!("name: NewDir\nplugin_dirs: [{}]\nitems:\n{}{probe}{out}", probe_dir.display(), service("Probe"));
    std::fs::write(&config, edited).unwrap();
    let (code, body) = engine.post("/api/reload", None);
    assert_eq!(code, 200, "the new directory's class resolves: {body}");
    // In changed (its target), so it restarted: a new connection.
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("AFTER", "M")).unwrap()), "CA");
    receiver.wait_for_count(2, T);
    let after = String::from_utf8(receiver.messages()[1].clone()).unwrap();
    assert!(after.contains("AFTER") && after.contains("ZPR|"), "went through the probe: {after}");
}
