//! Issue 13: the web console in a real headless Chromium (Debian's chromium and
//! chromium-driver, installed by tests/setup.sh; without them the test says SKIPPED).
//!
//! With `HIE_SCREENSHOTS=1` the test also writes the screenshots README.md shows into
//! docs/console-*.png.

use hie_tests::browser::{self, Browser};
use hie_tests::engine::Engine;
use hie_tests::mllp::Client;
use hie_tests::{TempDir, free_port, hl7};
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn screenshot(b: &Browser, dir: &TempDir, name: &str) {
    let path = if std::env::var("HIE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        hie_tests::workspace_root().join("docs").join(format!("console-{name}.png"))
    } else {
        dir.join(&format!("console-{name}.png"))
    };
    b.screenshot(&path);
    let png = std::fs::read(&path).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "{} is a PNG", path.display());
}

#[test]
fn the_console_shows_every_item_live_finds_a_message_draws_its_trace_and_pauses_an_item_without_a_reload() {
    if !browser::available("the_console_shows_every_item_live...") {
        return;
    }
    let dir = TempDir::new("console");
    let port = free_port();
    let out: PathBuf = dir.join("out");
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Console
items:
  - id: ADT_In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {port}}}
    host_settings: {{TargetConfigNames: Route}}
  - id: Route
    class: HIE.Process.Passthrough
    host_settings: {{TargetConfigNames: EPR_Out}}
  - id: EPR_Out
    class: EnsLib.HL7.Operation.FileOperation
    adapter_settings: {{FilePath: {}}}
"#,
            out.display()
        ),
    )
    .expect("production");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("CONSOLE1", "M1")).expect("ack")), "CA");
    hie_tests::wait_for(T, "the message written", || {
        hie_tests::finished_files(&out).filter(|f| !f.is_empty()).map(|_| ())
    });

    let b = Browser::start(&dir.join("chromium-profile"));
    b.goto(&format!("http://{}/", engine.api));
    // Every item, with its state, in the diagram; the target links drawn between them.
    for name in ["ADT_In", "Route", "EPR_Out"] {
        let css = format!("[data-testid=\"item-{name}\"][data-state=\"Running\"]");
        b.wait(&css, T);
    }
    b.wait("path[data-edge=\"ADT_In>Route\"]", T);
    b.wait("path[data-edge=\"Route>EPR_Out\"]", T);
    assert_eq!(b.text_of("[data-testid=\"production-state\"]"), "Running");
    screenshot(&b, &dir, "production");

    // Pause an item from its panel: the diagram follows without a reload.
    b.click("[data-testid=\"item-EPR_Out\"]");
    b.wait_text("#item-name", T, "the item panel", |t| t == "EPR_Out");
    // Its effective settings, each with where it came from.
    let file_path =
        b.wait_text("#item-settings tr[data-setting=\"FilePath\"]", T, "FilePath in the panel", |t| !t.is_empty());
    assert!(
        file_path.contains("production") && file_path.contains("production.yaml:"),
        "written in the file, with its line: {file_path}"
    );
    let filename = b.text_of("#item-settings tr[data-setting=\"Filename\"]");
    assert!(filename.contains("class default"), "a class default: {filename}");
    b.script("window.__marker = 'same page';");
    b.click("#item-pause");
    b.wait("[data-testid=\"item-EPR_Out\"][data-state=\"Paused\"]", T);
    assert_eq!(engine.item("EPR_Out")["state"], "Paused", "the engine paused it");
    assert_eq!(b.script("return window.__marker;"), "same page", "no reload happened");
    b.click("#item-resume");
    b.wait("[data-testid=\"item-EPR_Out\"][data-state=\"Running\"]", T);

    // Find the message by control id; open it; its trace has a column per item.
    b.click("nav [data-view=\"messages\"]");
    b.type_into("#q-control-id", "CONSOLE1");
    b.click("#q-go");
    b.wait_text("#results tbody", T, "a search result", |t| t.contains("CONSOLE1"));
    let rows = b.script("return document.querySelectorAll('#results tbody tr').length;");
    assert!(rows.as_u64().is_some_and(|n| n >= 1), "{rows}");
    b.click("#results tbody tr");
    b.wait_text("#message-body", T, "the body shown", |t| t.contains("MSH|") && t.contains("CONSOLE1"));
    let title = b.attribute("#message-body .seg:nth-child(3) .f:nth-child(2)", "title");
    assert_eq!(title.as_deref(), Some("PID-1"), "fields are named on hover");
    screenshot(&b, &dir, "message");
    b.click("#open-trace");
    for lane in ["ADT_In", "Route", "EPR_Out"] {
        b.wait(&format!("#trace-svg text[data-lane=\"{lane}\"]"), T);
    }
    let arrows = b.script("return document.querySelectorAll('#trace-svg line.arrow').length;");
    assert!(arrows.as_u64().is_some_and(|n| n >= 2), "one numbered arrow per hop: {arrows}");
    let first = b.text_of("#trace-svg text.error, #trace-svg text:not([data-lane])");
    assert!(first.starts_with("1. "), "arrows are numbered in time order: {first:?}");
    screenshot(&b, &dir, "trace");

    // Resend from the message page: a new message goes to the same target.
    let count = |item: &str| engine.get(&format!("/api/messages?item={item}"))["count"].as_u64().unwrap_or(0);
    let before = count("EPR_Out");
    b.click("#resend");
    b.wait_text("#message-result", T, "the resend answered", |t| t.starts_with("resend:"));
    hie_tests::wait_for(T, "the resent message stored", || (count("EPR_Out") > before).then_some(()));
    // Edited, and to another target: the edited body goes to Route.
    let routed = count("Route");
    b.script("document.querySelector('#resend-target').value = 'Route';");
    b.click("#edit");
    b.script("var t = document.querySelector('#edit-body'); t.value = t.value.replace('Smith^Alice', 'Smith^Edited');");
    b.script("document.querySelector('#resend-target').value = 'Route';");
    b.click("#edit-send");
    b.wait_text("#message-result", T, "the edited resend answered", |t| {
        t.starts_with("resend:") && t.contains("Route")
    });
    hie_tests::wait_for(T, "the edited message at Route", || (count("Route") > routed).then_some(()));
    let edited = engine.get("/api/messages?item=Route&limit=1");
    let id = edited["messages"][0]["id"].as_u64().expect("id");
    let shown = engine.get(&format!("/api/messages/{id}"));
    assert!(
        shown["body"].as_str().is_some_and(|b| b.contains("PID|1||M1^^^RXX^MR||Smith^Edited||19800101|F\r")),
        "{shown}"
    );
}

const VIEWER: &str = "viewer-token-0123456789abcdef";
const OPERATOR: &str = "operator-token-0123456789abcdef";

/// A synchronous XHR from the page: its status (the page's own cookie goes with it).
fn xhr(b: &Browser, method: &str, path: &str, csrf: bool) -> u64 {
    let header = if csrf { "x.setRequestHeader('X-CSRF-Token', sessionStorage.getItem('hie-csrf'));" } else { "" };
    let script = format!(
        "var x = new XMLHttpRequest(); x.open('{method}', '{path}', false); {header} x.send(); return x.status;"
    );
    b.script(&script).as_u64().unwrap_or(0)
}

#[test]
fn the_console_signs_in_with_a_token_into_an_httponly_cookie_a_viewer_sees_no_bodies_and_a_write_needs_the_csrf_token()
{
    if !browser::available("the_console_signs_in_with_a_token...") {
        return;
    }
    let dir = TempDir::new("console-roles");
    let port = free_port();
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: ConsoleRoles
items:
  - id: ADT_In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {port}}}
    host_settings: {{TargetConfigNames: EPR_Out}}
  - id: EPR_Out
    class: EnsLib.HL7.Operation.FileOperation
    adapter_settings: {{FilePath: {}}}
"#,
            dir.join("out").display()
        ),
    )
    .expect("production");
    let tokens = dir.join("api.tokens");
    std::fs::write(&tokens, format!("ward viewer {VIEWER}\nops operator {OPERATOR}\n")).expect("tokens");
    let mut engine =
        Engine::spawn(&config, &dir.join("data"), &[], &["--api-token-file", tokens.to_str().expect("path")]);
    engine.token = Some(OPERATOR.to_string());
    engine.wait_running(T);
    let mut client = Client::connect_retry(port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("ROLES1", "MRN-SECRET")).expect("ack")), "CA");

    let b = Browser::start(&dir.join("chromium-profile"));
    b.goto(&format!("http://{}/", engine.api));
    b.wait("#signin:not([hidden])", T);
    b.type_into("#signin-token", "not-a-token-of-this-engine");
    b.click("#signin-go");
    b.wait_text("#signin-result", T, "a wrong token refused", |t| t.contains("refused"));

    // A viewer: states and headers, never a body.
    b.type_into("#signin-token", VIEWER);
    b.click("#signin-go");
    b.wait_text("[data-testid=\"who\"]", T, "signed in", |t| t == "ward (viewer)");
    b.wait("[data-testid=\"item-EPR_Out\"][data-state=\"Running\"]", T);
    let cookies = b.script("return document.cookie;");
    assert!(!cookies.as_str().unwrap_or("").contains("hie_session"), "the session cookie is HttpOnly: {cookies}");
    b.click("nav [data-view=\"messages\"]");
    b.type_into("#q-control-id", "ROLES1");
    b.click("#q-go");
    b.wait_text("#results tbody", T, "the viewer finds the header", |t| t.contains("ROLES1"));
    b.click("#results tbody tr");
    b.wait_text("#message-body", T, "no body for a viewer", |t| t.contains("sees no bodies"));
    assert!(!b.text_of("body").contains("MRN-SECRET"), "nothing of the body on the page");
    assert_eq!(xhr(&b, "POST", "/api/items/EPR_Out/pause", true), 403, "a viewer cannot pause");

    // An operator: a write without the CSRF token is refused, with it it is done.
    b.click("#signout");
    b.wait("#signin:not([hidden])", T);
    b.type_into("#signin-token", OPERATOR);
    b.click("#signin-go");
    b.wait_text("[data-testid=\"who\"]", T, "signed in", |t| t == "ops (operator)");
    assert_eq!(xhr(&b, "POST", "/api/items/EPR_Out/pause", false), 403, "no CSRF token");
    assert_eq!(engine.item("EPR_Out")["state"], "Running", "nothing happened");
    assert_eq!(xhr(&b, "POST", "/api/items/EPR_Out/pause", true), 200, "with the CSRF token");
    b.wait("[data-testid=\"item-EPR_Out\"][data-state=\"Paused\"]", T);
    let found = hie_tests::api::get_json_as(&engine.api, Some(OPERATOR), "/api/messages?control_id=ROLES1");
    assert!(found["count"].as_u64().is_some_and(|n| n >= 1), "the bearer token still works beside the cookie: {found}");
}

#[test]
fn the_console_diffs_two_config_versions_rolls_back_after_a_confirmation_and_lists_queues_and_packs() {
    if !browser::available("the_console_diffs_two_config_versions...") {
        return;
    }
    let dir = TempDir::new("console-config");
    let out = dir.join("out");
    let config = dir.join("production.yaml");
    let v1 = format!(
        "name: ConsoleConfig\nitems:\n  - id: Files_Out\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n",
        out.display()
    );
    std::fs::write(&config, &v1).expect("v1");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let v2 = format!(
        "{v1}  - id: Extra_Out\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n",
        dir.join("extra").display()
    );
    std::fs::write(&config, &v2).expect("v2");
    let (status, body) = engine.post("/api/reload", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(engine.item("Extra_Out")["state"], "Running");

    let b = Browser::start(&dir.join("chromium-profile"));
    b.goto(&format!("http://{}/", engine.api));
    b.wait("[data-testid=\"item-Extra_Out\"]", T);
    b.click("nav [data-view=\"queues\"]");
    b.wait("[data-testid=\"queue-Extra_Out\"]", T);
    b.click("nav [data-view=\"packs\"]");
    b.wait("[data-testid=\"pack-hie-pack-hl7\"]", T);
    b.click("nav [data-view=\"config\"]");
    b.wait("[data-testid=\"version-2\"]", T);
    b.click("#diff");
    let diff = b.wait_text("[data-testid=\"diff\"]", T, "the diff of 1 and 2", |t| t.contains("Extra_Out"));
    assert!(diff.lines().any(|l| l.starts_with("+ ") && l.contains("id: Extra_Out")), "an added line: {diff}");
    assert!(!diff.lines().any(|l| l.starts_with("- ")), "nothing removed: {diff}");
    screenshot(&b, &dir, "config");
    b.click("#rollback");
    assert_eq!(engine.item("Extra_Out")["state"], "Running", "nothing happens before the confirmation");
    b.click("#rollback-confirm");
    b.wait_text("#config-result", T, "the rollback applied", |t| t.contains("roll back to 1: applied"));
    b.wait("[data-testid=\"version-3\"]", T);
    let production = engine.production();
    let names: Vec<&str> =
        production["items"].as_array().into_iter().flatten().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, ["Files_Out"], "version 1 runs again");
    b.click("nav [data-view=\"production\"]");
    hie_tests::wait_for(T, "Extra_Out gone from the diagram", || {
        b.find("[data-testid=\"item-Extra_Out\"]").is_none().then_some(())
    });
    b.wait("[data-testid=\"item-Files_Out\"][data-state=\"Running\"]", T);
}
