//! A small element tree over quick-xml, with the source line of every element.
//!
//! Rule and DTL definitions are small documents that the compilers walk several times, so
//! they are read into a tree first. Element names are local names (any namespace prefix and
//! every `xmlns` attribute are dropped, as IRIS puts the namespace in the XData keyword).
//! Attribute values and text are entity-decoded; adjacent text, CDATA sections and entity
//! references are joined into one text child (so a `]]>` split across two CDATA sections is
//! restored), and comments and processing instructions are dropped.
//!
//! # Invariants
//!
//! - Lines are 1-based lines of the file the text came from (`base` newlines precede it).
//! - Nesting deeper than [`MAX_DEPTH`] is an error, so later recursive walks cannot overflow
//!   the stack; nothing here panics on any input.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// One element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Local name.
    pub name: String,
    /// Attributes in document order (decoded), without `xmlns` declarations.
    pub attrs: Vec<(String, String)>,
    /// Child elements and text, in order.
    pub children: Vec<Child>,
    /// File line of the start tag.
    pub line: u32,
}

/// A child of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Child {
    /// An element.
    Element(Node),
    /// Text (CDATA and entity references joined in).
    Text(String),
}

/// A malformed document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlError {
    /// File line of the problem.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

impl Node {
    /// The attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Node> {
        self.children.iter().filter_map(|c| match c {
            Child::Element(n) => Some(n),
            Child::Text(_) => None,
        })
    }

    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.elements().find(|n| n.name == name)
    }

    /// All text directly inside this element, joined.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|c| match c {
                Child::Text(t) => Some(t.as_str()),
                Child::Element(_) => None,
            })
            .collect()
    }
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

struct Lines<'a> {
    text: &'a str,
    base: u32,
    at: usize,
    count: u32,
}

impl Lines<'_> {
    fn line(&mut self, pos: usize) -> u32 {
        let pos = pos.min(self.text.len());
        if pos < self.at {
            self.at = 0;
            self.count = 0;
        }
        let more = self.text.as_bytes()[self.at..pos].iter().filter(|&&b| b == b'\n').count();
        self.count = self.count.saturating_add(u32::try_from(more).unwrap_or(u32::MAX));
        self.at = pos;
        self.base.saturating_add(self.count).saturating_add(1)
    }
}

fn offset(p: u64) -> usize {
    usize::try_from(p).unwrap_or(usize::MAX)
}

fn start(e: &BytesStart<'_>, line: u32) -> Result<Node, XmlError> {
    let name = local(e.name().0).to_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| XmlError { line, message: format!("bad attribute in <{name}>: {err}") })?;
        let key = a.key.0;
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| XmlError { line, message: format!("attribute {key} of <{name}>: {err}") })?;
        attrs.push((local(key).to_owned(), value.into_owned()));
    }
    Ok(Node { name, attrs, children: Vec::new(), line })
}

fn push_text(node: &mut Node, text: &str) {
    if let Some(Child::Text(t)) = node.children.last_mut() {
        t.push_str(text);
    } else {
        node.children.push(Child::Text(text.to_owned()));
    }
}

/// Parses the first element of `text` (after any prolog) and returns it with the byte offset
/// just after its end tag. `base` is the number of file lines before `text`.
pub fn parse_element(text: &str, base: u32) -> Result<(Node, usize), XmlError> {
    let mut reader = Reader::from_str(text);
    let mut lines = Lines { text, base, at: 0, count: 0 };
    let mut stack: Vec<Node> = Vec::new();
    loop {
        let pos = offset(reader.buffer_position());
        let event = reader.read_event().map_err(|e| {
            let at = offset(reader.error_position());
            XmlError { line: lines.line(at), message: format!("malformed XML: {e}") }
        })?;
        let line = lines.line(pos);
        let done = |node: Node, stack: &mut Vec<Node>, end: usize| -> Option<(Node, usize)> {
            match stack.last_mut() {
                Some(parent) => {
                    parent.children.push(Child::Element(node));
                    None
                }
                None => Some((node, end)),
            }
        };
        match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError { line, message: format!("elements nested deeper than {MAX_DEPTH} levels") });
                }
                stack.push(start(&e, line)?);
            }
            Event::Empty(e) => {
                let node = start(&e, line)?;
                if let Some(r) = done(node, &mut stack, offset(reader.buffer_position())) {
                    return Ok(r);
                }
            }
            Event::End(_) => {
                let Some(node) = stack.pop() else {
                    return Err(XmlError { line, message: "malformed XML: end tag without a start tag".into() });
                };
                if let Some(r) = done(node, &mut stack, offset(reader.buffer_position())) {
                    return Ok(r);
                }
            }
            Event::Text(t) => match stack.last_mut() {
                Some(n) => push_text(n, &t.xml10_content()),
                None if t.xml10_content().trim().is_empty() => {}
                None => return Err(XmlError { line, message: "malformed XML: text before the root element".into() }),
            },
            Event::CData(c) => match stack.last_mut() {
                Some(n) => push_text(n, &c.xml10_content()),
                None => return Err(XmlError { line, message: "malformed XML: CDATA before the root element".into() }),
            },
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    quick_xml::escape::resolve_predefined_entity(&r).map(str::to_owned)
                };
                let Some(s) = resolved else {
                    return Err(XmlError { line, message: format!("malformed XML: unknown entity &{};", &*r) });
                };
                match stack.last_mut() {
                    Some(n) => push_text(n, &s),
                    None => {
                        return Err(XmlError { line, message: "malformed XML: text before the root element".into() });
                    }
                }
            }
            Event::Eof => {
                let message = match stack.last() {
                    Some(open) => format!("malformed XML: <{}> (line {}) is not closed", open.name, open.line),
                    None => "no XML element found".to_owned(),
                };
                return Err(XmlError { line, message });
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

/// Parses a whole document: its root element, then only whitespace, comments and
/// processing instructions.
pub fn parse_document(text: &str, base: u32) -> Result<Node, XmlError> {
    let (node, end) = parse_element(text, base)?;
    let rest = text.get(end..).unwrap_or("");
    let mut reader = Reader::from_str(rest);
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return Ok(node),
            Ok(Event::Text(t)) if t.xml10_content().trim().is_empty() => {}
            Ok(Event::Comment(_) | Event::PI(_)) => {}
            _ => {
                let line = base + text[..end].matches('\n').count() as u32 + 1;
                return Err(XmlError {
                    line,
                    message: format!("malformed XML: content after the root element </{}>", node.name),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_tree_with_lines_and_decoded_values() {
        let text = "<?xml version=\"1.0\"?>\n<r xmlns=\"http://x\" a=\"&quot;F&quot;&amp;&amp;1\">\n<c/>text&lt;<![CDATA[<raw>]]>\n</r>\n";
        let n = parse_document(text, 10).unwrap();
        assert_eq!(n.name, "r");
        assert_eq!(n.line, 12);
        assert_eq!(n.attrs, vec![("a".to_owned(), "\"F\"&&1".to_owned())]);
        assert_eq!(n.child("c").map(|c| c.line), Some(13));
        assert_eq!(n.text(), "\ntext<<raw>\n");
    }

    #[test]
    fn split_cdata_sections_are_joined() {
        let n = parse_document("<d><![CDATA[a]]]]><![CDATA[>b]]></d>", 0).unwrap();
        assert_eq!(n.text(), "a]]>b");
    }

    #[test]
    fn malformed_input_is_an_error_with_a_line() {
        let e = parse_document("<a>\n<b>\n</a>", 0).unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        assert!(parse_document("", 0).is_err());
        assert!(parse_document("<a/><b/>", 0).is_err());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse_document(&deep, 0).unwrap_err().message.contains("deeper"));
    }
}
