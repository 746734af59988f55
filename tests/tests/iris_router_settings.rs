//! Issue 12: the IRIS router's error settings. `ActOnTransformError` (IRIS: "if True,
//! errors returned by a transformation stop rule evaluation and are handled as errors"):
//! off, a failing DTL skips only its own send; on, the message takes the error path and
//! nothing is sent. `ActOnValidationError`: a message failing `Validation` takes the error
//! path instead of going to the BadMessageHandler. `RuleLogging` `r` and `d` put the rules
//! that fired and the `<debug>` entries in the item's log; an unknown flag stops the start.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::mllp::Client;
use hie_tests::{TempDir, finished_files, free_port, hl7, wait_for, workspace_root};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

const FAILING_DTL: &str = r#"Class HIE.Test.DTL.Fails Extends Ens.DataTransformDTL [ DependsOn = EnsLib.HL7.Message ]
{
Parameter REPORTERRORS = 1;

XData DTL [ XMLNamespace = "http://www.intersystems.com/dtl" ]
{
<transform sourceClass='EnsLib.HL7.Message' targetClass='EnsLib.HL7.Message' create='copy' language='objectscript' >
<assign value='1/0' property='target.{PID:8}' action='set' />
</transform>
}
}
"#;

const RULE: &str = r#"<ruleDefinition context="EnsLib.HL7.MsgRouter.RoutingEngine">
<ruleSet name="S" effectiveBegin="" effectiveEnd="">
<rule name="both" disabled="false">
<when condition="1">
<debug value="&quot;control &quot;_HL7.{MSH:10}"></debug>
<send transform="HIE.Test.DTL.Fails" target="Transformed_Out"></send>
<send target="Plain_Out"></send>
</when>
</rule>
</ruleSet>
</ruleDefinition>
"#;

fn deploy(dir: &Path, ports: [u16; 3], logging: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("rules")).expect("mkdir");
    std::fs::create_dir_all(dir.join("dtl")).expect("mkdir");
    std::fs::write(dir.join("rules/HIE.Test.Rules.Both.xml"), RULE).expect("rule");
    std::fs::write(dir.join("dtl/HIE.Test.DTL.Fails.cls"), FAILING_DTL).expect("dtl");
    let out = |name: &str| {
        format!(
            "  - id: {name}\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n    host_settings: {{Filename: '%f_%Q.hl7'}}\n",
            dir.join("out").join(name).display()
        )
    };
    let mut yaml = String::from("name: RouterSettings\nitems:\n");
    for (i, (router, settings)) in [
        ("Lenient", format!("RuleLogging: '{logging}'")),
        ("Strict", "ActOnTransformError: 1".to_string()),
        ("Checked", "Validation: d, ActOnValidationError: 1, BadMessageHandler: Bad_Out".to_string()),
    ]
    .iter()
    .enumerate()
    {
        yaml.push_str(&format!(
            "  - id: {router}_In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {}}}\n    host_settings: {{TargetConfigNames: {router}}}\n",
            ports[i]
        ));
        yaml.push_str(&format!(
            "  - id: {router}\n    class: EnsLib.HL7.MsgRouter.RoutingEngine\n    host_settings: {{BusinessRuleName: HIE.Test.Rules.Both, {settings}}}\n"
        ));
    }
    for o in ["Transformed_Out", "Plain_Out", "Bad_Out"] {
        yaml.push_str(&out(o));
    }
    let config = dir.join("production.yaml");
    std::fs::write(&config, yaml).expect("production");
    config
}

fn count(dir: &Path, item: &str) -> usize {
    finished_files(&dir.join("out").join(item)).map_or(0, |f| f.len())
}

fn send(port: u16, control: &str) {
    let msg =
        std::fs::read(workspace_root().join("tests/fixtures/iris/messages/adt_a01_inpatient.hl7")).expect("fixture");
    let msg = String::from_utf8_lossy(&msg).replacen("|ADT0001|", &format!("|{control}|"), 1);
    let ack = Client::connect_retry(port).send(msg.as_bytes()).expect("send");
    assert!(["AA", "CA"].contains(&hl7::ack_code(&ack).as_str()), "{}", String::from_utf8_lossy(&ack));
}

#[test]
fn a_failing_dtl_skips_its_send_by_default_and_fails_the_message_with_act_on_transform_error() {
    let dir = TempDir::new("router-settings");
    let ports = [free_port(), free_port(), free_port()];
    let config = deploy(&dir.0, ports, "erd");
    let engine = Engine::start(&config, &dir.join("data"), &[]);

    // ActOnTransformError=0: the DTL's send is skipped, the plain one is made.
    send(ports[0], "LENIENT1");
    wait_for(T, "the plain send", || (count(&dir.0, "Plain_Out") == 1).then_some(()));
    engine.wait_until(T, "Lenient done", |p| {
        p["items"].as_array().is_some_and(|i| i.iter().any(|i| i["name"] == "Lenient" && i["processed"] == 1))
    });
    let lenient = engine.item("Lenient");
    assert_eq!(lenient["errors"], 0, "{lenient}");

    // ActOnTransformError=1: the error path, nothing sent.
    send(ports[1], "STRICT1");
    engine.wait_until(T, "Strict's error", |p| {
        p["items"].as_array().is_some_and(|i| i.iter().any(|i| i["name"] == "Strict" && i["errors"] == 1))
    });

    // ActOnValidationError=1 with Validation d: the inpatient has a DocType, so it routes;
    // a message of a type no schema knows fails validation and takes the error path.
    let unknown = "MSH|^~\\&|PAS|RXX|EPR|RXX|20260101||ZZZ^Z99|CHECK1|P|2.5\rPID|1||123\r";
    let ack = Client::connect_retry(ports[2]).send(unknown.as_bytes()).expect("send");
    assert!(["AA", "CA"].contains(&hl7::ack_code(&ack).as_str()));
    engine.wait_until(T, "Checked's error", |p| {
        p["items"].as_array().is_some_and(|i| i.iter().any(|i| i["name"] == "Checked" && i["errors"] == 1))
    });

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&dir.0, "Transformed_Out"), 0, "no transform succeeded");
    assert_eq!(count(&dir.0, "Plain_Out"), 1, "only Lenient sent anything");
    assert_eq!(count(&dir.0, "Bad_Out"), 0, "ActOnValidationError: the error path, not the BadMessageHandler");
    let log = engine.log_text();
    assert!(log.contains("division by zero"), "the skipped send's error is logged");
    assert_eq!(log.matches("rule HIE.Test.Rules.Both: fired").count(), 1, "RuleLogging r, on Lenient only:\n{log}");
    assert!(log.contains("rule debug: control LENIENT1"), "RuleLogging d");
    assert!(!log.contains("rule debug: control STRICT1"), "Strict logs no debug entries (RuleLogging e)");
}

#[test]
fn an_unknown_rule_logging_flag_stops_the_start_naming_it() {
    let dir = TempDir::new("router-logging");
    let config = deploy(&dir.0, [free_port(), free_port(), free_port()], "ex");
    let api = format!("127.0.0.1:{}", free_port());
    let data = dir.join("data");
    let (code, _, err) =
        run_hie(&["run", config.to_str().expect("path"), "--data-dir", data.to_str().expect("path"), "--api", &api]);
    assert_ne!(code, 0);
    assert!(err.contains("RuleLogging") && err.contains("'x'"), "{err}");
}
