//! Issue 13 items 2 and 3: named API tokens with roles (viewer, operator, admin) and a
//! durable audit trail of who read which message's body and who acted on what, from
//! where; `hie audit` lists it; purging messages never purges it.

use hie_tests::api::request_as;
use hie_tests::engine::{Engine, run_hie};
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, free_port, hl7};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const VIEWER: &str = "viewer-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn roles_gate_bodies_and_actions_and_every_body_read_and_action_is_audited_durably() {
    let dir = TempDir::new("roles");
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: Roles\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {in_port}}}\n    host_settings: {{TargetConfigNames: Out}}\n  - id: Out\n    class: EnsLib.HL7.Operation.TCPOperation\n    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}\n"
        ),
    )
    .unwrap();
    let tokens = dir.join("api.tokens");
    std::fs::write(
        &tokens,
        format!("# name role token\nward viewer {VIEWER}\nnight-ops operator {OPERATOR}\nlead admin {ADMIN}\n"),
    )
    .unwrap();
    let _receiver = Receiver::start(out_port);
    let data = dir.join("data");
    let mut engine = Engine::spawn(&config, &data, &[], &["--api-token-file", tokens.to_str().unwrap()]);
    engine.token = Some(ADMIN.to_string());
    engine.wait_running(T);
    let mut client = Client::connect_retry(in_port);
    assert!(hl7::accepted(&client.send(&hl7::adt("R1", "MRN-R1")).unwrap()));
    let id = hie_tests::wait_for(T, "the message in the warehouse", || {
        let found = engine.get("/api/messages?control_id=R1&item=In");
        found["messages"].as_array().and_then(|m| m.first()).and_then(|m| m["id"].as_u64())
    });
    let api = engine.api.clone();
    let call = |token: &str, method: &str, path: &str| request_as(&api, Some(token), method, path, None).unwrap();

    // A viewer sees the header, never the body; an operator sees the body.
    let (status, body) = call(VIEWER, "GET", &format!("/api/messages/{id}"));
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert!(v["body"].is_null() && v["reply"].is_null(), "no body for a viewer: {v}");
    assert_eq!(v["control_id"], "R1", "but the header: {v}");
    assert!(!body.contains("MRN-R1"), "nothing of the body leaks: {body}");
    let (status, body) = call(OPERATOR, "GET", &format!("/api/messages/{id}"));
    assert_eq!(status, 200, "{body}");
    assert!(json(&body)["body"].as_str().is_some_and(|b| b.contains("MRN-R1")), "{body}");

    // Actions by role: a viewer may not resend, an operator may not purge or reload.
    // The hop at Out is what an operator resends (a service's intake is not resent).
    let hop = hie_tests::wait_for(T, "the hop at Out", || {
        let found = engine.get("/api/messages?control_id=R1&item=Out");
        found["messages"].as_array().and_then(|m| m.first()).and_then(|m| m["id"].as_u64())
    });
    let resend = format!("/api/messages/{hop}/resend");
    assert_eq!(call(VIEWER, "POST", &resend).0, 403);
    assert_eq!(call(VIEWER, "POST", "/api/items/Out/pause").0, 403);
    assert_eq!(call(OPERATOR, "POST", "/api/items/Out/pause").0, 200);
    assert_eq!(call(OPERATOR, "POST", "/api/items/Out/resume").0, 200);
    let (status, body) = request_as(&api, Some(OPERATOR), "POST", &resend, Some("{}")).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(OPERATOR, "POST", "/api/reload");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("needs the admin role") && body.contains("night-ops is operator"), "{body}");
    assert_eq!(call(OPERATOR, "GET", "/api/audit").0, 403, "the audit trail is for admins");
    assert_eq!(call("not-a-token-0123456789", "GET", "/api/production").0, 401);

    // The trail: who, what, to what, from where, with the answer; refusals too.
    let (status, body) = call(ADMIN, "GET", "/api/audit");
    assert_eq!(status, 200, "{body}");
    let entries = json(&body)["entries"].as_array().cloned().unwrap_or_default();
    let find = |who: &str, action: &str, status: u64| {
        entries.iter().find(|e| e["who"] == who && e["action"] == action && e["status"] == status).cloned()
    };
    let read = find("night-ops", "read-body", 200).unwrap_or_else(|| panic!("the body read: {entries:?}"));
    assert_eq!(read["target"], format!("GET /api/messages/{id}"));
    assert_eq!(read["role"], "operator");
    assert!(read["from"].as_str().is_some_and(|f| f.starts_with("127.0.0.1:")), "{read}");
    assert!(find("night-ops", "resend", 200).is_some(), "{entries:?}");
    assert!(find("night-ops", "pause", 200).is_some() && find("night-ops", "resume", 200).is_some());
    assert!(find("ward", "resend", 403).is_some(), "a refused action is recorded: {entries:?}");
    assert!(find("night-ops", "reload", 403).is_some(), "{entries:?}");
    assert!(!entries.iter().any(|e| e["who"] == "ward" && e["action"] == "read-body"), "a viewer read no body");

    // Purging messages never purges the audit, and the trail survives a restart.
    let before = entries.len();
    let (status, body) = call(ADMIN, "POST", "/api/purge?keep_days=0");
    assert_eq!(status, 200, "{body}");
    assert!(engine.terminate().success());
    drop(engine);
    let mut engine = Engine::spawn(&config, &data, &[], &["--api-token-file", tokens.to_str().unwrap()]);
    engine.token = Some(ADMIN.to_string());
    engine.wait_running(T);
    let (status, body) = request_as(&engine.api, Some(ADMIN), "GET", "/api/audit?limit=1000", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let after = json(&body)["entries"].as_array().map_or(0, Vec::len);
    assert!(after > before, "the trail keeps everything and adds the purge: {before} -> {after}");

    // hie audit prints it as a table.
    let (code, out, err) =
        run_hie(&["audit", "--api", &engine.api, "--api-token-file", tokens.to_str().unwrap(), "--limit", "50"]);
    // The CLI presents the file's first token (a viewer here), which may not read the trail.
    assert_ne!(code, 0, "{out}{err}");
    let admin_file = dir.join("admin.token");
    std::fs::write(&admin_file, format!("{ADMIN}\n")).unwrap();
    let (code, out, err) =
        run_hie(&["audit", "--api", &engine.api, "--api-token-file", admin_file.to_str().unwrap(), "--limit", "50"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("night-ops") && out.contains("read-body"), "{out}");
}
