//! The plan's value paths: `SearchFields` and each item's `OrderingKey`, parsed (their syntax
//! was checked with the setting), their symbolic names checked against the schemas, and
//! gathered into the plan's [`ValuePaths`].
//!
//! The production's custom schemas (`schema/*.xml` beside it) are loaded only when a path
//! needs a schema; a schema file that does not load is then an error at the setting that
//! needed it.

use super::super::catalog::production_dir;
use super::super::diagnostics::Diagnostic;
use super::super::model::{Location, ProductionConfig};
use super::super::plan::ItemPlan;
use crate::value_paths::{ValuePaths, check_names};
use hie_hl7_schema::{FieldPath, Registry};
use std::collections::HashMap;
use std::sync::Arc;

/// One path as a setting gave it.
struct Given<'a> {
    text: &'a str,
    setting: &'static str,
    item: Option<&'a str>,
    location: Location,
}

/// Parses and checks every value path of the production; problems go to `diags`.
pub(super) fn value_paths(
    config: &ProductionConfig,
    plans: &[ItemPlan],
    search_fields: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Arc<ValuePaths> {
    let search_at = config.setting("SearchFields").map_or_else(|| config.location.clone(), |s| s.location.clone());
    let mut given: Vec<Given<'_>> = search_fields
        .iter()
        .map(|t| Given { text: t, setting: "SearchFields", item: None, location: search_at.clone() })
        .collect();
    for plan in plans {
        let Some(text) = plan.engine.ordering_key.as_deref() else { continue };
        let location = config
            .items
            .iter()
            .find(|i| i.name == *plan.name)
            .map(|i| i.host_setting("OrderingKey").map_or_else(|| i.location.clone(), |s| s.location.clone()))
            .unwrap_or_else(|| config.location.clone());
        given.push(Given { text, setting: "OrderingKey", item: Some(&plan.name), location });
    }
    let error = |g: &Given<'_>, message: String| {
        let d = Diagnostic::error(&g.location, message).setting(g.setting);
        match g.item {
            Some(item) => d.item(item),
            None => d,
        }
    };
    // Syntax errors were reported where the settings were read: skip those paths here.
    let parsed: Vec<(&Given<'_>, FieldPath)> =
        given.iter().filter_map(|g| FieldPath::parse(g.text).ok().map(|p| (g, p))).collect();
    let registry = match parsed.iter().find(|(_, p)| p.needs_schema()) {
        None => Registry::new(),
        Some((g, _)) => {
            let dir = production_dir(&config.file);
            hie_iris::catalog::load_schemas(&dir).unwrap_or_else(|e| {
                diags.push(error(g, format!("{:?} needs the schemas, and they cannot be loaded: {e}", g.text)));
                Registry::new()
            })
        }
    };
    let mut search = Vec::new();
    let mut ordering = HashMap::new();
    for (g, path) in parsed {
        if let Err(e) = check_names(&path, &registry) {
            diags.push(error(g, format!("{:?} is not a path of any known schema: {e}", g.text)));
            continue;
        }
        match g.item {
            Some(item) => {
                ordering.insert(item.to_string(), path);
            }
            None => search.push(path),
        }
    }
    Arc::new(ValuePaths::new(Arc::new(registry), search, ordering))
}
