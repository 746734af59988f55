//! Productions and helpers shared by the durability and operator tests.
#![allow(dead_code)]

use hie_tests::mllp::Client;
use hie_tests::{TempDir, hl7};

/// Service → Passthrough → TCP operation, with `extra` YAML lines for the operation.
pub fn pipeline(dir: &TempDir, in_port: u16, out_port: u16, durability: &str, op_extra: &str) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Pipeline
durability: {durability}
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Route}}
  - id: Route
    class: HIE.Process.Passthrough
    concurrency: 2
    ordering_key: PID-3.1
    host_settings: {{TargetConfigNames: Out}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
{op_extra}
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}, ConnectTimeout: 1, ResponseTimeout: 5}}
    host_settings: {{RetryInterval: 1}}
"#
        ),
    )
    .unwrap();
    config
}

/// Gives `pipeline`'s Out a queue that keeps `window` entries in memory.
pub fn set_out_queue_window(config: &std::path::Path, window: usize) {
    let text = std::fs::read_to_string(config)
        .unwrap()
        .replace("{RetryInterval: 1}", &format!("{{RetryInterval: 1, QueueWindow: {window}}}"));
    std::fs::write(config, text).unwrap();
}

/// Sends `msgs` on one connection; their ACK codes.
pub fn send_all(port: u16, msgs: &[Vec<u8>]) -> Vec<String> {
    let mut c = Client::connect_retry(port);
    msgs.iter().map(|m| hl7::ack_code(&c.send(m).unwrap())).collect()
}
