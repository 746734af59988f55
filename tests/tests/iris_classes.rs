//! Issue 17 item 6: standard IRIS classes HIE lacked, end to end on the real binary and
//! real sockets: the host `http-inbound` adapter under `EnsLib.HTTP.GenericService` and
//! `EnsLib.HL7.Service.HTTPService`, `EnsLib.HL7.Operation.HTTPOperation` against a real
//! HTTP server, `EnsLib.MsgRouter.RoutingEngine` routing alerts by their properties, and
//! `hie validate` naming the classes HIE cannot have.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::http::FakeHttp;
use hie_tests::mllp::Client;
use hie_tests::{TempDir, free_port, wait_for};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// One HTTP response as the test client read it.
#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends `method path` with `body` over a fresh connection (HTTP/1.1, `Connection:
/// close`) and reads the whole response, retrying the connection while the listener opens.
fn request(port: u16, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Response {
    let mut stream = wait_for(T, "the HTTP listener to accept", || TcpStream::connect(("127.0.0.1", port)).ok());
    stream.set_read_timeout(Some(T)).expect("read timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
    Response { status, head, body: raw[split + 4..].to_vec() }
}

fn post(port: u16, path: &str, content_type: &str, body: &[u8]) -> Response {
    request(port, "POST", path, Some(content_type), body)
}

/// One POST that may fail (connection refused or reset while a place frees up): `None`.
fn try_post(port: u16, body: &[u8]) -> Option<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(T)).ok()?;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok())?;
    Some(Response { status, head, body: raw[split + 4..].to_vec() })
}

/// The messages addressed to `item` once `done` holds for `n` of them.
fn messages_to(engine: &Engine, item: &str, n: usize, what: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    wait_for(T, what, || {
        let found = engine.get(&format!("/api/messages?item={item}&limit=100"));
        let list = found["messages"].as_array().cloned().unwrap_or_default();
        (list.iter().filter(|m| done(m)).count() >= n).then_some(list)
    })
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

// ---- EnsLib.HTTP.GenericService ------------------------------------------------------

#[test]
fn the_generic_http_service_answers_200_after_commit_and_relays_method_url_and_content_type() {
    let dir = TempDir::new("iris-http-generic");
    let http = FakeHttp::start(free_port(), |_method, path| match path {
        "/fhir/Patient" => (201, r#"{"resourceType":"Patient","id":"1"}"#.into(), Duration::ZERO),
        _ => (404, "no such endpoint".into(), Duration::ZERO),
    });
    let port = free_port();
    let config = write(
        &dir,
        "production.yaml",
        &format!(
            r#"name: HttpRelay
items:
  - id: HTTP_In
    class: EnsLib.HTTP.GenericService
    adapter_settings: {{Port: {port}, LocalInterface: 127.0.0.1, MaxBodySize: 1024}}
    host_settings: {{TargetConfigNames: FHIR_Out}}
  - id: FHIR_Out
    class: EnsLib.HTTP.GenericOperation
    adapter_settings: {{HTTPServer: 127.0.0.1, HTTPPort: {}}}
"#,
            http.port
        ),
    );
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let patient = br#"{"resourceType":"Patient","name":[{"family":"Smith"}]}"#;

    let r = post(port, "/fhir/Patient", "application/fhir+json", patient);
    assert_eq!((r.status, r.body.len()), (200, 0), "committed, one way: {r:?}");
    let taken = engine.get("/api/messages?item=HTTP_In");
    assert_eq!(taken["count"], 1, "the 200 came after the message was stored: {taken}");

    let done = messages_to(&engine, "FHIR_Out", 1, "the relay Completed", |m| m["status"] == "Completed");
    let shown = engine.get(&format!("/api/messages/{}", done[0]["id"]));
    assert_eq!(shown["body"], String::from_utf8_lossy(patient).as_ref(), "byte for byte: {shown}");
    assert_eq!(shown["reply"], r#"{"resourceType":"Patient","id":"1"}"#, "{shown}");
    let sent = http.received();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!((sent[0].method.as_str(), sent[0].path.as_str()), ("POST", "/fhir/Patient"), "method and URL relayed");
    assert!(
        sent[0].headers.iter().any(|h| h.eq_ignore_ascii_case("Content-Type: application/fhir+json")),
        "Content-Type relayed: {:?}",
        sent[0].headers
    );
    assert_eq!(sent[0].body, patient.to_vec());

    // What the adapter does not take never reaches the journal.
    let big = vec![b'x'; 2048];
    assert_eq!(post(port, "/fhir/Patient", "text/plain", &big).status, 413, "over MaxBodySize");
    let get = request(port, "GET", "/fhir/Patient", None, b"");
    assert_eq!((get.status, get.header("Allow").as_deref()), (405, Some("POST")), "{get:?}");
    assert_eq!(engine.get("/api/messages?item=HTTP_In")["count"], 1, "neither was stored");
}

/// POSTs `body` over HTTPS, trusting `ca_pem` only, and reads the whole response.
fn post_tls(port: u16, ca_pem: &str, body: &[u8]) -> Response {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA")).expect("root");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("client");
    let tcp = wait_for(T, "the HTTPS listener to accept", || TcpStream::connect(("127.0.0.1", port)).ok());
    tcp.set_read_timeout(Some(T)).expect("read timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let head = format!(
        "POST /in HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).expect("write head");
    tls.write_all(body).expect("write body");
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // A server may close without close_notify once the response is out.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("read the HTTPS response: {e}"),
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
    Response { status, head, body: raw[split + 4..].to_vec() }
}

#[test]
fn the_http_listener_speaks_https_with_ssl_config_and_stores_what_it_acknowledges() {
    let dir = TempDir::new("iris-https");
    let pki = hie_tests::tls::TestPki::new();
    pki.write_server_config(&dir.join("tls"), "WEB");
    let port = free_port();
    let config = write(
        &dir,
        "production.yaml",
        &format!(
            r#"name: Https
items:
  - id: HTTPS_In
    class: EnsLib.HTTP.GenericService
    adapter_settings: {{Port: {port}, SSLConfig: WEB}}
    host_settings: {{TargetConfigNames: Files_Out}}
  - id: Files_Out
    class: EnsLib.File.PassthroughOperation
    adapter_settings: {{FilePath: {}}}
"#,
            dir.join("out").display()
        ),
    );
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let r = post_tls(port, &pki.ca_pem, b"over TLS");
    assert_eq!(r.status, 200, "{r:?}");
    let done = messages_to(&engine, "Files_Out", 1, "the request written", |m| m["status"] == "Completed");
    assert_eq!(engine.get(&format!("/api/messages/{}", done[0]["id"]))["body"], "over TLS");
    // Plain HTTP to the HTTPS port is no request at all.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    plain.set_read_timeout(Some(T)).expect("read timeout");
    let _ = plain.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "no plain-text 200 from an HTTPS listener");
    assert_eq!(engine.get("/api/messages?item=HTTPS_In")["count"], 1, "only the TLS request was stored");
}

#[test]
fn beyond_max_connections_a_connection_is_closed_unanswered_and_a_freed_place_serves_again() {
    let dir = TempDir::new("iris-http-maxconn");
    let port = free_port();
    let config = write(
        &dir,
        "production.yaml",
        &format!(
            r#"name: MaxConn
items:
  - id: HTTP_In
    class: EnsLib.HTTP.GenericService
    adapter_settings: {{Port: {port}, MaxConnections: 1}}
"#
        ),
    );
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    assert_eq!(post(port, "/", "text/plain", b"first").status, 200, "the listener serves");
    // One idle connection holds the only place.
    let held = wait_for(T, "a connection", || TcpStream::connect(("127.0.0.1", port)).ok());
    wait_for(T, "the held connection accepted", || {
        let mut extra = TcpStream::connect(("127.0.0.1", port)).ok()?;
        extra.set_read_timeout(Some(T)).ok()?;
        let _ = extra.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nextra");
        let mut answer = Vec::new();
        let _ = extra.read_to_end(&mut answer);
        // Until the held connection is accepted, this one may take the place and be served.
        answer.is_empty().then_some(())
    });
    drop(held);
    let again = wait_for(T, "the place freed", || try_post(port, b"again").filter(|r| r.status == 200));
    assert_eq!(again.status, 200);
    let taken = engine.get("/api/messages?item=HTTP_In");
    let bodies: Vec<String> = taken["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| engine.get(&format!("/api/messages/{}", m["id"]))["body"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(bodies.contains(&"first".to_string()) && bodies.contains(&"again".to_string()), "{bodies:?}");
}

// ---- HL7 over HTTP -------------------------------------------------------------------

/// An ACK from the remote system for control id `H1` with `code`.
fn remote_ack(code: &str) -> String {
    format!("MSH|^~\\&|EPR|RXX|PAS|RXX|20260101120001||ACK^A01|R1|P|2.4\rMSA|{code}|H1\r")
}

#[test]
fn hl7_over_http_acks_after_commit_nacks_invalid_hl7_with_400_and_judges_remote_acks_by_reply_code_actions() {
    let dir = TempDir::new("iris-hl7-http");
    let epr = FakeHttp::start(free_port(), |_method, path| match path {
        "/hl7/accept" => (200, remote_ack("AA"), Duration::ZERO),
        "/hl7/reject" => (200, remote_ack("AE"), Duration::ZERO),
        _ => (404, "no such endpoint".into(), Duration::ZERO),
    });
    let port = free_port();
    let config = write(
        &dir,
        "production.yaml",
        &format!(
            r#"name: Hl7Http
items:
  - id: PAS_HTTP_In
    class: EnsLib.HL7.Service.HTTPService
    adapter_settings: {{Port: {port}}}
    host_settings: {{TargetConfigNames: "EPR_Out,Strict_Out"}}
  - id: EPR_Out
    class: EnsLib.HL7.Operation.HTTPOperation
    adapter_settings: {{HTTPServer: 127.0.0.1, HTTPPort: {epr}, URL: /hl7/accept}}
  - id: Strict_Out
    class: EnsLib.HL7.Operation.HTTPOperation
    adapter_settings: {{HTTPServer: 127.0.0.1, HTTPPort: {epr}, URL: /hl7/reject}}
"#,
            epr = epr.port
        ),
    );
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let adt = hie_tests::hl7::adt("H1", "M1");

    let r = post(port, "/", "application/hl7-v2", &adt);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Content-Type").as_deref(), Some("application/hl7-v2"));
    let code = hie_tests::hl7::ack_code(&r.body);
    assert!(code == "AA" || code == "CA", "the ACK (an accept) is the response body: {}", r.text());
    assert_eq!(hie_tests::hl7::value(&r.body, "MSA-2"), "H1");
    assert_eq!(engine.get("/api/messages?item=PAS_HTTP_In")["count"], 1, "acknowledged after the commit");

    // The remote AA completes; its AE is an error, which IRIS's default ReplyCodeActions
    // (:?E=S) suspend.
    let ok = messages_to(&engine, "EPR_Out", 1, "EPR_Out Completed", |m| m["status"] == "Completed");
    let shown = engine.get(&format!("/api/messages/{}", ok[0]["id"]));
    assert_eq!(shown["reply"], remote_ack("AA"), "the remote ACK is the reply: {shown}");
    messages_to(&engine, "Strict_Out", 1, "Strict_Out Suspended by :?E=S", |m| m["status"] == "Suspended");
    let posts = epr.received();
    assert_eq!(posts.len(), 2, "one POST each, the AE not retried: {posts:?}");
    for p in &posts {
        assert_eq!((p.method.as_str(), p.body.as_slice()), ("POST", adt.as_slice()), "the message as it came");
        assert!(p.headers.iter().any(|h| h.eq_ignore_ascii_case("Content-Type: application/hl7-v2")), "{p:?}");
    }

    // Not HL7: refused with a NACK in the body, and never a 200.
    let bad = post(port, "/", "text/plain", b"this is not an HL7 message");
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.text().contains("MSA|AR") || bad.text().contains("MSA|AE"), "a NACK: {}", bad.text());
    let errors = engine.get("/api/messages?item=PAS_HTTP_In&status=Error");
    assert_eq!(errors["count"], 1, "recorded in Error, sent nowhere: {errors}");
    assert_eq!(epr.received().len(), 2, "nothing forwarded");
}

// ---- EnsLib.MsgRouter.RoutingEngine --------------------------------------------------

/// An alert rule over `Ens.AlertRequest` properties: refusals of bad HL7 by `ADT_In` page
/// the on-call; every alert is mailed; HL7 bodies are not for this rule.
const ALERT_RULE: &str = r#"/// Alerts by their properties.
Class Trust.Rules.Alerts Extends Ens.Rule.Definition
{

Parameter RuleAssistClass = "EnsLib.MsgRouter.RuleAssist";

XData RuleDefinition [ XMLNamespace = "http://www.intersystems.com/rule" ]
{
<ruleDefinition alias="" context="EnsLib.MsgRouter.RoutingEngine" production="Alerts">
<ruleSet name="" effectiveBegin="" effectiveEnd="">
<rule name="ADT refusals page" disabled="false">
<constraint name="msgClass" value="Ens.AlertRequest"></constraint>
<when condition="(Document.SourceConfigName=&quot;ADT_In&quot;)&amp;&amp;Contains(Document.AlertText,&quot;not a valid HL7&quot;)">
<send transform="" target="PagerAlert"></send>
</when>
</rule>
<rule name="Every alert is mailed" disabled="false">
<constraint name="msgClass" value="Ens.AlertRequest"></constraint>
<when condition="1">
<send transform="" target="EMailAlert"></send>
</when>
</rule>
<rule name="Not for HL7" disabled="false">
<constraint name="msgClass" value="EnsLib.HL7.Message"></constraint>
<when condition="1">
<send transform="" target="Never_Out"></send>
</when>
</rule>
</ruleSet>
</ruleDefinition>
}

}
"#;

#[test]
fn the_generic_router_routes_alerts_by_source_config_name_and_alert_text() {
    let dir = TempDir::new("iris-msgrouter");
    write(&dir, "Trust.Rules.Alerts.cls", ALERT_RULE);
    let (adt_port, lab_port) = (free_port(), free_port());
    let out = |name: &str| dir.join(name).display().to_string();
    let config = write(
        &dir,
        "production.yaml",
        &format!(
            r#"name: Alerts
items:
  - id: ADT_In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {adt_port}}}
    host_settings: {{AlertOnError: 1}}
  - id: LAB_In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {lab_port}}}
    host_settings: {{AlertOnError: 1}}
  - id: Ens.Alert
    class: EnsLib.MsgRouter.RoutingEngine
    host_settings: {{BusinessRuleName: Trust.Rules.Alerts}}
  - id: PagerAlert
    class: EnsLib.File.PassthroughOperation
    adapter_settings: {{FilePath: {}}}
  - id: EMailAlert
    class: EnsLib.File.PassthroughOperation
    adapter_settings: {{FilePath: {}}}
  - id: Never_Out
    class: EnsLib.File.PassthroughOperation
    adapter_settings: {{FilePath: {}}}
"#,
            out("pager"),
            out("mail"),
            out("never")
        ),
    );
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    for port in [adt_port, lab_port] {
        let mut client = Client::connect_retry(port);
        let nack = client.send(b"this is not an HL7 message").expect("the service answers");
        let nack = String::from_utf8_lossy(&nack).into_owned();
        assert!(nack.contains("MSA|AR") || nack.contains("MSA|AE"), "a NACK: {nack}");
    }

    let routed = messages_to(&engine, "Ens.Alert", 2, "both alerts routed", |m| m["status"] == "Completed");
    assert_eq!(routed.len(), 2, "{routed:?}");
    let mailed = messages_to(&engine, "EMailAlert", 2, "both alerts mailed", |m| m["status"] == "Completed");
    assert_eq!(mailed.len(), 2, "every alert is mailed");
    let paged = messages_to(&engine, "PagerAlert", 1, "the ADT alert paged", |m| m["status"] == "Completed");
    assert_eq!(paged.len(), 1, "only ADT_In's alert pages: {paged:?}");
    let page = engine.get(&format!("/api/messages/{}", paged[0]["id"]));
    let alert: Value = serde_json::from_str(page["body"].as_str().unwrap_or("")).expect("the alert as JSON");
    assert_eq!(alert["SourceConfigName"], "ADT_In", "{alert}");
    assert_eq!(engine.get("/api/messages?item=Never_Out")["count"], 0, "the HL7-only rule never fired");
}

// ---- hie validate --------------------------------------------------------------------

#[test]
fn validate_says_not_available_in_hie_for_gateway_workflow_and_bpl_classes_and_custom_for_the_rest() {
    let dir = TempDir::new("iris-unavailable");
    write(
        &dir,
        "Trust.ADT.Process.cls",
        "/// A BPL.\nClass Trust.ADT.Process Extends Ens.BusinessProcessBPL [ ClassType = persistent ]\n{\n}\n",
    );
    let config = write(
        &dir,
        "production.yaml",
        r#"name: Unavailable
items:
  - id: JavaGateway
    class: EnsLib.JavaGateway.Service
  - id: Tasks
    class: EnsLib.Workflow.Operation
  - id: ADT_Process
    class: Trust.ADT.Process
  - id: Custom
    class: Acme.Custom
"#,
    );
    let (code, out, err) = run_hie(&["validate", config.to_str().expect("path")]);
    let said = format!("{out}{err}");
    assert_ne!(code, 0, "unrunnable classes are errors:\n{said}");
    let line = |item: &str| {
        said.lines().find(|l| l.contains(item) && l.contains("class")).unwrap_or_else(|| panic!("{item}:\n{said}"))
    };
    assert!(
        line("JavaGateway").contains("not available in HIE") && line("JavaGateway").contains("Java gateway"),
        "{said}"
    );
    assert!(line("EnsLib.Workflow.Operation").contains("not available in HIE"), "{said}");
    let bpl = line("Trust.ADT.Process");
    assert!(bpl.contains("not available in HIE") && bpl.contains("extends Ens.BusinessProcessBPL"), "{said}");
    let custom = line("Acme.Custom");
    assert!(custom.contains("custom class") && !custom.contains("not available"), "{said}");
}
