//! Declaring the item classes a pack provides.

use crate::abi::{ClassSpec, ItemKind, SettingSpec, SettingTarget};
use crate::context::Context;
use crate::error::Error;
use crate::item::Item;
use abi_stable::std_types::RString;

/// One setting of a class: name, whether it is a Host or Adapter setting, default, doc.
#[derive(Clone, Debug)]
pub struct SettingDef {
    /// Name as IRIS spells it.
    pub name: &'static str,
    /// Host (the class) or Adapter (its host adapter).
    pub target: SettingTarget,
    /// Default value as text.
    pub default: &'static str,
    /// One-line description.
    pub doc: &'static str,
    /// `false`: accepted for IRIS compatibility but not implemented (reported by validate).
    pub supported: bool,
    /// What kind of value it holds, when declared (ABI 1.1: validation checks it).
    pub kind: Option<crate::settings::SettingKind>,
}

impl SettingDef {
    /// A supported Host setting.
    pub const fn host(name: &'static str, default: &'static str, doc: &'static str) -> Self {
        SettingDef { name, target: SettingTarget::Host, default, doc, supported: true, kind: None }
    }

    /// A supported Adapter setting.
    pub const fn adapter(name: &'static str, default: &'static str, doc: &'static str) -> Self {
        SettingDef { name, target: SettingTarget::Adapter, default, doc, supported: true, kind: None }
    }

    /// Marks the setting as accepted but not implemented.
    pub const fn unsupported(mut self) -> Self {
        self.supported = false;
        self
    }

    /// Declares the kind of value the setting holds, so `hie validate` refuses a
    /// malformed value (ABI 1.1; a 1.0 host ignores it).
    pub fn kind(mut self, kind: crate::settings::SettingKind) -> Self {
        self.kind = Some(kind);
        self
    }
}

/// Constructs an item instance; reads its settings through the context.
pub type Constructor = fn(&Context<'_>) -> Result<Box<dyn Item>, Error>;

/// An item class: its name, kind, adapter, settings and constructor.
#[derive(Clone)]
pub struct ClassDef {
    /// Class name productions use (IRIS `ClassName`).
    pub name: &'static str,
    /// Service, process or operation.
    pub kind: ItemKind,
    /// Host adapter paired with the class ([`crate::adapters`]), or `""`.
    pub adapter: &'static str,
    /// One-line description.
    pub doc: &'static str,
    /// Settings with defaults.
    pub settings: Vec<SettingDef>,
    /// Builds an instance.
    pub constructor: Constructor,
}

impl ClassDef {
    /// Starts a class definition.
    pub fn new(name: &'static str, kind: ItemKind, constructor: Constructor) -> Self {
        ClassDef { name, kind, adapter: "", doc: "", settings: Vec::new(), constructor }
    }

    /// Pairs the class with a host adapter.
    pub fn adapter(mut self, adapter: &'static str) -> Self {
        self.adapter = adapter;
        self
    }

    /// This class's behaviour under another name on another host adapter (IRIS's HTTP
    /// and FTP twins of the TCP and file classes): its kind, constructor and Host
    /// settings kept, its adapter's settings dropped, since the new adapter brings its own.
    pub fn on_adapter(self, name: &'static str, adapter: &'static str) -> Self {
        let settings = self.settings.into_iter().filter(|s| s.target == SettingTarget::Host).collect();
        ClassDef { name, adapter, settings, ..self }
    }

    /// Sets the description.
    pub fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }

    /// Adds settings.
    pub fn settings(mut self, settings: impl IntoIterator<Item = SettingDef>) -> Self {
        self.settings.extend(settings);
        self
    }

    pub(crate) fn spec(&self) -> ClassSpec {
        ClassSpec {
            name: RString::from(self.name),
            kind: self.kind,
            adapter: RString::from(self.adapter),
            doc: RString::from(self.doc),
            settings: self
                .settings
                .iter()
                .map(|s| SettingSpec {
                    name: RString::from(s.name),
                    target: s.target,
                    default: RString::from(s.default),
                    doc: RString::from(s.doc),
                    supported: s.supported,
                })
                .collect(),
        }
    }
}
