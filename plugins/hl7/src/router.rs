//! `EnsLib.HL7.MsgRouter.RoutingEngine`: routes each message by the rules its
//! `BusinessRuleName` names: an IRIS rule class (`Ens.Rule.Definition`, with its DTLs;
//! [`crate::iris_rules`]) or a YAML rules file ([`crate::rules`]).
//!
//! `BusinessRuleName` is a path to a `.yaml`/`.yml`/`.json` file or a `.cls`/`.xml` class
//! file (relative to the production file's directory), or a rule class name: looked up
//! as `rules/<name>.yaml` next to the production file, then among the class files there.

use crate::iris_rules::{CATEGORY_ATTRIBUTE, IrisRules};
use crate::rule_logging::RuleLogging;
use crate::rules::{Facts, RuleSet};
use crate::validation::{Validation, load_schemas};
use hie_hl7_schema::Registry;
use hie_plugin_api::hl7;
use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, Message, Outcome, Send, SettingDef};
use std::path::{Path, PathBuf};

/// The class.
pub fn routing_engine() -> ClassDef {
    ClassDef::new("EnsLib.HL7.MsgRouter.RoutingEngine", ItemKind::Process, |ctx| {
        let (rules, file) = load_rules(ctx)?;
        let bad = ctx.setting_or("BadMessageHandler", "");
        let validation = match Validation::parse(&ctx.setting_or("Validation", "")).map_err(Error::failed)? {
            None => None,
            Some(v) => Some((v, match &rules {
                Rules::Iris(r) => r.schemas().clone(),
                Rules::Yaml(_) => load_schemas(&production_dir(ctx)).map_err(Error::failed)?,
            })),
        };
        let flag = |name: &str| {
            let v = ctx.setting_or(name, "0");
            match v.trim() {
                "1" | "true" | "True" => Ok(true),
                "0" | "false" | "False" | "" => Ok(false),
                _ => Err(Error::failed(format!("{name}: expected 0 or 1, not {v:?}"))),
            }
        };
        let act_on_transform_error = flag("ActOnTransformError")?;
        let act_on_validation_error = flag("ActOnValidationError")?;
        let rule_logging = RuleLogging::parse(&ctx.setting_or("RuleLogging", "e")).map_err(Error::failed)?;
        Ok(Box::new(Router {
            rules,
            file,
            bad_message_handler: (!bad.is_empty()).then_some(bad),
            validation,
            act_on_transform_error,
            act_on_validation_error,
            rule_logging,
        }))
    })
    .doc("routes messages by content rules: IRIS rule classes with their DTLs, or YAML rules (conditions on HL7 paths, source and type; send, transform, delete, return)")
    .settings([
        SettingDef::host(
            "BusinessRuleName",
            "",
            "rule class name (rules/<name>.yaml, or a class file beside the production), or a rules or class file path",
        ),
        SettingDef::host("BadMessageHandler", "", "item that gets messages that fail to parse or match no rule"),
        SettingDef::host(
            "Validation",
            "",
            "schema validation before the rules: d (DocType required), m (segment structure), z / -z (trailing Z segments refused / accepted), 1 = dm-z; failures go to BadMessageHandler",
        ),
        SettingDef::host("ResponseFrom", "", "targets whose responses are returned").unsupported(),
        SettingDef::host("ForceSyncSend", "0", "send synchronously to each target").unsupported(),
        SettingDef::host(
            "ActOnTransformError",
            "0",
            "1: a DTL error stops the routing and the message takes the error path; 0: the error is logged and only that send is skipped",
        ),
        SettingDef::host(
            "ActOnValidationError",
            "0",
            "1: a message failing Validation takes the error path (ErrorTarget, alerts, ReplyCodeActions of the caller) instead of going to BadMessageHandler",
        ),
        SettingDef::host(
            "RuleLogging",
            "e",
            "rule log (the item's log): e errors, r reasons (rules fired), d debug entries, c conditions, a all",
        ),
        SettingDef::host("AlertOnBadMessage", "0", "alert on bad messages").unsupported(),
    ])
}

/// The rules a router runs.
enum Rules {
    /// A YAML rules file.
    Yaml(RuleSet),
    /// An IRIS rule class (boxed: it carries its DTLs, schemas and tables).
    Iris(Box<IrisRules>),
}

impl Rules {
    fn targets(&self) -> Vec<&str> {
        match self {
            Rules::Yaml(r) => r.targets(),
            Rules::Iris(r) => r.targets(),
        }
    }
}

fn read_yaml(file: &Path) -> Result<Rules, Error> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::failed(format!("cannot read rules file {} (BusinessRuleName): {e}", file.display())))?;
    let rules = RuleSet::parse(&text).map_err(|e| Error::failed(format!("rules file {}: {e}", file.display())))?;
    Ok(Rules::Yaml(rules))
}

/// The production file's directory.
fn production_dir(ctx: &Context<'_>) -> PathBuf {
    PathBuf::from(ctx.setting("HIE.ProductionDir").unwrap_or_else(|| ".".into()))
}

/// Finds and loads what `BusinessRuleName` names; returns it and its file.
fn load_rules(ctx: &Context<'_>) -> Result<(Rules, PathBuf), Error> {
    let name = ctx.setting_or("BusinessRuleName", "");
    if name.is_empty() {
        return Err(Error::failed("BusinessRuleName is empty: the router has no rules file"));
    }
    let base = production_dir(ctx);
    let p = Path::new(&name);
    let resolve = || if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
    let iris = |file: Option<&Path>| IrisRules::load(&base, &name, file).map_err(Error::failed);
    if [".cls", ".xml"].iter().any(|e| name.ends_with(e)) {
        let file = resolve();
        return match iris(Some(&file))? {
            Some(r) => Ok((Rules::Iris(Box::new(r)), file)),
            None => Err(Error::failed(format!("{} holds no rule class (BusinessRuleName)", file.display()))),
        };
    }
    if name.contains('/') || [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e)) {
        let file = resolve();
        return Ok((read_yaml(&file)?, file));
    }
    let yaml = base.join("rules").join(format!("{name}.yaml"));
    if yaml.exists() {
        return Ok((read_yaml(&yaml)?, yaml));
    }
    match iris(None)? {
        Some(r) => {
            let file = r.file.clone();
            Ok((Rules::Iris(Box::new(r)), file))
        }
        None => Err(Error::failed(format!(
            "no rules for BusinessRuleName {name}: neither {} nor a rule class {name} in the .cls/.xml files of {} (and its rules/, dtl/, classes/)",
            yaml.display(),
            base.display()
        ))),
    }
}

/// The router.
struct Router {
    /// Validation flags and the schema categories messages are checked against.
    validation: Option<(Validation, Registry)>,
    /// The rules it runs.
    rules: Rules,
    /// Where they came from (for messages).
    file: PathBuf,
    /// Where messages that fail to parse or validate go.
    bad_message_handler: Option<String>,
    /// IRIS `ActOnTransformError`: a failed DTL fails the message instead of skipping its send.
    act_on_transform_error: bool,
    /// IRIS `ActOnValidationError`: a validation failure is also an error, not just a bad message.
    act_on_validation_error: bool,
    /// What the rule log (the item's log) records.
    rule_logging: RuleLogging,
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
        match &self.rules {
            Rules::Yaml(r) => ctx.info(&format!("{} rules loaded from {}", r.rules.len(), self.file.display())),
            Rules::Iris(r) => {
                ctx.info(&r.summary());
                let foreign = r.foreign_transforms();
                if !foreign.is_empty() {
                    ctx.info(&format!(
                        "transforms {} are no DTL class beside the production: the engine runs them as pack classes",
                        foreign.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let parsed = match msg.hl7() {
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
        if let Some((v, schemas)) = &self.validation {
            let doc = schemas.resolve_message(msg.attribute(CATEGORY_ATTRIBUTE).filter(|c| !c.is_empty()), &parsed);
            if let Err(p) = v.check(&parsed, doc.as_ref()) {
                ctx.count("invalid", 1);
                if self.act_on_validation_error {
                    return Ok(Outcome::fail(format!("failed validation ({}) (ActOnValidationError)", p.text)));
                }
                return Ok(match &self.bad_message_handler {
                    Some(h) => Outcome::completed()
                        .send(Send::forward(h.clone()))
                        .warn(format!("failed validation ({}): sent to BadMessageHandler {h}", p.text)),
                    None => {
                        Outcome::discard(format!("failed validation ({}) and no BadMessageHandler: not sent", p.text))
                    }
                });
            }
        }
        let rules = match &self.rules {
            Rules::Yaml(r) => r,
            Rules::Iris(r) => return Ok(self.route_iris(ctx, r, msg, &parsed)),
        };
        let decision = rules.decide(&Facts { message: &parsed, source: msg.source() });
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

impl Router {
    /// Routes by an IRIS rule. IRIS semantics: a message no rule sends anywhere is completed
    /// unsent (its BadMessageHandler is for messages that fail to parse or validate); a
    /// failed DTL skips its send with a logged error, or with `ActOnTransformError=1` fails
    /// the message, none of its sends made.
    fn route_iris(
        &self,
        ctx: &Context<'_>,
        rules: &IrisRules,
        msg: &Message<'_>,
        parsed: &hl7::Message<'_>,
    ) -> Outcome {
        let category = msg.attribute(CATEGORY_ATTRIBUTE);
        let routed = match rules.route(msg.body(), parsed, msg.source(), category, self.act_on_transform_error) {
            Ok(r) => r,
            Err(e) => {
                ctx.count("transform_errors", 1);
                return Outcome::fail(format!("rule {}: {e} (ActOnTransformError)", rules.class()));
            }
        };
        let log = self.rule_logging;
        for t in &routed.traces {
            ctx.info(&format!("rule trace: {t}"));
        }
        if log.debug {
            for d in &routed.debugs {
                ctx.info(&format!("rule debug: {d}"));
            }
        }
        if log.reasons && !routed.fired.is_empty() {
            ctx.info(&format!("rule {}: fired {}", rules.class(), routed.fired.join(", ")));
        }
        if routed.transform_errors > 0 {
            ctx.count("transform_errors", routed.transform_errors as u64);
        }
        for e in &routed.errors {
            if log.errors {
                ctx.warn(&format!("rule {}: {e}", rules.class()));
            } else {
                ctx.debug(&format!("rule {}: {e}", rules.class()));
            }
        }
        if routed.deleted {
            return Outcome::discard(format!("deleted by rule {}", routed.fired.join(", ")));
        }
        if routed.sends.is_empty() {
            ctx.count("unmatched", 1);
            return Outcome::completed().warn(if routed.fired.is_empty() {
                "no rule fired; the message was not sent anywhere".to_string()
            } else {
                format!("rules {} fired and sent nothing", routed.fired.join(", "))
            });
        }
        let mut out = Outcome::completed();
        for s in routed.sends {
            let mut send = match s.body {
                Some(body) => Send::new(s.target, body),
                None => Send::forward(s.target),
            };
            if let Some(t) = s.transform {
                send = send.with_transform(t);
            }
            out = out.send(send);
        }
        out
    }
}
