//! `EnsLib.HL7.MsgRouter.RoutingEngine`: routes each message by the rules in the file its
//! `BusinessRuleName` names (format in [`crate::rules`]).
//!
//! `BusinessRuleName` is a path to a `.yaml`/`.yml`/`.json` file (relative to the
//! production file's directory) or an IRIS rule class name, looked up as
//! `rules/<name>.yaml` next to the production file.

use crate::rules::{Facts, RuleSet};
use hie_plugin_api::hl7;
use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, Message, Outcome, Send, SettingDef};
use std::path::{Path, PathBuf};

/// The class.
pub fn routing_engine() -> ClassDef {
    ClassDef::new("EnsLib.HL7.MsgRouter.RoutingEngine", ItemKind::Process, |ctx| {
        let file = rules_path(ctx)?;
        let text = std::fs::read_to_string(&file)
            .map_err(|e| Error::failed(format!("cannot read rules file {} (BusinessRuleName): {e}", file.display())))?;
        let rules = RuleSet::parse(&text).map_err(|e| Error::failed(format!("rules file {}: {e}", file.display())))?;
        let bad = ctx.setting_or("BadMessageHandler", "");
        Ok(Box::new(Router { rules, file, bad_message_handler: (!bad.is_empty()).then_some(bad) }))
    })
    .doc("routes messages by content rules (conditions on HL7 paths, source and type; send, transform, delete, return)")
    .settings([
        SettingDef::host("BusinessRuleName", "", "rules file (path, or rule name looked up as rules/<name>.yaml)"),
        SettingDef::host("BadMessageHandler", "", "item that gets messages that fail to parse or match no rule"),
        SettingDef::host("Validation", "", "schema validation flags (e.g. dm-z)").unsupported(),
        SettingDef::host("ResponseFrom", "", "targets whose responses are returned").unsupported(),
        SettingDef::host("ForceSyncSend", "0", "send synchronously to each target").unsupported(),
        SettingDef::host("ActOnTransformError", "0", "route messages whose transform failed").unsupported(),
        SettingDef::host("ActOnValidationError", "0", "route messages that fail validation").unsupported(),
        SettingDef::host("RuleLogging", "e", "rule logging flags").unsupported(),
        SettingDef::host("AlertOnBadMessage", "0", "alert on bad messages").unsupported(),
    ])
}

fn rules_path(ctx: &Context<'_>) -> Result<PathBuf, Error> {
    let name = ctx.setting_or("BusinessRuleName", "");
    if name.is_empty() {
        return Err(Error::failed("BusinessRuleName is empty: the router has no rules file"));
    }
    let base = PathBuf::from(ctx.setting("HIE.ProductionDir").unwrap_or_else(|| ".".into()));
    let p = Path::new(&name);
    let is_path = name.contains('/') || [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e));
    Ok(if is_path {
        if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
    } else {
        base.join("rules").join(format!("{name}.yaml"))
    })
}

/// The router.
struct Router {
    rules: RuleSet,
    file: PathBuf,
    bad_message_handler: Option<String>,
}

impl Item for Router {
    fn on_init(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        // Rule targets must be items of the production, like TargetConfigNames.
        if let Some(known) = ctx.production_items() {
            let unknown: Vec<&str> =
                self.rules.targets().into_iter().filter(|t| !known.iter().any(|k| k == t)).collect();
            if !unknown.is_empty() {
                return Err(Error::failed(format!(
                    "rules file {} sends to {} which {} not an item of the production",
                    self.file.display(),
                    unknown.join(", "),
                    if unknown.len() == 1 { "is" } else { "are" }
                )));
            }
        }
        ctx.info(&format!("{} rules loaded from {}", self.rules.rules.len(), self.file.display()));
        Ok(())
    }

    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let parsed = match hl7::parse(msg.body()) {
            Ok(m) => m,
            Err(e) => {
                ctx.count("bad_messages", 1);
                return Ok(match &self.bad_message_handler {
                    Some(h) => Outcome::completed()
                        .send(Send::forward(h.clone()))
                        .warn(format!("invalid HL7 ({e}): sent to BadMessageHandler {h}")),
                    None => Outcome::fail(format!("invalid HL7 and no BadMessageHandler: {e}")),
                });
            }
        };
        let decision = self.rules.decide(&Facts { message: &parsed, source: msg.source() });
        if decision.delete {
            return Ok(Outcome::discard(format!("deleted by rule {}", decision.fired.join(", "))));
        }
        if decision.fired.is_empty() {
            ctx.count("unmatched", 1);
            return Ok(match &self.bad_message_handler {
                Some(h) => Outcome::completed()
                    .send(Send::forward(h.clone()))
                    .warn(format!("no rule matched: sent to BadMessageHandler {h}")),
                None => Outcome::completed().warn("no rule matched; the message was not sent anywhere"),
            });
        }
        let mut out = Outcome::completed();
        for s in decision.sends {
            let mut send = Send::forward(s.target);
            if let Some(t) = s.transform {
                send = send.with_transform(t);
            }
            if let Some(p) = s.priority {
                send = send.with_priority(p);
            }
            out = out.send(send);
        }
        Ok(out)
    }
}
