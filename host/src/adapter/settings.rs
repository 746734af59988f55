//! Reading adapter settings with IRIS's defaults and units.

use crate::production::plan::ItemPlan;
use std::collections::BTreeMap;
use std::time::Duration;

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

    /// A text setting, trimmed; empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.values.get(name).map(|v| v.trim().to_string()).unwrap_or_default()
    }

    /// An integer setting, `default` when absent, empty or not a number.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.values.get(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
    }

    /// A boolean setting (IRIS `1`/`0`, also `true`/`false`).
    pub fn bool(&self, name: &str, default: bool) -> bool {
        match self.values.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "1" || v == "true" || v == "yes" => true,
            Some(v) if v == "0" || v == "false" || v == "no" => false,
            _ => default,
        }
    }

    /// A duration in seconds (fractions allowed); `None` when negative (IRIS: "for ever").
    pub fn seconds(&self, name: &str, default: f64) -> Option<Duration> {
        let v = self.values.get(name).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(default);
        (v >= 0.0).then(|| Duration::from_secs_f64(v))
    }
}
