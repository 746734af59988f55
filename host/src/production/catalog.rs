//! Which items read the IRIS catalog beside the production (rule and DTL classes, custom
//! schemas, lookup tables: `hie_iris::catalog`), and the fingerprint of what they read.
//!
//! An item with a `BusinessRuleName` reads all of it; one with only a
//! `MessageSchemaCategory` or `Validation` (a service) reads the custom schemas alone. Its
//! plan carries the fingerprint of what it reads ([`digest`](hie_iris::catalog::digest),
//! [`schema_digest`](hie_iris::catalog::schema_digest)), so a reload after a rule, DTL,
//! schema or lookup-table file changed (an edit, or a lookup entry set through the API)
//! restarts exactly the items that read it, the same way a changed setting does: their
//! queues stay, nothing is lost, and a lookup edit leaves the services' connections be.
//!
//! # Invariants
//! - Pure but for reading the catalog files; one digest per distinct rule file per plan.
//! - A YAML rules file named by `BusinessRuleName` counts as a rule file too.

use super::plan::ItemPlan;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The settings that make an item read the catalog.
pub const CATALOG_SETTINGS: [&str; 3] = ["BusinessRuleName", "MessageSchemaCategory", "Validation"];

/// The production's directory: the catalog's root.
pub fn production_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Sets `catalog` on every plan that reads the catalog of `dir`.
pub fn fingerprint(dir: &Path, plans: &mut [ItemPlan]) {
    let mut digests: HashMap<Option<PathBuf>, u64> = HashMap::new();
    let mut schemas: Option<u64> = None;
    for plan in plans {
        let reads = CATALOG_SETTINGS.iter().any(|s| plan.setting(s).is_some_and(|v| !v.trim().is_empty()));
        if !reads {
            continue;
        }
        let rule = plan.setting("BusinessRuleName").map(str::trim).filter(|v| !v.is_empty());
        let Some(rule) = rule else {
            let digest = *schemas.get_or_insert_with(|| hie_iris::catalog::schema_digest(dir));
            plan.catalog = Some(digest);
            continue;
        };
        let rule_file = [".cls", ".xml", ".yaml", ".yml"].iter().any(|x| rule.ends_with(x)).then(|| dir.join(rule));
        let digest =
            *digests.entry(rule_file.clone()).or_insert_with(|| hie_iris::catalog::digest(dir, rule_file.as_deref()));
        plan.catalog = Some(digest);
    }
}
