//! Business services: `EnsLib.HL7.Service.TCPService` and `EnsLib.HL7.Service.FileService`.
//!
//! The host adapter receives the bytes; the service parses them, decides the targets
//! (`TargetConfigNames`) and builds the ACK as IRIS's ACK settings say ([`crate::ack`]).
//! The host commits the message before it sends that ACK, and NACKs instead if it cannot
//! (following the same settings, `host/src/engine/intake.rs`), and it keeps the reply with
//! the message as `SaveReplies` says. A file service has no connection to answer on: the
//! ACK it builds goes, as a message, to `AckTargetConfigNames` (docs/iris-settings.md §9.1.7).

use crate::ack::{self, AckMode, AckPolicy};
use crate::batch::{self, BatchHandling, ChildVerdict};
use crate::validation::{Validation, load_schemas};
use hie_hl7_schema::Registry;
use hie_plugin_api::hl7::{self, ack::err_code};
use hie_plugin_api::settings::{SettingKind, SettingsSource};
use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, Message, Outcome, Send, SettingDef, adapters};

fn common_host_settings() -> Vec<SettingDef> {
    vec![
        SettingDef::host("TargetConfigNames", "", "comma-separated items that receive every message"),
        SettingDef::host(
            "MessageSchemaCategory",
            "",
            "HL7 schema category: with MSH-9 it gives each message its DocType (2.5:ADT_A01) for IRIS rules downstream (schema validation is not implemented)",
        ),
        SettingDef::host(
            "Validation",
            "",
            "schema validation: d (DocType required), m (segment structure), z / -z (trailing Z segments refused / accepted), 1 = dm-z; a failing message is NACKed (AE or CE, ERR naming the segment and code)",
        ),
        SettingDef::host("SearchTableClass", "", "IRIS search table class (HIE indexes SearchFields instead)")
            .unsupported(),
        SettingDef::host(
            "DefCharEncoding",
            "",
            "charset the bytes are read in (Latin1, UTF-8, ...) where MSH-18 names none; !charset for every message (mislabelled senders); every later hop reads the message so; empty = by MSH-18, else UTF-8 when valid, else Latin-1 (IRIS: Latin1)",
        ),
        SettingDef::host(
            "BatchHandling",
            "1Session",
            "an FHS/BHS batch in one frame, body or file: Whole (forwarded as one document) | 1Session | Batch | Indiv (each message forwarded; HIE keeps them in the batch's session); one batch of ACKs answers it",
        ),
        SettingDef::host("ArchiveIO", "0", "archive adapter I/O").unsupported(),
        SettingDef::host("ThrottleDelay", "0", "milliseconds between messages").unsupported(),
        SettingDef::host(
            "AlertGracePeriod",
            "0",
            "seconds the inbound adapter may fail to reach its source before AlertOnError alerts (0: at once)",
        ),
        SettingDef::host(
            "IgnoreInboundAck",
            "1",
            "a message that is itself an ACK (MSH-9 ACK) is neither forwarded nor acknowledged (Discarded), so two engines do not ACK each other's ACKs",
        )
        .kind(SettingKind::Bool),
        SettingDef::host(
            "SaveReplies",
            "IndexNotOKs",
            "which replies are kept with the message: None, NotOKs (all but plain AA/CA ACKs), All, IndexNotOKs (as NotOKs; HIE indexes nothing more)",
        )
        .kind(SettingKind::choice(&["None", "NotOKs", "All", "IndexNotOKs"])),
        SettingDef::host(
            "DocTypeResolution",
            "Standard",
            "how MSH-9 gives the DocType (HIE resolves as Standard)",
        )
        .kind(SettingKind::choice(&["Standard", "Ignore 9.3", "Use 9.3", "Literal"]))
        .unsupported(),
    ]
}

/// `EnsLib.HL7.Service.TCPService`.
pub fn tcp_service() -> ClassDef {
    ClassDef::new("EnsLib.HL7.Service.TCPService", ItemKind::Service, |ctx| {
        Ok(Box::new(HL7Service {
            targets: ctx.setting_list("TargetConfigNames"),
            ack: AckPolicy::from_settings(ctx, "Immed", ack::TCP_ACK_MODES)?,
            ack_targets: Vec::new(),
            ignore_acks: ctx.bool_or("IgnoreInboundAck", true).map_err(|e| Error::failed(e.to_string()))?,
            file: false,
            batch: BatchHandling::parse(&ctx.setting_or("BatchHandling", "")).map_err(Error::failed)?,
            validation: validation(ctx)?,
            encoding: def_char_encoding(ctx)?,
        }))
    })
    .adapter(adapters::TCP_MLLP_INBOUND)
    .doc("receives HL7 v2 over MLLP/TCP and acknowledges after commit")
    .settings(common_host_settings())
    .settings(ack::ack_settings(
        "Immed",
        ack::TCP_ACK_MODES,
        "Never | Immed (ACK once committed) | Msh (as MSH-15/16 ask) | App (treated as Immed) | Byte (one byte: 0x06 accepted, 0x15 refused)",
    ))
    .settings([
        SettingDef::host(
            "PreACKTCPClear",
            "0",
            "discard bytes waiting on the connection before writing the ACK: 0 no, 1 yes and warn, 2 yes",
        )
        .kind(SettingKind::choice(&["0", "1", "2"]))
        .unsupported(),
        SettingDef::host(
            "Framing",
            "Flexible",
            "Flexible (detect each message's framing; reply in it) | Flexible! (detect once) | MLLP | MLLPnn/mm | AsciiLF | AsciiCR | Asciinn | Asciinn/mm | None (a line starting MSH starts a message)",
        ),
        SettingDef::adapter("Port", "", "TCP port to listen on (required)"),
        SettingDef::adapter("StayConnected", "-1", "seconds a connection may stay idle; -1 = for ever"),
        SettingDef::adapter("ReadTimeout", "5", "seconds to wait for the rest of a started message"),
        SettingDef::adapter(
            "AllowedIPAddresses",
            "",
            "comma-separated peers allowed to connect: addresses or server names, each with an optional :port (IPv6: |port); empty = any",
        ),
        SettingDef::adapter("JobPerConnection", "1", "each connection is served independently (always so in HIE)"),
        SettingDef::adapter(
            "MaxFrameSize",
            "16777216",
            "HIE: largest message in bytes; bigger frames close the connection",
        ),
        SettingDef::adapter("SSLConfig", "", "TLS configuration: <TLSDir>/<name>.crt and .key (and .ca to require client certificates)"),
        SettingDef::adapter("LocalInterface", "", "local address to listen on, or \"name (address)\"; empty = every interface"),
        SettingDef::adapter("QSize", "100", "listen backlog").unsupported(),
        SettingDef::adapter("CallInterval", "5", "polling interval (not used by TCP listeners)").unsupported(),
    ])
}

/// `EnsLib.HL7.Service.FileService`.
pub fn file_service() -> ClassDef {
    ClassDef::new("EnsLib.HL7.Service.FileService", ItemKind::Service, |ctx| {
        Ok(Box::new(HL7Service {
            targets: ctx.setting_list("TargetConfigNames"),
            ack: AckPolicy::from_settings(ctx, "Never", ack::FILE_ACK_MODES)?,
            ack_targets: ctx.setting_list("AckTargetConfigNames"),
            ignore_acks: ctx.bool_or("IgnoreInboundAck", true).map_err(|e| Error::failed(e.to_string()))?,
            file: true,
            batch: BatchHandling::parse(&ctx.setting_or("BatchHandling", "")).map_err(Error::failed)?,
            validation: validation(ctx)?,
            encoding: def_char_encoding(ctx)?,
        }))
    })
    .adapter(adapters::FILE_INBOUND)
    .doc("takes HL7 v2 messages (single, many or FHS/BHS batches) from files in a directory")
    .settings(common_host_settings())
    .settings(ack::ack_settings(
        "Never",
        ack::FILE_ACK_MODES,
        "Never | Immed | Msh | App (treated as Immed): the ACK built for each message goes to AckTargetConfigNames",
    ))
    .settings([
        SettingDef::host(
            "AckTargetConfigNames",
            "",
            "comma-separated items that receive, as a message, the ACK built for each accepted message (AckMode other than Never)",
        ),
        SettingDef::host(
            "OverrideSegmentTerminator",
            "13",
            "control characters taken as segment terminators (HIE reads CR, LF and CR LF)",
        )
        .unsupported(),
        SettingDef::adapter(
            "FileAccessTimeout",
            "2",
            "with ConfirmComplete 1: seconds a file must go unmodified before it is taken",
        ),
        SettingDef::adapter("FilePath", "", "directory to poll (required)"),
        SettingDef::adapter("FileSpec", "*", "file name pattern(s), `;`-separated, with * and ?"),
        SettingDef::adapter("ArchivePath", "", "move files here once their messages are committed"),
        SettingDef::adapter("DeleteFromServer", "1", "delete files once committed when there is no ArchivePath"),
        SettingDef::adapter("CallInterval", "5", "seconds between polls"),
        SettingDef::adapter("WorkPath", "", "directory for files being processed").unsupported(),
        SettingDef::adapter("Charset", "Default", "character set of the files").unsupported(),
        SettingDef::adapter("AppendTimestamp", "1", "append a timestamp to archived names").unsupported(),
        SettingDef::adapter("SemaphoreSpec", "", "semaphore files").unsupported(),
        SettingDef::adapter("SubdirectoryLevels", "0", "poll subdirectories").unsupported(),
        SettingDef::adapter(
            "ConfirmComplete",
            "0",
            "how to be sure a file is complete: 1 = its size has stopped changing for FileAccessTimeout (other bits: HIE's 200 ms settle)",
        ),
    ])
}

/// What a service validates messages against: the flags, its MessageSchemaCategory and
/// the production's schema categories.
struct ServiceValidation {
    flags: Validation,
    category: Option<String>,
    schemas: Registry,
}

/// The service's `Validation`, `None` when empty (then nothing is checked per message).
fn validation(ctx: &Context<'_>) -> Result<Option<ServiceValidation>, Error> {
    let Some(flags) = Validation::parse(&ctx.setting_or("Validation", "")).map_err(Error::failed)? else {
        return Ok(None);
    };
    let dir = std::path::PathBuf::from(ctx.setting("HIE.ProductionDir").unwrap_or_else(|| ".".into()));
    let category = Some(ctx.setting_or("MessageSchemaCategory", "").trim().to_string()).filter(|c| !c.is_empty());
    Ok(Some(ServiceValidation { flags, category, schemas: load_schemas(&dir).map_err(Error::failed)? }))
}

/// Both HL7 services: parse, acknowledge, forward.
/// The service's `DefCharEncoding` (the host records it on the session for later hops).
fn def_char_encoding(ctx: &Context<'_>) -> Result<Option<hl7::DefCharEncoding>, Error> {
    hl7::DefCharEncoding::parse(&ctx.setting_or("DefCharEncoding", ""))
        .map_err(|e| Error::failed(format!("setting {e}")))
}

struct HL7Service {
    /// Schema validation before the message is accepted.
    validation: Option<ServiceValidation>,
    /// Where every message goes.
    targets: Vec<String>,
    /// How to acknowledge.
    ack: AckPolicy,
    /// File service: where the ACKs it builds go as messages (`AckTargetConfigNames`).
    ack_targets: Vec<String>,
    /// `IgnoreInboundAck`: an inbound ACK is discarded unanswered.
    ignore_acks: bool,
    /// File services have no connection to reply on: their ACKs go to `ack_targets`.
    file: bool,
    /// `BatchHandling`: what an FHS/BHS batch arriving as one unit becomes.
    batch: BatchHandling,
    /// `DefCharEncoding`: the charset the bytes are read in where MSH-18 is silent (or
    /// always, forced), so validation and ACK text decode as later hops will.
    encoding: Option<hl7::DefCharEncoding>,
}

/// What the service decides for one message (alone, or a child of a batch).
enum Verdict {
    /// Accepted: forwarded, with its ACK if the AckMode gives one.
    Accept(Option<Vec<u8>>),
    /// Refused: why (the outcome's reason), and its NACK if any.
    Reject(String, Option<Vec<u8>>),
    /// An inbound ACK under IgnoreInboundAck: neither forwarded nor answered.
    IgnoredAck,
}

impl HL7Service {
    /// The outcome with the ACK or NACK `ack` built for the message: the reply of a TCP
    /// service; for a file service a message to each of AckTargetConfigNames (sent only
    /// when the outcome completes: the host drops the sends of a failed intake).
    fn answer(&self, out: Outcome, ack: Option<Vec<u8>>) -> Outcome {
        match ack {
            Some(a) if self.file => self.ack_targets.iter().fold(out, |o, t| o.send(Send::new(t.clone(), a.clone()))),
            Some(a) => out.reply(a),
            None => out,
        }
    }
}

impl Item for HL7Service {
    fn on_init(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        if self.targets.is_empty() {
            ctx.warn("TargetConfigNames is empty: messages are acknowledged but go nowhere");
        }
        if self.ack.mode == AckMode::App {
            ctx.warn("AckMode=App is treated as Immed: HIE acknowledges once the message is committed");
        }
        if self.file && self.ack.mode != AckMode::Never && self.ack_targets.is_empty() {
            ctx.warn("AckMode is not Never but AckTargetConfigNames is empty: the ACKs built go nowhere");
        }
        // A dangling target would make every accepted message fail at routing.
        if let Some(items) = ctx.production_items()
            && let Some(missing) = self.ack_targets.iter().find(|t| !items.contains(t))
        {
            return Err(Error::failed(format!("setting AckTargetConfigNames: {missing:?} is not an item")));
        }
        Ok(())
    }

    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let body = msg.body();
        if batch::is_batch(body) {
            return Ok(self.process_batch(ctx, body));
        }
        Ok(match self.check(ctx, body) {
            Verdict::Accept(ack) => self.answer(Outcome::completed().forward_to(self.targets.iter().cloned()), ack),
            Verdict::Reject(reason, nack) => self.answer(Outcome::fail(reason), nack),
            Verdict::IgnoredAck => {
                Outcome::discard("an inbound ACK: not forwarded, not acknowledged (IgnoreInboundAck=1)")
            }
        })
    }
}

impl HL7Service {
    /// Parses and checks one message and builds its ACK or NACK.
    fn check(&self, ctx: &Context<'_>, body: &[u8]) -> Verdict {
        let parsed = match hl7::parse(body) {
            Ok(m) => match self.encoding {
                Some(enc) => {
                    let charset = enc.resolve(m.charset_kind());
                    m.with_charset(charset)
                }
                None => m,
            },
            Err(e) => {
                ctx.count("rejected", 1);
                return Verdict::Reject(
                    format!("not a valid HL7 v2 message: {e}"),
                    self.ack.reject_unparseable(body, &e),
                );
            }
        };
        if parsed.message_code().is_none() {
            ctx.count("rejected", 1);
            let nack = self.ack.reject(&parsed, err_code::REQUIRED_FIELD_MISSING, "MSH-9 message type is required");
            return Verdict::Reject("MSH-9 (message type) is empty".into(), nack);
        }
        if self.ignore_acks && parsed.message_code().is_some_and(|c| c.trim().eq_ignore_ascii_case("ACK")) {
            ctx.count("ignored_acks", 1);
            return Verdict::IgnoredAck;
        }
        if let Some(v) = &self.validation {
            let doc = v.schemas.resolve_message(v.category.as_deref(), &parsed);
            if let Err(p) = v.flags.check(&parsed, doc.as_ref()) {
                ctx.count("invalid", 1);
                let nack = self.ack.reject_at(&parsed, p.code, &p.text, p.location());
                return Verdict::Reject(format!("failed validation: {}", p.text), nack);
            }
        }
        Verdict::Accept(self.ack.accept(&parsed))
    }

    /// An FHS/BHS batch: each child checked as a lone message; forwarded as BatchHandling
    /// says; one batch of ACKs answers it (docs/iris-settings.md §9.5).
    fn process_batch(&self, ctx: &Context<'_>, body: &[u8]) -> Outcome {
        let handled = batch::handle(body, self.batch, |child| match self.check(ctx, child) {
            Verdict::Accept(ack) => ChildVerdict { accepted: true, reason: String::new(), ack },
            Verdict::Reject(reason, ack) => ChildVerdict { accepted: false, reason, ack },
            Verdict::IgnoredAck => {
                ChildVerdict { accepted: false, reason: "an inbound ACK (IgnoreInboundAck=1)".into(), ack: None }
            }
        });
        let out = match handled {
            Err(e) => {
                ctx.count("rejected", 1);
                let nack = self.ack.reject_unparseable(body, &e);
                return self.answer(Outcome::fail(format!("not a valid HL7 v2 batch: {e}")), nack);
            }
            Ok(out) => out,
        };
        ctx.count("batches", 1);
        let mut outcome = if out.forward.is_empty() {
            let why = match out.rejected.first() {
                Some((n, reason)) => format!("message {n} of the batch: {reason}"),
                None => "the batch holds no message".to_string(),
            };
            Outcome::fail(format!(
                "batch of {} messages, {} rejected, nothing forwarded: {why}",
                out.children,
                out.rejected.len()
            ))
        } else {
            let mut o = Outcome::completed();
            for child in &out.forward {
                for t in &self.targets {
                    o = o.send(Send::new(t.clone(), child.clone()));
                }
            }
            o
        };
        if !out.forward.is_empty() {
            for (n, reason) in &out.rejected {
                outcome = outcome.warn(format!("message {n} of the batch was rejected and not forwarded: {reason}"));
            }
        }
        self.answer(outcome, out.reply)
    }
}
