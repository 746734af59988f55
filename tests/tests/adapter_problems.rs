//! Issue 16: a pack's inbound adapter whose source is away at start. The production runs
//! on, the item shows the adapter's problem and retries, and once the source is there the
//! rows flow and the problem is gone: in the engine and in a worker process alike.

use hie_tests::engine::Engine;
use hie_tests::mllp::Receiver;
use hie_tests::pg::postgres;
use hie_tests::{TempDir, free_port, hl7, wait_for};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// `dsn` (key=value form) with its port replaced by `port`; returns (new dsn, old port).
fn with_port(dsn: &str, port: u16) -> (String, u16) {
    let mut old = 5432;
    let mut parts: Vec<String> = dsn
        .split_whitespace()
        .filter(|kv| {
            if let Some(p) = kv.strip_prefix("port=") {
                old = p.parse().unwrap_or(5432);
                false
            } else {
                true
            }
        })
        .map(str::to_string)
        .collect();
    parts.push(format!("port={port}"));
    (parts.join(" "), old)
}

/// From now on, connections to `port` reach PostgreSQL on `to` (a TCP forwarder).
fn forward(port: u16, to: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the forwarder's port");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else { continue };
            for (mut from, mut to) in
                [(client.try_clone().expect("clone"), server.try_clone().expect("clone")), (server, client)]
            {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
}

fn source_away_at_start(mode: &str) {
    let Some((dsn, mut db)) = postgres(&format!("source_away_at_start_{mode}")) else { return };
    let src = format!("hie_away_{mode}_{}", std::process::id());
    db.batch_execute(&format!(
        "DROP TABLE IF EXISTS {src}; CREATE TABLE {src} (id serial PRIMARY KEY, msg text NOT NULL)"
    ))
    .expect("table");
    for i in 0..5 {
        let msg = String::from_utf8(hl7::adt(&format!("AWAY{i}"), "MRN")).expect("utf8");
        db.execute(&format!("INSERT INTO {src} (msg) VALUES ($1)"), &[&msg]).expect("insert");
    }
    let away = free_port();
    let (away_dsn, real_port) = with_port(&dsn, away);
    let rx = Receiver::start(free_port());
    let dir = TempDir::new(&format!("sql-away-{mode}"));
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Away
items:
  - id: SQL_In
    class: EnsLib.SQL.Service.GenericService
    execution_mode: {mode}
    adapter_settings:
      DSN: "{away_dsn} connect_timeout=2"
      Query: "SELECT id, msg FROM {src} WHERE id > ? ORDER BY id"
      Parameters: "%LastKey"
      KeyFieldName: id
      CallInterval: 0.2
    host_settings: {{TargetConfigNames: Out, MessageColumn: msg}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {}}}
    host_settings: {{RetryInterval: 1}}
"#,
            rx.port
        ),
    )
    .expect("production");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    // Running, with the adapter's problem shown on the item.
    assert_eq!(engine.production()["state"], "Running", "the production runs on without its database");
    wait_for(T, "the adapter's problem on the item", || {
        let note = engine.item("SQL_In")["state_note"].as_str().unwrap_or("").to_string();
        note.starts_with("adapter:").then_some(())
    });
    assert_eq!(rx.count(), 0);
    // The database comes (back): the rows flow and the problem is gone.
    forward(away, real_port);
    rx.wait_for_count(5, T);
    wait_for(T, "the problem cleared", || {
        let note = engine.item("SQL_In")["state_note"].as_str().unwrap_or("").to_string();
        (!note.contains("adapter:")).then_some(())
    });
    let mut ids = rx.control_ids();
    ids.sort();
    assert_eq!(ids, ["AWAY0", "AWAY1", "AWAY2", "AWAY3", "AWAY4"]);
    let _ = db.batch_execute(&format!("DROP TABLE IF EXISTS {src}"));
}

#[test]
fn a_database_away_at_start_shows_on_the_item_is_retried_and_clears_when_it_comes_in_process() {
    source_away_at_start("thread_pool");
}

#[test]
fn a_database_away_at_start_shows_on_the_item_is_retried_and_clears_when_it_comes_in_a_worker() {
    source_away_at_start("multi_process");
}

/// IRIS `AlertGracePeriod`: with `AlertOnError`, a service whose inbound adapter cannot
/// reach its source alerts once the problem has lasted the grace period; one with a long
/// grace period has not alerted while the other already has. No database is needed: the
/// DSNs name a port nobody listens on.
#[test]
fn a_source_away_alerts_after_alert_grace_period_and_not_before() {
    let dir = TempDir::new("alert-grace");
    let config = dir.join("production.yaml");
    let item = |name: &str, grace: u32| {
        format!(
            "  - id: {name}\n    class: EnsLib.SQL.Service.GenericService\n    adapter_settings:\n      DSN: \"host=127.0.0.1 port={} user=hie dbname=none connect_timeout=2\"\n      Query: \"SELECT 1\"\n      CallInterval: 0.2\n    host_settings: {{AlertOnError: 1, AlertGracePeriod: {grace}}}\n",
            free_port()
        )
    };
    std::fs::write(&config, format!("name: Grace\nitems:\n{}{}", item("Quick", 0), item("Patient", 3600))).unwrap();
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let connection_alerts = |e: &Engine| -> Vec<String> {
        e.get("/api/alerts")["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["kind"] == "connection")
            .filter_map(|a| a["item"].as_str().map(str::to_string))
            .collect()
    };
    wait_for(T, "Quick's connection alert", || connection_alerts(&engine).contains(&"Quick".to_string()).then_some(()));
    // Both have the problem; only the one past its grace period alerted.
    wait_for(T, "Patient's problem shown", || {
        let note = engine.item("Patient")["state_note"].as_str().unwrap_or("").to_string();
        note.starts_with("adapter:").then_some(())
    });
    let alerted = connection_alerts(&engine);
    assert_eq!(alerted, ["Quick"], "one alert, from Quick only: {alerted:?}");
    let alerts = engine.get("/api/alerts");
    let quick = alerts["alerts"].as_array().and_then(|a| a.iter().find(|x| x["kind"] == "connection").cloned());
    let text = quick.map(|a| a["text"].as_str().unwrap_or("").to_string()).unwrap_or_default();
    assert!(text.contains("cannot reach its source"), "{alerts}");
}
