//! Loss-free conversion of HL7 v2 messages to JSON and to XML (HL7 v2.xml style), and back.
//!
//! [`to_json`] / [`to_xml`] write a parsed [`Message`]; [`from_json`] / [`from_xml`] read the
//! text back into HL7 v2 bytes without needing a schema. The mapping, with examples, is in
//! `docs/hl7-conversions.md`.
//!
//! # Example
//!
//! ```
//! use hie_hl7_schema::{Registry, convert};
//!
//! let msg = hie_hl7::parse(b"MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|1|P|2.5\rPID|1||123^^^MRN||Doe^John\r").unwrap();
//! let doc = Registry::new().resolve_message(None, &msg); // 2.5:ORU_R01; None gives numbers only
//! let json = convert::to_json(&msg, doc.as_ref());
//! assert!(json.contains(r#""5 PatientName":[{"1 FamilyName":{"1 Surname":"Doe"},"2 GivenName":"John"}]"#));
//! assert_eq!(convert::from_json(&json).unwrap(), convert::normalise(&msg));
//! let xml = convert::to_xml(&msg, doc.as_ref());
//! assert!(xml.contains("<PID.5><XPN.1><FN.1>Doe</FN.1></XPN.1><XPN.2>John</XPN.2></PID.5>"));
//! assert_eq!(convert::from_xml(&xml).unwrap(), msg.as_bytes());
//!
//! // XML follows HL7 v2.xml for escape sequences: `\T\` is `&`, `\.br\` an element.
//! let msg = hie_hl7::parse(b"MSH|^~\\&|A\rNTE|1||Fasting \\T\\ rested\\.br\\C:\\temp\r").unwrap();
//! let xml = convert::to_xml(&msg, None);
//! assert!(xml.contains(r#"<NTE.3>Fasting &amp; rested<escape V=".br"/>C:\temp</NTE.3>"#));
//! // The lone escape character comes back as `\E\`.
//! assert_eq!(convert::from_xml(&xml).unwrap(), b"MSH|^~\\&|A\rNTE|1||Fasting \\T\\ rested\\.br\\C:\\E\\temp\r");
//! assert_eq!(convert::from_xml(&xml).unwrap(), convert::normalise_xml(&msg));
//! ```
//!
//! # Invariants
//!
//! - **Loss-free.** `from_json(&to_json(m, doc))` is [`normalise`]`(m)` byte for byte, for
//!   every message the parser accepts, with or without a schema; `from_xml(&to_xml(m, doc))`
//!   is [`normalise_xml`]`(m)`, which is [`normalise`]`(m)` unless a value holds an escape
//!   character that starts no escape sequence HL7 defines, or a character XML 1.0 cannot
//!   carry.
//! - **Normalisation** ([`normalise`]): the BOM and anything before `MSH` are dropped and
//!   every segment ends with exactly one `\r` (blank lines and trailing whitespace lines,
//!   which the parser files under the terminator, are dropped). Nothing inside a segment
//!   changes: every field, repetition, component and subcomponent, empty or not, trailing or
//!   not, the separators and all escape sequences stay as they were. [`normalise_xml`] adds
//!   two changes inside values: a lone escape character (or the first of an unknown or
//!   unterminated sequence) becomes `\E\`, and a character XML cannot carry (C0 controls
//!   other than TAB, U+FFFE, U+FFFF) becomes its hex escape (`\X01\`).
//! - **JSON values are raw.** Every JSON string is the item's raw HL7 text, escape sequences
//!   included (`Smith \T\ Sons`); the explicit null `""` stays `""`. Nothing is decoded, so
//!   nothing has to be re-encoded. The message's bytes map to text as [`TextEncoding::of`]
//!   says (UTF-8, or one character per byte for Latin-1/Latin-9 and invalid UTF-8).
//! - **XML values follow HL7 v2.xml.** The delimiter escapes (`\F\ \S\ \T\ \R\ \E\`) are
//!   the literal characters in the XML text, every other escape sequence HL7 defines is an
//!   `<escape V="..."/>` element (`<escape V=".br"/>`); reading back, literal delimiters
//!   become their escapes again. MSH-1 and MSH-2 are the delimiters and stay as they are.
//! - **Numbers carry the structure; names are decoration.** Field keys and element names
//!   hold the HL7 number (`"5 PatientName"`, `<PID.5>`, `<XPN.1>`); the readers use only the
//!   number and ignore names, paths, groups and the DocType. A schema only adds names and
//!   makes the shape of known items stable (a repeating field is always an array, a composite
//!   type always has components).
//! - **Never panics.** Malformed JSON, XML or HL7 structure gives a [`ConvertError`] that
//!   says what is wrong and where; readers never allocate more than a bounded multiple of
//!   their input (see [`ConvertError::TooLarge`]).
//! - **Whole messages.** Each function converts one message. Files holding several messages
//!   or an FHS/BHS batch are split first ([`hie_hl7::split_units`]); a batch's FHS/BHS/BTS/FTS
//!   segments are not part of any message.

mod error;
mod escapes;
mod json;
mod json_read;
mod names;
mod text;
mod tree;
mod xml;
mod xml_read;

use hie_hl7::Message;

use crate::doctype::DocType;

pub use error::{ConvertError, Location, Position};
pub use text::TextEncoding;

/// The bytes a conversion round trip gives for `msg`: its segments from `MSH` on, each
/// followed by exactly one `\r` (see the module documentation).
pub fn normalise(msg: &Message<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.body().len() + 1);
    for seg in msg.segments() {
        out.extend_from_slice(seg.raw());
        out.push(b'\r');
    }
    out
}

/// The bytes a round trip through XML gives for `msg`: [`normalise`], and inside every value
/// (but MSH-1 and MSH-2) the escape characters HL7 v2.xml cannot keep are written as `\E\`
/// (a lone escape character, or the first of an unknown or unterminated sequence), and the
/// characters XML 1.0 cannot carry as hex escapes (`\X01\`). Escape sequences HL7 defines,
/// delimiter escapes included, stay as they are (see the module documentation).
///
/// A message without such characters gives exactly [`normalise`]`(msg)`; the XML of the
/// result is the XML of `msg`.
pub fn normalise_xml(msg: &Message<'_>) -> Vec<u8> {
    let d = msg.delimiters();
    let enc = TextEncoding::of(msg);
    let mut out = Vec::with_capacity(msg.body().len() + 1);
    for seg in msg.segments() {
        escapes::normalise_segment(seg.raw(), seg.is_header(), &d, enc, &mut out);
        out.push(b'\r');
    }
    out
}

/// The message as compact JSON. With a DocType (e.g. from
/// [`crate::Registry::resolve_message`]) fields and components carry their IRIS names and
/// each segment its IRIS path; without one, numbers only.
pub fn to_json(msg: &Message<'_>, doc: Option<&DocType>) -> String {
    json::write(msg, doc, false)
}

/// [`to_json`], indented for reading.
pub fn to_json_pretty(msg: &Message<'_>, doc: Option<&DocType>) -> String {
    json::write(msg, doc, true)
}

/// HL7 v2 bytes from JSON in the shape [`to_json`] writes (segments end with `\r`).
/// Duplicate keys, unknown keys and values HL7 cannot hold are errors.
pub fn from_json(json: &str) -> Result<Vec<u8>, ConvertError> {
    json_read::from_str(json)
}

/// [`from_json`] for an already parsed JSON value (errors have no line and column).
pub fn from_json_value(json: &serde_json::Value) -> Result<Vec<u8>, ConvertError> {
    json_read::from_value(json)
}

/// The message as compact HL7 v2.xml-style XML: the structure as root element, the
/// schema's groups, segments, fields (`PID.5`), components (`XPN.1`) and subcomponents
/// (`FN.1`). Without a DocType there are no groups and unknown types use `PID.5.1` names.
pub fn to_xml(msg: &Message<'_>, doc: Option<&DocType>) -> String {
    xml::write(msg, doc, false)
}

/// [`to_xml`], indented for reading (whitespace is only added between elements).
pub fn to_xml_pretty(msg: &Message<'_>, doc: Option<&DocType>) -> String {
    xml::write(msg, doc, true)
}

/// HL7 v2 bytes from XML in the shape [`to_xml`] writes (segments end with `\r`). Needs no
/// schema: groups are skipped and numbers come from the element names. Malformed XML is an
/// error naming the line, column and element.
pub fn from_xml(xml: &str) -> Result<Vec<u8>, ConvertError> {
    xml_read::from_str(xml)
}
