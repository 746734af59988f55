//! Issue 16: the adapter port, the adapter registry and typed settings, adapter packs.

use hie_tests::engine::run_hie;
use hie_tests::{TempDir, free_port};

/// Runs `hie validate` on `yaml`; returns the exit code and the printed diagnostics.
fn validate(dir: &TempDir, yaml: &str) -> (i32, String, String) {
    let config = dir.join("production.yaml");
    std::fs::write(&config, yaml).expect("production");
    let (code, out, _) = run_hie(&["validate", config.to_str().expect("path")]);
    (code, out, config.display().to_string())
}

/// Whether `out` has an error at `file:line` naming `item`, `setting` and containing `text`.
fn has_error(out: &str, file: &str, line: u32, item: &str, setting: &str, text: &str) -> bool {
    out.lines().any(|l| {
        l.starts_with(&format!("{file}:{line}: error"))
            && l.contains(&format!("item '{item}'"))
            && l.contains(&format!("setting '{setting}'"))
            && l.contains(text)
    })
}

#[test]
fn a_malformed_adapter_setting_is_an_error_naming_file_line_item_and_setting_never_a_default() {
    let dir = TempDir::new("typed-settings");
    let (code, out, file) = validate(
        &dir,
        &format!(
            r#"name: Typed
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {}, ReadTimeout: soon}}
    host_settings: {{TargetConfigNames: Lookup}}
  - id: Lookup
    class: HIE.Example.DemographicsLookup
    adapter_settings:
      HTTPServer: pds.example
      HTTPPort: abc
  - id: Files
    class: EnsLib.HL7.Service.FileService
    adapter_settings: {{FilePath: in, DeleteFromServer: maybe}}
    host_settings: {{TargetConfigNames: Lookup}}
"#,
            free_port()
        ),
    );
    assert_eq!(code, 2, "{out}");
    assert!(has_error(&out, &file, 11, "Lookup", "HTTPPort", "\"abc\": expected a port"), "{out}");
    assert!(has_error(&out, &file, 5, "In", "ReadTimeout", "\"soon\": expected a number of seconds"), "{out}");
    assert!(has_error(&out, &file, 14, "Files", "DeleteFromServer", "\"maybe\": expected a boolean"), "{out}");
}

#[test]
fn a_required_adapter_setting_that_is_missing_fails_validation_not_the_start() {
    let dir = TempDir::new("required-settings");
    let (code, out, file) = validate(
        &dir,
        r#"name: Required
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    host_settings: {TargetConfigNames: Out}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {Port: 2576}
  - id: Spare
    class: EnsLib.HL7.Service.TCPService
    enabled: false
"#,
    );
    assert_eq!(code, 2, "{out}");
    assert!(has_error(&out, &file, 3, "In", "Port", "adapter setting Port is required"), "{out}");
    assert!(has_error(&out, &file, 6, "Out", "IPAddress", "adapter setting IPAddress is required"), "{out}");
    assert!(!out.contains("item 'Spare'"), "a disabled item needs no port: {out}");
}

#[test]
fn two_items_claiming_one_port_or_one_directory_are_an_error_naming_both() {
    let dir = TempDir::new("claims");
    let port = free_port();
    let (code, out, file) = validate(
        &dir,
        &format!(
            r#"name: Claims
items:
  - id: PAS_In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {port}}}
  - id: PAS_In_Copy
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {port}, LocalInterface: 127.0.0.1}}
  - id: Lab_Files
    class: EnsLib.HL7.Service.FileService
    adapter_settings: {{FilePath: data/in}}
  - id: Lab_Files_2
    class: EnsLib.HL7.Service.FileService
    adapter_settings: {{FilePath: data/./in/}}
"#
        ),
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        has_error(
            &out,
            &file,
            8,
            "PAS_In_Copy",
            "Port",
            &format!("port {port} on 127.0.0.1 is already used by item 'PAS_In'")
        ),
        "{out}"
    );
    assert!(has_error(&out, &file, 14, "Lab_Files_2", "FilePath", "is already used by item 'Lab_Files'"), "{out}");
}
