//! YAML (and JSON) production loader.
//!
//! JSON is read by the same YAML parser (JSON is YAML's flow style). yaml-rust2's event
//! parser gives each event a line, so this module builds its own small tree of
//! mappings/sequences/scalars, each with its line, and reads the production from it:
//!
//! ```yaml
//! name: Demo Production          # or `production:`
//! description: optional text
//! durability: fsync              # production setting "Durability" (Host)
//! plugin_dirs: [../packs]        # relative to this file's directory
//! settings: {PurgeKeepDays: 7}   # other production settings (Host)
//! items:
//!   - id: HL7_Receiver           # or `name:`
//!     class: EnsLib.HL7.Service.TCPService
//!     enabled: true
//!     execution_mode: async      # Host setting ExecutionMode (likewise queue_type,
//!                                # queue_size, queue_window, queue_overflow, overflow_target,
//!                                # worker_threads, ordering_key)
//!     concurrency: 4             # pool size (or pool_size / PoolSize)
//!     comment: text
//!     category: text
//!     adapter_settings: {Port: 2575}
//!     host_settings: {TargetConfigNames: [HL7_Router, Audit]}
//! ```
//!
//! Scalars are kept as written (`2575` is "2575", `true` is "true"; `~`, `null` and an
//! empty value are ""); a list as a setting value is joined with ",". Unknown keys are
//! errors, so a typo never silently drops a setting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::model::{ItemConfig, LoadError, Location, ProductionConfig, Setting, SettingTarget, SourceFormat};

/// Keys accepted at the top level.
const PRODUCTION_KEYS: &[&str] =
    &["name", "production", "description", "durability", "plugin_dirs", "settings", "items"];

/// Keys accepted in an item.
const ITEM_KEYS: &[&str] = &[
    "id",
    "name",
    "class",
    "enabled",
    "execution_mode",
    "concurrency",
    "pool_size",
    "PoolSize",
    "queue_type",
    "queue_size",
    "queue_window",
    "queue_overflow",
    "overflow_target",
    "worker_threads",
    "ordering_key",
    "comment",
    "category",
    "adapter_settings",
    "host_settings",
];

/// HIE's own item keys and the IRIS-style Host setting names they become.
const HIE_ITEM_SETTINGS: &[(&str, &str)] = &[
    ("execution_mode", "ExecutionMode"),
    ("queue_type", "QueueType"),
    ("queue_size", "QueueSize"),
    ("queue_window", "QueueWindow"),
    ("queue_overflow", "QueueOverflow"),
    ("overflow_target", "OverflowTarget"),
    ("worker_threads", "WorkerThreads"),
    ("ordering_key", "OrderingKey"),
];

/// Deepest nesting accepted; a production needs four levels, this only stops abuse.
const MAX_DEPTH: usize = 64;

/// Most nodes one file may expand to (aliases included): stops "billion laughs" files.
const MAX_NODES: usize = 2_000_000;

/// Loads a production from YAML or JSON `text` read from `file`; `format` records which.
pub fn load_yaml(file: &Arc<Path>, text: &str, format: SourceFormat) -> Result<ProductionConfig, LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Tabs outside strings are plain whitespace in JSON but YAML rejects them as
    // indentation; inside JSON strings they must be escaped, so replacing them is lossless.
    let json_text;
    let text = if format == SourceFormat::Json && text.contains('\t') {
        json_text = text.replace('\t', " ");
        json_text.as_str()
    } else {
        text
    };
    let root = parse_tree(file, text, format)?;
    let reader = TreeReader { file };
    reader.production(root, format)
}

/// One node of the spanned tree.
#[derive(Clone, Debug)]
struct Node {
    /// 1-based line where the node starts.
    line: u32,
    /// What it is.
    kind: Kind,
}

/// The three YAML node kinds.
#[derive(Clone, Debug)]
enum Kind {
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
    fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// Whether this is a null scalar (`~`, `null`, or nothing, unquoted).
    fn is_null(&self) -> bool {
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
fn parse_tree(file: &Arc<Path>, text: &str, format: SourceFormat) -> Result<Node, LoadError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let mark = e.marker();
        return Err(syntax(
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
        return Err(syntax(file, line, message));
    }
    let mut docs = builder.docs.into_iter();
    match (docs.next(), docs.next()) {
        (Some(root), None) => Ok(root),
        (Some(_), Some(second)) => {
            Err(syntax(file, second.line, "a production file holds one YAML document, but a second one starts here"))
        }
        (None, _) => Err(syntax(file, 1, "empty production file: expected a mapping with `name` and `items`")),
    }
}

/// Reads the production from the tree.
struct TreeReader<'a> {
    /// The production file, for locations.
    file: &'a Arc<Path>,
}

impl TreeReader<'_> {
    /// A syntax error at `line`.
    fn error(&self, line: u32, message: impl Into<String>) -> LoadError {
        syntax(self.file, line, message)
    }

    /// The entries of a mapping node, or an error saying what `what` should be.
    fn mapping(&self, node: Node, what: &str) -> Result<Vec<(Node, Node)>, LoadError> {
        match node.kind {
            Kind::Map(entries) => Ok(entries),
            _ if node.is_null() => Ok(Vec::new()),
            _ => Err(self.error(node.line, format!("{what} must be a mapping, not {}", node.kind_name()))),
        }
    }

    /// A mapping key's text (keys must be scalars).
    fn key(&self, key: &Node) -> Result<String, LoadError> {
        match &key.kind {
            Kind::Scalar { text, .. } => Ok(text.clone()),
            _ => Err(self.error(key.line, format!("a key must be text, not {}", key.kind_name()))),
        }
    }

    /// A scalar value's text; null is "".
    fn text(&self, value: &Node, key: &str) -> Result<String, LoadError> {
        match &value.kind {
            _ if value.is_null() => Ok(String::new()),
            Kind::Scalar { text, .. } => Ok(text.clone()),
            _ => Err(self.error(value.line, format!("`{key}` must be a single value, not {}", value.kind_name()))),
        }
    }

    /// A setting value as text: scalars as written, lists joined with ",".
    fn setting_value(&self, value: &Node, name: &str) -> Result<String, LoadError> {
        match &value.kind {
            Kind::Seq(items) => {
                let parts = items
                    .iter()
                    .map(|item| match &item.kind {
                        Kind::Scalar { .. } => self.text(item, name),
                        _ => Err(self.error(
                            item.line,
                            format!("setting {name}: a list element must be a single value, not {}", item.kind_name()),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(parts.join(","))
            }
            Kind::Map(_) => Err(self.error(
                value.line,
                format!("setting {name}: a mapping is not a setting value (use text, a number, a boolean or a list)"),
            )),
            Kind::Scalar { .. } => self.text(value, name),
        }
    }

    /// The settings of a `settings`/`adapter_settings`/`host_settings` mapping, in order.
    fn settings(&self, node: Node, what: &str, target: SettingTarget, out: &mut Vec<Setting>) -> Result<(), LoadError> {
        let mut seen = Seen::default();
        for (key, value) in self.mapping(node, what)? {
            let name = self.key(&key)?;
            seen.check(self, &key, &name, &name)?;
            let value = self.setting_value(&value, &name)?;
            out.push(Setting { name, value, target, location: Location::new(self.file, key.line) });
        }
        Ok(())
    }

    /// Error for a key that `accepted` does not list.
    fn unknown_key(&self, key: &Node, name: &str, place: &str, accepted: &[&str]) -> LoadError {
        self.error(key.line, format!("unknown key `{name}` {place} (accepted keys: {})", accepted.join(", ")))
    }

    /// Reads the top-level mapping.
    fn production(&self, root: Node, format: SourceFormat) -> Result<ProductionConfig, LoadError> {
        let root_line = root.line;
        let Kind::Map(entries) = root.kind else {
            return Err(self.error(
                root_line,
                format!("the top level must be a mapping with `name` and `items`, not {}", root.kind_name()),
            ));
        };
        let mut production = ProductionConfig {
            name: String::new(),
            description: String::new(),
            file: self.file.to_path_buf(),
            format,
            settings: Vec::new(),
            plugin_dirs: Vec::new(),
            items: Vec::new(),
            location: Location::new(self.file, root_line),
        };
        let mut has_name = false;
        let mut seen = Seen::default();
        for (key, value) in entries {
            let name = self.key(&key)?;
            let slot = if name == "production" { "name" } else { name.as_str() };
            seen.check(self, &key, &name, slot)?;
            match name.as_str() {
                "name" | "production" => {
                    production.name = self.text(&value, &name)?;
                    has_name = !production.name.trim().is_empty();
                }
                "description" => production.description = self.text(&value, &name)?,
                "durability" => production.settings.push(Setting {
                    name: "Durability".to_string(),
                    value: self.setting_value(&value, "durability")?,
                    target: SettingTarget::Host,
                    location: Location::new(self.file, key.line),
                }),
                "plugin_dirs" => production.plugin_dirs = self.plugin_dirs(&value)?,
                "settings" => {
                    self.settings(value, "`settings`", SettingTarget::Host, &mut production.settings)?;
                }
                "items" => production.items = self.items(value)?,
                _ => {
                    return Err(self.unknown_key(&key, &name, "at the top level", PRODUCTION_KEYS));
                }
            }
        }
        if !has_name {
            return Err(self.error(root_line, "the production has no `name`"));
        }
        Ok(production)
    }

    /// `plugin_dirs`: a list (or one comma-separated value), resolved against the file's dir.
    fn plugin_dirs(&self, value: &Node) -> Result<Vec<PathBuf>, LoadError> {
        let base = self.file.parent().unwrap_or(Path::new(""));
        let joined = self.setting_value(value, "plugin_dirs")?;
        Ok(joined.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| base.join(d)).collect())
    }

    /// `items`: a list of item mappings.
    fn items(&self, value: Node) -> Result<Vec<ItemConfig>, LoadError> {
        match value.kind {
            Kind::Seq(nodes) => nodes.into_iter().map(|node| self.item(node)).collect(),
            _ if value.is_null() => Ok(Vec::new()),
            _ => Err(self.error(value.line, format!("`items` must be a list of items, not {}", value.kind_name()))),
        }
    }

    /// One item mapping.
    fn item(&self, node: Node) -> Result<ItemConfig, LoadError> {
        let line = node.line;
        let Kind::Map(entries) = node.kind else {
            return Err(
                self.error(line, format!("an item must be a mapping with `id` and `class`, not {}", node.kind_name()))
            );
        };
        let location = Location::new(self.file, line);
        let mut name = None;
        let mut class = None;
        let mut item = ItemConfig {
            name: String::new(),
            class: String::new(),
            enabled: true,
            pool_size: None,
            settings: Vec::new(),
            comment: String::new(),
            category: String::new(),
            location: location.clone(),
            pool_size_location: location,
        };
        let mut seen = Seen::default();
        for (key, value) in entries {
            let key_name = self.key(&key)?;
            let slot = match key_name.as_str() {
                "name" => "id",
                "pool_size" | "PoolSize" => "concurrency",
                other => other,
            };
            seen.check(self, &key, &key_name, slot)?;
            if let Some((_, setting)) = HIE_ITEM_SETTINGS.iter().find(|(k, _)| *k == key_name) {
                item.settings.push(Setting {
                    name: (*setting).to_string(),
                    value: self.setting_value(&value, &key_name)?,
                    target: SettingTarget::Host,
                    location: Location::new(self.file, key.line),
                });
                continue;
            }
            match key_name.as_str() {
                "id" | "name" => name = Some(self.text(&value, &key_name)?),
                "class" => class = Some(self.text(&value, &key_name)?),
                "enabled" => {
                    let text = self.text(&value, &key_name)?;
                    item.enabled = match hie_plugin_api::settings::parse_bool(&text) {
                        Ok(b) => b,
                        Err(_) => {
                            return Err(self.error(
                                value.line,
                                format!("`enabled: {text}` is not a boolean (expected true or false)"),
                            ));
                        }
                    };
                }
                "concurrency" | "pool_size" | "PoolSize" => {
                    item.pool_size = Some(self.text(&value, &key_name)?);
                    item.pool_size_location = Location::new(self.file, key.line);
                }
                "comment" => item.comment = self.text(&value, &key_name)?,
                "category" => item.category = self.text(&value, &key_name)?,
                "adapter_settings" => {
                    self.settings(value, "`adapter_settings`", SettingTarget::Adapter, &mut item.settings)?;
                }
                "host_settings" => {
                    self.settings(value, "`host_settings`", SettingTarget::Host, &mut item.settings)?;
                }
                _ => return Err(self.unknown_key(&key, &key_name, "in an item", ITEM_KEYS)),
            }
        }
        item.name = match name.filter(|n| !n.trim().is_empty()) {
            Some(name) => name,
            None => return Err(self.error(line, "the item has no `id` (or `name`)")),
        };
        item.class = match class.filter(|c| !c.trim().is_empty()) {
            Some(class) => class,
            None => return Err(self.error(line, format!("item {} has no `class`", item.name))),
        };
        Ok(item)
    }
}

/// Keys already seen in one mapping, to reject duplicates (YAML forbids them, and a
/// second value silently winning hides mistakes).
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    /// Errors when `slot` (the key, or the key it is an alias of) was already given.
    fn check(&mut self, reader: &TreeReader<'_>, key: &Node, name: &str, slot: &str) -> Result<(), LoadError> {
        if let Some((_, first)) = self.0.iter().find(|(s, _)| s == slot) {
            let message = if first == name {
                format!("duplicate key `{name}`")
            } else {
                format!("`{name}` and `{first}` mean the same; give only one")
            };
            return Err(reader.error(key.line, message));
        }
        self.0.push((slot.to_string(), name.to_string()));
        Ok(())
    }
}

/// A `LoadError::Syntax` at `line` of `file`.
fn syntax(file: &Arc<Path>, line: u32, message: impl Into<String>) -> LoadError {
    LoadError::Syntax { location: Location::new(file, line), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` as if read from `name`.
    fn load(name: &str, text: &str, format: SourceFormat) -> Result<ProductionConfig, LoadError> {
        let file: Arc<Path> = Arc::from(Path::new(name));
        load_yaml(&file, text, format)
    }

    /// The line of a `LoadError::Syntax` and its message.
    fn syntax_error(result: Result<ProductionConfig, LoadError>) -> (u32, String) {
        match result {
            Err(LoadError::Syntax { location, message }) => (location.line, message),
            Err(other) => panic!("expected a syntax error, got {other}"),
            Ok(p) => panic!("expected a syntax error, got production {}", p.name),
        }
    }

    /// (name, value, target, line) of each setting.
    fn settings(list: &[Setting]) -> Vec<(&str, &str, SettingTarget, u32)> {
        list.iter().map(|s| (s.name.as_str(), s.value.as_str(), s.target, s.location.line)).collect()
    }

    const EXAMPLE: &str = "\
name: Demo Production          # also accept `production:` as the name key
description: optional text
durability: fsync
plugin_dirs: [../packs]
settings: {PurgeKeepDays: 7}
items:
  - id: HL7_Receiver
    class: EnsLib.HL7.Service.TCPService
    enabled: true
    execution_mode: async
    concurrency: 4
    queue_type: fifo
    queue_size: 10000
    queue_overflow: block
    overflow_target: X
    worker_threads: 2
    ordering_key: PID-3.1
    comment: text
    category: cat
    adapter_settings: {Port: 2575}
    host_settings: {TargetConfigNames: HL7_Router}
  - name: HL7_Router
    class: EnsLib.HL7.MsgRouter.RoutingEngine
    enabled: false
    host_settings:
      BusinessRuleName: Demo.Rule
      TargetConfigNames: [A, B]
      Validation:
";

    /// Checks everything the example says; shared by the YAML and JSON tests.
    fn check_example(p: &ProductionConfig, lines: &[u32]) {
        assert_eq!(p.name, "Demo Production");
        assert_eq!(p.description, "optional text");
        assert_eq!(
            settings(&p.settings),
            [
                ("Durability", "fsync", SettingTarget::Host, lines[0]),
                ("PurgeKeepDays", "7", SettingTarget::Host, lines[1]),
            ]
        );
        assert_eq!(p.plugin_dirs, [PathBuf::from("/prod/../packs")]);
        assert_eq!(p.items.len(), 2);
        let rx = &p.items[0];
        assert_eq!((rx.name.as_str(), rx.class.as_str()), ("HL7_Receiver", "EnsLib.HL7.Service.TCPService"));
        assert!(rx.enabled);
        assert_eq!(rx.pool_size.as_deref(), Some("4"));
        assert_eq!((rx.location.line, rx.pool_size_location.line), (lines[2], lines[3]));
        assert_eq!((rx.comment.as_str(), rx.category.as_str()), ("text", "cat"));
        let l = &lines[4..];
        assert_eq!(
            settings(&rx.settings),
            [
                ("ExecutionMode", "async", SettingTarget::Host, l[0]),
                ("QueueType", "fifo", SettingTarget::Host, l[1]),
                ("QueueSize", "10000", SettingTarget::Host, l[2]),
                ("QueueOverflow", "block", SettingTarget::Host, l[3]),
                ("OverflowTarget", "X", SettingTarget::Host, l[4]),
                ("WorkerThreads", "2", SettingTarget::Host, l[5]),
                ("OrderingKey", "PID-3.1", SettingTarget::Host, l[6]),
                ("Port", "2575", SettingTarget::Adapter, l[7]),
                ("TargetConfigNames", "HL7_Router", SettingTarget::Host, l[8]),
            ]
        );
        let router = &p.items[1];
        assert_eq!(router.name, "HL7_Router");
        assert!(!router.enabled);
        assert_eq!(router.location.line, l[9]);
        assert_eq!(router.pool_size, None);
        assert_eq!(router.pool_size_location.line, l[9]);
        assert_eq!(
            settings(&router.settings),
            [
                ("BusinessRuleName", "Demo.Rule", SettingTarget::Host, l[10]),
                ("TargetConfigNames", "A,B", SettingTarget::Host, l[11]),
                ("Validation", "", SettingTarget::Host, l[12]),
            ]
        );
    }

    #[test]
    fn yaml_example_loads_with_lines() {
        let p = load("/prod/demo.yaml", EXAMPLE, SourceFormat::Yaml).expect("example loads");
        assert_eq!(p.format, SourceFormat::Yaml);
        assert_eq!(p.location.line, 1);
        check_example(&p, &[3, 5, 7, 11, 10, 12, 13, 14, 15, 16, 17, 20, 21, 22, 26, 27, 28]);
    }

    #[test]
    fn json_equivalent_loads_with_lines() {
        let json = r#"{
	"production": "Demo Production",
	"description": "optional text",
	"durability": "fsync",
	"plugin_dirs": ["../packs"],
	"settings": {"PurgeKeepDays": 7},
	"items": [
		{
			"id": "HL7_Receiver",
			"class": "EnsLib.HL7.Service.TCPService",
			"enabled": true,
			"execution_mode": "async",
			"concurrency": 4,
			"queue_type": "fifo",
			"queue_size": 10000,
			"queue_overflow": "block",
			"overflow_target": "X",
			"worker_threads": 2,
			"ordering_key": "PID-3.1",
			"comment": "text",
			"category": "cat",
			"adapter_settings": {"Port": 2575},
			"host_settings": {"TargetConfigNames": "HL7_Router"}
		},
		{
			"name": "HL7_Router", "class": "EnsLib.HL7.MsgRouter.RoutingEngine", "enabled": false,
			"host_settings": {
				"BusinessRuleName": "Demo.Rule",
				"TargetConfigNames": ["A", "B"],
				"Validation": null
			}
		}
	]
}
"#;
        let p = load("/prod/demo.json", json, SourceFormat::Json).expect("json loads");
        assert_eq!(p.format, SourceFormat::Json);
        check_example(&p, &[4, 6, 8, 13, 12, 14, 15, 16, 17, 18, 19, 22, 23, 25, 28, 29, 30]);
    }

    #[test]
    fn unknown_item_key_names_line_and_key() {
        let text = EXAMPLE.replace("queue_size: 10000", "queue_sise: 10000");
        let (line, message) = syntax_error(load("demo.yaml", &text, SourceFormat::Yaml));
        assert_eq!(line, 13);
        assert!(message.contains("`queue_sise`"), "{message}");
        assert!(message.contains("queue_size") && message.contains("adapter_settings"), "{message}");
    }

    #[test]
    fn unknown_top_level_key_names_line_and_key() {
        let text = format!("{EXAMPLE}itmes: []\n");
        let (line, message) = syntax_error(load("demo.yaml", &text, SourceFormat::Yaml));
        assert_eq!(line, 29);
        assert!(message.contains("`itmes`") && message.contains("plugin_dirs"), "{message}");
    }

    #[test]
    fn yaml_syntax_error_names_its_line() {
        let text = "name: P\nitems:\n  - id: A\n    class: [X\n  - id: B\n";
        let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
        assert!((4..=5).contains(&line), "line {line}: {message}");
        assert!(message.starts_with("YAML syntax error"), "{message}");
        let text = "name: P\nitems:\n  - id: A\n   class: X\n";
        let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
        assert_eq!(line, 4, "{message}");
    }

    #[test]
    fn json_syntax_error_names_its_line() {
        let text = "{\n  \"name\": \"P\",\n  \"items\": [\n    {\"id\": \"A\" \"class\": \"X\"}\n  ]\n}\n";
        let (line, message) = syntax_error(load("demo.json", text, SourceFormat::Json));
        assert_eq!(line, 4, "{message}");
        assert!(message.starts_with("JSON syntax error"), "{message}");
    }

    #[test]
    fn item_without_id_or_class_names_the_item_line() {
        let text = "name: P\nitems:\n  - class: X\n";
        let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
        assert_eq!(line, 3);
        assert!(message.contains("`id`"), "{message}");
        let text = "name: P\nitems:\n  - {id: A, class: X}\n  - id: B\n    comment: no class\n";
        let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
        assert_eq!(line, 4);
        assert!(message.contains("item B has no `class`"), "{message}");
    }

    #[test]
    fn empty_or_non_mapping_file_is_rejected() {
        for text in ["", "# only a comment\n", "---\n"] {
            let (_, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
            assert!(
                message.contains("expected a mapping") || message.contains("must be a mapping"),
                "{text:?}: {message}"
            );
        }
        let (line, message) = syntax_error(load("demo.yaml", "\n- a\n- b\n", SourceFormat::Yaml));
        assert_eq!(line, 2);
        assert!(message.contains("top level must be a mapping"), "{message}");
    }

    #[test]
    fn duplicate_and_aliased_keys_are_rejected() {
        let text = "name: P\nitems:\n  - id: A\n    class: X\n    concurrency: 2\n    PoolSize: 3\n";
        let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
        assert_eq!(line, 6);
        assert!(message.contains("`PoolSize` and `concurrency`"), "{message}");
        let text = "name: P\nsettings:\n  A: 1\n  A: 2\n";
        let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
        assert_eq!(line, 4);
        assert!(message.contains("duplicate key `A`"), "{message}");
    }

    #[test]
    fn scalars_are_kept_as_written() {
        let text = "name: P\nitems:\n  - id: A\n    class: X\n    adapter_settings:\n      \
                    Hex: 0x1F\n      Lead: 007\n      Float: 1.50\n      Quoted: \"null\"\n      Tilde: ~\n";
        let p = load("demo.yaml", text, SourceFormat::Yaml).expect("loads");
        let values: Vec<(&str, &str)> =
            p.items[0].settings.iter().map(|s| (s.name.as_str(), s.value.as_str())).collect();
        assert_eq!(values, [("Hex", "0x1F"), ("Lead", "007"), ("Float", "1.50"), ("Quoted", "null"), ("Tilde", "")]);
    }

    #[test]
    fn enabled_must_be_a_boolean() {
        let text = "name: P\nitems:\n  - id: A\n    class: X\n    enabled: maybe\n";
        let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
        assert_eq!(line, 5);
        assert!(message.contains("enabled: maybe"), "{message}");
    }

    #[test]
    fn mapping_as_setting_value_is_rejected() {
        let text = "name: P\nitems:\n  - id: A\n    class: X\n    adapter_settings:\n      Port: {a: 1}\n";
        let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
        assert_eq!(line, 6);
        assert!(message.contains("setting Port"), "{message}");
    }

    #[test]
    fn aliases_expand_and_alias_bombs_are_stopped() {
        let text = "name: P\nitems:\n  - id: A\n    class: X\n    host_settings: &hs {TargetConfigNames: [B, C]}\n  \
                    - id: D\n    class: X\n    host_settings: *hs\n";
        let p = load("demo.yaml", text, SourceFormat::Yaml).expect("loads");
        assert_eq!(p.items[1].host_setting("TargetConfigNames").map(|s| s.value.as_str()), Some("B,C"));
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let j = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}]\n"
            ));
        }
        let (_, message) = syntax_error(load("demo.yaml", &bomb, SourceFormat::Yaml));
        assert!(message.contains("more than"), "{message}");
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflow() {
        let text = format!("name: P\nsettings: {{A: {}{}}}\n", "[".repeat(100_000), "]".repeat(100_000));
        let (line, _message) = syntax_error(load("demo.yaml", &text, SourceFormat::Yaml));
        assert_eq!(line, 2);
    }

    #[test]
    fn second_document_is_rejected() {
        let text = "name: P\n---\nname: Q\n";
        let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
        assert_eq!(line, 3);
        assert!(message.contains("one YAML document"), "{message}");
    }
}
