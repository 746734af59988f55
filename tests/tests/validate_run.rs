//! Issue 17 item 2: validate ⇒ run. Over every production in the repository's corpus
//! (the demo, the IRIS samples and the IRIS fixtures in each file format), with and
//! without `--skip-unresolved`: when `hie validate` exits 0, `hie run` reaches Running;
//! when it exits 2, `hie run` refuses to start too. Items are built at validation (rules
//! files and transforms opened and parsed), so a production cannot validate and then
//! fail to start.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::{TempDir, free_port, workspace_root};
use std::path::{Path, PathBuf};

/// Copies `from` into `to`, recursively (a production resolves its rules, DTLs and
/// `data/` paths against its own directory).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// One production of the corpus: the directory copied for it, the file in it, and the
/// extra arguments both commands get.
struct Case {
    dir: &'static str,
    file: &'static str,
    args: &'static [&'static str],
}

const CORPUS: &[Case] = &[
    Case { dir: "config", file: "demo.yaml", args: &[] },
    Case {
        dir: "config/samples/iris",
        file: "06_irisdemo-demo-readmission_risksrv_IRISDemo.Production.cls",
        args: &[],
    },
    Case { dir: "config/samples/iris", file: "07_irisdemo-demo-readmission_hisdb_IRISDemo.Production.cls", args: &[] },
    Case { dir: "tests/fixtures/iris", file: "production/HIE.Test.Production.cls", args: &[] },
    Case { dir: "tests/fixtures/iris/productions", file: "bare-production.xml", args: &[] },
    Case { dir: "tests/fixtures/iris/productions", file: "udl-production.cls", args: &[] },
    Case { dir: "tests/fixtures/iris/productions", file: "esd-precedence.export.xml", args: &[] },
    Case {
        dir: "tests/fixtures/iris/productions",
        file: "nhs-adt.export.xml",
        args: &["--defaults", "nhs-adt.DefaultSettings.xml"],
    },
];

/// Validates `case` (with `skip`), then runs it: Running when it validated, a refusal
/// when it did not. Returns whether it validated.
fn check(case: &Case, skip: bool) -> bool {
    let tag = format!("{}-{}", case.file.replace(['/', '.'], "-"), if skip { "skip" } else { "strict" });
    let tmp = TempDir::new(&format!("vr-{tag}"));
    let root = tmp.join("p");
    copy_dir(&workspace_root().join(case.dir), &root);
    let file: PathBuf = root.join(case.file);
    // `--defaults` files are relative to the production's copy.
    let mut args: Vec<String> = Vec::new();
    let mut iter = case.args.iter();
    while let Some(a) = iter.next() {
        args.push(a.to_string());
        if *a == "--defaults"
            && let Some(f) = iter.next()
        {
            args.push(root.join(f).display().to_string());
        }
    }
    if skip {
        args.push("--skip-unresolved".into());
    }
    let mut validate = vec!["validate".to_string(), file.display().to_string()];
    validate.extend(args.iter().cloned());
    let validate: Vec<&str> = validate.iter().map(String::as_str).collect();
    let (code, out, err) = run_hie(&validate);
    assert!(code == 0 || code == 2, "{tag}: validate exits 0 or 2, not {code}:\n{out}{err}");
    let extra: Vec<&str> = args.iter().map(String::as_str).collect();
    if code == 0 {
        // Engine::start panics with the log when the production does not reach Running.
        let mut engine = Engine::start_with(&file, &tmp.join("data"), &[], &extra);
        let state = engine.production();
        assert_eq!(state["state"], "Running", "{tag}: {state}");
        engine.terminate();
    } else {
        let api = format!("127.0.0.1:{}", free_port());
        let data = tmp.join("data").display().to_string();
        let mut run = vec!["run", file.to_str().unwrap(), "--data-dir", &data, "--api", &api];
        run.extend(extra.iter().copied());
        let (run_code, _, run_err) = run_hie(&run);
        assert_eq!(run_code, 2, "{tag}: validate refused it, so run must too:\n{run_err}");
        assert!(run_err.contains("nothing started"), "{tag}: {run_err}");
    }
    code == 0
}

#[test]
fn every_production_of_the_corpus_that_validates_runs_and_one_that_does_not_is_refused_by_run_too() {
    let mut validated = Vec::new();
    for case in CORPUS {
        for skip in [false, true] {
            if check(case, skip) {
                validated.push(format!("{}{}", case.file, if skip { " --skip-unresolved" } else { "" }));
            }
        }
    }
    // The property must not hold vacuously: these validate (and so ran above).
    for expected in [
        "demo.yaml",
        "bare-production.xml",
        "udl-production.cls",
        "esd-precedence.export.xml",
        "nhs-adt.export.xml",
        "nhs-adt.export.xml --skip-unresolved",
        "06_irisdemo-demo-readmission_risksrv_IRISDemo.Production.cls --skip-unresolved",
    ] {
        assert!(validated.iter().any(|v| v == expected), "{expected} validates; validated: {validated:?}");
    }
}

/// A production whose router names a rules file that is missing, then one that does
/// not parse: both are refused by `hie validate` (file, line, item) and by `hie run`;
/// with `--skip-unresolved` the router is skipped and listed, and the rest runs.
#[test]
fn a_missing_or_unparseable_rules_file_fails_validation_and_skip_unresolved_runs_the_rest() {
    let tmp = TempDir::new("vr-rules");
    let port = free_port();
    let file = tmp.join("Trust.xml");
    std::fs::write(
        &file,
        format!(
            r#"<Production Name="Trust.Rules">
  <Item Name="In" ClassName="EnsLib.HL7.Service.TCPService" Enabled="true">
    <Setting Target="Adapter" Name="Port">{port}</Setting>
    <Setting Target="Host" Name="TargetConfigNames">Router,Archive</Setting>
  </Item>
  <Item Name="Router" ClassName="EnsLib.HL7.MsgRouter.RoutingEngine" Enabled="true">
    <Setting Target="Host" Name="BusinessRuleName">Trust.Rules.Missing</Setting>
  </Item>
  <Item Name="Archive" ClassName="EnsLib.HL7.Operation.FileOperation" Enabled="true">
    <Setting Target="Adapter" Name="FilePath">{}</Setting>
  </Item>
</Production>
"#,
            tmp.join("out").display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(tmp.join("out")).unwrap();
    let config = file.to_str().unwrap();
    let (code, out, _) = run_hie(&["validate", config]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.lines().any(|l| l.contains("Trust.xml:6: error: item 'Router'") && l.contains("Trust.Rules.Missing")),
        "the error names file, line, item and the rule class:\n{out}"
    );
    std::fs::create_dir_all(tmp.join("rules")).unwrap();
    std::fs::write(tmp.join("rules/Trust.Rules.Missing.yaml"), "rules: [ {{{\n").unwrap();
    let (code, out, _) = run_hie(&["validate", config]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("YAML syntax error"), "{out}");
    let api = format!("127.0.0.1:{}", free_port());
    let data = tmp.join("data").display().to_string();
    let (code, _, err) = run_hie(&["run", config, "--data-dir", &data, "--api", &api]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("item 'Router'") && err.contains("nothing started"), "{err}");

    let (code, out, _) = run_hie(&["validate", config, "--skip-unresolved"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().any(|l| l.contains("item 'Router'") && l.contains("skipped: --skip-unresolved")), "{out}");
    assert!(out.lines().any(|l| l.contains("item 'In'") && l.contains("\"Router\" is skipped")), "{out}");
    assert!(out.contains("is valid (2 items"), "{out}");
    let engine = Engine::start_with(&file, &tmp.join("data2"), &[], &["--skip-unresolved"]);
    let production = engine.production();
    let names: Vec<&str> = production["items"].as_array().unwrap().iter().filter_map(|i| i["name"].as_str()).collect();
    assert!(names.contains(&"In") && names.contains(&"Archive") && !names.contains(&"Router"), "{production}");
}

/// Issue 17 item 10: `hie validate` ends with a table of the classes the production
/// uses — items and disabled items per class, and the pack that provides each, or why
/// it cannot exist in HIE, or that it is the Trust's own — and `--json` carries it.
#[test]
fn validate_ends_with_a_migration_report_of_every_class_and_who_provides_it() {
    let tmp = TempDir::new("vr-migration");
    let root = tmp.join("p");
    copy_dir(&workspace_root().join("tests/fixtures/iris/productions"), &root);
    let file = root.join("nhs-adt.export.xml");
    let defaults = root.join("nhs-adt.DefaultSettings.xml");
    let (_, out, err) = run_hie(&["validate", file.to_str().unwrap(), "--defaults", defaults.to_str().unwrap()]);
    let report = out.split("classes this production uses:").nth(1).unwrap_or_else(|| panic!("no report:\n{out}{err}"));
    let row = |class: &str| -> Vec<String> {
        let line = report
            .lines()
            .find(|l| l.split_whitespace().next() == Some(class))
            .unwrap_or_else(|| panic!("no row for {class}:\n{report}"));
        line.split_whitespace().skip(1).map(str::to_string).collect()
    };
    assert_eq!(row("EnsLib.HL7.Operation.TCPOperation")[..3], ["18", "2", "hie-pack-hl7"], "{report}");
    assert_eq!(row("EnsLib.HL7.Service.TCPService")[..3], ["6", "1", "hie-pack-hl7"], "{report}");
    assert_eq!(row("NHSTrust.TIE.BP.PDSTrace").join(" "), "1 1 custom class: port it to a pack", "{report}");
    assert!(report.lines().nth(1).is_some_and(|h| h.contains("CLASS") && h.contains("PROVIDED BY")), "{report}");

    // A gateway class says why it cannot exist in HIE; --json carries the same rows.
    let other = tmp.join("gateway.xml");
    std::fs::write(
        &other,
        r#"<Production Name="Trust.Gateway">
  <Item Name="Java_In" ClassName="EnsLib.JavaGateway.Service" Enabled="true"/>
  <Item Name="Pass" ClassName="HIE.Process.Passthrough" Enabled="true"/>
</Production>
"#,
    )
    .unwrap();
    let (_, out, _) = run_hie(&["validate", other.to_str().unwrap()]);
    assert!(
        out.lines().any(|l| l.starts_with("EnsLib.JavaGateway.Service") && l.contains("not available in HIE: ")),
        "{out}"
    );
    let (_, out, _) = run_hie(&["validate", other.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let classes = v["classes"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(classes[0]["class"], "EnsLib.JavaGateway.Service", "{v}");
    assert_eq!(classes[0]["status"], "unavailable", "{v}");
    assert!(classes[0]["reason"].as_str().is_some_and(|r| r.contains("Java")), "{v}");
    assert_eq!(classes[1]["status"], "pack", "{v}");
    assert_eq!(classes[1]["pack"], "hie-pack-hl7", "{v}");
    assert_eq!((classes[1]["items"].as_u64(), classes[1]["disabled"].as_u64()), (Some(1), Some(0)), "{v}");
}
