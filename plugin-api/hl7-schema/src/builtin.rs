//! The built-in categories 2.1 to 2.8.2, embedded from `data/*.json`.
//!
//! # Invariants
//!
//! - Each version's JSON is compiled into the binary (`include_str!`) and parsed at most once
//!   per process, on first use, into a `OnceLock<Arc<Category>>`. Later calls only clone the
//!   `Arc`.
//! - The embedded files are generated and checked (`gen/check.py`); a file that fails to parse
//!   is a build defect. It is reported as `None` from [`builtin`] (and by the unit test that
//!   loads every version), never as a panic.
//! - [`BUILTIN_VERSIONS`] is ordered oldest first; [`LATEST`] is its last entry.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::model::{
    Category, ComponentDef, DataType, Element, FieldDef, GroupElement, MessageStructure, Optionality, SegmentDef,
    SegmentElement, Table,
};

/// The built-in category names, oldest first.
pub const BUILTIN_VERSIONS: [&str; 13] =
    ["2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"];

/// The newest built-in version, used for symbolic names when no DocType is known.
pub const LATEST: &str = "2.8.2";

const DATA: [&str; 13] = [
    include_str!("../data/2.1.json"),
    include_str!("../data/2.2.json"),
    include_str!("../data/2.3.json"),
    include_str!("../data/2.3.1.json"),
    include_str!("../data/2.4.json"),
    include_str!("../data/2.5.json"),
    include_str!("../data/2.5.1.json"),
    include_str!("../data/2.6.json"),
    include_str!("../data/2.7.json"),
    include_str!("../data/2.7.1.json"),
    include_str!("../data/2.8.json"),
    include_str!("../data/2.8.1.json"),
    include_str!("../data/2.8.2.json"),
];

static LOADED: [OnceLock<Option<Arc<Category>>>; 13] = [const { OnceLock::new() }; 13];

/// The built-in category `version` (`"2.5"`), parsed on first use. `None` for a name that is
/// not one of [`BUILTIN_VERSIONS`].
pub fn builtin(version: &str) -> Option<Arc<Category>> {
    let i = BUILTIN_VERSIONS.iter().position(|v| *v == version)?;
    LOADED[i].get_or_init(|| parse_version(DATA[i]).ok().map(Arc::new)).clone()
}

/// The built-in category that best fits an MSH-12 version: the exact version, else the
/// longest built-in that is a prefix of it at a dot (`2.5.2` → `2.5`), else the newest
/// built-in older than it (`2.9` → `2.8.2`). `None` for text that is not a version.
pub fn builtin_for_version(version: &str) -> Option<Arc<Category>> {
    let v = version.trim();
    if let Some(c) = builtin(v) {
        return Some(c);
    }
    let prefix = BUILTIN_VERSIONS.iter().rev().find(|b| v.strip_prefix(**b).is_some_and(|rest| rest.starts_with('.')));
    if let Some(b) = prefix {
        return builtin(b);
    }
    let key = version_key(v)?;
    let older = BUILTIN_VERSIONS.iter().rev().find(|b| version_key(b).is_some_and(|k| k <= key))?;
    builtin(older)
}

/// `"2.5.1"` → `[2, 5, 1]`; `None` unless the text is dot-separated numbers.
fn version_key(v: &str) -> Option<Vec<u32>> {
    v.split('.').map(|p| p.parse::<u32>().ok()).collect()
}

// ---- JSON shape (docs/hl7-schemas.md "JSON format") ----

#[derive(Deserialize)]
struct RawFile {
    version: String,
    events: HashMap<String, String>,
    messages: HashMap<String, RawMessage>,
    segments: HashMap<String, RawSegment>,
    types: HashMap<String, RawType>,
    tables: HashMap<String, RawTable>,
}

#[derive(Deserialize)]
struct RawMessage {
    desc: Option<String>,
    items: Vec<RawElement>,
}

#[derive(Deserialize)]
struct RawElement {
    s: Option<String>,
    g: Option<String>,
    n: Option<String>,
    hl7: Option<String>,
    #[serde(default)]
    any: bool,
    #[serde(default)]
    choice: bool,
    min: u32,
    max: i64,
    #[serde(default)]
    items: Vec<RawElement>,
}

#[derive(Deserialize)]
struct RawSegment {
    desc: Option<String>,
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
struct RawField {
    name: String,
    desc: String,
    #[serde(rename = "type")]
    ty: String,
    opt: Option<String>,
    #[serde(default = "one")]
    rep: i64,
    len: Option<u32>,
    table: Option<String>,
}

fn one() -> i64 {
    1
}

#[derive(Deserialize)]
struct RawType {
    desc: Option<String>,
    components: Vec<RawField>,
}

#[derive(Deserialize)]
struct RawTable {
    desc: Option<String>,
    values: BTreeMap<String, String>,
}

fn max_of(n: i64) -> Option<u32> {
    if n < 0 { None } else { Some(u32::try_from(n).unwrap_or(u32::MAX)) }
}

fn element(raw: RawElement) -> Element {
    let max = max_of(raw.max);
    match (raw.s, raw.g) {
        (Some(s), _) => Element::Segment(SegmentElement {
            name: raw.n.unwrap_or_else(|| s.clone()),
            segment: s,
            min: raw.min,
            max,
            any: raw.any,
            from_base: false,
        }),
        (None, g) => Element::Group(GroupElement {
            name: g.unwrap_or_default(),
            hl7_name: raw.hl7,
            min: raw.min,
            max,
            choice: raw.choice,
            items: raw.items.into_iter().map(element).collect(),
        }),
    }
}

fn field(raw: RawField) -> FieldDef {
    FieldDef {
        name: raw.name,
        description: raw.desc,
        data_type: raw.ty,
        optionality: raw.opt.as_deref().map_or(Optionality::Optional, Optionality::from_code),
        max_repeats: max_of(raw.rep),
        max_length: raw.len,
        table: raw.table,
    }
}

fn component(raw: RawField) -> ComponentDef {
    ComponentDef {
        name: raw.name,
        description: raw.desc,
        data_type: raw.ty,
        optionality: raw.opt.as_deref().map(Optionality::from_code),
        max_length: raw.len,
        table: raw.table,
    }
}

/// Parses one version file into a category.
pub(crate) fn parse_version(json: &str) -> Result<Category, serde_json::Error> {
    let raw: RawFile = serde_json::from_str(json)?;
    let name = raw.version;
    let structures = raw
        .messages
        .into_iter()
        .map(|(k, m)| {
            let s = MessageStructure {
                name: k.clone(),
                category: name.clone(),
                description: m.desc,
                items: m.items.into_iter().map(element).collect(),
            };
            (k, Arc::new(s))
        })
        .collect();
    let segments = raw
        .segments
        .into_iter()
        .map(|(k, s)| {
            let def =
                SegmentDef { name: k.clone(), description: s.desc, fields: s.fields.into_iter().map(field).collect() };
            (k, def)
        })
        .collect();
    let types = raw
        .types
        .into_iter()
        .map(|(k, t)| {
            let def = DataType {
                name: k.clone(),
                description: t.desc,
                components: t.components.into_iter().map(component).collect(),
            };
            (k, def)
        })
        .collect();
    let tables = raw
        .tables
        .into_iter()
        .map(|(k, t)| (k.clone(), Table { id: k, description: t.desc, values: t.values.into_iter().collect() }))
        .collect();
    Ok(Category {
        name,
        description: None,
        base: None,
        builtin: true,
        events: raw.events,
        structures,
        segments,
        types,
        tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_version_loads_with_its_own_name() {
        for (i, v) in BUILTIN_VERSIONS.iter().enumerate() {
            let parsed = parse_version(DATA[i]);
            assert!(parsed.is_ok(), "{v}: {:?}", parsed.err());
            let c = builtin(v).unwrap_or_else(|| panic!("{v} did not load"));
            assert_eq!(c.name(), *v);
            assert!(c.is_builtin());
            assert!(c.structure("ACK").is_some(), "{v} has ACK");
            assert!(c.segment("MSH").is_some_and(|s| s.fields.len() >= 12), "{v} MSH");
            assert!(c.event_structure("ACK^*").is_some(), "{v} ACK^*");
        }
        assert_eq!(BUILTIN_VERSIONS.last(), Some(&LATEST));
    }

    #[test]
    fn builtin_is_parsed_once_and_shared() {
        let a = builtin("2.5").unwrap();
        let b = builtin("2.5").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(builtin("2.9").is_none());
        assert!(builtin("").is_none());
    }

    #[test]
    fn version_fallback_picks_the_nearest_builtin() {
        assert_eq!(builtin_for_version("2.5.1").unwrap().name(), "2.5.1");
        assert_eq!(builtin_for_version(" 2.4 ").unwrap().name(), "2.4");
        assert_eq!(builtin_for_version("2.5.2").unwrap().name(), "2.5");
        assert_eq!(builtin_for_version("2.3.2").unwrap().name(), "2.3");
        assert_eq!(builtin_for_version("2.9").unwrap().name(), "2.8.2");
        assert_eq!(builtin_for_version("2.10").unwrap().name(), "2.8.2");
        assert!(builtin_for_version("1.0").is_none());
        assert!(builtin_for_version("abc").is_none());
    }

    #[test]
    fn structures_fields_types_and_tables_carry_the_json_values() {
        let c = builtin("2.5").unwrap();
        let oru = c.structure("ORU_R01").unwrap();
        let g = oru.items[2].as_group().unwrap();
        assert_eq!(
            (g.name.as_str(), g.hl7_name.as_deref(), g.min, g.max),
            ("PIDgrpgrp", Some("ORU_R01.PATIENT_RESULT"), 1, None)
        );
        let pid = c.segment("PID").unwrap();
        let f = pid.field(5).unwrap();
        assert_eq!((f.name.as_str(), f.data_type.as_str(), f.max_repeats), ("PatientName", "XPN", None));
        assert_eq!(pid.field_by_name("patientname").map(|(n, _)| n), Some(5));
        let hd = c.data_type("HD").unwrap();
        assert_eq!(hd.component_by_name("namespaceid").map(|(n, c)| (n, c.table.as_deref())), Some((1, Some("0300"))));
        assert_eq!(c.table("0001").and_then(|t| t.value("F")), Some("Female"));
        assert_eq!(c.table("1").map(|t| t.id.as_str()), Some("0001"));
        let adt = c.structure("ADT_A01").unwrap();
        assert!(adt.items.iter().any(|e| e.name() == "ROLi2"));
    }
}
