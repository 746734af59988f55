//! The YAML and JSON loader end to end: the documented example in both syntaxes, lines,
//! and the errors.

use super::*;
use crate::production::model::{Setting, SettingTarget};
use std::path::PathBuf;

/// Loads `text` as if read from `name`.
fn load(name: &str, text: &str, format: SourceFormat) -> Result<ProductionConfig, LoadError> {
    let file: Arc<Path> = Arc::from(Path::new(name));
    load_yaml(&file, text, format)
}

/// The line of a `LoadError::Syntax` and its message.
fn syntax_error(result: Result<ProductionConfig, LoadError>) -> (u32, String) {
    match result {
        Err(LoadError::Syntax { location, message }) => (location.line, message),
        Err(other) => panic!("expected a syntax error, got {other}"),
        Ok(p) => panic!("expected a syntax error, got production {}", p.name),
    }
}

/// (name, value, target, line) of each setting.
fn settings(list: &[Setting]) -> Vec<(&str, &str, SettingTarget, u32)> {
    list.iter().map(|s| (s.name.as_str(), s.value.as_str(), s.target, s.location.line)).collect()
}

const EXAMPLE: &str = "\
name: Demo Production          # also accept `production:` as the name key
description: optional text
durability: fsync
plugin_dirs: [../packs]
settings: {PurgeKeepDays: 7}
items:
  - id: HL7_Receiver
    class: EnsLib.HL7.Service.TCPService
    enabled: true
    execution_mode: async
    concurrency: 4
    queue_type: fifo
    queue_size: 10000
    queue_overflow: block
    overflow_target: X
    worker_threads: 2
    ordering_key: PID-3.1
    comment: text
    category: cat
    adapter_settings: {Port: 2575}
    host_settings: {TargetConfigNames: HL7_Router}
  - name: HL7_Router
    class: EnsLib.HL7.MsgRouter.RoutingEngine
    enabled: false
    host_settings:
      BusinessRuleName: Demo.Rule
      TargetConfigNames: [A, B]
      Validation:
";

/// Checks everything the example says; shared by the YAML and JSON tests.
fn check_example(p: &ProductionConfig, lines: &[u32]) {
    assert_eq!(p.name, "Demo Production");
    assert_eq!(p.description, "optional text");
    assert_eq!(
        settings(&p.settings),
        [("Durability", "fsync", SettingTarget::Host, lines[0]), ("PurgeKeepDays", "7", SettingTarget::Host, lines[1]),]
    );
    assert_eq!(p.plugin_dirs, [PathBuf::from("/prod/../packs")]);
    assert_eq!(p.items.len(), 2);
    let rx = &p.items[0];
    assert_eq!((rx.name.as_str(), rx.class.as_str()), ("HL7_Receiver", "EnsLib.HL7.Service.TCPService"));
    assert!(rx.enabled);
    assert_eq!(rx.pool_size.as_deref(), Some("4"));
    assert_eq!((rx.location.line, rx.pool_size_location.line), (lines[2], lines[3]));
    assert_eq!((rx.comment.as_str(), rx.category.as_str()), ("text", "cat"));
    let l = &lines[4..];
    assert_eq!(
        settings(&rx.settings),
        [
            ("ExecutionMode", "async", SettingTarget::Host, l[0]),
            ("QueueType", "fifo", SettingTarget::Host, l[1]),
            ("QueueSize", "10000", SettingTarget::Host, l[2]),
            ("QueueOverflow", "block", SettingTarget::Host, l[3]),
            ("OverflowTarget", "X", SettingTarget::Host, l[4]),
            ("WorkerThreads", "2", SettingTarget::Host, l[5]),
            ("OrderingKey", "PID-3.1", SettingTarget::Host, l[6]),
            ("Port", "2575", SettingTarget::Adapter, l[7]),
            ("TargetConfigNames", "HL7_Router", SettingTarget::Host, l[8]),
        ]
    );
    let router = &p.items[1];
    assert_eq!(router.name, "HL7_Router");
    assert!(!router.enabled);
    assert_eq!(router.location.line, l[9]);
    assert_eq!(router.pool_size, None);
    assert_eq!(router.pool_size_location.line, l[9]);
    assert_eq!(
        settings(&router.settings),
        [
            ("BusinessRuleName", "Demo.Rule", SettingTarget::Host, l[10]),
            ("TargetConfigNames", "A,B", SettingTarget::Host, l[11]),
            ("Validation", "", SettingTarget::Host, l[12]),
        ]
    );
}

#[test]
fn yaml_example_loads_with_lines() {
    let p = load("/prod/demo.yaml", EXAMPLE, SourceFormat::Yaml).expect("example loads");
    assert_eq!(p.format, SourceFormat::Yaml);
    assert_eq!(p.location.line, 1);
    check_example(&p, &[3, 5, 7, 11, 10, 12, 13, 14, 15, 16, 17, 20, 21, 22, 26, 27, 28]);
}

#[test]
fn json_equivalent_loads_with_lines() {
    let json = r#"{
	"production": "Demo Production",
	"description": "optional text",
	"durability": "fsync",
	"plugin_dirs": ["../packs"],
	"settings": {"PurgeKeepDays": 7},
	"items": [
		{
			"id": "HL7_Receiver",
			"class": "EnsLib.HL7.Service.TCPService",
			"enabled": true,
			"execution_mode": "async",
			"concurrency": 4,
			"queue_type": "fifo",
			"queue_size": 10000,
			"queue_overflow": "block",
			"overflow_target": "X",
			"worker_threads": 2,
			"ordering_key": "PID-3.1",
			"comment": "text",
			"category": "cat",
			"adapter_settings": {"Port": 2575},
			"host_settings": {"TargetConfigNames": "HL7_Router"}
		},
		{
			"name": "HL7_Router", "class": "EnsLib.HL7.MsgRouter.RoutingEngine", "enabled": false,
			"host_settings": {
				"BusinessRuleName": "Demo.Rule",
				"TargetConfigNames": ["A", "B"],
				"Validation": null
			}
		}
	]
}
"#;
    let p = load("/prod/demo.json", json, SourceFormat::Json).expect("json loads");
    assert_eq!(p.format, SourceFormat::Json);
    check_example(&p, &[4, 6, 8, 13, 12, 14, 15, 16, 17, 18, 19, 22, 23, 25, 28, 29, 30]);
}

#[test]
fn unknown_item_key_names_line_and_key() {
    let text = EXAMPLE.replace("queue_size: 10000", "queue_sise: 10000");
    let (line, message) = syntax_error(load("demo.yaml", &text, SourceFormat::Yaml));
    assert_eq!(line, 13);
    assert!(message.contains("`queue_sise`"), "{message}");
    assert!(message.contains("queue_size") && message.contains("adapter_settings"), "{message}");
}

#[test]
fn unknown_top_level_key_names_line_and_key() {
    let text = format!("{EXAMPLE}itmes: []\n");
    let (line, message) = syntax_error(load("demo.yaml", &text, SourceFormat::Yaml));
    assert_eq!(line, 29);
    assert!(message.contains("`itmes`") && message.contains("plugin_dirs"), "{message}");
}

#[test]
fn yaml_syntax_error_names_its_line() {
    let text = "name: P\nitems:\n  - id: A\n    class: [X\n  - id: B\n";
    let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
    assert!((4..=5).contains(&line), "line {line}: {message}");
    assert!(message.starts_with("YAML syntax error"), "{message}");
    let text = "name: P\nitems:\n  - id: A\n   class: X\n";
    let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
    assert_eq!(line, 4, "{message}");
}

#[test]
fn json_syntax_error_names_its_line() {
    let text = "{\n  \"name\": \"P\",\n  \"items\": [\n    {\"id\": \"A\" \"class\": \"X\"}\n  ]\n}\n";
    let (line, message) = syntax_error(load("demo.json", text, SourceFormat::Json));
    assert_eq!(line, 4, "{message}");
    assert!(message.starts_with("JSON syntax error"), "{message}");
}

#[test]
fn item_without_id_or_class_names_the_item_line() {
    let text = "name: P\nitems:\n  - class: X\n";
    let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
    assert_eq!(line, 3);
    assert!(message.contains("`id`"), "{message}");
    let text = "name: P\nitems:\n  - {id: A, class: X}\n  - id: B\n    comment: no class\n";
    let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
    assert_eq!(line, 4);
    assert!(message.contains("item B has no `class`"), "{message}");
}

#[test]
fn empty_or_non_mapping_file_is_rejected() {
    for text in ["", "# only a comment\n", "---\n"] {
        let (_, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
        assert!(message.contains("expected a mapping") || message.contains("must be a mapping"), "{text:?}: {message}");
    }
    let (line, message) = syntax_error(load("demo.yaml", "\n- a\n- b\n", SourceFormat::Yaml));
    assert_eq!(line, 2);
    assert!(message.contains("top level must be a mapping"), "{message}");
}

#[test]
fn duplicate_and_aliased_keys_are_rejected() {
    let text = "name: P\nitems:\n  - id: A\n    class: X\n    concurrency: 2\n    PoolSize: 3\n";
    let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
    assert_eq!(line, 6);
    assert!(message.contains("`PoolSize` and `concurrency`"), "{message}");
    let text = "name: P\nsettings:\n  A: 1\n  A: 2\n";
    let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
    assert_eq!(line, 4);
    assert!(message.contains("duplicate key `A`"), "{message}");
}

#[test]
fn scalars_are_kept_as_written() {
    let text = "name: P\nitems:\n  - id: A\n    class: X\n    adapter_settings:\n      \
                    Hex: 0x1F\n      Lead: 007\n      Float: 1.50\n      Quoted: \"null\"\n      Tilde: ~\n";
    let p = load("demo.yaml", text, SourceFormat::Yaml).expect("loads");
    let values: Vec<(&str, &str)> = p.items[0].settings.iter().map(|s| (s.name.as_str(), s.value.as_str())).collect();
    assert_eq!(values, [("Hex", "0x1F"), ("Lead", "007"), ("Float", "1.50"), ("Quoted", "null"), ("Tilde", "")]);
}

#[test]
fn enabled_must_be_a_boolean() {
    let text = "name: P\nitems:\n  - id: A\n    class: X\n    enabled: maybe\n";
    let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
    assert_eq!(line, 5);
    assert!(message.contains("enabled: maybe"), "{message}");
}

#[test]
fn mapping_as_setting_value_is_rejected() {
    let text = "name: P\nitems:\n  - id: A\n    class: X\n    adapter_settings:\n      Port: {a: 1}\n";
    let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
    assert_eq!(line, 6);
    assert!(message.contains("setting Port"), "{message}");
}

#[test]
fn aliases_expand_and_alias_bombs_are_stopped() {
    let text = "name: P\nitems:\n  - id: A\n    class: X\n    host_settings: &hs {TargetConfigNames: [B, C]}\n  \
                    - id: D\n    class: X\n    host_settings: *hs\n";
    let p = load("demo.yaml", text, SourceFormat::Yaml).expect("loads");
    assert_eq!(p.items[1].host_setting("TargetConfigNames").map(|s| s.value.as_str()), Some("B,C"));
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let j = i - 1;
        bomb.push_str(&format!("a{i}: &a{i} [*a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}]\n"));
    }
    let (_, message) = syntax_error(load("demo.yaml", &bomb, SourceFormat::Yaml));
    assert!(message.contains("more than"), "{message}");
}

#[test]
fn deep_nesting_is_rejected_without_overflow() {
    let text = format!("name: P\nsettings: {{A: {}{}}}\n", "[".repeat(100_000), "]".repeat(100_000));
    let (line, _message) = syntax_error(load("demo.yaml", &text, SourceFormat::Yaml));
    assert_eq!(line, 2);
}

#[test]
fn second_document_is_rejected() {
    let text = "name: P\n---\nname: Q\n";
    let (line, message) = syntax_error(load("demo.yaml", text, SourceFormat::Yaml));
    assert_eq!(line, 3);
    assert!(message.contains("one YAML document"), "{message}");
}
