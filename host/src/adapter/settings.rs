//! An item's settings as an adapter reads them: typed reads through
//! [`hie_plugin_api::settings::SettingsSource`], the same reader validation uses.

use crate::production::plan::ItemPlan;
use hie_plugin_api::settings::SettingsSource;
use std::collections::BTreeMap;

/// An item's settings as an adapter reads them.
#[derive(Clone, Debug)]
pub struct AdapterSettings {
    /// Item name, for logs.
    pub item: String,
    /// All settings (defaults applied).
    values: BTreeMap<String, String>,
}

impl AdapterSettings {
    /// The settings of `plan`.
    pub fn new(plan: &ItemPlan) -> Self {
        AdapterSettings { item: plan.name.to_string(), values: plan.settings.clone() }
    }

    /// Settings from a map (worker processes receive them over IPC).
    pub fn from_map(item: &str, values: BTreeMap<String, String>) -> Self {
        AdapterSettings { item: item.to_string(), values }
    }

    /// Every setting, defaults applied.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }
}

impl SettingsSource for AdapterSettings {
    fn raw(&self, name: &str) -> Option<String> {
        self.values.get(name).cloned()
    }
}
