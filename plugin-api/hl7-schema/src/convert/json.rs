//! Writing a message as JSON (the shape is documented in docs/hl7-conversions.md).
//!
//! # Invariants
//!
//! - Output order is message order: segments in order, fields, components and
//!   subcomponents by increasing number (the writer serializes straight from the parsed
//!   message; no map type reorders keys).
//! - Every string is the raw text of an item that has no separator left in it, so
//!   [`super::from_json`] reads back exactly the message's items.
//! - An item is written when it is not empty or is the last of its level (so the count is
//!   kept); empty items before it are left out and come back from the numbers.
//! - A field is an array when it holds several repetitions or the schema says it repeats;
//!   a repetition (component) is an object when it holds several components
//!   (subcomponents), when a lower level does, or when its data type is composite.
//!   Anything empty is `""`. MSH-1 and MSH-2 (FHS, BHS) are always strings.

use hie_hl7::{Component, Delimiters, Field, Message, Repetition, Segment};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::names::{FieldInfo, PartInfo, Schema, SegInfo};
use super::text::TextEncoding;
use crate::doctype::DocType;

/// Writes `msg` as JSON text.
pub(crate) fn write(msg: &Message<'_>, doc: Option<&DocType>, pretty: bool) -> String {
    let ctx = Ctx { msg, schema: doc.map(|d| Schema::new(msg, d)), enc: TextEncoding::of(msg), d: msg.delimiters() };
    let json = MessageJson(&ctx);
    // Serializing into memory cannot fail: every key is a string and no impl here errs.
    let out = if pretty { serde_json::to_string_pretty(&json) } else { serde_json::to_string(&json) };
    out.unwrap_or_default()
}

struct Ctx<'m, 'a> {
    msg: &'m Message<'a>,
    schema: Option<Schema<'m>>,
    enc: TextEncoding,
    d: Delimiters,
}

/// The number of pieces `raw` splits into on `sep`.
pub(crate) fn count(raw: &[u8], sep: u8) -> usize {
    raw.iter().filter(|&&b| b == sep).count() + 1
}

/// `"5 PatientName"` or `"5"`.
fn key(n: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{n} {name}"),
        None => n.to_string(),
    }
}

struct MessageJson<'c, 'm, 'a>(&'c Ctx<'m, 'a>);

impl Serialize for MessageJson<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.0;
        let mut map = s.serialize_map(None)?;
        if let Some(schema) = &ctx.schema {
            map.serialize_entry("doctype", &schema.doc.to_string())?;
        }
        if ctx.enc != TextEncoding::Utf8 {
            map.serialize_entry("encoding", ctx.enc.name())?;
        }
        map.serialize_entry("segments", &SegmentsJson(ctx))?;
        map.end()
    }
}

struct SegmentsJson<'c, 'm, 'a>(&'c Ctx<'m, 'a>);

impl Serialize for SegmentsJson<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.0;
        let mut seq = s.serialize_seq(Some(ctx.msg.segment_count()))?;
        for (index, seg) in ctx.msg.segments().enumerate() {
            seq.serialize_element(&SegmentJson { ctx, index, seg })?;
        }
        seq.end()
    }
}

struct SegmentJson<'c, 'm, 'a> {
    ctx: &'c Ctx<'m, 'a>,
    index: usize,
    seg: Segment<'a>,
}

impl Serialize for SegmentJson<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.ctx;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("segment", self.seg.name())?;
        let info = match &ctx.schema {
            Some(schema) => {
                if let Some(path) = schema.map.element_path(self.index) {
                    map.serialize_entry("path", &path)?;
                }
                schema.segment(self.index, &self.seg)
            }
            None => SegInfo::default(),
        };
        let last = self.seg.field_count();
        let header = self.seg.is_header();
        for (i, field) in self.seg.fields().enumerate() {
            let n = i + 1;
            if field.is_empty() && n != last {
                continue;
            }
            let finfo = info.field(n);
            let atomic = header && n <= 2;
            map.serialize_entry(&key(n, finfo.name), &FieldJson { ctx, field, info: finfo, atomic })?;
        }
        map.end()
    }
}

/// A leaf: the raw text in the message's encoding.
struct Text<'c, 'm, 'a> {
    ctx: &'c Ctx<'m, 'a>,
    raw: &'a [u8],
}

impl Serialize for Text<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.ctx.enc.decode(self.raw))
    }
}

struct FieldJson<'c, 'm, 'a> {
    ctx: &'c Ctx<'m, 'a>,
    field: Field<'a>,
    info: FieldInfo<'m>,
    atomic: bool,
}

impl Serialize for FieldJson<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.ctx;
        let raw = self.field.raw();
        if self.atomic || raw.is_empty() {
            return Text { ctx, raw }.serialize(s);
        }
        if self.info.repeating || raw.contains(&ctx.d.repetition) {
            let mut seq = s.serialize_seq(None)?;
            for rep in self.field.repetitions() {
                seq.serialize_element(&RepJson { ctx, rep, info: self.info.part })?;
            }
            return seq.end();
        }
        match self.field.repetition(1) {
            Some(rep) => RepJson { ctx, rep, info: self.info.part }.serialize(s),
            None => Text { ctx, raw }.serialize(s),
        }
    }
}

struct RepJson<'c, 'm, 'a> {
    ctx: &'c Ctx<'m, 'a>,
    rep: Repetition<'a>,
    info: PartInfo<'m>,
}

impl<'a> Serialize for RepJson<'_, '_, 'a> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.ctx;
        let raw = self.rep.raw();
        let split = raw.contains(&ctx.d.component) || raw.contains(&ctx.d.subcomponent);
        if raw.is_empty() || !(split || self.info.composite()) {
            return Text { ctx, raw }.serialize(s);
        }
        let last = count(raw, ctx.d.component);
        let mut map = s.serialize_map(None)?;
        for (i, comp) in self.rep.components().enumerate() {
            let n = i + 1;
            if comp.raw().is_empty() && n != last {
                continue;
            }
            let info = self.info.child(n);
            map.serialize_entry(&key(n, info.name), &CompJson { ctx, comp, info })?;
        }
        map.end()
    }
}

struct CompJson<'c, 'm, 'a> {
    ctx: &'c Ctx<'m, 'a>,
    comp: Component<'a>,
    info: PartInfo<'m>,
}

impl<'a> Serialize for CompJson<'_, '_, 'a> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ctx = self.ctx;
        let raw = self.comp.raw();
        if raw.is_empty() || !(raw.contains(&ctx.d.subcomponent) || self.info.composite()) {
            return Text { ctx, raw }.serialize(s);
        }
        let last = count(raw, ctx.d.subcomponent);
        let mut map = s.serialize_map(None)?;
        for (i, sub) in self.comp.subcomponents().enumerate() {
            let n = i + 1;
            if sub.is_empty() && n != last {
                continue;
            }
            map.serialize_entry(&key(n, self.info.child(n).name), &Text { ctx, raw: sub })?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn without_a_schema_numbers_only_and_content_decides_the_shape() {
        let msg = hie_hl7::parse(b"MSH|^~\\&|A||B\rPID|1||a~~b^c&d||\"\"|\rZZZ\r").unwrap();
        let json = write(&msg, None, false);
        assert_eq!(
            json,
            r#"{"segments":[{"segment":"MSH","1":"|","2":"^~\\&","3":"A","5":"B"},{"segment":"PID","1":"1","3":["a","",{"1":"b","2":{"1":"c","2":"d"}}],"5":"\"\"","6":""},{"segment":"ZZZ"}]}"#
        );
    }

    #[test]
    fn with_a_schema_names_paths_and_stable_shapes() {
        let msg = hie_hl7::parse(b"MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rPID|1||123||Doe\r").unwrap();
        let doc = Registry::new().resolve_message(None, &msg).unwrap();
        let json = write(&msg, Some(&doc), false);
        assert!(json.starts_with(r#"{"doctype":"2.5:ORU_R01","segments":[{"segment":"MSH","path":"MSH","1 FieldSeparator":"|","2 EncodingCharacters":"^~\\&","3 SendingApplication":{"1 NamespaceID":"A"}"#), "{json}");
        assert!(json.contains(r#""9 MessageType":{"1 MessageCode":"ORU","2 TriggerEvent":"R01"}"#), "{json}");
        assert!(
            json.contains(r#"{"segment":"PID","path":"PIDgrpgrp(1).PIDgrp.PID","1 SetIDPID":"1","3 PatientIdentifierList":[{"1 IDNumber":"123"}],"5 PatientName":[{"1 FamilyName":{"1 Surname":"Doe"}}]}"#),
            "{json}"
        );
    }

    #[test]
    fn latin1_messages_say_so() {
        let msg = hie_hl7::parse(b"MSH|^~\\&|A\rPID|M\xfcller\r").unwrap();
        assert_eq!(
            write(&msg, None, false),
            r#"{"encoding":"iso-8859-1","segments":[{"segment":"MSH","1":"|","2":"^~\\&","3":"A"},{"segment":"PID","1":"Müller"}]}"#
        );
    }
}
