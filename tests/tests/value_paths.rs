//! Issue 12, item 2: IRIS virtual property paths in `SearchFields` and `OrderingKey` (the
//! SQL classes' `Parameters` are covered in adapters.rs against the real PostgreSQL).

use hie_tests::engine::Engine;
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, free_port, hl7, wait_for};
use std::collections::BTreeSet;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Symbolic, with the 2.5 names the service's MessageSchemaCategory gives the 2.4 messages.
const FAMILY: &str = "PID:PatientName.FamilyName";
/// Through the ORU_R01 groups of 2.5.
const OBX5: &str = "PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX:ObservationValue";

fn production(in_port: u16, out_port: u16, search_fields: &str) -> String {
    format!(
        r#"name: Paths
durability: process
settings: {{SearchFields: "{search_fields}"}}
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Route, MessageSchemaCategory: "2.5"}}
  - id: Route
    class: HIE.Process.Passthrough
    ordering_key: "HL7.{{PID:PatientIdentifierList(1).IDNumber}}"
    host_settings: {{TargetConfigNames: Out}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}, ConnectTimeout: 1, ResponseTimeout: 5}}
    host_settings: {{RetryInterval: 1}}
"#
    )
}

/// A query-string value.
fn encode(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' => c.to_string(),
            c => format!("%{:02X}", c as u32),
        })
        .collect()
}

#[test]
fn iris_paths_index_search_and_order_messages_read_with_the_session_schema_category() {
    let dir = TempDir::new("value-paths");
    let (in_port, out_port) = (free_port(), free_port());
    let config = dir.join("production.yaml");
    std::fs::write(&config, production(in_port, out_port, FAMILY)).unwrap();
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut client = Client::connect_retry(in_port);
    for msg in [hl7::adt("A1", "MRN-A1"), hl7::oru("O1", "MRN-O1"), hl7::oru("O2", "MRN-O2")] {
        assert_eq!(hl7::ack_code(&client.send(&msg).unwrap()), "CA");
    }
    receiver.wait_for_count(3, T);
    let found = |path: &str, value: &str| -> Vec<String> {
        let r = engine.get(&format!("/api/messages?field={}&value={}&item=Out", encode(path), encode(value)));
        let mut ids: Vec<String> = r["messages"]
            .as_array()
            .unwrap_or_else(|| panic!("{r}"))
            .iter()
            .map(|m| m["control_id"].as_str().unwrap_or_default().to_string())
            .collect();
        ids.sort();
        ids
    };
    let indexed = || engine.get("/api/journal")["search_fields_indexed"].clone();
    assert_eq!(indexed(), serde_json::json!([FAMILY]), "a symbolic SearchFields path is indexed from the start");
    assert_eq!(found(FAMILY, "Jones"), ["O1", "O2"], "through the index");
    assert_eq!(found(FAMILY, "Smith"), ["A1"]);
    // A path the production does not index: found by scanning bodies, read the same way.
    assert_eq!(found("MSH:SendingApplication.NamespaceID", "LAB"), ["O1", "O2"]);
    assert_eq!(found("{PID:3.1}", "MRN-A1"), ["A1"]);

    // OrderingKey in IRIS form: each hop into Route carries its key.
    let hops = engine.get("/api/messages?item=Route");
    let keys: BTreeSet<String> = hops["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{hops}"))
        .iter()
        .filter(|m| m["target"] == "Route")
        .map(|m| m["ordering_key"].as_str().unwrap_or("(none)").to_string())
        .collect();
    assert_eq!(keys, BTreeSet::from(["MRN-A1".into(), "MRN-O1".into(), "MRN-O2".into()]), "{hops}");

    // A group path added by a reload covers the messages stored before it.
    std::fs::write(&config, production(in_port, out_port, &format!("{FAMILY}, {OBX5}"))).unwrap();
    let (code, body) = engine.post("/api/reload", None);
    assert_eq!(code, 200, "{body}");
    wait_for(T, "the group path indexed for the stored messages", || {
        let mut want = vec![FAMILY, OBX5];
        want.sort();
        (indexed() == serde_json::json!(want)).then_some(())
    });
    assert_eq!(found(OBX5, "5.5"), ["O1", "O2"], "backfilled through the structure");
    assert_eq!(hl7::ack_code(&client.send(&hl7::oru("O3", "MRN-O3")).unwrap()), "CA");
    receiver.wait_for_count(4, T);
    assert_eq!(found(OBX5, "5.5"), ["O1", "O2", "O3"], "indexed as stored");
    assert!(found(OBX5, "5.5").len() == 3 && found(FAMILY, "Smith") == ["A1"]);

    // A misspelt name is refused by the reload, naming the setting; the engine runs on.
    std::fs::write(&config, production(in_port, out_port, "PID:PatientNmae.FamilyName")).unwrap();
    let (code, body) = engine.post("/api/reload", None);
    assert_ne!(code, 200, "{body}");
    let text = body.to_string();
    assert!(text.contains("SearchFields") && text.contains("PatientNmae"), "{text}");
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("A2", "MRN-A2")).unwrap()), "CA");
    receiver.wait_for_count(5, T);
}
