//! Every DTL fixture against its inputs: exactly the `dtl/expected/*.hl7` bytes and traces of
//! tests/fixtures/iris/README.md ("DTLs: expected outputs"), and the must-reject files.

mod common;

use common::{bytes, dtl, now, registry, tables, transforms};
use hie_iris::LoadError;
use hie_iris::dtl::{DtlInput, DtlOutput};
use hie_iris::env::{Aux, NoFiles, Services};

fn run(class: &str, message: &str, source: &str, aux: Option<&Aux>) -> DtlOutput {
    let reg = registry();
    let tables = tables();
    let all = transforms();
    let t = all.get(class).unwrap_or_else(|| panic!("{class} is loaded"));
    let data = bytes(&format!("messages/{message}.hl7"));
    let msg = hie_hl7::parse(&data).expect("parses");
    let doc = common::doc_type(&reg, &msg, source);
    let input = DtlInput {
        source: &data,
        doc_type: doc.as_ref(),
        target: None,
        aux,
        services: Services { lookups: &tables, files: &NoFiles, now: now() },
        schemas: &reg,
        transforms: &all,
    };
    t.run(&input).unwrap_or_else(|e| panic!("{class} on {message}: {e}"))
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\r', "\n")
}

fn check(class: &str, message: &str, source: &str, aux: Option<&Aux>, expected: &str, traces: &[&str]) {
    let out = run(class, message, source, aux);
    let want = bytes(&format!("dtl/expected/{expected}.hl7"));
    assert_eq!(show(&out.bytes), show(&want), "{class} on {message}");
    assert_eq!(out.bytes, want, "{class} on {message}: bytes");
    assert_eq!(out.traces, traces.iter().map(|t| t.to_string()).collect::<Vec<_>>(), "{class} on {message}");
    assert!(out.errors.is_empty(), "{:?}", out.errors);
}

#[test]
fn adt_to_epr_normalises_pid_and_sets_the_site() {
    let c = "HIE.Test.DTL.ADTToEPR";
    check(
        c,
        "adt_a01_inpatient",
        "PAS_ADT_In",
        None,
        "HIE.Test.DTL.ADTToEPR__adt_a01_inpatient",
        &["ADTToEPR ADT0001 -> 9434765919"],
    );
    check(
        c,
        "adt_a04_outpatient",
        "PAS_ADT_In",
        None,
        "HIE.Test.DTL.ADTToEPR__adt_a04_outpatient",
        &["ADTToEPR ADT0002 -> 9434765919"],
    );
    check(
        c,
        "adt_a01_emergency",
        "PAS_ADT_In",
        None,
        "HIE.Test.DTL.ADTToEPR__adt_a01_emergency",
        &["ADTToEPR ADT0003 -> 9434765870"],
    );
}

#[test]
fn aux_tag_writes_what_the_rule_passed() {
    let aux = Aux {
        business_rule_name: "HIE.Test.Rules.ADTRouter".into(),
        rule_reason: "rule#3(Admissions and updates):when#1".into(),
        rule_user_data: "INPATIENT".into(),
        rule_action_user_data: String::new(),
    };
    check(
        "HIE.Test.DTL.AuxTag",
        "adt_a01_inpatient",
        "PAS_ADT_In",
        Some(&aux),
        "HIE.Test.DTL.AuxTag__adt_a01_inpatient__via_ADTRouter",
        &[],
    );
}

#[test]
fn aux_tag_gets_its_aux_from_the_adt_router_decision() {
    let r = common::rule("rules/HIE.Test.Rules.ADTRouter.cls");
    let d = common::route(&r, "adt_a01_inpatient", "PAS_ADT_In", now());
    let send = d.sends.iter().find(|s| s.transform.as_deref() == Some("HIE.Test.DTL.AuxTag")).expect("AuxTag send");
    let aux = d.aux(send, &r.class);
    check(
        "HIE.Test.DTL.AuxTag",
        "adt_a01_inpatient",
        "PAS_ADT_In",
        Some(&aux),
        "HIE.Test.DTL.AuxTag__adt_a01_inpatient__via_ADTRouter",
        &[],
    );
}

#[test]
fn critical_alert_readdresses_the_result() {
    let c = "HIE.Test.DTL.CriticalAlert";
    check(c, "oru_r01_critical", "LAB_ORU_In", None, "HIE.Test.DTL.CriticalAlert__oru_r01_critical", &[]);
    check(c, "oru_r01_normal", "LAB_ORU_In", None, "HIE.Test.DTL.CriticalAlert__oru_r01_normal", &[]);
}

#[test]
fn oru_summary_builds_a_new_message_in_structure_order() {
    let c = "HIE.Test.DTL.ORUSummary";
    check(
        c,
        "oru_r01_normal",
        "LAB_ORU_In",
        None,
        "HIE.Test.DTL.ORUSummary__oru_r01_normal",
        &["OBX 1 2823-3 chem", "OBX 2 2951-2 chem", "OBX 3 718-7 other", "stop at OBX 4", "summary for SMITH"],
    );
    check(
        c,
        "oru_r01_critical",
        "LAB_ORU_In",
        None,
        "HIE.Test.DTL.ORUSummary__oru_r01_critical",
        &["OBX 1 2951-2 chem", "OBX 2 2823-3 chem", "OBX 3 718-7 other", "summary for BROWN"],
    );
}

#[test]
fn zpi_preferences_uses_the_custom_category() {
    check(
        "HIE.Test.DTL.ZPIPreferences",
        "adt_a28_zpi",
        "ZPI_In",
        None,
        "HIE.Test.DTL.ZPIPreferences__adt_a28_zpi",
        &["contact preferences: 2", "first channel: SMS"],
    );
}

fn load_err(rel: &str) -> LoadError {
    let stem = rel.rsplit('/').next().unwrap_or(rel).trim_end_matches(".xml").trim_end_matches(".cls");
    match hie_iris::load_classes_named(&common::text(rel), stem) {
        Ok(_) => panic!("{rel} must be rejected"),
        Err(e) => e,
    }
}

#[test]
fn code_block_is_rejected_even_with_split_cdata() {
    match load_err("dtl/unsupported/HIE.Test.DTL.WithCode.xml") {
        LoadError::UnsupportedDtlAction { class, action, line } => {
            assert_eq!((class.as_str(), action.as_str(), line), ("HIE.Test.DTL.WithCode", "code", 16));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sql_block_is_rejected() {
    match load_err("dtl/unsupported/HIE.Test.DTL.WithSQL.cls") {
        LoadError::UnsupportedDtlAction { class, action, line } => {
            assert_eq!((class.as_str(), action.as_str(), line), ("HIE.Test.DTL.WithSQL", "sql", 8));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn append_on_an_hl7_target_is_rejected_first() {
    match load_err("dtl/unsupported/HIE.Test.DTL.VDocAppend.cls") {
        LoadError::UnsupportedAssignAction { class, action, line } => {
            assert_eq!((class.as_str(), action.as_str(), line), ("HIE.Test.DTL.VDocAppend", "append", 10));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_dtl_fixture_loads_with_its_declared_shape() {
    let t = dtl("dtl/HIE.Test.DTL.Sub.PIDNormalise.cls");
    assert!(t.source_is_segment() && t.target_is_segment());
    assert_eq!(t.create, hie_iris::dtl::Create::Existing);
    assert!(t.params.ignore_missing_source && t.params.report_errors);
    let t = dtl("dtl/HIE.Test.DTL.ADTToEPR.cls");
    assert_eq!(t.subtransforms(), ["HIE.Test.DTL.Sub.PIDNormalise"]);
    assert_eq!(t.create, hie_iris::dtl::Create::Copy);
}

#[test]
fn every_dtl_fixture_passes_the_static_path_check() {
    let reg = registry();
    for t in transforms().values() {
        t.check(&reg).unwrap_or_else(|e| panic!("{}: {e}", t.class));
    }
}

#[test]
fn a_path_the_declared_doc_type_cannot_resolve_is_a_load_error() {
    let text = "<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' sourceDocType='2.5:ORU_R01' targetDocType='2.5:ORU_R01' create='copy'>\n<assign value='source.{OBX(1):5}' property='target.{MSH:3}'/>\n</transform>";
    let t = match hie_iris::load_classes_named(text, "Bad.Path").unwrap().pop() {
        Some(hie_iris::IrisClass::Dtl(t)) => t,
        _ => panic!("not a DTL"),
    };
    match t.check(&registry()) {
        Err(LoadError::Expression { class, item, line, message }) => {
            assert_eq!((class.as_str(), item.as_str(), line), ("Bad.Path", "assign target.{MSH:3}", 2));
            assert!(message.contains("OBX"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let unknown = text.replace("sourceDocType='2.5:ORU_R01'", "sourceDocType='9.9:XYZ'");
    let t = match hie_iris::load_classes_named(&unknown, "Bad.DocType").unwrap().pop() {
        Some(hie_iris::IrisClass::Dtl(t)) => t,
        _ => panic!("not a DTL"),
    };
    assert!(matches!(t.check(&registry()), Err(LoadError::Invalid { .. })));
}
