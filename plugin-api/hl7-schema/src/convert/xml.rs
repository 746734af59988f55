//! Writing a message as HL7 v2.xml-style XML (documented in docs/hl7-conversions.md).
//!
//! # Invariants
//!
//! - Element names carry the numbers [`super::from_xml`] reads back: a field is
//!   `SEGMENT.n` (one element per repetition), a component `TYPE.n` (the field's data type
//!   when the schema knows it and it is composite, else the field's element name plus
//!   `.n`), a subcomponent likewise one level down. Root and group names are decoration.
//! - A value's content follows HL7 v2.xml (see [`super::escapes`]): the delimiter escapes
//!   `\F\ \S\ \T\ \R\ \E\` are the literal characters, every other well-formed escape
//!   sequence is an `<escape V="..."/>` element (`<escape V=".br"/>`), so a value may be
//!   mixed content; a lone escape character, or one starting an unknown or unterminated
//!   sequence, is the character itself. Characters XML 1.0 cannot carry are hex escape
//!   elements (`<escape V="X01"/>`). `<`, `>` and `&` are entities; quotes stay as they are.
//!   What a round trip gives back is [`super::normalise_xml`].
//! - MSH-1 and MSH-2 (FHS, BHS likewise) are the delimiters: their text is written as it is.
//! - A value is one text event, escape elements included, so pretty output never adds
//!   whitespace inside a value.
//! - Which items are written, and when a value is split, follows the JSON writer (see
//!   [`super::json`]): non-empty items and the last of each level; empty ones are empty
//!   elements.
//! - Groups come from the [`crate::SegmentMap`]: an element per group instance, named by
//!   HL7 (`ORU_R01.PATIENT_RESULT`) or `STRUCTURE.IrisName`; a choice without an HL7 name
//!   has no element of its own. An unexpected segment stays in the group it was found in.

use std::borrow::Cow;

use hie_hl7::{Component, Delimiters, Field, Message, Repetition};
use quick_xml::Writer;
use quick_xml::escape::{escape, partial_escape};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::escapes::{Token, is_plain, tokens};
use super::json::count;
use super::names::{FieldInfo, PartInfo, Schema, SegInfo, is_xml_name};
use super::text::TextEncoding;
use crate::doctype::DocType;
use crate::model::Element;

/// The HL7 v2.xml namespace.
pub(crate) const NAMESPACE: &str = "urn:hl7-org:v2xml";

/// Writes `msg` as XML text.
pub(crate) fn write(msg: &Message<'_>, doc: Option<&DocType>, pretty: bool) -> String {
    let schema = doc.map(|d| Schema::new(msg, d));
    let w = if pretty { Writer::new_with_indent(Vec::new(), b' ', 2) } else { Writer::new(Vec::new()) };
    let mut x = Out { w, enc: TextEncoding::of(msg), d: msg.delimiters() };
    x.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let root = root_name(msg, doc);
    let mut start = BytesStart::new(root.as_str());
    start.push_attribute(("xmlns", NAMESPACE));
    if x.enc != TextEncoding::Utf8 {
        start.push_attribute(("encoding", x.enc.name()));
    }
    x.event(Event::Start(start));
    let structure = doc.map_or("", |d| d.structure_name());
    // Open group instances: (group identity, occurrence, element name if it has one).
    let mut open: Vec<(usize, u32, Option<String>)> = Vec::new();
    for (index, seg) in msg.segments().enumerate() {
        let info = match &schema {
            Some(s) => {
                let chain = group_chain(s, index, structure);
                let keep = open.iter().zip(&chain).take_while(|(a, b)| a.0 == b.0 && a.1 == b.1).count();
                for (_, _, name) in open.drain(keep..).rev() {
                    if let Some(n) = name {
                        x.end(&n);
                    }
                }
                for g in chain.into_iter().skip(keep) {
                    if let Some(n) = &g.2 {
                        x.start(n);
                    }
                    open.push(g);
                }
                s.segment(index, &seg)
            }
            None => SegInfo::default(),
        };
        let name = segment_element(seg.name());
        x.start(&name);
        let last = seg.field_count();
        for (i, field) in seg.fields().enumerate() {
            let n = i + 1;
            if field.is_empty() && n != last {
                continue;
            }
            let elem = format!("{name}.{n}");
            x.field(&elem, field, info.field(n), seg.is_header() && n <= 2);
        }
        x.end(&name);
    }
    for (_, _, name) in open.into_iter().rev() {
        if let Some(n) = name {
            x.end(&n);
        }
    }
    x.end(&root);
    let bytes = x.w.into_inner();
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The element name of a segment: its name, or `_` + name when that starts with a digit.
pub(crate) fn segment_element(name: &str) -> Cow<'_, str> {
    if is_xml_name(name) { Cow::Borrowed(name) } else { Cow::Owned(format!("_{name}")) }
}

/// The root element: the DocType's structure, else MSH-9.3, else `TYPE_EVENT`, else `HL7`.
fn root_name(msg: &Message<'_>, doc: Option<&DocType>) -> String {
    let candidates = [
        doc.map(|d| d.structure_name().to_owned()),
        msg.message_structure().map(|s| s.trim().to_owned()),
        crate::doctype::message_doc_name(msg),
    ];
    candidates.into_iter().flatten().find(|n| is_xml_name(n)).unwrap_or_else(|| "HL7".to_owned())
}

/// The group instances segment `index` sits in, outermost first.
fn group_chain(s: &Schema<'_>, index: usize, structure: &str) -> Vec<(usize, u32, Option<String>)> {
    s.map
        .element_chain(index)
        .filter_map(|(e, occurrence)| match e {
            Element::Group(g) => {
                let name = match &g.hl7_name {
                    Some(h) if is_xml_name(h) => Some(h.clone()),
                    _ if g.choice => None,
                    _ => Some(format!("{structure}.{}", g.name)).filter(|n| is_xml_name(n)),
                };
                Some((std::ptr::from_ref(g) as usize, occurrence, name))
            }
            Element::Segment(_) => None,
        })
        .collect()
}

struct Out {
    w: Writer<Vec<u8>>,
    enc: TextEncoding,
    d: Delimiters,
}

impl Out {
    fn event(&mut self, e: Event<'_>) {
        // Writing into a Vec cannot fail.
        let _ = self.w.write_event(e);
    }

    fn start(&mut self, name: &str) {
        self.event(Event::Start(BytesStart::new(name)));
    }

    fn end(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    /// `<name>content</name>` (see [`content`]), or `<name/>` when `raw` is empty.
    fn leaf(&mut self, name: &str, raw: &[u8]) {
        if raw.is_empty() {
            self.event(Event::Empty(BytesStart::new(name)));
            return;
        }
        let content = content(raw, &self.d, self.enc);
        self.start(name);
        // One text event, escape elements included: the indenting writer adds no whitespace
        // inside it.
        self.event(Event::Text(BytesText::from_escaped(content)));
        self.end(name);
    }

    /// `<name>text</name>` with the raw text as it is (MSH-1 and MSH-2: the delimiters).
    fn raw_leaf(&mut self, name: &str, raw: &[u8]) {
        if raw.is_empty() {
            self.event(Event::Empty(BytesStart::new(name)));
            return;
        }
        let text = self.enc.decode(raw);
        self.start(name);
        self.event(Event::Text(BytesText::from_escaped(quick_xml::escape::partial_escape(text))));
        self.end(name);
    }
    fn field(&mut self, elem: &str, field: Field<'_>, info: FieldInfo<'_>, atomic: bool) {
        if atomic {
            self.raw_leaf(elem, field.raw());
            return;
        }
        for rep in field.repetitions() {
            self.repetition(elem, rep, info.part);
        }
    }

    fn repetition(&mut self, elem: &str, rep: Repetition<'_>, info: PartInfo<'_>) {
        let raw = rep.raw();
        let split = raw.contains(&self.d.component) || raw.contains(&self.d.subcomponent);
        if raw.is_empty() || !(split || info.composite()) {
            self.leaf(elem, raw);
            return;
        }
        self.start(elem);
        let last = count(raw, self.d.component);
        for (i, comp) in rep.components().enumerate() {
            let n = i + 1;
            if comp.raw().is_empty() && n != last {
                continue;
            }
            let name = child_name(elem, info, n);
            self.component(&name, comp, info.child(n));
        }
        self.end(elem);
    }

    fn component(&mut self, elem: &str, comp: Component<'_>, info: PartInfo<'_>) {
        let raw = comp.raw();
        if raw.is_empty() || !(raw.contains(&self.d.subcomponent) || info.composite()) {
            self.leaf(elem, raw);
            return;
        }
        self.start(elem);
        let last = count(raw, self.d.subcomponent);
        for (i, sub) in comp.subcomponents().enumerate() {
            let n = i + 1;
            if sub.is_empty() && n != last {
                continue;
            }
            self.leaf(&child_name(elem, info, n), sub);
        }
        self.end(elem);
    }
}

/// `XPN.1` when the type names elements, else `PID.5.1` (the parent's name plus `.n`).
fn child_name(parent: &str, info: PartInfo<'_>, n: usize) -> String {
    match info.type_name() {
        Some(t) => format!("{t}.{n}"),
        None => format!("{parent}.{n}"),
    }
}

/// The XML content of a leaf value (already escaped for XML): delimiter escapes as the
/// literal characters, other escape sequences as `<escape V="..."/>`, a lone escape
/// character as itself, and `<`, `>`, `&` as entities (quotes stay readable: `""` is the
/// HL7 null).
fn content<'r>(raw: &'r [u8], d: &Delimiters, enc: TextEncoding) -> Cow<'r, str> {
    if is_plain(raw, d, enc) {
        return match enc.decode(raw) {
            Cow::Borrowed(t) => partial_escape(t),
            Cow::Owned(t) => Cow::Owned(partial_escape(t.as_str()).into_owned()),
        };
    }
    let mut out = String::with_capacity(raw.len() + 16);
    tokens(raw, d, enc, |t| match t {
        Token::Text(b) => out.push_str(&partial_escape(enc.decode(b).as_ref())),
        Token::Char(b'&') => out.push_str("&amp;"),
        Token::Char(b'<') => out.push_str("&lt;"),
        Token::Char(b'>') => out.push_str("&gt;"),
        Token::Char(c) => out.push(char::from(c)),
        Token::Escape(v) => {
            out.push_str("<escape V=\"");
            out.push_str(&escape(v.as_ref()));
            out.push_str("\"/>");
        }
    });
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn without_a_schema_generic_names() {
        let msg = hie_hl7::parse(b"MSH|^~\\&|A||B||||ADT^A04\rPID|1||a~~b^c&d||\"\"|\r123|x<\"\'>\r").unwrap();
        assert_eq!(
            write(&msg, None, false),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ADT_A04 xmlns=\"urn:hl7-org:v2xml\"><MSH><MSH.1>|</MSH.1>\
<MSH.2>^~\\&amp;</MSH.2><MSH.3>A</MSH.3><MSH.5>B</MSH.5><MSH.9><MSH.9.1>ADT</MSH.9.1><MSH.9.2>A04</MSH.9.2></MSH.9>\
</MSH><PID><PID.1>1</PID.1><PID.3>a</PID.3><PID.3/><PID.3><PID.3.1>b</PID.3.1><PID.3.2><PID.3.2.1>c</PID.3.2.1>\
<PID.3.2.2>d</PID.3.2.2></PID.3.2></PID.3><PID.5>\"\"</PID.5><PID.6/></PID><_123><_123.1>x&lt;\"'&gt;</_123.1>\
</_123></ADT_A04>"
        );
    }

    #[test]
    fn with_a_schema_types_and_groups() {
        let msg =
            hie_hl7::parse(b"MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rPID|1||123||Doe^J\rOBR|1\rOBX|1|CE|x||a^b\rZZZ|1\r")
                .unwrap();
        let doc = Registry::new().resolve_message(None, &msg).unwrap();
        let xml = write(&msg, Some(&doc), false);
        assert!(xml.contains("<ORU_R01 xmlns=\"urn:hl7-org:v2xml\"><MSH><MSH.1>|</MSH.1>"), "{xml}");
        assert!(xml.contains("<MSH.9><MSG.1>ORU</MSG.1><MSG.2>R01</MSG.2></MSH.9>"), "{xml}");
        assert!(
            xml.contains(
                "<ORU_R01.PATIENT_RESULT><ORU_R01.PATIENT><PID><PID.1>1</PID.1><PID.3><CX.1>123</CX.1></PID.3>\
<PID.5><XPN.1><FN.1>Doe</FN.1></XPN.1><XPN.2>J</XPN.2></PID.5></PID></ORU_R01.PATIENT>\
<ORU_R01.ORDER_OBSERVATION><OBR><OBR.1>1</OBR.1></OBR><ORU_R01.OBSERVATION><OBX>"
            ),
            "{xml}"
        );
        assert!(xml.contains("<OBX.5><CE.1>a</CE.1><CE.2>b</CE.2></OBX.5></OBX><ZZZ><ZZZ.1>1</ZZZ.1></ZZZ>"), "{xml}");
        assert!(xml.ends_with("</ORU_R01.OBSERVATION></ORU_R01.ORDER_OBSERVATION></ORU_R01.PATIENT_RESULT></ORU_R01>"));
    }

    fn leaf_content(raw: &str) -> String {
        content(raw.as_bytes(), &Delimiters::default(), TextEncoding::Utf8).into_owned()
    }

    #[test]
    fn delimiter_escapes_become_literal_characters_and_formatting_escapes_become_escape_elements() {
        assert_eq!(leaf_content(r"a\F\b\S\c\T\d\R\e\E\f"), r"a|b^c&amp;d~e\f");
        assert_eq!(
            leaf_content(r"\H\bold\N\ x\.br\y\.sp 2\\.in+4\\X0D0A\\Zfoo\\C2842\\M244233\"),
            "<escape V=\"H\"/>bold<escape V=\"N\"/> x<escape V=\".br\"/>y<escape V=\".sp 2\"/><escape V=\".in+4\"/>\
<escape V=\"X0D0A\"/><escape V=\"Zfoo\"/><escape V=\"C2842\"/><escape V=\"M244233\"/>"
        );
        // The body is escaped as an attribute value.
        assert_eq!(leaf_content(r#"\Z<"&'>\"#), r#"<escape V="Z&lt;&quot;&amp;&apos;&gt;"/>"#);
        // A custom escape character: `!` is the escape, `\` an ordinary character.
        let d = Delimiters::from_parts(b'|', b"^~!&").unwrap();
        assert_eq!(content(br"!T!!.br!\", &d, TextEncoding::Utf8), "&amp;<escape V=\".br\"/>\\");
    }

    #[test]
    fn a_lone_or_unknown_escape_character_is_written_as_the_character() {
        assert_eq!(leaf_content(r"C:\temp \Q\ \"), r"C:\temp \Q\ \");
        assert!(matches!(content(b"plain <x>", &Delimiters::default(), TextEncoding::Utf8), Cow::Owned(_)));
        assert!(matches!(content(b"plain", &Delimiters::default(), TextEncoding::Utf8), Cow::Borrowed(_)));
    }

    #[test]
    fn characters_xml_cannot_carry_become_hex_escape_elements() {
        assert_eq!(leaf_content("a\u{1}b\tc"), "a<escape V=\"X01\"/>b\tc");
        assert_eq!(leaf_content("\u{FFFE}"), "<escape V=\"XEFBFBE\"/>");
    }

    #[test]
    fn msh1_and_msh2_are_written_as_they_are() {
        let msg = hie_hl7::parse(b"MSH|^~\\&|A\\B\rPID|1\r").unwrap();
        let xml = write(&msg, None, false);
        assert!(xml.contains(r"<MSH.1>|</MSH.1><MSH.2>^~\&amp;</MSH.2><MSH.3>A\B</MSH.3>"), "{xml}");
    }

    #[test]
    fn pretty_output_indents_between_elements_only() {
        let msg = hie_hl7::parse(b"MSH|^~\\&|A\rPID|1| x ^y\r").unwrap();
        let xml = write(&msg, None, true);
        assert!(xml.contains("\n  <PID>\n    <PID.1>1</PID.1>\n    <PID.2>\n      <PID.2.1> x </PID.2.1>"), "{xml}");
    }
}
