//! Reading JSON back into a message tree (and so into HL7 bytes), without a schema.
//!
//! # Invariants
//!
//! - Only numbers matter: a field or component key is its number, optionally followed by a
//!   space and any name (`"5"`, `"5 PatientName"`, `"5 anything"`); names, `"path"` and
//!   `"doctype"` are ignored. Keys may come in any order; a number given twice, an unknown
//!   key and a value of the wrong JSON type are errors.
//! - The reader is driven by serde with seeds that know their level (field, repetition,
//!   component, subcomponent), so nesting deeper than HL7's four levels is refused before it
//!   is read: recursion is bounded whatever the input.
//! - Errors carry the line and column (from serde_json) and the HL7 location.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::{ConvertError, Location, Position};
use super::text::TextEncoding;
use super::tree::{Budget, Node, SegmentNode, Tree, encode, parse_number};

/// [`super::from_json`].
pub(crate) fn from_str(json: &str) -> Result<Vec<u8>, ConvertError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let tree = TreeSeed.deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(json_error)?;
    encode(&tree, Budget::for_input(json.len()))
}

/// [`super::from_json_value`].
pub(crate) fn from_value(json: &serde_json::Value) -> Result<Vec<u8>, ConvertError> {
    let tree = TreeSeed.deserialize(json).map_err(json_error)?;
    encode(&tree, Budget::for_input(0))
}

fn json_error(e: serde_json::Error) -> ConvertError {
    let text = e.to_string();
    if e.line() == 0 {
        return ConvertError::Json { message: text, position: None };
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    ConvertError::Json { message, position: Some(Position { line: e.line(), column: e.column() }) }
}

/// The number of a key: leading digits, then nothing or a space and a name.
fn key_number(key: &str) -> Option<usize> {
    let digits = key.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &key[digits..];
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    parse_number(&key[..digits])
}

/// Sorts numbered items; `Err(n)` when number `n` is given twice.
fn sort_numbered(items: &mut [(usize, Node)]) -> Result<(), usize> {
    items.sort_by_key(|(n, _)| *n);
    match items.windows(2).find(|w| w[0].0 == w[1].0) {
        Some(w) => Err(w[0].0),
        None => Ok(()),
    }
}

struct TreeSeed;

impl<'de> DeserializeSeed<'de> for TreeSeed {
    type Value = Tree;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TreeSeed {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with \"segments\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut segments: Option<Vec<SegmentNode>> = None;
        let mut encoding: Option<TextEncoding> = None;
        let mut doctype = false;
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                "segments" if segments.is_none() => segments = Some(map.next_value_seed(SegmentsSeed)?),
                "encoding" if encoding.is_none() => {
                    let name: String = map.next_value()?;
                    let e = TextEncoding::from_name(&name).ok_or_else(|| {
                        de::Error::custom(format!(
                            "unknown encoding {name:?} (expected \"utf-8\", \"iso-8859-1\" or \"iso-8859-15\")"
                        ))
                    })?;
                    encoding = Some(e);
                }
                "doctype" if !doctype => {
                    map.next_value::<String>()?;
                    doctype = true;
                }
                "segments" | "encoding" | "doctype" => {
                    return Err(de::Error::custom(format!("key {k:?} is given twice")));
                }
                _ => {
                    return Err(de::Error::custom(format!(
                        "unknown key {k:?} (a message has \"segments\" and optionally \"encoding\" and \"doctype\")"
                    )));
                }
            }
        }
        let segments = segments.ok_or_else(|| de::Error::custom("the message has no \"segments\" array"))?;
        Ok(Tree { encoding: encoding.unwrap_or_default(), segments })
    }
}

struct SegmentsSeed;

impl<'de> DeserializeSeed<'de> for SegmentsSeed {
    type Value = Vec<SegmentNode>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<SegmentNode>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SegmentsSeed {
    type Value = Vec<SegmentNode>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of segment objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<SegmentNode>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(1024));
        while let Some(s) = seq.next_element_seed(SegmentSeed { index: out.len() + 1 })? {
            out.push(s);
        }
        Ok(out)
    }
}

struct SegmentSeed {
    /// 1-based segment number.
    index: usize,
}

impl<'de> DeserializeSeed<'de> for SegmentSeed {
    type Value = SegmentNode;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<SegmentNode, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SegmentSeed {
    type Value = SegmentNode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {} as an object with \"segment\" and numbered fields", self.index)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SegmentNode, A::Error> {
        let mut name: Option<String> = None;
        let mut path = false;
        let mut fields: Vec<(usize, Node)> = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let loc = Loc { segment: self.index, name: name.as_deref(), ..Loc::default() };
            match k.as_str() {
                "segment" if name.is_none() => {
                    let n: String = map.next_value()?;
                    name = Some(n);
                }
                "path" if !path => {
                    map.next_value::<String>()?;
                    path = true;
                }
                "segment" | "path" => return Err(de::Error::custom(format!("{loc}: key {k:?} is given twice"))),
                _ => {
                    let n = key_number(&k).ok_or_else(|| {
                        de::Error::custom(format!(
                            "{loc}: field key {k:?} is not a number (a number, optionally followed by a space and a name)"
                        ))
                    })?;
                    let loc = Loc { field: Some(n), ..loc };
                    fields.push((n, map.next_value_seed(NodeSeed { level: Level::Field, loc })?));
                }
            }
        }
        let loc = Loc { segment: self.index, name: name.as_deref(), ..Loc::default() };
        sort_numbered(&mut fields).map_err(|n| de::Error::custom(format!("{loc}: field {n} is given twice")))?;
        match name {
            Some(name) => Ok(SegmentNode { name, fields }),
            None => Err(de::Error::custom(format!("segment {}: no \"segment\" key with the segment name", self.index))),
        }
    }
}

/// Where a value sits, for errors.
#[derive(Debug, Clone, Copy, Default)]
struct Loc<'n> {
    segment: usize,
    name: Option<&'n str>,
    field: Option<usize>,
    repetition: Option<usize>,
    component: Option<usize>,
    subcomponent: Option<usize>,
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Location::new(self.segment, self.name, [self.field, self.repetition, self.component, self.subcomponent]).fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Field,
    Repetition,
    Component,
    Subcomponent,
}

impl Level {
    fn expected(self) -> &'static str {
        match self {
            Level::Field => "a string, an array of repetitions or an object of components",
            Level::Repetition => "a string or an object of components",
            Level::Component => "a string or an object of subcomponents",
            Level::Subcomponent => "a string",
        }
    }
}

struct NodeSeed<'n> {
    level: Level,
    loc: Loc<'n>,
}

impl NodeSeed<'_> {
    fn wrong<E: de::Error>(&self, found: &str) -> E {
        E::custom(format!("{}: expected {}, found {found}", self.loc, self.level.expected()))
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.loc, self.level.expected())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Text(v))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Err(self.wrong("true or false"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Err(self.wrong("a number (write values as strings)"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Err(self.wrong("a number (write values as strings)"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Err(self.wrong("a number (write values as strings)"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Err(self.wrong("null (write \"\" for an empty value, \"\\\"\\\"\" for the HL7 null)"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        if self.level != Level::Field {
            return Err(self.wrong("an array (only a field's repetitions are an array)"));
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(NodeSeed {
            level: Level::Repetition,
            loc: Loc { repetition: Some(items.len() + 1), ..self.loc },
        })? {
            items.push(item);
        }
        if items.is_empty() {
            return Err(self.wrong("an empty array (write \"\" for an empty field)"));
        }
        Ok(Node::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let (child, what) = match self.level {
            Level::Field | Level::Repetition => (Level::Component, "component"),
            Level::Component => (Level::Subcomponent, "subcomponent"),
            Level::Subcomponent => return Err(self.wrong("an object (a subcomponent cannot be split further)")),
        };
        let mut parts: Vec<(usize, Node)> = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let n = key_number(&k).ok_or_else(|| {
                de::Error::custom(format!(
                    "{}: {what} key {k:?} is not a number (a number, optionally followed by a space and a name)",
                    self.loc
                ))
            })?;
            let loc = match child {
                Level::Component => Loc { component: Some(n), ..self.loc },
                _ => Loc { subcomponent: Some(n), ..self.loc },
            };
            parts.push((n, map.next_value_seed(NodeSeed { level: child, loc })?));
        }
        if parts.is_empty() {
            return Err(self.wrong("an empty object (write \"\" for an empty value)"));
        }
        sort_numbered(&mut parts).map_err(|n| de::Error::custom(format!("{}: {what} {n} is given twice", self.loc)))?;
        Ok(Node::Parts(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hl7(json: &str) -> Result<String, ConvertError> {
        from_str(json).map(|b| String::from_utf8(b).unwrap())
    }

    const MSH: &str = r#"{"segment":"MSH","1":"|","2":"^~\\&"}"#;

    #[test]
    fn keys_carry_numbers_and_names_are_ignored() {
        let j = format!(
            r#"{{"doctype":"x","segments":[{MSH},{{"5 PatientName":{{"2 Given":"J","1":"D"}},"segment":"PID","path":"p","1 whatever":"1"}}]}}"#
        );
        assert_eq!(hl7(&j).unwrap(), "MSH|^~\\&\rPID|1||||D^J\r");
    }

    #[test]
    fn shape_errors_name_the_place_and_position() {
        let j = format!("{{\"segments\":[{MSH},{MSH},\n{{\"segment\":\"PID\",\"x\":\"1\"}}]}}");
        let e = hl7(&j).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid JSON at line 2 column 20: segment 3 (PID): field key \"x\" is not a number (a number, optionally followed by a space and a name)"
        );
        let j = format!(r#"{{"segments":[{MSH},{{"segment":"PID","3":[["a"]]}}]}}"#);
        assert!(hl7(&j).unwrap_err().to_string().contains("segment 2 (PID), PID-3(1): expected a string or an object"));
        let j = format!(r#"{{"segments":[{MSH},{{"segment":"PID","3":{{"1":{{"1":{{"1":"x"}}}}}}}}]}}"#);
        assert!(hl7(&j).unwrap_err().to_string().contains("PID-3.1.1: expected a string, found an object"));
        let j = format!(r#"{{"segments":[{MSH},{{"segment":"PID","3":"a","3 X":"b"}}]}}"#);
        assert!(hl7(&j).unwrap_err().to_string().contains("segment 2 (PID): field 3 is given twice"));
        let j = format!(r#"{{"segments":[{MSH},{{"segment":"PID","3":5}}]}}"#);
        assert!(hl7(&j).unwrap_err().to_string().contains("found a number"));
        let j = format!(r#"{{"segments":[{MSH},{{"3":"a"}}]}}"#);
        assert!(hl7(&j).unwrap_err().to_string().contains("segment 2: no \"segment\" key"));
        assert!(hl7(r#"{"segments":[],"extra":1}"#).unwrap_err().to_string().contains("unknown key \"extra\""));
        assert!(hl7(r#"{"segments":[]}"#).unwrap_err() == ConvertError::NoSegments);
        assert!(matches!(hl7("{\"segments\":[").unwrap_err(), ConvertError::Json { position: Some(_), .. }));
        assert!(matches!(hl7("[]").unwrap_err(), ConvertError::Json { .. }));
        assert!(matches!(hl7(&format!(r#"{{"segments":[{MSH}]}} x"#)).unwrap_err(), ConvertError::Json { .. }));
    }

    #[test]
    fn values_too() {
        let v: serde_json::Value =
            serde_json::from_str(&format!(r#"{{"segments":[{MSH},{{"segment":"ZZZ"}}]}}"#)).unwrap();
        assert_eq!(from_value(&v).unwrap(), b"MSH|^~\\&\rZZZ\r");
        let v = serde_json::json!({"segments": [{"segment": "MSH", "1": "|", "2": "^~\\&", "0": "x"}]});
        assert!(matches!(from_value(&v).unwrap_err(), ConvertError::Json { position: None, .. }));
    }

    #[test]
    fn key_numbers() {
        assert_eq!(key_number("5"), Some(5));
        assert_eq!(key_number("05 Name with spaces"), Some(5));
        assert_eq!(key_number("0"), None);
        assert_eq!(key_number("5x"), None);
        assert_eq!(key_number(" 5"), None);
        assert_eq!(key_number("999999999999999999999999"), None);
    }
}
