//! [`FieldPath`]: a value path as a setting names it (`SearchFields`, `OrderingKey`, the SQL
//! classes' `Parameters`), in every form a path takes, read from one message at a time.
//!
//! Accepted: HIE short paths (`PID-3.1`), IRIS numeric (`PID:3.1`, `3:5`) and symbolic paths
//! (`MSH:ReceivingFacility.namespaceID`), paths through groups
//! (`PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5`), each bare or wrapped as a rule writes it
//! (`HL7.{PID:3.1}`, `{PID:3.1}`). A path that selects several nodes gives the first.
//!
//! # Invariants
//!
//! - A short path is read exactly as [`hie_hl7::Message::value`] reads it: no schema, no
//!   allocation, whatever the message.
//! - A single segment step means the n-th segment of that name in the message
//!   ([`SegmentScope::Message`]), as a short path does; group steps go through the structure of
//!   the message's DocType. The DocType is the one IRIS gives: the session's
//!   `MessageSchemaCategory` with MSH-9, else the built-in category of MSH-12.
//! - Any other path is compiled once per structure (group paths) or category (symbolic paths)
//!   and the result kept, failures included: later messages of that kind do no schema lookup,
//!   and a lookup allocates only what a decoded value needs (and a group path its
//!   [`SegmentMap`]).
//! - Symbolic names are those of the message's own version, as in IRIS (CX.1 is `ID` in 2.4,
//!   `IDNumber` from 2.5): a path written for one version finds nothing in another.
//! - Reading never fails: a message without a DocType, or whose structure lacks the path's
//!   groups or names, has no value there. Checking a path against a schema
//!   ([`FieldPath::check`]) is for configuration time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use hie_hl7::Message;

use crate::builtin::{LATEST, builtin, builtin_for_version};
use crate::compile::{CompileOptions, CompiledPath, SegmentScope};
use crate::eval::Keys;
use crate::matcher::SegmentMap;
use crate::model::{Category, MessageStructure};
use crate::path::{PathForm, VirtualPath};
use crate::registry::Registry;
use crate::{CompileError, PathSyntaxError};

/// A parsed value path; see the module documentation. Cheap to read from many threads.
#[derive(Debug)]
pub struct FieldPath {
    /// The text as written (the name search rows are stored under).
    text: String,
    form: Form,
}

#[derive(Debug)]
enum Form {
    /// `PID-3.1`: read by hie-hl7 directly.
    Short(hie_hl7::Path),
    /// Numeric, no groups (`PID:3.1`, `3:5`): needs no schema, compiled once.
    Plain(Box<CompiledPath>),
    /// Symbolic or through groups: compiled per category or structure on first use.
    Schema { path: VirtualPath, groups: bool, compiled: RwLock<HashMap<usize, Compiled>> },
}

/// One cached compilation. Holds what it was compiled against, so the address it is keyed by
/// cannot be reused by another category or structure while it is cached.
#[derive(Debug)]
struct Compiled {
    _against: Against,
    path: Option<Arc<CompiledPath>>,
}

#[derive(Debug)]
enum Against {
    Category(#[allow(dead_code)] Arc<Category>),
    Structure(#[allow(dead_code)] Arc<MessageStructure>),
}

/// Cached compilations per path: more distinct structures than this (a registry reloaded
/// many times) empties the cache rather than grow it.
const MAX_CACHED: usize = 512;

/// Strips `HL7.{...}` or `{...}` around a path.
fn unwrap_braces(text: &str) -> &str {
    let t = text.trim();
    let inner = t.strip_prefix("HL7.").or_else(|| t.strip_prefix("hl7.")).unwrap_or(t);
    match inner.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        Some(s) => s.trim(),
        None => t,
    }
}

impl FieldPath {
    /// Parses `text` (see the module documentation for the forms).
    pub fn parse(text: &str) -> Result<FieldPath, PathSyntaxError> {
        let inner = unwrap_braces(text);
        let path = VirtualPath::parse(inner).map_err(|e| match inner.parse::<hie_hl7::Path>() {
            // Written as a short path: the short path's reason says more.
            Err(short) if inner.contains('-') && !inner.contains(':') => {
                PathSyntaxError { path: inner.to_string(), column: e.column, reason: short.to_string() }
            }
            _ => e,
        })?;
        let form = match path.form() {
            PathForm::Short(p) => Form::Short(*p),
            PathForm::Relative { .. } => {
                return Err(PathSyntaxError {
                    path: inner.to_string(),
                    column: 1,
                    reason: "a segment-relative path needs a segment; name one (PID:3.1)".into(),
                });
            }
            PathForm::Document { .. } if !path.is_symbolic() && !path.has_groups() => {
                let opts = CompileOptions::new().scope(SegmentScope::Message);
                match CompiledPath::compile(&path, &opts) {
                    Ok(c) => Form::Plain(Box::new(c)),
                    Err(e) => return Err(syntax_of(inner, e)),
                }
            }
            PathForm::Document { .. } => {
                let groups = path.has_groups();
                Form::Schema { path, groups, compiled: RwLock::new(HashMap::new()) }
            }
        };
        Ok(FieldPath { text: text.trim().to_string(), form })
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when reading the path needs the message's schema (symbolic names or groups).
    pub fn needs_schema(&self) -> bool {
        matches!(self.form, Form::Schema { .. })
    }

    /// Checks the names of a symbolic path against every schema it could be read with: it
    /// must compile against some built-in version or custom category of `registry`
    /// (names differ between versions: CX.1 is `ID` in 2.4 and `IDNumber` from 2.5). The
    /// error is the newest built-in version's.
    pub fn check_any(&self, registry: &Registry) -> Result<(), CompileError> {
        let Form::Schema { groups: false, .. } = &self.form else { return Ok(()) };
        let first = self.check(registry, None);
        if first.is_err()
            && (crate::BUILTIN_VERSIONS.iter().any(|v| self.check(registry, Some(v)).is_ok())
                || registry.custom_names().any(|c| self.check(registry, Some(c)).is_ok()))
        {
            return Ok(());
        }
        first
    }

    /// Checks the names of a symbolic path against `category` (else the newest built-in
    /// version): a misspelt field or component name is found at configuration time. Group
    /// paths depend on each message's structure and are checked by syntax only.
    pub fn check(&self, registry: &Registry, category: Option<&str>) -> Result<(), CompileError> {
        let Form::Schema { path, groups: false, .. } = &self.form else { return Ok(()) };
        let Some(cat) = category.and_then(|c| registry.category(c)).or_else(|| builtin(LATEST)) else { return Ok(()) };
        CompiledPath::compile(path, &CompileOptions::new().category(&cat).scope(SegmentScope::Message)).map(|_| ())
    }

    /// The value at this path in `msg`, whose session's `MessageSchemaCategory` is `category`
    /// (custom categories come from `registry`). `None` when the message has no such value.
    pub fn value<'a>(&self, msg: &Message<'a>, registry: &Registry, category: Option<&str>) -> Option<Cow<'a, str>> {
        match &self.form {
            Form::Short(p) => msg.value(p),
            Form::Plain(c) => c.get(msg, None, Keys::NONE),
            Form::Schema { path, groups, compiled } => {
                let doc = registry.resolve_message(category, msg);
                let (key, against) = if *groups {
                    let s = doc.as_ref()?.structure();
                    (Arc::as_ptr(s) as usize, Against::Structure(Arc::clone(s)))
                } else {
                    let cat = match &doc {
                        Some(d) => Arc::clone(d.category()),
                        None => category
                            .and_then(|c| registry.category(c))
                            .or_else(|| msg.version().and_then(builtin_for_version))
                            .or_else(|| builtin(LATEST))?,
                    };
                    (Arc::as_ptr(&cat) as *const u8 as usize, Against::Category(cat))
                };
                let cached = compiled.read().ok().and_then(|m| m.get(&key).map(|c| c.path.clone()));
                let cp = match cached {
                    Some(cp) => cp?,
                    None => {
                        let opts = CompileOptions::new().scope(SegmentScope::Message);
                        let made = match (&against, &doc) {
                            (Against::Structure(_), Some(d)) => CompiledPath::compile(path, &opts.doc_type(d)),
                            (Against::Category(c), _) => CompiledPath::compile(path, &opts.category(c)),
                            (Against::Structure(_), None) => return None,
                        };
                        let made = made.ok().map(Arc::new);
                        if let Ok(mut m) = compiled.write() {
                            if m.len() >= MAX_CACHED {
                                m.clear();
                            }
                            m.insert(key, Compiled { _against: against, path: made.clone() });
                        }
                        made?
                    }
                };
                let map = cp.structure().filter(|_| cp.needs_segment_map()).map(|s| SegmentMap::build(msg, s));
                cp.get(msg, map.as_ref(), Keys::NONE)
            }
        }
    }
}

/// A compile error of a numeric path without groups (an out-of-range number) as a syntax error.
fn syntax_of(path: &str, e: CompileError) -> PathSyntaxError {
    match e {
        CompileError::Syntax(s) => s,
        other => PathSyntaxError { path: path.to_string(), column: 1, reason: other.to_string() },
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORU: &[u8] = b"MSH|^~\\&|LAB|H|EPR|WARD|20240101||ORU^R01|1|P|2.5\rPID|1||123^^^H~456^^^NHS||Doe^John\r\
OBR|1\rOBX|1|NM|K^Potassium||4.1\rOBX|2|NM|NA^Sodium||140\r";

    fn read(path: &str, msg: &[u8]) -> Option<String> {
        let m = hie_hl7::parse(msg).expect("test message parses");
        FieldPath::parse(path).expect("path parses").value(&m, &Registry::new(), None).map(|v| v.into_owned())
    }

    #[test]
    fn every_form_of_a_path_reads_the_same_field() {
        for p in
            ["PID-3.1", "PID:3.1", "PID:3(1).1", "PID:PatientIdentifierList(1).IDNumber", "HL7.{PID:3.1}", "{PID-3.1}"]
        {
            assert_eq!(read(p, ORU).as_deref(), Some("123"), "{p}");
        }
        assert_eq!(read("MSH:ReceivingFacility.namespaceID", ORU).as_deref(), Some("WARD"));
        assert_eq!(read("MSH:9.1", ORU).as_deref(), Some("ORU"));
        assert_eq!(read("PID:3(2).1", ORU).as_deref(), Some("456"));
    }

    #[test]
    fn group_paths_read_through_the_structure_of_the_message_doc_type() {
        assert_eq!(read("PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5", ORU).as_deref(), Some("140"));
        assert_eq!(read("PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:ObservationValue", ORU).as_deref(), Some("140"));
        // A single segment step is the n-th of that name anywhere, as a short path is.
        assert_eq!(read("OBX(2):5", ORU).as_deref(), Some("140"));
    }

    #[test]
    fn a_message_that_lacks_the_path_or_its_doc_type_has_no_value_and_no_error() {
        let adt = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||9\r";
        assert_eq!(read("PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:5", adt), None);
        let no_version = b"MSH|^~\\&|A|B|C|D|20240101||ZZZ^Z99|1|P\rPID|1||9\r";
        assert_eq!(read("PIDgrpgrp(1).PIDgrp.PID:3", no_version), None);
        assert_eq!(read("PID:PatientIdentifierList.IDNumber", no_version).as_deref(), Some("9"));
        // The cached failure answers the second time too.
        let fp = FieldPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:5").expect("parses");
        let m = hie_hl7::parse(adt).expect("parses");
        for _ in 0..2 {
            assert_eq!(fp.value(&m, &Registry::new(), None), None);
        }
    }

    #[test]
    fn a_misspelt_name_is_found_by_check_and_a_bad_syntax_by_parse() {
        let fp = FieldPath::parse("PID:PatientNmae.FamilyName").expect("syntax is fine");
        assert!(fp.check(&Registry::new(), None).is_err());
        assert!(fp.check_any(&Registry::new()).is_err());
        let v24 = FieldPath::parse("PID:PatientIdentifierList(1).ID").expect("parses");
        assert!(v24.check(&Registry::new(), None).is_err(), "2.8 calls CX.1 IDNumber");
        assert!(v24.check_any(&Registry::new()).is_ok(), "2.4 calls it ID");
        assert!(
            FieldPath::parse("PID:PatientName.FamilyName")
                .expect("parses")
                .check(&Registry::new(), Some("2.5"))
                .is_ok()
        );
        for bad in ["PID:", "PID-x", "3.1", "HL7.{PID:(}", ""] {
            assert!(FieldPath::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_session_category_names_the_doc_type() {
        let m = hie_hl7::parse(ORU).expect("parses");
        let fp = FieldPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:5").expect("parses");
        assert_eq!(
            fp.value(&m, &Registry::new(), Some("NoSuchCategory")),
            None,
            "an unknown category gives no DocType"
        );
        let fp = FieldPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:5").expect("parses");
        assert_eq!(fp.value(&m, &Registry::new(), Some("2.5")).as_deref(), Some("4.1"));
    }
}
