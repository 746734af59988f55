//! HIE's own production shape (see the parent module's example) read from the YAML tree
//! onto the model: the top-level keys, items, their settings, and HIE's item keys that
//! become IRIS Host settings (`execution_mode` is `ExecutionMode`, ...).
//!
//! # Invariants
//! - Unknown keys are errors naming the key, its line and the keys accepted, so a typo
//!   never silently drops a setting; so are duplicate keys and two spellings of one key
//!   (`id` and `name`).
//! - Values are kept as written; a list as a setting value is joined with ",". Checking
//!   values is validation's job.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tree::{Kind, Node};
use crate::production::model::{
    ItemConfig, LoadError, Location, ProductionConfig, Setting, SettingTarget, SourceFormat,
};

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

/// Reads the production from the tree.
pub(super) struct TreeReader<'a> {
    /// The production file, for locations.
    pub(super) file: &'a Arc<Path>,
}

impl TreeReader<'_> {
    /// A syntax error at `line`.
    fn error(&self, line: u32, message: impl Into<String>) -> LoadError {
        LoadError::syntax(self.file, line, message)
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
    pub(super) fn production(&self, root: Node, format: SourceFormat) -> Result<ProductionConfig, LoadError> {
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
            defaults: Vec::new(),
            overrides: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::production::yaml::tree::parse_tree;

    fn read(text: &str) -> Result<ProductionConfig, LoadError> {
        let file: Arc<Path> = Arc::from(Path::new("/prod/p.yaml"));
        let root = parse_tree(&file, text, SourceFormat::Yaml)?;
        TreeReader { file: &file }.production(root, SourceFormat::Yaml)
    }

    fn message(e: LoadError) -> String {
        match e {
            LoadError::Syntax { message, .. } => message,
            other => panic!("expected a syntax error, got {other}"),
        }
    }

    #[test]
    fn hie_item_keys_become_host_settings() {
        let p = read("name: P\nitems:\n  - id: A\n    class: X\n    queue_window: 5\n    ordering_key: PID-3\n")
            .expect("reads");
        let s: Vec<(&str, &str, SettingTarget, u32)> = p.items[0]
            .settings
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str(), s.target, s.location.line))
            .collect();
        assert_eq!(s, [("QueueWindow", "5", SettingTarget::Host, 5), ("OrderingKey", "PID-3", SettingTarget::Host, 6)]);
        // Every HIE key is accepted in an item.
        assert!(HIE_ITEM_SETTINGS.iter().all(|(key, _)| ITEM_KEYS.contains(key)));
    }

    #[test]
    fn lists_join_and_plugin_dirs_resolve_against_the_file() {
        let p = read(
            "production: P\nplugin_dirs: a, b\nsettings: {Fields: [PID-3, PID-5]}\nitems:\n  - name: A\n    class: X\n    pool_size: 2\n",
        )
        .expect("reads");
        assert_eq!(p.name, "P");
        assert_eq!(p.plugin_dirs, [PathBuf::from("/prod/a"), PathBuf::from("/prod/b")]);
        assert_eq!(p.settings[0].value, "PID-3,PID-5");
        let item = &p.items[0];
        assert_eq!((item.name.as_str(), item.pool_size.as_deref(), item.pool_size_location.line), ("A", Some("2"), 7));
        assert_eq!(item.location.line, 5);
    }

    #[test]
    fn empty_sections_are_empty() {
        let p = read("name: P\nsettings:\nitems:\n").expect("reads");
        assert!(p.settings.is_empty() && p.items.is_empty());
    }

    #[test]
    fn shapes_that_are_not_a_production_are_refused() {
        for (text, expected) in [
            ("name: P\nitems: {a: 1}\n", "`items` must be a list of items, not a mapping"),
            ("name: P\nitems: [1]\n", "an item must be a mapping"),
            ("name: P\nsettings: [1]\n", "`settings` must be a mapping, not a list"),
            ("name: P\nsettings: {A: [[1]]}\n", "a list element must be a single value"),
            ("name: [P]\n", "`name` must be a single value, not a list"),
            ("name: P\n[a]: 1\n", "a key must be text"),
            ("name: P\nitems:\n  - id: A\n    name: B\n    class: X\n", "`name` and `id` mean the same"),
            ("description: no name\n", "the production has no `name`"),
            ("name: P\nitems:\n  - id: A\n", "item A has no `class`"),
        ] {
            let got = message(read(text).expect_err(text));
            assert!(got.contains(expected), "{text}: {got}");
        }
    }
}
