//! System Default Settings (IRIS `Ens.Config.DefaultSettings`, "ESD") applied to a
//! production with IRIS's precedence: the item's own setting (even when empty), else the
//! most specific matching entry, else the class default.
//!
//! An entry matches an item when its `production`, `item` and `class` are `*` or name the
//! production, the item and the item's class, and its `setting` is a setting that item's
//! class, its adapter or the engine declares (ESD has no target: the declaration gives it).
//! Specificity: production, then item, then class (`(P,I,C) > (P,I,*) > (P,*,C) > (P,*,*) >
//! (*,I,C) > ...`, docs/iris-settings.md §1.3); of two equally specific entries the later
//! one wins.
//!
//! # Invariants
//! - Pure: the production as written goes in, the production as it runs comes out. The
//!   settings an entry supplies keep the entry's file and line, so validation names the ESD
//!   line for a bad value, and `hie validate --explain` says where each value came from.
//! - Entries that match nothing are kept and ignored, never an error (IRIS saves and
//!   ignores them).
//! - Pure but for the pack registry it reads declarations from; runs before validation,
//!   on the same path for `hie validate`, `hie run` and every reload.

use super::model::{DefaultSetting, ItemConfig, ProductionConfig, Setting, SettingTarget};
use super::validate::ENGINE_SETTINGS;
use crate::pack::PackRegistry;
use hie_plugin_api::abi::SettingTarget as Declared;

/// The production setting naming standalone System Default Settings exports
/// (comma-separated, relative to the production's directory).
pub const FILES_SETTING: &str = "SystemDefaults";

/// `config` with every applicable entry of `config.defaults` added to its items.
pub fn apply(config: &ProductionConfig, packs: &PackRegistry) -> ProductionConfig {
    let mut out = config.clone();
    if config.defaults.is_empty() && config.overrides.is_empty() {
        return out;
    }
    for item in &mut out.items {
        let declared = declared_settings(item, packs);
        let mut added = Vec::new();
        for (name, target) in &declared {
            if item.settings.iter().any(|s| &s.name == name) {
                continue;
            }
            if let Some(entry) = best_entry(&config.defaults, &config.name, item, name) {
                added.push(Setting {
                    name: name.clone(),
                    value: entry.value.clone(),
                    target: *target,
                    location: entry.location.clone(),
                });
            }
        }
        item.settings.extend(added);
        // `--set` last, over everything (sets.rs).
        for o in config.overrides.iter().filter(|o| o.item == item.name) {
            let target = declared
                .iter()
                .find(|(n, _)| *n == o.setting)
                .map(|(_, t)| *t)
                .or_else(|| item.settings.iter().find(|s| s.name == o.setting).map(|s| s.target))
                .unwrap_or(SettingTarget::Host);
            item.settings.retain(|s| s.name != o.setting);
            item.settings.push(Setting {
                name: o.setting.clone(),
                value: o.value.clone(),
                target,
                location: o.location.clone(),
            });
        }
    }
    out
}

/// Whether `location` is an entry of the System Default Settings (for `--explain`).
pub fn from_defaults(config: &ProductionConfig, setting: &Setting) -> bool {
    config.defaults.iter().any(|d| d.location == setting.location && d.setting == setting.name)
}

/// One effective setting and where it came from.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Explained {
    /// The setting.
    pub setting: String,
    /// Its effective value.
    pub value: String,
    /// `production FILE:LINE`, `System Default Settings FILE:LINE` or `class default`.
    pub source: String,
}

/// The effective settings of `item` (of the production with System Default Settings
/// applied): what it sets, and the class defaults the plan filled in.
pub fn explain(
    merged: &ProductionConfig,
    item: &ItemConfig,
    planned: Option<&std::collections::BTreeMap<String, String>>,
) -> Vec<Explained> {
    let mut names: Vec<String> = item.settings.iter().map(|s| s.name.clone()).collect();
    names.extend(planned.into_iter().flat_map(|p| p.keys().cloned()));
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let written = item.settings.iter().rev().find(|s| s.name == name);
            let (value, source) = match written {
                Some(s) if from_defaults(merged, s) => {
                    (s.value.clone(), format!("System Default Settings {}", s.location))
                }
                Some(s) if merged.overrides.iter().any(|o| o.location == s.location) => {
                    (s.value.clone(), format!("command line {}", s.location))
                }
                Some(s) => (s.value.clone(), format!("production {}", s.location)),
                None => (planned.and_then(|p| p.get(&name)).cloned().unwrap_or_default(), "class default".into()),
            };
            Explained { setting: name, value, source }
        })
        .collect()
}

/// Every setting `item` can have, with the target its declaration gives: its class's,
/// its adapter's, the engine's.
fn declared_settings(item: &ItemConfig, packs: &PackRegistry) -> Vec<(String, SettingTarget)> {
    let mut out: Vec<(String, SettingTarget)> =
        ENGINE_SETTINGS.iter().map(|e| (e.name.to_string(), SettingTarget::Host)).collect();
    if let Some((_, class)) = packs.class(&item.class) {
        for s in &class.settings {
            let target = if s.target == Declared::Adapter { SettingTarget::Adapter } else { SettingTarget::Host };
            out.push((s.name.clone(), target));
        }
        if let Some(spec) = packs.adapters.get(&class.adapter) {
            out.extend(spec.settings.iter().map(|s| (s.name.clone(), SettingTarget::Adapter)));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(name, _)| seen.insert(name.clone()));
    out
}

/// The most specific entry for `setting` of `item` in production `production`.
fn best_entry<'d>(
    defaults: &'d [DefaultSetting],
    production: &str,
    item: &ItemConfig,
    setting: &str,
) -> Option<&'d DefaultSetting> {
    let fits = |pattern: &str, value: &str| pattern == "*" || pattern == value;
    defaults
        .iter()
        .filter(|d| d.setting == setting && fits(&d.production, production))
        .filter(|d| fits(&d.item, &item.name) && fits(&d.class, &item.class))
        .map(|d| (specificity(d), d))
        // `max_by_key` keeps the last of equal keys: the later entry wins a tie.
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, d)| d)
}

/// Production counts most, then item, then class.
fn specificity(d: &DefaultSetting) -> u8 {
    u8::from(d.production != "*") * 4 + u8::from(d.item != "*") * 2 + u8::from(d.class != "*")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::production::model::Location;
    use std::path::Path;
    use std::sync::Arc;

    fn entry(production: &str, item: &str, class: &str, value: &str, line: u32) -> DefaultSetting {
        let file: Arc<Path> = Arc::from(Path::new("/esd.xml"));
        DefaultSetting {
            production: production.into(),
            item: item.into(),
            class: class.into(),
            setting: "Port".into(),
            value: value.into(),
            location: Location::new(&file, line),
        }
    }

    fn item(name: &str, class: &str) -> ItemConfig {
        let file: Arc<Path> = Arc::from(Path::new("/p.xml"));
        ItemConfig {
            name: name.into(),
            class: class.into(),
            enabled: true,
            pool_size: None,
            settings: Vec::new(),
            comment: String::new(),
            category: String::new(),
            location: Location::new(&file, 1),
            pool_size_location: Location::new(&file, 1),
        }
    }

    #[test]
    fn the_most_specific_entry_wins_production_then_item_then_class_and_a_later_tie() {
        let all = vec![
            entry("*", "*", "*", "1", 1),
            entry("*", "*", "C", "2", 2),
            entry("*", "I", "*", "3", 3),
            entry("P", "*", "*", "4", 4),
            entry("P", "I", "C", "5", 5),
            entry("P", "I", "C", "6", 6),
            entry("Other", "I", "C", "7", 7),
            entry("P", "I", "WrongClass", "8", 8),
        ];
        let it = item("I", "C");
        let pick = |entries: &[DefaultSetting]| best_entry(entries, "P", &it, "Port").map(|d| d.value.clone());
        assert_eq!(pick(&all).as_deref(), Some("6"), "fully qualified, the later of two");
        assert_eq!(pick(&all[..4]).as_deref(), Some("4"), "the production beats item and class");
        assert_eq!(pick(&all[..3]).as_deref(), Some("3"), "the item beats the class");
        assert_eq!(pick(&all[..2]).as_deref(), Some("2"), "the class beats everything-wildcards");
        assert_eq!(pick(&all[6..]), None, "another production or another class never applies");
    }
}
