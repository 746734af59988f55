//! `HIE.Transform.HL7ToJSON`, `JSONToHL7`, `HL7ToXML`, `XMLToHL7`: HL7 v2 to and from
//! JSON and HL7 v2.xml (`hie_hl7_schema::convert`, docs/hl7-conversions.md), as routing-rule
//! transforms (the converted body is the reply) or as processes forwarding the converted
//! body to their TargetConfigNames.
//!
//! # Invariants
//! - The DocType (field and group names) comes from the message's `MessageSchemaCategory`
//!   session attribute and MSH-9, else from MSH-12, with the built-in schemas; without one
//!   the output has numbers only, still loss-free.
//! - Input that does not convert (malformed HL7, JSON or XML) is an Error outcome naming
//!   where, never a panic.

use crate::iris_rules::CATEGORY_ATTRIBUTE;
use hie_hl7_schema::{Registry, convert};
use hie_plugin_api::hl7;
use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, Message, Outcome, Send, SettingDef};
use std::sync::OnceLock;

/// One direction of conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Hl7ToJson,
    JsonToHl7,
    Hl7ToXml,
    XmlToHl7,
}

/// The built-in schemas, parsed per version on first use and shared by every instance.
fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::new)
}

/// Converts `body` (with the session's schema category) one way.
fn run(direction: Direction, body: &[u8], category: Option<&str>) -> Result<Vec<u8>, String> {
    let from_hl7 = |f: fn(&hl7::Message<'_>, Option<&hie_hl7_schema::DocType>) -> String| {
        let msg = hl7::parse(body).map_err(|e| format!("not an HL7 v2 message: {e}"))?;
        let doc = registry().resolve_message(category.filter(|c| !c.is_empty()), &msg);
        Ok(f(&msg, doc.as_ref()).into_bytes())
    };
    let text = || std::str::from_utf8(body).map_err(|e| format!("not UTF-8 text: {e}"));
    match direction {
        Direction::Hl7ToJson => from_hl7(convert::to_json),
        Direction::Hl7ToXml => from_hl7(convert::to_xml),
        Direction::JsonToHl7 => convert::from_json(text()?).map_err(|e| e.to_string()),
        Direction::XmlToHl7 => convert::from_xml(text()?).map_err(|e| e.to_string()),
    }
}

/// A class constructor (`ClassDef::new` takes a plain function).
type Make = fn(&Context<'_>) -> Result<Box<dyn Item>, Error>;

fn converter(direction: Direction, ctx: &Context<'_>) -> Result<Box<dyn Item>, Error> {
    Ok(Box::new(Converter { direction, targets: ctx.setting_list("TargetConfigNames") }))
}

fn class(name: &'static str, make: Make, doc: &'static str) -> ClassDef {
    ClassDef::new(name, ItemKind::Process, make).doc(doc).settings([SettingDef::host(
        "TargetConfigNames",
        "",
        "items that receive the converted body (when used as an item)",
    )])
}

/// Every conversion class.
pub fn classes() -> Vec<ClassDef> {
    vec![
        class(
            "HIE.Transform.HL7ToJSON",
            |c| converter(Direction::Hl7ToJson, c),
            "HL7 v2 to loss-free JSON with schema field names (docs/hl7-conversions.md)",
        ),
        class("HIE.Transform.JSONToHL7", |c| converter(Direction::JsonToHl7, c), "HIE's HL7 JSON back to HL7 v2"),
        class(
            "HIE.Transform.HL7ToXML",
            |c| converter(Direction::Hl7ToXml, c),
            "HL7 v2 to HL7 v2.xml with the schema's group names",
        ),
        class("HIE.Transform.XMLToHL7", |c| converter(Direction::XmlToHl7, c), "HL7 v2.xml back to HL7 v2"),
    ]
}

/// One converter.
struct Converter {
    /// Which way it converts.
    direction: Direction,
    /// Where the converted body goes when the class runs as an item.
    targets: Vec<String>,
}

impl Item for Converter {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let out = match run(self.direction, msg.body(), msg.attribute(CATEGORY_ATTRIBUTE)) {
            Ok(out) => out,
            Err(e) => return Ok(Outcome::fail(e)),
        };
        ctx.count("converted", 1);
        let mut outcome = Outcome::completed().reply(out.clone());
        for t in &self.targets {
            outcome = outcome.send(Send::new(t.clone(), out.clone()));
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORU: &[u8] = b"MSH|^~\\&|LAB|H|EPR|H|20240101||ORU^R01|1|P|2.5\rPID|1||123^^^MRN||Doe^John\rOBR|1\rOBX|1|NM|K^Potassium||4.1\r";

    #[test]
    fn each_direction_round_trips_and_names_fields_from_the_schema() {
        let json = run(Direction::Hl7ToJson, ORU, Some("2.5")).unwrap();
        assert!(String::from_utf8_lossy(&json).contains("PatientName"));
        assert_eq!(run(Direction::JsonToHl7, &json, None).unwrap(), ORU);
        let xml = run(Direction::Hl7ToXml, ORU, None).unwrap();
        assert!(String::from_utf8_lossy(&xml).contains("<ORU_R01 "), "{}", String::from_utf8_lossy(&xml));
        assert_eq!(run(Direction::XmlToHl7, &xml, None).unwrap(), ORU);
    }

    #[test]
    fn input_that_does_not_convert_is_an_error_saying_why() {
        assert!(run(Direction::Hl7ToJson, b"not hl7", None).unwrap_err().contains("not an HL7 v2 message"));
        assert!(run(Direction::JsonToHl7, b"{\"segments\": 3}", None).is_err());
        assert!(run(Direction::XmlToHl7, b"<ORU_R01><MSH>", None).is_err());
        assert!(run(Direction::XmlToHl7, &[0xff, 0xfe], None).unwrap_err().contains("UTF-8"));
    }
}
