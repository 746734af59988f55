//! `EnsLib.EMail.AlertOperation`: e-mails the alerts the engine sends to the item
//! `Ens.Alert`, on [`crate::smtp`]'s `EnsLib.EMail.OutboundAdapter`.
//!
//! Input: the engine's alert message, JSON with IRIS's `Ens.AlertRequest` names
//! (`SourceConfigName`, `AlertText`, `AlertTime` in RFC 3339, and HIE's `AlertKind`), or
//! any other body, taken as the alert text from the message's source item.
//!
//! The mail (IRIS's exact wording is not documented; this format is HIE's, and stable):
//!
//! - Subject: `SubjectPrefix`, a space when the prefix does not end in one, then
//!   `HIE alert from `, the system name and `:` when `IncludeNodeinSubject` is set, and
//!   the source item: `[Demo Alert] HIE alert from hie01:ADT_In`.
//! - Body: the alert text. With `IncludeDetails`, a blank line and then `Alert time:`
//!   (local time, and UTC in brackets with `IncludeUTCTimes`), `Source:`, `Alert kind:`
//!   (when known) and `System:` lines. Times read `YYYY-MM-DD HH:MM:SS.mmm`, as IRIS
//!   writes them.
//!
//! # Invariants
//! - Every body yields a mail: a body that is not alert JSON is the text itself.
//! - The subject is one line whatever the source name or text holds.
//! - A failure the adapter calls retryable is retried (`RetryInterval`, until
//!   `FailureTimeout`); any other fails the alert, which the engine never alerts about
//!   again (no loop through `Ens.Alert`).

use crate::common::{operation_settings, retry_interval};
use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, Offset, TimeZone, Utc};
use hie_plugin_api::settings::{SettingKind, SettingsSource};
use hie_plugin_api::{ClassDef, Context, Error, ErrorKind, Item, ItemKind, Message, Outcome, SettingDef};
use std::time::Duration;

/// One alert, as the operation reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// The item that raised it (IRIS `SourceConfigName`).
    pub source: String,
    /// What happened (IRIS `AlertText`).
    pub text: String,
    /// When it was raised.
    pub time: DateTime<Utc>,
    /// HIE's kind (`error`, `queue_count`, ...), when the body says.
    pub kind: Option<String>,
}

impl Alert {
    /// Reads an alert from a message body: the engine's JSON, or plain text from
    /// `source` created at `created_us` (microseconds since the epoch). Fields the
    /// JSON lacks come from the message as well.
    pub fn from_body(body: &[u8], source: &str, created_us: i64) -> Alert {
        let created = DateTime::from_timestamp_micros(created_us).unwrap_or_default();
        let plain = || Alert {
            source: source.to_string(),
            text: String::from_utf8_lossy(body).trim_end().to_string(),
            time: created,
            kind: None,
        };
        let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(body) else {
            return plain();
        };
        let field = |name: &str| fields.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let Some(text) = field("AlertText") else { return plain() };
        Alert {
            source: field("SourceConfigName").filter(|s| !s.trim().is_empty()).unwrap_or_else(|| source.to_string()),
            text,
            time: field("AlertTime").as_deref().and_then(parse_time).unwrap_or(created),
            kind: field("AlertKind").filter(|k| !k.trim().is_empty()),
        }
    }
}

/// Reads RFC 3339 (HIE) or IRIS's `YYYY-MM-DD HH:MM:SS[.fff]` (taken as UTC).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc()))
}

/// How the operation writes its mails (its host settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    /// `SubjectPrefix`.
    pub prefix: String,
    /// `IncludeNodeinSubject`.
    pub node_in_subject: bool,
    /// `IncludeDetails`.
    pub details: bool,
    /// `IncludeUTCTimes`.
    pub utc_times: bool,
    /// `SystemName`, or this machine's host name when it is empty.
    pub system: String,
}

/// The subject of `alert`'s mail, on one line.
pub fn subject(alert: &Alert, format: &Format) -> String {
    let mut out = String::new();
    if !format.prefix.is_empty() {
        out.push_str(&format.prefix);
        if !format.prefix.ends_with(char::is_whitespace) {
            out.push(' ');
        }
    }
    out.push_str("HIE alert from ");
    if format.node_in_subject {
        out.push_str(&format.system);
        out.push(':');
    }
    out.push_str(&alert.source);
    out.replace(['\r', '\n'], " ")
}

/// IRIS's time stamp: `YYYY-MM-DD HH:MM:SS.mmm`.
fn stamp<Tz: TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// The body of `alert`'s mail, with local times at `offset` from UTC.
pub fn body(alert: &Alert, format: &Format, offset: FixedOffset) -> String {
    let mut out = alert.text.clone();
    if !format.details {
        return out;
    }
    let local = alert.time.with_timezone(&offset);
    let mut time = stamp(&local);
    if format.utc_times {
        time.push_str(&format!(" (UTC {})", stamp(&alert.time)));
    }
    out.push_str("\n\n");
    out.push_str(&format!("Alert time:  {time}\n"));
    out.push_str(&format!("Source:      {}\n", alert.source));
    if let Some(kind) = &alert.kind {
        out.push_str(&format!("Alert kind:  {kind}\n"));
    }
    out.push_str(&format!("System:      {}\n", format.system));
    out
}

/// This machine's host name, for `SystemName` when it is empty.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.trim().is_empty()))
        .unwrap_or_else(|| "localhost".to_string())
}

/// `EnsLib.EMail.AlertOperation`.
pub fn class() -> ClassDef {
    ClassDef::new("EnsLib.EMail.AlertOperation", ItemKind::Operation, |ctx| {
        let e = |e: hie_plugin_api::settings::NamedSettingError| Error::failed(e.to_string());
        let system = ctx.text("SystemName");
        Ok(Box::new(AlertOperation {
            format: Format {
                prefix: ctx.setting("SubjectPrefix").unwrap_or_default(),
                node_in_subject: ctx.bool_or("IncludeNodeinSubject", false).map_err(e)?,
                details: ctx.bool_or("IncludeDetails", false).map_err(e)?,
                utc_times: ctx.bool_or("IncludeUTCTimes", true).map_err(e)?,
                system: if system.is_empty() { host_name() } else { system },
            },
            retry: retry_interval(ctx),
        }))
    })
    .adapter(crate::smtp::ADAPTER)
    .doc("e-mails the alerts sent to Ens.Alert (plain text, over SMTP with optional STARTTLS or TLS)")
    .settings(operation_settings("15"))
    .settings([
        SettingDef::host("IncludeDetails", "0", "add the alert's time, source, kind and system below its text")
            .kind(SettingKind::Bool),
        SettingDef::host("SubjectPrefix", "", "text put in front of the subject, e.g. [Trust HIE]"),
        SettingDef::host("IncludeNodeinSubject", "0", "put the system name in the subject").kind(SettingKind::Bool),
        SettingDef::host("IncludeUTCTimes", "1", "with IncludeDetails, give the time in UTC as well")
            .kind(SettingKind::Bool),
        SettingDef::host("SystemName", "", "name of this system in mails; empty: the host name"),
        SettingDef::host(
            "IncludeManagedAlertHistory",
            "0",
            "managed alerts' action history (HIE has no managed alerts)",
        )
        .kind(SettingKind::choice(&["0", "1", "2"]))
        .unsupported(),
    ])
}

/// Sends each alert as one mail.
struct AlertOperation {
    format: Format,
    retry: Duration,
}

impl Item for AlertOperation {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let alert = Alert::from_body(msg.body(), msg.source(), msg.created_unix_us());
        let offset = Local.offset_from_utc_datetime(&alert.time.naive_utc()).fix();
        let (subject, text) = (subject(&alert, &self.format), body(&alert, &self.format, offset));
        let production_dir = ctx.setting("HIE.ProductionDir").unwrap_or_default();
        let params = [("Subject", subject.as_str()), ("ProductionDir", production_dir.as_str())];
        match ctx.adapter_call(text.as_bytes(), &params) {
            Ok(sent) => {
                ctx.count("mails_sent", 1);
                let mut out = Outcome::completed().reply(sent.body);
                if let Some((_, refused)) = sent.params.iter().find(|(k, _)| k == "Rejected")
                    && !refused.is_empty()
                {
                    ctx.warn(&format!("the SMTP server refused some recipients: {refused}"));
                    out = out.warn(format!("recipients refused: {refused}"));
                }
                Ok(out)
            }
            Err(e) if matches!(e.kind, ErrorKind::Disconnected | ErrorKind::Timeout) => {
                Ok(Outcome::retry(self.retry, e.message))
            }
            Err(e) => Ok(Outcome::fail(format!("cannot send the alert mail: {}", e.message))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format() -> Format {
        Format {
            prefix: String::new(),
            node_in_subject: false,
            details: false,
            utc_times: true,
            system: "hie01".into(),
        }
    }

    const ALERT: &str = r#"{"SourceConfigName":"ADT_In","AlertText":"1 message(s) ended in Error: not HL7","AlertTime":"2026-05-01T09:15:30.123456+00:00","AlertKind":"error"}"#;

    #[test]
    fn the_engines_alert_json_is_read_with_iris_field_names() {
        let a = Alert::from_body(ALERT.as_bytes(), "Ignored", 0);
        assert_eq!(a.source, "ADT_In");
        assert_eq!(a.text, "1 message(s) ended in Error: not HL7");
        assert_eq!(a.kind.as_deref(), Some("error"));
        assert_eq!(stamp(&a.time), "2026-05-01 09:15:30.123");
    }

    #[test]
    fn a_plain_text_body_is_the_alert_text_from_the_sending_item() {
        let created = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap().timestamp_micros();
        let a = Alert::from_body(b"disk nearly full\n", "Monitor", created);
        assert_eq!((a.source.as_str(), a.text.as_str(), a.kind), ("Monitor", "disk nearly full", None));
        assert_eq!(stamp(&a.time), "2026-01-02 03:04:05.000");
        // JSON that is not an alert is text too; an IRIS time stamp reads as UTC.
        assert_eq!(Alert::from_body(b"[1,2]", "M", created).text, "[1,2]");
        let iris = r#"{"AlertText":"x","AlertTime":"2026-03-04 05:06:07.890"}"#;
        let a = Alert::from_body(iris.as_bytes(), "Src", created);
        assert_eq!((a.source.as_str(), stamp(&a.time)), ("Src", "2026-03-04 05:06:07.890".to_string()));
    }

    #[test]
    fn the_subject_has_the_prefix_the_node_when_asked_and_the_source_on_one_line() {
        let a = Alert::from_body(ALERT.as_bytes(), "", 0);
        assert_eq!(subject(&a, &format()), "HIE alert from ADT_In");
        let f = Format { prefix: "[Demo Alert]".into(), node_in_subject: true, ..format() };
        assert_eq!(subject(&a, &f), "[Demo Alert] HIE alert from hie01:ADT_In");
        let f = Format { prefix: "HIE: ".into(), ..format() };
        assert_eq!(subject(&a, &f), "HIE: HIE alert from ADT_In");
        let odd = Alert { source: "Bad\r\nBcc: x@y".into(), ..a };
        assert!(!subject(&odd, &format()).contains('\n'));
    }

    #[test]
    fn the_body_is_the_text_and_with_include_details_the_local_and_utc_times_source_kind_and_system() {
        let a = Alert::from_body(ALERT.as_bytes(), "", 0);
        let bst = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(body(&a, &format(), bst), "1 message(s) ended in Error: not HL7");
        let f = Format { details: true, ..format() };
        assert_eq!(
            body(&a, &f, bst),
            "1 message(s) ended in Error: not HL7\n\n\
             Alert time:  2026-05-01 10:15:30.123 (UTC 2026-05-01 09:15:30.123)\n\
             Source:      ADT_In\n\
             Alert kind:  error\n\
             System:      hie01\n"
        );
        let f = Format { details: true, utc_times: false, ..format() };
        let plain = Alert { kind: None, ..a };
        let text = body(&plain, &f, bst);
        assert!(text.contains("Alert time:  2026-05-01 10:15:30.123\n") && !text.contains("Alert kind"), "{text}");
    }

    #[test]
    fn the_class_declares_iris_settings_with_iris_defaults() {
        let c = class();
        let get = |n: &str| c.settings.iter().find(|s| s.name == n).unwrap_or_else(|| panic!("{n}"));
        assert_eq!(get("IncludeDetails").default, "0");
        assert_eq!(get("IncludeUTCTimes").default, "1");
        assert_eq!(get("FailureTimeout").default, "15");
        assert!(!get("IncludeManagedAlertHistory").supported);
        assert_eq!(c.adapter, crate::smtp::ADAPTER);
    }
}
