//! Issue 12: an IRIS production's own rule class and DTLs run in the real engine: the
//! router finds the `Ens.Rule.Definition` its `BusinessRuleName` names beside the
//! production, with the DTLs, custom schema and lookup tables there, and messages reach
//! exactly the targets (and bodies) the fixtures' README gives.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::mllp::Client;
use hie_tests::{TempDir, finished_files, free_port, hl7, wait_for, workspace_root};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Every item the ADT router's rule can send to, each a file operation into `out/<name>`.
const OUTPUTS: [&str; 10] = [
    "OldPAS_Out",
    "Never_Out",
    "EPR_Out",
    "EPR_Backup_Out",
    "Tagged_Out",
    "ADT_Archive",
    "Unrouted_Out",
    "Welsh_Out",
    "Audit_Out",
    "Bad_Out",
];

fn fixtures() -> PathBuf {
    workspace_root().join("tests/fixtures/iris")
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Copies the fixture files `files` (relative to tests/fixtures/iris) into `dir/<sub>/`.
fn copy(dir: &Path, sub: &str, files: &[&str]) {
    std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    for f in files {
        let name = Path::new(f).file_name().expect("file name");
        std::fs::copy(fixtures().join(f), dir.join(sub).join(name)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

/// The fixture production's ADT part as a Trust would deploy it: the production file,
/// `rules/`, `dtl/`, `schema/` and `lookup/` beside it.
fn deploy(dir: &Path, pas_port: u16, zpi_port: u16, rule: &str) -> PathBuf {
    deploy_validating(dir, pas_port, zpi_port, rule, "", "")
}

/// [`deploy`] with the `Validation` of PAS_ADT_In and of ADT_Router.
fn deploy_validating(dir: &Path, pas_port: u16, zpi_port: u16, rule: &str, pas: &str, router: &str) -> PathBuf {
    copy(dir, "rules", &["rules/HIE.Test.Rules.ADTRouter.cls", "rules/unsupported/HIE.Test.Rules.UnknownFunction.xml"]);
    copy(
        dir,
        "dtl",
        &["dtl/HIE.Test.DTL.ADTToEPR.cls", "dtl/HIE.Test.DTL.AuxTag.cls", "dtl/HIE.Test.DTL.Sub.PIDNormalise.cls"],
    );
    copy(dir, "schema", &["schema/HIE_2.5.xml"]);
    copy(dir, "lookup", &["lookup/SexCodes.xml", "lookup/legacy_tables.xml"]);
    let outputs: String = OUTPUTS
        .iter()
        .map(|o| {
            format!(
                "  <Item Name=\"{o}\" ClassName=\"EnsLib.HL7.Operation.FileOperation\">\n    <Setting Target=\"Adapter\" Name=\"FilePath\">{}</Setting>\n    <Setting Target=\"Host\" Name=\"Filename\">%f.hl7</Setting>\n  </Item>\n",
                dir.join("out").join(o).display()
            )
        })
        .collect();
    let production = format!(
        r#"<?xml version="1.0"?>
<Production Name="HIE.Test.Production" LogGeneralTraceEvents="false">
  <Item Name="PAS_ADT_In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="Port">{pas_port}</Setting>
    <Setting Target="Host" Name="MessageSchemaCategory">2.5</Setting>
    <Setting Target="Host" Name="TargetConfigNames">ADT_Router</Setting>
    <Setting Target="Host" Name="Validation">{pas}</Setting>
  </Item>
  <Item Name="ZPI_In" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="Port">{zpi_port}</Setting>
    <Setting Target="Host" Name="MessageSchemaCategory">HIE_2.5</Setting>
    <Setting Target="Host" Name="TargetConfigNames">ADT_Router</Setting>
  </Item>
  <Item Name="ADT_Router" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" PoolSize="1" Enabled="true">
    <Setting Target="Host" Name="BusinessRuleName">{rule}</Setting>
    <Setting Target="Host" Name="BadMessageHandler">Bad_Out</Setting>
    <Setting Target="Host" Name="Validation">{router}</Setting>
  </Item>
{outputs}</Production>
"#
    );
    let config = dir.join("HIE.Test.Production.xml");
    std::fs::write(&config, production).expect("write production");
    config
}

/// What each output directory holds now, by item.
fn received(dir: &Path) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    OUTPUTS
        .iter()
        .map(|o| {
            let mut files = finished_files(&dir.join("out").join(o)).unwrap_or_default();
            files.sort();
            (*o, files.iter().map(|f| std::fs::read(f).expect("read output")).collect())
        })
        .collect()
}

/// An accept: AA, or CA for the fixtures' senders, which ask for enhanced mode (MSH-15 AL).
fn accepted(ack: &[u8]) -> bool {
    ["AA", "CA"].contains(&hl7::ack_code(ack).as_str())
}

/// `hie run` of `config` on a free API port; its exit code and stderr.
fn run_once(dir: &TempDir, config: &Path) -> (i32, String) {
    let api = format!("127.0.0.1:{}", free_port());
    let (code, _, err) = run_hie(&[
        "run",
        config.to_str().expect("path"),
        "--data-dir",
        dir.join("data").to_str().expect("path"),
        "--api",
        &api,
    ]);
    (code, err)
}

fn count(dir: &Path, item: &str) -> usize {
    received(dir).into_iter().find(|(o, _)| *o == item).map_or(0, |(_, m)| m.len())
}

#[test]
fn an_imported_iris_rule_routes_by_schema_paths_runs_its_dtls_and_deletes_test_patients() {
    let dir = TempDir::new("iris-rule");
    let (pas, zpi) = (free_port(), free_port());
    let config = deploy(&dir.0, pas, zpi, "HIE.Test.Rules.ADTRouter");
    let engine = Engine::start(&config, &dir.join("data"), &[]);

    let mut client = Client::connect_retry(pas);
    for m in ["adt_a01_inpatient", "adt_a08_test_patient", "adt_a03_discharge"] {
        let ack = client.send(&fixture(&format!("messages/{m}.hl7"))).expect("send");
        assert!(accepted(&ack), "{m}");
    }
    // The Z-segment feed's category (HIE_2.5, the custom schema) gives ZPI its field names.
    let mut zpi_client = Client::connect_retry(zpi);
    let ack = zpi_client.send(&fixture("messages/adt_a28_zpi.hl7")).expect("send");
    assert!(accepted(&ack));

    wait_for(T, "every routed message written", || {
        let done = count(&dir.0, "ADT_Archive") == 2
            && count(&dir.0, "Audit_Out") == 1
            && count(&dir.0, "EPR_Out") == 1
            && count(&dir.0, "EPR_Backup_Out") == 1
            && count(&dir.0, "Tagged_Out") == 1
            && count(&dir.0, "Welsh_Out") == 1;
        done.then_some(())
    });
    // All four were routed (the router processed them), so nothing else is still coming.
    engine.wait_until(T, "the router done with all four", |p| {
        p["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["name"] == "ADT_Router" && i["processed"].as_u64() == Some(4)))
    });

    let inpatient = fixture("messages/adt_a01_inpatient.hl7");
    let epr = fixture("dtl/expected/HIE.Test.DTL.ADTToEPR__adt_a01_inpatient.hl7");
    let tagged = fixture("dtl/expected/HIE.Test.DTL.AuxTag__adt_a01_inpatient__via_ADTRouter.hl7");
    let discharge = fixture("messages/adt_a03_discharge.hl7");
    let mut archive = vec![inpatient.clone(), discharge];
    archive.sort_by_key(|m| hl7::control_id(m));
    for (item, mut got) in received(&dir.0) {
        got.sort_by_key(|m| hl7::control_id(m));
        let want: Vec<Vec<u8>> = match item {
            // "Admissions and updates": both EPR feeds get the ADTToEPR output byte for byte.
            "EPR_Out" | "EPR_Backup_Out" => vec![epr.clone()],
            // AuxTag reads aux.RuleUserData ("INPATIENT") and aux.BusinessRuleName.
            "Tagged_Out" => vec![tagged.clone()],
            // Untransformed sends forward the message unchanged; the discharge returns early.
            "ADT_Archive" => archive.clone(),
            "Audit_Out" => vec![inpatient.clone()],
            "Welsh_Out" => vec![fixture("messages/adt_a28_zpi.hl7")],
            // The legacy rule set is not in effect, the retired rule is disabled, the test
            // patient was deleted, and nothing failed.
            _ => vec![],
        };
        assert_eq!(got, want, "{item} received {:?}", got.iter().map(|m| hl7::control_id(m)).collect::<Vec<_>>());
    }
    let router = engine.item("ADT_Router");
    assert_eq!(router["pack"], "hie-pack-hl7");
}

#[test]
fn a_rule_class_that_does_not_compile_stops_the_start_naming_the_file_and_the_construct() {
    let dir = TempDir::new("iris-rule-bad");
    let (pas, zpi) = (free_port(), free_port());
    let config = deploy(&dir.0, pas, zpi, "rules/HIE.Test.Rules.UnknownFunction.xml");
    let (code, err) = run_once(&dir, &config);
    assert_ne!(code, 0, "the production must not start: {err}");
    assert!(err.contains("ADT_Router"), "names the item: {err}");
    assert!(err.contains("HIE.Test.Rules.UnknownFunction.xml"), "names the file: {err}");
    assert!(err.contains("EndsWith"), "names the construct: {err}");
}

#[test]
fn a_business_rule_name_that_names_no_rule_class_or_file_is_a_start_error_saying_where_it_looked() {
    let dir = TempDir::new("iris-rule-missing");
    let (pas, zpi) = (free_port(), free_port());
    let config = deploy(&dir.0, pas, zpi, "HIE.Test.Rules.NoSuchRouter");
    let (code, err) = run_once(&dir, &config);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("no rules for BusinessRuleName HIE.Test.Rules.NoSuchRouter"), "{err}");
    assert!(err.contains("rules/HIE.Test.Rules.NoSuchRouter.yaml"), "says where it looked: {err}");
}

#[test]
fn validation_nacks_a_message_missing_a_required_segment_at_the_service_and_routes_one_to_the_bad_message_handler() {
    let dir = TempDir::new("iris-validation");
    let (pas, zpi) = (free_port(), free_port());
    let config = deploy_validating(&dir.0, pas, zpi, "HIE.Test.Rules.ADTRouter", "1", "dm");
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let missing_pv1 = fixture("messages/adt_a01_missing_pv1.hl7");

    // The service (Validation=1, i.e. dm-z against 2.5:ADT_A01) refuses it: AE, ERR naming PV1, code 100.
    let mut client = Client::connect_retry(pas);
    let nack = client.send(&missing_pv1).expect("send");
    assert!(["AE", "CE"].contains(&hl7::ack_code(&nack).as_str()), "{}", String::from_utf8_lossy(&nack));
    let err = hl7::value(&nack, "ERR-2");
    assert!(err.starts_with("PV1"), "ERR-2 names the segment: {}", String::from_utf8_lossy(&nack));
    assert_eq!(hl7::value(&nack, "ERR-3.1"), "100", "segment sequence error: {}", String::from_utf8_lossy(&nack));
    let ack = client.send(&fixture("messages/adt_a01_inpatient.hl7")).expect("send");
    assert!(accepted(&ack), "a conforming message is accepted on the same connection");

    // The Z feed does not validate, the router (Validation=dm) does: the message reaches
    // only the BadMessageHandler, and no rule runs on it.
    let mut zpi_client = Client::connect_retry(zpi);
    assert!(accepted(&zpi_client.send(&missing_pv1).expect("send")));
    wait_for(T, "the bad message and the inpatient routed", || {
        (count(&dir.0, "Bad_Out") == 1 && count(&dir.0, "EPR_Out") == 1).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    let bad = received(&dir.0).into_iter().find(|(o, _)| *o == "Bad_Out").map(|(_, m)| m).unwrap_or_default();
    assert_eq!(bad, vec![missing_pv1], "BadMessageHandler gets the message unchanged");
    assert_eq!(count(&dir.0, "Unrouted_Out"), 0, "the rule never saw it");
    assert_eq!(count(&dir.0, "ADT_Archive"), 1, "only the inpatient");
}

#[test]
fn hie_dtl_run_prints_what_the_router_would_send_and_hie_rules_convert_says_what_has_no_yaml_form() {
    let dir = TempDir::new("iris-cli");
    deploy(&dir.0, free_port(), free_port(), "HIE.Test.Rules.ADTRouter");
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    let msg = path(&fixtures().join("messages/adt_a01_inpatient.hl7"));
    let here = path(&dir.0);

    let (code, out, err) =
        run_hie(&["dtl", "run", "HIE.Test.DTL.ADTToEPR", &msg, "--dir", &here, "--category", "2.5", "--raw"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.as_bytes(), fixture("dtl/expected/HIE.Test.DTL.ADTToEPR__adt_a01_inpatient.hl7"), "{err}");
    assert!(err.contains("trace: ADTToEPR ADT0001 -> 9434765919"), "the transform's trace: {err}");
    let (code, out, _) = run_hie(&["dtl", "run", "HIE.Test.DTL.ADTToEPR", &msg, "--dir", &here, "--category", "2.5"]);
    assert_eq!(code, 0);
    assert!(out.lines().next().is_some_and(|l| l.starts_with("MSH|^~\\&|HIE|")), "one segment per line: {out}");
    let (code, _, err) = run_hie(&["dtl", "run", "No.Such.DTL", &msg, "--dir", &here]);
    assert_ne!(code, 0);
    assert!(err.contains("no DTL class No.Such.DTL"), "{err}");

    // Two rule sets (effective dates) have no YAML form: said, exit 1.
    let adt = path(&dir.join("rules/HIE.Test.Rules.ADTRouter.cls"));
    let (code, _, err) = run_hie(&["rules", "convert", &adt]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("HIE.Test.Rules.ADTRouter has no YAML form") && err.contains("2 rule sets"), "{err}");
    let simple = dir.join("Simple.xml");
    std::fs::write(
        &simple,
        r#"<ruleDefinition alias="" context="EnsLib.HL7.MsgRouter.RoutingEngine"><ruleSet name="Main">
<rule name="adt"><constraint name="docName" value="ADT_A01"></constraint>
<when condition="HL7.{PV1:2}=&quot;I&quot;"><send transform="" target="EPR_Out"></send></when></rule>
</ruleSet></ruleDefinition>"#,
    )
    .expect("write");
    let (code, out, err) = run_hie(&["rules", "convert", &path(&simple)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rules:") && out.contains("target: 'EPR_Out'") && out.contains("PV1-2 = \"I\""), "{out}");
}

/// PV1-3.4 (the site ADTToEPR looks up from the ward) of the first EPR_Out file not in `seen`.
fn next_epr_site(dir: &Path, seen: &mut Vec<PathBuf>) -> String {
    let file = wait_for(T, "the next EPR_Out message", || {
        finished_files(&dir.join("out/EPR_Out")).unwrap_or_default().into_iter().find(|f| !seen.contains(f))
    });
    seen.push(file.clone());
    let body = std::fs::read(&file).expect("read output");
    let text = String::from_utf8_lossy(&body).into_owned();
    let pv1 = text.split('\r').find(|s| s.starts_with("PV1|")).expect("a PV1 segment").to_owned();
    pv1.split('|').nth(3).and_then(|f| f.split('^').nth(3)).unwrap_or("").to_owned()
}

#[test]
fn lookup_tables_edited_on_disk_through_the_api_or_the_cli_apply_to_the_next_message_without_a_restart() {
    let dir = TempDir::new("iris-lookups");
    let (pas, zpi) = (free_port(), free_port());
    let config = deploy(&dir.0, pas, zpi, "HIE.Test.Rules.ADTRouter");
    // One file per message in EPR_Out (the fixture production names them all `.hl7`).
    let text = std::fs::read_to_string(&config).expect("production").replace("%f.hl7", "%f_%Q.hl7");
    std::fs::write(&config, text).expect("production");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let pid = engine.pid();
    let mut client = Client::connect_retry(pas);
    let inpatient = fixture("messages/adt_a01_inpatient.hl7");
    let mut seen = Vec::new();
    let send = |client: &mut Client| assert!(accepted(&client.send(&inpatient).expect("send")));

    send(&mut client);
    assert_eq!(next_epr_site(&dir.0, &mut seen), "LEEDSGEN", "WARD1 in legacy_tables.xml");

    // 1. The Trust edits its own file: the watcher reloads, the router restarts on it.
    let legacy = dir.join("lookup/legacy_tables.xml");
    let edited = std::fs::read_to_string(&legacy).expect("legacy").replace(">LEEDSGEN<", ">FROM_FILE<");
    std::fs::write(&legacy, edited).expect("edit");
    wait_for(T, "the edited table in use", || {
        let t = engine.get("/api/lookups/WardToSite");
        (t["entries"]["WARD1"] == "FROM_FILE").then_some(())
    });
    engine.wait_until(T, "the router restarted on the edited file", |p| {
        let last = &p["config"]["last_reload"];
        last["outcome"] == "applied" && last["source"] == "watch"
    });
    send(&mut client);
    assert_eq!(next_epr_site(&dir.0, &mut seen), "FROM_FILE");

    // 2. The API: PUT one entry.
    let (code, answer) =
        hie_tests::api::request(&engine.api, "PUT", "/api/lookups/WardToSite/WARD1", Some("FROM_API")).expect("PUT");
    assert_eq!(code, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(answer["changed"], serde_json::json!(["WardToSite"]));
    assert!(["applied", "unchanged"].contains(&answer["reload"]["outcome"].as_str().unwrap_or("")), "{answer}");
    send(&mut client);
    assert_eq!(next_epr_site(&dir.0, &mut seen), "FROM_API");

    // 3. The CLI: set, show, delete (a deleted ward falls back to the DTL's default).
    let api = engine.api.clone();
    let (code, out, err) = run_hie(&["lookups", "--api", &api, "set", "WardToSite", "WARD1", "FROM CLI"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run_hie(&["lookups", "--api", &api, "show", "WardToSite"]);
    assert_eq!(code, 0);
    assert!(out.contains("WARD1\tFROM CLI") && out.contains("WARD2\tSTJAMES"), "{out}");
    send(&mut client);
    assert_eq!(next_epr_site(&dir.0, &mut seen), "FROM CLI");
    let (code, out, err) = run_hie(&["lookups", "--api", &api, "delete", "WardToSite", "WARD1"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run_hie(&["lookups", "--api", &api, "delete", "WardToSite", "WARD1"]);
    assert_eq!(code, 1, "a missing entry is an error");
    assert!(err.contains("no key \"WARD1\""), "{err}");
    send(&mut client);
    assert_eq!(next_epr_site(&dir.0, &mut seen), "UNKNOWN", "the DTL's default");

    let (code, out, _) = run_hie(&["lookups", "--api", &api]);
    assert_eq!(code, 0);
    assert!(out.contains("WardToSite\t2 entries"), "{out}");
    assert_eq!(engine.pid(), pid, "one engine process throughout");
    assert!(count(&dir.0, "Bad_Out") == 0);
}

#[test]
fn field_validation_flags_nack_an_empty_required_field_and_an_unknown_table_code_naming_the_field() {
    let dir = TempDir::new("iris-field-validation");
    let (pas, zpi) = (free_port(), free_port());
    let config = deploy_validating(&dir.0, pas, zpi, "HIE.Test.Rules.ADTRouter", "drt", "");
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let inpatient = String::from_utf8_lossy(&fixture("messages/adt_a01_inpatient.hl7")).into_owned();
    let mut client = Client::connect_retry(pas);
    let nack_of = |client: &mut Client, body: &str| {
        let nack = client.send(body.as_bytes()).expect("send");
        let text = String::from_utf8_lossy(&nack).into_owned();
        assert!(["AE", "CE"].contains(&hl7::ack_code(&nack).as_str()), "{text}");
        (hl7::value(&nack, "ERR-2"), hl7::value(&nack, "ERR-3.1"), text)
    };
    // r: PV1-2 (Patient Class) is required in 2.5.
    let (erl, code, text) = nack_of(&mut client, &inpatient.replace("PV1|1|I|", "PV1|1||"));
    assert_eq!(code, "101", "required field missing: {text}");
    assert!(erl.starts_with("PV1") && erl.ends_with("^2"), "ERR-2 names segment and field: {text}");
    // t: "Q" is no patient class of table 0004.
    let (erl, code, text) = nack_of(&mut client, &inpatient.replace("PV1|1|I|", "PV1|1|Q|"));
    assert_eq!(code, "103", "table value not found: {text}");
    assert!(erl.starts_with("PV1"), "{text}");
    assert!(accepted(&client.send(inpatient.as_bytes()).expect("send")), "the fixture passes drt");
}
