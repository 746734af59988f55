//! The line-tracking YAML reader under the YAML/JSON loader: yaml-rust2's event parser
//! gives each event a line, and this builds a small tree of mappings, sequences and
//! scalars, each with the line it starts on.
//!
//! # Invariants
//! - Every node keeps its 1-based line in the file; every error names one.
//! - Scalars are kept as written (quotes removed, escapes resolved); only a plain scalar
//!   can be null.
//! - Bounded: nesting deeper than `MAX_DEPTH` and files expanding (aliases included) to
//!   more than `MAX_NODES` nodes are errors, so no file can exhaust the stack or memory.
//! - One document per file.
//! - It knows YAML, not productions: what the tree must hold is `mapping`'s job.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::production::model::{LoadError, SourceFormat};

/// Deepest nesting accepted; a production needs four levels, this only stops abuse.
const MAX_DEPTH: usize = 64;

/// Most nodes one file may expand to (aliases included): stops "billion laughs" files.
const MAX_NODES: usize = 2_000_000;

/// One node of the spanned tree.
#[derive(Clone, Debug)]
pub(super) struct Node {
    /// 1-based line where the node starts.
    pub(super) line: u32,
    /// What it is.
    pub(super) kind: Kind,
}

/// The three YAML node kinds.
#[derive(Clone, Debug)]
pub(super) enum Kind {
    /// A scalar's text as written (quotes removed, escapes resolved).
    Scalar {
        /// The text.
        text: String,
        /// Unquoted: only plain scalars can mean null.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, entries in file order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// How many nodes this tree holds (for the alias budget).
    fn size(&self) -> usize {
        match &self.kind {
            Kind::Scalar { .. } => 1,
            Kind::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Kind::Map(entries) => 1 + entries.iter().map(|(k, v)| k.size() + v.size()).sum::<usize>(),
        }
    }

    /// A short name of the node's kind, for messages.
    pub(super) fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// Whether this is a null scalar (`~`, `null`, or nothing, unquoted).
    pub(super) fn is_null(&self) -> bool {
        match &self.kind {
            Kind::Scalar { text, plain: true } => {
                matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }
}

/// A collection whose end event has not come yet.
struct Open {
    /// Line of its start event.
    line: u32,
    /// Anchor id to record it under when it ends (0: none).
    anchor: usize,
    /// What it holds so far.
    kind: OpenKind,
}

/// Contents of an open collection.
enum OpenKind {
    /// Sequence items so far.
    Seq(Vec<Node>),
    /// Mapping entries so far and a key waiting for its value.
    Map(Vec<(Node, Node)>, Option<Node>),
}

/// Receives parser events and builds the tree.
#[derive(Default)]
struct Builder {
    /// Collections being built, innermost last.
    stack: Vec<Open>,
    /// Finished documents.
    docs: Vec<Node>,
    /// Anchored nodes by anchor id, for aliases.
    anchors: HashMap<usize, Node>,
    /// Nodes created so far.
    nodes: usize,
    /// First structural problem (line, message); later events are ignored.
    error: Option<(u32, String)>,
}

impl Builder {
    /// Adds a finished node to its parent (or as a document).
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Open { kind: OpenKind::Seq(items), .. }) => items.push(node),
            Some(Open { kind: OpenKind::Map(entries, key), .. }) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => *key = Some(node),
            },
        }
    }

    /// Records an anchored node and adds it.
    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.push(node);
    }

    /// Counts `n` new nodes; false (and an error) when over budget.
    fn spend(&mut self, n: usize, line: u32) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.error = Some((line, format!("file expands to more than {MAX_NODES} YAML nodes")));
            return false;
        }
        true
    }

    /// Opens a collection unless nesting is too deep.
    fn open(&mut self, line: u32, anchor: usize, kind: OpenKind) {
        if self.stack.len() >= MAX_DEPTH {
            self.error = Some((line, format!("nesting deeper than {MAX_DEPTH} levels")));
            return;
        }
        if self.spend(1, line) {
            self.stack.push(Open { line, anchor, kind });
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = to_line(mark.line());
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                if self.spend(1, line) {
                    let plain = style == TScalarStyle::Plain;
                    self.finish(Node { line, kind: Kind::Scalar { text, plain } }, anchor);
                }
            }
            Event::SequenceStart(anchor, _tag) => self.open(line, anchor, OpenKind::Seq(Vec::new())),
            Event::MappingStart(anchor, _tag) => {
                self.open(line, anchor, OpenKind::Map(Vec::new(), None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(open) = self.stack.pop() {
                    let kind = match open.kind {
                        OpenKind::Seq(items) => Kind::Seq(items),
                        OpenKind::Map(entries, _) => Kind::Map(entries),
                    };
                    self.finish(Node { line: open.line, kind }, open.anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => {
                    if self.spend(node.size(), line) {
                        self.push(node);
                    }
                }
                None => self.error = Some((line, "alias to an unknown anchor".to_string())),
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => {}
        }
    }
}

/// A marker's line as u32 (markers are 1-based).
fn to_line(line: usize) -> u32 {
    u32::try_from(line).unwrap_or(u32::MAX)
}

/// Parses `text` into the one document's tree (`format` only names the syntax in errors).
pub(super) fn parse_tree(file: &Arc<Path>, text: &str, format: SourceFormat) -> Result<Node, LoadError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let mark = e.marker();
        return Err(LoadError::syntax(
            file,
            to_line(mark.line()),
            format!(
                "{} syntax error at column {}: {}",
                if format == SourceFormat::Json { "JSON" } else { "YAML" },
                // Markers count columns from 0.
                mark.col().saturating_add(1),
                e.info()
            ),
        ));
    }
    if let Some((line, message)) = builder.error {
        return Err(LoadError::syntax(file, line, message));
    }
    let mut docs = builder.docs.into_iter();
    match (docs.next(), docs.next()) {
        (Some(root), None) => Ok(root),
        (Some(_), Some(second)) => Err(LoadError::syntax(
            file,
            second.line,
            "a production file holds one YAML document, but a second one starts here",
        )),
        (None, _) => {
            Err(LoadError::syntax(file, 1, "empty production file: expected a mapping with `name` and `items`"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Node, LoadError> {
        let file: Arc<Path> = Arc::from(Path::new("p.yaml"));
        parse_tree(&file, text, SourceFormat::Yaml)
    }

    fn error(e: LoadError) -> (u32, String) {
        match e {
            LoadError::Syntax { location, message } => (location.line, message),
            other => panic!("expected a syntax error, got {other}"),
        }
    }

    fn entries(node: &Node) -> &[(Node, Node)] {
        match &node.kind {
            Kind::Map(entries) => entries,
            other => panic!("expected a mapping, got {other:?}"),
        }
    }

    fn scalar(node: &Node) -> (&str, bool) {
        match &node.kind {
            Kind::Scalar { text, plain } => (text, *plain),
            other => panic!("expected a scalar, got {other:?}"),
        }
    }

    #[test]
    fn every_node_keeps_its_line_and_mappings_their_order() {
        let root = parse("# comment\nb: 1\na:\n  - x\n  - {k: v}\n").expect("parses");
        assert_eq!((root.line, root.kind_name()), (2, "a mapping"));
        let e = entries(&root);
        assert_eq!((scalar(&e[0].0).0, e[0].0.line), ("b", 2));
        assert_eq!((scalar(&e[1].0).0, e[1].0.line), ("a", 3));
        let Kind::Seq(items) = &e[1].1.kind else { panic!("a list") };
        assert_eq!((items[0].line, items[1].line, items[1].kind_name()), (4, 5, "a mapping"));
    }

    #[test]
    fn only_plain_scalars_can_be_null() {
        let root = parse("a: ~\nb:\nc: null\nd: \"null\"\ne: ''\nf: NULL\n").expect("parses");
        let nulls: Vec<bool> = entries(&root).iter().map(|(_, v)| v.is_null()).collect();
        assert_eq!(nulls, [true, true, true, false, false, true]);
        assert_eq!(scalar(&entries(&root)[3].1), ("null", false));
        assert_eq!(Node { line: 1, kind: Kind::Seq(Vec::new()) }.kind_name(), "a list");
    }

    #[test]
    fn an_alias_is_a_copy_of_its_anchor_counted_in_the_budget() {
        let root = parse("a: &x [1, 2]\nb: *x\n").expect("parses");
        let e = entries(&root);
        assert_eq!(e[1].1.size(), 3);
        assert_eq!(e[0].1.size(), e[1].1.size());
        let mut builder = Builder { nodes: MAX_NODES, ..Default::default() };
        assert!(!builder.spend(1, 9));
        assert_eq!(builder.error.map(|(line, _)| line), Some(9));
    }

    #[test]
    fn bounds_and_documents_are_errors_with_lines() {
        let deep = format!("a: {}1{}\n", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let (line, message) = error(parse(&deep).expect_err("too deep"));
        assert_eq!(line, 1);
        assert!(message.contains("nesting deeper than"), "{message}");
        let (line, message) = error(parse("a: 1\n---\nb: 2\n").expect_err("two documents"));
        assert_eq!(line, 3);
        assert!(message.contains("second one starts here"), "{message}");
        let (line, message) = error(parse("\n\n").expect_err("empty"));
        assert_eq!(line, 1);
        assert!(message.contains("empty production file"), "{message}");
        let (line, message) = error(parse("a: 1\nb: [\n").expect_err("unclosed"));
        assert!(line >= 2, "{line}");
        assert!(message.starts_with("YAML syntax error at column"), "{message}");
    }
}
