//! Every path form against real samples and the IRIS fixtures: numeric, symbolic, groups,
//! `()`, `(*)`, keys, short paths, whole segments, relative paths, and errors.

mod common;

use std::ops::ControlFlow;

use common::{fixture, registry, sample};
use hie_hl7::Message;
use hie_hl7_schema::{
    CompileError, CompileOptions, CompiledPath, DocType, Keys, Location, Node, Registry, SegmentMap, SegmentScope,
    VirtualPath,
};

/// A message with its DocType (from MSH-12, or `category`) and segment map.
struct Doc<'a> {
    msg: Message<'a>,
    doc: DocType,
    map: SegmentMap,
}

fn doc<'a>(reg: &Registry, bytes: &'a [u8], category: Option<&str>) -> Doc<'a> {
    let msg = hie_hl7::parse(bytes).unwrap();
    let doc = reg.resolve_message(category, &msg).unwrap();
    let map = SegmentMap::build(&msg, doc.structure());
    Doc { msg, doc, map }
}

impl Doc<'_> {
    fn compile(&self, path: &str) -> CompiledPath {
        CompiledPath::parse(path, &CompileOptions::new().doc_type(&self.doc)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn err(&self, path: &str) -> CompileError {
        CompiledPath::parse(path, &CompileOptions::new().doc_type(&self.doc)).expect_err(path)
    }

    fn get(&self, path: &str) -> Option<String> {
        self.compile(path).get(&self.msg, Some(&self.map), Keys::NONE).map(|c| c.into_owned())
    }

    fn count(&self, path: &str) -> usize {
        self.compile(path).count(&self.msg, Some(&self.map), Keys::NONE)
    }

    fn all(&self, path: &str) -> Vec<String> {
        let cp = self.compile(path);
        let mut out = Vec::new();
        cp.for_each(&self.msg, Some(&self.map), Keys::NONE, |n| {
            let v = match n {
                Node::Value(l) => l.value(&self.msg).unwrap().into_owned(),
                Node::Segment(i) => format!("#{i}"),
                Node::Group { first, last } => format!("#{first}..{last}"),
            };
            out.push(v);
            ControlFlow::Continue(())
        });
        out
    }
}

fn oru251(reg: &Registry) -> Vec<u8> {
    let _ = reg;
    sample("fhirconv_ORU-R01-01_v251.hl7")
}

#[test]
fn numeric_paths_read_fields_repetitions_components_and_subcomponents() {
    let reg = Registry::new();
    let bytes = oru251(&reg);
    let d = doc(&reg, &bytes, None);
    assert_eq!(d.get("MSH:9.1").as_deref(), Some("ORU"));
    assert_eq!(d.get("MSH:9").as_deref(), Some("ORU^R01^ORU_R01"));
    assert_eq!(d.get("MSH:1").as_deref(), Some("|"));
    assert_eq!(d.get("MSH:2").as_deref(), Some("^~\\&"));
    assert_eq!(d.get("MSH:12").as_deref(), Some("2.5.1"));
    assert_eq!(d.get("PIDgrpgrp(1).PIDgrp.PID:3(1).4.2").as_deref(), Some("2.16.840.1.114222.4.3.3.5.1.2"));
    assert_eq!(d.get("PIDgrpgrp(1).PIDgrp.PID:5(1).1").as_deref(), Some("Finn"));
    assert_eq!(d.get("PIDgrpgrp(1).PIDgrp.PID:5.2").as_deref(), Some("Huckleberry"));
    assert_eq!(d.get("PIDgrpgrp(1).PIDgrp.PID:10(2).2").as_deref(), Some("American Indian or Alaska Native"));
    assert_eq!(d.get("PIDgrpgrp(1).PIDgrp.PID:99"), None);
    assert_eq!(d.get("PIDgrpgrp(1).PIDgrp.PID:3(9)"), None);
    // `3:5`: field 5 of the 3rd segment (PID).
    assert_eq!(d.get("3:5.1").as_deref(), Some("Finn"));
    assert_eq!(d.get("99:1"), None);
}

#[test]
fn symbolic_paths_match_names_case_insensitively() {
    let reg = Registry::new();
    let bytes = oru251(&reg);
    let d = doc(&reg, &bytes, None);
    assert_eq!(d.get("MSH:ReceivingFacility.namespaceID").as_deref(), Some("IA DOH"));
    assert_eq!(d.get("MSH:receivingfacility.NAMESPACEID").as_deref(), Some("IA DOH"));
    assert_eq!(d.get("MSH:SendingApplication.UniversalIDType").as_deref(), Some("ISO"));
    assert_eq!(d.get("PIDgrpgrp(1).PIDgrp.PID:PatientName(1).FamilyName").as_deref(), Some("Finn"));
    assert_eq!(d.get("pidgrpgrp(1).pidgrp.pid:patientname(1).givenname").as_deref(), Some("Huckleberry"));
    assert_eq!(
        d.get("PIDgrpgrp(1).PIDgrp.PID:PatientIdentifierList(1).AssigningAuthority.UniversalID").as_deref(),
        Some("2.16.840.1.114222.4.3.3.5.1.2")
    );
    // 2.3.1 spells XPN.1 "family+last name" → familylastname (docs/hl7-schemas.md).
    let v231 = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.3.1\rEVN|A01\rPID|1||42^^^H^MR||Twain^Mark\rPV1|1|I\r";
    let d = doc(&reg, v231, None);
    assert_eq!(d.doc.to_string(), "2.3.1:ADT_A01");
    assert_eq!(d.get("PID:PatientName(1).familylastname").as_deref(), Some("Twain"));
    assert_eq!(d.get("PID:PatientIdentifierList(1).identifiertypecode").as_deref(), Some("MR"));
}

#[test]
fn group_paths_reach_segments_inside_their_group_instances() {
    let reg = Registry::new();
    let bytes = oru251(&reg);
    let d = doc(&reg, &bytes, None);
    // The sample has an OBX before its OBR: ORC + OBX form order 1, the OBR starts order 2.
    assert_eq!(
        d.get("PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:ObservationValue").as_deref(),
        Some("App5^NS^Octet-stream^Base64")
    );
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:ObservationValue"), None);
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(2).OBXgrp(1).OBX:5.1").as_deref(), Some("27268008"),);
    assert_eq!(
        d.get("PIDgrpgrp(1).ORCgrp(2).OBXgrp(1).OBX:5").as_deref(),
        d.get("PIDgrpgrp(1).ORCgrp(2).OBXgrp(1).OBX:ObservationValue").as_deref()
    );
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(2).OBR:4.2").as_deref(), Some("Bacteria identified in Stool by Culture"));
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(2).SPMgrp(1).OBX(2):ObservationValue(2)").as_deref(), Some("25"));
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(2).OBXgrp(1).NTE(2):3").as_deref(), Some("No Antibodies Detected"));
    assert_eq!(d.get("PIDgrpgrp(1).PIDgrp.PV1grp.PV1:PatientClass").as_deref(), Some("P"));
    assert_eq!(d.get("PIDgrpgrp(2).PIDgrp.PID:5"), None);
    // A whole segment reads as its text.
    assert!(d.get("PIDgrpgrp(1).ORCgrp(2).OBR").unwrap().starts_with("OBR|1|845439^GHH OE|"));

    let f = registry();
    let bytes = fixture("oru_r01_normal.hl7");
    let d = doc(&f, &bytes, Some("2.5"));
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:ObservationValue").as_deref(), Some("140"));
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(2).OBXgrp(3).OBX:5"), None);
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(1).OBXgrp(3).OBX:3.1").as_deref(), Some("718-7"));
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:ObservationIdentifier.Text").as_deref(), Some("Potassium"));
    assert_eq!(d.get("PIDgrpgrp(1).PIDgrp.PV1grp.PV1:3.1").as_deref(), Some("WARD1"));
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(1).OBR:13"), None);
    assert_eq!(d.get("PIDgrpgrp(1).PIDgrp.PID:PatientIdentifierList(1).IDNumber").as_deref(), Some("9434765919"));
}

#[test]
fn counts_with_star_count_groups_segments_and_repetitions() {
    let reg = Registry::new();
    let bytes = oru251(&reg);
    let d = doc(&reg, &bytes, None);
    assert_eq!(d.count("PIDgrpgrp(*)"), 1);
    assert_eq!(d.count("PIDgrpgrp(1).ORCgrp(*)"), 2);
    assert_eq!(d.count("PIDgrpgrp(1).ORCgrp(2).OBXgrp(*)"), 1);
    assert_eq!(d.count("PIDgrpgrp(1).ORCgrp(2).NTE(*)"), 2);
    assert_eq!(d.count("PIDgrpgrp(1).ORCgrp(2).SPMgrp(1).OBX(*)"), 2);
    assert_eq!(d.count("PIDgrpgrp(1).ORCgrp(2).OBXgrp(1).NTE(*)"), 2);
    assert_eq!(d.count("PIDgrpgrp(1).PIDgrp.PID:10(*)"), 2);
    assert_eq!(d.count("PIDgrpgrp(1).PIDgrp.PID:2(*)"), 0, "empty field has no repetitions");
    assert_eq!(d.count("PIDgrpgrp(1).PIDgrp.PID:99(*)"), 0);
    assert_eq!(d.count("SFT(*)"), 1);
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(\"*\")").as_deref(), Some("2"));

    let f = registry();
    let bytes = fixture("oru_r01_normal.hl7");
    let d = doc(&f, &bytes, Some("2.5"));
    assert_eq!(d.count("PIDgrpgrp(1).ORCgrp(1).OBXgrp(*)"), 4);
    assert_eq!(d.get("PIDgrpgrp(1).ORCgrp(1).OBXgrp(*)").as_deref(), Some("4"));
    assert_eq!(d.count("PIDgrpgrp(1).PIDgrp.PID:3(*)"), 2);
    let bytes = fixture("adt_a01_ops.hl7");
    let d = doc(&f, &bytes, Some("2.5"));
    assert_eq!(d.count("OBX(*)"), 2);
    let bytes = sample("fhirconv_MDM-T02-03_v23.hl7");
    let d = doc(&reg, &bytes, None);
    assert_eq!(d.count("OBX(*)"), 29);
}

#[test]
fn empty_parentheses_iterate_every_occurrence() {
    let f = registry();
    let bytes = fixture("oru_r01_normal.hl7");
    let d = doc(&f, &bytes, Some("2.5"));
    assert_eq!(d.all("PIDgrpgrp(1).ORCgrp(1).OBXgrp().OBX:3.1"), ["2823-3", "2951-2", "718-7", "COMMENT"]);
    assert_eq!(d.all("PIDgrpgrp(1).ORCgrp(1).OBXgrp().OBX"), ["#5", "#6", "#7", "#8"]);
    assert_eq!(d.all("PIDgrpgrp(1).ORCgrp(1).OBXgrp()"), ["#5..5", "#6..6", "#7..7", "#8..8"]);
    assert_eq!(d.count("PIDgrpgrp(1).ORCgrp(1).OBXgrp()"), 4);
    assert_eq!(d.all("PIDgrpgrp(1).PIDgrp.PID:3().1"), ["9434765919", "RXX123456"]);
    assert_eq!(d.all("PIDgrpgrp(1).PIDgrp.PID:PatientIdentifierList().AssigningAuthority"), ["NHS", "RXX"]);
    // resolve() flattens group instances into their segments.
    let cp = d.compile("PIDgrpgrp(1).ORCgrp(1)");
    let locs = cp.resolve(&d.msg, Some(&d.map), Keys::NONE);
    assert_eq!(locs.iter().map(|l| l.segment_index).collect::<Vec<_>>(), [3, 4, 5, 6, 7, 8]);

    let reg = Registry::new();
    let bytes = oru251(&reg);
    let d = doc(&reg, &bytes, None);
    assert_eq!(d.all("PIDgrpgrp(1).ORCgrp(2).SPMgrp(1).OBX():5(1)"), ["https://testurl.com^^image^PICT", "27"]);
    assert_eq!(d.all("PIDgrpgrp(1).ORCgrp().OBR:1"), ["1"]);
    // One node per group instance, even when instances of different parents follow each other.
    assert_eq!(d.all("PIDgrpgrp(1).ORCgrp().OBXgrp()"), ["#10..12", "#19..22"]);
    assert_eq!(d.count("PIDgrpgrp(1).ORCgrp().OBXgrp()"), 2);
    let two = b"MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rPID|1\rOBR|1\rOBX|1\rOBR|2\rOBX|1\rOBX|2\r";
    let d2 = doc(&reg, two, None);
    assert_eq!(d2.all("PIDgrpgrp(1).ORCgrp().OBXgrp()"), ["#3..3", "#5..5", "#6..6"]);
    assert_eq!(d2.all("PIDgrpgrp().ORCgrp()"), ["#2..3", "#4..6"]);
    assert_eq!(d.all("PIDgrpgrp(1).ORCgrp(2).OBXgrp(1).NTE():3"), ["Submission of serum", "No Antibodies Detected"]);
}

#[test]
fn key_variables_select_the_bound_occurrence() {
    let f = registry();
    let bytes = fixture("oru_r01_normal.hl7");
    let d = doc(&f, &bytes, Some("2.5"));
    let cp = d.compile("PIDgrpgrp(1).ORCgrp(1).OBXgrp(k1).OBX:5");
    let read = |k: usize| cp.get(&d.msg, Some(&d.map), Keys::new(&[("k1", k)])).map(|c| c.into_owned());
    assert_eq!(read(1).as_deref(), Some("4.1"));
    assert_eq!(read(3).as_deref(), Some("112"));
    assert_eq!(read(5), None);
    assert_eq!(cp.get(&d.msg, Some(&d.map), Keys::NONE), None, "an unbound key selects nothing");
    // The DTL loop: count the groups, then visit each with the key bound.
    let n = d.compile("PIDgrpgrp(1).ORCgrp(1).OBXgrp()").count(&d.msg, Some(&d.map), Keys::NONE);
    let values: Vec<String> = (1..=n).filter_map(read).collect();
    assert_eq!(values, ["4.1", "140", "112", "Sample slightly haemolysed"]);
}

#[test]
fn short_paths_read_exactly_what_hie_hl7_reads() {
    let reg = Registry::new();
    for name in ["fhirconv_ORU-R01-01_v251.hl7", "fhirconv_ADT-A01-01_v28.hl7", "pyhl7_rep_subcomponents.hl7"] {
        let bytes = sample(name);
        let d = doc(&reg, &bytes, None);
        for p in [
            "PID-3.1",
            "PID-3(1).4.2",
            "OBX(2)-5",
            "OBX(2)-5(2)",
            "PID.3",
            "PID-5",
            "MSH-9.2",
            "PID-4(2)",
            "OBX(3)-3.1",
            "ZZZ-1",
        ] {
            let cp = d.compile(p);
            let want = d.msg.value_str(p).unwrap().map(|c| c.into_owned());
            assert_eq!(cp.get(&d.msg, Some(&d.map), Keys::NONE).map(|c| c.into_owned()), want, "{name} {p}");
            assert_eq!(
                cp.get_raw(&d.msg, None, Keys::NONE),
                d.msg.get_str(p).unwrap(),
                "{name} {p} raw, no map needed"
            );
        }
    }
}

#[test]
fn without_a_doctype_segments_are_found_by_name_and_names_come_from_the_latest_version() {
    let bytes = fixture("oru_r01_normal.hl7");
    let msg = hie_hl7::parse(&bytes).unwrap();
    let none = CompileOptions::new();
    let get = |p: &str| CompiledPath::parse(p, &none).unwrap().get(&msg, None, Keys::NONE).map(|c| c.into_owned());
    assert_eq!(get("OBX(2):5").as_deref(), Some("140"));
    assert_eq!(get("OBX(2):ObservationValue").as_deref(), Some("140"));
    assert_eq!(get("PID:PatientName.FamilyName").as_deref(), Some("SMITH"));
    assert_eq!(get("OBX:ObservationIdentifier.Text").as_deref(), Some("Potassium"));
    assert_eq!(CompiledPath::parse("OBX(*)", &none).unwrap().count(&msg, None, Keys::NONE), 4);
    let e = CompiledPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5", &none).unwrap_err();
    assert!(matches!(e, CompileError::NeedsDocType { ref step, .. } if step == "PIDgrpgrp"), "{e}");
    assert!(e.to_string().contains("need a DocType"), "{e}");
    assert!(matches!(CompiledPath::parse("ZPI:PreferredName", &none), Err(CompileError::UnknownSegment { .. })));
    // 2.8.2 renamed OBX-8 (InterpretationCodes); an older version's name still resolves.
    assert_eq!(get("OBX(3):InterpretationCodes").as_deref(), Some("L"));
    assert_eq!(get("OBX(3):AbnormalFlags").as_deref(), Some("L"));
    // With a category given, only its names count.
    let v25 = hie_hl7_schema::builtin("2.5").unwrap();
    let in25 = CompileOptions::new().category(&v25);
    assert!(matches!(CompiledPath::parse("OBX:InterpretationCodes", &in25), Err(CompileError::UnknownField { .. })));
    // The one-off helpers do the same.
    let p = VirtualPath::parse("OBX(3):5").unwrap();
    assert_eq!(hie_hl7_schema::get(&msg, None, &p).unwrap().as_deref(), Some("112"));
    assert_eq!(hie_hl7_schema::count(&msg, None, &VirtualPath::parse("OBX(*)").unwrap()).unwrap(), 4);
}

#[test]
fn iris_scope_refuses_nested_segments_and_message_scope_finds_them() {
    let f = registry();
    let bytes = fixture("oru_r01_normal.hl7");
    let d = doc(&f, &bytes, Some("2.5"));
    let e = d.err("OBX(1):3.2");
    assert!(
        matches!(&e, CompileError::NotTopLevel { hint, .. } if hint == "PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX"),
        "{e}"
    );
    let lenient = CompileOptions::new().doc_type(&d.doc).scope(SegmentScope::Message);
    let cp = CompiledPath::parse("OBX(2):3.2", &lenient).unwrap();
    assert!(!cp.needs_segment_map());
    assert_eq!(cp.get(&d.msg, None, Keys::NONE).as_deref(), Some("Sodium"));
    assert_eq!(d.get("MSH:10").as_deref(), Some("LAB0001"), "top-level segments need no groups");
    // Group paths still go through the structure in message scope.
    let cp = CompiledPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5", &lenient).unwrap();
    assert_eq!(cp.get(&d.msg, Some(&d.map), Keys::NONE).as_deref(), Some("140"));
    let groups = CompiledPath::parse("PIDgrpgrp(*)", &lenient).unwrap();
    assert_eq!(groups.count(&d.msg, Some(&d.map), Keys::NONE), 1, "group steps still use the structure");
    // Square brackets: every OBX regardless of the structure.
    let sq = CompiledPath::square_bracket("OBX:3.1", &CompileOptions::new().doc_type(&d.doc)).unwrap();
    let mut v = Vec::new();
    sq.for_each(&d.msg, None, Keys::NONE, |n| {
        if let Node::Value(l) = n {
            v.push(l.value(&d.msg).unwrap().into_owned());
        }
        ControlFlow::Continue(())
    });
    assert_eq!(v, ["2823-3", "2951-2", "718-7", "COMMENT"]);
}

#[test]
fn top_level_segments_and_duplicate_siblings_in_adt() {
    let reg = Registry::new();
    let bytes = sample("fhirconv_ADT-A01-01_v28.hl7");
    let d = doc(&reg, &bytes, None);
    assert_eq!(d.get("ROL(1):3.2").as_deref(), Some("Primary Care Provider"));
    assert_eq!(d.get("ROLi2:1").as_deref(), Some("1"));
    assert_eq!(d.get("ROL2:2").as_deref(), Some("AD"), "ROL2 is an alias of ROLi2");
    assert_eq!(d.count("ROL(*)"), 1);
    assert_eq!(d.get("PR1grp(1).ROL:4.2").as_deref(), Some("Phoeb"));
    assert_eq!(d.get("IN1grp(1).IN2:2").as_deref(), Some("425-57-9745"));
    assert_eq!(d.get("PID:PatientName(1).FamilyName.Surname").as_deref(), Some("EVERYMAN"));
    let locs = d.compile("NK1(1):2").resolve(&d.msg, Some(&d.map), Keys::NONE);
    assert_eq!(
        locs,
        [Location { segment_index: 7, field: Some(2), repetition: None, component: None, subcomponent: None }]
    );
    let p = locs[0].to_path(&d.msg).unwrap();
    assert_eq!(p.to_string(), "NK1-2");
}

#[test]
fn choice_levels_may_be_written_or_skipped() {
    let f = registry();
    let bytes = fixture("orm_o01_order.hl7");
    let d = doc(&f, &bytes, Some("2.5"));
    assert_eq!(d.get("ORCgrp(1).OBRuniongrp.OBRunion.OBR:4.2").as_deref(), Some("Full blood count"));
    assert_eq!(d.get("ORCgrp(1).OBRuniongrp.OBR:4.2").as_deref(), Some("Full blood count"));
    assert_eq!(d.get("PIDgrp.PID:5.1").as_deref(), Some("SMITH"));
    assert_eq!(d.get("ORCgrp(1).ORC:2").as_deref(), Some("ORD1003"));
}

#[test]
fn z_segments_outside_the_structure_are_addressable_where_they_were_found() {
    let f = registry();
    let bytes = fixture("adt_a01_trailing_z.hl7");
    let d = doc(&f, &bytes, Some("2.5"));
    assert_eq!(d.get("ZXX:2").as_deref(), Some("LOCAL DATA"));
    assert_eq!(d.count("ZXX(*)"), 1);
    assert_eq!(d.map.unexpected().collect::<Vec<_>>(), [4]);
    assert_eq!(d.map.element_path(4).as_deref(), Some("ZXX"));
}

#[test]
fn relative_paths_apply_to_a_given_segment() {
    let f = registry();
    let bytes = fixture("oru_r01_critical.hl7");
    let d = doc(&f, &bytes, Some("2.5"));
    let foreach = d.compile("PIDgrpgrp(1).ORCgrp(1).OBXgrp().OBX");
    assert_eq!(foreach.segment_id(), Some("OBX"));
    let opts = CompileOptions::new().doc_type(&d.doc).segment(foreach.segment_id().unwrap());
    let flags = CompiledPath::parse_relative("AbnormalFlags", &opts).unwrap();
    let text = CompiledPath::parse_relative("ObservationIdentifier.Text", &opts).unwrap();
    let five = CompiledPath::parse_relative("5", &CompileOptions::new()).unwrap();
    let mut seen = Vec::new();
    foreach.for_each(&d.msg, Some(&d.map), Keys::NONE, |n| {
        let Node::Segment(i) = n else { return ControlFlow::Continue(()) };
        let f = flags.get_in(&d.msg, i, Keys::NONE).unwrap_or_default();
        seen.push(format!(
            "{}={}:{}",
            text.get_in(&d.msg, i, Keys::NONE).unwrap_or_default(),
            five.get_in(&d.msg, i, Keys::NONE).unwrap_or_default(),
            f
        ));
        ControlFlow::Continue(())
    });
    assert_eq!(seen, ["Sodium=139:N", "Potassium=6.8:HH", "Haemoglobin=140:N"]);
    assert!(matches!(
        CompiledPath::parse_relative("AbnormalFlags", &CompileOptions::new()),
        Err(CompileError::NeedsSegmentType { .. })
    ));
    let pid = CompiledPath::parse_relative("PatientName(1).FamilyName", &CompileOptions::new().segment("PID")).unwrap();
    assert_eq!(pid.get_in(&d.msg, 1, Keys::NONE).as_deref(), Some("BROWN"));
    let reps = CompiledPath::parse_relative("3(*)", &CompileOptions::new()).unwrap();
    assert_eq!(reps.count_in(&d.msg, 1, Keys::NONE), 2);
}

#[test]
fn symbolic_and_numeric_paths_resolve_to_the_same_locations() {
    let reg = registry();
    let cases: &[(&str, Option<&str>, &[&str])] = &[
        ("fixture:adt_a01_ops.hl7", Some("2.5"), &["MSH", "PID", "PV1", "OBX"]),
        ("fixture:adt_a01_inpatient.hl7", Some("2.5"), &["MSH", "PID", "PV1"]),
        ("fhirconv_ADT-A01-01_v28.hl7", None, &["MSH", "PID", "PV1", "OBX"]),
        ("pyhl7_sample_msh_ADT_A01_v23_nulls.hl7", None, &["MSH", "PID", "PV1"]),
    ];
    let mut checked = 0;
    for (name, category, segments) in cases {
        let bytes = match name.strip_prefix("fixture:") {
            Some(f) => fixture(f),
            None => sample(name),
        };
        let d = doc(&reg, &bytes, *category);
        let cat = d.doc.category();
        for seg in *segments {
            let def = cat.segment(seg).unwrap();
            for (i, field) in def.fields.iter().enumerate() {
                let n = i + 1;
                let first_dup = def.field_by_name(&field.name).map(|(k, _)| k) == Some(n);
                if field.name.is_empty() || !first_dup {
                    continue;
                }
                let loc = |p: &str| d.compile(p).resolve(&d.msg, Some(&d.map), Keys::NONE);
                assert_eq!(loc(&format!("{seg}:{}", field.name)), loc(&format!("{seg}:{n}")), "{name} {seg}-{n}");
                checked += 1;
                let Some(ty) = cat.data_type(&field.data_type) else { continue };
                for (j, comp) in ty.components.iter().enumerate() {
                    let c = j + 1;
                    if ty.component_by_name(&comp.name).map(|(k, _)| k) != Some(c) || n <= 2 && *seg == "MSH" {
                        continue;
                    }
                    let sym = format!("{seg}:{}(1).{}", field.name, comp.name);
                    assert_eq!(loc(&sym), loc(&format!("{seg}:{n}(1).{c}")), "{name} {sym}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn bad_paths_are_refused_with_the_reason() {
    let f = registry();
    let bytes = fixture("oru_r01_normal.hl7");
    let d = doc(&f, &bytes, Some("2.5"));
    let e = d.err("PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:AbnormalFlag");
    assert!(
        matches!(&e, CompileError::UnknownField { segment, name, category, .. } if segment == "OBX" && name == "AbnormalFlag" && category == "2.5"),
        "{e}"
    );
    let e = d.err("PIDgrpgrp(1).PIDgrp.PID:PatientName.FamilyNam");
    assert!(matches!(&e, CompileError::UnknownComponent { data_type, .. } if data_type == "XPN"), "{e}");
    let e = d.err("PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:ObservationValue.Text");
    assert!(matches!(&e, CompileError::UnknownComponent { data_type, .. } if data_type == "varies"), "{e}");
    let e = d.err("PIDgrpgrp(1).ORCgrp(1).OBXgroup(1).OBX:5");
    assert!(
        matches!(&e, CompileError::UnknownElement { name, parent, available, .. } if name == "OBXgroup" && parent == "ORCgrp" && available.contains("OBXgrp")),
        "{e}"
    );
    let e = d.err("PIDgrpgrp(1).ORCgrp(1):5");
    assert!(matches!(&e, CompileError::GroupHasNoFields { name, .. } if name == "ORCgrp"), "{e}");
    let e = d.err("PIDgrpgrp(1).ORCgrp(1).OBR.NTE:1");
    assert!(matches!(&e, CompileError::UnknownElement { parent, .. } if parent == "segment OBR"), "{e}");
    let e = d.err("NOPE:1");
    assert!(matches!(&e, CompileError::UnknownElement { parent, .. } if parent == "2.5:ORU_R01"), "{e}");
    let e = d.err("3:PatientName");
    assert!(matches!(e, CompileError::NeedsSegmentType { .. }), "{e}");
    let e = d.err("MSH:MessageType.1");
    assert!(matches!(&e, CompileError::Syntax(s) if s.reason.contains("mixed")), "{e}");
    assert!(e.to_string().contains("MSH:MessageType.1"), "{e}");
    let e = CompiledPath::parse("PIDgrp:5", &CompileOptions::new()).unwrap_err();
    assert!(matches!(e, CompileError::UnknownElement { .. }), "{e}");
    assert!(VirtualPath::parse("PIDgrpgrp(1).ORCgrp(*).OBR").is_err());
}
