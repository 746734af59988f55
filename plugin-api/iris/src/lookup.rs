//! Lookup tables: the provider trait, IRIS's `Lookup`/`Exists` semantics and a loader for
//! lookup-table exports.
//!
//! Two file formats exist. The new format (`<Export><Document name="T.LUT"><lookupTable>
//! <entry table="T" key="k">value</entry>...`) holds one table per document; importing it
//! **replaces** each table it names. The legacy format (a bare `<lookupTable>` root with
//! entries of any tables) **merges**: its keys overwrite, other keys stay.
//!
//! # Invariants
//!
//! - Table names and keys are case-sensitive strings; within one file the last entry for a
//!   key wins.
//! - [`lookup`] implements `defaultOnEmptyInput` exactly as `docs/iris-formats.md` §4.2
//!   reconstructs it; an unknown table behaves as a table without the key.

use std::collections::HashMap;

use crate::xml::{self, Node};

/// Where `Lookup` and `Exists` find tables. The host implements it over its loaded tables;
/// [`LookupTables`] is a ready-made implementation.
pub trait LookupProvider: Send + Sync {
    /// The value stored for `key` in `table`, if the table has that key.
    fn get(&self, table: &str, key: &str) -> Option<String>;
}

/// A provider with no tables: every lookup misses.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLookups;

impl LookupProvider for NoLookups {
    fn get(&self, _table: &str, _key: &str) -> Option<String> {
        None
    }
}

/// `Lookup(table, key, default, defaultOnEmptyInput)`.
///
/// | defaultOnEmptyInput | empty key | empty table | both empty |
/// |---|---|---|---|
/// | 0 | "" | "" | "" |
/// | 1 | "" | default | default |
/// | 2 | default | "" | default |
/// | 3 | default | default | default |
pub fn lookup(p: &dyn LookupProvider, table: &str, key: &str, default: &str, on_empty: i64) -> String {
    let (empty_table, empty_key) = (table.is_empty(), key.is_empty());
    if empty_table || empty_key {
        let give_default = match (empty_table, empty_key) {
            (true, true) => on_empty != 0,
            (true, false) => on_empty == 1 || on_empty == 3,
            _ => on_empty == 2 || on_empty == 3,
        };
        return if give_default { default.to_owned() } else { String::new() };
    }
    p.get(table, key).unwrap_or_else(|| default.to_owned())
}

/// `Exists(table, key)`: whether `Lookup` with the same arguments finds the key.
pub fn exists(p: &dyn LookupProvider, table: &str, key: &str) -> bool {
    !table.is_empty() && !key.is_empty() && p.get(table, key).is_some()
}

/// A lookup-table file that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("lookup table file, line {line}: {message}")]
pub struct LookupFileError {
    /// File line.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

/// Which format a file was in (decides replace or merge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupFormat {
    /// `<Export><Document name="T.LUT">`: each table in the file replaces the loaded one.
    Export,
    /// Bare `<lookupTable>`: entries are merged into the loaded tables.
    Legacy,
}

/// Loaded lookup tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupTables {
    tables: HashMap<String, HashMap<String, String>>,
}

impl LookupProvider for LookupTables {
    fn get(&self, table: &str, key: &str) -> Option<String> {
        self.tables.get(table)?.get(key).cloned()
    }
}

fn entries(lt: &Node, default_table: Option<&str>) -> Result<Vec<(String, String, String)>, LookupFileError> {
    let mut out = Vec::new();
    for e in lt.elements() {
        if e.name != "entry" {
            return Err(LookupFileError {
                line: e.line,
                message: format!("unexpected <{}> in <lookupTable> (expected <entry>)", e.name),
            });
        }
        let table = match (e.attr("table"), default_table) {
            (Some(t), _) if !t.is_empty() => t.to_owned(),
            (_, Some(t)) => t.to_owned(),
            _ => return Err(LookupFileError { line: e.line, message: "<entry> has no table attribute".into() }),
        };
        let Some(key) = e.attr("key") else {
            return Err(LookupFileError { line: e.line, message: "<entry> has no key attribute".into() });
        };
        out.push((table, key.to_owned(), e.text()));
    }
    Ok(out)
}

impl LookupTables {
    /// No tables.
    pub fn new() -> LookupTables {
        LookupTables::default()
    }

    /// Sets one entry.
    pub fn insert(&mut self, table: &str, key: &str, value: &str) {
        self.tables.entry(table.to_owned()).or_default().insert(key.to_owned(), value.to_owned());
    }

    /// Removes one entry; whether it was there. A table left empty stays (an empty table).
    pub fn remove(&mut self, table: &str, key: &str) -> bool {
        self.tables.get_mut(table).is_some_and(|t| t.remove(key).is_some())
    }

    /// Removes a whole table; whether it was there.
    pub fn remove_table(&mut self, table: &str) -> bool {
        self.tables.remove(table).is_some()
    }

    /// The entries of `table` sorted by key, or `None` when no such table is loaded.
    pub fn entries(&self, table: &str) -> Option<Vec<(&str, &str)>> {
        let t = self.tables.get(table)?;
        let mut v: Vec<(&str, &str)> = t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        v.sort_unstable();
        Some(v)
    }

    /// `table` as an IRIS export-format file (`<Export><Document name="T.LUT">`), which
    /// [`import`](Self::import) reads back as exactly this table; `None` when not loaded.
    pub fn export_xml(&self, table: &str) -> Option<String> {
        let entries = self.entries(table)?;
        let esc = |s: &str| {
            let mut o = String::with_capacity(s.len());
            for c in s.chars() {
                match c {
                    '&' => o.push_str("&amp;"),
                    '<' => o.push_str("&lt;"),
                    '>' => o.push_str("&gt;"),
                    '"' => o.push_str("&quot;"),
                    '\'' => o.push_str("&apos;"),
                    c if (c as u32) < 0x20 => o.push_str(&format!("&#{};", c as u32)),
                    c => o.push(c),
                }
            }
            o
        };
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Export generator=\"HIE\">\n");
        out.push_str(&format!("<Document name=\"{}.LUT\">\n<lookupTable>\n", esc(table)));
        for (k, v) in entries {
            out.push_str(&format!("<entry table=\"{}\" key=\"{}\">{}</entry>\n", esc(table), esc(k), esc(v)));
        }
        out.push_str("</lookupTable>\n</Document>\n</Export>\n");
        Some(out)
    }

    /// Names of the loaded tables, sorted.
    pub fn table_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.tables.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Imports a lookup-table file in either format (replace for the export format, merge for
    /// the legacy one) and says which format it was.
    pub fn import(&mut self, text: &str) -> Result<LookupFormat, LookupFileError> {
        let root = xml::parse_document(text, 0).map_err(|e| LookupFileError { line: e.line, message: e.message })?;
        match root.name.as_str() {
            "lookupTable" => {
                for (t, k, v) in entries(&root, None)? {
                    self.insert(&t, &k, &v);
                }
                Ok(LookupFormat::Legacy)
            }
            "Export" => {
                let mut fresh: HashMap<String, HashMap<String, String>> = HashMap::new();
                for doc in root.elements().filter(|d| d.name == "Document") {
                    let name = doc.attr("name").unwrap_or("");
                    let Some(table) = name.strip_suffix(".LUT").or_else(|| name.strip_suffix(".lut")) else {
                        continue;
                    };
                    fresh.entry(table.to_owned()).or_default();
                    for lt in doc.elements() {
                        if lt.name != "lookupTable" {
                            continue;
                        }
                        for (t, k, v) in entries(lt, Some(table))? {
                            fresh.entry(t).or_default().insert(k, v);
                        }
                    }
                }
                for (t, entries) in fresh {
                    self.tables.insert(t, entries);
                }
                Ok(LookupFormat::Export)
            }
            other => Err(LookupFileError {
                line: root.line,
                message: format!("<{other}> is not a lookup table file (expected <Export> or <lookupTable>)"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_on_empty_input_table() {
        let mut t = LookupTables::new();
        t.insert("T", "k", "v");
        assert_eq!(lookup(&t, "T", "k", "d", 0), "v");
        assert_eq!(lookup(&t, "T", "x", "d", 0), "d");
        assert_eq!(lookup(&t, "T", "", "d", 0), "");
        assert_eq!(lookup(&t, "", "k", "d", 0), "");
        assert_eq!(lookup(&t, "T", "", "d", 1), "");
        assert_eq!(lookup(&t, "", "k", "d", 1), "d");
        assert_eq!(lookup(&t, "T", "", "d", 2), "d");
        assert_eq!(lookup(&t, "", "k", "d", 2), "");
        assert_eq!(lookup(&t, "", "", "d", 2), "d");
        assert_eq!(lookup(&t, "T", "", "d", 3), "d");
        assert_eq!(lookup(&t, "Nope", "k", "d", 0), "d");
        assert!(exists(&t, "T", "k"));
        assert!(!exists(&t, "T", "K"));
    }

    #[test]
    fn a_table_exported_and_imported_again_is_the_same_table_and_replaces_the_old_one() {
        let mut t = LookupTables::new();
        t.insert("Ward.Site", "A<1>", "x & \"y\" 'z'");
        t.insert("Ward.Site", "tab\tkey", "");
        t.insert("Other", "k", "v");
        let xml = t.export_xml("Ward.Site").unwrap();
        let mut back = LookupTables::new();
        back.insert("Ward.Site", "stale", "gone");
        assert_eq!(back.import(&xml).unwrap(), LookupFormat::Export);
        assert_eq!(back.entries("Ward.Site"), t.entries("Ward.Site"));
        assert_eq!(back.table_names(), vec!["Ward.Site"]);
        assert!(t.remove("Ward.Site", "A<1>"));
        assert!(!t.remove("Ward.Site", "A<1>"));
        assert_eq!(t.entries("Ward.Site").unwrap().len(), 1);
        assert!(t.export_xml("Nope").is_none());
    }

    #[test]
    fn malformed_files_are_rejected_with_a_line() {
        let mut t = LookupTables::new();
        let e = t.import("<lookupTable>\n<entry key=\"a\">1</entry></lookupTable>").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(t.import("<foo/>").is_err());
    }
}
