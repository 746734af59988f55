//! What expressions may ask of the outside world: lookup tables, files for `InFile`, and
//! the clock.
//!
//! # Invariants
//!
//! - Expressions never touch the file system or the clock directly: they go through
//!   [`Services`], so tests inject a fixed clock and in-memory files.
//! - [`DirFileReader`] resolves relative paths against one base directory (HIE's decision:
//!   the directory of the rule file) and re-reads a file when its modification time changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use chrono::NaiveDateTime;

use crate::lookup::{LookupProvider, NoLookups};

/// Reads the files `InFile`, `NotInFile` and `InFileColumn` name.
pub trait FileReader: Send + Sync {
    /// The whole text of the file `path` as written in the rule (relative or absolute).
    fn read(&self, path: &str) -> Result<String, String>;
}

/// A reader that has no files: every read fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFiles;

impl FileReader for NoFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("no file reader is configured (cannot read {path:?})"))
    }
}

/// In-memory files, for tests and for hosts that preload files.
#[derive(Debug, Default)]
pub struct MemoryFiles {
    files: HashMap<String, String>,
}

impl MemoryFiles {
    /// No files.
    pub fn new() -> MemoryFiles {
        MemoryFiles::default()
    }

    /// Adds a file under the path rules use for it.
    pub fn insert(&mut self, path: &str, text: &str) {
        self.files.insert(path.to_owned(), text.to_owned());
    }
}

impl FileReader for MemoryFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        self.files.get(path).cloned().ok_or_else(|| format!("no such file {path:?}"))
    }
}

/// Reads files relative to a base directory, caching each by modification time.
#[derive(Debug)]
pub struct DirFileReader {
    base: PathBuf,
    cache: Mutex<HashMap<PathBuf, (Option<SystemTime>, String)>>,
}

impl DirFileReader {
    /// Relative paths are resolved against `base` (normally the rule file's directory).
    pub fn new(base: impl Into<PathBuf>) -> DirFileReader {
        DirFileReader { base: base.into(), cache: Mutex::new(HashMap::new()) }
    }

    /// The file a rule's path names.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) }
    }
}

impl FileReader for DirFileReader {
    fn read(&self, path: &str) -> Result<String, String> {
        let full = self.resolve(path);
        let modified = std::fs::metadata(&full).and_then(|m| m.modified()).ok();
        if let Ok(cache) = self.cache.lock()
            && let Some((when, text)) = cache.get(&full)
            && modified.is_some()
            && *when == modified
        {
            return Ok(text.clone());
        }
        let text = std::fs::read_to_string(&full).map_err(|e| format!("cannot read {}: {e}", full.display()))?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(full, (modified, text.clone()));
        }
        Ok(text)
    }
}

/// The services one evaluation uses.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    /// Lookup tables for `Lookup` and `Exists`.
    pub lookups: &'a dyn LookupProvider,
    /// Files for `InFile` and friends.
    pub files: &'a dyn FileReader,
    /// "Now" in local time: `CurrentDateTime` and rule-set effective dates.
    pub now: NaiveDateTime,
}

impl std::fmt::Debug for Services<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("now", &self.now).finish_non_exhaustive()
    }
}

impl<'a> Services<'a> {
    /// Services with the given clock and no tables or files.
    pub fn with_now(now: NaiveDateTime) -> Services<'static> {
        Services { lookups: &NoLookups, files: &NoFiles, now }
    }
}

/// What a routing rule passes to the DTL a `send` names (`aux.BusinessRuleName`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aux {
    /// The rule's class name.
    pub business_rule_name: String,
    /// Why the rule fired, e.g. `rule#4(Admissions and updates):when#1`.
    pub rule_reason: String,
    /// The last value assigned to `RuleUserData` in the evaluation.
    pub rule_user_data: String,
    /// The value assigned to `RuleActionUserData` in the clause that sent.
    pub rule_action_user_data: String,
}

impl Aux {
    /// The property `name` (`BusinessRuleName`, `RuleReason`, `RuleUserData`,
    /// `RuleActionUserData`); `None` for any other name.
    pub fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "BusinessRuleName" => &self.business_rule_name,
            "RuleReason" => &self.rule_reason,
            "RuleUserData" => &self.rule_user_data,
            "RuleActionUserData" => &self.rule_action_user_data,
            _ => return None,
        })
    }
}
