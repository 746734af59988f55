//! The production model: what a production file says, independent of its format.
//!
//! IRIS XML, YAML and JSON all load into these types. Every value keeps the [`Location`]
//! it came from, so validation errors can name file, line, item and setting.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a value came from: file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The production file (shared by every location from it).
    pub file: Arc<Path>,
    /// 1-based line number; 0 when unknown.
    pub line: u32,
}

impl Location {
    /// A location in `file` at `line`.
    pub fn new(file: &Arc<Path>, line: u32) -> Self {
        Location { file: file.clone(), line }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Whether a setting is for the item's class (Host) or its adapter (Adapter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum SettingTarget {
    /// Setting of the item class (IRIS `Target="Host"`).
    Host,
    /// Setting of the host adapter (IRIS `Target="Adapter"`, the default in IRIS XML).
    Adapter,
}

/// One `name = value` setting as written in the production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Setting name as written.
    pub name: String,
    /// Value as text (IRIS settings are all text).
    pub value: String,
    /// Host or Adapter.
    pub target: SettingTarget,
    /// Where it was written.
    pub location: Location,
}

/// One item (IRIS `<Item>`): a named instance of a class with its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemConfig {
    /// Unique item name; other items address it by this name.
    pub name: String,
    /// Class name, resolved against the loaded packs.
    pub class: String,
    /// Disabled items are validated but not started.
    pub enabled: bool,
    /// IRIS `PoolSize` / YAML `concurrency`, if given.
    pub pool_size: Option<String>,
    /// Host and adapter settings in file order, including HIE's own
    /// (`ExecutionMode`, `QueueType`, ... written as Host settings in IRIS XML and as
    /// top-level keys in YAML, normalised here to Host settings with IRIS names).
    pub settings: Vec<Setting>,
    /// Free-text comment from the file.
    pub comment: String,
    /// IRIS `Category`.
    pub category: String,
    /// Where the item starts in the file.
    pub location: Location,
    /// Where `PoolSize`/`concurrency` was written (the item's location if absent).
    pub pool_size_location: Location,
}

impl ItemConfig {
    /// The last Host setting called `name` (IRIS uses the last when repeated).
    pub fn host_setting(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().rev().find(|s| s.target == SettingTarget::Host && s.name == name)
    }

    /// The last Adapter setting called `name`.
    pub fn adapter_setting(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().rev().find(|s| s.target == SettingTarget::Adapter && s.name == name)
    }

    /// The last setting called `name`, Host or Adapter.
    pub fn any_setting(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().rev().find(|s| s.name == name)
    }
}

/// The file format a production was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum SourceFormat {
    /// A bare `<Production>` XML document.
    IrisXml,
    /// A UDL class file (`Class X Extends Ens.Production { XData ProductionDefinition {...} }`).
    IrisUdl,
    /// A Studio export (`<Export><Class><XData><Data><![CDATA[...]]>`).
    IrisStudioExport,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// A whole production as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductionConfig {
    /// Production name (IRIS `Name`).
    pub name: String,
    /// Description text.
    pub description: String,
    /// The file it was read from.
    pub file: PathBuf,
    /// Which format the file was in.
    pub format: SourceFormat,
    /// Production-level settings (e.g. `Durability`, `ActorPoolSize`, `PurgeKeepDays`).
    pub settings: Vec<Setting>,
    /// Extra directories to load packs from (YAML `plugin_dirs`, IRIS setting `PluginDirs`),
    /// resolved relative to the production file's directory.
    pub plugin_dirs: Vec<PathBuf>,
    /// The items, in file order.
    pub items: Vec<ItemConfig>,
    /// System Default Settings (IRIS `Ens.Config.DefaultSettings`) that came with the
    /// production: an export's ESD document, or the files its `SystemDefaults` setting names.
    /// Validation applies them ([`crate::production::defaults`]).
    pub defaults: Vec<DefaultSetting>,
    /// `hie run --set ITEM.SETTING=VALUE`: one node's own values (a second node's listener
    /// port, say), over the item's setting and every default ([`crate::production::sets`]).
    pub overrides: Vec<DefaultSetting>,
    /// Where the production element / document starts.
    pub location: Location,
}

/// One System Default Settings entry (`<item production item class setting value>`).
/// `*` in `production`, `item` or `class` matches anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultSetting {
    /// Production name, or `*`.
    pub production: String,
    /// Item name, or `*`.
    pub item: String,
    /// The item's host class, or `*` (also for adapter settings).
    pub class: String,
    /// Setting name (host or adapter: ESD has no target).
    pub setting: String,
    /// The value (used even when empty).
    pub value: String,
    /// Where the entry is written.
    pub location: Location,
}

impl ProductionConfig {
    /// The last production-level setting called `name`.
    pub fn setting(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().rev().find(|s| s.name == name)
    }

    /// The item called `name`.
    pub fn item(&self, name: &str) -> Option<&ItemConfig> {
        self.items.iter().find(|i| i.name == name)
    }
}

/// Why a production file could not be read at all (syntax, structure). Problems with
/// values are reported later by validation, all at once.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{file}: cannot read production file: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not well-formed or not shaped like a production.
    #[error("{location}: {message}")]
    Syntax {
        /// Where the problem is.
        location: Location,
        /// What is wrong.
        message: String,
    },
}

impl LoadError {
    /// A [`LoadError::Syntax`] at `line` of `file`.
    pub(crate) fn syntax(file: &Arc<Path>, line: u32, message: impl Into<String>) -> LoadError {
        LoadError::Syntax { location: Location::new(file, line), message: message.into() }
    }
}
