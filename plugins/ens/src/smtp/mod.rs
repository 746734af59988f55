//! `EnsLib.EMail.OutboundAdapter`: sends one plain-text e-mail per call over SMTP, with
//! lettre's blocking transport and rustls (ring); there is no native TLS or OpenSSL.
//!
//! Adapter settings (IRIS names and defaults): `SMTPServer` (required), `SMTPPort` (25),
//! `Credentials` (see [`config::credentials`]), `SSLConfig` (see [`config::tls_mode`]:
//! empty plain, `name` implicit TLS, `name*` STARTTLS), `SSLCheckServerIdentity` (1),
//! `Recipient`, `Cc`, `Bcc` (lists separated by commas or semicolons), `From`,
//! `ContinueAfterBadSend` (1), and HIE's `TLSDir`.
//!
//! TLS trust: the configuration `name` is looked up as PEM files in the TLS directory
//! (`TLSDir`; empty means `tls/` beside the production file, the production's own
//! default): `name.ca` holds the CAs trusted for the server (when it is missing, the
//! public web PKI roots are trusted, as a relay such as NHSmail presents), and
//! `name.crt` with `name.key` an optional client certificate.
//!
//! Call: the body is the mail's text; parameters `Subject`, optional `To`, `Cc`, `Bcc`
//! (added to the settings' lists, as IRIS's `AddRecipients`), `From` (replaces the
//! setting), `ProductionDir` (where a relative `TLSDir` starts). The reply is the
//! server's final answer; parameter `Rejected` lists the recipients refused when
//! `ContinueAfterBadSend` let the others have it.
//!
//! # Invariants
//! - A connection failure, a timeout, a TLS failure or a 4xx answer is retryable; a 5xx
//!   answer (the server refuses the message or every recipient) and a call that can
//!   never succeed as it is (no From, no recipient) are fatal.
//! - Settings are read when the item starts: a malformed address or unreadable
//!   credentials stop the item with the setting named, not each message.
//! - One connection per call, closed after it: alerts are rare and a relay may drop an
//!   idle session at any time.

pub mod config;

use config::{ConfigError, Credentials, TlsMode};
use hie_plugin_api::adapter::{AdapterDef, AdapterError, OutboundAdapter, TypedSetting};
use hie_plugin_api::settings::{SettingKind, SettingsSource};
use hie_plugin_api::{AdapterResponse, Context, Error};
use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Identity, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The adapter's name (IRIS's class name).
pub const ADAPTER: &str = "EnsLib.EMail.OutboundAdapter";

/// How long one SMTP command may take (connect, each reply). IRIS has no setting for
/// it; a stuck relay must not hold the operation for ever.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The declaration of `EnsLib.EMail.OutboundAdapter` with its typed settings.
pub fn adapter() -> AdapterDef {
    AdapterDef::outbound(ADAPTER, |ctx| Ok(Box::new(Mailer::from_settings(ctx)?)))
        .doc("sends plain-text e-mail over SMTP (STARTTLS with SSLConfig=name*, implicit TLS with SSLConfig=name)")
        .settings([
            TypedSetting::required("SMTPServer", SettingKind::Text, "SMTP server (relay) host name or address"),
            TypedSetting::new("SMTPPort", SettingKind::Port, "25", "SMTP server port"),
            TypedSetting::new(
                "Credentials",
                SettingKind::Text,
                "",
                "SMTP AUTH as user:password, or the path of a file holding it (HIE has no credentials store)",
            ),
            TypedSetting::new(
                "SSLConfig",
                SettingKind::Text,
                "",
                "empty: plain SMTP; name: implicit TLS (SMTPS); name*: STARTTLS; CAs in <TLSDir>/name.ca, else the public roots",
            ),
            TypedSetting::new(
                "SSLCheckServerIdentity",
                SettingKind::Bool,
                "1",
                "check that the server's certificate names SMTPServer",
            ),
            TypedSetting::new("Recipient", SettingKind::Text, "", "To: addresses, separated by commas or semicolons"),
            TypedSetting::new("Cc", SettingKind::Text, "", "Cc: addresses, separated by commas or semicolons"),
            TypedSetting::new("Bcc", SettingKind::Text, "", "Bcc: addresses, separated by commas or semicolons"),
            TypedSetting::new("From", SettingKind::Text, "", "From: address"),
            TypedSetting::new(
                "ContinueAfterBadSend",
                SettingKind::Bool,
                "1",
                "when the server refuses some recipients, send to the others (the refused ones are logged)",
            ),
            TypedSetting::new(
                "TLSDir",
                SettingKind::Text,
                "",
                "directory of the SSLConfig's PEM files; empty: tls/ beside the production file (HIE)",
            ),
        ])
}

/// The SMTP client of one item: its settings, read once.
#[derive(Debug)]
pub struct Mailer {
    server: String,
    port: u16,
    credentials: Option<Credentials>,
    tls: TlsMode,
    check_identity: bool,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    bcc: Vec<Mailbox>,
    from: Option<Mailbox>,
    continue_after_bad_send: bool,
    tls_dir: String,
}

/// Turns a setting problem into the error that stops the item.
fn setting_error(e: impl std::fmt::Display) -> Error {
    Error::failed(e.to_string())
}

impl Mailer {
    /// Reads the item's settings; any that does not read stops the item, naming it.
    pub fn from_settings(ctx: &Context<'_>) -> Result<Mailer, Error> {
        let server = ctx.text("SMTPServer");
        if server.is_empty() {
            return Err(Error::failed("adapter setting SMTPServer is required"));
        }
        let port = match ctx.present("SMTPPort") {
            Some(p) => hie_plugin_api::settings::parse_port(&p).map_err(|e| setting_error(e.named("SMTPPort")))?,
            None => 25,
        };
        let mailer = Mailer {
            server,
            port,
            credentials: config::credentials(&ctx.text("Credentials")).map_err(setting_error)?,
            tls: config::tls_mode(&ctx.text("SSLConfig")).map_err(setting_error)?,
            check_identity: ctx.bool_or("SSLCheckServerIdentity", true).map_err(setting_error)?,
            to: config::address_list("Recipient", &ctx.text("Recipient")).map_err(setting_error)?,
            cc: config::address_list("Cc", &ctx.text("Cc")).map_err(setting_error)?,
            bcc: config::address_list("Bcc", &ctx.text("Bcc")).map_err(setting_error)?,
            from: config::single_address("From", &ctx.text("From")).map_err(setting_error)?,
            continue_after_bad_send: ctx.bool_or("ContinueAfterBadSend", true).map_err(setting_error)?,
            tls_dir: ctx.text("TLSDir"),
        };
        if mailer.from.is_none() {
            ctx.warn("adapter setting From is empty: every mail will fail until it is set");
        }
        if mailer.to.is_empty() && mailer.cc.is_empty() && mailer.bcc.is_empty() {
            ctx.warn("Recipient, Cc and Bcc are empty: every mail will fail unless its call adds recipients");
        }
        if mailer.credentials.is_some() && mailer.tls == TlsMode::Plain {
            ctx.warn("Credentials are sent over plain SMTP (SSLConfig is empty): use SSLConfig=name* for STARTTLS");
        }
        Ok(mailer)
    }

    /// The directory holding the TLS configuration's files.
    fn tls_dir(&self, production_dir: &str) -> PathBuf {
        let base = if production_dir.trim().is_empty() { Path::new(".") } else { Path::new(production_dir) };
        match self.tls_dir.trim() {
            "" => base.join("tls"),
            dir => base.join(dir),
        }
    }

    /// The TLS parameters for configuration `name`, from the files in `dir`.
    fn tls_parameters(&self, name: &str, dir: &Path) -> Result<TlsParameters, AdapterError> {
        let bad = |what: String| AdapterError::fatal(format!("SSLConfig {name}: {what}"));
        let mut builder =
            TlsParameters::builder(self.server.clone()).dangerous_accept_invalid_hostnames(!self.check_identity);
        let ca = dir.join(format!("{name}.ca"));
        builder = if ca.is_file() {
            let pem = std::fs::read(&ca).map_err(|e| bad(format!("cannot read {}: {e}", ca.display())))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(bad(format!("{} holds no PEM certificate", ca.display())));
            }
            let cert = Certificate::from_pem(&pem).map_err(|e| bad(format!("{}: {e}", ca.display())))?;
            builder.certificate_store(CertificateStore::None).add_root_certificate(cert)
        } else {
            builder.certificate_store(CertificateStore::WebpkiRoots)
        };
        let (crt, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        if crt.is_file() {
            let read = |p: &Path| std::fs::read(p).map_err(|e| bad(format!("cannot read {}: {e}", p.display())));
            let identity = Identity::from_pem(&read(&crt)?, &read(&key)?)
                .map_err(|e| bad(format!("{} with {}: {e}", crt.display(), key.display())))?;
            builder = builder.identify_with(identity);
        }
        builder.build_rustls().map_err(|e| bad(e.to_string()))
    }

    /// A transport for one call.
    fn transport(&self, production_dir: &str) -> Result<SmtpTransport, AdapterError> {
        let dir = self.tls_dir(production_dir);
        let tls = match &self.tls {
            TlsMode::Plain => Tls::None,
            TlsMode::Implicit(name) => Tls::Wrapper(self.tls_parameters(name, &dir)?),
            TlsMode::StartTls(name) => Tls::Required(self.tls_parameters(name, &dir)?),
        };
        let mut builder = SmtpTransport::builder_dangerous(self.server.clone())
            .port(self.port)
            .tls(tls)
            .timeout(Some(COMMAND_TIMEOUT));
        if let Some(c) = &self.credentials {
            builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                c.user.clone(),
                c.password.clone(),
            ));
        }
        Ok(builder.build())
    }

    /// The message for one call, with the settings' recipients and the call's.
    fn message(&self, body: &[u8], params: &Params<'_>) -> Result<Message, AdapterError> {
        let fatal = |e: ConfigError| AdapterError::fatal(e.to_string());
        let from = match params.get("From") {
            Some(f) if !f.trim().is_empty() => config::single_address("From", f).map_err(fatal)?,
            _ => self.from.clone(),
        };
        let Some(from) = from else {
            return Err(AdapterError::fatal("no From address: set the adapter setting From"));
        };
        let extra = |name: &str| config::address_list(name, params.get(name).unwrap_or("")).map_err(fatal);
        let (to, cc, bcc) = (extra("To")?, extra("Cc")?, extra("Bcc")?);
        let mut builder = Message::builder()
            .from(from)
            .subject(params.get("Subject").unwrap_or("").replace(['\r', '\n'], " "))
            .message_id(None)
            .header(ContentType::TEXT_PLAIN);
        let mut any = false;
        for m in self.to.iter().chain(&to) {
            builder = builder.to(m.clone());
            any = true;
        }
        for m in self.cc.iter().chain(&cc) {
            builder = builder.cc(m.clone());
            any = true;
        }
        for m in self.bcc.iter().chain(&bcc) {
            builder = builder.bcc(m.clone());
            any = true;
        }
        if !any {
            return Err(AdapterError::fatal("no recipients: set the adapter setting Recipient (or Cc, Bcc)"));
        }
        builder
            .body(String::from_utf8_lossy(body).into_owned())
            .map_err(|e| AdapterError::fatal(format!("cannot build the e-mail: {e}")))
    }

    /// Sends to each recipient on its own after the server refused the message as a
    /// whole: returns the server's last answer and the refused recipients, or the
    /// first error that is not a refusal.
    fn send_each(
        &self,
        transport: &SmtpTransport,
        envelope: &Envelope,
        raw: &[u8],
    ) -> Result<(String, Vec<String>), AdapterError> {
        let (mut last, mut refused) = (None, Vec::new());
        for rcpt in envelope.to() {
            let single = Envelope::new(envelope.from().cloned(), vec![rcpt.clone()])
                .map_err(|e| AdapterError::fatal(format!("envelope for {rcpt}: {e}")))?;
            match transport.send_raw(&single, raw) {
                Ok(r) => last = Some(answer(&r)),
                Err(e) if e.is_permanent() => refused.push(format!("{rcpt} ({e})")),
                Err(e) => return Err(self.classify(&e)),
            }
        }
        match last {
            Some(answer) => Ok((answer, refused)),
            None => {
                Err(AdapterError::fatal(format!("the SMTP server refused every recipient: {}", refused.join("; "))))
            }
        }
    }

    /// Retryable unless the server refused the message for good (5xx) or lettre says
    /// the request itself is wrong.
    fn classify(&self, e: &lettre::transport::smtp::Error) -> AdapterError {
        let text = format!("SMTP {}:{}: {e}", self.server, self.port);
        if e.is_permanent() || e.is_client() { AdapterError::fatal(text) } else { AdapterError::retryable(text) }
    }
}

/// A call's parameters.
struct Params<'a>(&'a [(&'a str, &'a str)]);

impl<'a> Params<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// A server answer as one line: code and text.
fn answer(r: &lettre::transport::smtp::response::Response) -> String {
    let text: Vec<&str> = r.message().collect();
    format!("{} {}", r.code(), text.join(" ")).trim().to_string()
}

impl OutboundAdapter for Mailer {
    fn call(&self, body: &[u8], params: &[(&str, &str)]) -> Result<AdapterResponse, AdapterError> {
        let params = Params(params);
        let message = self.message(body, &params)?;
        let transport = self.transport(params.get("ProductionDir").unwrap_or(""))?;
        let (envelope, raw) = (message.envelope().clone(), message.formatted());
        let (reply, refused) = match transport.send_raw(&envelope, &raw) {
            Ok(r) => (answer(&r), Vec::new()),
            Err(e) if e.is_permanent() && self.continue_after_bad_send && envelope.to().len() > 1 => {
                self.send_each(&transport, &envelope, &raw)?
            }
            Err(e) => return Err(self.classify(&e)),
        };
        let accepted = envelope.to().len() - refused.len();
        Ok(AdapterResponse {
            body: reply.into_bytes(),
            params: vec![("Accepted".into(), accepted.to_string()), ("Rejected".into(), refused.join("; "))],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer(tls: TlsMode) -> Mailer {
        Mailer {
            server: "smtp.trust.nhs.uk".into(),
            port: 587,
            credentials: None,
            tls,
            check_identity: true,
            to: config::address_list("Recipient", "ops@trust.nhs.uk, On Call <oncall@trust.nhs.uk>").unwrap(),
            cc: config::address_list("Cc", "lead@trust.nhs.uk").unwrap(),
            bcc: config::address_list("Bcc", "audit@trust.nhs.uk").unwrap(),
            from: config::single_address("From", "HIE <hie@trust.nhs.uk>").unwrap(),
            continue_after_bad_send: true,
            tls_dir: String::new(),
        }
    }

    #[test]
    fn the_message_carries_settings_and_call_recipients_and_bcc_only_in_the_envelope() {
        let m = mailer(TlsMode::Plain);
        let msg = m
            .message(
                b"Queue is long\n",
                &Params(&[("Subject", "Alert\r\nBcc: evil@x.org"), ("To", "extra@trust.nhs.uk")]),
            )
            .unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(raw.contains("From: HIE <hie@trust.nhs.uk>"), "{raw}");
        assert!(raw.contains("To: ops@trust.nhs.uk, \"On Call\" <oncall@trust.nhs.uk>, extra@trust.nhs.uk"), "{raw}");
        assert!(raw.contains("Cc: lead@trust.nhs.uk"), "{raw}");
        assert!(raw.contains("Subject: Alert  Bcc: evil@x.org"), "a subject cannot add headers: {raw}");
        assert!(!raw.contains("audit@"), "Bcc is not a header: {raw}");
        assert!(raw.contains("Content-Type: text/plain; charset=utf-8"), "{raw}");
        let rcpts: Vec<String> = msg.envelope().to().iter().map(|a| a.to_string()).collect();
        assert_eq!(rcpts.len(), 5);
        assert!(rcpts.contains(&"audit@trust.nhs.uk".to_string()));
    }

    #[test]
    fn a_call_without_from_or_recipients_is_fatal_not_retried() {
        let mut m = mailer(TlsMode::Plain);
        m.from = None;
        let e = m.message(b"x", &Params(&[])).unwrap_err();
        assert!(!e.retryable && e.message.contains("no From address"), "{e}");
        let mut m = mailer(TlsMode::Plain);
        (m.to, m.cc, m.bcc) = (vec![], vec![], vec![]);
        let e = m.message(b"x", &Params(&[])).unwrap_err();
        assert!(!e.retryable && e.message.contains("no recipients"), "{e}");
        assert!(m.message(b"x", &Params(&[("Cc", "ok@trust.nhs.uk")])).is_ok());
    }

    #[test]
    fn the_tls_directory_is_tls_beside_the_production_unless_tlsdir_says() {
        let mut m = mailer(TlsMode::StartTls("relay".into()));
        assert_eq!(m.tls_dir("/opt/hie/prod"), PathBuf::from("/opt/hie/prod/tls"));
        m.tls_dir = "certs".into();
        assert_eq!(m.tls_dir("/opt/hie/prod"), PathBuf::from("/opt/hie/prod/certs"));
        m.tls_dir = "/etc/hie/tls".into();
        assert_eq!(m.tls_dir("/opt/hie/prod"), PathBuf::from("/etc/hie/tls"));
    }

    #[test]
    fn a_tls_configuration_without_a_ca_file_trusts_the_public_roots_and_a_bad_ca_file_is_fatal() {
        let dir = std::env::temp_dir().join(format!("hie-ens-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = mailer(TlsMode::Implicit("relay".into()));
        assert!(m.tls_parameters("relay", &dir).is_ok());
        std::fs::write(dir.join("broken.ca"), "not a certificate").unwrap();
        let Err(e) = m.tls_parameters("broken", &dir) else { panic!("a broken CA file is refused") };
        assert!(!e.retryable && e.message.contains("SSLConfig broken"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreachable_server_is_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut m = mailer(TlsMode::Plain);
        (m.server, m.port) = ("127.0.0.1".into(), port);
        let e = m.call(b"body", &[("Subject", "s")]).unwrap_err();
        assert!(e.retryable, "{e}");
    }
}
