//! Shared helpers for the integration tests: sample locations and loading.
#![allow(dead_code)]

use std::path::PathBuf;

use hie_hl7_schema::Registry;

/// hie-hl7's copies of /work/shared/samples/hl7 (shipped in the repository).
pub const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../hl7/tests/samples");
/// The IRIS-compatibility fixtures.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/iris");

/// The `.hl7` files of a directory, sorted.
pub fn hl7_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    v.sort();
    v
}

/// A sample's bytes.
pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{SAMPLES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A fixture message's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/messages/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A registry with the fixture custom category HIE_2.5 loaded.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    let xml = std::fs::read_to_string(format!("{FIXTURES}/schema/HIE_2.5.xml")).unwrap();
    r.load_xml(&xml, "HIE_2.5.xml").unwrap();
    r
}
