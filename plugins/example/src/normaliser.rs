//! `HIE.Example.NHSNumberNormaliser`.

use crate::nhs_number::normalise_nhs_number;
use hie_plugin_api::hl7::{MessageBuf, Path};
use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, Message, Outcome, Send, SettingDef};

/// The class definition: name, kind, settings and constructor.
pub fn class() -> ClassDef {
    ClassDef::new("HIE.Example.NHSNumberNormaliser", ItemKind::Process, |ctx| {
        let on_invalid = ctx.setting_or("OnInvalidNHSNumber", "warn").to_ascii_lowercase();
        if on_invalid != "warn" && on_invalid != "fail" {
            return Err(Error::failed(format!("OnInvalidNHSNumber must be warn or fail, not {on_invalid:?}")));
        }
        Ok(Box::new(Normaliser {
            targets: ctx.setting_list("TargetConfigNames"),
            uppercase_family_name: ctx.setting_bool("UppercaseFamilyName", true),
            fail_on_invalid: on_invalid == "fail",
        }))
    })
    .doc("normalises NHS numbers in PID-3 and upper-cases PID-5.1; a transform or a forwarding process")
    .settings([
        SettingDef::host("TargetConfigNames", "", "items that receive the normalised message (when used as an item)"),
        SettingDef::host("UppercaseFamilyName", "1", "upper-case the patient's family name (PID-5.1)"),
        SettingDef::host("OnInvalidNHSNumber", "warn", "warn (pass the message on with a warning) or fail (Error)"),
    ])
}

/// The item: its settings, read once at construction.
struct Normaliser {
    /// Where to forward when used as an item.
    targets: Vec<String>,
    /// Upper-case PID-5.1.
    uppercase_family_name: bool,
    /// Fail messages with an invalid NHS number instead of warning.
    fail_on_invalid: bool,
}

/// Identifier types and assigning authorities that mark an NHS number in PID-3.
fn is_nhs_identifier(type_code: &str, authority: &str) -> bool {
    type_code.eq_ignore_ascii_case("NH")
        || ["NHS", "NHSNBR", "NHSNMBR"].iter().any(|a| authority.eq_ignore_ascii_case(a))
}

impl Item for Normaliser {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let parsed = msg.hl7()?;
        let mut buf = MessageBuf::from_message(&parsed);
        let mut warnings = Vec::new();
        if let Some(field) = parsed.find_segment("PID", 1).and_then(|pid| pid.field(3)) {
            for (i, rep) in field.repetitions().enumerate() {
                let value = |n| rep.component(n).map(|c| c.value().into_owned()).unwrap_or_default();
                if !is_nhs_identifier(&value(5), &value(4)) {
                    continue;
                }
                let path = Path::new("PID", 3)
                    .map_err(|e| Error::failed(e.to_string()))?
                    .with_repetition(i + 1)
                    .with_component(1);
                match normalise_nhs_number(&value(1)) {
                    Ok(clean) => buf.set(&path, &clean).map_err(|e| Error::failed(e.to_string()))?,
                    Err(e) if self.fail_on_invalid => {
                        return Ok(Outcome::fail(format!("NHS number {:?} {e}", value(1))));
                    }
                    Err(e) => warnings.push(format!("NHS number {:?} {e}", value(1))),
                }
            }
        }
        if self.uppercase_family_name {
            let path: Path =
                "PID-5.1".parse().map_err(|e: hie_plugin_api::hl7::PathError| Error::failed(e.to_string()))?;
            if let Some(family) = parsed.value(&path) {
                let upper = family.to_uppercase();
                if upper != family {
                    buf.set(&path, &upper).map_err(|e| Error::failed(e.to_string()))?;
                }
            }
        }
        ctx.count("normalised", 1);
        let body = buf.to_bytes();
        // The reply carries the result when used as a transform; sends when used as an item.
        let mut out = Outcome::completed().reply(body.clone());
        for t in &self.targets {
            out = out.send(Send::new(t.clone(), body.clone()));
        }
        for w in warnings {
            out = out.warn(w);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhs_identifiers_are_recognised_by_type_or_authority() {
        assert!(is_nhs_identifier("NH", ""));
        assert!(is_nhs_identifier("", "NHS"));
        assert!(!is_nhs_identifier("MR", "RXX"));
    }
}
