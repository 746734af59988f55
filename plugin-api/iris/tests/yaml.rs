//! `to_yaml` / `convert`: which IRIS rules map to HIE's YAML rule format, and the exact text.

mod common;

use hie_iris::rules::{convert, to_yaml};

const SIMPLE: &str = r#"<ruleDefinition context="EnsLib.HL7.MsgRouter.RoutingEngine">
<ruleSet name="Main" effectiveBegin="" effectiveEnd="">
<rule name="drop test" disabled="false">
<constraint name="source" value="PAS"></constraint>
<when condition="StartsWith(HL7.{PID:5.1},&quot;TEST&quot;)"><trace value="&quot;x&quot;"></trace><delete></delete><return></return></when>
</rule>
<rule name="adt" disabled="false">
<constraint name="docName" value="ADT_A01,ADT_A08"></constraint>
<constraint name="msgClass" value="EnsLib.HL7.Message"></constraint>
<when condition="HL7.{PV1:2}=&quot;I&quot;"><send target="A,B" transform="T"></send></when>
<when condition="HL7.{PV1:2}!=&quot;&quot;"><send target="C" transform=""></send></when>
<otherwise><send target="Unrouted Out"></send><return></return></otherwise>
</rule>
<rule name="old" disabled="true"><when condition="1"><send target="Never"></send></when></rule>
</ruleSet>
</ruleDefinition>"#;

fn rule_from(text: &str) -> hie_iris::RuleDefinition {
    match hie_iris::load_classes_named(text, "Test.Simple").expect("loads").pop() {
        Some(hie_iris::IrisClass::Rule(r)) => r,
        _ => panic!("not a rule"),
    }
}

#[test]
fn a_rule_with_several_whens_becomes_mutually_exclusive_yaml_rules() {
    let c = convert(&rule_from(SIMPLE));
    let want = r#"# Converted from the IRIS rule class Test.Simple (rule set "Main").
rules:
  - name: 'drop test'
    when: '(Source = "PAS") and (PID-5.1 starts-with "TEST")'
    delete: true
    return: true
  - name: 'adt (when#1)'
    when: '(DocType in ("ADT^A01", "ADT^A08")) and (PV1-2 = "I")'
    send:
      - target: 'A'
        transform: 'T'
      - target: 'B'
        transform: 'T'
  - name: 'adt (when#2)'
    when: '(DocType in ("ADT^A01", "ADT^A08")) and ((not (PV1-2 = "I")) and (PV1-2 exists))'
    send:
      - target: 'C'
  - name: 'adt (otherwise)'
    when: '(DocType in ("ADT^A01", "ADT^A08")) and (not ((PV1-2 = "I") or (PV1-2 exists)))'
    send:
      - target: 'Unrouted Out'
    return: true
  - name: 'old'
    disabled: true
    send:
      - target: 'Never'
# An IRIS router sends nothing when no rule fires.
otherwise:
  send: []
"#;
    assert_eq!(c.yaml.as_deref(), Some(want), "{}", c.yaml.as_deref().unwrap_or(""));
    assert_eq!(c.notes, ["drop test: trace/debug \"x\" dropped (it does not change routing)"]);
}

#[test]
fn rules_yaml_cannot_express_are_refused_with_a_note() {
    for (rel, why) in [
        ("rules/HIE.Test.Rules.ADTRouter.cls", "2 rule sets"),
        ("rules/HIE.Test.Rules.LabRouter.xml", "the docCategory constraint"),
        ("rules/HIE.Test.Rules.AlertRouter.cls", "SourceConfigName"),
        ("rules/HIE.Test.Rules.Operators.xml", "has no YAML equivalent"),
    ] {
        let r = common::rule(rel);
        let c = convert(&r);
        assert_eq!(c.yaml, None, "{rel}");
        assert!(c.notes[0].starts_with("not expressible in HIE's YAML rules: "), "{rel}: {:?}", c.notes);
        assert!(c.notes[0].contains(why), "{rel}: {:?}", c.notes);
        assert_eq!(to_yaml(&r), None);
    }
}

#[test]
fn the_irisdemo_sample_is_refused_for_its_doc_category_constraint() {
    let text =
        std::fs::read_to_string("/work/shared/samples/iris/irisdemo-readmission_HISHL7v2FileFeedRoutingRule.cls")
            .unwrap();
    let r = match hie_iris::load_classes(&text).unwrap().pop() {
        Some(hie_iris::IrisClass::Rule(r)) => r,
        _ => panic!("not a rule"),
    };
    let c = convert(&r);
    assert_eq!(c.yaml, None);
    assert!(c.notes[0].contains("docCategory"), "{:?}", c.notes);
}
