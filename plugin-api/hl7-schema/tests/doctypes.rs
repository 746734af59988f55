//! DocType and DocName resolution for every sample message and every fixture message.

mod common;

use common::{FIXTURES, SAMPLES, hl7_files, registry};
use hie_hl7_schema::{Registry, message_doc_name};

/// (file, category used, DocType, DocName) — category = MSH-12 for the samples.
const SAMPLE_DOCTYPES: &[(&str, &str, &str, &str)] = &[
    ("fhirconv_ADT-A01-01_v28.hl7", "2.8", "2.8:ADT_A01", "ADT_A01"),
    ("fhirconv_ADT-A08-01_v28.hl7", "2.8", "2.8:ADT_A01", "ADT_A08"),
    ("fhirconv_ADT04-23_v23_bom.hl7", "2.3", "2.3:ADT_A01", "ADT_A04"),
    ("fhirconv_MDM-T02-03_v23.hl7", "2.3", "2.3:MDM_T02", "MDM_T02"),
    ("fhirconv_ORM-O01-01_v26_bom.hl7", "2.6", "2.6:ORM_O01", "ORM_O01"),
    ("fhirconv_ORU-R01-01_v251.hl7", "2.5.1", "2.5.1:ORU_R01", "ORU_R01"),
    ("fhirconv_SIU-S12-01_v28.hl7", "2.8", "2.8:SIU_S12", "SIU_S12"),
    ("fhirconv_VXU-V04-01_v28_bom.hl7", "2.8", "2.8:VXU_V04", "VXU_V04"),
    ("pyhl7_rep_subcomponents.hl7", "2.4", "2.4:ORU_R01", "ORU_R01"),
    ("pyhl7_sample_file_FHS_BHS_batch.hl7", "2.5", "2.5:ADT_A01", "ADT_A04"),
    ("pyhl7_sample_msh_ADT_A01_v23_nulls.hl7", "2.3", "2.3:ADT_A01", "ADT_A01"),
];

/// The fixture README's table "What each message is when it arrives".
const FIXTURE_DOCTYPES: &[(&str, &str, &str, &str)] = &[
    ("adt_a01_emergency.hl7", "2.5", "2.5:ADT_A01", "ADT_A01"),
    ("adt_a01_inpatient.hl7", "2.5", "2.5:ADT_A01", "ADT_A01"),
    ("adt_a01_missing_pv1.hl7", "2.5", "2.5:ADT_A01", "ADT_A01"),
    ("adt_a01_ops.hl7", "2.5", "2.5:ADT_A01", "ADT_A01"),
    ("adt_a01_trailing_z.hl7", "2.5", "2.5:ADT_A01", "ADT_A01"),
    ("adt_a03_discharge.hl7", "2.5", "2.5:ADT_A03", "ADT_A03"),
    ("adt_a04_outpatient.hl7", "2.5", "2.5:ADT_A01", "ADT_A04"),
    ("adt_a08_test_patient.hl7", "2.5", "2.5:ADT_A01", "ADT_A08"),
    ("adt_a28_zpi.hl7", "HIE_2.5", "HIE_2.5:ADT_A28", "ADT_A28"),
    ("orm_o01_order.hl7", "2.5", "2.5:ORM_O01", "ORM_O01"),
    ("oru_r01_critical.hl7", "2.5", "2.5:ORU_R01", "ORU_R01"),
    ("oru_r01_normal.hl7", "2.5", "2.5:ORU_R01", "ORU_R01"),
    ("zpi_z01_preferences.hl7", "HIE_2.5", "HIE_2.5:ZPI_Z01", "ZPI_Z01"),
];

fn check(reg: &Registry, dir: &str, table: &[(&str, &str, &str, &str)], by_version: bool) {
    let files = hl7_files(dir);
    assert_eq!(files.len(), table.len(), "every message in {dir} has an expectation");
    for (file, category, doc_type, doc_name) in table {
        let bytes = std::fs::read(format!("{dir}/{file}")).unwrap();
        let units = hie_hl7::split_messages(&bytes).unwrap();
        let msg = hie_hl7::parse(units[0]).unwrap();
        if by_version {
            assert_eq!(msg.version(), Some(*category), "{file}: MSH-12");
        }
        let cat = if by_version { None } else { Some(*category) };
        let d = reg.resolve_message(cat, &msg).unwrap_or_else(|| panic!("{file}: no DocType"));
        assert_eq!(d.to_string(), *doc_type, "{file}");
        assert_eq!(message_doc_name(&msg).as_deref(), Some(*doc_name), "{file}");
        let msh9 = msg.value_str("MSH-9").unwrap().unwrap();
        assert_eq!(
            reg.resolve(category, &msh9).map(|d| d.to_string()).as_deref(),
            Some(*doc_type),
            "{file}: from MSH-9 text"
        );
    }
}

#[test]
fn every_sample_resolves_to_its_doctype_in_its_msh12_category() {
    check(&Registry::new(), SAMPLES, SAMPLE_DOCTYPES, true);
}

#[test]
fn every_fixture_message_resolves_as_the_fixture_readme_says() {
    check(&registry(), &format!("{FIXTURES}/messages"), FIXTURE_DOCTYPES, false);
}

#[test]
fn custom_category_falls_back_to_its_base_for_undefined_message_types() {
    let reg = registry();
    assert_eq!(reg.resolve("HIE_2.5", "ADT^A01").map(|d| d.to_string()).as_deref(), Some("2.5:ADT_A01"));
    assert_eq!(reg.resolve("HIE_2.5", "ADT^A04^ADT_A01").map(|d| d.to_string()).as_deref(), Some("2.5:ADT_A01"));
    assert_eq!(reg.resolve("HIE_2.5", "ADT^A28").map(|d| d.to_string()).as_deref(), Some("HIE_2.5:ADT_A28"));
    assert_eq!(reg.resolve("2.5", "ADT^A28").map(|d| d.to_string()).as_deref(), Some("2.5:ADT_A05"));
    assert_eq!(reg.resolve("HIE_2.5", "ACK^A28").map(|d| d.to_string()).as_deref(), Some("2.5:ACK"));
    assert!(reg.resolve("NOPE", "ADT^A01").is_none());
}

#[test]
fn doctype_text_names_the_defining_category() {
    let reg = registry();
    assert_eq!(reg.doc_type("2.5:ADT_A01").map(|d| d.to_string()).as_deref(), Some("2.5:ADT_A01"));
    assert_eq!(reg.doc_type("HIE_2.5:ADT_A28").map(|d| d.to_string()).as_deref(), Some("HIE_2.5:ADT_A28"));
    assert_eq!(reg.doc_type("HIE_2.5:ADT_A01").map(|d| d.to_string()).as_deref(), Some("2.5:ADT_A01"));
    assert!(reg.doc_type("2.5:NOPE").is_none());
    assert!(reg.doc_type("ADT_A01").is_none());
}

#[test]
fn every_event_of_every_version_resolves_to_its_mapped_structure() {
    let reg = Registry::new();
    for v in hie_hl7_schema::BUILTIN_VERSIONS {
        let cat = reg.category(v).unwrap();
        for key in cat.event_keys() {
            let msh9 = key.replace("^*", "^ZZZ");
            let d = cat.resolve(&msh9).unwrap_or_else(|| panic!("{v} {key}"));
            let (_, want) = cat.event_structure(key).unwrap();
            assert_eq!(d.structure_name(), want, "{v} {key}");
        }
    }
}
