//! Finding a production's IRIS classes, schema categories and lookup tables on disk, the
//! way a Trust's export lays them out, for the router and for `hie dtl run`.
//!
//! `<dir>` is the production file's directory.
//! - Rule and DTL classes: `.cls` and `.xml` files in `<dir>` and its [`CLASS_DIRS`]: UDL
//!   classes, Studio exports holding several classes (the production's own export
//!   included) and bare `<ruleDefinition>`/`<transform>` XML, named after the file.
//! - Custom schema categories (IRIS `<Category>` exports): `<dir>/schema/*.xml`, on top of
//!   the built-in HL7 versions ([`load_schemas`]).
//! - Lookup tables (IRIS `<lookupTable>` exports, either format): `<dir>/lookup/*.xml`
//!   ([`load_lookups`]).
//!
//! # Invariants
//! - A file that does not compile is an error when it is the one asked for, is named
//!   after the class wanted, or mentions it; any other is someone else's and is listed in
//!   [`Catalog::skipped`], never silently used.
//! - Errors name the file.

use crate::lookup::LookupTables;
use crate::{IrisClass, RuleDefinition, Transform};
use hie_hl7_schema::Registry;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Subdirectories of the production's directory searched for classes (`""`: itself).
pub const CLASS_DIRS: [&str; 4] = ["", "rules", "dtl", "classes"];

/// The classes found.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Rule classes with the file each came from, in the order found.
    pub rules: Vec<(RuleDefinition, PathBuf)>,
    /// DTL classes by class name (the first found wins).
    pub transforms: HashMap<String, Arc<Transform>>,
    /// Files that hold rule or DTL XML but did not compile, with why (not the one wanted).
    pub skipped: Vec<String>,
}

/// `.ext` files directly in `dir`, sorted (none when it is not a directory).
pub fn files_in(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| exts.iter().any(|e| x == *e)))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A file's text when it may hold rule or DTL classes.
fn class_text(path: &Path) -> Result<Option<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let relevant = ["Ens.Rule.Definition", "<ruleDefinition", "Ens.DataTransformDTL", "<transform"]
        .iter()
        .any(|marker| text.contains(marker));
    Ok(relevant.then_some(text))
}

impl Catalog {
    /// Reads `file` (when given) and every class file of `dir`'s [`CLASS_DIRS`]. `wanted` is
    /// the class the caller is after (see the module's invariants).
    pub fn load(dir: &Path, file: Option<&Path>, wanted: &str) -> Result<Catalog, String> {
        let mut catalog = Catalog::default();
        let mut candidates: Vec<PathBuf> = file.map(Path::to_path_buf).into_iter().collect();
        for sub in CLASS_DIRS {
            candidates.extend(files_in(&dir.join(sub), &["cls", "xml"]));
        }
        let mut seen = HashSet::new();
        for path in candidates {
            if !seen.insert(path.canonicalize().unwrap_or_else(|_| path.clone())) {
                continue;
            }
            let asked = file.is_some_and(|f| f == path);
            let Some(text) = class_text(&path)? else {
                if asked {
                    return Err(format!("{} holds no rule or DTL class", path.display()));
                }
                continue;
            };
            let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            let classes = match crate::load_classes_named(&text, &stem) {
                Ok(c) => c,
                Err(e) if asked || stem == wanted || (!wanted.is_empty() && text.contains(wanted)) => {
                    return Err(format!("{}: {e}", path.display()));
                }
                Err(e) => {
                    catalog.skipped.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            for class in classes {
                match class {
                    IrisClass::Rule(r) => catalog.rules.push((r, path.clone())),
                    IrisClass::Dtl(t) => {
                        catalog.transforms.entry(t.class.clone()).or_insert_with(|| Arc::new(t));
                    }
                }
            }
        }
        Ok(catalog)
    }

    /// Takes the rule class `name` out, or, when `file` is given, the first rule of that file.
    pub fn take_rule(&mut self, name: &str, file: Option<&Path>) -> Option<(RuleDefinition, PathBuf)> {
        let at = self
            .rules
            .iter()
            .position(|(r, _)| r.class == name)
            .or_else(|| file.and_then(|f| self.rules.iter().position(|(_, p)| p == f)))?;
        Some(self.rules.remove(at))
    }
}

/// The built-in HL7 versions plus the custom categories of `<dir>/schema/*.xml`.
pub fn load_schemas(dir: &Path) -> Result<Registry, String> {
    let mut schemas = Registry::new();
    for path in files_in(&dir.join("schema"), &["xml"]) {
        let xml = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let label = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        schemas.load_xml(&xml, &label).map_err(|e| format!("schema {}: {e}", path.display()))?;
    }
    Ok(schemas)
}

/// The lookup tables of `<dir>/lookup/*.xml`.
pub fn load_lookups(dir: &Path) -> Result<LookupTables, String> {
    let mut lookups = LookupTables::new();
    for path in files_in(&dir.join("lookup"), &["xml"]) {
        let xml = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        lookups.import(&xml).map_err(|e| format!("lookup table {}: {e}", path.display()))?;
    }
    Ok(lookups)
}
