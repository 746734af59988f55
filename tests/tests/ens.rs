//! The `hie-pack-ens` classes end to end: alert e-mail through `Ens.Alert` to a real SMTP
//! server (aiosmtpd: plain, STARTTLS with AUTH, implicit TLS), file passthrough of a
//! binary file, and the generic HTTP operation.
//!
//! The SMTP tests need Python's aiosmtpd (`python3 -m pip install aiosmtpd`); without it
//! they say SKIPPED on stderr and pass.

use hie_tests::engine::Engine;
use hie_tests::http::FakeHttp;
use hie_tests::mllp::Client;
use hie_tests::tls::TestPki;
use hie_tests::{TempDir, finished_files, free_port, wait_for};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// An SMTP server for tests: aiosmtpd, writing each mail it accepts as JSON (envelope,
/// TLS, AUTH user, decoded headers and body). Recipients starting with `refuse` get 550.
const SMTP_SERVER: &str = r#"
import email, email.policy, json, os, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

mode, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = None
if mode in ("starttls", "implicit"):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        transport = server.transport
        tls = session.ssl is not None or (transport is not None and transport.get_extra_info("ssl_object") is not None)
        user = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": tls,
            "auth_user": user,
            "headers": {k: str(v) for k, v in msg.items()},
            "body": msg.get_content(),
        }
        name = "%d" % time.time_ns()
        tmp = os.path.join(outdir, "." + name)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(outdir, name + ".json"))
        return "250 2.0.0 Message accepted"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"hie" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False, auth_data=auth_data)

kwargs = {}
if mode == "starttls":
    kwargs = dict(tls_context=ctx, require_starttls=True, authenticator=authenticator, auth_required=True)
elif mode == "implicit":
    kwargs = dict(ssl_context=ctx)
controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#;

/// Whether aiosmtpd is importable; says SKIPPED loudly when it is not.
fn aiosmtpd(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED {test}: `python3 -c 'import aiosmtpd'` fails; install it with `python3 -m pip install aiosmtpd`"
        );
    }
    ok
}

/// A running aiosmtpd on 127.0.0.1.
struct Smtp {
    child: Child,
    mails: PathBuf,
}

impl Smtp {
    /// Starts one in `mode` (`plain`, `starttls`: STARTTLS and AUTH hie/s3cret required,
    /// `implicit`: TLS from the first byte) on `port`, presenting `pki`'s certificate.
    fn start(dir: &TempDir, port: u16, mode: &str, pki: Option<&TestPki>) -> Smtp {
        let script = dir.join("smtp_server.py");
        std::fs::write(&script, SMTP_SERVER).expect("write the SMTP server script");
        let mails = dir.join(&format!("mails-{port}"));
        std::fs::create_dir_all(&mails).expect("mail dir");
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg(mode).arg(port.to_string()).arg(&mails);
        if let Some(pki) = pki {
            let (crt, key) = (dir.join("smtp-server.crt"), dir.join("smtp-server.key"));
            std::fs::write(&crt, &pki.server_pem).expect("crt");
            std::fs::write(&key, &pki.server_key_pem).expect("key");
            cmd.arg(&crt).arg(&key);
        }
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start aiosmtpd");
        let stdout = child.stdout.take().expect("aiosmtpd stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(T) {
            Ok(line) if line.trim() == "ready" => {}
            other => {
                let _ = child.kill();
                panic!("aiosmtpd did not start on port {port} ({mode}): {other:?}");
            }
        }
        Smtp { child, mails }
    }

    /// The mails received so far, oldest first.
    fn mails(&self) -> Vec<Value> {
        let mut files = finished_files(&self.mails).unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect()
    }

    /// Waits for at least `n` mails.
    fn wait_mails(&self, n: usize) -> Vec<Value> {
        wait_for(T, &format!("{n} mail(s) at the SMTP server"), || {
            let m = self.mails();
            (m.len() >= n).then_some(m)
        })
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A production: `ADT_In` (MLLP, AlertOnError) whose errors go to `Ens.Alert`, an
/// EnsLib.EMail.AlertOperation with `adapter` and `host` settings (YAML flow maps).
fn alert_production(dir: &TempDir, in_port: u16, adapter: &str, host: &str) -> PathBuf {
    alert_production_in(dir, in_port, "async", adapter, host)
}

/// [`alert_production`] with `Ens.Alert` in execution mode `mode`.
fn alert_production_in(dir: &TempDir, in_port: u16, mode: &str, adapter: &str, host: &str) -> PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Alerts
items:
  - id: ADT_In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{AlertOnError: 1}}
  - id: Ens.Alert
    class: EnsLib.EMail.AlertOperation
    execution_mode: {mode}
    adapter_settings: {{{adapter}}}
    host_settings: {{{host}}}
"#
        ),
    )
    .expect("production");
    config
}

/// Makes `ADT_In` raise an error alert: it refuses a frame that is not HL7.
fn raise_alert(in_port: u16) {
    let mut client = Client::connect_retry(in_port);
    let nack = client.send(b"this is not an HL7 message").expect("the service answers");
    assert!(String::from_utf8_lossy(&nack).contains("MSA|AE"), "{}", String::from_utf8_lossy(&nack));
}

/// The messages addressed to `item`, newest first, once there are `n`.
fn messages_to(engine: &Engine, item: &str, n: usize, what: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    wait_for(T, what, || {
        let found = engine.get(&format!("/api/messages?item={item}&limit=100"));
        let list = found["messages"].as_array().cloned().unwrap_or_default();
        (list.len() >= n && list.iter().all(&done)).then_some(list)
    })
}

fn header<'a>(mail: &'a Value, name: &str) -> &'a str {
    mail["headers"][name].as_str().unwrap_or_else(|| panic!("no {name} header in {mail}"))
}

#[test]
fn alert_on_error_mails_the_alert_through_ens_alert_with_iris_settings() {
    if !aiosmtpd("alert_on_error_mails_the_alert_through_ens_alert_with_iris_settings") {
        return;
    }
    let dir = TempDir::new("ens-alert-mail");
    let (in_port, smtp_port) = (free_port(), free_port());
    let smtp = Smtp::start(&dir, smtp_port, "plain", None);
    let config = alert_production(
        &dir,
        in_port,
        &format!(
            "SMTPServer: 127.0.0.1, SMTPPort: {smtp_port}, From: 'HIE <hie@trust.example>', \
             Recipient: 'ops@trust.example; On Call <oncall@trust.example>', Cc: lead@trust.example, \
             Bcc: audit@trust.example"
        ),
        "SubjectPrefix: '[Trust HIE]', IncludeDetails: 1, IncludeNodeinSubject: 1, SystemName: hie-test",
    );
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    raise_alert(in_port);

    let mails = smtp.wait_mails(1);
    let mail = &mails[0];
    assert_eq!(mail["mail_from"], "hie@trust.example", "{mail}");
    let mut rcpts: Vec<&str> = mail["rcpt_tos"].as_array().unwrap().iter().filter_map(|r| r.as_str()).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["audit@trust.example", "lead@trust.example", "oncall@trust.example", "ops@trust.example"]);
    assert_eq!(header(mail, "From"), "HIE <hie@trust.example>");
    assert_eq!(header(mail, "To"), "ops@trust.example, On Call <oncall@trust.example>");
    assert_eq!(header(mail, "Cc"), "lead@trust.example");
    assert!(mail["headers"].get("Bcc").is_none(), "Bcc is not shown: {mail}");
    assert_eq!(header(mail, "Subject"), "[Trust HIE] HIE alert from hie-test:ADT_In");
    assert_eq!(mail["tls"], false);
    let body = mail["body"].as_str().unwrap();
    assert!(body.starts_with("1 message(s) ended in Error: not a valid HL7 v2 message"), "{body}");
    for line in ["Source:      ADT_In", "Alert kind:  error", "System:      hie-test", "Alert time:  20"] {
        assert!(body.contains(line), "{line:?} in {body}");
    }
    assert!(body.contains(" (UTC 20"), "IncludeUTCTimes defaults to 1: {body}");

    let sent = messages_to(&engine, "Ens.Alert", 1, "the alert Completed", |m| m["status"] == "Completed");
    assert_eq!(sent[0]["source"], "ADT_In");
    assert_eq!(smtp.mails().len(), 1, "one alert, one mail");
}

#[test]
fn starttls_with_a_trailing_star_and_credentials_from_a_file_reach_a_server_that_requires_both() {
    if !aiosmtpd("starttls_with_a_trailing_star_and_credentials_from_a_file_reach_a_server_that_requires_both") {
        return;
    }
    let dir = TempDir::new("ens-alert-starttls");
    let (in_port, smtp_port) = (free_port(), free_port());
    let pki = TestPki::new();
    // The configuration `relay` trusts the test CA: tls/relay.ca beside the production.
    pki.write_client_config(&dir.join("tls"), "relay");
    let creds = dir.join("smtp.credentials");
    std::fs::write(&creds, "hie:s3cret\n").expect("credentials");
    let smtp = Smtp::start(&dir, smtp_port, "starttls", Some(&pki));
    let config = alert_production(
        &dir,
        in_port,
        &format!(
            "SMTPServer: 127.0.0.1, SMTPPort: {smtp_port}, SSLConfig: 'relay*', Credentials: '{}', \
             From: hie@trust.example, Recipient: ops@trust.example",
            creds.display()
        ),
        "SubjectPrefix: '[Trust HIE]'",
    );
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    raise_alert(in_port);
    let mails = smtp.wait_mails(1);
    assert_eq!(mails[0]["tls"], true, "upgraded with STARTTLS: {}", mails[0]);
    assert_eq!(mails[0]["auth_user"], "hie", "{}", mails[0]);
    assert_eq!(header(&mails[0], "Subject"), "[Trust HIE] HIE alert from ADT_In");
    let body = mails[0]["body"].as_str().unwrap();
    assert!(!body.contains("Source:"), "IncludeDetails defaults to 0: {body}");
}

#[test]
fn ssl_config_without_a_star_speaks_tls_from_the_first_byte_also_from_a_worker_process() {
    if !aiosmtpd("ssl_config_without_a_star_speaks_tls_from_the_first_byte_also_from_a_worker_process") {
        return;
    }
    let dir = TempDir::new("ens-alert-smtps");
    let (in_port, smtp_port) = (free_port(), free_port());
    let pki = TestPki::new();
    pki.write_client_config(&dir.join("certs"), "smtps");
    let smtp = Smtp::start(&dir, smtp_port, "implicit", Some(&pki));
    // In multi_process mode the adapter runs in the worker, and finds certs/ all the same.
    let config = alert_production_in(
        &dir,
        in_port,
        "multi_process",
        &format!(
            "SMTPServer: 127.0.0.1, SMTPPort: {smtp_port}, SSLConfig: smtps, TLSDir: certs, \
             From: hie@trust.example, Recipient: ops@trust.example"
        ),
        "",
    );
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    raise_alert(in_port);
    let mails = smtp.wait_mails(1);
    assert_eq!(mails[0]["tls"], true, "{}", mails[0]);
    assert_eq!(header(&mails[0], "Subject"), "HIE alert from ADT_In");
}

#[test]
fn an_alert_raised_while_the_smtp_server_is_down_is_retried_until_it_comes_back() {
    if !aiosmtpd("an_alert_raised_while_the_smtp_server_is_down_is_retried_until_it_comes_back") {
        return;
    }
    let dir = TempDir::new("ens-alert-retry");
    let (in_port, smtp_port) = (free_port(), free_port());
    let config = alert_production(
        &dir,
        in_port,
        &format!("SMTPServer: 127.0.0.1, SMTPPort: {smtp_port}, From: hie@trust.example, Recipient: ops@trust.example"),
        "RetryInterval: 1, FailureTimeout: 60",
    );
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    raise_alert(in_port);
    // Nobody listens yet: the alert waits in retry, not in Error.
    std::thread::sleep(Duration::from_secs(2));
    let waiting = engine.get("/api/messages?item=Ens.Alert");
    assert_ne!(waiting["messages"][0]["status"], "Error", "{waiting}");
    let smtp = Smtp::start(&dir, smtp_port, "plain", None);
    smtp.wait_mails(1);
    messages_to(&engine, "Ens.Alert", 1, "the alert Completed after retries", |m| m["status"] == "Completed");
}

#[test]
fn a_refused_recipient_is_skipped_and_a_refusal_of_every_recipient_fails_the_alert_without_retry() {
    if !aiosmtpd("a_refused_recipient_is_skipped_and_a_refusal_of_every_recipient_fails_the_alert_without_retry") {
        return;
    }
    // ContinueAfterBadSend (default 1): the other recipient still gets the mail.
    let dir = TempDir::new("ens-alert-refused");
    let (in_port, smtp_port) = (free_port(), free_port());
    let smtp = Smtp::start(&dir, smtp_port, "plain", None);
    let config = alert_production(
        &dir,
        in_port,
        &format!(
            "SMTPServer: 127.0.0.1, SMTPPort: {smtp_port}, From: hie@trust.example, \
             Recipient: 'refused@trust.example, ops@trust.example'"
        ),
        "",
    );
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    raise_alert(in_port);
    let mails = smtp.wait_mails(1);
    assert_eq!(mails[0]["rcpt_tos"], serde_json::json!(["ops@trust.example"]));
    messages_to(&engine, "Ens.Alert", 1, "the alert Completed", |m| m["status"] == "Completed");
    drop(engine);

    // Every recipient refused (550): a permanent failure, Error at once (RetryInterval 5,
    // FailureTimeout 15 would keep a retried alert waiting far longer).
    let dir = TempDir::new("ens-alert-refused-all");
    let in_port = free_port();
    let config = alert_production(
        &dir,
        in_port,
        &format!(
            "SMTPServer: 127.0.0.1, SMTPPort: {smtp_port}, From: hie@trust.example, Recipient: refused@trust.example"
        ),
        "",
    );
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let start = Instant::now();
    raise_alert(in_port);
    messages_to(&engine, "Ens.Alert", 1, "the refused alert in Error", |m| m["status"] == "Error");
    assert!(start.elapsed() < Duration::from_secs(5), "failed without retrying: {:?}", start.elapsed());
    assert_eq!(smtp.mails().len(), 1, "no second mail");
}

// ---- files ---------------------------------------------------------------------------

/// A PDF-like blob with bytes an HL7 splitter would act on (MSH segments, MLLP framing
/// bytes, CR and NUL).
fn binary_blob() -> Vec<u8> {
    let mut blob = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n".to_vec();
    blob.extend_from_slice(b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X1|P|2.4\rPID|1\r\x0bMSH|^~\\&|\x1c\r");
    blob.extend((0..=255u8).cycle().take(70_000));
    blob.extend_from_slice(b"\n%%EOF\n");
    blob
}

/// Drops `bytes` into `dir` as `name`, written under a hidden name first.
fn drop_file(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("in dir");
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

#[test]
fn passthrough_moves_a_binary_file_and_an_hl7_batch_file_whole_and_byte_for_byte() {
    let dir = TempDir::new("ens-passthrough");
    let (inbox, outbox) = (dir.join("in"), dir.join("out"));
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Passthrough
items:
  - id: Files_In
    class: EnsLib.File.PassthroughService
    adapter_settings: {{FilePath: {}, CallInterval: 0.2}}
    host_settings: {{TargetConfigNames: Files_Out}}
  - id: Files_Out
    class: EnsLib.File.PassthroughOperation
    adapter_settings: {{FilePath: {}}}
"#,
            inbox.display(),
            outbox.display()
        ),
    )
    .expect("production");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let blob = binary_blob();
    let two_messages = [hie_tests::hl7::adt("F1", "M1"), hie_tests::hl7::oru("F2", "M2")].concat();
    drop_file(&inbox, "report.pdf", &blob);
    drop_file(&inbox, "two.hl7", &two_messages);

    let out = wait_for(T, "two files written", || {
        let files = finished_files(&outbox)?;
        (files.len() == 2).then_some(files)
    });
    let named = |prefix: &str| {
        out.iter().find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix)).cloned().expect(prefix)
    };
    let pdf = named("report.pdf_");
    assert_eq!(std::fs::read(&pdf).unwrap(), blob, "{} holds the bytes as they were", pdf.display());
    // `%f_%Q`: the source name, then IRIS's timestamp.
    let stamp = pdf.file_name().unwrap().to_string_lossy().trim_start_matches("report.pdf_").to_string();
    assert_eq!(stamp.len(), "2026-01-01_12.00.00.000".len(), "{stamp}");
    assert_eq!(std::fs::read(named("two.hl7_")).unwrap(), two_messages, "one message for the whole HL7 file");
    wait_for(T, "the inbox emptied", || (finished_files(&inbox)?.is_empty()).then_some(()));
    let sent = engine.get("/api/messages?item=Files_Out");
    assert_eq!(sent["count"], 2, "two files, two messages: {sent}");
}

// ---- HTTP ----------------------------------------------------------------------------

#[test]
fn the_generic_http_operation_posts_the_body_replies_with_the_response_retries_5xx_and_fails_4xx() {
    let dir = TempDir::new("ens-http");
    let (inbox, inbox_bad) = (dir.join("in"), dir.join("in-bad"));
    let busy = Arc::new(AtomicUsize::new(0));
    let b = busy.clone();
    let http = FakeHttp::start(free_port(), move |_method, path| match path {
        // The first two calls find the service busy.
        "/fhir/Bundle" if b.fetch_add(1, Ordering::SeqCst) < 2 => (503, "busy".into(), Duration::ZERO),
        "/fhir/Bundle" => (200, r#"{"resourceType":"OperationOutcome"}"#.into(), Duration::ZERO),
        _ => (404, "no such endpoint".into(), Duration::ZERO),
    });
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Http
items:
  - id: Files_In
    class: EnsLib.File.PassthroughService
    adapter_settings: {{FilePath: {}, CallInterval: 0.2}}
    host_settings: {{TargetConfigNames: FHIR_Out}}
  - id: Bad_In
    class: EnsLib.File.PassthroughService
    adapter_settings: {{FilePath: {}, CallInterval: 0.2}}
    host_settings: {{TargetConfigNames: Wrong_Out}}
  - id: FHIR_Out
    class: EnsLib.HTTP.GenericOperation
    adapter_settings: {{HTTPServer: 127.0.0.1, HTTPPort: {port}, URL: /fhir/Bundle}}
    host_settings: {{RetryInterval: 1, ContentType: application/fhir+json}}
  - id: Wrong_Out
    class: EnsLib.HTTP.GenericOperation
    adapter_settings: {{HTTPServer: 127.0.0.1, HTTPPort: {port}, URL: /nowhere}}
    host_settings: {{RetryInterval: 1}}
"#,
            inbox.display(),
            inbox_bad.display(),
            port = http.port
        ),
    )
    .expect("production");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let bundle = br#"{"resourceType":"Bundle","type":"transaction","entry":[]}"#;
    drop_file(&inbox, "bundle.json", bundle);

    let done = messages_to(&engine, "FHIR_Out", 1, "the bundle Completed", |m| m["status"] == "Completed");
    let shown = engine.get(&format!("/api/messages/{}", done[0]["id"]));
    assert_eq!(shown["reply"], r#"{"resourceType":"OperationOutcome"}"#, "the reply is the response body: {shown}");
    let posts: Vec<_> = http.received().into_iter().filter(|r| r.path == "/fhir/Bundle").collect();
    assert_eq!(posts.len(), 3, "two 503s retried, then 200");
    for p in &posts {
        assert_eq!((p.method.as_str(), p.body.as_slice()), ("POST", &bundle[..]));
        assert!(p.headers.iter().any(|h| h.eq_ignore_ascii_case("Content-Type: application/fhir+json")), "{p:?}");
    }

    drop_file(&inbox_bad, "bundle.json", bundle);
    messages_to(&engine, "Wrong_Out", 1, "the 404 in Error", |m| m["status"] == "Error");
    std::thread::sleep(Duration::from_millis(2500));
    let wrong = http.received().into_iter().filter(|r| r.path == "/nowhere").count();
    assert_eq!(wrong, 1, "a 4xx is not retried");
}
