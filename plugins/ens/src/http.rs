//! `EnsLib.HTTP.GenericOperation`: forwards each message's body to an HTTP service on
//! the host's `http-outbound` adapter and replies with the response body.
//!
//! The request is a `POST` (a `GET` for an empty body) to
//! `http[s]://HTTPServer:HTTPPort` followed by `URL`. A message that carries IRIS's
//! `EnsLib.HTTP.GenericMessage` headers as attributes (`HttpRequest`: the method; `URL`:
//! the path, used when the `URL` setting is empty; `Content-Type`) is sent the way they
//! say. HIE's `ContentType` setting gives a content type for messages that carry none.
//!
//! # Invariants
//! - A 2xx response completes the message with its body as the reply.
//! - HTTP 5xx, a failed or lost connection, a timeout and a response cut short are
//!   retried (`RetryInterval`, until `FailureTimeout`); any other status (4xx, 3xx)
//!   fails the message with the status and the server's text.

use crate::common::{operation_settings, retry_interval};
use hie_plugin_api::settings::SettingsSource;
use hie_plugin_api::{ClassDef, Context, Error, ErrorKind, Item, ItemKind, Message, Outcome, SettingDef, adapters};
use std::time::Duration;

/// `EnsLib.HTTP.GenericOperation`.
pub fn class() -> ClassDef {
    ClassDef::new("EnsLib.HTTP.GenericOperation", ItemKind::Operation, |ctx| {
        Ok(Box::new(GenericOperation {
            content_type: ctx.text("ContentType"),
            url_setting: ctx.text("URL"),
            retry: retry_interval(ctx),
        }))
    })
    .adapter(adapters::HTTP_OUTBOUND)
    .doc("forwards each body to an HTTP service; the reply is the response body (5xx and connection errors retried)")
    .settings(operation_settings("15"))
    .settings([
        SettingDef::host("ReadRawMode", "1", "read the response as bytes, untranslated (HIE always does)")
            .kind(hie_plugin_api::settings::SettingKind::Bool)
            .unsupported(),
        SettingDef::host("WriteRawMode", "0", "translate the request to its charset (HIE sends the bytes as they are)")
            .kind(hie_plugin_api::settings::SettingKind::Bool)
            .unsupported(),
        SettingDef::host(
            "ContentType",
            "",
            "Content-Type of requests whose message carries none, e.g. application/json (HIE)",
        ),
        SettingDef::adapter("HTTPServer", "", "host name or address of the server (required)"),
        SettingDef::adapter("HTTPPort", "80", "TCP port of the server"),
        SettingDef::adapter("URL", "", "path of the request"),
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
        SettingDef::adapter("ProxyPort", "8080", "HTTP proxy port").unsupported(),
        SettingDef::adapter("ProxyHTTPS", "0", "the proxy speaks HTTPS to the server").unsupported(),
        SettingDef::adapter("ProxyHttpTunnel", "0", "tunnel through the proxy with CONNECT").unsupported(),
        SettingDef::adapter("WriteTimeout", "", "seconds a request may take to write").unsupported(),
        SettingDef::adapter("LocalInterface", "", "local address to connect from").unsupported(),
        SettingDef::adapter("UseCookies", "0", "keep cookies between requests").unsupported(),
    ])
}

/// What to do after a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Try again after `RetryInterval`.
    Retry,
    /// The message is Error.
    Fail,
}

/// The HTTP status the host adapter reports in a failure (`...: HTTP 503: ...`).
pub fn status_of(message: &str) -> Option<u16> {
    let at = message.find(": HTTP ")? + ": HTTP ".len();
    let digits = message.get(at..at + 3)?;
    let rest = message.get(at + 3..)?;
    if digits.chars().all(|c| c.is_ascii_digit()) && (rest.is_empty() || rest.starts_with(':')) {
        digits.parse().ok()
    } else {
        None
    }
}

/// Whether a failed call is worth another try: the server's fault or the network's, not
/// the request's.
pub fn verdict(kind: ErrorKind, message: &str) -> Verdict {
    match kind {
        ErrorKind::Disconnected | ErrorKind::Timeout => Verdict::Retry,
        _ => match status_of(message) {
            Some(s) if s >= 500 => Verdict::Retry,
            Some(_) => Verdict::Fail,
            // No status: the response could not be read (cut short, malformed).
            None if kind == ErrorKind::Failed => Verdict::Retry,
            None => Verdict::Fail,
        },
    }
}

/// The attribute `name` of the message, in any of the spellings IRIS headers use.
fn header<'a>(msg: &Message<'a>, name: &str) -> Option<&'a str> {
    msg.attributes().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v).filter(|v| !v.trim().is_empty())
}

/// Forwards bodies over HTTP.
struct GenericOperation {
    content_type: String,
    url_setting: String,
    retry: Duration,
}

impl GenericOperation {
    /// The adapter parameters for `msg`.
    fn params<'a>(&'a self, msg: &Message<'a>) -> Vec<(&'a str, &'a str)> {
        let mut params = Vec::new();
        if let Some(method) = header(msg, "HttpRequest") {
            params.push(("Method", method.trim()));
        }
        if self.url_setting.is_empty()
            && let Some(url) = header(msg, "URL")
        {
            params.push(("Path", url.trim()));
        }
        match header(msg, "Content-Type") {
            Some(ct) => params.push(("ContentType", ct.trim())),
            None if !self.content_type.is_empty() => params.push(("ContentType", self.content_type.as_str())),
            None => {}
        }
        params
    }
}

impl Item for GenericOperation {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let params = self.params(msg);
        match ctx.adapter_call(msg.body(), &params) {
            Ok(response) => {
                let status = response.params.iter().find(|(k, _)| k == "Status").map(|(_, v)| v.as_str());
                ctx.debug(&format!("HTTP {} ({} bytes)", status.unwrap_or("?"), response.body.len()));
                Ok(Outcome::completed().reply(response.body))
            }
            Err(e) => Ok(match verdict(e.kind, &e.message) {
                Verdict::Retry => Outcome::retry(self.retry, e.message),
                Verdict::Fail => Outcome::fail(e.message),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_read_from_the_adapters_failure_text() {
        assert_eq!(status_of("POST 127.0.0.1:8080/fhir: HTTP 503: busy"), Some(503));
        assert_eq!(status_of("GET h:80/: HTTP 404: "), Some(404));
        assert_eq!(status_of("GET h:80/: HTTP 404"), Some(404));
        assert_eq!(status_of("h:80/x: response body cut short: 3 of 9 bytes"), None);
        assert_eq!(status_of("h: HTTP 20x: odd"), None);
    }

    #[test]
    fn server_errors_and_connection_problems_are_retried_and_client_errors_fail() {
        assert_eq!(verdict(ErrorKind::Failed, "POST h:80/: HTTP 500: oops"), Verdict::Retry);
        assert_eq!(verdict(ErrorKind::Failed, "POST h:80/: HTTP 503: busy"), Verdict::Retry);
        assert_eq!(verdict(ErrorKind::Failed, "POST h:80/: HTTP 400: bad"), Verdict::Fail);
        assert_eq!(verdict(ErrorKind::Failed, "POST h:80/: HTTP 404: none"), Verdict::Fail);
        assert_eq!(verdict(ErrorKind::Failed, "POST h:80/: HTTP 301: moved"), Verdict::Fail);
        assert_eq!(verdict(ErrorKind::Disconnected, "cannot connect to h:80: refused"), Verdict::Retry);
        assert_eq!(verdict(ErrorKind::Timeout, "no response from h:80/ within 30s"), Verdict::Retry);
        assert_eq!(verdict(ErrorKind::Failed, "h:80/: response body cut short: 1 of 2 bytes"), Verdict::Retry);
        assert_eq!(verdict(ErrorKind::Unsupported, "no adapter"), Verdict::Fail);
    }
}
