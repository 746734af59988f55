//! Business operations: `EnsLib.HL7.Operation.TCPOperation` and
//! `EnsLib.HL7.Operation.FileOperation`.
//!
//! Delivery itself is the host adapter's (MLLP client, atomic file writer); these classes
//! write the message in its output form (`Separators`: no BOM, the terminator after every
//! segment, IRIS's delimiter set; the stored message stays as it came) and interpret the
//! outcome: ReplyCodeActions for MLLP replies, retry on delivery errors.
//! The host applies RetryInterval and FailureTimeout to retries, so a retrying message
//! holds up only this operation.

use crate::reply_actions::{self, Reply, ReplyActions};
use hie_plugin_api::hl7::{self, OutputForm};
use hie_plugin_api::{
    ClassDef, Context, Error, ErrorAction, ErrorKind, Item, ItemKind, Message, Outcome, SettingDef, adapters,
};
use std::time::Duration;

fn common_operation_settings(failure_timeout: &'static str) -> Vec<SettingDef> {
    vec![
        SettingDef::host("RetryInterval", "5", "seconds between delivery attempts"),
        SettingDef::host("FailureTimeout", failure_timeout, "seconds before a retrying message fails; -1 = for ever"),
        SettingDef::host(
            "NoFailWhileDisconnected",
            "0",
            "time spent disconnected does not count towards FailureTimeout",
        ),
        SettingDef::host("AlertRetryGracePeriod", "0", "seconds of retrying before an alert").unsupported(),
        SettingDef::host("ArchiveIO", "0", "archive adapter I/O").unsupported(),
        SettingDef::host("SearchTableClass", "", "IRIS search table class").unsupported(),
        def_char_encoding_setting(),
        SettingDef::host(
            "Separators",
            "",
            "delimiters and segment terminator to write (IRIS syntax, e.g. |^~\\&\\r\\n); empty = the message's \
             own delimiters and CR",
        ),
    ]
}

/// An operation's `DefCharEncoding`: the charset it writes.
pub(crate) fn def_char_encoding_setting() -> SettingDef {
    SettingDef::host(
        "DefCharEncoding",
        "",
        "charset to write (Latin1, UTF-8, ...) where MSH-18 names none; !charset for every message; empty = the bytes as received (IRIS: Latin1)",
    )
}

/// The item's output form, from `Separators` and `DefCharEncoding`.
pub(crate) fn output_form(ctx: &Context<'_>) -> Result<OutputForm, Error> {
    let form = OutputForm::from_separators(&ctx.setting_or("Separators", ""))
        .map_err(|e| Error::failed(format!("setting {e}")))?;
    let encoding = hl7::DefCharEncoding::parse(&ctx.setting_or("DefCharEncoding", ""))
        .map_err(|e| Error::failed(format!("setting {e}")))?;
    Ok(form.with_encoding(encoding))
}

/// `msg` as an operation with `form` writes it: read as its service read it.
pub(crate) fn written<'a>(form: &OutputForm, msg: &Message<'a>) -> std::borrow::Cow<'a, [u8]> {
    form.apply_from(msg.body(), msg.def_char_encoding())
}

/// `EnsLib.HL7.Operation.TCPOperation`.
pub fn tcp_operation() -> ClassDef {
    ClassDef::new("EnsLib.HL7.Operation.TCPOperation", ItemKind::Operation, |ctx| {
        let actions = ReplyActions::parse(&ctx.setting_or("ReplyCodeActions", reply_actions::DEFAULT))
            .map_err(|e| Error::failed(format!("setting ReplyCodeActions: {e}")))?;
        Ok(Box::new(TcpOperation { actions, retry: retry_interval(ctx), output: output_form(ctx)? }))
    })
    .adapter(adapters::TCP_MLLP_OUTBOUND)
    .doc("sends HL7 v2 over MLLP/TCP and acts on the reply per ReplyCodeActions")
    .settings(common_operation_settings("-1"))
    .settings([
        SettingDef::host("ReplyCodeActions", reply_actions::DEFAULT, "what to do per reply code (IRIS syntax)"),
        SettingDef::host(
            "Framing",
            "MLLP",
            "MLLP | MLLPnn/mm | AsciiLF | AsciiCR | Asciinn | Asciinn/mm | None | Flexible (send MLLP, detect the reply's); the reply ACK is read in the same framing",
        ),
        SettingDef::host("GetReply", "1", "wait for a reply (HIE always reads the reply)").unsupported(),
        SettingDef::adapter("IPAddress", "", "host to connect to"),
        SettingDef::adapter("Port", "", "TCP port to connect to"),
        SettingDef::adapter(
            "StayConnected",
            "-1",
            "-1 keep the connection; 0 close after each message; N idle seconds",
        ),
        SettingDef::adapter("ConnectTimeout", "5", "seconds to wait for a connection"),
        SettingDef::adapter("ReconnectRetry", "5", "reconnect attempts per message (HIE reconnects on every retry)"),
        SettingDef::adapter("ResponseTimeout", "30", "seconds to wait for the reply; -1 = for ever"),
        SettingDef::adapter(
            "ReadTimeout",
            "5",
            "seconds to wait for the rest of a started reply (HIE: ResponseTimeout)",
        )
        .unsupported(),
        SettingDef::adapter("MaxFrameSize", "16777216", "HIE: largest reply in bytes"),
        SettingDef::adapter(
            "SSLConfig",
            "",
            "TLS configuration: <TLSDir>/<name>.ca to verify the receiver (and .crt, .key for a client certificate)",
        ),
        SettingDef::adapter(
            "LocalInterface",
            "",
            "local address to connect from, or \"name (address)\"; empty = the system's choice",
        ),
    ])
}

/// `EnsLib.HL7.Operation.FileOperation`.
pub fn file_operation() -> ClassDef {
    ClassDef::new("EnsLib.HL7.Operation.FileOperation", ItemKind::Operation, |ctx| {
        Ok(Box::new(FileOperation {
            filename: ctx.setting_or("Filename", "%f_%Q%!+(_a)"),
            retry: retry_interval(ctx),
            output: output_form(ctx)?,
        }))
    })
    .adapter(adapters::FILE_OUTBOUND)
    .doc("writes each HL7 v2 message to a file (atomically: temporary name, then rename)")
    .settings(common_operation_settings("15"))
    .settings([
        SettingDef::host(
            "Filename",
            "%f_%Q%!+(_a)",
            "file name with specifiers: %f source name, %Q timestamp, %!+(_a) unique suffix",
        ),
        SettingDef::host("AutoBatchParentSegs", "0", "batch output").unsupported(),
        SettingDef::adapter("FilePath", "", "directory to write to"),
        SettingDef::adapter("Overwrite", "0", "1 replaces an existing file; 0 appends to it (atomically)"),
        SettingDef::adapter("Charset", "Default", "character set of the files").unsupported(),
        SettingDef::adapter("OpenTimeout", "5", "seconds to wait to open a file").unsupported(),
    ])
}

fn retry_interval(ctx: &Context<'_>) -> Duration {
    Duration::from_secs(ctx.setting_i64("RetryInterval", 5).max(0) as u64)
}

/// Sends over MLLP and interprets the reply.
struct TcpOperation {
    actions: ReplyActions,
    retry: Duration,
    /// How messages are written (`Separators`).
    output: OutputForm,
}

impl Item for TcpOperation {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let control_id = msg.hl7().ok().and_then(|m| m.control_id().map(str::to_string)).unwrap_or_default();
        match ctx.adapter_call(&written(&self.output, msg), &[]) {
            Ok(reply) => {
                let e = self.actions.evaluate(Reply::Body(&reply.body), &control_id);
                Ok(e.outcome(self.retry).reply(reply.body))
            }
            // Delivery failed: explicit `E`/`X` entries decide; otherwise retry (on_process_error).
            Err(err) => match self.actions.evaluate_failure(&err.message) {
                Some(e) => Ok(e.outcome(self.retry)),
                None => Err(err),
            },
        }
    }

    fn on_process_error(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>, error: &Error) -> ErrorAction {
        match error.kind {
            ErrorKind::Disconnected | ErrorKind::Timeout => ErrorAction::Retry(self.retry),
            _ => ErrorAction::Default,
        }
    }
}

/// Writes files.
struct FileOperation {
    filename: String,
    retry: Duration,
    /// How messages are written (`Separators`).
    output: OutputForm,
}

impl Item for FileOperation {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let original = msg.attribute("OriginalFilename").unwrap_or_default();
        let control_id = msg.hl7().ok().and_then(|m| m.control_id().map(str::to_string)).unwrap_or_default();
        let default_name = if control_id.is_empty() { format!("message{}", msg.id()) } else { control_id };
        let written = ctx.adapter_call(
            &written(&self.output, msg),
            &[("Filename", &self.filename), ("OriginalFilename", original), ("DefaultName", &default_name)],
        )?;
        if let Some((_, path)) = written.params.iter().find(|(k, _)| k == "Path") {
            ctx.debug(&format!("wrote {path}"));
        }
        Ok(Outcome::completed())
    }

    fn on_process_error(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>, _error: &Error) -> ErrorAction {
        ErrorAction::Retry(self.retry)
    }
}
