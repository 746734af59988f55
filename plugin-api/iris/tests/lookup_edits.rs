//! Editing a production's lookup tables live (`catalog::edit_lookups`): each edit leaves the
//! tables exactly as a router loading the directory afterwards sees them, the user's own
//! files untouched, and the catalog fingerprint changed.

use hie_iris::catalog::{self, LookupEdit, LookupEditError};
use hie_iris::lookup::{LookupProvider, LookupTables};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hie-lookup-edits-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lookup")).unwrap();
    std::fs::write(
        dir.join("lookup/legacy.xml"),
        "<lookupTable>\n<entry table=\"WardToSite\" key=\"W1\">SITE_A</entry>\n<entry table=\"WardToSite\" key=\"W2\">SITE_B</entry>\n<entry table=\"Sex\" key=\"M\">1</entry>\n</lookupTable>\n",
    )
    .unwrap();
    dir
}

fn set(table: &str, key: &str, value: &str) -> LookupEdit {
    LookupEdit::Set { table: table.into(), key: key.into(), value: value.into() }
}

fn loaded(dir: &std::path::Path) -> LookupTables {
    catalog::load_lookups(dir).unwrap()
}

#[test]
fn a_set_entry_is_what_the_next_load_reads_and_the_users_file_is_untouched() {
    let dir = scratch("set");
    let before = std::fs::read(dir.join("lookup/legacy.xml")).unwrap();
    let digest = catalog::digest(&dir, None);
    assert_eq!(catalog::edit_lookups(&dir, &set("WardToSite", "W3", "SITE_C")).unwrap(), vec!["WardToSite"]);
    assert_eq!(catalog::edit_lookups(&dir, &set("WardToSite", "W1", "SITE_Z")).unwrap(), vec!["WardToSite"]);
    let t = loaded(&dir);
    assert_eq!(t.get("WardToSite", "W1").as_deref(), Some("SITE_Z"));
    assert_eq!(t.get("WardToSite", "W2").as_deref(), Some("SITE_B"), "the other entries stay");
    assert_eq!(t.get("WardToSite", "W3").as_deref(), Some("SITE_C"));
    assert_eq!(t.get("Sex", "M").as_deref(), Some("1"), "other tables stay");
    assert_eq!(std::fs::read(dir.join("lookup/legacy.xml")).unwrap(), before);
    assert_ne!(catalog::digest(&dir, None), digest, "the fingerprint follows the edit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_deleted_entry_is_gone_and_deleting_a_missing_one_is_an_error() {
    let dir = scratch("delete");
    let del = |k: &str| LookupEdit::Delete { table: "WardToSite".into(), key: k.into() };
    catalog::edit_lookups(&dir, &del("W1")).unwrap();
    let t = loaded(&dir);
    assert_eq!(t.get("WardToSite", "W1"), None);
    assert_eq!(t.get("WardToSite", "W2").as_deref(), Some("SITE_B"));
    assert!(matches!(catalog::edit_lookups(&dir, &del("W1")), Err(LookupEditError::NoSuchEntry { .. })));
    assert!(matches!(catalog::edit_lookups(&dir, &set("", "k", "v")), Err(LookupEditError::Empty)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_import_replaces_export_format_tables_and_merges_legacy_ones() {
    let dir = scratch("import");
    let export = "<Export><Document name=\"WardToSite.LUT\"><lookupTable><entry table=\"WardToSite\" key=\"W9\">NEW</entry></lookupTable></Document></Export>";
    assert_eq!(catalog::edit_lookups(&dir, &LookupEdit::Import(export.into())).unwrap(), vec!["WardToSite"]);
    let t = loaded(&dir);
    assert_eq!(t.entries("WardToSite").unwrap(), vec![("W9", "NEW")], "replaced whole");
    let legacy = "<lookupTable><entry table=\"Sex\" key=\"F\">2</entry></lookupTable>";
    catalog::edit_lookups(&dir, &LookupEdit::Import(legacy.into())).unwrap();
    assert_eq!(loaded(&dir).entries("Sex").unwrap(), vec![("F", "2"), ("M", "1")], "merged");
    let bad = catalog::edit_lookups(
        &dir,
        &LookupEdit::Import("<lookupTable><entry key=\"x\">1</entry></lookupTable>".into()),
    );
    assert!(matches!(bad, Err(LookupEditError::Import(_))), "{bad:?}");
    assert_eq!(loaded(&dir).entries("Sex").unwrap().len(), 2, "a bad import changes nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_table_name_that_is_no_file_name_is_kept_in_an_encoded_file() {
    let dir = scratch("names");
    catalog::edit_lookups(&dir, &set("../Odd/Name \"q\"", "k<", "v&")).unwrap();
    let file = catalog::live_file(&dir, "../Odd/Name \"q\"");
    assert_eq!(file.parent().unwrap(), dir.join("lookup/live"));
    assert!(file.is_file(), "{}", file.display());
    assert_eq!(loaded(&dir).get("../Odd/Name \"q\"", "k<").as_deref(), Some("v&"));
    let _ = std::fs::remove_dir_all(&dir);
}
