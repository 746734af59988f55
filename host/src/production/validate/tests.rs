//! Validation's decisions, each pinned by the diagnostic it gives (severity, line, item,
//! setting, message) or by what it puts in the plan. Productions are written as YAML and
//! loaded the way the engine loads them, so every line in an expectation is a real line.

use super::*;
use crate::pack::{ClassInfo, LoadedPack, SettingInfo};
use crate::production::diagnostics::Severity;
use crate::production::plan::{DEFAULT_INDEX_LAG_ALERT, DEFAULT_SHUTDOWN_TIMEOUT};
use hie_plugin_api::abi::SettingTarget as Declared;
use hie_plugin_api::settings::SettingKind;
use std::path::{Path, PathBuf};

const FILE: &str = "/nonexistent/hie-validate-tests/production.yaml";

/// Loads `text` as the YAML production at [`FILE`].
fn load(text: &str) -> ProductionConfig {
    crate::production::load_str(Path::new(FILE), text).unwrap_or_else(|e| panic!("test production loads: {e}"))
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> u32 {
    let index = text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle:?} in text"));
    u32::try_from(index).expect("small") + 1
}

/// A supported Host setting a class declares.
fn declared(name: &str, default: &str) -> SettingInfo {
    SettingInfo {
        name: name.into(),
        target: Declared::Host,
        default: default.into(),
        doc: String::new(),
        supported: true,
    }
}

fn class(name: &str, kind: ItemKind, adapter: &str, settings: Vec<SettingInfo>) -> ClassInfo {
    ClassInfo { name: name.into(), kind, adapter: adapter.into(), doc: String::new(), settings }
}

/// The classes every test can use:
/// - `Test.Router`: a process with a target list, an unimplemented setting (`Legacy`) and
///   a pack-declared kind (`Level`, 1 to 5);
/// - `Test.Sender`: an operation whose class defaults `FailureTimeout` to -1 and declares
///   integer and number settings;
/// - `Test.Defaulted`: a process whose default target names no item;
/// - `Test.Listener` / `Test.MllpSender`: MLLP inbound and outbound.
fn packs() -> PackRegistry {
    let mut pack = LoadedPack::fake("test-pack", "aaaa");
    pack.classes = vec![
        class(
            "Test.Router",
            ItemKind::Process,
            "",
            vec![
                declared("TargetConfigNames", ""),
                declared("BusinessRuleName", ""),
                SettingInfo { supported: false, ..declared("Legacy", "0") },
                declared("Level", "1"),
            ],
        ),
        class(
            "Test.Sender",
            ItemKind::Operation,
            "",
            vec![
                declared("FailureTimeout", "-1"),
                declared("ConnectTimeout", "5"),
                declared("CallInterval", "1"),
                declared("Port", ""),
            ],
        ),
        class("Test.Defaulted", ItemKind::Process, "", vec![declared("TargetConfigNames", "Nowhere")]),
        class("Test.Listener", ItemKind::Service, adapters::TCP_MLLP_INBOUND, vec![declared("TargetConfigNames", "")]),
        class("Test.MllpSender", ItemKind::Operation, adapters::TCP_MLLP_OUTBOUND, vec![]),
    ];
    pack.setting_kinds =
        [("Test.Router".to_string(), [("Level".to_string(), SettingKind::Int { min: 1, max: 5 })].into())].into();
    let mut registry = PackRegistry::default();
    registry.searched = vec![PathBuf::from("/nonexistent/packs")];
    registry.add(Arc::new(pack));
    registry
}

/// Validates `text` against [`packs`] with default options.
fn check(text: &str) -> (Option<ProductionPlan>, Vec<Diagnostic>) {
    validate(&load(text), &packs(), ValidateOptions::default())
}

/// The plan of a production that must validate.
fn plan_of(text: &str) -> ProductionPlan {
    match check(text) {
        (Some(plan), _) => plan,
        (None, diags) => panic!("expected a plan, got {}", lines(&diags)),
    }
}

fn lines(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("\n  {d}")).collect()
}

/// What a diagnostic says: (severity, line, item, setting, message).
type Said<'a> = (Severity, u32, Option<&'a str>, Option<&'a str>, &'a str);

fn said(d: &Diagnostic) -> Said<'_> {
    (d.severity, d.line, d.item.as_deref(), d.setting.as_deref(), d.message.as_str())
}

fn all_said(diags: &[Diagnostic]) -> Vec<Said<'_>> {
    diags.iter().map(said).collect()
}

fn item<'a>(plan: &'a ProductionPlan, name: &str) -> &'a ItemPlan {
    plan.items.iter().find(|i| &*i.name == name).unwrap_or_else(|| panic!("item {name} in the plan"))
}

/// A router sending to a sender: valid as it stands.
const BASE: &str = "\
name: P
items:
  - id: Router
    class: Test.Router
    host_settings:
      TargetConfigNames: Sender
  - id: Sender
    class: Test.Sender
";

/// One `Test.Sender` item called `Sender` with `lines` (already indented) added to it.
fn sender_with(lines: &str) -> String {
    format!("name: P\nitems:\n  - id: Sender\n    class: Test.Sender\n{lines}")
}

#[test]
fn a_valid_production_gives_a_plan_with_the_production_defaults_and_no_diagnostics() {
    let (plan, diags) = check(BASE);
    assert!(diags.is_empty(), "{}", lines(&diags));
    let plan = plan.expect("plan");
    assert_eq!(plan.name, "P");
    assert_eq!(plan.file, PathBuf::from(FILE));
    assert_eq!(plan.durability, Durability::Fsync);
    assert_eq!(plan.search_fields, ["PID-3.1"]);
    assert_eq!(plan.purge_keep_days, 0);
    assert_eq!(plan.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
    assert_eq!(plan.index_lag_alert, Some(DEFAULT_INDEX_LAG_ALERT));
    let names: Vec<&str> = plan.items.iter().map(|i| &*i.name).collect();
    assert_eq!(names, ["Router", "Sender"]);
    let router = item(&plan, "Router");
    assert_eq!((router.kind, router.class.as_str(), router.location.line), (ItemKind::Process, "Test.Router", 3));
    assert_eq!(router.pack.name, "test-pack");
    // Class defaults fill in what the item does not set; written values replace them.
    let settings: Vec<(&str, &str)> = router.settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(settings, [("BusinessRuleName", ""), ("Legacy", "0"), ("Level", "1"), ("TargetConfigNames", "Sender")]);
}

#[test]
fn production_settings_are_read_into_the_plan() {
    let plan = plan_of(
        "name: P\ndurability: process\nsettings:\n  SearchFields: PID-3.1, , PID-5.1\n  PurgeKeepDays: 7\n  \
         ShutdownTimeout: 30\n  IndexLagAlert: 0\nitems:\n",
    );
    assert_eq!(plan.durability, Durability::Process);
    assert_eq!(plan.search_fields, ["PID-3.1", "PID-5.1"]);
    assert_eq!(plan.purge_keep_days, 7);
    assert_eq!(plan.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(plan.index_lag_alert, None, "IndexLagAlert 0 turns the alert off");
    let plan = plan_of("name: P\nsettings:\n  IndexLagAlert: 5\nitems:\n");
    assert_eq!(plan.index_lag_alert, Some(Duration::from_secs(5)));
}

#[test]
fn a_bad_production_setting_is_an_error_naming_the_setting_and_its_line() {
    for (setting, value, message) in [
        ("Durability", "disk", "invalid value \"disk\": expected fsync or process"),
        ("PurgeKeepDays", "-1", "invalid value \"-1\": expected a whole number"),
        ("ShutdownTimeout", "soon", "invalid value \"soon\": expected a whole number"),
        ("IndexLagAlert", "1.5", "invalid value \"1.5\": expected a whole number"),
        (
            "SearchFields",
            "PID-3.1, PIDX-3",
            "\"PIDX-3\" is not an HL7 path (HL7 path \"PIDX-3\": segment name must be 3 letters or digits (e.g. PID, \
             OBX, ZPI))",
        ),
    ] {
        let text = format!("name: P\nsettings:\n  Other: x\n  {setting}: {value}\nitems:\n");
        let (plan, diags) = check(&text);
        assert!(plan.is_none(), "{setting}: an error means no plan");
        let errors: Vec<Said> = diags.iter().filter(|d| d.is_error()).map(said).collect();
        assert_eq!(errors, [(Severity::Error, 4, None, Some(setting), message)], "{setting}");
        assert!(diags.iter().all(|d| d.file == FILE), "{setting}: every diagnostic names the file");
    }
}

#[test]
fn search_fields_and_ordering_keys_take_iris_paths_and_a_misspelt_name_is_an_error_at_its_setting() {
    let good = "PID-3.1, PID:PatientName.FamilyName, HL7.{MSH:ReceivingFacility.namespaceID}, \
                PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:5";
    let text = format!("name: P\nsettings:\n  SearchFields: {good}\nitems:\n");
    let (plan, diags) = check(&text);
    assert!(diags.iter().all(|d| !d.is_error()), "{:?}", all_said(&diags));
    let plan = plan.expect("a plan");
    assert_eq!(plan.paths.search().len(), 4);
    let (plan, diags) = check("name: P\nsettings:\n  SearchFields: PID:PatientNmae\nitems:\n");
    assert!(plan.is_none());
    let errors: Vec<Said> = diags.iter().filter(|d| d.is_error()).map(said).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].1, errors[0].3), (3, Some("SearchFields")));
    assert!(
        errors[0].4.contains("PatientNmae") && errors[0].4.contains("not a path of any known schema"),
        "{errors:?}"
    );
    let text =
        sender_with("    enabled: true\n    host_settings:\n      OrderingKey: PID:PatientIdentifierLst(1).IDNumber\n");
    let (plan, diags) = check(&text);
    assert!(plan.is_none());
    let said = all_said(&diags);
    assert_eq!((said[0].1, said[0].2, said[0].3), (7, Some("Sender"), Some("OrderingKey")), "{said:?}");
    let text = sender_with(
        "    enabled: true\n    host_settings:\n      OrderingKey: PID:PatientIdentifierList(1).IDNumber\n",
    );
    assert!(check(&text).0.is_some(), "a symbolic OrderingKey is accepted");
}

#[test]
fn unknown_production_settings_are_warnings_and_update_timeout_is_read() {
    let (plan, diags) = check("name: P\nsettings:\n  UpdateTimeout: 4\n  Colour: blue\nitems:\n");
    let plan = plan.expect("warnings do not stop the plan");
    assert_eq!(plan.update_timeout, Some(Duration::from_secs(4)), "UpdateTimeout is read");
    assert_eq!(
        all_said(&diags),
        [(Severity::Warning, 4, None, Some("Colour"), "unknown production setting; it is ignored")]
    );
}

#[test]
fn a_process_written_with_pool_size_0_runs_actor_pool_size_instances_and_others_keep_theirs() {
    let text = |pool: &str| {
        format!(
            "name: P\n{pool}items:\n  - id: Actor\n    class: Test.Router\n    concurrency: 0\n  - id: Own\n    class: Test.Router\n    concurrency: 3\n  - id: Sender\n    class: Test.Sender\n    concurrency: 0\n"
        )
    };
    let plan = plan_of(&text(""));
    let n = |p: &ProductionPlan, name: &str| item(p, name).engine.concurrency;
    assert_eq!((n(&plan, "Actor"), n(&plan, "Own"), n(&plan, "Sender")), (2, 3, 1), "IRIS's default pool is 2 jobs");
    let plan = plan_of(&text("settings:\n  ActorPoolSize: 5\n"));
    assert_eq!((n(&plan, "Actor"), n(&plan, "Own"), n(&plan, "Sender")), (5, 3, 1), "operations have no actor pool");
}

#[test]
fn a_duplicate_item_name_is_an_error_at_the_second_naming_the_line_of_the_first() {
    let text = format!("{BASE}  - id: Sender\n    class: Test.Sender\n");
    let (plan, diags) = check(&text);
    assert!(plan.is_none());
    assert_eq!(
        all_said(&diags),
        [(Severity::Error, 9, Some("Sender"), None, "duplicate item name (first defined at line 7)")]
    );
    // A third is also pointed at the first, not at the second duplicate.
    let text = format!("{BASE}  - id: Sender\n    class: Test.Sender\n  - id: Sender\n    class: Test.Sender\n");
    let (_, diags) = check(&text);
    assert_eq!(
        all_said(&diags),
        [
            (Severity::Error, 9, Some("Sender"), None, "duplicate item name (first defined at line 7)"),
            (Severity::Error, 11, Some("Sender"), None, "duplicate item name (first defined at line 7)"),
        ]
    );
}

#[test]
fn an_empty_item_name_is_an_error_at_the_item() {
    // The YAML loader refuses empty names, so blank one after loading (IRIS XML can have them).
    let mut config = load(BASE);
    config.items[1].name = "  ".into();
    let (plan, diags) = validate(&config, &packs(), ValidateOptions::default());
    assert!(plan.is_none());
    let errors: Vec<Said> = diags.iter().filter(|d| d.is_error()).map(said).collect();
    assert_eq!(
        errors[0],
        (Severity::Error, 7, None, None, "item has an empty name"),
        "then the router's target no longer exists: {}",
        lines(&diags)
    );
}

#[test]
fn an_unknown_class_is_an_error_on_class_name_saying_what_was_searched_and_loaded() {
    let text =
        "name: P\nitems:\n  - id: Custom\n    class: Acme.Custom\n  - id: Std\n    class: EnsLib.HL7.Operation.X\n";
    let (plan, diags) = check(text);
    assert!(plan.is_none());
    let base = "no loaded pack provides it (searched /nonexistent/packs; loaded packs: test-pack 0)";
    let custom = format!(
        "unknown class Acme.Custom: {base}; this looks like a custom class: provide it in a pack, or run with --skip-unresolved"
    );
    let standard = format!("unknown class EnsLib.HL7.Operation.X: {base}");
    assert_eq!(
        all_said(&diags),
        [
            (Severity::Error, 3, Some("Custom"), Some("ClassName"), custom.as_str()),
            (Severity::Error, 5, Some("Std"), Some("ClassName"), standard.as_str()),
        ]
    );

    // With nothing searched or loaded the message says so rather than listing nothing.
    let (_, diags) = validate(&load(text), &PackRegistry::default(), ValidateOptions::default());
    assert!(
        diags[1].message.ends_with("no loaded pack provides it (searched no directories; loaded packs: none)"),
        "{}",
        diags[1].message
    );
}

#[test]
fn skip_unresolved_makes_an_unknown_class_a_warning_and_leaves_the_item_out_of_the_plan() {
    let text = "name: P\nitems:\n  - id: Router\n    class: Test.Router\n    host_settings:\n      \
                TargetConfigNames: Custom\n  - id: Custom\n    class: HIE.Missing\n";
    let (plan, diags) = validate(&load(text), &packs(), ValidateOptions { skip_unresolved: true });
    let plan = plan.expect("only warnings");
    let names: Vec<&str> = plan.items.iter().map(|i| &*i.name).collect();
    assert_eq!(names, ["Router"]);
    let unknown = "unknown class HIE.Missing: no loaded pack provides it (searched /nonexistent/packs; loaded packs: \
                   test-pack 0) (skipped: --skip-unresolved)";
    assert_eq!(
        all_said(&diags),
        [
            (Severity::Warning, 7, Some("Custom"), Some("ClassName"), unknown),
            (
                Severity::Warning,
                6,
                Some("Router"),
                Some("TargetConfigNames"),
                "target \"Custom\" is skipped (unresolved class): messages to it will be Suspended"
            ),
        ]
    );
}

#[test]
fn a_target_that_is_not_an_item_is_an_error_naming_the_item_and_setting_and_listing_the_items() {
    // TargetConfigNames, BadMessageHandler and any setting ending in Target name items.
    for setting in ["TargetConfigNames", "BadMessageHandler", "ErrorTarget", "OverflowTarget", "LookupTarget"] {
        let text = format!(
            "name: P\nitems:\n  - id: Router\n    class: Test.Router\n    host_settings:\n      \
             {setting}: Sender, Ghost ,\n  - id: Sender\n    class: Test.Sender\n"
        );
        let (plan, diags) = check(&text);
        assert!(plan.is_none(), "{setting}");
        let errors: Vec<Said> = diags.iter().filter(|d| d.is_error()).map(said).collect();
        assert_eq!(
            errors,
            [(
                Severity::Error,
                6,
                Some("Router"),
                Some(setting),
                "target \"Ghost\" is not an item of this production (items: Router, Sender)"
            )],
            "{setting}: only the missing one, blanks skipped"
        );
    }
}

#[test]
fn a_disabled_target_is_a_warning_that_messages_will_queue() {
    let text = BASE.replace("  - id: Sender\n", "  - id: Sender\n    enabled: false\n");
    let (plan, diags) = check(&text);
    assert!(plan.is_some());
    assert_eq!(
        all_said(&diags),
        [(
            Severity::Warning,
            6,
            Some("Router"),
            Some("TargetConfigNames"),
            "target \"Sender\" is disabled: messages to it will queue"
        )]
    );
}

#[test]
fn a_disabled_item_with_an_unknown_class_or_a_dangling_target_is_a_warning_and_the_rest_runs() {
    let text = "\
name: P
items:
  - id: Router
    class: Test.Router
    host_settings:
      TargetConfigNames: Sender
  - id: Sender
    class: Test.Sender
  - id: Legacy
    class: Trust.Custom.Thing
    enabled: false
  - id: Old
    class: Test.Router
    enabled: false
    host_settings:
      TargetConfigNames: Gone
";
    let (plan, diags) = check(text);
    assert!(diags.iter().all(|d| !d.is_error()), "{}", lines(&diags));
    let plan = plan.expect("IRIS starts such a production, and so does HIE");
    assert!(plan.item("Legacy").is_none(), "an item whose class is unknown is skipped");
    assert!(plan.item("Old").is_some_and(|i| !i.enabled), "a disabled item of a known class is planned, disabled");
    let said = all_said(&diags);
    assert_eq!(said.len(), 2, "{said:?}");
    assert_eq!((said[0].0, said[0].1, said[0].2, said[0].3), (Severity::Warning, 9, Some("Legacy"), Some("ClassName")));
    assert!(
        said[0].4.contains("unknown class Trust.Custom.Thing") && said[0].4.ends_with("disabled, so it is skipped)")
    );
    assert_eq!(
        (said[1].0, said[1].1, said[1].2, said[1].3),
        (Severity::Warning, 16, Some("Old"), Some("TargetConfigNames"))
    );
    assert!(said[1].4.contains("\"Gone\" is not an item") && said[1].4.contains("disabled"), "{said:?}");
    // Enabled, the same item is an error.
    let (plan, diags) = check(&text.replace("    enabled: false\n    host_settings", "    host_settings"));
    assert!(plan.is_none());
    assert!(diags.iter().any(|d| d.is_error() && d.item.as_deref() == Some("Old")), "{}", lines(&diags));
}

#[test]
fn an_item_with_errors_is_not_called_skipped_by_the_targets_that_name_it() {
    let (plan, diags) = check(&sender_with("    host_settings:\n      QueueSize: lots\n"));
    assert!(plan.is_none());
    assert!(diags.iter().all(|d| !d.message.contains("skipped")), "{}", lines(&diags));
}

#[test]
fn a_class_default_naming_no_item_is_an_error_at_the_item_unless_the_item_sets_it() {
    let text = "name: P\nitems:\n  - id: Hub\n    class: Test.Defaulted\n";
    let (plan, diags) = check(text);
    assert!(plan.is_none());
    assert_eq!(
        all_said(&diags),
        [(Severity::Error, 3, Some("Hub"), Some("TargetConfigNames"), "default target \"Nowhere\" is not an item")]
    );
    let plan = plan_of(&format!("{text}    host_settings:\n      TargetConfigNames: Hub\n"));
    assert_eq!(item(&plan, "Hub").setting("TargetConfigNames"), Some("Hub"));
}

#[test]
fn names_targets_is_target_config_names_bad_message_handler_and_every_name_ending_in_target() {
    for name in ["TargetConfigNames", "BadMessageHandler", "ErrorTarget", "OverflowTarget", "LookupTarget", "Target"] {
        assert!(names_targets(name), "{name}");
    }
    for name in ["TargetConfigName", "Targets", "TargetHost", "BusinessRuleName", "targetconfignames", ""] {
        assert!(!names_targets(name), "{name}");
    }
}

#[test]
fn item_settings_the_class_does_not_take_as_written_are_warnings_and_the_plan_still_builds() {
    for (line, expected) in [
        // Declared as Host, written as Adapter: applied anyway.
        (
            "    adapter_settings:\n      BusinessRuleName: R\n",
            "written as a Adapter setting but Test.Router declares it as a Host setting; applied anyway",
        ),
        (
            "    host_settings:\n      Legacy: 1\n",
            "accepted for IRIS compatibility but not implemented by Test.Router yet; it has no effect",
        ),
        (
            "    host_settings:\n      AlertGroups: ops\n",
            "IRIS host setting accepted but not implemented by HIE; it has no effect",
        ),
        (
            "    host_settings:\n      Colour: blue\n",
            "Test.Router has no setting called Colour; it is ignored (check the spelling: `hie plugins` lists every setting)",
        ),
        // Ignored means not checked either: no error for a value nothing reads.
        (
            "    host_settings:\n      Port: abc\n",
            "Test.Router has no setting called Port; it is ignored (check the spelling: `hie plugins` lists every setting)",
        ),
    ] {
        let text = format!("name: P\nitems:\n  - id: Router\n    class: Test.Router\n{line}");
        let (plan, diags) = check(&text);
        let setting = line.lines().nth(1).and_then(|l| l.trim().split(':').next()).expect("setting name");
        assert_eq!(all_said(&diags), [(Severity::Warning, 6, Some("Router"), Some(setting), expected)], "{setting}");
        let plan = plan.unwrap_or_else(|| panic!("{setting}: warnings only"));
        let applied = item(&plan, "Router").settings.contains_key(setting);
        assert_eq!(applied, ["BusinessRuleName", "Legacy"].contains(&setting), "{setting} in the plan's settings");
    }
    // An unimplemented setting left at its default says nothing.
    let (_, diags) =
        check("name: P\nitems:\n  - id: Router\n    class: Test.Router\n    host_settings:\n      Legacy: 0\n");
    assert!(diags.is_empty(), "{}", lines(&diags));
}

#[test]
fn a_value_outside_its_pack_declared_kind_is_an_error_naming_the_item_and_setting() {
    let text = "name: P\nitems:\n  - id: Router\n    class: Test.Router\n    host_settings:\n      Level: 9\n";
    let (plan, diags) = check(text);
    assert!(plan.is_none());
    assert_eq!(
        all_said(&diags),
        [(Severity::Error, 6, Some("Router"), Some("Level"), "invalid value \"9\": expected a whole number, 1 to 5")]
    );
    assert!(check(&text.replace("Level: 9", "Level: 5")).1.is_empty());
}

#[test]
fn integer_and_number_settings_must_read_as_numbers_unless_their_adapter_checks_them() {
    for (setting, value, message) in [
        ("ConnectTimeout", "soon", Some("invalid value \"soon\": expected a whole number")),
        ("ConnectTimeout", "2.5", Some("invalid value \"2.5\": expected a whole number")),
        ("ConnectTimeout", "-3", None),
        ("CallInterval", "often", Some("invalid value \"often\": expected a number of seconds")),
        ("CallInterval", "0.5", None),
    ] {
        let (_, diags) = check(&sender_with(&format!("    host_settings:\n      {setting}: {value}\n")));
        let expected: Vec<Said> =
            message.map(|m| (Severity::Error, 6, Some("Sender"), Some(setting), m)).into_iter().collect();
        assert_eq!(all_said(&diags), expected, "{setting}: {value}");
    }
    // On an MLLP listener Port belongs to the adapter, whose own kind check reports it once.
    let text = "name: P\nitems:\n  - id: In\n    class: Test.Listener\n    adapter_settings:\n      Port: abc\n";
    let (_, diags) = check(text);
    let port: Vec<&Diagnostic> = diags.iter().filter(|d| d.setting.as_deref() == Some("Port")).collect();
    assert_eq!(port.len(), 1, "{}", lines(&diags));
    assert!(!port[0].message.contains("expected a whole number"), "{}", port[0].message);
}

#[test]
fn engine_settings_are_read_into_the_plan() {
    let plan = plan_of(&format!(
        "{BASE}    execution_mode: thread_pool\n    concurrency: 4\n    queue_type: priority\n    queue_size: 100\n    \
         queue_window: 50\n    queue_overflow: drop\n    worker_threads: 3\n    ordering_key: PID-3.1\n    \
         host_settings:\n      RetryInterval: 7\n      FailureTimeout: 20\n      NoFailWhileDisconnected: yes\n      \
         ErrorTarget: Router\n      MaxWorkerCrashes: 0\n      HangTimeout: 9\n      MemoryLimitMB: 64\n      \
         RateLimit: 2.5\n      CircuitBreakerThreshold: 5\n      CircuitBreakerCooldown: 0\n      AlertOnError: 1\n      \
         QueueCountAlert: 10\n      QueueWaitAlert: 60\n      InactivityTimeout: 300\n"
    ));
    let expected = EngineSettings {
        execution_mode: ExecutionMode::ThreadPool,
        concurrency: 4,
        queue_type: QueueType::Priority,
        queue_size: 100,
        queue_window: 50,
        overflow: Overflow::Drop,
        worker_threads: 3,
        ordering_key: Some("PID-3.1".into()),
        retry_interval: Duration::from_secs(7),
        failure_timeout: Some(Duration::from_secs(20)),
        no_fail_while_disconnected: true,
        error_target: Some("Router".into()),
        max_worker_crashes: 1,
        hang_timeout: Some(Duration::from_secs(9)),
        memory_limit: Some(64 * 1024 * 1024),
        rate_limit: Some(2.5),
        breaker_threshold: 5,
        breaker_cooldown: Duration::from_secs(1),
        alert_on_error: true,
        queue_count_alert: 10,
        queue_wait_alert: Some(Duration::from_secs(60)),
        inactivity_timeout: Some(Duration::from_secs(300)),
    };
    assert_eq!(item(&plan, "Sender").engine, expected);
    assert_eq!(item(&plan, "Router").engine, EngineSettings::default(), "nothing set: the defaults");
    // FailureTimeout is also a Test.Sender class setting, so the written value is kept there too.
    assert_eq!(item(&plan, "Sender").setting("FailureTimeout"), Some("20"));
}

#[test]
fn zero_means_off_and_a_class_default_applies_until_the_item_sets_a_value() {
    let plan = plan_of(&sender_with(
        "    host_settings:\n      HangTimeout: 0\n      MemoryLimitMB: 0\n      RateLimit: 0\n      QueueWaitAlert: 0\n",
    ));
    let engine = &item(&plan, "Sender").engine;
    assert_eq!(
        (engine.hang_timeout, engine.memory_limit, engine.rate_limit, engine.queue_wait_alert),
        (None, None, None, None)
    );
    // Test.Sender's class default FailureTimeout=-1 means retry for ever.
    assert_eq!(engine.failure_timeout, None);
    let plan = plan_of(&sender_with("    host_settings:\n      FailureTimeout: 3\n"));
    assert_eq!(item(&plan, "Sender").engine.failure_timeout, Some(Duration::from_secs(3)));
    let plan = plan_of(BASE);
    assert_eq!(item(&plan, "Router").engine.failure_timeout, Some(Duration::from_secs(15)), "engine default");
}

#[test]
fn a_bad_engine_setting_is_an_error_naming_the_item_setting_line_and_the_form_expected() {
    let hl7 = "invalid value \"PIDX-3\": expected an HL7 path such as PID-3.1 or PID:3.1 (virtual property path \
               \"PIDX-3\", at character 5: HL7 path \"PIDX-3\": segment name must be 3 letters or digits (e.g. PID, OBX, \
               ZPI))";
    for (setting, value, message) in [
        (
            "ExecutionMode",
            "fast",
            "invalid value \"fast\": expected async, thread_pool, multi_process or single_process",
        ),
        ("PoolSize", "many", "invalid value \"many\": expected a whole number"),
        ("QueueType", "stack", "invalid value \"stack\": expected fifo, priority or lifo"),
        ("QueueSize", "big", "invalid value \"big\": expected a whole number"),
        ("QueueOverflow", "spill", "invalid value \"spill\": expected block, drop or redirect"),
        ("OrderingKey", "PIDX-3", hl7),
        ("FailureTimeout", "never", "invalid value \"never\": expected a whole number"),
        (
            "NoFailWhileDisconnected",
            "maybe",
            "invalid value \"maybe\": expected a boolean (1/0, true/false, yes/no, on/off)",
        ),
        ("RateLimit", "-1", "invalid value \"-1\": expected messages per second (a number, 0 = unlimited)"),
        ("InactivityTimeout", "1h", "invalid value \"1h\": expected a whole number"),
        ("RateLimit", "inf", "invalid value \"inf\": expected messages per second (a number, 0 = unlimited)"),
        (
            "AlertOnError",
            "sometimes",
            "invalid value \"sometimes\": expected a boolean (1/0, true/false, yes/no, on/off)",
        ),
        // Out of range rather than wrapped: 2^32 would read as 0 (no limit, no breaker).
        (
            "MaxWorkerCrashes",
            "4294967296",
            "invalid value \"4294967296\": expected a whole number of at most 4294967295",
        ),
        (
            "CircuitBreakerThreshold",
            "4294967296",
            "invalid value \"4294967296\": expected a whole number of at most 4294967295",
        ),
        (
            "MemoryLimitMB",
            "17592186044416",
            "invalid value \"17592186044416\": expected a whole number of at most 4294967295",
        ),
    ] {
        let text = sender_with(&format!("    enabled: true\n    host_settings:\n      {setting}: {value}\n"));
        let (plan, diags) = check(&text);
        assert!(plan.is_none(), "{setting}");
        assert_eq!(all_said(&diags), [(Severity::Error, 7, Some("Sender"), Some(setting), message)], "{setting}");
    }
    // `concurrency:` is reported where it was written, as PoolSize.
    let (_, diags) = check(&sender_with("    enabled: true\n    concurrency: lots\n"));
    assert_eq!(
        all_said(&diags),
        [(Severity::Error, 6, Some("Sender"), Some("PoolSize"), "invalid value \"lots\": expected a whole number")]
    );
}

#[test]
fn queue_overflow_redirect_needs_an_overflow_target_naming_an_item() {
    let (plan, diags) = check(&format!("{BASE}    queue_overflow: redirect\n"));
    assert!(plan.is_none());
    assert_eq!(
        all_said(&diags),
        [(
            Severity::Error,
            9,
            Some("Sender"),
            Some("OverflowTarget"),
            "QueueOverflow=redirect needs OverflowTarget naming an item"
        )]
    );
    let plan = plan_of(&format!("{BASE}    queue_overflow: redirect\n    overflow_target: Router\n"));
    assert_eq!(item(&plan, "Sender").engine.overflow, Overflow::Redirect("Router".into()));
}

#[test]
fn single_process_runs_one_instance_whatever_the_pool_size() {
    let plan = plan_of(&sender_with("    execution_mode: single_process\n    concurrency: 4\n"));
    let engine = &item(&plan, "Sender").engine;
    assert_eq!((engine.execution_mode, engine.concurrency), (ExecutionMode::SingleProcess, 1));
    // A pool of 0 still runs one instance.
    let plan = plan_of(&sender_with("    concurrency: 0\n"));
    assert_eq!(item(&plan, "Sender").engine.concurrency, 1);
}

#[test]
fn an_ordering_key_on_a_multi_process_service_is_a_warning_that_it_has_no_effect() {
    let text = "name: P\nitems:\n  - id: In\n    class: Test.Listener\n    execution_mode: multi_process\n    \
                ordering_key: PID-3.1\n    adapter_settings:\n      Port: 2575\n";
    let (plan, diags) = check(text);
    assert!(plan.is_some());
    assert_eq!(
        all_said(&diags),
        [(
            Severity::Warning,
            line_of(text, "ordering_key"),
            Some("In"),
            Some("OrderingKey"),
            "OrderingKey has no effect on a service (it orders a queue)"
        )]
    );
}

#[test]
fn mllp_addresses_that_do_not_read_are_errors_naming_the_setting() {
    for (setting, value, message) in [
        (
            "LocalInterface",
            "eth0",
            "LocalInterface \"eth0\" is not an IP address: give one, as IRIS stores it with its interface \
             (\"10.1.2.3 (eth0)\"), or alone",
        ),
        (
            "AllowedIPAddresses",
            "10.0.0.1, bad host!",
            "AllowedIPAddresses entry \"bad host!\" is not an address, a server name, or either with a port \
             (10.1.2.3, 10.1.2.3:3298, fe80::1|3298, pas.trust.nhs.uk)",
        ),
    ] {
        let text = format!(
            "name: P\nitems:\n  - id: In\n    class: Test.Listener\n    adapter_settings:\n      Port: 2575\n      \
             {setting}: {value}\n"
        );
        let (plan, diags) = check(&text);
        assert!(plan.is_none(), "{setting}");
        assert_eq!(all_said(&diags), [(Severity::Error, 7, Some("In"), Some(setting), message)], "{setting}");
    }
}

#[test]
fn an_ssl_config_that_is_not_a_configuration_name_is_an_error_at_the_setting() {
    let text = "name: P\nitems:\n  - id: Out\n    class: Test.MllpSender\n    adapter_settings:\n      \
                IPAddress: 127.0.0.1\n      Port: 2575\n      SSLConfig: ../secrets\n";
    let (plan, diags) = check(text);
    assert!(plan.is_none());
    let message = "SSLConfig \"../secrets\" is not a TLS configuration name (letters, digits, '-', '_', '.'; HIE reads \
                   /nonexistent/hie-validate-tests/tls/<name>.crt, .key, .ca)";
    assert_eq!(all_said(&diags), [(Severity::Error, 8, Some("Out"), Some("SSLConfig"), message)]);
}
