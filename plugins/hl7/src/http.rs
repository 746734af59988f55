//! HL7 v2 over HTTP: `EnsLib.HL7.Service.HTTPService` on the host's `http-inbound`
//! adapter and `EnsLib.HL7.Operation.HTTPOperation` on its `http-outbound` adapter
//! (docs/iris-settings.md §4.4, §5.4, §9.6).
//!
//! - The service is the TCP service's class ([`crate::services`]) on the HTTP
//!   listener: the same parse, `Validation`, `AckMode` and ACK. The request body is one
//!   message (no MLLP bytes); the ACK is the response body. The adapter answers 200 only
//!   for a committed message; a message refused (a NACK for invalid HL7) gets 400 and
//!   one the engine could not store 503, each with the NACK as the body.
//! - The operation POSTs each message in its output form (`Separators`) with
//!   `Content-Type: application/hl7-v2` and reads the response body as the reply, which
//!   `ReplyCodeActions` judge as an MLLP ACK is judged (an empty body has no MSA: `:~`).
//!
//! # Invariants
//! - The service's per-message logic is the TCP service's, not a copy: only the class
//!   name, the adapter and the adapter settings differ.
//! - Operation: a 2xx response is judged by `ReplyCodeActions`; an HTTP 5xx, a failed
//!   or lost connection and a timeout are retried (`RetryInterval` until
//!   `FailureTimeout`) unless an explicit `E` entry says otherwise; any other status
//!   fails the message with the status and the server's text.

use crate::reply_actions::{self, Reply, ReplyActions};
use crate::services;
use hie_plugin_api::hl7::OutputForm;
use hie_plugin_api::{ClassDef, Context, Error, ErrorKind, Item, ItemKind, Message, Outcome, SettingDef, adapters};
use std::time::Duration;

/// Host settings of the TCP service that belong to its TCP framing alone.
const TCP_ONLY: &[&str] = &["Framing", "PreACKTCPClear"];

/// `EnsLib.HL7.Service.HTTPService`: the TCP service's class on the HTTP listener.
pub fn http_service() -> ClassDef {
    let mut class = services::tcp_service().on_adapter("EnsLib.HL7.Service.HTTPService", adapters::HTTP_INBOUND);
    class.settings.retain(|s| !TCP_ONLY.contains(&s.name));
    class
        .doc(
            "receives HL7 v2 as HTTP POST bodies and answers with the ACK once committed (400/503 and a NACK when not)",
        )
        .settings(listener_settings())
}

/// IRIS `EnsLib.HTTP.InboundAdapter`'s settings on the host's `http-inbound` adapter.
fn listener_settings() -> Vec<SettingDef> {
    vec![
        SettingDef::adapter("Port", "", "TCP port to listen on (required)"),
        SettingDef::adapter("LocalInterface", "", "local address to listen on; empty = every interface"),
        SettingDef::adapter(
            "AllowedIPAddresses",
            "",
            "comma-separated peers allowed to connect: addresses or server names, each with an optional :port; empty = any",
        ),
        SettingDef::adapter(
            "SSLConfig",
            "",
            "HTTPS: TLS configuration, <TLSDir>/<name>.crt and .key (and .ca to require client certificates)",
        ),
        SettingDef::adapter("ReadTimeout", "30", "seconds a request's head, then its body, may take to arrive"),
        SettingDef::adapter("MaxConnections", "1024", "HIE: connections served at once; more are refused"),
        SettingDef::adapter("MaxBodySize", "16777216", "HIE: largest request body in bytes; larger is answered 413"),
        SettingDef::adapter("StayConnected", "-1", "seconds an idle connection is kept").unsupported(),
        SettingDef::adapter("JobPerConnection", "1", "each connection is served independently (always so in HIE)"),
        SettingDef::adapter("CallInterval", "5", "listener wake-up interval (not used by HIE)").unsupported(),
        SettingDef::adapter("QSize", "100", "listen backlog").unsupported(),
        SettingDef::adapter("Charset", "Auto", "how the body is decoded (HIE reads MSH-18)").unsupported(),
        SettingDef::adapter("ForceCharset", "0", "ignore the request's charset").unsupported(),
        SettingDef::host("EnableStandardRequests", "1", "also take requests through the IRIS web server").unsupported(),
    ]
}

/// `EnsLib.HL7.Operation.HTTPOperation`.
pub fn http_operation() -> ClassDef {
    ClassDef::new("EnsLib.HL7.Operation.HTTPOperation", ItemKind::Operation, |ctx| {
        let actions = ReplyActions::parse(&ctx.setting_or("ReplyCodeActions", reply_actions::DEFAULT))
            .map_err(|e| Error::failed(format!("setting ReplyCodeActions: {e}")))?;
        let output = crate::operations::output_form(ctx)?;
        let retry = Duration::from_secs(ctx.setting_i64("RetryInterval", 5).max(0) as u64);
        let content_type = ctx.setting_or("ContentType", DEFAULT_CONTENT_TYPE);
        Ok(Box::new(HttpOperation { actions, retry, output, content_type }))
    })
    .adapter(adapters::HTTP_OUTBOUND)
    .doc("POSTs HL7 v2 over HTTP and acts on the ACK in the response per ReplyCodeActions (5xx and connection errors retried)")
    .settings([
        SettingDef::host("RetryInterval", "5", "seconds between delivery attempts"),
        SettingDef::host("FailureTimeout", "-1", "seconds before a retrying message fails; -1 = for ever"),
        SettingDef::host(
            "NoFailWhileDisconnected",
            "0",
            "time spent disconnected does not count towards FailureTimeout",
        ),
        SettingDef::host("ReplyCodeActions", reply_actions::DEFAULT, "what to do per reply code (IRIS syntax)"),
        SettingDef::host(
            "Separators",
            "",
            "delimiters and segment terminator to write (IRIS syntax); empty = the message's own and CR",
        ),
        SettingDef::host(
            "ContentType",
            DEFAULT_CONTENT_TYPE,
            "HIE: Content-Type of the POST (IRIS's is not documented)",
        ),
        SettingDef::host("AlertRetryGracePeriod", "0", "seconds of retrying before an alert").unsupported(),
        SettingDef::host("ArchiveIO", "0", "archive adapter I/O").unsupported(),
        SettingDef::host("SearchTableClass", "", "IRIS search table class").unsupported(),
        crate::operations::def_char_encoding_setting(),
        SettingDef::adapter("HTTPServer", "", "host name or address of the server (required)"),
        SettingDef::adapter("HTTPPort", "80", "TCP port of the server"),
        SettingDef::adapter("URL", "/", "path of the POST"),
        SettingDef::adapter("ConnectTimeout", "5", "seconds to wait for a connection"),
        SettingDef::adapter("ResponseTimeout", "30", "seconds to wait for the response; -1 = for ever"),
        SettingDef::adapter(
            "SSLConfig",
            "",
            "HTTPS: TLS configuration, <TLSDir>/<name>.ca to verify the server (and .crt, .key for a client certificate)",
        ),
        SettingDef::adapter("Credentials", "", "basic authentication (HIE has no credentials store)").unsupported(),
        SettingDef::adapter("SSLCheckServerIdentity", "1", "check the server's name (HIE always does)").unsupported(),
        SettingDef::adapter("ProxyServer", "", "HTTP proxy").unsupported(),
        SettingDef::adapter("ProxyPort", "80", "HTTP proxy port").unsupported(),
        SettingDef::adapter("ProxyHTTPS", "0", "the proxy speaks HTTPS to the server").unsupported(),
        SettingDef::adapter("ProxyHttpTunnel", "0", "tunnel through the proxy with CONNECT").unsupported(),
        SettingDef::adapter("LocalInterface", "", "local address to connect from").unsupported(),
        SettingDef::adapter("UseCookies", "0", "keep cookies between requests").unsupported(),
    ])
}

/// The content type HL7 over HTTP is commonly posted with.
pub const DEFAULT_CONTENT_TYPE: &str = "application/hl7-v2";

/// Posts HL7 and judges the ACK.
struct HttpOperation {
    actions: ReplyActions,
    retry: Duration,
    output: OutputForm,
    content_type: String,
}

/// The HTTP status in the host adapter's failure text (`...: HTTP 503: ...`).
fn status_of(message: &str) -> Option<u16> {
    let at = message.find(": HTTP ")? + ": HTTP ".len();
    message.get(at..at + 3).filter(|d| d.chars().all(|c| c.is_ascii_digit()))?.parse().ok()
}

/// Whether a failed POST is worth another try: the server's or the network's fault.
fn retryable(kind: ErrorKind, message: &str) -> bool {
    match kind {
        ErrorKind::Disconnected | ErrorKind::Timeout => true,
        _ => match status_of(message) {
            Some(s) => s >= 500,
            // No status: the response could not be read (cut short, malformed).
            None => kind == ErrorKind::Failed,
        },
    }
}

impl Item for HttpOperation {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let control_id = msg.hl7().ok().and_then(|m| m.control_id().map(str::to_string)).unwrap_or_default();
        let params = [("Method", "POST"), ("ContentType", self.content_type.as_str())];
        match ctx.adapter_call(&crate::operations::written(&self.output, msg), &params) {
            Ok(reply) => {
                let e = self.actions.evaluate(Reply::Body(&reply.body), &control_id);
                Ok(e.outcome(self.retry).reply(reply.body))
            }
            Err(err) => Ok(match self.actions.evaluate_failure(&err.message) {
                Some(e) => e.outcome(self.retry),
                None if retryable(err.kind, &err.message) => Outcome::retry(self.retry, err.message),
                None => Outcome::fail(err.message),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_service_is_the_tcp_service_on_the_http_listener_without_tcp_framing() {
        let c = http_service();
        assert_eq!((c.name, c.adapter), ("EnsLib.HL7.Service.HTTPService", adapters::HTTP_INBOUND));
        let has = |n: &str| c.settings.iter().any(|s| s.name == n);
        assert!(has("AckMode") && has("TargetConfigNames") && has("Port") && has("MaxBodySize"));
        assert!(!has("Framing") && !has("MaxFrameSize"));
        let names: Vec<_> = c.settings.iter().map(|s| s.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "each setting declared once: {names:?}");
    }

    #[test]
    fn server_errors_and_lost_connections_are_retried_and_client_errors_are_not() {
        assert!(retryable(ErrorKind::Failed, "POST h:80/hl7: HTTP 503: busy"));
        assert!(retryable(ErrorKind::Disconnected, "cannot connect"));
        assert!(retryable(ErrorKind::Timeout, "no response"));
        assert!(!retryable(ErrorKind::Failed, "POST h:80/hl7: HTTP 404: none"));
        assert!(!retryable(ErrorKind::Failed, "POST h:80/hl7: HTTP 400: MSH|^~\\&|"));
        assert!(!retryable(ErrorKind::Unsupported, "no adapter"));
    }
}
