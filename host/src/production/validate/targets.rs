//! Targets: every name an item sends to (`TargetConfigNames` and the other target
//! settings) must be an item of the production; a typo gets the names spelt most like it.
//!
//! # Invariants
//! - An enabled item's dangling target is an error; a disabled item's is a warning (IRIS
//!   finds it only when a message is sent, and a disabled item sends none).
//! - A target that is skipped or disabled is a warning: messages to it wait or are Suspended.

use super::super::diagnostics::Diagnostic;
use super::super::model::{ItemConfig, ProductionConfig, Setting};
use super::super::plan::ItemPlan;
use super::names_targets;
use std::collections::HashMap;

pub(super) fn check_targets(
    config: &ProductionConfig,
    plans: &[ItemPlan],
    skipped: &[&str],
    diags: &mut Vec<Diagnostic>,
) {
    let names: HashMap<&str, bool> = config.items.iter().map(|i| (i.name.as_str(), i.enabled)).collect();
    for item in &config.items {
        for s in item.settings.iter().filter(|s| names_targets(&s.name)) {
            for target in s.value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                check_one_target(item, s, target, &names, skipped, diags);
            }
        }
    }
    // Class defaults can name targets too (rare, but validate them the same way).
    for plan in plans {
        let Some(cfg) = config.item(&plan.name) else { continue };
        for (name, v) in plan.settings.iter().filter(|(n, _)| names_targets(n)) {
            if cfg.any_setting(name).is_some() {
                continue;
            }
            {
                for target in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if !names.contains_key(target) {
                        diags.push(
                            Diagnostic::error(&plan.location, format!("default target {target:?} is not an item"))
                                .item(&plan.name)
                                .setting(name),
                        );
                    }
                }
            }
        }
    }
}

/// How a missing target's message names the production's items: all of them when there
/// are few, otherwise the ones spelt most like `target` (a typo is the usual cause).
fn known_items(target: &str, names: &HashMap<&str, bool>) -> String {
    let mut known: Vec<&str> = names.keys().copied().collect();
    known.sort();
    if known.len() <= 12 {
        return format!(" (items: {})", known.join(", "));
    }
    let lower = target.to_ascii_lowercase();
    let mut near: Vec<(usize, &str)> =
        known.iter().map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k)).collect();
    near.sort();
    // The nearest names (at most three of them), if they are near at all.
    let best = near.first().map_or(usize::MAX, |(d, _)| *d);
    let close: Vec<&str> =
        near.iter().take(3).filter(|(d, _)| *d == best && *d <= (target.len() / 3).max(2)).map(|(_, k)| *k).collect();
    match close.as_slice() {
        [] => format!(" (none of its {} items is named like it)", known.len()),
        _ => format!(" (did you mean {}?)", close.join(", ")),
    }
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

fn check_one_target(
    item: &ItemConfig,
    s: &Setting,
    target: &str,
    names: &HashMap<&str, bool>,
    skipped: &[&str],
    diags: &mut Vec<Diagnostic>,
) {
    match names.get(target) {
        None => {
            let msg = format!("target {target:?} is not an item of this production{}", known_items(target, names));
            // A disabled item sends nothing: IRIS finds a dangling target only at run time.
            let d = if item.enabled {
                Diagnostic::error(&s.location, msg)
            } else {
                Diagnostic::warning(&s.location, format!("{msg}; the item is disabled, so nothing is sent there"))
            };
            diags.push(d.item(&item.name).setting(&s.name));
        }
        Some(_) if skipped.contains(&target) => diags.push(
            Diagnostic::warning(
                &s.location,
                format!("target {target:?} is skipped (unresolved class): messages to it will be Suspended"),
            )
            .item(&item.name)
            .setting(&s.name),
        ),
        Some(false) => diags.push(
            Diagnostic::warning(&s.location, format!("target {target:?} is disabled: messages to it will queue"))
                .item(&item.name)
                .setting(&s.name),
        ),
        Some(true) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("epr_out", "epr_outs"), 1);
        assert_eq!(edit_distance("abc", ""), 3);
    }

    #[test]
    fn a_missing_target_lists_a_small_production_and_suggests_near_names_in_a_large_one() {
        let small: HashMap<&str, bool> = [("B", true), ("A", true)].into_iter().collect();
        assert_eq!(known_items("C", &small), " (items: A, B)");
        let names: Vec<String> = (0..40).map(|i| format!("Dept{i}_ADT_Out")).collect();
        let large: HashMap<&str, bool> = names.iter().map(|n| (n.as_str(), true)).collect();
        assert_eq!(known_items("dept7_adt_out", &large), " (did you mean Dept7_ADT_Out?)");
        assert_eq!(known_items("Dept7_ADT_Ou", &large), " (did you mean Dept7_ADT_Out?)");
        assert_eq!(known_items("Dept4_ADT_Outt", &large), " (did you mean Dept4_ADT_Out?)");
        assert_eq!(known_items("Something_Else", &large), " (none of its 40 items is named like it)");
    }
}
