//! The command line for people: `hie status`, `hie items`, `hie messages` as tables and
//! trees, `--json` for scripts, `hie audit`, quiet exits on a closed pipe, and logs
//! without colour codes off a terminal (`--log-format json` for machines).

use hie_tests::engine::{Engine, hie_bin, run_hie};
use hie_tests::mllp::Client;
use hie_tests::{TempDir, free_port, hl7, wait_for};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// MLLP service In → passthrough Route → file operations Out and Archive.
fn production(dir: &TempDir, in_port: u16) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    let (out, archive) = (dir.join("out"), dir.join("archive"));
    std::fs::create_dir_all(&out).expect("out dir");
    std::fs::create_dir_all(&archive).expect("archive dir");
    std::fs::write(
        &config,
        format!(
            r#"name: CLI
durability: process
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Route}}
  - id: Route
    class: HIE.Process.Passthrough
    host_settings: {{TargetConfigNames: "Out,Archive"}}
  - id: Out
    class: EnsLib.HL7.Operation.FileOperation
    adapter_settings: {{FilePath: "{}"}}
  - id: Archive
    class: EnsLib.HL7.Operation.FileOperation
    adapter_settings: {{FilePath: "{}"}}
"#,
            out.display(),
            archive.display()
        ),
    )
    .expect("write production");
    config
}

/// Starts the production and returns the engine and the MLLP port of In.
fn start(name: &str) -> (TempDir, Engine, u16) {
    let dir = TempDir::new(name);
    let in_port = free_port();
    let config = production(&dir, in_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    (dir, engine, in_port)
}

/// Sends `msgs` over one connection; returns the ACK codes.
fn send(port: u16, msgs: &[Vec<u8>]) -> Vec<String> {
    let mut c = Client::connect_retry(port);
    msgs.iter().map(|m| hl7::ack_code(&c.send(m).expect("send"))).collect()
}

/// `hie ARGS --api <engine>`: exit code, stdout, stderr.
fn hie(engine: &Engine, args: &[&str]) -> (i32, String, String) {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--api", engine.api.as_str()]);
    run_hie(&all)
}

/// `hie ARGS --json --api <engine>`, parsed.
fn hie_json(engine: &Engine, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = hie(engine, &all);
    let v = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}\n{err}"));
    (code, v)
}

/// The table row whose first cell is `first`.
fn row<'a>(table: &'a str, first: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in:\n{table}"))
}

/// The cell of `line` under `header` (a left-aligned column, cells without spaces);
/// columns count in characters (tree lines and arrows are wider in bytes).
fn cell<'a>(header_line: &str, line: &'a str, header: &str) -> &'a str {
    let at = header_line.find(header).unwrap_or_else(|| panic!("no column {header} in {header_line}"));
    let start = line.char_indices().nth(at).map(|(i, _)| i).unwrap_or(line.len());
    line[start..].split_whitespace().next().unwrap_or("")
}

/// The id of the hop addressed to `item` with control id `control_id`, once Completed.
fn completed_hop(engine: &Engine, control_id: &str, item: &str) -> serde_json::Value {
    wait_for(T, &format!("{control_id} Completed at {item}"), || {
        let (_, v) = hie_json(engine, &["messages", "search", "--control-id", control_id, "--item", item]);
        v["messages"].as_array()?.first().filter(|m| m["status"] == "Completed").cloned()
    })
}

#[test]
fn status_prints_a_table_of_items_with_state_queue_and_errors() {
    let (_dir, engine, in_port) = start("cli-status");
    assert_eq!(send(in_port, &[hl7::adt("ST1", "M1"), hl7::adt("ST2", "M2")]), vec!["CA"; 2]);
    engine.wait_until(T, "both delivered", |_| engine.item("Out")["processed"] == 2);
    engine.post("/api/items/Out/pause", None);
    assert_eq!(send(in_port, &[hl7::adt("ST3", "M3")]), vec!["CA"]);
    engine.wait_until(T, "one waiting at Out", |_| engine.item("Out")["queue_depth"] == 1);
    // Junk is refused at intake: an error of In.
    let mut c = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&c.send(b"this is not HL7").expect("send junk")), "AE");

    let (code, out, err) = hie(&engine, &["status", "--interval", "0.2"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Production \"CLI\": Running"), "{out}");
    let header = out.lines().find(|l| l.starts_with("ITEM")).unwrap_or_else(|| panic!("no header:\n{out}"));
    for column in ["KIND", "STATE", "QUEUE", "IN FLIGHT", "RATE", "PROCESSED", "ERRORS", "STARTED"] {
        assert!(header.contains(column), "{column} in {header}");
    }
    let out_row = row(&out, "Out");
    assert_eq!(cell(header, out_row, "STATE"), "Paused", "{out}");
    assert!(out_row.contains("paused by operator"), "the state's reason: {out_row}");
    assert_eq!(cell(header, row(&out, "Archive"), "STATE"), "Running", "{out}");
    // Numbers sit flush right under their header.
    let queue_end = header.find("QUEUE").map(|i| i + "QUEUE".len()).unwrap_or(0);
    assert_eq!(out_row[..queue_end].split_whitespace().last(), Some("1"), "Out's queue under QUEUE: {out}");
    let errors_end = header.find("ERRORS").map(|i| i + "ERRORS".len()).unwrap_or(0);
    assert_eq!(row(&out, "In")[..errors_end].split_whitespace().last(), Some("1"), "In's error: {out}");
    assert_eq!(row(&out, "Route")[..errors_end].split_whitespace().last(), Some("0"), "{out}");
    assert!(cell(header, row(&out, "In"), "RATE").ends_with("/s"), "a rate in msg/s: {out}");
    assert!(cell(header, row(&out, "In"), "STARTED").ends_with("ago") || out.contains("just now"), "{out}");
}

#[test]
fn status_rate_is_the_change_in_processed_between_two_samples() {
    let (_dir, engine, in_port) = start("cli-rate");
    assert_eq!(send(in_port, &[hl7::adt("WARM", "M")]), vec!["CA"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let load = std::thread::spawn(move || {
        let mut c = Client::connect_retry(in_port);
        let mut n = 0u32;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) && n < 20_000 {
            let _ = c.send(&hl7::adt(&format!("R{n}"), "M"));
            n += 1;
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let (code, v) = hie_json(&engine, &["status"]);
    let (tcode, table, _) = hie(&engine, &["status"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().expect("load thread");
    assert_eq!((code, tcode), (0, 0));
    let interval = v["rate_interval_s"].as_f64().unwrap_or(0.0);
    assert!((0.9..5.0).contains(&interval), "sampled about 1 s apart: {v}");
    let items = v["items"].as_array().expect("items");
    let rate_in = items.iter().find(|i| i["name"] == "In").and_then(|i| i["rate_per_s"].as_f64()).unwrap_or(0.0);
    assert!(rate_in > 0.0, "messages flowed into In: {v}");
    let header = table.lines().find(|l| l.starts_with("ITEM")).expect("header");
    let shown = cell(header, row(&table, "In"), "RATE");
    assert!(shown.ends_with("/s") && shown != "0/s", "In's rate under load: {table}");
}

#[test]
fn items_pause_resume_and_restart_change_the_items_state() {
    let (_dir, engine, in_port) = start("cli-items");
    let (code, out, err) = hie(&engine, &["items", "pause", "Out"]);
    assert_eq!((code, out.trim()), (0, "Out: Paused"), "{err}");
    assert_eq!(engine.item("Out")["state"], "Paused");
    assert_eq!(send(in_port, &[hl7::adt("IT1", "M")]), vec!["CA"]);
    engine.wait_until(T, "IT1 waiting at Out", |_| engine.item("Out")["queue_depth"] == 1);

    // Restart keeps the queue and the pause, and is a new runtime.
    let before = engine.item("Out")["started_us"].as_i64().unwrap_or(0);
    let (code, out, err) = hie(&engine, &["items", "restart", "Out"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Out: restarted, Paused"), "{out}");
    let after = engine.item("Out");
    assert_eq!(after["state"], "Paused", "{after}");
    assert!(after["started_us"].as_i64().unwrap_or(0) > before, "a new runtime: {after}");
    assert_eq!(after["queue_depth"], 1, "the waiting message is still queued: {after}");

    let (code, v) = hie_json(&engine, &["items", "resume", "Out"]);
    assert_eq!((code, v["item"].as_str(), v["state"].as_str()), (0, Some("Out"), Some("Running")), "{v}");
    engine.wait_until(T, "IT1 delivered after resume", |_| engine.item("Out")["processed"] == 1);

    // A running item restarts running; an unknown one is an error that says why.
    let (code, v) = hie_json(&engine, &["items", "restart", "Route"]);
    assert_eq!((code, v["state"].as_str()), (0, Some("Running")), "{v}");
    assert_eq!(send(in_port, &[hl7::adt("IT2", "M")]), vec!["CA"]);
    engine.wait_until(T, "IT2 through the restarted Route", |_| engine.item("Out")["processed"] == 2);
    let (code, _, err) = hie(&engine, &["items", "pause", "Nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no running item Nope"), "{err}");
}

#[test]
fn messages_search_prints_a_table_and_the_api_json_with_json() {
    let (_dir, engine, in_port) = start("cli-search");
    let long_id = format!("LONG{}", "X".repeat(40));
    assert_eq!(send(in_port, &[hl7::adt("SE1", "M1"), hl7::adt(&long_id, "M2")]), vec!["CA"; 2]);
    completed_hop(&engine, "SE1", "Out");
    completed_hop(&engine, "SE1", "Archive");

    let (code, out, err) = hie(&engine, &["messages", "search", "--control-id", "SE1"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let header = lines[0];
    for column in ["ID", "CREATED", "AGE", "SOURCE", "TARGET", "TYPE", "CONTROL ID", "STATUS", "SESSION"] {
        assert!(header.contains(column), "{column} in {header}");
    }
    let rows = &lines[1..5];
    let targets: Vec<&str> = rows.iter().map(|r| cell(header, r, "TARGET")).collect();
    assert_eq!(targets, vec!["Archive", "Out", "Route", "In"], "newest first, one row per hop:\n{out}");
    for r in rows {
        assert_eq!(cell(header, r, "CONTROL ID"), "SE1", "{out}");
        assert_eq!(cell(header, r, "TYPE"), "ADT^A01", "{out}");
        assert_eq!(cell(header, r, "STATUS"), "Completed", "aligned under STATUS:\n{out}");
    }
    assert!(out.contains("4 messages, newest first"), "{out}");

    // Long text is cut with an ellipsis.
    let (_, out, _) = hie(&engine, &["messages", "search", "--control-id", &long_id]);
    let id_cell = cell(out.lines().next().unwrap_or(""), out.lines().nth(1).unwrap_or(""), "CONTROL ID");
    assert!(id_cell.starts_with("LONGXX") && id_cell.ends_with('…') && id_cell.chars().count() < 30, "{out}");

    // --json gives scripts the API's answer.
    let (code, v) = hie_json(&engine, &["messages", "search", "--control-id", "SE1", "--item", "Out"]);
    assert_eq!((code, v["count"].as_u64()), (0, Some(1)), "{v}");
    assert_eq!(v["messages"][0]["target"], "Out");
    let (code, out, _) = hie(&engine, &["messages", "search", "--control-id", "NOSUCH"]);
    assert_eq!((code, out.trim()), (0, "No messages found."));
}

#[test]
fn messages_session_prints_the_causation_tree_with_items_status_and_times() {
    let (_dir, engine, in_port) = start("cli-session");
    assert_eq!(send(in_port, &[hl7::adt("SS1", "M1")]), vec!["CA"]);
    let out_hop = completed_hop(&engine, "SS1", "Out");
    completed_hop(&engine, "SS1", "Archive");
    let session = out_hop["session_id"].to_string();

    let (code, out, err) = hie(&engine, &["messages", "session", &session]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(&format!("Session {session}: 4 messages in ")), "{out}");
    let header = lines[1];
    assert!(header.starts_with("MESSAGE") && header.contains("STATUS") && header.contains("CREATED"), "{out}");
    assert!(lines[2].starts_with(&format!("{session} mllp://")) && lines[2].contains("→ In"), "the intake:\n{out}");
    assert!(lines[3].starts_with("└── ") && lines[3].contains("In → Route"), "caused by the intake:\n{out}");
    let fan_out = [lines[4], lines[5]];
    assert!(fan_out[0].starts_with("    ├── ") && fan_out[1].starts_with("    └── "), "Route's two sends:\n{out}");
    assert!(fan_out.iter().any(|l| l.contains("Route → Out")) && fan_out.iter().any(|l| l.contains("Route → Archive")));
    for line in &lines[2..6] {
        assert_eq!(cell(header, line, "STATUS"), "Completed", "{out}");
        let at = cell(header, line, "CREATED");
        assert!(at.len() == 12 && at.as_bytes()[2] == b':' && at.as_bytes()[8] == b'.', "HH:MM:SS.mmm: {at}");
    }

    let (code, v) = hie_json(&engine, &["messages", "session", &session]);
    assert_eq!((code, v["count"].as_u64()), (0, Some(4)), "{v}");
    let (code, _, err) = hie(&engine, &["messages", "session", "999999"]);
    assert_eq!(code, 1);
    assert!(err.contains("404") && err.contains("no session 999999"), "{err}");
}

#[test]
fn messages_show_prints_a_header_block_and_the_body_one_segment_per_line() {
    let (_dir, engine, in_port) = start("cli-show");
    assert_eq!(send(in_port, &[hl7::adt("SH1", "MRN5")]), vec!["CA"]);
    let hop = completed_hop(&engine, "SH1", "Out");
    let id = hop["id"].to_string();

    let (code, out, err) = hie(&engine, &["messages", "show", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains('\r'), "segments end in newlines, not CR: {out:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("Message {id}"));
    let field = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.trim_start().strip_prefix(name).map(str::trim))
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
    };
    assert_eq!(field("Status"), "Completed");
    assert_eq!(field("Source"), "Route");
    assert_eq!(field("Target"), "Out");
    assert_eq!(field("Type"), "ADT^A01");
    assert_eq!(field("Control ID"), "SH1");
    assert_eq!(field("Session"), hop["session_id"].to_string());
    assert!(field("Created").ends_with("ago)") || field("Created").ends_with("(just now)"), "{out}");
    let body = lines.iter().position(|l| l.starts_with("Body (")).unwrap_or_else(|| panic!("no body:\n{out}"));
    assert!(lines[body].ends_with(" B):"), "its size: {}", lines[body]);
    let segments: Vec<&str> = lines[body + 1..].iter().take_while(|l| !l.is_empty()).copied().collect();
    let names: Vec<&str> = segments.iter().map(|s| &s[..3]).collect();
    assert_eq!(names, vec!["MSH", "EVN", "PID", "PV1"], "{out}");
    assert!(segments[2].contains("MRN5"), "{out}");

    let (code, v) = hie_json(&engine, &["messages", "show", &id]);
    assert_eq!(code, 0);
    assert!(v["body"].as_str().unwrap_or("").contains("\rPID|"), "the API's body as stored: {v}");
}

#[test]
fn actions_say_what_they_did_and_purge_shows_no_spinner_off_a_terminal() {
    let (_dir, engine, in_port) = start("cli-actions");
    assert_eq!(send(in_port, &[hl7::adt("AC1", "M")]), vec!["CA"]);
    let hop = completed_hop(&engine, "AC1", "Out");
    let id = hop["id"].to_string();
    let (code, out, err) = hie(&engine, &["messages", "resend", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("message {id} resent as message ")), "{out}");
    let (code, _, err) = hie(&engine, &["messages", "suspend", &id]);
    assert_eq!(code, 1);
    assert!(err.contains("409") && err.contains("Completed"), "the reason: {err}");
    let (code, out, _) = hie(&engine, &["messages", "resend-suspended", "Out"]);
    assert_eq!((code, out.trim()), (0, "Out: 0 suspended messages put back in its queue"));
    engine.wait_until(T, "the resend delivered", |_| engine.item("Out")["processed"] == 2);

    let (code, out, err) = hie(&engine, &["messages", "purge", "--keep-days", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("purged ") && out.contains("journal.db"), "{out}");
    assert!(!err.contains('\x1b') && !err.contains('⠋') && !err.contains("purging"), "no spinner in a pipe: {err:?}");
    let (code, out, _) = hie(&engine, &["reload"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("reload unchanged") || out.starts_with("reload applied"), "{out}");
    let (code, v) = hie_json(&engine, &["reload"]);
    assert_eq!((code, v["kind"].as_str()), (0, Some("config")), "{v}");
}

#[test]
fn audit_prints_a_table_of_entries_or_says_clearly_that_the_engine_keeps_none() {
    let (_dir, engine, _) = start("cli-audit");
    let (code, out, err) = hie(&engine, &["audit"]);
    if code == 0 {
        let header = out.lines().next().unwrap_or("");
        assert!(
            out.starts_with("No audit entries.")
                || header.split_whitespace().eq(["WHO", "WHEN", "ACTION", "WHAT", "FROM"])
        );
    } else {
        assert_eq!(code, 1);
        assert!(err.contains("no audit log") && err.contains("GET /api/audit") && err.contains("404"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_closed_pipe_ends_hie_quietly_without_a_panic() {
    // As a shell runs it.
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' plugins | head -1", hie_bin().display()))
        .output()
        .expect("run sh");
    let (out, err) = (String::from_utf8_lossy(&piped.stdout), String::from_utf8_lossy(&piped.stderr));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");

    // A reader gone before the first line: every write meets a closed pipe.
    let mut child = Command::new(hie_bin())
        .arg("plugins")
        .env("HIE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hie");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait for hie");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "exits 0: {err}");
    assert!(err.is_empty(), "quietly: {err}");
}

#[test]
fn engine_logs_carry_no_colour_codes_when_stderr_is_a_file() {
    let (_dir, mut engine, in_port) = start("cli-ansi");
    assert_eq!(send(in_port, &[hl7::adt("AN1", "M")]), vec!["CA"]);
    engine.wait_until(T, "delivered", |_| engine.item("Out")["processed"] == 1);
    engine.terminate();
    let log = engine.log_text();
    assert!(log.contains("item started") && log.contains("production running"), "{log}");
    assert!(!log.contains('\x1b'), "no ANSI escape in the log file:\n{log:?}");
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let dir = TempDir::new("cli-jsonlog");
    let in_port = free_port();
    let config = production(&dir, in_port);
    let mut engine = Engine::start_with(&config, &dir.join("data"), &[], &["--log-format", "json"]);
    assert_eq!(send(in_port, &[hl7::adt("JL1", "M")]), vec!["CA"]);
    engine.wait_until(T, "delivered", |_| engine.item("Out")["processed"] == 1);
    engine.terminate();
    let log = engine.log_text();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 5, "{log}");
    for l in &lines {
        assert!(l["timestamp"].is_string() && l["level"].is_string() && l["message"].is_string(), "{l}");
    }
    let started = lines.iter().find(|l| l["message"] == "item started" && l["item"] == "Out");
    assert!(started.is_some_and(|l| l["level"] == "INFO"), "the event's fields at the top level:\n{log}");

    // HIE_LOG_FORMAT does the same for any subcommand.
    let out = Command::new(hie_bin())
        .args(["validate", config.to_str().expect("path")])
        .env("HIE_LOG", "info")
        .env("HIE_LOG_FORMAT", "json")
        .output()
        .expect("run hie validate");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().count() >= 1, "validate logs pack loads at info");
    for l in err.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string(), "{l}");
    }

    // What stops a command is a JSON line too.
    let missing = dir.join("missing.yaml");
    let out = Command::new(hie_bin())
        .args(["run", missing.to_str().expect("path"), "--log-format", "json"])
        .env_remove("HIE_LOG_FORMAT")
        .output()
        .expect("run hie run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_str(err.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {err}"));
    assert_eq!(v["level"], "ERROR", "{v}");
    assert!(v["message"].as_str().unwrap_or("").contains("cannot read production file"), "{v}");
}

#[test]
fn every_printing_client_command_speaks_json_with_json() {
    let (_dir, engine, in_port) = start("cli-json");
    assert_eq!(send(in_port, &[hl7::adt("JS1", "M")]), vec!["CA"]);
    let hop = completed_hop(&engine, "JS1", "Out");
    let (id, session) = (hop["id"].to_string(), hop["session_id"].to_string());
    let started = Instant::now();
    let (code, status) = hie_json(&engine, &["status", "--interval", "0"]);
    assert!(started.elapsed() < Duration::from_secs(5), "--interval 0 takes one sample");
    assert_eq!((code, status["items"].as_array().map(Vec::len)), (0, Some(4)), "{status}");
    for args in [
        vec!["messages", "search", "--control-id", "JS1"],
        vec!["messages", "show", id.as_str()],
        vec!["messages", "session", session.as_str()],
        vec!["messages", "resend-suspended", "Out"],
        vec!["items", "pause", "Archive"],
        vec!["items", "restart", "Archive"],
        vec!["items", "resume", "Archive"],
        vec!["reload"],
    ] {
        let (code, v) = hie_json(&engine, &args);
        assert_eq!(code, 0, "{args:?}: {v}");
        assert!(v.is_object(), "{args:?}: {v}");
    }
    // `--json` also goes before the subcommand.
    let (code, out, _) = run_hie(&["messages", "--json", "--api", engine.api.as_str(), "show", id.as_str()]);
    assert_eq!(code, 0);
    assert!(serde_json::from_str::<serde_json::Value>(out.trim()).is_ok(), "{out}");
    let (code, out, _) = run_hie(&["plugins", "--json"]);
    assert_eq!(code, 0);
    assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok_and(|v| v["packs"].is_array()), "{out}");
}
