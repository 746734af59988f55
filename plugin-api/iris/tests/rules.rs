//! Every rule fixture against the fixture messages, with exactly the outcomes of
//! tests/fixtures/iris/README.md ("Rules: expected outcomes").

mod common;

use common::{at, now, route, rule, sends};
use hie_iris::LoadError;
use hie_iris::env::{NoFiles, Services};
use hie_iris::lookup::NoLookups;
use hie_iris::rules::{Body, Input};

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

const ADT: &str = "rules/HIE.Test.Rules.ADTRouter.cls";
const LAB: &str = "rules/HIE.Test.Rules.LabRouter.xml";

/// (message, source, sends, traces, deleted)
type AdtCase<'a> = (&'a str, &'a str, &'a [&'a str], &'a [&'a str], bool);

#[test]
fn adt_router_current_rule_set_outcomes_match_the_readme() {
    let r = rule(ADT);
    let cases: &[AdtCase<'_>] = &[
        (
            "adt_a01_inpatient",
            "PAS_ADT_In",
            &[
                "EPR_Out/HIE.Test.DTL.ADTToEPR",
                "EPR_Backup_Out/HIE.Test.DTL.ADTToEPR",
                "Tagged_Out/HIE.Test.DTL.AuxTag",
                "ADT_Archive/-",
                "Audit_Out/-",
            ],
            &["Inpatient ADT_A01 for ward WARD1"],
            false,
        ),
        ("adt_a04_outpatient", "PAS_ADT_In", &["ADT_Archive/-", "Audit_Out/-"], &[], false),
        ("adt_a01_emergency", "PAS_ADT_In", &["Unrouted_Out/-", "Audit_Out/-"], &["Unexpected patient class E"], false),
        ("adt_a08_test_patient", "PAS_ADT_In", &[], &["Deleted test patient 9999999999"], true),
        ("adt_a03_discharge", "PAS_ADT_In", &["ADT_Archive/-"], &[], false),
        ("adt_a01_inpatient", "Files_In", &["Unrouted_Out/-"], &[], false),
        ("orm_o01_order", "ORDERS_In", &["Unrouted_Out/-"], &[], false),
        ("adt_a28_zpi", "ZPI_In", &["Welsh_Out/-"], &[], false),
        ("zpi_z01_preferences", "ZPI_In", &["Unrouted_Out/-"], &[], false),
        (
            "adt_a01_missing_pv1",
            "PAS_ADT_In",
            &["Unrouted_Out/-", "Audit_Out/-"],
            &["Unexpected patient class "],
            false,
        ),
    ];
    for (msg, source, want_sends, want_traces, deleted) in cases {
        let d = route(&r, msg, source, now());
        let what = format!("{msg} from {source}: {d:#?}");
        assert_eq!(d.rule_set.as_deref(), Some("Current"), "{what}");
        assert_eq!(sends(&d), s(want_sends), "{what}");
        assert_eq!(d.traces, s(want_traces), "{what}");
        assert_eq!(d.deleted, *deleted, "{what}");
        assert!(d.errors.is_empty(), "{what}");
        assert!(!sends(&d).iter().any(|x| x.starts_with("Never_Out")), "the disabled rule never fires: {what}");
    }
}

#[test]
fn adt_router_inpatient_sets_rule_user_data_before_the_transformed_sends() {
    let d = route(&rule(ADT), "adt_a01_inpatient", "PAS_ADT_In", now());
    assert_eq!(d.rule_user_data, "INPATIENT");
    assert_eq!(d.assigns, vec![("RuleUserData".to_owned(), "INPATIENT".to_owned())]);
    let aux = d.aux(&d.sends[1], "HIE.Test.Rules.ADTRouter");
    assert_eq!(aux.rule_user_data, "INPATIENT");
    assert_eq!(aux.business_rule_name, "HIE.Test.Rules.ADTRouter");
    assert_eq!(aux.rule_reason, "rule#3(Admissions and updates):when#1");
    let fired: Vec<&str> = d.fired.iter().map(|f| f.reason.as_str()).collect();
    assert_eq!(fired, ["rule#3(Admissions and updates):when#1", "rule#6(Audit every PAS message):when#1"]);
}

#[test]
fn adt_router_delete_then_return_stops_and_sends_nothing() {
    let d = route(&rule(ADT), "adt_a08_test_patient", "PAS_ADT_In", now());
    assert_eq!(d.returned_by.as_deref(), Some("Drop test patients"));
    assert!(d.sends.is_empty());
}

#[test]
fn adt_router_debug_goes_to_debugs_not_traces() {
    let d = route(&rule(ADT), "adt_a03_discharge", "PAS_ADT_In", now());
    assert_eq!(d.debugs, s(&["discharge ADT0005"]));
    assert!(d.traces.is_empty());
    assert_eq!(d.returned_by.as_deref(), Some("Discharges"));
}

#[test]
fn adt_router_legacy_rule_set_applies_in_2023() {
    let r = rule(ADT);
    let t = at(2023, 6, 1, 12, 0, 0);
    for (msg, source, want) in [
        ("adt_a01_inpatient", "PAS_ADT_In", &["OldPAS_Out/-"][..]),
        ("adt_a08_test_patient", "PAS_ADT_In", &["OldPAS_Out/-"]),
        ("adt_a03_discharge", "PAS_ADT_In", &["OldPAS_Out/-"]),
        ("adt_a28_zpi", "ZPI_In", &[]),
    ] {
        let d = route(&r, msg, source, t);
        assert_eq!(d.rule_set.as_deref(), Some("Legacy 2023"), "{msg}");
        assert_eq!(sends(&d), s(want), "{msg}");
        assert!(d.traces.is_empty() && !d.deleted, "{msg}: {d:?}");
    }
}

#[test]
fn adt_router_no_rule_set_is_effective_in_2022() {
    let d = route(&rule(ADT), "adt_a01_inpatient", "PAS_ADT_In", at(2022, 6, 1, 12, 0, 0));
    assert_eq!(d.rule_set, None);
    assert!(d.sends.is_empty() && d.traces.is_empty() && d.fired.is_empty());
}

#[test]
fn adt_router_effective_dates_are_inclusive_at_both_bounds() {
    let r = rule(ADT);
    let d = route(&r, "adt_a01_inpatient", "PAS_ADT_In", at(2023, 12, 31, 23, 59, 59));
    assert_eq!(d.rule_set.as_deref(), Some("Legacy 2023"));
    let d = route(&r, "adt_a01_inpatient", "PAS_ADT_In", at(2024, 1, 1, 0, 0, 0));
    assert_eq!(d.rule_set.as_deref(), Some("Current"));
    let d = route(&r, "adt_a01_inpatient", "PAS_ADT_In", at(2023, 1, 1, 0, 0, 0));
    assert_eq!(d.rule_set.as_deref(), Some("Legacy 2023"));
}

#[test]
fn lab_router_outcomes_match_the_readme() {
    let r = rule(LAB);
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "oru_r01_normal",
            "LAB_ORU_In",
            &["Lab_Out/-", "Renal_Out/-", "Haematology_Out/-"],
            &[
                "Watched Potassium 4.1",
                "Watched Sodium 140",
                "Not watched 718-7",
                "Not watched COMMENT",
                "Low haemoglobin 112",
                "OBX groups: 4",
                "OBR-13 empty compares as 0",
            ],
        ),
        (
            "oru_r01_critical",
            "LAB_ORU_In",
            &["Lab_Critical_Out/HIE.Test.DTL.CriticalAlert"],
            &["Watched Sodium 139", "Critical Potassium=6.8"],
        ),
        ("orm_o01_order", "ORDERS_In", &[], &[]),
        ("oru_r01_normal", "Files_In", &[], &[]),
    ];
    for (msg, source, want_sends, want_traces) in cases {
        let d = route(&r, msg, source, now());
        let what = format!("{msg} from {source}: {d:#?}");
        assert_eq!(sends(&d), s(want_sends), "{what}");
        assert_eq!(d.traces, s(want_traces), "{what}");
        assert!(!d.deleted && d.errors.is_empty(), "{what}");
    }
}

#[test]
fn lab_router_return_inside_foreach_ends_the_rule_set() {
    let d = route(&rule(LAB), "oru_r01_critical", "LAB_ORU_In", now());
    assert_eq!(d.returned_by.as_deref(), Some("Critical results"));
    assert_eq!(d.fired.len(), 1);
}

#[test]
fn operators_fixture_traces_exactly_the_true_rules_in_order() {
    let want = [
        "eq-string",
        "ne",
        "lt-numeric",
        "gt-numeric-not-string",
        "le",
        "ge-numeric-equal",
        "eq-numeric-literal",
        "missing-eq-empty",
        "missing-lt-one",
        "missing-segment-eq-empty",
        "and-not",
        "precedence-and-over-or",
        "not-function",
        "Contains-function",
        "Contains-bracket-operator",
        "DoesNotContain",
        "StartsWith",
        "In",
        "In-custom-separator",
        "NotIn",
        "Matches-10N",
        "Matches-postcode",
        "Matches-3A6N",
        "Like",
        "NotLike",
        "NotInFile",
        "IntersectsList-square",
        "square-single",
        "square-multi",
        "parenthesis-multi",
        "count-field-reps",
        "count-segments",
        "Exists",
        "Lookup",
        "Lookup-default",
        "Lookup-missing-no-default",
        "Lookup-empty-key",
        "Lookup-empty-key-3",
        "Piece",
        "Length",
        "Length-delimiter",
        "concat-underscore",
        "concat-ampersand",
        "arithmetic",
        "If",
        "ToLower",
        "ToUpper",
        "Max",
        "Min",
        "Round",
        "SubString",
        "Strip",
        "ReplaceStr",
        "Translate",
        "Pad",
        "ConvertDateTime",
        "CurrentDateTime",
        "Source",
        "DocType",
        "DocName",
        "MsgClass",
        "Document-alias",
        "symbolic-field",
        "symbolic-case-insensitive",
        "infix-Contains",
        "infix-StartsWith",
        "infix-In",
        "infix-Matches",
        "constraint-docName-list",
        "constraint-empty-value",
        "multi-when-2",
        "otherwise-fired",
        "ctrl=OPS0001 name=O'BRIEN",
    ];
    let d = route(&rule("rules/HIE.Test.Rules.Operators.xml"), "adt_a01_ops", "PAS_ADT_In", now());
    assert_eq!(d.traces, s(&want), "{d:#?}");
    assert!(d.sends.is_empty() && !d.deleted);
    assert_eq!(d.returned_by.as_deref(), Some("return"));
    assert!(d.errors.is_empty(), "{:?}", d.errors);
}

fn alert(r: &hie_iris::RuleDefinition, file: &str) -> hie_iris::rules::Decision {
    let body: serde_json::Value = serde_json::from_str(&common::text(&format!("messages/{file}"))).unwrap();
    let source = body["SourceConfigName"].as_str().unwrap_or("").to_owned();
    let input = Input {
        body: Body::Object(&body),
        msg_class: "Ens.AlertRequest",
        doc_type: None,
        doc_name: "",
        source: &source,
        services: Services { lookups: &NoLookups, files: &NoFiles, now: now() },
    };
    r.evaluate(&input)
}

#[test]
fn alert_router_routes_alert_requests_by_their_properties() {
    let r = rule("rules/HIE.Test.Rules.AlertRouter.cls");
    assert_eq!(r.rule_type, hie_iris::rules::RuleType::GeneralRouting);
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("alert_epr_out_error.json", &["EMailAlert/-", "PagerAlert/-"], &[]),
        ("alert_router_timeout.json", &["PagerAlert/-", "EMailAlert/-"], &["Alert from Router"]),
        ("alert_epr_out_queue.json", &["EMailAlert/-"], &["Alert from EPR_Out"]),
        ("alert_files_in.json", &["EMailAlert/-"], &["Alert from Files_In"]),
    ];
    for (file, want_sends, want_traces) in cases {
        let d = alert(&r, file);
        assert_eq!(sends(&d), s(want_sends), "{file}: {d:#?}");
        assert_eq!(d.traces, s(want_traces), "{file}");
    }
}

#[test]
fn alert_router_filters_hl7_bodies_by_msg_class() {
    let r = rule("rules/HIE.Test.Rules.AlertRouter.cls");
    let d = route(&r, "adt_a01_inpatient", "PAS_ADT_In", now());
    assert_eq!(sends(&d), s(&["Never_Out/-"]));
    assert!(d.traces.is_empty());
}

fn load_err(rel: &str) -> LoadError {
    let stem = rel.rsplit('/').next().unwrap_or(rel).trim_end_matches(".xml").trim_end_matches(".cls");
    match hie_iris::load_classes_named(&common::text(rel), stem) {
        Ok(_) => panic!("{rel} must be rejected"),
        Err(e) => e,
    }
}

#[test]
fn delegate_is_rejected_as_an_unsupported_rule_action() {
    match load_err("rules/unsupported/HIE.Test.Rules.Delegate.xml") {
        LoadError::UnsupportedRuleAction { class, rule, action, line } => {
            assert_eq!(
                (class.as_str(), rule.as_str(), action.as_str()),
                ("HIE.Test.Rules.Delegate", "Hand lab messages to the lab rule", "delegate")
            );
            assert_eq!(line, 21);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn class_method_call_is_rejected_as_an_unsupported_expression() {
    match load_err("rules/unsupported/HIE.Test.Rules.ClassMethodCall.cls") {
        LoadError::UnsupportedExpression { class, item, construct, line } => {
            assert_eq!(
                (class.as_str(), item.as_str(), construct.as_str()),
                ("HIE.Test.Rules.ClassMethodCall", "rule \"VIP patients\"", "##class")
            );
            assert_eq!(line, 12);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ends_with_is_rejected_as_an_unknown_function() {
    match load_err("rules/unsupported/HIE.Test.Rules.UnknownFunction.xml") {
        LoadError::UnknownFunction { class, item, name, line } => {
            assert_eq!(
                (class.as_str(), item.as_str(), name.as_str()),
                ("HIE.Test.Rules.UnknownFunction", "rule \"Surnames ending SON\"", "EndsWith")
            );
            assert_eq!(line, 6);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn foreach_inside_foreach_is_rejected() {
    match load_err("rules/unsupported/HIE.Test.Rules.NestedForeach.xml") {
        LoadError::NestedForeach { class, rule, line } => {
            assert_eq!((class.as_str(), rule.as_str(), line), ("HIE.Test.Rules.NestedForeach", "Nested", 9));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn irisdemo_sample_rule_loads_and_routes_a01_a08_a03() {
    let text =
        std::fs::read_to_string("/work/shared/samples/iris/irisdemo-readmission_HISHL7v2FileFeedRoutingRule.cls")
            .expect("the sample rule is readable");
    let mut classes = hie_iris::load_classes(&text).expect("the sample rule loads");
    let Some(hie_iris::IrisClass::Rule(r)) = classes.pop() else { panic!("not a rule") };
    assert_eq!(r.class, "IRISDemo.HISHL7v2FileFeedRoutingRule");
    for (msg, want) in [
        ("adt_a01_inpatient", &["Readmission Risk Process/IRISDemo.DTL.HL7Update"][..]),
        ("adt_a08_test_patient", &["Readmission Risk Process/IRISDemo.DTL.HL7Update"]),
        ("adt_a03_discharge", &["Readmission Risk Process/IRISDemo.DTL.HL7Update"]),
        ("adt_a04_outpatient", &[]),
    ] {
        let d = route(&r, msg, "HIS HL7v2 TCP Feed", now());
        assert_eq!(sends(&d), s(want), "{msg}: {d:#?}");
    }
    let d = route(&r, "adt_a01_inpatient", "PAS_ADT_In", now());
    assert!(d.sends.is_empty());
}

#[test]
fn targets_and_transforms_list_every_name_once_in_order() {
    let r = rule(ADT);
    assert_eq!(
        r.targets(),
        [
            "OldPAS_Out",
            "Never_Out",
            "EPR_Out",
            "EPR_Backup_Out",
            "Tagged_Out",
            "ADT_Archive",
            "Unrouted_Out",
            "Welsh_Out",
            "Audit_Out"
        ]
    );
    assert_eq!(r.transforms(), ["HIE.Test.DTL.ADTToEPR", "HIE.Test.DTL.AuxTag"]);
    assert_eq!(rule(LAB).transforms(), ["HIE.Test.DTL.CriticalAlert"]);
}

#[test]
fn compiled_classes_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<hie_iris::RuleDefinition>();
    shared::<hie_iris::Transform>();
}

#[test]
fn named_load_errors_read_well() {
    let show = |rel: &str| load_err(rel).to_string();
    assert_eq!(
        show("rules/unsupported/HIE.Test.Rules.Delegate.xml"),
        "HIE.Test.Rules.Delegate, line 21: rule \"Hand lab messages to the lab rule\": the rule action <delegate> is not supported by HIE"
    );
    assert_eq!(
        show("rules/unsupported/HIE.Test.Rules.ClassMethodCall.cls"),
        "HIE.Test.Rules.ClassMethodCall, line 12: rule \"VIP patients\": ##class in an expression is not supported by HIE"
    );
    assert_eq!(
        show("rules/unsupported/HIE.Test.Rules.UnknownFunction.xml"),
        "HIE.Test.Rules.UnknownFunction, line 6: rule \"Surnames ending SON\": unknown function EndsWith() (not an Ens.Util.FunctionSet function)"
    );
    assert_eq!(
        show("rules/unsupported/HIE.Test.Rules.NestedForeach.xml"),
        "HIE.Test.Rules.NestedForeach, line 9: rule \"Nested\": a foreach cannot contain another foreach"
    );
    assert_eq!(
        show("dtl/unsupported/HIE.Test.DTL.WithCode.xml"),
        "HIE.Test.DTL.WithCode, line 16: the DTL action <code> is not supported by HIE"
    );
    assert_eq!(
        show("dtl/unsupported/HIE.Test.DTL.WithSQL.cls"),
        "HIE.Test.DTL.WithSQL, line 8: the DTL action <sql> is not supported by HIE"
    );
    assert_eq!(
        show("dtl/unsupported/HIE.Test.DTL.VDocAppend.cls"),
        "HIE.Test.DTL.VDocAppend, line 10: <assign action='append'> is not supported on HL7 documents (IRIS: use SET with an empty string to clear a value)"
    );
}

#[test]
fn a_reloaded_custom_schema_is_used_by_an_already_loaded_rule() {
    let r = rule(ADT);
    for _ in 0..2 {
        // route() builds a fresh registry (a reload of HIE_2.5) each time.
        let d = route(&r, "adt_a28_zpi", "ZPI_In", now());
        assert_eq!(sends(&d), s(&["Welsh_Out/-"]));
    }
}
