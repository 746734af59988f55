//! Rule behaviours beyond the fixtures: user data, variables, rule-set actions, delete
//! without return, failing conditions, documented precedence, docType constraints, and
//! load-time rejections.

mod common;

use hie_iris::LoadError;
use hie_iris::env::{NoFiles, Services};
use hie_iris::lookup::NoLookups;
use hie_iris::rules::{Body, Decision, HL7_MESSAGE_CLASS, Input};

const MSG: &[u8] =
    b"MSH|^~\\&|PAS|RXX|EPR|RXX|20240301||ADT^A01^ADT_A01|C1|P|2.5\rPID|1||111||DOE^JOHN||19800101|M\rPV1|1|I\r";

fn load(body: &str) -> Result<hie_iris::RuleDefinition, LoadError> {
    let text = format!("<ruleDefinition context=\"EnsLib.HL7.MsgRouter.RoutingEngine\">{body}</ruleDefinition>");
    match hie_iris::load_classes_named(&text, "T.R")?.pop() {
        Some(hie_iris::IrisClass::Rule(r)) => Ok(r),
        _ => panic!("not a rule"),
    }
}

fn eval(body: &str) -> Decision {
    let r = load(body).unwrap_or_else(|e| panic!("{e}"));
    let reg = common::registry();
    let msg = hie_hl7::parse(MSG).unwrap();
    let doc = reg.resolve_message(Some("2.5"), &msg);
    let input = Input {
        body: Body::Hl7(&msg),
        msg_class: HL7_MESSAGE_CLASS,
        doc_type: doc.as_ref(),
        doc_name: "ADT_A01",
        source: "PAS_ADT_In",
        services: Services { lookups: &NoLookups, files: &NoFiles, now: common::now() },
    };
    r.evaluate(&input)
}

fn set(rules: &str) -> String {
    format!("<ruleSet name=\"S\" effectiveBegin=\"\" effectiveEnd=\"\">{rules}</ruleSet>")
}

#[test]
fn rule_action_user_data_is_per_clause_and_rule_user_data_persists() {
    let d = eval(&set(
        "<rule name=\"a\"><when condition=\"1\"><assign property=\"RuleUserData\" value=\"&quot;U1&quot;\"/>\
         <assign property=\"RuleActionUserData\" value=\"&quot;A1&quot;\"/><send target=\"X\"/></when></rule>\
         <rule><when condition=\"0\"/><otherwise><trace value=\"RuleUserData_&quot;/&quot;_RuleActionUserData\"/><send target=\"Y\"/></otherwise></rule>",
    ));
    assert_eq!(d.traces, ["U1/"]);
    assert_eq!(d.sends[0].rule_action_user_data, "A1");
    assert_eq!(d.sends[1].rule_action_user_data, "");
    assert_eq!(d.sends[1].reason, "rule#2:otherwise");
    assert_eq!(d.aux(&d.sends[1], "T.R").rule_user_data, "U1");
}

#[test]
fn variables_and_angle_not_equal_work_in_conditions() {
    let d = eval(&format!(
        "<variable name=\"ward\" value=\"HL7.{{PV1:2}}\"/>{}",
        set(
            "<rule><when condition=\"(ward=&quot;I&quot;)&amp;&amp;(HL7.{PID:8}&lt;&gt;&quot;F&quot;)\"><trace value=\"ward\"/></when></rule>"
        )
    ));
    assert_eq!(d.traces, ["I"]);
}

#[test]
fn actions_directly_in_a_rule_set_run_where_they_stand() {
    let d = eval(&set(
        "<trace value=\"&quot;first&quot;\"/><rule><when condition=\"1\"><trace value=\"&quot;rule&quot;\"/></when></rule><send target=\"Z\"/><return/><send target=\"never\"/>",
    ));
    assert_eq!(d.traces, ["first", "rule"]);
    assert_eq!(common::sends(&d), ["Z/-"]);
}

#[test]
fn delete_without_return_keeps_evaluating_but_sends_nothing() {
    let d = eval(&set(
        "<rule><when condition=\"1\"><send target=\"A\"/><delete/></when></rule><rule><when condition=\"1\"><trace value=\"&quot;later&quot;\"/><send target=\"B\"/></when></rule>",
    ));
    assert!(d.deleted);
    assert!(d.sends.is_empty());
    assert_eq!(d.traces, ["later"]);
}

#[test]
fn a_condition_that_fails_is_false_and_recorded() {
    let d = eval(&set(
        "<rule name=\"div\"><when condition=\"(1/0)=1\"><trace value=\"&quot;no&quot;\"/></when><otherwise><trace value=\"&quot;otherwise&quot;\"/></otherwise></rule>",
    ));
    assert_eq!(d.traces, ["otherwise"]);
    assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
    assert!(d.errors[0].contains("DIVIDE"), "{:?}", d.errors);
}

#[test]
fn comparisons_bind_tighter_than_concatenation_and_arithmetic() {
    let d = eval(&set(
        "<rule><when condition=\"1\"><trace value=\"&quot;a&quot;_&quot;b&quot;=&quot;b&quot;\"/><trace value=\"1+1=2\"/><trace value=\"(1+1)=2\"/></when></rule>",
    ));
    assert_eq!(d.traces, ["a1", "1", "1"]);
    let d = eval(&set("<rule><when condition=\"1\"><trace value=\"2+2=2\"/></when></rule>"));
    assert_eq!(d.traces, ["3"], "2+(2=2)");
}

#[test]
fn doc_type_and_doc_category_constraints_compare_the_message_doc_type() {
    let d = eval(&set(
        "<rule name=\"t\"><constraint name=\"docType\" value=\"2.4:ADT_A01,2.5:ADT_A01\"/><when condition=\"1\"><trace value=\"DocType\"/></when></rule>\
         <rule name=\"c\"><constraint name=\"docCategory\" value=\"2.4\"/><when condition=\"1\"><trace value=\"&quot;no&quot;\"/></when></rule>",
    ));
    assert_eq!(d.traces, ["2.5:ADT_A01"]);
}

#[test]
fn foreach_without_repetitions_runs_nothing() {
    let d = eval(&set(
        "<rule><when condition=\"1\"><foreach propertypath=\"HL7.{OBX()}\"><when condition=\"1\"><trace value=\"Segment.{5}\"/></when></foreach><trace value=\"&quot;after&quot;\"/></when></rule>",
    ));
    assert_eq!(d.traces, ["after"]);
}

#[test]
fn load_rejections_name_the_rule_and_construct() {
    let err = |rules: &str| load(&set(rules)).unwrap_err();
    assert!(
        matches!(err("<rule name=\"x\"><when condition=\"Segment.{3}=1\"/></rule>"), LoadError::Expression { item, .. } if item == "rule \"x\"")
    );
    assert!(
        matches!(err("<rule><when condition=\"Foo=1\"/></rule>"), LoadError::Expression { item, .. } if item == "rule \"rule#1\"")
    );
    assert!(
        matches!(err("<rule><when condition=\"\"/></rule>"), LoadError::Invalid { element, .. } if element == "when")
    );
    assert!(
        matches!(err("<rule><when condition=\"1\"><assign property=\"Foo\" value=\"1\"/></when></rule>"), LoadError::Invalid { element, .. } if element == "assign")
    );
    assert!(
        matches!(err("<rule><when condition=\"1\"><frob/></when></rule>"), LoadError::Invalid { element, .. } if element == "frob")
    );
    assert!(
        matches!(err("<rule><constraint name=\"colour\" value=\"x\"/></rule>"), LoadError::Invalid { element, .. } if element == "constraint")
    );
    assert!(
        matches!(err("<rule><when condition=\"Rule(&quot;x&quot;)\"/></rule>"), LoadError::UnsupportedExpression { construct, .. } if construct == "Rule()")
    );
    assert!(matches!(
        err("<rule><when condition=\"Document.&lt;a/b&gt;\"/></rule>"),
        LoadError::UnsupportedExpression { .. }
    ));
    assert!(
        matches!(err("<rule><when condition=\"Schedule(&quot;x&quot;)\"/></rule>"), LoadError::UnknownFunction { name, .. } if name == "Schedule")
    );
    assert!(
        matches!(load("<ruleSet effectiveBegin=\"yesterday\"/>"), Err(LoadError::Invalid { element, .. }) if element == "ruleSet")
    );
}
