//! The [`Registry`]: every built-in category plus the custom ones loaded from IRIS exports.
//!
//! # Invariants
//!
//! - Built-in categories are always available and cannot be replaced; they are parsed lazily,
//!   once per process, whichever registry asks first (see [`mod@crate::builtin`]).
//! - A custom category holds its base as an `Arc`, so replacing or removing a category in the
//!   registry never changes categories, DocTypes or compiled paths already handed out. To
//!   reload a chain of custom categories, reload all of them (base first) into a new registry.
//! - Loading a file is all or nothing: either every category in it is added, or none is.

use std::collections::BTreeMap;
use std::sync::Arc;

use hie_hl7::Message;

use crate::builtin::{BUILTIN_VERSIONS, builtin, builtin_for_version};
use crate::custom;
use crate::doctype::DocType;
use crate::error::SchemaError;
use crate::model::Category;

/// Built-in and custom schema categories by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    custom: BTreeMap<String, Arc<Category>>,
}

impl Registry {
    /// A registry with the built-in categories only.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The category called `name`: a custom one, or a built-in version (`"2.5"`).
    pub fn category(&self, name: &str) -> Option<Arc<Category>> {
        let name = name.trim();
        self.custom.get(name).cloned().or_else(|| builtin(name))
    }

    /// The built-in category for an MSH-12 version (exact, else the nearest older built-in;
    /// see [`crate::builtin::builtin_for_version`]).
    pub fn for_version(&self, version: &str) -> Option<Arc<Category>> {
        builtin_for_version(version)
    }

    /// Loads every `<Category>` of an IRIS schema export (`file` names it in errors) and adds
    /// them; returns them in file order. A category's base must be built in, already in the
    /// registry, or earlier in the same file. A category with the name of one already loaded
    /// replaces it.
    pub fn load_xml(&mut self, xml: &str, file: &str) -> Result<Vec<Arc<Category>>, SchemaError> {
        let loaded = custom::load(xml, file, &|name| self.category(name))?;
        for c in &loaded {
            self.custom.insert(c.name().to_owned(), Arc::clone(c));
        }
        Ok(loaded)
    }

    /// Adds (or replaces) a custom category. Refused (returned back) when it has the name of
    /// a built-in category.
    pub fn insert(&mut self, category: Arc<Category>) -> Result<(), Arc<Category>> {
        if BUILTIN_VERSIONS.contains(&category.name()) {
            return Err(category);
        }
        self.custom.insert(category.name().to_owned(), category);
        Ok(())
    }

    /// Removes a custom category.
    pub fn remove(&mut self, name: &str) -> Option<Arc<Category>> {
        self.custom.remove(name)
    }

    /// The custom category names, sorted.
    pub fn custom_names(&self) -> impl Iterator<Item = &str> {
        self.custom.keys().map(String::as_str)
    }

    /// Every category name: the built-in versions (oldest first), then the custom ones.
    pub fn names(&self) -> Vec<&str> {
        BUILTIN_VERSIONS.iter().copied().chain(self.custom_names()).collect()
    }

    /// The DocType named by `text` (`2.5:ADT_A01`, `HIE_2.5:ADT_A28`). A structure the
    /// category inherits resolves to the base's DocType.
    pub fn doc_type(&self, text: &str) -> Option<DocType> {
        let (cat, structure) = text.trim().rsplit_once(':')?;
        DocType::new(&self.category(cat)?, structure)
    }

    /// The DocType of a message with MSH-9 `msh9` in category `category`.
    pub fn resolve(&self, category: &str, msh9: &str) -> Option<DocType> {
        self.category(category)?.resolve(msh9)
    }

    /// The DocType of a message in `category`, or (when `category` is `None`) in the built-in
    /// category of its MSH-12 version.
    pub fn resolve_message(&self, category: Option<&str>, msg: &Message<'_>) -> Option<DocType> {
        let cat = match category {
            Some(c) => self.category(c)?,
            None => builtin_for_version(msg.version()?)?,
        };
        cat.resolve_message(msg)
    }
}
