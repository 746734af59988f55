//! Custom categories from IRIS schema exports: the HIE_2.5 fixture, overlay on the base,
//! Z-segment fields by name, chains, tolerated variants and load errors.

mod common;

use common::{fixture, registry};
use hie_hl7_schema::{CompileOptions, CompiledPath, Keys, Optionality, Registry, SchemaError, SegmentMap, field_name};

#[test]
fn fixture_category_loads_with_its_base_and_definitions() {
    let reg = registry();
    let c = reg.category("HIE_2.5").unwrap();
    assert_eq!(c.name(), "HIE_2.5");
    assert!(!c.is_builtin());
    assert_eq!(c.base().map(|b| b.name()), Some("2.5"));
    assert_eq!(c.version(), Some("2.5"));
    assert!(c.description().unwrap().starts_with("HIE test category"));
    let zpi = c.segment("ZPI").unwrap();
    let names: Vec<&str> = zpi.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["SetID", "PreferredName", "PreferredLanguage", "InterpreterRequired", "ContactPreference"]);
    let f1 = zpi.field(1).unwrap();
    assert_eq!(
        (f1.data_type.as_str(), f1.optionality, f1.max_length, f1.max_repeats),
        ("SI", Optionality::Required, Some(4), Some(1))
    );
    let f4 = zpi.field(4).unwrap();
    assert_eq!(f4.table.as_deref(), Some("0136"));
    assert!(c.table("0136").is_some(), "the base's table 0136 is visible");
    assert_eq!(zpi.field(5).unwrap().max_repeats, None);
    let zcp = c.data_type("ZCP").unwrap();
    assert_eq!(zcp.components.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(), ["Channel", "Detail"]);
    assert_eq!(field_name(&c, "ZPI", 2), Some("PreferredName"));
    assert_eq!(c.component("ZPI", 5, 1).map(|x| x.name.as_str()), Some("Channel"));
    assert_eq!(c.component("ZPI", 3, 1).map(|x| x.name.as_str()), Some("Identifier"), "base type CE");
    let s = c.structure("ADT_A28").unwrap();
    assert_eq!(s.category, "HIE_2.5");
    assert_eq!(s.items.last().map(|e| (e.name(), e.min())), Some(("ZPI", 0)));
    assert!(s.items[0].as_segment().unwrap().from_base);
}

#[test]
fn custom_category_inherits_everything_it_does_not_redefine() {
    let reg = registry();
    let c = reg.category("HIE_2.5").unwrap();
    let base = reg.category("2.5").unwrap();
    assert!(std::ptr::eq(c.segment("PID").unwrap(), base.segment("PID").unwrap()));
    assert!(c.structure("ORU_R01").is_some());
    assert_eq!(c.structure_owner("ORU_R01").map(|o| o.name()), Some("2.5"));
    assert_eq!(c.structure_owner("ZPI_Z01").map(|o| o.name()), Some("HIE_2.5"));
    assert!(c.segment_names().contains(&"ZPI") && c.segment_names().contains(&"PID"));
    assert!(c.event_keys().contains(&"ADT^A28") && c.event_keys().contains(&"ADT^A01"));
    assert!(base.segment("ZPI").is_none());
    assert_eq!(c.event_structure("ADT^A28").map(|(o, s)| (o.name(), s)), Some(("HIE_2.5", "ADT_A28")));
    assert_eq!(base.event_structure("ADT^A28").map(|(_, s)| s), Some("ADT_A05"));
}

#[test]
fn z_segment_fields_resolve_by_name_in_the_custom_category() {
    let reg = registry();
    for (file, expect) in [
        (
            "adt_a28_zpi.hl7",
            [
                ("ZPI:PreferredName", "JOHNNY"),
                ("ZPI:PreferredLanguage.Identifier", "cym"),
                ("ZPI:InterpreterRequired", "Y"),
                ("ZPI:ContactPreference(2).Channel", "EMAIL"),
                ("ZPI:ContactPreference(*)", "2"),
                ("PID:PatientName(1).GivenName", "JOHN"),
                ("PV1:PatientClass", "N"),
            ],
        ),
        (
            "zpi_z01_preferences.hl7",
            [
                ("ZPI:PreferredName", "JOHNNY"),
                ("ZPI:PreferredLanguage.Identifier", "eng"),
                ("ZPI:InterpreterRequired", "N"),
                ("ZPI:ContactPreference(1).Channel", "LETTER"),
                ("ZPI:ContactPreference(\"*\")", "1"),
                ("PID:PatientName(1).FamilyName", "SMITH"),
                ("ZPI:4", "N"),
            ],
        ),
    ] {
        let bytes = fixture(file);
        let msg = hie_hl7::parse(&bytes).unwrap();
        let doc = reg.resolve_message(Some("HIE_2.5"), &msg).unwrap();
        let map = SegmentMap::build(&msg, doc.structure());
        assert_eq!(map.unexpected().count(), 0, "{file}");
        let opts = CompileOptions::new().doc_type(&doc);
        for (path, want) in expect {
            let cp = CompiledPath::parse(path, &opts).unwrap_or_else(|e| panic!("{file} {path}: {e}"));
            assert_eq!(cp.get(&msg, Some(&map), Keys::NONE).as_deref(), Some(want), "{file} {path}");
        }
    }
}

#[test]
fn a_chain_of_custom_categories_and_tolerated_variants_load() {
    let mut reg = registry();
    // A bare <Category> root, single quotes, DataType/DataSubType aliases, unknown elements
    // and attributes, pieces out of order with a gap, a CodeTable.
    let xml = r#"<?xml version="1.0"?>
<Category name='LOCAL' base='HIE_2.5' description='chain'>
  <MessageGroup name="ADT"/>
  <SegmentStructure name="ZPI" description="Override">
    <SegmentSubStructure piece="3" description="Third &amp; Last" datatype="2.5:ST" required="X" ifrepeating="1" unknown="x"/>
    <SegmentSubStructure piece="1" description="Set ID" datatype="SI" length="4"/>
  </SegmentStructure>
  <DataType name="ZZT"><DataSubType piece="1" description="Only" datatype="ST"/></DataType>
  <CodeTable name="ZZ1" tabletype="1" description="Yes/No"><Enumerate position="1" value="Y" description="Yes"/><Enumerate position="2" value="N" description="No"/></CodeTable>
  <Whatever/>
</Category>"#;
    let loaded = reg.load_xml(xml, "local.xml").unwrap();
    assert_eq!(loaded.len(), 1);
    let c = reg.category("LOCAL").unwrap();
    let chain: Vec<&str> = c.chain().map(|x| x.name()).collect();
    assert_eq!(chain, ["LOCAL", "HIE_2.5", "2.5"]);
    let zpi = c.segment("ZPI").unwrap();
    assert_eq!(zpi.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["SetID", "", "ThirdLast"]);
    assert_eq!(zpi.field(1).unwrap().max_length, Some(4));
    assert_eq!(
        (
            zpi.field(3).unwrap().optionality,
            zpi.field(3).unwrap().max_repeats,
            zpi.field(3).unwrap().data_type.as_str()
        ),
        (Optionality::NotUsed, None, "ST")
    );
    assert_eq!(c.segment("base:ZPI").map(|s| s.fields.len()), Some(5), "base: skips the override");
    assert_eq!(c.table("ZZ1").and_then(|t| t.value("N")), Some("No"));
    assert_eq!(c.data_type("ZZT").map(|t| t.components.len()), Some(1));
    assert_eq!(reg.resolve("LOCAL", "ADT^A28").map(|d| d.to_string()).as_deref(), Some("HIE_2.5:ADT_A28"));
    assert_eq!(reg.names().last(), Some(&"LOCAL"));
}

#[test]
fn several_categories_in_one_export_may_build_on_each_other() {
    let mut reg = Registry::new();
    let xml = r#"<Export><Document name="A.HL7"><Category name="A" base="2.4"><SegmentStructure name="ZAA"><SegmentSubStructure piece="1" description="Code"/></SegmentStructure></Category></Document>
<Document name="B.HL7"><Category name="B" base="A"/></Document></Export>"#;
    let loaded = reg.load_xml(xml, "ab.xml").unwrap();
    assert_eq!(loaded.iter().map(|c| c.name()).collect::<Vec<_>>(), ["A", "B"]);
    assert!(reg.category("B").unwrap().segment("ZAA").is_some());
    assert_eq!(reg.category("B").unwrap().version(), Some("2.4"));
}

#[test]
fn load_errors_name_the_file_line_and_element() {
    let mut reg = Registry::new();
    let mut err = |xml: &str| reg.load_xml(xml, "bad.xml").unwrap_err();
    let e = err(
        "<Category name=\"X\" base=\"2.5\">\n<SegmentStructure name=\"ZZZ\">\n<SegmentSubStructure description=\"no piece\"/>\n</SegmentStructure></Category>",
    );
    assert_eq!(
        e,
        SchemaError::Invalid {
            file: "bad.xml".into(),
            line: 3,
            element: "SegmentSubStructure".into(),
            message: "missing attribute \"piece\"".into()
        }
    );
    assert!(e.to_string().starts_with("bad.xml:3: <SegmentSubStructure>:"), "{e}");
    let e = err("<Category name=\"X\" base=\"9.9\"/>");
    assert!(matches!(&e, SchemaError::UnknownBase { base, line: 1, .. } if base == "9.9"), "{e}");
    let e = err(
        "<Category name=\"X\" base=\"2.5\">\n\n<MessageStructure name=\"ZZZ_Z01\" definition=\"MSH~[~PID\"/></Category>",
    );
    assert!(
        matches!(&e, SchemaError::Definition { line: 3, structure, message, .. } if structure == "ZZZ_Z01" && message.contains("missing ']'")),
        "{e}"
    );
    let e = err("<Category name=\"2.5\"/>");
    assert!(matches!(e, SchemaError::BuiltinName { .. }), "{e}");
    let e = err("<Export/>");
    assert!(matches!(e, SchemaError::NoCategory { .. }), "{e}");
    let e = err("<Category name=\"X\">\n<SegmentStructure name=\"ZZZ\">\n</Oops></Category>");
    assert!(matches!(e, SchemaError::Xml { line: 3, .. }), "{e}");
    let e = err("<Category name=\"X\"><SegmentSubStructure piece=\"1\"/></Category>");
    assert!(matches!(&e, SchemaError::Invalid { message, .. } if message.contains("outside")), "{e}");
    let e = err(
        "<Category name=\"X\"><SegmentStructure name=\"Z\"><SegmentSubStructure piece=\"0\"/></SegmentStructure></Category>",
    );
    assert!(matches!(&e, SchemaError::Invalid { message, .. } if message.contains("not a number")), "{e}");
    let e = err("<Category base=\"2.5\"/>");
    assert!(matches!(&e, SchemaError::Invalid { element, .. } if element == "Category"), "{e}");
    assert!(reg.custom_names().next().is_none(), "nothing half-loaded");
}
