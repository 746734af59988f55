//! Business services: `EnsLib.HL7.Service.TCPService` and `EnsLib.HL7.Service.FileService`.
//!
//! The host adapter receives the bytes; the service parses them, decides the targets
//! (`TargetConfigNames`) and builds the ACK. The host commits the message before it sends
//! that ACK, and NACKs instead if it cannot.

use crate::ack::AckPolicy;
use crate::validation::{Validation, load_schemas};
use hie_hl7_schema::Registry;
use hie_plugin_api::hl7::{self, ack::err_code};
use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, Message, Outcome, SettingDef, adapters};

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
            "schema validation: d (DocType required), m (segment structure), z / -z (trailing Z segments refused / accepted), 1 = dm-z; a failing message is NACKed (AE, ERR naming the segment and code)",
        ),
        SettingDef::host("SearchTableClass", "", "IRIS search table class (HIE indexes SearchFields instead)")
            .unsupported(),
        SettingDef::host("DefCharEncoding", "Latin1", "default character encoding when MSH-18 is empty").unsupported(),
        SettingDef::host("BatchHandling", "Whole", "how batches are forwarded (HIE forwards each message)")
            .unsupported(),
        SettingDef::host("ArchiveIO", "0", "archive adapter I/O").unsupported(),
        SettingDef::host("ThrottleDelay", "0", "milliseconds between messages").unsupported(),
    ]
}

/// `EnsLib.HL7.Service.TCPService`.
pub fn tcp_service() -> ClassDef {
    ClassDef::new("EnsLib.HL7.Service.TCPService", ItemKind::Service, |ctx| {
        Ok(Box::new(HL7Service {
            targets: ctx.setting_list("TargetConfigNames"),
            ack: AckPolicy::from_settings(ctx),
            file: false,
            validation: validation(ctx)?,
        }))
    })
    .adapter(adapters::TCP_MLLP_INBOUND)
    .doc("receives HL7 v2 over MLLP/TCP and acknowledges after commit")
    .settings(common_host_settings())
    .settings([
        SettingDef::host(
            "AckMode",
            "Immed",
            "Never | Immed (ACK once committed) | Msh (as MSH-15/16 ask) | App (treated as Immed)",
        ),
        SettingDef::host(
            "LocalFacilityApplication",
            "ISC:EnsembleHL7",
            "FACILITY:APPLICATION placed in ACKs' MSH-4/MSH-3",
        ),
        SettingDef::host(
            "UseAckCommitCodes",
            "1",
            "answer CA/CE/CR when the sender uses enhanced acknowledgement mode",
        ),
        SettingDef::host("AddNackERR", "1", "add an ERR segment to NACKs"),
        SettingDef::host("NackErrorCode", "E", "ERR-4 severity code for NACKs").unsupported(),
        SettingDef::host("Framing", "Flexible", "framing: HIE speaks MLLP (also accepts FS CR LF endings)"),
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
            ack: AckPolicy::from_settings(ctx),
            file: true,
            validation: validation(ctx)?,
        }))
    })
    .adapter(adapters::FILE_INBOUND)
    .doc("takes HL7 v2 messages (single, many or FHS/BHS batches) from files in a directory")
    .settings(common_host_settings())
    .settings([
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
            "check that files are complete (HIE skips files modified in the last 200 ms)",
        )
        .unsupported(),
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
struct HL7Service {
    /// Schema validation before the message is accepted.
    validation: Option<ServiceValidation>,
    /// Where every message goes.
    targets: Vec<String>,
    /// How to acknowledge.
    ack: AckPolicy,
    /// File services never reply.
    file: bool,
}

impl Item for HL7Service {
    fn on_init(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        if self.targets.is_empty() {
            ctx.warn("TargetConfigNames is empty: messages are acknowledged but go nowhere");
        }
        if self.ack.mode.eq_ignore_ascii_case("app") {
            ctx.warn("AckMode=App is treated as Immed: HIE acknowledges once the message is committed");
        }
        Ok(())
    }

    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let body = msg.body();
        let parsed = match hl7::parse(body) {
            Ok(m) => m,
            Err(e) => {
                ctx.count("rejected", 1);
                let mut out = Outcome::fail(format!("not a valid HL7 v2 message: {e}"));
                if !self.file
                    && let Some(nack) = self.ack.reject_unparseable(body, &e)
                {
                    out = out.reply(nack);
                }
                return Ok(out);
            }
        };
        if parsed.message_code().is_none() {
            ctx.count("rejected", 1);
            let mut out = Outcome::fail("MSH-9 (message type) is empty");
            if !self.file
                && let Some(nack) =
                    self.ack.reject(&parsed, err_code::REQUIRED_FIELD_MISSING, "MSH-9 message type is required")
            {
                out = out.reply(nack);
            }
            return Ok(out);
        }
        if let Some(v) = &self.validation {
            let doc = v.schemas.resolve_message(v.category.as_deref(), &parsed);
            if let Err(p) = v.flags.check(&parsed, doc.as_ref()) {
                ctx.count("invalid", 1);
                let mut out = Outcome::fail(format!("failed validation: {}", p.text));
                if !self.file
                    && let Some(nack) = self.ack.reject_at(&parsed, p.code, &p.text, p.location())
                {
                    out = out.reply(nack);
                }
                return Ok(out);
            }
        }
        let mut out = Outcome::completed().forward_to(self.targets.iter().cloned());
        if !self.file
            && let Some(a) = self.ack.accept(&parsed)
        {
            out = out.reply(a);
        }
        Ok(out)
    }
}
