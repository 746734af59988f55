//! Lookup tables: the README's call table after loading both fixture files, and the import
//! semantics (export format replaces a table, legacy format merges).

mod common;

use hie_iris::lookup::{LookupFormat, LookupTables, exists, lookup};

#[test]
fn lookup_calls_give_the_readme_results() {
    let t = common::tables();
    assert_eq!(lookup(&t, "SexCodes", "M", "", 0), "1");
    assert_eq!(lookup(&t, "SexCodes", "X", "", 0), "");
    assert_eq!(lookup(&t, "SexCodes", "X", "9", 0), "9");
    assert_eq!(lookup(&t, "SexCodes", "m", "9", 0), "9");
    assert!(exists(&t, "SexCodes", "F"));
    assert!(!exists(&t, "SexCodes", "f"));
    assert_eq!(lookup(&t, "NoSuchTable", "M", "D", 0), "D");
    assert_eq!(lookup(&t, "", "M", "D", 0), "");
    assert_eq!(lookup(&t, "WardToSite", "", "D", 0), "");
    assert_eq!(lookup(&t, "WardToSite", "", "D", 3), "D");
    assert_eq!(lookup(&t, "CriticalTests", "2823-3", "", 0), "Potassium");
    assert_eq!(t.table_names(), ["CriticalTests", "SexCodes", "WardToSite"]);
}

#[test]
fn export_format_replaces_the_table() {
    let mut t = LookupTables::new();
    t.insert("SexCodes", "X", "stale");
    assert_eq!(t.import(&common::text("lookup/SexCodes.xml")).unwrap(), LookupFormat::Export);
    assert!(!exists(&t, "SexCodes", "X"));
    assert_eq!(lookup(&t, "SexCodes", "U", "", 0), "0");
}

#[test]
fn legacy_format_merges_and_overwrites_same_keys() {
    let mut t = LookupTables::new();
    t.insert("WardToSite", "WARD9", "KEPT");
    t.insert("WardToSite", "WARD1", "OLD");
    assert_eq!(t.import(&common::text("lookup/legacy_tables.xml")).unwrap(), LookupFormat::Legacy);
    assert_eq!(lookup(&t, "WardToSite", "WARD9", "", 0), "KEPT");
    assert_eq!(lookup(&t, "WardToSite", "WARD1", "", 0), "LEEDSGEN");
    assert_eq!(lookup(&t, "WardToSite", "OPD3", "", 0), "WHARFEDALE");
}
