//! The line-tracking XML reader under the IRIS loader: quick-xml events with the file
//! line each one starts on, and the few shapes the loader reads (a root element, an
//! element's text, a skipped subtree, what may follow the root).
//!
//! # Invariants
//! - Every error is a [`LoadError::Syntax`] naming the line in the real file: a text that
//!   is part of a file (UDL XData, a Studio export's `<Data>`) is read with the number of
//!   newlines before it (`base`), so its lines map 1:1 onto the file's.
//! - Nothing here recurses over the document: deep nesting cannot overflow the stack.
//! - It knows XML, not productions: what `<Production>` holds is `mapping`'s job.

use std::path::Path;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use crate::production::model::LoadError;

/// A start tag already read: its name, attributes and where it is.
#[derive(Debug)]
pub(super) struct Element {
    /// Element name as written (with prefix, if any).
    pub(super) name: String,
    /// Attributes in order, values entity-decoded and normalised.
    pub(super) attrs: Vec<(String, String)>,
    /// `<x/>`: no content and no end tag follow.
    pub(super) empty: bool,
    /// Line of the `<` that starts the element.
    pub(super) line: u32,
}

impl Element {
    /// The attribute called `name`, if present.
    pub(super) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The attribute called `name` if present and not empty.
    pub(super) fn nonempty_attr(&self, name: &str) -> Option<&str> {
        self.attr(name).filter(|v| !v.trim().is_empty())
    }
}

/// Maps byte offsets in a text to 1-based lines in the file it came from.
struct LineMap<'a> {
    /// The text the offsets index.
    text: &'a str,
    /// Newlines in the file before `text` starts.
    base: u32,
    /// Offset up to which newlines have been counted (offsets mostly grow).
    counted_to: usize,
    /// Newlines in `text[..counted_to]`.
    counted: u32,
}

impl<'a> LineMap<'a> {
    /// A map for `text`, which starts after `base` newlines of the file.
    fn new(text: &'a str, base: u32) -> Self {
        LineMap { text, base, counted_to: 0, counted: 0 }
    }

    /// The file line of byte `pos` of the text.
    fn line(&mut self, pos: usize) -> u32 {
        let pos = pos.min(self.text.len());
        if pos < self.counted_to {
            self.counted_to = 0;
            self.counted = 0;
        }
        let more = self
            .text
            .as_bytes()
            .get(self.counted_to..pos)
            .map_or(0, |bytes| bytes.iter().filter(|&&b| b == b'\n').count());
        self.counted = self.counted.saturating_add(u32::try_from(more).unwrap_or(u32::MAX));
        self.counted_to = pos;
        self.base.saturating_add(self.counted).saturating_add(1)
    }
}

/// A quick-xml reader over one XML text plus the bookkeeping to report file lines.
pub(super) struct Xml<'a> {
    /// The event reader.
    reader: Reader<&'a [u8]>,
    /// Offsets to lines.
    lines: LineMap<'a>,
    /// The production file, for locations.
    file: &'a Arc<Path>,
}

impl<'a> Xml<'a> {
    /// A reader over `text`, which starts after `base` newlines of `file`.
    pub(super) fn new(file: &'a Arc<Path>, text: &'a str, base: u32) -> Self {
        // Defaults keep whitespace text, so the offset before each read is where the next
        // event starts: that is what gives every element its line.
        Xml { reader: Reader::from_str(text), lines: LineMap::new(text, base), file }
    }

    /// The production file, for locations.
    pub(super) fn file(&self) -> &'a Arc<Path> {
        self.file
    }

    /// The offset the next event starts at (just after the last one read).
    pub(super) fn position(&self) -> usize {
        offset(self.reader.buffer_position())
    }

    /// The file line of byte `pos` of this text.
    pub(super) fn line(&mut self, pos: usize) -> u32 {
        self.lines.line(pos)
    }

    /// A syntax error at byte `pos` of this text.
    pub(super) fn error_at(&mut self, pos: usize, message: impl Into<String>) -> LoadError {
        let line = self.line(pos);
        LoadError::syntax(self.file, line, message)
    }

    /// The next event and the offset where it starts.
    pub(super) fn next(&mut self) -> Result<(Event<'a>, usize), LoadError> {
        let pos = offset(self.reader.buffer_position());
        match self.reader.read_event() {
            Ok(event) => Ok((event, pos)),
            Err(e) => {
                let at = offset(self.reader.error_position());
                Err(self.error_at(at, format!("malformed XML: {}", readable_xml_error(&e))))
            }
        }
    }

    /// Reads a start tag's name and attributes.
    pub(super) fn element(&mut self, e: &BytesStart<'_>, pos: usize, empty: bool) -> Result<Element, LoadError> {
        let line = self.line(pos);
        let name = e.name().0.to_string();
        let mut attrs = Vec::new();
        for attr in e.attributes() {
            let attr = attr.map_err(|err| {
                LoadError::syntax(self.file, line, format!("malformed XML: bad attribute in <{name}>: {err}"))
            })?;
            let value = attr.normalized_value(XmlVersion::Implicit1_0).map_err(|err| {
                LoadError::syntax(
                    self.file,
                    line,
                    format!("malformed XML: attribute {} of <{name}>: {}", attr.key.0, readable_xml_error(&err)),
                )
            })?;
            attrs.push((attr.key.0.to_string(), value.into_owned()));
        }
        Ok(Element { name, attrs, empty, line })
    }

    /// Skips prolog (declaration, comments, doctype, whitespace) and returns the root
    /// element, or `None` when the text has no element at all.
    pub(super) fn root(&mut self) -> Result<Option<Element>, LoadError> {
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Start(e) => return self.element(&e, pos, false).map(Some),
                Event::Empty(e) => return self.element(&e, pos, true).map(Some),
                Event::Text(t) if t.trim().is_empty() => {}
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(self.error_at(pos, "malformed XML: text before the root element"));
                }
                Event::End(_) => {
                    return Err(self.error_at(pos, "malformed XML: end tag before any start tag"));
                }
                Event::Eof => return Ok(None),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            }
        }
    }

    /// After the root element: only whitespace, comments and processing instructions may follow.
    pub(super) fn expect_end(&mut self, root_end: &str) -> Result<(), LoadError> {
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Eof => return Ok(()),
                Event::Text(t) if t.trim().is_empty() => {}
                Event::Comment(_) | Event::PI(_) => {}
                _ => {
                    return Err(self.error_at(pos, format!("malformed XML: content after {root_end}")));
                }
            }
        }
    }

    /// Error for an element whose end tag never came.
    pub(super) fn unclosed(&mut self, element: &Element) -> LoadError {
        LoadError::syntax(
            self.file,
            element.line,
            format!(
                "malformed XML: <{}> is not closed (no </{}> before the end of the input)",
                element.name, element.name
            ),
        )
    }

    /// Skips the content and end tag of `element`.
    pub(super) fn skip(&mut self, element: &Element) -> Result<(), LoadError> {
        if element.empty {
            return Ok(());
        }
        // A counter, not recursion: deep nesting in parts we ignore cannot overflow the stack.
        let mut depth = 1usize;
        loop {
            match self.next()?.0 {
                Event::Start(_) => depth += 1,
                Event::End(_) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Event::Eof => return Err(self.unclosed(element)),
                _ => {}
            }
        }
    }

    /// The text content of `element` (text, CDATA and entity references concatenated, EOLs
    /// normalised), not trimmed. Child elements are an error: IRIS values are plain text.
    pub(super) fn text(&mut self, element: &Element) -> Result<String, LoadError> {
        let mut text = String::new();
        if element.empty {
            return Ok(text);
        }
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::Text(t) => text.push_str(&t.xml10_content()),
                Event::CData(c) => text.push_str(&c.xml10_content()),
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        r.resolve_char_ref().ok().flatten()
                    } else {
                        quick_xml::escape::resolve_predefined_entity(&r).and_then(|s| s.chars().next())
                    };
                    match resolved {
                        Some(c) => text.push(c),
                        None => {
                            return Err(
                                self.error_at(pos, format!("malformed XML: unknown or invalid entity &{};", &*r))
                            );
                        }
                    }
                }
                Event::Start(e) | Event::Empty(e) => {
                    return Err(self.error_at(
                        pos,
                        format!(
                            "unexpected element <{}> inside <{}>: its value must be text",
                            e.name().0,
                            element.name
                        ),
                    ));
                }
                Event::End(_) => return Ok(text),
                Event::Eof => return Err(self.unclosed(element)),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => {}
            }
        }
    }

    /// Errors when `element` holds non-whitespace text where only child elements belong.
    pub(super) fn no_text(&mut self, pos: usize, text: &str, element: &Element) -> Result<(), LoadError> {
        if text.trim().is_empty() {
            Ok(())
        } else {
            Err(self.error_at(pos, format!("unexpected text inside <{}>: {:?}", element.name, text.trim())))
        }
    }
}

/// A reader offset as an index (offsets never exceed the text length, which fits usize).
fn offset(pos: u64) -> usize {
    usize::try_from(pos).unwrap_or(usize::MAX)
}

/// `text` without surrounding XML whitespace (space, tab, CR, LF); other Unicode spaces such
/// as NBSP are data.
pub(super) fn trim_xml(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\r', '\n'])
}

/// quick-xml's error without its category prefix where the message says enough by itself.
fn readable_xml_error(e: &quick_xml::Error) -> String {
    match e {
        quick_xml::Error::Syntax(s) => s.to_string(),
        quick_xml::Error::IllFormed(i) => i.to_string(),
        quick_xml::Error::InvalidAttr(a) => format!("bad attribute: {a}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Arc<Path> {
        Arc::from(Path::new("p.xml"))
    }

    /// The line and message of a syntax error.
    fn error(e: LoadError) -> (u32, String) {
        match e {
            LoadError::Syntax { location, message } => (location.line, message),
            other => panic!("expected a syntax error, got {other}"),
        }
    }

    #[test]
    fn line_map_counts_from_its_base_forwards_and_backwards() {
        let mut lines = LineMap::new("a\nb\r\nc", 10);
        assert_eq!(lines.line(0), 11);
        assert_eq!(lines.line(2), 12);
        assert_eq!(lines.line(5), 13);
        // Going back recounts rather than guessing.
        assert_eq!(lines.line(1), 11);
        // Past the end is the last line.
        assert_eq!(lines.line(500), 13);
    }

    #[test]
    fn root_skips_the_prolog_and_reads_attributes() {
        let file = file();
        let text = "<?xml version=\"1.0\"?>\n<!-- c -->\n<Production Name=\"A &amp; B\" Empty=\"\">";
        let mut xml = Xml::new(&file, text, 0);
        let root = xml.root().expect("readable").expect("a root");
        assert_eq!((root.name.as_str(), root.line, root.empty), ("Production", 3, false));
        assert_eq!(root.attr("Name"), Some("A & B"));
        assert_eq!(root.attr("Empty"), Some(""));
        assert_eq!(root.nonempty_attr("Empty"), None);
        assert_eq!(root.attr("Missing"), None);
    }

    #[test]
    fn a_text_without_elements_has_no_root() {
        let file = file();
        assert!(Xml::new(&file, "  \n<!-- only a comment -->\n", 0).root().expect("readable").is_none());
        let (line, message) = error(Xml::new(&file, "\nstray", 4).root().expect_err("text first"));
        assert_eq!(line, 5);
        assert!(message.contains("text before the root element"), "{message}");
    }

    #[test]
    fn text_joins_text_cdata_and_entities() {
        let file = file();
        let mut xml = Xml::new(&file, "<v> a &lt;<![CDATA[b]]>&#65;\n</v>", 0);
        let v = xml.root().expect("readable").expect("a root");
        assert_eq!(xml.text(&v).expect("text"), " a <bA\n");
        assert_eq!(trim_xml(" \t\r\n a\u{a0}\n"), "a\u{a0}");
    }

    #[test]
    fn text_refuses_elements_and_unknown_entities_at_their_line() {
        let file = file();
        let mut xml = Xml::new(&file, "<v>\n<b/></v>", 0);
        let v = xml.root().expect("readable").expect("a root");
        let (line, message) = error(xml.text(&v).expect_err("an element inside"));
        assert_eq!(line, 2);
        assert!(message.contains("unexpected element <b> inside <v>"), "{message}");
        let mut xml = Xml::new(&file, "<v>\n\n&nbsp;</v>", 0);
        let v = xml.root().expect("readable").expect("a root");
        let (line, message) = error(xml.text(&v).expect_err("an unknown entity"));
        assert_eq!(line, 3);
        assert!(message.contains("&nbsp;"), "{message}");
    }

    #[test]
    fn skip_passes_nested_content_and_reports_an_unclosed_element() {
        let file = file();
        let mut xml = Xml::new(&file, "<a><b><c/><d>x</d></b></a><after/>", 0);
        let a = xml.root().expect("readable").expect("a root");
        xml.skip(&a).expect("skipped");
        assert!(matches!(xml.next().expect("readable").0, Event::Empty(_)));
        let mut xml = Xml::new(&file, "\n<a><b></b>", 0);
        let a = xml.root().expect("readable").expect("a root");
        let (line, message) = error(xml.skip(&a).expect_err("never closed"));
        assert_eq!(line, 2);
        assert!(message.contains("<a> is not closed"), "{message}");
    }

    #[test]
    fn only_comments_and_whitespace_may_follow_the_root() {
        let file = file();
        let mut xml = Xml::new(&file, "<a/>\n<!-- fine -->\n", 0);
        xml.root().expect("readable").expect("a root");
        xml.expect_end("</a>").expect("nothing after");
        let mut xml = Xml::new(&file, "<a/>\n\n<b/>", 0);
        xml.root().expect("readable").expect("a root");
        let (line, message) = error(xml.expect_end("</a>").expect_err("a second element"));
        assert_eq!(line, 3);
        assert!(message.contains("content after </a>"), "{message}");
    }

    #[test]
    fn malformed_xml_names_the_line_of_the_problem() {
        let file = file();
        let mut xml = Xml::new(&file, "<a>\n\n</b>", 20);
        xml.root().expect("readable").expect("a root");
        let e = loop {
            match xml.next() {
                Ok((Event::Eof, _)) => panic!("a mismatched end tag must be an error"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        let (line, message) = error(e);
        assert_eq!(line, 23);
        assert!(message.starts_with("malformed XML"), "{message}");
    }
}
