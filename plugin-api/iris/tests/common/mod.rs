//! Shared helpers for the fixture tests: paths, the test clock, schemas, lookup tables and
//! evaluation of the fixture messages as the fixtures README describes them.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use hie_hl7_schema::{DocType, Registry};
use hie_iris::env::{DirFileReader, Services};
use hie_iris::lookup::LookupTables;
use hie_iris::rules::{Body, Decision, HL7_MESSAGE_CLASS, Input};
use hie_iris::{IrisClass, RuleDefinition, Transform};

/// `tests/fixtures/iris` of the repository.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/iris")
}

/// A fixture file's text.
pub fn text(rel: &str) -> String {
    std::fs::read_to_string(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A fixture file's bytes.
pub fn bytes(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A local date-time.
pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d).and_then(|d| d.and_hms_opt(h, mi, s)).expect("valid date")
}

/// The fixtures' clock: 2024-06-01T12:00:00.
pub fn now() -> NaiveDateTime {
    at(2024, 6, 1, 12, 0, 0)
}

/// The built-in categories plus `schema/HIE_2.5.xml`.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.load_xml(&text("schema/HIE_2.5.xml"), "HIE_2.5.xml").expect("HIE_2.5 loads");
    r
}

/// Both lookup-table files loaded.
pub fn tables() -> LookupTables {
    let mut t = LookupTables::new();
    t.import(&text("lookup/SexCodes.xml")).expect("SexCodes loads");
    t.import(&text("lookup/legacy_tables.xml")).expect("legacy tables load");
    t
}

/// The MessageSchemaCategory of each service in the fixture production.
pub fn category(source: &str) -> &'static str {
    match source {
        "ZPI_In" => "HIE_2.5",
        _ => "2.5",
    }
}

/// Loads the one class of a fixture file.
pub fn class(rel: &str) -> IrisClass {
    let stem = rel.rsplit('/').next().unwrap_or(rel).trim_end_matches(".xml").trim_end_matches(".cls");
    let mut v = hie_iris::load_classes_named(&text(rel), stem).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(v.len(), 1, "{rel} holds one class");
    v.remove(0)
}

/// Loads a rule fixture.
pub fn rule(rel: &str) -> RuleDefinition {
    match class(rel) {
        IrisClass::Rule(r) => r,
        IrisClass::Dtl(t) => panic!("{rel} is a DTL ({})", t.class),
    }
}

/// Loads a DTL fixture.
pub fn dtl(rel: &str) -> Transform {
    match class(rel) {
        IrisClass::Dtl(t) => t,
        IrisClass::Rule(r) => panic!("{rel} is a rule ({})", r.class),
    }
}

/// Every DTL fixture by class name.
pub fn transforms() -> HashMap<String, Arc<Transform>> {
    let mut m = HashMap::new();
    for f in [
        "dtl/HIE.Test.DTL.ADTToEPR.cls",
        "dtl/HIE.Test.DTL.AuxTag.cls",
        "dtl/HIE.Test.DTL.CriticalAlert.cls",
        "dtl/HIE.Test.DTL.ORUSummary.xml",
        "dtl/HIE.Test.DTL.Sub.PIDNormalise.cls",
        "dtl/HIE.Test.DTL.ZPIPreferences.cls",
    ] {
        let t = dtl(f);
        m.insert(t.class.clone(), Arc::new(t));
    }
    m
}

/// The DocType a fixture message gets from `source`'s MessageSchemaCategory.
pub fn doc_type(reg: &Registry, msg: &hie_hl7::Message<'_>, source: &str) -> Option<DocType> {
    reg.resolve_message(Some(category(source)), msg)
}

/// Evaluates a rule on an HL7 fixture message from `source` at `now`.
pub fn route(rule: &RuleDefinition, message: &str, source: &str, now: NaiveDateTime) -> Decision {
    let reg = registry();
    let tables = tables();
    let files = DirFileReader::new(fixtures().join("rules"));
    let data = bytes(&format!("messages/{message}.hl7"));
    let msg = hie_hl7::parse(&data).expect("fixture message parses");
    let doc = doc_type(&reg, &msg, source);
    let name = hie_hl7_schema::message_doc_name(&msg).unwrap_or_default();
    let input = Input {
        body: Body::Hl7(&msg),
        msg_class: HL7_MESSAGE_CLASS,
        doc_type: doc.as_ref(),
        doc_name: &name,
        source,
        services: Services { lookups: &tables, files: &files, now },
    };
    rule.evaluate(&input)
}

/// `(target, transform)` pairs with `-` for no transform, as the README lists them.
pub fn sends(d: &Decision) -> Vec<String> {
    d.flat_sends().into_iter().map(|(t, x)| format!("{t}/{}", x.as_deref().unwrap_or("-"))).collect()
}
