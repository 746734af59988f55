//! `EnsLib.MsgRouter.RoutingEngine`: the generic (non-HL7) router, by convention the
//! production's `Ens.Alert` item, routing `Ens.AlertRequest` alerts to alert operations.
//!
//! `BusinessRuleName` names an IRIS rule class (`Ens.Rule.Definition`, usually with
//! `EnsLib.MsgRouter.RuleAssist`) found among the class files beside the production
//! (its directory and `rules/`, `dtl/`, `classes/`, as [`hie_iris::catalog`] lays them
//! out), or a `.cls`/`.xml` file path relative to it. `hie-iris` evaluates it, as the
//! HL7 router does, over the message as an object:
//!
//! - a JSON object body (the engine's alerts) is the object: `Document.AlertText` reads
//!   key `AlertText`; one with `AlertText` is of class `Ens.AlertRequest`;
//! - an HL7 v2 body is an `EnsLib.HL7.Message` (no DocType: the HL7 router is for that);
//! - any other body is an object of the message's attributes (`Document.OriginalFilename`,
//!   `Document.URL`), of class `EnsLib.HTTP.GenericMessage` when it came over HTTP and
//!   `Ens.StreamContainer` otherwise.
//!
//! # Invariants
//! - The rule is loaded and checked when the router starts: a missing or broken rule, or
//!   a send to an item the production lacks, is a start error naming the file.
//! - IRIS semantics: a message no rule sends anywhere is Completed unsent (with a
//!   warning); a `delete` discards it. A send naming a transform leaves it to the engine
//!   (a pack class of that name).
//! - Nothing is read from disk while messages flow but the rule's `InFile` files.

use hie_iris::RuleDefinition;
use hie_iris::catalog::{self, Catalog};
use hie_iris::env::{DirFileReader, Services};
use hie_iris::lookup::LookupTables;
use hie_iris::rules::{Body, HL7_MESSAGE_CLASS, Input};
use hie_plugin_api::hl7;
use hie_plugin_api::settings::SettingKind;
use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, Message, Outcome, Send, SettingDef};
use std::path::{Path, PathBuf};

/// The class of an engine alert.
pub const ALERT_CLASS: &str = "Ens.AlertRequest";

/// `EnsLib.MsgRouter.RoutingEngine`.
pub fn class() -> ClassDef {
    ClassDef::new("EnsLib.MsgRouter.RoutingEngine", ItemKind::Process, |ctx| Ok(Box::new(Router::load(ctx)?)))
        .doc("routes non-HL7 messages (Ens.AlertRequest alerts, files, HTTP requests) by an IRIS rule class over their properties")
        .settings([
            SettingDef::host("BusinessRuleName", "", "rule class name (a class file beside the production), or a .cls/.xml path"),
            SettingDef::host(
                "ActOnTransformError",
                "0",
                "1: an error of a transform stops the routing (HIE: transforms run as pack classes, in the engine)",
            )
            .kind(SettingKind::Bool)
            .unsupported(),
            SettingDef::host("Validation", "", "document validation before the rules").unsupported(),
            SettingDef::host("BadMessageHandler", "", "item for messages that fail validation").unsupported(),
            SettingDef::host("ActOnValidationError", "0", "validation errors are errors").unsupported(),
            SettingDef::host("AlertOnBadMessage", "0", "alert on bad messages").unsupported(),
            SettingDef::host("ResponseFrom", "", "targets whose responses are returned").unsupported(),
            SettingDef::host("ResponseTargetConfigNames", "", "items that also get the responses").unsupported(),
            SettingDef::host("ResponseTimeout", "-1", "seconds to wait for ResponseFrom").unsupported(),
            SettingDef::host("ForceSyncSend", "0", "send synchronously to each target").unsupported(),
            SettingDef::host(
                "RuleLogging",
                "e",
                "rule log: HIE logs evaluation errors as warnings and the rules fired at debug",
            )
            .unsupported(),
        ])
}

/// The loaded rule and what it reads with.
struct Router {
    rule: RuleDefinition,
    file: PathBuf,
    lookups: LookupTables,
    files: DirFileReader,
}

/// What the rule sees of one message: its body as a rule reads it and its class.
fn document(msg: &Message<'_>) -> (Option<serde_json::Value>, &'static str) {
    if let Ok(value @ serde_json::Value::Object(_)) = serde_json::from_slice::<serde_json::Value>(msg.body()) {
        let class = if value.get("AlertText").is_some() { ALERT_CLASS } else { "Ens.Request" };
        return (Some(value), class);
    }
    if msg.body().starts_with(b"MSH") && hl7::parse(msg.body()).is_ok() {
        return (None, HL7_MESSAGE_CLASS);
    }
    let fields: serde_json::Map<String, serde_json::Value> =
        msg.attributes().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string()))).collect();
    let class = if fields.contains_key("HttpRequest") { "EnsLib.HTTP.GenericMessage" } else { "Ens.StreamContainer" };
    (Some(serde_json::Value::Object(fields)), class)
}

impl Router {
    fn load(ctx: &Context<'_>) -> Result<Router, Error> {
        let name = ctx.setting_or("BusinessRuleName", "").trim().to_string();
        if name.is_empty() {
            return Err(Error::failed(
                "BusinessRuleName is empty: the router has no rule (IRIS would swallow every message)",
            ));
        }
        let dir = PathBuf::from(ctx.setting("HIE.ProductionDir").unwrap_or_else(|| ".".into()));
        let path = Path::new(&name);
        let file = [".cls", ".xml"]
            .iter()
            .any(|e| name.ends_with(e))
            .then(|| if path.is_absolute() { path.to_path_buf() } else { dir.join(path) });
        let mut found = Catalog::load(&dir, file.as_deref(), &name).map_err(Error::failed)?;
        let Some((rule, file)) = found.take_rule(&name, file.as_deref()) else {
            return Err(Error::failed(format!(
                "no rule class {name} (BusinessRuleName) among the .cls/.xml files of {} (and its rules/, dtl/, classes/)",
                dir.display()
            )));
        };
        let files = DirFileReader::new(file.parent().unwrap_or(&dir));
        Ok(Router { rule, file, lookups: catalog::load_lookups(&dir).map_err(Error::failed)?, files })
    }
}

impl Item for Router {
    fn on_init(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        if let Some(known) = ctx.production_items() {
            let unknown: Vec<&str> =
                self.rule.targets().into_iter().filter(|t| !known.iter().any(|k| k == t)).collect();
            if !unknown.is_empty() {
                return Err(Error::failed(format!(
                    "rule {} ({}) sends to {}, not an item of the production",
                    self.rule.class,
                    self.file.display(),
                    unknown.join(", ")
                )));
            }
        }
        ctx.info(&format!("IRIS rule {} from {}", self.rule.class, self.file.display()));
        Ok(())
    }

    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let (object, class) = document(msg);
        let parsed = if object.is_none() { msg.hl7().ok() } else { None };
        let body = match (&object, &parsed) {
            (Some(o), _) => Body::Object(o),
            (None, Some(m)) => Body::Hl7(m),
            (None, None) => return Ok(Outcome::fail("message body could not be read")),
        };
        let doc_name = parsed.as_ref().and_then(doc_name_of).unwrap_or_default();
        let services = Services { lookups: &self.lookups, files: &self.files, now: chrono::Local::now().naive_local() };
        let input =
            Input { body, msg_class: class, doc_type: None, doc_name: &doc_name, source: msg.source(), services };
        let decision = self.rule.evaluate(&input);
        for t in &decision.traces {
            ctx.info(&format!("rule trace: {t}"));
        }
        for e in &decision.errors {
            ctx.warn(&format!("rule {}: {e}", self.rule.class));
        }
        let fired: Vec<&str> = decision.fired.iter().map(|f| f.reason.as_str()).collect();
        if !fired.is_empty() {
            ctx.debug(&format!("rule {}: fired {}", self.rule.class, fired.join(", ")));
        }
        if decision.deleted {
            return Ok(Outcome::discard(format!("deleted by rule {}", fired.join(", "))));
        }
        if decision.sends.is_empty() {
            ctx.count("unmatched", 1);
            return Ok(Outcome::completed().warn(if fired.is_empty() {
                format!("no rule fired for this {class}; it was not sent anywhere")
            } else {
                format!("rules {} fired and sent nothing", fired.join(", "))
            }));
        }
        let mut out = Outcome::completed();
        for (target, transform) in decision.flat_sends() {
            let mut send = Send::forward(target);
            if let Some(t) = transform.filter(|t| !t.is_empty()) {
                send = send.with_transform(t);
            }
            out = out.send(send);
        }
        Ok(out)
    }
}

/// The DocName of an HL7 message (`ADT_A08`), as rules' `docName` constraints read it.
fn doc_name_of(m: &hl7::Message<'_>) -> Option<String> {
    let code = m.message_code()?;
    Some(match m.trigger_event() {
        Some(t) if !t.is_empty() => format!("{code}_{t}"),
        _ => code.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_declares_business_rule_name_and_marks_what_hie_does_not_do() {
        let c = class();
        let get = |n: &str| c.settings.iter().find(|s| s.name == n).expect(n);
        assert!(get("BusinessRuleName").supported);
        assert!(!get("ResponseFrom").supported && !get("Validation").supported);
        assert_eq!(c.adapter, "");
    }
}
