//! The FTP classes end to end against a real FTP server (pyftpdlib, plain FTP and FTPS
//! with TLS required on control and data): `EnsLib.HL7.Service.FTPService` →
//! `EnsLib.HL7.Operation.FTPOperation`, and `EnsLib.FTP.PassthroughService` →
//! `EnsLib.FTP.PassthroughOperation`; and what `hie validate` says of FTP settings.
//!
//! The server tests need Python's pyftpdlib (and pyopenssl for FTPS), installed by
//! tests/setup.sh; without them they say SKIPPED on stderr and pass.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::tls::TestPki;
use hie_tests::{TempDir, free_port, wait_for};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// An FTP server for tests: pyftpdlib serving ROOT to user hie / s3cret with every
/// permission; with a certificate and key, FTPS (AUTH TLS) required on control and data.
const FTP_SERVER: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.servers import FTPServer

port, root = int(sys.argv[1]), sys.argv[2]
if len(sys.argv) > 4:
    from pyftpdlib.handlers import TLS_FTPHandler as Handler
    Handler.certfile, Handler.keyfile = sys.argv[3], sys.argv[4]
    Handler.tls_control_required = True
    Handler.tls_data_required = True
else:
    from pyftpdlib.handlers import FTPHandler as Handler
auth = DummyAuthorizer()
auth.add_user("hie", "s3cret", root, perm="elradfmwMT")
Handler.authorizer = auth
Handler.passive_ports = range(port + 1, port + 40)
server = FTPServer(("127.0.0.1", port), Handler)
print("ready", flush=True)
server.serve_forever()
"#;

/// Whether `modules` import; says SKIPPED loudly when they do not.
fn python_has(test: &str, modules: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED {test}: `python3 -c 'import {modules}'` fails; run tests/setup.sh (pyftpdlib, pyopenssl)");
    }
    ok
}

/// A running pyftpdlib on 127.0.0.1 serving `root`.
struct Ftp {
    child: Child,
    port: u16,
    root: PathBuf,
}

impl Ftp {
    /// Starts one; with `pki`, FTPS only, presenting its server certificate.
    fn start(dir: &TempDir, pki: Option<&TestPki>) -> Ftp {
        let script = dir.join("ftp_server.py");
        std::fs::write(&script, FTP_SERVER).expect("write the FTP server script");
        let root = dir.join("ftp-root");
        for sub in ["in", "out", "archive"] {
            std::fs::create_dir_all(root.join(sub)).expect("ftp dirs");
        }
        // The passive range follows the port: take a port with room above it.
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg(port.to_string()).arg(&root);
        if let Some(pki) = pki {
            let (crt, key) = (dir.join("ftp-server.crt"), dir.join("ftp-server.key"));
            std::fs::write(&crt, &pki.server_pem).expect("crt");
            std::fs::write(&key, &pki.server_key_pem).expect("key");
            cmd.arg(&crt).arg(&key);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start pyftpdlib");
        let stdout = child.stdout.take().expect("pyftpdlib stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == "ready" {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(T).expect("pyftpdlib says ready");
        Ftp { child, port, root }
    }
}

impl Drop for Ftp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The plain files in `dir` (names not starting with `.`), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    v.retain(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
    v.sort();
    v
}

/// Drops `bytes` into `dir` as `name`, written under a hidden name first.
fn drop_file(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

#[test]
fn the_ftp_service_takes_hl7_files_from_the_server_and_the_ftp_operation_writes_clean_hl7_back() {
    if !python_has("the_ftp_service_takes_hl7_files...", "pyftpdlib") {
        return;
    }
    let dir = TempDir::new("ftp-hl7");
    let ftp = Ftp::start(&dir, None);
    let creds = dir.join("ftp.creds");
    std::fs::write(&creds, "hie:s3cret\n").expect("credentials file");
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: FtpHl7
items:
  - id: PAS_FTP_In
    class: EnsLib.HL7.Service.FTPService
    adapter_settings: {{FTPServer: 127.0.0.1, FTPPort: {port}, Credentials: {creds}, FilePath: /in, FileSpec: "*.hl7", ArchivePath: /archive, CallInterval: 0.2}}
    host_settings: {{TargetConfigNames: EPR_FTP_Out}}
  - id: EPR_FTP_Out
    class: EnsLib.HL7.Operation.FTPOperation
    adapter_settings: {{FTPServer: 127.0.0.1, FTPPort: {port}, Credentials: "hie:s3cret", FilePath: /out}}
    host_settings: {{Filename: "%f_%Q.hl7"}}
"#,
            port = ftp.port,
            creds = creds.display()
        ),
    )
    .expect("production");
    let (code, out, _) = run_hie(&["validate", config.to_str().expect("path")]);
    assert_eq!(code, 0, "validates: {out}");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    // Two messages in one file, written with LF and a BOM as some PAS exports do; and a
    // file the FileSpec does not match, which stays.
    let lf = |m: Vec<u8>| String::from_utf8(m).expect("utf8").replace('\r', "\n");
    let two = format!("\u{feff}{}{}", lf(hie_tests::hl7::adt("FTP1", "M1")), lf(hie_tests::hl7::adt("FTP2", "M2")));
    drop_file(&ftp.root.join("in"), "adt.hl7", two.as_bytes());
    drop_file(&ftp.root.join("in"), "notes.txt", b"not for HIE");

    let written = wait_for(T, "two files on the server's /out", || {
        let f = files(&ftp.root.join("out"));
        (f.len() == 2).then_some(f)
    });
    let bodies: Vec<Vec<u8>> = written.iter().map(|p| std::fs::read(p).expect("read")).collect();
    for (path, body) in written.iter().zip(&bodies) {
        let name = path.file_name().expect("name").to_string_lossy().to_string();
        assert!(name.starts_with("adt.hl7_") && name.ends_with(".hl7"), "%f_%Q.hl7: {name}");
        assert!(body.starts_with(b"MSH|^~\\&|PAS|"), "no BOM on output: {:?}", String::from_utf8_lossy(body));
        assert!(!body.contains(&b'\n'), "CR segment terminators only: {:?}", String::from_utf8_lossy(body));
    }
    let ids: Vec<String> = bodies.iter().map(|b| hie_tests::hl7::control_id(b)).collect();
    assert!(ids.contains(&"FTP1".to_string()) && ids.contains(&"FTP2".to_string()), "{ids:?}");
    // The source file is archived only after both messages were committed; the other stays.
    wait_for(T, "adt.hl7 moved to /archive", || (files(&ftp.root.join("archive")).len() == 1).then_some(()));
    assert!(files(&ftp.root.join("in")).iter().all(|p| p.ends_with("notes.txt")));
    assert_eq!(
        std::fs::read(ftp.root.join("archive/adt.hl7")).expect("archived"),
        two.as_bytes(),
        "archived as it was"
    );
    let stored = engine.get("/api/messages?item=PAS_FTP_In");
    assert_eq!(stored["count"], 2, "{stored}");
    // The API shows an item's settings with their sources, never a password.
    let settings = engine.get("/api/items/EPR_FTP_Out/settings");
    assert!(!settings.to_string().contains("s3cret"), "{settings}");
    let credentials = settings["settings"].as_array().into_iter().flatten().find(|s| s["setting"] == "Credentials");
    assert_eq!(credentials.map(|c| c["value"].clone()), Some(serde_json::json!("***")), "{settings}");
}

#[test]
fn ftps_passthrough_moves_a_binary_file_byte_for_byte_over_tls_on_control_and_data() {
    if !python_has("ftps_passthrough_moves_a_binary_file...", "pyftpdlib, OpenSSL") {
        return;
    }
    let dir = TempDir::new("ftps-passthrough");
    let pki = TestPki::new();
    let ftp = Ftp::start(&dir, Some(&pki));
    pki.write_client_config(&dir.join("tls"), "ftps");
    let config = dir.join("production.yaml");
    let server = |path: &str| {
        format!(
            "FTPServer: 127.0.0.1, FTPPort: {}, Protocol: FTPS, SSLConfig: ftps, Credentials: \"hie:s3cret\", FilePath: {path}",
            ftp.port
        )
    };
    std::fs::write(
        &config,
        format!(
            r#"name: FtpsPassthrough
items:
  - id: Docs_In
    class: EnsLib.FTP.PassthroughService
    adapter_settings: {{{inbound}, CallInterval: 0.2}}
    host_settings: {{TargetConfigNames: Docs_Out}}
  - id: Docs_Out
    class: EnsLib.FTP.PassthroughOperation
    adapter_settings: {{{outbound}}}
"#,
            inbound = server("/in"),
            outbound = server("/out")
        ),
    )
    .expect("production");
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut blob = b"%PDF-1.7\nMSH|^~\\&|A|B\r\x0b\x1c\r\n".to_vec();
    blob.extend((0..=255u8).cycle().take(200_000));
    drop_file(&ftp.root.join("in"), "report.pdf", &blob);
    let written = wait_for(T, "the file on the server's /out", || {
        let f = files(&ftp.root.join("out"));
        (f.len() == 1).then_some(f)
    });
    let got = std::fs::read(&written[0]).expect("read");
    assert!(got == blob, "byte for byte: {} bytes written of {}", got.len(), blob.len());
    let name = written[0].file_name().expect("name").to_string_lossy().to_string();
    assert!(name.starts_with("report.pdf_"), "%f_%Q: {name}");
    wait_for(T, "the source deleted", || files(&ftp.root.join("in")).is_empty().then_some(()));
}

#[test]
fn an_ftps_server_whose_certificate_is_not_trusted_gets_no_file_and_loses_none() {
    if !python_has("an_ftps_server_whose_certificate_is_not_trusted...", "pyftpdlib, OpenSSL") {
        return;
    }
    let dir = TempDir::new("ftps-untrusted");
    let ftp = Ftp::start(&dir, Some(&TestPki::new()));
    // The operation trusts another CA.
    TestPki::new().write_client_config(&dir.join("tls"), "other");
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: FtpsUntrusted
items:
  - id: Docs_In
    class: EnsLib.FTP.PassthroughService
    adapter_settings: {{FTPServer: 127.0.0.1, FTPPort: {}, Protocol: FTPS, SSLConfig: other, Credentials: "hie:s3cret", FilePath: /in, CallInterval: 0.2}}
"#,
            ftp.port
        ),
    )
    .expect("production");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    drop_file(&ftp.root.join("in"), "a.bin", b"kept");
    wait_for(T, "the TLS failure logged", || engine.log_text().contains("FTP poll failed").then_some(()));
    assert_eq!(files(&ftp.root.join("in")).len(), 1, "the file stays on the server");
    assert_eq!(engine.get("/api/messages?item=Docs_In")["count"], 0);
}

#[test]
fn validate_names_the_setting_an_ftp_item_lacks_or_gets_wrong() {
    let dir = TempDir::new("ftp-validate");
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        r#"name: FtpValidate
items:
  - id: NoServer
    class: EnsLib.HL7.Service.FTPService
    adapter_settings: {FilePath: /in}
  - id: SftpUnpinned
    class: EnsLib.HL7.Service.FTPService
    adapter_settings: {FTPServer: sftp.trust.nhs.uk, Protocol: SFTP, Credentials: "hie:pw"}
  - id: FtpsNoTls
    class: EnsLib.HL7.Operation.FTPOperation
    adapter_settings: {FTPServer: ftp.trust.nhs.uk, Protocol: FTPS}
  - id: BadProtocol
    class: EnsLib.FTP.PassthroughOperation
    adapter_settings: {FTPServer: ftp.trust.nhs.uk, Protocol: SCP}
  - id: StoreName
    class: EnsLib.FTP.PassthroughOperation
    adapter_settings: {FTPServer: ftp.trust.nhs.uk, Credentials: PACSCreds}
"#,
    )
    .expect("production");
    let (code, out, _) = run_hie(&["validate", config.to_str().expect("path")]);
    assert_ne!(code, 0, "{out}");
    let has = |item: &str, setting: &str, text: &str| {
        out.lines().any(|l| {
            l.contains("error")
                && l.contains(&format!("item '{item}'"))
                && l.contains(&format!("setting '{setting}'"))
                && l.contains(text)
        })
    };
    assert!(has("NoServer", "FTPServer", "required"), "{out}");
    assert!(has("SftpUnpinned", "SFTPKnownHosts", "host key"), "{out}");
    assert!(has("FtpsNoTls", "SSLConfig", "FTPS"), "{out}");
    assert!(has("BadProtocol", "Protocol", "SCP"), "{out}");
    assert!(has("StoreName", "Credentials", "no credentials store"), "{out}");
    assert!(!out.contains("not available in HIE"), "the FTP classes exist now: {out}");
}

/// A running SFTP server (tests/fixtures/sftp_server.py: asyncssh, user hie / s3cret)
/// serving `root`, and a known_hosts file pinning its host key.
struct Sftp {
    child: Child,
    port: u16,
    root: PathBuf,
    known_hosts: PathBuf,
}

impl Sftp {
    fn start(dir: &TempDir) -> Sftp {
        let script = hie_tests::workspace_root().join("tests/fixtures/sftp_server.py");
        let root = dir.join("sftp-root");
        for sub in ["in", "out"] {
            std::fs::create_dir_all(root.join(sub)).expect("sftp dirs");
        }
        let mut child = Command::new("python3")
            .arg(&script)
            .arg("0")
            .arg(&root)
            .arg(dir.join("sftp-host-key"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the SFTP server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut key, mut port) = (String::new(), 0u16);
        while port == 0 {
            let line = rx.recv_timeout(T).expect("the SFTP server says key and ready");
            if let Some(k) = line.strip_prefix("key ") {
                key = k.trim().to_string();
            } else if let Some(p) = line.strip_prefix("ready ") {
                port = p.trim().parse().expect("port");
            }
        }
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {key}\n")).expect("known_hosts");
        Sftp { child, port, root, known_hosts }
    }
}

impl Drop for Sftp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sftp_service_and_operation_move_hl7_over_ssh_with_the_host_key_pinned() {
    if !python_has("sftp_service_and_operation_move_hl7_over_ssh...", "asyncssh") {
        return;
    }
    let dir = TempDir::new("sftp-hl7");
    let sftp = Sftp::start(&dir);
    let server = |path: &str| {
        format!(
            "FTPServer: 127.0.0.1, FTPPort: {}, Protocol: SFTP, SFTPKnownHosts: {}, Credentials: \"hie:s3cret\", FilePath: {path}",
            sftp.port,
            sftp.known_hosts.display()
        )
    };
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: SftpHl7
items:
  - id: Lab_SFTP_In
    class: EnsLib.HL7.Service.FTPService
    adapter_settings: {{{inbound}, CallInterval: 0.2}}
    host_settings: {{TargetConfigNames: EPR_SFTP_Out}}
  - id: EPR_SFTP_Out
    class: EnsLib.HL7.Operation.FTPOperation
    adapter_settings: {{{outbound}}}
    host_settings: {{Filename: "%f"}}
"#,
            inbound = server("/in"),
            outbound = server("/out")
        ),
    )
    .expect("production");
    let (code, out, _) = run_hie(&["validate", config.to_str().expect("path")]);
    assert_eq!(code, 0, "validates: {out}");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let msg = hie_tests::hl7::oru("SFTP1", "M9");
    drop_file(&sftp.root.join("in"), "oru.hl7", &msg);
    let written = wait_for(T, "the file on the SFTP server's /out", || {
        let f = files(&sftp.root.join("out"));
        (f.len() == 1).then_some(f)
    });
    assert!(written[0].ends_with("oru.hl7"), "Filename %f: {}", written[0].display());
    assert_eq!(std::fs::read(&written[0]).expect("read"), msg);
    wait_for(T, "the source deleted", || files(&sftp.root.join("in")).is_empty().then_some(()));
    assert_eq!(engine.get("/api/messages?item=Lab_SFTP_In")["count"], 1);

    // Pinned to another key, the same server gets nothing: the file stays, the log says why.
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    std::fs::write(&sftp.known_hosts, format!("[127.0.0.1]:{} {other}\n", sftp.port)).expect("another key");
    let refusals =
        || engine.log_text().lines().filter(|l| l.contains("FTP poll failed") && l.contains("host key")).count();
    wait_for(T, "the host key refused in the log", || (refusals() > 0).then_some(()));
    drop_file(&sftp.root.join("in"), "second.hl7", &hie_tests::hl7::oru("SFTP2", "M9"));
    let after = refusals();
    wait_for(T, "three more polls refused", || (refusals() >= after + 3).then_some(()));
    assert_eq!(files(&sftp.root.join("in")).len(), 1, "the file stays on the server");
    assert_eq!(engine.get("/api/messages?item=Lab_SFTP_In")["count"], 1, "nothing more taken in");
}
