//! Finding a production's IRIS classes, schema categories and lookup tables on disk, the
//! way a Trust's export lays them out, for the router and for `hie dtl run`.
//!
//! `<dir>` is the production file's directory.
//! - Rule and DTL classes: `.cls` and `.xml` files in `<dir>` and its [`CLASS_DIRS`]: UDL
//!   classes, Studio exports holding several classes (the production's own export
//!   included) and bare `<ruleDefinition>`/`<transform>` XML, named after the file.
//! - Custom schema categories (IRIS `<Category>` exports): `<dir>/schema/*.xml`, on top of
//!   the built-in HL7 versions ([`load_schemas`]).
//! - Lookup tables (IRIS `<lookupTable>` exports, either format): `<dir>/lookup/*.xml`,
//!   then the tables edited live (API, CLI) in `<dir>/lookup/live/*.xml`, one whole table
//!   per file, each replacing what the files before it gave that table ([`load_lookups`]).
//! - [`digest`] fingerprints every file of these places, so a reload can tell whether an
//!   item reading them must restart to see a change.
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

/// The subdirectory of lookup-table files.
pub const LOOKUP_DIR: &str = "lookup";

/// The subdirectory of [`LOOKUP_DIR`] holding tables edited live: `<table>.xml`, one
/// export-format file per table, loaded after the others.
pub const LIVE_DIR: &str = "live";

/// The subdirectory of custom schema categories.
pub const SCHEMA_DIR: &str = "schema";

/// Every directory whose files the catalog reads, for `dir` (the production's directory):
/// the class directories, schemas, lookup tables and live tables.
pub fn watched_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        CLASS_DIRS.iter().map(|d| if d.is_empty() { dir.to_path_buf() } else { dir.join(d) }).collect();
    v.push(dir.join(SCHEMA_DIR));
    v.push(dir.join(LOOKUP_DIR));
    v.push(dir.join(LOOKUP_DIR).join(LIVE_DIR));
    v
}

/// The files [`digest`] reads: classes, exports, and HIE's YAML rule files.
pub const DIGESTED: [&str; 4] = ["cls", "xml", "yaml", "yml"];

/// A fingerprint of every catalog file beside the production in `dir` (names and contents
/// of the [`DIGESTED`] files of [`watched_dirs`]) and of `extra` (a rule file named by
/// path): equal fingerprints, same classes, rules, schemas and tables. Unreadable files
/// count by name only (loading them reports the error).
pub fn digest(dir: &Path, extra: Option<&Path>) -> u64 {
    digest_of(watched_dirs(dir), extra)
}

/// [`digest`] of the custom schema categories alone (`<dir>/schema`): what a service's
/// `MessageSchemaCategory` and `Validation` read.
pub fn schema_digest(dir: &Path) -> u64 {
    digest_of(vec![dir.join(SCHEMA_DIR)], None)
}

fn digest_of(dirs: Vec<PathBuf>, extra: Option<&Path>) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    let files = dirs.into_iter().flat_map(|d| files_in(&d, &DIGESTED)).chain(extra.map(Path::to_path_buf));
    for path in files {
        path.hash(&mut h);
        std::fs::read(&path).ok().hash(&mut h);
    }
    h.finish()
}

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
    for path in files_in(&dir.join(SCHEMA_DIR), &["xml"]) {
        let xml = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let label = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        schemas.load_xml(&xml, &label).map_err(|e| format!("schema {}: {e}", path.display()))?;
    }
    Ok(schemas)
}

/// The lookup tables of `<dir>/lookup/*.xml`.
pub fn load_lookups(dir: &Path) -> Result<LookupTables, String> {
    let mut lookups = LookupTables::new();
    let lookup = dir.join(LOOKUP_DIR);
    for path in files_in(&lookup, &["xml"]).into_iter().chain(files_in(&lookup.join(LIVE_DIR), &["xml"])) {
        let xml = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        lookups.import(&xml).map_err(|e| format!("lookup table {}: {e}", path.display()))?;
    }
    Ok(lookups)
}

/// One change to a production's lookup tables ([`edit_lookups`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupEdit {
    /// Sets `key` of `table` (creating the table when new).
    Set {
        /// Table name.
        table: String,
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Removes `key` from `table`.
    Delete {
        /// Table name.
        table: String,
        /// Key.
        key: String,
    },
    /// Imports a lookup-table file (either format), as if it were loaded after the others.
    Import(String),
}

/// Why a lookup edit was not made.
#[derive(Debug, thiserror::Error)]
pub enum LookupEditError {
    /// The entry to delete is not there.
    #[error("lookup table {table:?} has no key {key:?}")]
    NoSuchEntry {
        /// Table name.
        table: String,
        /// Key.
        key: String,
    },
    /// An empty table name or key.
    #[error("a lookup table name and key must not be empty")]
    Empty,
    /// The imported text is not a lookup-table file.
    #[error("{0}")]
    Import(crate::lookup::LookupFileError),
    /// The tables on disk do not load, or a file cannot be written.
    #[error("{0}")]
    Files(String),
}

/// The file in `lookup/live/` holding `table`: its name with every byte other than ASCII
/// letters, digits, `.`, `_` and `-` written `%XX`.
pub fn live_file(dir: &Path, table: &str) -> PathBuf {
    let mut name = String::with_capacity(table.len() + 4);
    for b in table.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-' {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".xml");
    dir.join(LOOKUP_DIR).join(LIVE_DIR).join(name)
}

/// Applies `edit` to the lookup tables of `dir`: loads them as a router does, applies the
/// edit, and writes each table it changed, whole, to its [`live_file`] (written beside and
/// renamed over, so a reader never sees half a table). Returns the changed tables' names.
/// The callers serialise edits of one directory.
pub fn edit_lookups(dir: &Path, edit: &LookupEdit) -> Result<Vec<String>, LookupEditError> {
    let mut tables = load_lookups(dir).map_err(LookupEditError::Files)?;
    let changed: Vec<String> = match edit {
        LookupEdit::Set { table, key, .. } | LookupEdit::Delete { table, key }
            if table.is_empty() || key.is_empty() =>
        {
            return Err(LookupEditError::Empty);
        }
        LookupEdit::Set { table, key, value } => {
            tables.insert(table, key, value);
            vec![table.clone()]
        }
        LookupEdit::Delete { table, key } => {
            if !tables.remove(table, key) {
                return Err(LookupEditError::NoSuchEntry { table: table.clone(), key: key.clone() });
            }
            vec![table.clone()]
        }
        LookupEdit::Import(text) => {
            let mut named = LookupTables::new();
            named.import(text).map_err(LookupEditError::Import)?;
            tables.import(text).map_err(LookupEditError::Import)?;
            named.table_names().into_iter().map(str::to_owned).collect()
        }
    };
    let live = dir.join(LOOKUP_DIR).join(LIVE_DIR);
    std::fs::create_dir_all(&live)
        .map_err(|e| LookupEditError::Files(format!("cannot create {}: {e}", live.display())))?;
    for table in &changed {
        let Some(xml) = tables.export_xml(table) else { continue };
        let path = live_file(dir, table);
        let tmp = live.join(format!(".{}.tmp", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
        let write = std::fs::write(&tmp, xml.as_bytes()).and_then(|()| std::fs::rename(&tmp, &path));
        write.map_err(|e| LookupEditError::Files(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(changed)
}
