//! Reading XML back into a message tree (and so into HL7 bytes), without a schema.
//!
//! # Invariants
//!
//! - The root element may have any name; of its attributes only `encoding` is read.
//!   Inside it, an element named like a segment (`PID`, or `_` + a name starting with a
//!   digit, `_123`) is a segment; any other element is a group and only its content counts.
//! - A segment holds field elements `SEGMENT.n`, one per repetition, in non-decreasing
//!   order (repetitions of a field are adjacent). A field holds a value or component
//!   elements `ANY.n`; a component holds a value or subcomponent elements `ANY.n`; a
//!   subcomponent holds a value. Component and subcomponent numbers increase strictly. Only
//!   the number after the last `.` is used.
//! - A value is HL7 v2.xml text: text and empty `<escape V="..."/>` elements, mixed in any
//!   order, read into a [`Node::Decoded`]. Its text is taken literally: the encoder writes a
//!   separator or the escape character in it as its escape (`&amp;` is `\T\`), and an
//!   escape element as `\V\`, after checking V. MSH-1 and MSH-2 are read the same way and
//!   written as they are (they are the delimiters).
//! - Whitespace-only text between numbered elements is ignored; other text, or an escape
//!   element, beside numbered child elements is an error, as is an escape element outside a
//!   value or with content. Text in a value is kept whole, whitespace included. Comments,
//!   processing instructions, the XML declaration and a DOCTYPE are ignored; entity
//!   references other than the five XML ones are errors.
//! - The reader is a loop over quick-xml events with an explicit stack: no recursion,
//!   whatever the nesting. Every error names the element and gives its line and column.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

use super::error::{ConvertError, Position};
use super::text::TextEncoding;
use super::tree::{Budget, Node, Piece, SegmentNode, Tree, encode, is_segment_name, parse_number};

/// The local name of the HL7 v2.xml element for an escape sequence.
const ESCAPE: &str = "escape";

/// [`super::from_xml`].
pub(crate) fn from_str(xml: &str) -> Result<Vec<u8>, ConvertError> {
    let tree = read(xml)?;
    encode(&tree, Budget::for_input(xml.len()))
}

/// A field repetition, component or subcomponent being read: text and escape elements, or
/// numbered children.
#[derive(Debug, Default)]
struct Item {
    element: String,
    n: usize,
    /// The text since the last escape element.
    text: String,
    /// Text and escape elements before `text`.
    pieces: Vec<Piece>,
    parts: Vec<(usize, Node)>,
}

impl Item {
    fn into_node(mut self) -> Node {
        if !self.parts.is_empty() {
            return Node::Parts(self.parts);
        }
        if !self.text.is_empty() {
            self.pieces.push(Piece::Text(self.text));
        }
        Node::Decoded(self.pieces)
    }
}

/// What the reader is inside of.
#[derive(Debug)]
enum Frame {
    Root(String),
    Group(String),
    Segment {
        element: String,
        node: SegmentNode,
    },
    Field(Item),
    Component(Item),
    Subcomponent(Item),
    /// An `<escape V="..."/>` element (its V is already in the value's pieces).
    Escape(String),
}

impl Frame {
    fn element(&self) -> &str {
        match self {
            Frame::Root(e) | Frame::Group(e) | Frame::Escape(e) | Frame::Segment { element: e, .. } => e,
            Frame::Field(i) | Frame::Component(i) | Frame::Subcomponent(i) => &i.element,
        }
    }
}

fn is_xml_space(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// The segment name an element stands for, if it is a segment element.
fn segment_of(element: &str) -> Option<&str> {
    if is_segment_name(element) {
        return Some(element);
    }
    let rest = element.strip_prefix('_')?;
    (is_segment_name(rest) && rest.starts_with(|c: char| c.is_ascii_digit())).then_some(rest)
}

/// The number after the last `.` of an element name.
fn trailing_number(element: &str) -> Option<usize> {
    parse_number(element.rsplit_once('.')?.1)
}

fn preview(text: &str) -> String {
    let t = text.trim();
    let mut p: String = t.chars().take(30).collect();
    if p.len() < t.len() {
        p.push_str("...");
    }
    p
}

/// Starts child `element` (a component or subcomponent) of `parent`.
fn child(
    parent: &mut Item,
    element: String,
    what: &str,
    err: &dyn Fn(String) -> ConvertError,
) -> Result<Item, ConvertError> {
    let p = &parent.element;
    let Some(n) = trailing_number(&element) else {
        return Err(err(format!("<{element}> in <{p}> is not a {what} element (expected <NAME.NUMBER>)")));
    };
    if !parent.pieces.is_empty() {
        return Err(err(format!("<{p}> has both escape elements and {what} elements")));
    }
    if !is_xml_space(&parent.text) {
        return Err(err(format!("<{p}> has both text ({:?}) and elements", preview(&parent.text))));
    }
    parent.text.clear();
    if let Some((last, _)) = parent.parts.last()
        && n <= *last
    {
        return Err(err(format!(
            "<{element}> in <{p}>: {what} {n} comes after {what} {last} ({what}s are in increasing order, each once)"
        )));
    }
    Ok(Item { element, n, ..Item::default() })
}

struct Reader<'x> {
    xml: &'x str,
    stack: Vec<Frame>,
    tree: Tree,
    root_done: bool,
    /// Byte offset of the event being handled (for errors).
    offset: usize,
}

/// Reads the whole document into a tree.
fn read(xml: &str) -> Result<Tree, ConvertError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let mut r = Reader { xml, stack: Vec::new(), tree: Tree::default(), root_done: false, offset: 0 };
    loop {
        r.offset = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                r.offset = usize::try_from(reader.error_position()).unwrap_or(usize::MAX);
                let inside = r.stack.last().map(|f| format!(" (inside <{}>)", f.element())).unwrap_or_default();
                return Err(r.error(format!("{e}{inside}")));
            }
        };
        match event {
            Event::Start(e) => r.start(&e)?,
            Event::Empty(e) => {
                r.start(&e)?;
                r.end()?;
            }
            Event::End(_) => r.end()?,
            Event::Text(t) => r.text(&t.xml10_content())?,
            Event::CData(t) => r.text(&t.xml10_content())?,
            Event::GeneralRef(g) => {
                let c =
                    match g.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        Ok(None) => match g.xml10_content().as_ref() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => return Err(r.error(format!(
                                "unknown entity &{other}; (only &lt; &gt; &amp; &apos; &quot; and character references)"
                            ))),
                        },
                        Err(e) => return Err(r.error(format!("bad character reference &{};: {e}", g.xml10_content()))),
                    };
                let mut buf = [0u8; 4];
                r.text(c.encode_utf8(&mut buf))?;
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if let Some(f) = r.stack.last() {
        return Err(r.error(format!("the document ends inside <{}>", f.element())));
    }
    if !r.root_done {
        return Err(r.error("there is no root element".into()));
    }
    Ok(r.tree)
}

impl Reader<'_> {
    fn error(&self, message: String) -> ConvertError {
        ConvertError::Xml { message, position: Position::of_offset(self.xml, self.offset) }
    }

    fn start(&mut self, e: &BytesStart<'_>) -> Result<(), ConvertError> {
        let element = e.local_name().as_ref().to_owned();
        // Attributes are ignored (but for the root's `encoding`); malformed ones are errors.
        for a in e.attributes() {
            a.map_err(|err| self.error(format!("bad attribute in <{element}>: {err}")))?;
        }
        if self.stack.is_empty() {
            if self.root_done {
                return Err(self.error(format!("<{element}> after the root element was closed")));
            }
            self.root_attributes(e)?;
            self.stack.push(Frame::Root(element));
            return Ok(());
        }
        let (xml, offset) = (self.xml, self.offset);
        let err = |message: String| ConvertError::Xml { message, position: Position::of_offset(xml, offset) };
        let segment = self.tree.segments.len() + 1;
        if element == ESCAPE {
            return self.escape(e, element);
        }
        let frame = match self.stack.last_mut() {
            None => return Err(err(format!("<{element}> outside the root element"))),
            Some(Frame::Root(_) | Frame::Group(_)) => match segment_of(&element) {
                Some(name) => {
                    Frame::Segment { node: SegmentNode { name: name.to_owned(), fields: Vec::new() }, element }
                }
                None => Frame::Group(element),
            },
            Some(Frame::Segment { element: seg, node }) => {
                let n = element.strip_prefix(seg.as_str()).and_then(|r| r.strip_prefix('.')).and_then(parse_number);
                let Some(n) = n else {
                    return Err(err(format!(
                        "<{element}> in segment {segment} ({}) is not a field element (expected <{seg}.NUMBER>)",
                        node.name
                    )));
                };
                if let Some((last, _)) = node.fields.last()
                    && n < *last
                {
                    return Err(err(format!(
                        "<{element}> comes after <{seg}.{last}>: fields must be in increasing order"
                    )));
                }
                Frame::Field(Item { element, n, ..Item::default() })
            }
            Some(Frame::Field(item)) => Frame::Component(child(item, element, "component", &err)?),
            Some(Frame::Component(item)) => Frame::Subcomponent(child(item, element, "subcomponent", &err)?),
            Some(Frame::Subcomponent(item)) => {
                return Err(err(format!(
                    "<{element}> inside subcomponent <{}>: a subcomponent holds only text and escape elements",
                    item.element
                )));
            }
            Some(Frame::Escape(_)) => {
                return Err(err(format!("<{element}> inside <escape>: an escape element is empty")));
            }
        };
        self.stack.push(frame);
        Ok(())
    }

    /// An `<escape V="..."/>` element: one more piece of the value it is in. Its V is checked
    /// when the tree is encoded (which knows the delimiters).
    fn escape(&mut self, e: &BytesStart<'_>, element: String) -> Result<(), ConvertError> {
        let mut v = None;
        for a in e.attributes() {
            let a = a.map_err(|err| self.error(format!("bad attribute in <escape>: {err}")))?;
            if a.key.local_name().as_ref() == "V" {
                let value = a
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|err| self.error(format!("bad V attribute in <escape>: {err}")))?;
                v = Some(value.into_owned());
            }
        }
        let (xml, offset) = (self.xml, self.offset);
        let err = |message: String| ConvertError::Xml { message, position: Position::of_offset(xml, offset) };
        let item = match self.stack.last_mut() {
            Some(Frame::Field(item) | Frame::Component(item) | Frame::Subcomponent(item)) => item,
            Some(f) => {
                return Err(err(format!(
                    "<escape> in <{}>: an escape element belongs in a field, component or subcomponent",
                    f.element()
                )));
            }
            None => return Err(err("<escape> outside the root element".into())),
        };
        if !item.parts.is_empty() {
            return Err(err(format!("<{}> has both elements and escape elements", item.element)));
        }
        let Some(v) = v else {
            return Err(err(format!(
                "<escape> in <{}> has no V attribute (the escape sequence, e.g. V=\".br\")",
                item.element
            )));
        };
        if !item.text.is_empty() {
            item.pieces.push(Piece::Text(std::mem::take(&mut item.text)));
        }
        item.pieces.push(Piece::Escape(v));
        self.stack.push(Frame::Escape(element));
        Ok(())
    }

    fn root_attributes(&mut self, e: &BytesStart<'_>) -> Result<(), ConvertError> {
        for a in e.attributes() {
            let a = a.map_err(|err| self.error(format!("bad attribute in the root element: {err}")))?;
            if a.key.local_name().as_ref() != "encoding" {
                continue;
            }
            let v = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| self.error(format!("bad encoding attribute: {err}")))?;
            self.tree.encoding = TextEncoding::from_name(&v).ok_or_else(|| {
                self.error(format!("unknown encoding {v:?} (expected utf-8, iso-8859-1 or iso-8859-15)"))
            })?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), ConvertError> {
        let Some(frame) = self.stack.pop() else {
            return Err(self.error("an end tag without a start tag".into()));
        };
        let (xml, offset) = (self.xml, self.offset);
        match (frame, self.stack.last_mut()) {
            (Frame::Root(_), _) => self.root_done = true,
            (Frame::Group(_) | Frame::Escape(_), _) => {}
            (Frame::Segment { node, .. }, _) => self.tree.segments.push(node),
            (Frame::Field(item), Some(Frame::Segment { node, .. })) => {
                let n = item.n;
                let rep = item.into_node();
                match node.fields.last_mut() {
                    Some((last, Node::List(reps))) if *last == n => reps.push(rep),
                    _ => node.fields.push((n, Node::List(vec![rep]))),
                }
            }
            (
                Frame::Component(item) | Frame::Subcomponent(item),
                Some(Frame::Field(parent) | Frame::Component(parent)),
            ) => {
                parent.parts.push((item.n, item.into_node()));
            }
            (frame, _) => {
                // Unreachable by construction (start() only pushes frames under their
                // parents); kept as an error rather than a panic.
                let message = format!("<{}> is not where it can be", frame.element());
                return Err(ConvertError::Xml { message, position: Position::of_offset(xml, offset) });
            }
        }
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), ConvertError> {
        let segment = self.tree.segments.len() + 1;
        let (xml, offset) = (self.xml, self.offset);
        let err = |message: String| ConvertError::Xml { message, position: Position::of_offset(xml, offset) };
        match self.stack.last_mut() {
            None if is_xml_space(text) => Ok(()),
            None => Err(err(format!("text {:?} outside the root element", preview(text)))),
            Some(Frame::Root(e) | Frame::Group(e)) if !is_xml_space(text) => {
                let msg = format!("text {:?} directly in <{e}> (only segments and groups belong here)", preview(text));
                Err(err(msg))
            }
            Some(Frame::Segment { element, .. }) if !is_xml_space(text) => {
                let msg = format!(
                    "text {:?} directly in segment {segment} <{element}> (only field elements belong here)",
                    preview(text)
                );
                Err(err(msg))
            }
            Some(Frame::Escape(_)) if !is_xml_space(text) => {
                Err(err(format!("text {:?} inside <escape>: an escape element is empty", preview(text))))
            }
            Some(Frame::Root(_) | Frame::Group(_) | Frame::Segment { .. } | Frame::Escape(_)) => Ok(()),
            Some(Frame::Field(item) | Frame::Component(item)) if !item.parts.is_empty() => {
                if is_xml_space(text) {
                    return Ok(());
                }
                let msg = format!("<{}> has both elements and text ({:?})", item.element, preview(text));
                Err(err(msg))
            }
            Some(Frame::Field(item) | Frame::Component(item) | Frame::Subcomponent(item)) => {
                item.text.push_str(text);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hl7(xml: &str) -> Result<String, ConvertError> {
        from_str(xml).map(|b| String::from_utf8(b).unwrap())
    }

    const MSH: &str = r"<MSH><MSH.1>|</MSH.1><MSH.2>^~\&amp;</MSH.2></MSH>";

    #[test]
    fn groups_names_and_whitespace_are_ignored() {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<!-- c --><X xmlns=\"urn:hl7-org:v2xml\">\n  {MSH}\n  <G.A><PID>\n <PID.1>1</PID.1>\
<PID.3><CX.1> a </CX.1><CX.4><HD.2>&#x41;&lt;</HD.2></CX.4></PID.3><PID.3/><PID.3>b</PID.3>\
</PID></G.A><_123/></X>"
        );
        assert_eq!(hl7(&xml).unwrap(), "MSH|^~\\&\rPID|1|| a ^^^&A<~~b\r123\r");
    }

    #[test]
    fn malformed_xml_names_the_element_and_position() {
        let e = hl7(&format!("<X>{MSH}\n<PID><PID.1>a</PID.2></PID></X>")).unwrap_err();
        let ConvertError::Xml { message, position } = &e else { panic!("{e}") };
        assert_eq!(position.line, 2, "{e}");
        assert!(message.contains("PID.1") || message.contains("PID.2"), "{e}");
        let e = hl7(&format!("<X>{MSH}<PID><PID.1>a</PID.1>")).unwrap_err();
        assert!(e.to_string().contains("ends inside <PID>"), "{e}");
        let e = hl7(&format!("<X>{MSH}<PID><PID.x>a</PID.x></PID></X>")).unwrap_err();
        assert!(e.to_string().contains("<PID.x> in segment 2 (PID) is not a field element"), "{e}");
        let e = hl7(&format!("<X>{MSH}<PID><PID.2>a</PID.2><PID.1/></PID></X>")).unwrap_err();
        assert!(e.to_string().contains("increasing order"), "{e}");
        let e = hl7(&format!("<X>{MSH}<PID><PID.2>a<XPN.1>b</XPN.1></PID.2></PID></X>")).unwrap_err();
        assert!(e.to_string().contains("<PID.2> has both text (\"a\") and elements"), "{e}");
        let e = hl7(&format!("<X>{MSH}<PID><PID.2><A.2/><A.1/></PID.2></PID></X>")).unwrap_err();
        assert!(e.to_string().contains("component 1 comes after component 2"), "{e}");
        let e = hl7(&format!("<X>{MSH}<PID><PID.2><A.1><B.1><C.1/></B.1></A.1></PID.2></PID></X>")).unwrap_err();
        assert!(e.to_string().contains("a subcomponent holds only text and escape elements"), "{e}");
        let e = hl7(&format!("<X>{MSH}<PID><PID.1>&nbsp;</PID.1></PID></X>")).unwrap_err();
        assert!(e.to_string().contains("unknown entity &nbsp;"), "{e}");
        assert!(hl7(&format!("<X>{MSH}</X><Y/>")).unwrap_err().to_string().contains("after the root element"));
        assert!(hl7("").unwrap_err().to_string().contains("no root element"));
        assert!(hl7("<X>text</X>").unwrap_err().to_string().contains("directly in <X>"));
        assert!(
            hl7(&format!("<X encoding=\"ebcdic\">{MSH}</X>")).unwrap_err().to_string().contains("unknown encoding")
        );
        assert_eq!(hl7("<X/>").unwrap_err(), ConvertError::NoSegments);
    }

    #[test]
    fn literal_separators_in_xml_text_are_escaped_on_the_way_back() {
        let xml = format!(
            "<X>{MSH}<NTE><NTE.3>a|b^c~d&amp;e\\f#g</NTE.3><NTE.4><A.1><B.2>x&amp;y</B.2></A.1></NTE.4></NTE></X>"
        );
        assert_eq!(hl7(&xml).unwrap(), "MSH|^~\\&\rNTE|||a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f#g|&x\\T\\y\r");
        // The message's own delimiters, not the standard ones.
        let xml = "<X><MSH><MSH.1>*</MSH.1><MSH.2>!@$%</MSH.2></MSH><PID><PID.1>a|b*c!d$e%f</PID.1></PID></X>";
        assert_eq!(hl7(xml).unwrap(), "MSH*!@$%\rPID*a|b$F$c$S$d$E$e$T$f\r");
    }

    #[test]
    fn escape_elements_become_escape_sequences_in_mixed_content() {
        let xml = format!(
            "<X>{MSH}<NTE><NTE.3>a <escape V=\".br\"/> b<escape V=\"H\"></escape>c<v2:escape V=\"N\"/>\
</NTE.3><NTE.4><escape V=\"X0D0A\"/></NTE.4><NTE.5><A.1><B.1>x<escape V=\"Zfoo\"/></B.1></A.1></NTE.5></NTE></X>"
        );
        assert_eq!(hl7(&xml).unwrap(), "MSH|^~\\&\rNTE|||a \\.br\\ b\\H\\c\\N\\|\\X0D0A\\|x\\Zfoo\\\r");
        // Hand-written delimiter escapes are accepted too.
        let xml = format!("<X>{MSH}<NTE><NTE.1><escape V=\"T\"/><escape V=\"E\"/></NTE.1></NTE></X>");
        assert_eq!(hl7(&xml).unwrap(), "MSH|^~\\&\rNTE|\\T\\\\E\\\r");
    }

    #[test]
    fn escape_elements_that_hl7_cannot_hold_are_errors() {
        let bad = |inner: &str| hl7(&format!("<X>{MSH}<NTE><NTE.3>{inner}</NTE.3></NTE></X>")).unwrap_err().to_string();
        let e = bad("<escape V=\"Q\"/>");
        assert!(e.contains("NTE-3(1): the escape sequence \"Q\" is not one HL7 defines"), "{e}");
        assert!(bad("<escape V=\"\"/>").contains("is not one HL7 defines"));
        assert!(bad("<escape V=\"X0\"/>").contains("is not one HL7 defines"));
        assert!(bad("<escape V=\"Za|b\"/>").contains("contains the field separator '|'"));
        assert!(bad("<escape/>").contains("no V attribute"), "{}", bad("<escape/>"));
        assert!(bad("<escape V=\"H\">x</escape>").contains("an escape element is empty"));
        assert!(bad("<escape V=\"H\"><A.1/></escape>").contains("an escape element is empty"));
        assert!(bad("<A.1>x</A.1><escape V=\"H\"/>").contains("has both elements and escape elements"));
        assert!(bad("<escape V=\"H\"/><A.1>x</A.1>").contains("has both escape elements and component elements"));
        assert!(bad("a&#xA;<escape V=\"H\"/>").contains("line break"));
        // Not inside a value.
        let e = hl7(&format!("<X>{MSH}<escape V=\"H\"/></X>")).unwrap_err().to_string();
        assert!(e.contains("an escape element belongs in a field"), "{e}");
        let e = hl7(&format!("<X>{MSH}<NTE><escape V=\"H\"/></NTE></X>")).unwrap_err().to_string();
        assert!(e.contains("an escape element belongs in a field"), "{e}");
        // MSH-1 and MSH-2 are the delimiters: no escapes there.
        let e = hl7("<X><MSH><MSH.1>|</MSH.1><MSH.2>^~\\&amp;<escape V=\"H\"/></MSH.2></MSH></X>").unwrap_err();
        assert!(e.to_string().contains("must be a plain string"), "{e}");
        // A `.` delimiter cannot sit in a formatting command.
        let e = hl7(
            "<X><MSH><MSH.1>.</MSH.1><MSH.2>^~\\&amp;</MSH.2></MSH><NTE><NTE.1><escape V=\".br\"/></NTE.1></NTE></X>",
        )
        .unwrap_err();
        assert!(e.to_string().contains("contains the field separator '.'"), "{e}");
    }

    #[test]
    fn encoding_attribute_maps_characters_to_bytes() {
        let xml = format!("<X encoding=\"iso-8859-1\">{MSH}<PID><PID.1>Müller</PID.1></PID></X>");
        assert_eq!(from_str(&xml).unwrap(), b"MSH|^~\\&\rPID|M\xfcller\r");
    }
}
