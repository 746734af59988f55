//! DTL behaviours beyond the fixtures: evaluation order, the `()` shortcut, break, error
//! reporting, removal, foreach over fields, variables and intrinsics, create='existing'.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use hie_iris::dtl::{DtlError, DtlInput, DtlOutput};
use hie_iris::env::{Aux, NoFiles, Services};
use hie_iris::lookup::NoLookups;
use hie_iris::{IrisClass, LoadError, Transform};

const MSG: &[u8] = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20240301||ADT^A01^ADT_A01|C1|P|2.5\rEVN|A01\rPID|1||111^^^A~222^^^B||DOE^JOHN||19800101|M|||||A\\T\\B\rPV1|1|I\r";

fn compile(body: &str, params: &str, create: &str) -> Result<Transform, LoadError> {
    let text = format!(
        "Class T.X Extends Ens.DataTransformDTL\n{{\n{params}\nXData DTL [ XMLNamespace = \"http://www.intersystems.com/dtl\" ]\n{{\n<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' sourceDocType='2.5:ADT_A01' targetDocType='2.5:ADT_A01' create='{create}' language='objectscript' >\n{body}\n</transform>\n}}\n}}\n"
    );
    match hie_iris::load_classes(&text)?.pop() {
        Some(IrisClass::Dtl(t)) => Ok(t),
        _ => panic!("not a DTL"),
    }
}

fn run_with(
    t: &Transform,
    target: Option<&[u8]>,
    aux: Option<&Aux>,
    subs: &HashMap<String, Arc<Transform>>,
) -> Result<DtlOutput, DtlError> {
    let reg = common::registry();
    let input = DtlInput {
        source: MSG,
        doc_type: None,
        target,
        aux,
        services: Services { lookups: &NoLookups, files: &NoFiles, now: common::now() },
        schemas: &reg,
        transforms: subs,
    };
    t.run(&input)
}

fn run(body: &str) -> DtlOutput {
    let t = compile(body, "Parameter REPORTERRORS = 1;", "copy").unwrap_or_else(|e| panic!("{e}"));
    run_with(&t, None, None, &HashMap::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn segment(out: &DtlOutput, name: &str) -> String {
    let text = String::from_utf8_lossy(&out.bytes).into_owned();
    text.split('\r').find(|s| s.starts_with(name)).unwrap_or("").to_owned()
}

#[test]
fn values_evaluate_strictly_left_to_right() {
    let out = run("<trace value='1+2*3' /><trace value='2_3+1' /><trace value='(1+2)=3_\"x\"' />");
    assert_eq!(out.traces, ["9", "24", "1x"]);
}

#[test]
fn the_empty_parentheses_shortcut_assigns_every_repetition() {
    let out = run("<assign value='\"001\"' property='target.{PID:3().4}' />");
    assert_eq!(segment(&out, "PID"), "PID|1||111^^^001~222^^^001||DOE^JOHN||19800101|M|||||A\\T\\B");
}

#[test]
fn break_outside_a_foreach_ends_the_transform() {
    let out = run("<trace value='\"a\"' /><break/><trace value='\"b\"' />");
    assert_eq!(out.traces, ["a"]);
}

#[test]
fn foreach_over_a_repeating_field_binds_the_key() {
    let out =
        run("<foreach property='source.{PID:3()}' key='k1'><trace value='k1_\"=\"_source.{PID:3(k1).1}' /></foreach>");
    assert_eq!(out.traces, ["1=111", "2=222"]);
}

#[test]
fn errors_fail_the_run_with_reporterrors_and_are_recorded_without() {
    let body = "<assign value='1/0' property='target.{PID:1}' /><trace value='\"after\"' />";
    let t = compile(body, "Parameter REPORTERRORS = 1;", "copy").unwrap();
    let e = run_with(&t, None, None, &HashMap::new()).unwrap_err();
    assert_eq!((e.class.as_str(), e.action.as_str(), e.line), ("T.X", "assign target.{PID:1}", 7));
    assert_eq!(e.error, hie_iris::EvalError::DivideByZero);
    let t = compile(body, "", "copy").unwrap();
    let out = run_with(&t, None, None, &HashMap::new()).unwrap();
    assert_eq!(out.traces, ["after"]);
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
}

#[test]
fn remove_deletes_a_segment_or_empties_a_field() {
    let out =
        run("<assign property='target.{EVN}' action='remove' /><assign property='target.{PID:7}' action='remove' />");
    let text = String::from_utf8_lossy(&out.bytes).into_owned();
    assert!(!text.contains("EVN"), "{text}");
    assert_eq!(segment(&out, "PID"), "PID|1||111^^^A~222^^^B||DOE^JOHN|||M|||||A\\T\\B");
}

#[test]
fn leaf_values_are_unescaped_on_read_and_escaped_on_write() {
    let out =
        run("<trace value='source.{PID:13}' /><assign value='source.{PID:13}_\"|x\"' property='target.{PID:12}' />");
    assert_eq!(out.traces, ["A&B"]);
    assert_eq!(segment(&out, "PID"), "PID|1||111^^^A~222^^^B||DOE^JOHN||19800101|M||||A\\T\\B\\F\\x|A\\T\\B");
}

#[test]
fn composite_text_builds_structure_and_copies_stay_raw() {
    let out = run(
        "<assign value='\"X^Y\"' property='target.{PV1:3}' /><assign value='source.{PID:3(2)}' property='target.{PV1:4}' />",
    );
    assert_eq!(segment(&out, "PV1"), "PV1|1|I|X^Y|222^^^B");
}

#[test]
fn variables_and_intrinsics_evaluate() {
    let out = run("<assign value='$P(source.{PID:5},\"^\",2)' property='tGiven' />\
         <trace value='$S(tGiven=\"JOHN\":\"yes\",1:\"no\")' />\
         <trace value='$E(tGiven,1,2)_$L(tGiven)_$ZCVT(tGiven,\"L\")' />\
         <trace value='tGiven?4U' /><trace value='$IsObject(aux)' />");
    assert_eq!(out.traces, ["yes", "JO4john", "1", "0"]);
}

#[test]
fn aux_is_empty_outside_a_rule() {
    let out = run("<trace value='\"[\"_aux.RuleUserData_\"]\"' />");
    assert_eq!(out.traces, ["[]"]);
}

#[test]
fn switch_runs_the_first_true_case_or_the_default() {
    let out = run(
        "<switch><case condition='0'><trace value='\"a\"'/></case><case condition='source.{PID:8}=\"M\"'><trace value='\"b\"'/></case><default><trace value='\"c\"'/></default></switch>",
    );
    assert_eq!(out.traces, ["b"]);
}

#[test]
fn create_existing_edits_the_given_target() {
    let t = compile("<assign value='\"NEW\"' property='target.{MSH:3}' />", "", "existing").unwrap();
    let target = b"MSH|^~\\&|OLD|F\rZZZ|1\r";
    let out = run_with(&t, Some(target), None, &HashMap::new()).unwrap();
    assert_eq!(out.bytes, b"MSH|^~\\&|NEW|F\rZZZ|1\r");
    let err = run_with(&t, None, None, &HashMap::new()).unwrap_err();
    assert_eq!(err.action, "transform");
}

#[test]
fn a_missing_subtransform_is_an_error_naming_the_action() {
    let t = compile(
        "<subtransform class='No.Such' sourceObj='source' targetObj='target' />",
        "Parameter REPORTERRORS = 1;",
        "copy",
    )
    .unwrap();
    let e = run_with(&t, None, None, &HashMap::new()).unwrap_err();
    assert_eq!(e.action, "subtransform No.Such");
    assert!(matches!(e.error, hie_iris::EvalError::Subtransform { .. }));
}

#[test]
fn a_whole_message_subtransform_replaces_the_target() {
    let sub = compile("<assign value='\"SUB\"' property='target.{MSH:4}' />", "", "copy").unwrap();
    let mut subs = HashMap::new();
    subs.insert("T.X".to_owned(), Arc::new(sub));
    let t = compile(
        "<subtransform class='T.X' sourceObj='source' targetObj='target' /><trace value='target.{MSH:4}' />",
        "",
        "copy",
    )
    .unwrap();
    let out = run_with(&t, None, None, &subs).unwrap();
    assert_eq!(out.traces, ["SUB"]);
}

#[test]
fn load_time_rejections_name_the_construct() {
    let err = |body: &str| compile(body, "", "copy").unwrap_err();
    assert!(matches!(err("<trace value='tNever' />"), LoadError::Expression { .. }));
    assert!(
        matches!(err("<trace value='..EndsWith(1,2)' />"), LoadError::UnknownFunction { name, .. } if name == "EndsWith")
    );
    assert!(
        matches!(err("<trace value='##class(A.B).C()' />"), LoadError::UnsupportedExpression { construct, .. } if construct == "##class")
    );
    assert!(
        matches!(err("<trace value='$ZDATE(1)' />"), LoadError::UnsupportedExpression { construct, .. } if construct == "$ZDATE")
    );
    assert!(
        matches!(err("<assign value='1' property='target.{PID:3()}' action='clear' />"), LoadError::UnsupportedAssignAction { action, .. } if action == "clear")
    );
    assert!(
        matches!(err("<assign value='1' property='target.{PID:3()}' action='insert' key='1' />"), LoadError::UnsupportedAssignAction { action, .. } if action == "insert")
    );
    assert!(matches!(err("<frobnicate/>"), LoadError::Invalid { element, .. } if element == "frobnicate"));
    let py = "Class T.P Extends Ens.DataTransformDTL\n{\nXData DTL\n{\n<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' language='python'></transform>\n}\n}\n";
    assert!(
        matches!(hie_iris::load_classes(py), Err(LoadError::UnsupportedDtlAction { action, .. }) if action == "language python")
    );
    assert!(compile("<code disabled='1'><![CDATA[ q ]]></code>", "", "copy").is_err());
    assert!(compile("<trace disabled='1' value='tNever' />", "", "copy").is_ok());
}
