//! Reading HL7 documents by IRIS virtual property path, over `hie-hl7-schema`: compiled-path
//! caching, the message view (message, DocType, segment map) and the value rules.
//!
//! # Invariants
//!
//! - A value read at a leaf (a field, repetition, component or subcomponent whose raw text
//!   holds no component, repetition or subcomponent separator) is unescaped (`\T\` → `&`)
//!   and the explicit null `""` reads as empty; a composite value is returned raw, with the
//!   message's own delimiters and escapes (`docs/iris-formats.md` §3.5).
//! - A path that does not resolve (absent segment, field, repetition...) reads as `""`.
//! - The cache holds at most [`CACHE_LIMIT`] compiled paths per owner; compile errors are
//!   cached too, so a bad path costs one compilation. Entries are keyed by the identity of
//!   the structure they were compiled against, so schemas reloaded by the host are used.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use hie_hl7::Message;
use hie_hl7_schema::{Category, CompileOptions, CompiledPath, DocType, Keys, Node, SegmentMap};

/// Most compiled paths one rule or DTL keeps.
pub const CACHE_LIMIT: usize = 4096;

/// How a path text is compiled.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A document path (`PID:5`, `PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5`).
    Document,
    /// A segment-relative path (`3.1`, `AbnormalFlags`) for segments with this ID.
    Relative(String),
    /// `[SEG:field]`: every segment SEG regardless of structure.
    Square,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    text: String,
    mode: Mode,
    schema: String,
    /// Identity of the structure (or category) compiled against: a reloaded custom category
    /// with the same name gets fresh compilations. A cached path keeps its structure alive,
    /// so the address cannot be reused while the entry exists.
    identity: usize,
}

/// A cache of compiled paths, keyed by text, mode and DocType/category.
#[derive(Debug, Default)]
pub struct PathCache {
    map: Mutex<HashMap<Key, Arc<Result<CompiledPath, String>>>>,
}

impl PathCache {
    /// The compiled path for `text`, compiled against `doc` (or, without a DocType, the
    /// `category`'s names).
    pub fn get(
        &self,
        text: &str,
        mode: Mode,
        doc: Option<&DocType>,
        category: Option<&Category>,
    ) -> Arc<Result<CompiledPath, String>> {
        let (schema, identity) = match (doc, category) {
            (Some(d), _) => (d.to_string(), Arc::as_ptr(d.structure()) as usize),
            (None, Some(c)) => (format!("{}:", c.name()), c as *const Category as usize),
            (None, None) => (String::new(), 0),
        };
        let key = Key { text: text.to_owned(), mode, schema, identity };
        if let Ok(map) = self.map.lock()
            && let Some(hit) = map.get(&key)
        {
            return Arc::clone(hit);
        }
        let mut opts = CompileOptions::new();
        if let Some(d) = doc {
            opts = opts.doc_type(d);
        }
        if let Some(c) = category {
            opts = opts.category(c);
        }
        let compiled = match &key.mode {
            Mode::Document => CompiledPath::parse(text, &opts),
            Mode::Relative(seg) => CompiledPath::parse_relative(text, &opts.segment(seg)),
            Mode::Square => CompiledPath::square_bracket(text, &opts),
        };
        let result = Arc::new(compiled.map_err(|e| e.to_string()));
        if let Ok(mut map) = self.map.lock()
            && map.len() < CACHE_LIMIT
        {
            map.insert(key, Arc::clone(&result));
        }
        result
    }
}

/// A parsed message with its DocType and segment map.
pub struct View<'a> {
    /// The message.
    pub msg: &'a Message<'a>,
    /// Its DocType, if it has one.
    pub doc: Option<&'a DocType>,
    /// Where each segment sits in the DocType's structure.
    pub map: Option<SegmentMap>,
}

impl<'a> View<'a> {
    /// A view of `msg`; maps the segments when there is a DocType.
    pub fn new(msg: &'a Message<'a>, doc: Option<&'a DocType>) -> View<'a> {
        let map = doc.map(|d| SegmentMap::build(msg, d.structure()));
        View { msg, doc, map }
    }

    /// The category of the DocType, if any.
    pub fn category(&self) -> Option<&Category> {
        self.doc.map(|d| d.category().as_ref())
    }
}

/// Whether raw HL7 text has inner structure (component, repetition or subcomponent
/// separators) for this message.
pub fn is_composite(msg: &Message<'_>, raw: &[u8]) -> bool {
    let d = msg.delimiters();
    raw.iter().any(|&b| b == d.component || b == d.repetition || b == d.subcomponent)
}

/// The text of a raw value by the leaf rule (see the module invariants).
pub fn leaf_text(msg: &Message<'_>, raw: &[u8]) -> String {
    if raw == hie_hl7::NULL_VALUE {
        return String::new();
    }
    if is_composite(msg, raw) {
        return msg.charset_kind().decode(raw).into_owned();
    }
    hie_hl7::unescape(raw, &msg.delimiters(), msg.charset_kind()).into_owned()
}

/// The raw bytes of one node.
pub fn node_raw<'a>(msg: &Message<'a>, node: Node) -> Option<&'a [u8]> {
    match node {
        Node::Value(loc) => loc.raw(msg),
        Node::Segment(i) => msg.segment(i).map(|s| s.raw()),
        Node::Group { first, last } => {
            let body = msg.as_bytes();
            let a = msg.segment(first)?.raw();
            let b = msg.segment(last)?.raw();
            let start = (a.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
            let end = (b.as_ptr() as usize).checked_sub(body.as_ptr() as usize)? + b.len();
            body.get(start..end)
        }
    }
}

/// The text of one node: a leaf value decoded, anything else raw.
pub fn node_text(msg: &Message<'_>, node: Node) -> String {
    match node_raw(msg, node) {
        Some(raw) => match node {
            Node::Value(_) => leaf_text(msg, raw),
            _ => msg.charset_kind().decode(raw).into_owned(),
        },
        None => String::new(),
    }
}

/// The value a path reads (the first node; a count for `(*)` paths; `""` when absent).
pub fn value(view: &View<'_>, cp: &CompiledPath, keys: Keys<'_>) -> String {
    if cp.is_count() {
        return cp.count(view.msg, view.map.as_ref(), keys).to_string();
    }
    match cp.first(view.msg, view.map.as_ref(), keys) {
        Some(n) => node_text(view.msg, n),
        None => String::new(),
    }
}

/// Every node a path selects.
pub fn nodes(view: &View<'_>, cp: &CompiledPath, keys: Keys<'_>) -> Vec<Node> {
    let mut out = Vec::new();
    cp.for_each(view.msg, view.map.as_ref(), keys, |n| {
        out.push(n);
        ControlFlow::Continue(())
    });
    out
}

/// The value of a segment-relative path in segment `index`.
pub fn value_in(view: &View<'_>, index: usize, cp: &CompiledPath, keys: Keys<'_>) -> String {
    if cp.is_count() {
        return cp.count_in(view.msg, index, keys).to_string();
    }
    let mut first = None;
    cp.for_each_in(view.msg, index, keys, |n| {
        first = Some(n);
        ControlFlow::Break(())
    });
    first.map(|n| node_text(view.msg, n)).unwrap_or_default()
}

/// The first node of a segment-relative path in segment `index`.
pub fn node_in(view: &View<'_>, index: usize, cp: &CompiledPath, keys: Keys<'_>) -> Option<Node> {
    let mut first = None;
    cp.for_each_in(view.msg, index, keys, |n| {
        first = Some(n);
        ControlFlow::Break(())
    });
    first
}

/// `<a><b>`: each value wrapped in angle brackets, concatenated.
pub fn angle_list(values: &[String]) -> String {
    let mut s = String::from("<");
    s.push_str(&values.join("><"));
    s.push('>');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_values_are_unescaped_and_composites_kept_raw() {
        let m = hie_hl7::parse(b"MSH|^~\\&|A\rPID|1|a\\T\\b|x^y\\S\\z|\"\"\r").unwrap();
        assert_eq!(leaf_text(&m, b"a\\T\\b"), "a&b");
        assert_eq!(leaf_text(&m, b"x^y\\S\\z"), "x^y\\S\\z");
        assert_eq!(leaf_text(&m, b"\"\""), "");
        assert_eq!(angle_list(&["8302-2".into(), "29463-7".into()]), "<8302-2><29463-7>");
        assert_eq!(angle_list(&[]), "<>");
    }
}
