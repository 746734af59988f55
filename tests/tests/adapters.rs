//! Issue 16: the adapter port, the adapter registry and typed settings, adapter packs.

use hie_tests::engine::run_hie;
use hie_tests::{TempDir, free_port};

/// Runs `hie validate` on `yaml`; returns the exit code and the printed diagnostics.
fn validate(dir: &TempDir, yaml: &str) -> (i32, String, String) {
    let config = dir.join("production.yaml");
    std::fs::write(&config, yaml).expect("production");
    let (code, out, _) = run_hie(&["validate", config.to_str().expect("path")]);
    (code, out, config.display().to_string())
}

/// Whether `out` has an error at `file:line` naming `item`, `setting` and containing `text`.
fn has_error(out: &str, file: &str, line: u32, item: &str, setting: &str, text: &str) -> bool {
    out.lines().any(|l| {
        l.starts_with(&format!("{file}:{line}: error"))
            && l.contains(&format!("item '{item}'"))
            && l.contains(&format!("setting '{setting}'"))
            && l.contains(text)
    })
}

#[test]
fn a_malformed_adapter_setting_is_an_error_naming_file_line_item_and_setting_never_a_default() {
    let dir = TempDir::new("typed-settings");
    let (code, out, file) = validate(
        &dir,
        &format!(
            r#"name: Typed
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {}, ReadTimeout: soon}}
    host_settings: {{TargetConfigNames: Lookup}}
  - id: Lookup
    class: HIE.Example.DemographicsLookup
    adapter_settings:
      HTTPServer: pds.example
      HTTPPort: abc
  - id: Files
    class: EnsLib.HL7.Service.FileService
    adapter_settings: {{FilePath: in, DeleteFromServer: maybe}}
    host_settings: {{TargetConfigNames: Lookup}}
"#,
            free_port()
        ),
    );
    assert_eq!(code, 2, "{out}");
    assert!(has_error(&out, &file, 11, "Lookup", "HTTPPort", "\"abc\": expected a port"), "{out}");
    assert!(has_error(&out, &file, 5, "In", "ReadTimeout", "\"soon\": expected a number of seconds"), "{out}");
    assert!(has_error(&out, &file, 14, "Files", "DeleteFromServer", "\"maybe\": expected a boolean"), "{out}");
}

#[test]
fn a_required_adapter_setting_that_is_missing_fails_validation_not_the_start() {
    let dir = TempDir::new("required-settings");
    let (code, out, file) = validate(
        &dir,
        r#"name: Required
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    host_settings: {TargetConfigNames: Out}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {Port: 2576}
  - id: Spare
    class: EnsLib.HL7.Service.TCPService
    enabled: false
"#,
    );
    assert_eq!(code, 2, "{out}");
    assert!(has_error(&out, &file, 3, "In", "Port", "adapter setting Port is required"), "{out}");
    assert!(has_error(&out, &file, 6, "Out", "IPAddress", "adapter setting IPAddress is required"), "{out}");
    assert!(!out.contains("item 'Spare'"), "a disabled item needs no port: {out}");
}

#[test]
fn two_items_claiming_one_port_or_one_directory_are_an_error_naming_both() {
    let dir = TempDir::new("claims");
    let port = free_port();
    let (code, out, file) = validate(
        &dir,
        &format!(
            r#"name: Claims
items:
  - id: PAS_In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {port}}}
  - id: PAS_In_Copy
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {port}, LocalInterface: 127.0.0.1}}
  - id: Lab_Files
    class: EnsLib.HL7.Service.FileService
    adapter_settings: {{FilePath: data/in}}
  - id: Lab_Files_2
    class: EnsLib.HL7.Service.FileService
    adapter_settings: {{FilePath: data/./in/}}
"#
        ),
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        has_error(
            &out,
            &file,
            8,
            "PAS_In_Copy",
            "Port",
            &format!("port {port} on 127.0.0.1 is already used by item 'PAS_In'")
        ),
        "{out}"
    );
    assert!(has_error(&out, &file, 14, "Lab_Files_2", "FilePath", "is already used by item 'Lab_Files'"), "{out}");
}

// ---- adapter packs ------------------------------------------------------------------

use hie_tests::engine::Engine;
use hie_tests::mllp::{Client, Receiver};
use hie_tests::pg::postgres;
use hie_tests::{hl7, packs, wait_for};
use std::collections::HashSet;
use std::time::Duration;

/// Fresh tables `<tag>_src (id serial, msg text)` and `<tag>_dst` for one test.
fn tables(db: &mut postgres::Client, tag: &str) -> (String, String) {
    let (src, dst) = (format!("{tag}_src"), format!("{tag}_dst"));
    db.batch_execute(&format!(
        "DROP TABLE IF EXISTS {src}; DROP TABLE IF EXISTS {dst};
         CREATE TABLE {src} (id serial PRIMARY KEY, msg text NOT NULL);
         CREATE TABLE {dst} (id serial PRIMARY KEY, control_id text UNIQUE NOT NULL, mrn text, body text);"
    ))
    .expect("create tables");
    (src, dst)
}

fn insert_rows(db: &mut postgres::Client, src: &str, from: usize, to: usize, prefix: &str) {
    let mut tx = db.transaction().expect("tx");
    for i in from..to {
        let msg = String::from_utf8(hl7::adt(&format!("{prefix}{i}"), &format!("MRN{i}"))).expect("utf8");
        tx.execute(&format!("INSERT INTO {src} (msg) VALUES ($1)"), &[&msg]).expect("insert");
    }
    tx.commit().expect("commit");
}

fn count(db: &mut postgres::Client, table: &str) -> i64 {
    db.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]).expect("count").get(0)
}

/// SQL poll → (SQL insert, MLLP out), with `mode` for the SQL operation.
fn sql_production(dir: &TempDir, dsn: &str, src: &str, dst: &str, out_port: u16, mode: &str) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Sql
items:
  - id: SQL_In
    class: EnsLib.SQL.Service.GenericService
    adapter_settings:
      DSN: "{dsn}"
      Query: "SELECT id, msg FROM {src} WHERE id > ? ORDER BY id"
      Parameters: "%LastKey"
      KeyFieldName: id
      DeleteQuery: "DELETE FROM {src} WHERE id = ?"
      CallInterval: 0.1
    host_settings: {{TargetConfigNames: "SQL_Out,MLLP_Out", MessageColumn: msg}}
  - id: SQL_Out
    class: EnsLib.SQL.Operation.GenericOperation
    execution_mode: {mode}
    concurrency: 2
    adapter_settings: {{DSN: "{dsn}"}}
    host_settings:
      Query: "INSERT INTO {dst} (control_id, mrn, body) VALUES (?, ?, ?) ON CONFLICT (control_id) DO NOTHING"
      Parameters: "MSH:10,HL7.{{PID:PatientIdentifierList(1).ID}},%Body"
      RetryInterval: 1
  - id: MLLP_Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
    host_settings: {{RetryInterval: 1}}
"#
        ),
    )
    .expect("production");
    config
}

#[test]
fn sql_rows_are_polled_and_each_becomes_a_message_inserted_by_sql_and_sent_over_mllp() {
    let Some((dsn, mut db)) = postgres("sql_rows_are_polled") else { return };
    let tag = format!("hie_poll_{}", std::process::id());
    let (src, dst) = tables(&mut db, &tag);
    insert_rows(&mut db, &src, 0, 60, "ROW");
    let dir = TempDir::new("sql-poll");
    let out_port = free_port();
    let receiver = Receiver::start(out_port);
    let config = sql_production(&dir, &dsn, &src, &dst, out_port, "async");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    receiver.wait_for_count(60, Duration::from_secs(60));
    wait_for(Duration::from_secs(60), "60 rows inserted", || (count(&mut db, &dst) == 60).then_some(()));
    let row = db.query_one(&format!("SELECT mrn, body FROM {dst} WHERE control_id = 'ROW7'"), &[]).expect("row");
    assert_eq!(row.get::<_, String>(0), "MRN7", "an IRIS symbolic path (2.4 names) as a parameter");
    assert!(row.get::<_, String>(1).starts_with("MSH|"), "%Body is the message");
    wait_for(Duration::from_secs(30), "the polled rows deleted", || (count(&mut db, &src) == 0).then_some(()));
    // More rows later are taken from the key on.
    insert_rows(&mut db, &src, 60, 70, "ROW");
    receiver.wait_for_count(70, Duration::from_secs(60));
    let plugins = engine.get("/api/plugins");
    let sql = plugins["loaded"].as_array().and_then(|l| l.iter().find(|p| p["name"] == "hie-pack-sql").cloned());
    assert!(sql.is_some_and(|p| p["vendor"] == "HIE project" && p["abi_minor"] == 1), "{plugins}");
    db.batch_execute(&format!("DROP TABLE {src}; DROP TABLE {dst}")).expect("drop");
}

#[test]
fn kill_9_mid_poll_loses_no_row_and_takes_no_committed_row_in_twice() {
    let Some((dsn, mut db)) = postgres("kill_9_mid_poll") else { return };
    let tag = format!("hie_kill_{}", std::process::id());
    let (src, dst) = tables(&mut db, &tag);
    insert_rows(&mut db, &src, 0, 1500, "K");
    let dir = TempDir::new("sql-kill");
    let out_port = free_port();
    let receiver = Receiver::start(out_port);
    let config = sql_production(&dir, &dsn, &src, &dst, out_port, "async");
    let mut engine = Engine::start(&config, &dir.join("data"), &[]);
    wait_for(Duration::from_secs(60), "some rows through", || (receiver.count() >= 200).then_some(()));
    engine.kill9();
    engine.restart();
    let all: HashSet<String> = (0..1500).map(|i| format!("K{i}")).collect();
    wait_for(Duration::from_secs(120), "every row at the receiver", || {
        let got: HashSet<String> = receiver.control_ids().into_iter().collect();
        all.is_subset(&got).then_some(())
    });
    wait_for(Duration::from_secs(60), "every row inserted", || (count(&mut db, &dst) == 1500).then_some(()));
    // Each row was taken in once: its key was committed with its message.
    let intakes = engine.get("/api/messages?item=SQL_In&limit=10000");
    let ids: Vec<String> = intakes["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["control_id"].as_str().unwrap_or("").to_string())
        .collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 1500, "each row taken in exactly once");
    assert_eq!(distinct.len(), 1500);
    db.batch_execute(&format!("DROP TABLE {src}; DROP TABLE {dst}")).expect("drop");
}

#[test]
fn a_multi_process_sql_operation_loses_nothing_when_its_worker_is_killed_under_load() {
    let Some((dsn, mut db)) = postgres("multi_process_sql") else { return };
    let tag = format!("hie_mp_{}", std::process::id());
    let (src, dst) = tables(&mut db, &tag);
    insert_rows(&mut db, &src, 0, 800, "MP");
    let dir = TempDir::new("sql-mp");
    let out_port = free_port();
    let receiver = Receiver::start(out_port);
    let config = sql_production(&dir, &dsn, &src, &dst, out_port, "multi_process");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    wait_for(Duration::from_secs(60), "inserts under way", || (count(&mut db, &dst) >= 100).then_some(()));
    let pid = engine.item("SQL_Out")["workers"][0]["pid"].as_u64().expect("a worker pid");
    // SAFETY: killing a worker process of the engine under test.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_for(Duration::from_secs(120), "every row inserted", || (count(&mut db, &dst) == 800).then_some(()));
    receiver.wait_for_count(800, Duration::from_secs(60));
    let workers = engine.item("SQL_Out")["workers"].clone();
    assert!(workers.as_array().is_some_and(|w| w.iter().all(|w| w["pid"].as_u64() != Some(pid))), "{workers}");
    db.batch_execute(&format!("DROP TABLE {src}; DROP TABLE {dst}")).expect("drop");
}

#[test]
fn a_database_that_refuses_a_statement_fails_the_message_with_its_reason_and_a_lost_database_is_retried() {
    let Some((_, mut db)) = postgres("refused_statement") else { return };
    let tag = format!("hie_refuse_{}", std::process::id());
    let (_, dst) = tables(&mut db, &tag);
    let dir = TempDir::new("sql-refuse");
    let in_port = free_port();
    let config = dir.join("production.yaml");
    let dsn = std::env::var("HIE_TEST_POSTGRES").expect("dsn");
    std::fs::write(
        &config,
        format!(
            r#"name: Refuse
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: "Good,Bad,Away"}}
  - id: Good
    class: EnsLib.SQL.Operation.GenericOperation
    adapter_settings: {{DSN: "{dsn}"}}
    host_settings: {{Query: "INSERT INTO {dst} (control_id) VALUES (?)", Parameters: "MSH-10"}}
  - id: Bad
    class: EnsLib.SQL.Operation.GenericOperation
    adapter_settings: {{DSN: "{dsn}"}}
    host_settings: {{Query: "INSERT INTO {dst} (control_id) VALUES (NULL)", Parameters: ""}}
  - id: Away
    class: EnsLib.SQL.Operation.GenericOperation
    adapter_settings: {{DSN: "host=127.0.0.1 port=1 user=nobody dbname=none connect_timeout=1"}}
    host_settings: {{Query: "SELECT 1", RetryInterval: 1, FailureTimeout: -1}}
"#
        ),
    )
    .expect("production");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("REF1", "M1")).expect("ack")), "CA");
    wait_for(Duration::from_secs(30), "Good inserted the row", || (count(&mut db, &dst) == 1).then_some(()));
    wait_for(Duration::from_secs(30), "Bad's message in Error", || {
        let r = engine.get("/api/messages?item=Bad&status=Error");
        (r["count"] == 1).then_some(r)
    });
    let bad = engine.get("/api/messages?item=Bad&status=Error");
    let note = bad["messages"][0]["note"].as_str().unwrap_or_default().to_string();
    assert!(note.contains("null value") && note.contains("SQLSTATE 23502"), "the database's own reason: {note}");
    wait_for(Duration::from_secs(30), "Away retrying", || {
        (engine.item("Away")["retries"].as_u64() >= Some(2)).then_some(())
    });
    assert_eq!(engine.production()["state"], "Running", "the production runs on");
    db.batch_execute(&format!("DROP TABLE {tag}_src; DROP TABLE {dst}")).expect("drop");
}

/// Counter (pack inbound adapter) → Echo (pack outbound adapter), and an MLLP service
/// that also sends to Echo; both pack items in `mode`.
fn probe_production(dir: &TempDir, in_port: u16, mode: &str, extra_in: &str, extra_out: &str) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: AdapterProbe
items:
  - id: Counter_In
    class: HIE.Test.CounterService
    execution_mode: {mode}
    adapter_settings: {{CallInterval: 0.05{extra_in}}}
    host_settings: {{TargetConfigNames: Echo}}
  - id: MLLP_In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Echo}}
  - id: Echo
    class: HIE.Test.EchoOperation
    execution_mode: {mode}
    host_settings: {{RetryInterval: 1, MaxWorkerCrashes: 2{extra_out}}}
"#
        ),
    )
    .expect("production");
    config
}

/// Control ids of the messages taken in by `item`, oldest first.
fn intake_ids(engine: &Engine, item: &str) -> Vec<String> {
    let found = engine.get(&format!("/api/messages?item={item}&limit=10000"));
    let mut ids: Vec<String> = found["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["control_id"].as_str().unwrap_or("").to_string())
        .collect();
    ids.reverse();
    ids
}

#[test]
fn a_segfault_in_a_pack_adapter_kills_one_worker_never_the_engine_and_nothing_committed_is_lost() {
    let pack = packs::adapter_probe("plain");
    let dir = TempDir::new("adapter-segv");
    let crash = dir.join("crash-now");
    let in_port = free_port();
    let config = probe_production(&dir, in_port, "multi_process", &format!(", CrashFile: \"{}\"", crash.display()), "");
    let engine = Engine::start(&config, &dir.join("data"), &[pack]);
    wait_for(Duration::from_secs(30), "the counter counting", || {
        (engine.item("Echo")["processed"].as_u64() >= Some(10)).then_some(())
    });
    let loop_pid = engine.item("Counter_In")["workers"][0]["pid"].as_u64().expect("the loop's worker");
    std::fs::write(&crash, b"").expect("crash file");
    // The inbound loop's worker dies of SIGSEGV and comes back, counting on.
    wait_for(Duration::from_secs(30), "a new worker for the loop", || {
        let pid = engine.item("Counter_In")["workers"][0]["pid"].as_u64();
        (pid.is_some() && pid != Some(loop_pid) && pid != Some(0)).then_some(())
    });
    // The outbound adapter segfaults on one message: its worker dies each time it is
    // tried, until the message is quarantined; the rest go through.
    let mut client = Client::connect_retry(in_port);
    let ack = client.send(&hl7::with_note(hl7::adt("BOOM", "M1"), "SEGV")).expect("ack");
    assert_eq!(hl7::ack_code(&ack), "CA");
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("AFTER", "M2")).expect("ack")), "CA");
    wait_for(Duration::from_secs(60), "BOOM quarantined", || {
        (engine.get("/api/messages?control_id=BOOM&item=Echo&status=Suspended")["count"] == 1).then_some(())
    });
    wait_for(Duration::from_secs(30), "AFTER echoed", || {
        (engine.get("/api/messages?control_id=AFTER&item=Echo&status=Completed")["count"] == 1).then_some(())
    });
    let before = engine.item("Echo")["processed"].as_u64().unwrap_or(0);
    wait_for(Duration::from_secs(30), "the counter going on", || {
        (engine.item("Echo")["processed"].as_u64().unwrap_or(0) > before + 5).then_some(())
    });
    assert_eq!(engine.production()["state"], "Running", "the engine lives");
    // Every number the counter committed was taken in once: its state went with it.
    let ids = intake_ids(&engine, "Counter_In");
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "no number taken in twice: {ids:?}");
    let numbers: Vec<u64> = ids.iter().filter_map(|i| i.strip_prefix("CNT-")?.parse().ok()).collect();
    assert!(numbers.windows(2).all(|w| w[0] + 1 == w[1]), "no number lost: {numbers:?}");
}

#[test]
fn a_panicking_or_hanging_pack_adapter_takes_the_error_path_and_the_engine_lives() {
    let pack = packs::adapter_probe("plain");
    let dir = TempDir::new("adapter-panic");
    let crash = dir.join("panic-now");
    let in_port = free_port();
    let config = probe_production(
        &dir,
        in_port,
        "thread_pool",
        &format!(", CrashFile: \"{}\", CrashMode: panic", crash.display()),
        ", HangTimeout: 2",
    );
    let engine = Engine::start(&config, &dir.join("data"), &[pack]);
    let mut client = Client::connect_retry(in_port);
    for (id, note) in [("PANICKY", "PANIC"), ("FATALITY", "FATAL"), ("STUCK", "HANG")] {
        assert_eq!(hl7::ack_code(&client.send(&hl7::with_note(hl7::adt(id, "M"), note)).expect("ack")), "CA");
    }
    wait_for(Duration::from_secs(30), "PANICKY in Error", || {
        let r = engine.get("/api/messages?control_id=PANICKY&item=Echo&status=Error");
        (r["count"] == 1).then_some(())
    });
    let panicky = engine.get("/api/messages?control_id=PANICKY&item=Echo&status=Error");
    assert!(panicky["messages"][0]["note"].as_str().unwrap_or("").contains("panic in the adapter's call"), "{panicky}");
    let fatal = engine.get("/api/messages?control_id=FATALITY&item=Echo&status=Error");
    assert!(fatal["messages"][0]["note"].as_str().unwrap_or("").contains("refuses this message"), "{fatal}");
    // A call that never returns meets HangTimeout, and the message is quarantined.
    wait_for(Duration::from_secs(60), "STUCK quarantined", || {
        (engine.get("/api/messages?control_id=STUCK&item=Echo&status=Suspended")["count"] == 1).then_some(())
    });
    // The inbound loop panics once and is started again.
    let before = intake_ids(&engine, "Counter_In").len();
    std::fs::write(&crash, b"").expect("panic file");
    wait_for(Duration::from_secs(30), "the loop back after its panic", || {
        (!crash.exists() && intake_ids(&engine, "Counter_In").len() > before + 5).then_some(())
    });
    assert!(engine.log_text().contains("adapter probe panics in its inbound loop"), "the panic is logged");
    assert_eq!(engine.production()["state"], "Running");
}

#[test]
fn a_pack_built_against_the_1_0_sdk_loads_and_runs_in_this_host() {
    let pack = packs::v1_pack();
    let dir = TempDir::new("v1-pack");
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: V1
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Stamp}}
  - id: Stamp
    class: HIE.Test.V1Stamp
    host_settings: {{TargetConfigNames: Out, Stamp: "from a 1.0 pack"}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
"#
        ),
    )
    .expect("production");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[pack]);
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("V1MSG", "M")).expect("ack")), "CA");
    receiver.wait_for_count(1, Duration::from_secs(30));
    assert_eq!(hl7::value(&receiver.messages()[0], "ZV1-1"), "from a 1.0 pack");
    let plugins = engine.get("/api/plugins");
    let v1 = plugins["loaded"].as_array().and_then(|l| l.iter().find(|p| p["name"] == "hie-pack-v1").cloned());
    assert!(v1.is_some_and(|p| p["abi_minor"] == 0 && p["sdk_version"] == "1.0.0"), "{plugins}");
}

#[test]
fn packs_that_need_a_newer_abi_minor_or_repeat_an_adapter_name_are_refused_naming_why() {
    for (variant, expected) in [
        ("future", "needs plugin ABI 1.99 but this host provides 1.1: upgrade HIE"),
        (
            "duplicate",
            "adapter EnsLib.SQL.OutboundAdapter is provided by pack hie-pack-sql 1.0.0 and again by pack hie-pack-adapter-probe 0.1.0: the second is refused",
        ),
    ] {
        let dir = packs::adapter_probe(variant);
        let (code, out, _) = run_hie(&["plugins", "--json", "--plugins", dir.to_str().expect("dir")]);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let reasons: Vec<&str> =
            v["failures"].as_array().expect("failures").iter().filter_map(|f| f["reason"].as_str()).collect();
        assert!(reasons.iter().any(|r| r.contains(expected)), "{variant}: {reasons:?}");
    }
}

#[test]
fn a_pack_class_setting_with_a_declared_kind_is_checked_by_validation() {
    let pack = packs::adapter_probe("plain");
    let dir = TempDir::new("typed-class-setting");
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        "name: Typed\nitems:\n  - id: Echo\n    class: HIE.Test.EchoOperation\n    host_settings: {Mood: sulky}\n",
    )
    .expect("production");
    let (code, out, _) =
        run_hie(&["validate", config.to_str().expect("path"), "--plugins", pack.to_str().expect("pack")]);
    assert_eq!(code, 2, "{out}");
    assert!(
        has_error(&out, &config.display().to_string(), 5, "Echo", "Mood", "\"sulky\": expected one of calm, grumpy"),
        "{out}"
    );
}

/// `hie pack keygen PREFIX` in `dir`; returns (secret, public).
fn keygen(dir: &TempDir, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let prefix = dir.join(name);
    let (code, out, err) = run_hie(&["pack", "keygen", prefix.to_str().expect("path")]);
    assert_eq!(code, 0, "{out}{err}");
    (prefix.with_extension("secret"), prefix.with_extension("public"))
}

/// A copy of the 1.0 test pack in a directory of its own.
fn deployed_pack(dir: &TempDir, name: &str) -> std::path::PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).expect("dir");
    std::fs::copy(packs::v1_pack().join("libhie_pack_v1.so"), d.join("libhie_pack_v1.so")).expect("copy");
    d
}

fn pack_failures(pack_dir: &std::path::Path, keys: &std::path::Path) -> Vec<String> {
    let (code, out, err) = run_hie(&[
        "plugins",
        "--json",
        "--plugins",
        pack_dir.to_str().expect("dir"),
        "--trusted-keys",
        keys.to_str().expect("keys"),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["failures"].as_array().expect("failures").iter().filter_map(|f| f["reason"].as_str().map(String::from)).collect()
}

#[test]
fn with_trusted_keys_only_packs_signed_by_them_load_and_a_rejected_swap_leaves_the_running_version() {
    let dir = TempDir::new("signed-packs");
    let (secret, public) = keygen(&dir, "vendor");
    let (other_secret, _) = keygen(&dir, "stranger");
    // Signed by the trusted key: loads.
    let good = deployed_pack(&dir, "good");
    let so = good.join("libhie_pack_v1.so");
    assert_eq!(run_hie(&["pack", "sign", "--key", secret.to_str().expect("k"), so.to_str().expect("p")]).0, 0);
    assert!(pack_failures(&good, &public).is_empty(), "{:?}", pack_failures(&good, &public));
    let (code, out, _) =
        run_hie(&["pack", "verify", "--trusted-keys", public.to_str().expect("k"), so.to_str().expect("p")]);
    assert_eq!(code, 0, "{out}");
    // Not signed: refused, saying so.
    let unsigned = deployed_pack(&dir, "unsigned");
    let failures = pack_failures(&unsigned, &public);
    assert!(failures.iter().any(|f| f.contains("pack is not signed")), "{failures:?}");
    // Signed by another key: refused, saying so.
    let foreign = deployed_pack(&dir, "foreign");
    let so_foreign = foreign.join("libhie_pack_v1.so");
    run_hie(&["pack", "sign", "--key", other_secret.to_str().expect("k"), so_foreign.to_str().expect("p")]);
    let failures = pack_failures(&foreign, &public);
    assert!(failures.iter().any(|f| f.contains("does not verify against any key")), "{failures:?}");

    // A running engine with trusted keys: an unsigned new version is refused and the
    // signed one keeps serving.
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: Signed\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {in_port}}}\n    host_settings: {{TargetConfigNames: Stamp}}\n  - id: Stamp\n    class: HIE.Test.V1Stamp\n    host_settings: {{TargetConfigNames: Out}}\n  - id: Out\n    class: EnsLib.HL7.Operation.TCPOperation\n    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}\n"
        ),
    )
    .expect("production");
    let receiver = Receiver::start(out_port);
    let engine = Engine::start_with(
        &config,
        &dir.join("data"),
        &[good.clone()],
        &["--trusted-keys", public.to_str().expect("k")],
    );
    let before = engine.item("Stamp")["pack_sha256"].clone();
    // Deploy a different build under the same name, without a signature.
    let tmp = good.join(".libhie_pack_v1.so.tmp");
    std::fs::copy(packs::adapter_probe("plain").join("libhie_pack_adapter_probe.so"), &tmp).expect("copy");
    std::fs::remove_file(good.join("libhie_pack_v1.so.sig")).expect("drop signature");
    std::fs::rename(&tmp, &so).expect("deploy");
    let (_, reload) = engine.post("/api/packs/reload", None);
    let events = reload["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events.iter().any(|e| e["outcome"] == "rejected" && e["detail"].as_str().unwrap_or("").contains("not signed")),
        "{reload}"
    );
    assert_eq!(engine.item("Stamp")["pack_sha256"], before, "the signed version keeps serving");
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("SIGNED1", "M")).expect("ack")), "CA");
    receiver.wait_for_count(1, Duration::from_secs(30));
}

#[test]
fn the_adapter_template_builds_loads_and_runs_as_a_vendors_pack() {
    let pack = packs::adapter_template();
    let (code, out, _) = run_hie(&["plugins", "--plugins", pack.to_str().expect("dir")]);
    assert_eq!(code, 0);
    assert!(out.contains("pack hie-pack-template 0.1.0 (ABI 1.1") && out.contains("vendor Your Company Ltd"), "{out}");
    assert!(out.contains("adapter Vendor.Template.UdpOutbound [Outbound]"), "{out}");
    assert!(out.contains("adapter Vendor.Template.HeartbeatInbound [Inbound]"), "{out}");
    // Heartbeats → UDP datagrams to a socket of ours.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    socket.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    let dir = TempDir::new("template");
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: Template\nitems:\n  - id: Beat\n    class: Vendor.Template.HeartbeatService\n    adapter_settings: {{CallInterval: 0.1}}\n    host_settings: {{TargetConfigNames: Udp}}\n  - id: Udp\n    class: Vendor.Template.UdpOperation\n    adapter_settings: {{Host: 127.0.0.1, Port: {port}}}\n"
        ),
    )
    .expect("production");
    let _engine = Engine::start(&config, &dir.join("data"), &[pack]);
    let mut buf = [0u8; 2048];
    let mut beats = Vec::new();
    while beats.len() < 3 {
        let n = socket.recv(&mut buf).expect("a heartbeat datagram");
        beats.push(hl7::control_id(&buf[..n]));
    }
    assert_eq!(beats, vec!["HB1", "HB2", "HB3"]);
}
