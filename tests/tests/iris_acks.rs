//! Issue 17 item 5: the ACK settings of the HL7 services as IRIS has them
//! (docs/iris-settings.md §9.1): AckMode (Byte included), UseAckCommitCodes,
//! NackErrorCode, AddNackERR, IgnoreInboundAck, SaveReplies, AckTargetConfigNames.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, finished_files, free_port, hl7, wait_for};
use std::io::{Read, Write};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// `hl7::adt` with MSH-12 `version`.
fn adt_version(control_id: &str, version: &str) -> Vec<u8> {
    String::from_utf8(hl7::adt(control_id, "M"))
        .unwrap()
        .replacen("|P|2.4\r", &format!("|P|{version}\r"), 1)
        .into_bytes()
}

/// An ACK message, as a peer engine would send one back into a service.
fn inbound_ack(control_id: &str) -> Vec<u8> {
    format!("MSH|^~\\&|EPR|RXX|PAS|RXX|20260101120000||ACK^A01|{control_id}|P|2.4\rMSA|AA|ORIG1\r").into_bytes()
}

/// A v2.4 message without MSH-9: a content error.
fn no_msh9(control_id: &str) -> Vec<u8> {
    format!("MSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000|||{control_id}|P|2.4\rPID|1||M\r").into_bytes()
}

/// Writes a YAML production of TCP services, one per `(name, port, host settings)`,
/// all sending to one MLLP operation `Out` on `out_port`.
fn services(dir: &TempDir, out_port: u16, items: &[(&str, u16, &str)]) -> std::path::PathBuf {
    let mut text = String::from("name: Acks\nitems:\n");
    for (name, port, settings) in items {
        let sep = if settings.is_empty() { "" } else { ", " };
        text.push_str(&format!(
            "  - id: {name}\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {port}}}\n    host_settings: {{TargetConfigNames: Out{sep}{settings}}}\n"
        ));
    }
    text.push_str(&format!(
        "  - id: Out\n    class: EnsLib.HL7.Operation.TCPOperation\n    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}\n"
    ));
    let config = dir.join("production.yaml");
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn immediate_acks_carry_commit_codes_for_msh12_2_3_and_later_unless_use_ack_commit_codes_is_0() {
    let dir = TempDir::new("acks-commit");
    let (iris, legacy, out_port) = (free_port(), free_port(), free_port());
    let config = services(&dir, out_port, &[("Iris", iris, ""), ("Legacy", legacy, "UseAckCommitCodes: 0")]);
    let _receiver = Receiver::start(out_port);
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut c = Client::connect_retry(iris);
    for (v, code) in [("2.3", "CA"), ("2.4", "CA"), ("2.5.1", "CA"), ("2.2", "AA")] {
        let ack = c.send(&adt_version(&format!("V{v}"), v)).unwrap();
        assert_eq!(hl7::ack_code(&ack), code, "MSH-12 {v}, no MSH-15/16: {}", String::from_utf8_lossy(&ack));
    }
    let nack = c.send(&no_msh9("NO9")).unwrap();
    assert_eq!(hl7::ack_code(&nack), "CE", "a content error of a v2.4 message: {}", String::from_utf8_lossy(&nack));
    let mut c = Client::connect_retry(legacy);
    assert_eq!(hl7::ack_code(&c.send(&adt_version("L1", "2.4")).unwrap()), "AA");
    assert_eq!(hl7::ack_code(&c.send(&no_msh9("L2")).unwrap()), "AE");
}

#[test]
fn nack_error_code_picks_the_letter_and_add_nack_err_0_leaves_out_the_err_segment() {
    let dir = TempDir::new("acks-nackcode");
    let (r, e, out_port) = (free_port(), free_port(), free_port());
    let config = services(
        &dir,
        out_port,
        &[("ContentR", r, "NackErrorCode: ContentR"), ("AllE", e, "NackErrorCode: AllE, AddNackERR: 0")],
    );
    let _receiver = Receiver::start(out_port);
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let nack = Client::connect_retry(r).send(&no_msh9("R1")).unwrap();
    assert_eq!(hl7::ack_code(&nack), "CR", "{}", String::from_utf8_lossy(&nack));
    assert!(
        nack.windows(5).any(|w| w == b"\rERR|"),
        "AddNackERR 1 (HIE's default): {}",
        String::from_utf8_lossy(&nack)
    );
    let nack = Client::connect_retry(e).send(&no_msh9("E1")).unwrap();
    assert_eq!(hl7::ack_code(&nack), "CE", "{}", String::from_utf8_lossy(&nack));
    assert!(!nack.windows(4).any(|w| w == b"ERR|"), "MSH and MSA only: {}", String::from_utf8_lossy(&nack));
}

#[test]
fn byte_mode_answers_0x06_or_0x15_inside_mllp_framing_and_forwards_the_accepted_message() {
    let dir = TempDir::new("acks-byte");
    let (port, out_port) = (free_port(), free_port());
    let config = services(&dir, out_port, &[("In", port, "AckMode: Byte")]);
    let receiver = Receiver::start(out_port);
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut c = Client::connect_retry(port);
    let mut answer = |msg: &[u8]| {
        c.write_raw(&hie_hl7::mllp::encode(msg)).unwrap();
        let mut wire = [0u8; 4];
        c.stream.read_exact(&mut wire).unwrap();
        wire
    };
    assert_eq!(answer(&hl7::adt("B1", "M")), [0x0B, 0x06, 0x1C, 0x0D], "accepted: the ACK byte, framed");
    assert_eq!(answer(&no_msh9("B2")), [0x0B, 0x15, 0x1C, 0x0D], "refused: the NAK byte, framed");
    assert_eq!(answer(b"not HL7"), [0x0B, 0x15, 0x1C, 0x0D]);
    receiver.wait_for_count(1, T);
    assert_eq!(receiver.control_ids(), ["B1"]);
}

#[test]
fn a_message_the_engine_cannot_take_is_nacked_by_the_services_ack_settings() {
    let dir = TempDir::new("acks-host-nack");
    let (iris, legacy, byte, out_port) = (free_port(), free_port(), free_port(), free_port());
    let config = services(
        &dir,
        out_port,
        &[
            ("Iris", iris, ""),
            ("Legacy", legacy, "UseAckCommitCodes: 0, NackErrorCode: AllE"),
            ("Byte", byte, "AckMode: Byte"),
        ],
    );
    // Out keeps one message; with Out paused the second one meets a full queue.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("  - id: Out\n", "  - id: Out\n    queue_size: 1\n    queue_overflow: drop\n");
    std::fs::write(&config, text).unwrap();
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    engine.post("/api/items/Out/pause", None);
    let mut c = Client::connect_retry(iris);
    assert_eq!(hl7::ack_code(&c.send(&hl7::adt("H1", "M")).unwrap()), "CA");
    let nack = c.send(&hl7::adt("H2", "M")).unwrap();
    assert_eq!(
        hl7::ack_code(&nack),
        "CR",
        "a system error: R, commit code for 2.4: {}",
        String::from_utf8_lossy(&nack)
    );
    let nack = Client::connect_retry(legacy).send(&hl7::adt("H3", "M")).unwrap();
    assert_eq!(hl7::ack_code(&nack), "AE", "AllE without commit codes: {}", String::from_utf8_lossy(&nack));
    let mut c = Client::connect_retry(byte);
    c.write_raw(&hie_hl7::mllp::encode(&hl7::adt("H4", "M"))).unwrap();
    let mut wire = [0u8; 4];
    c.stream.read_exact(&mut wire).unwrap();
    assert_eq!(wire, [0x0B, 0x15, 0x1C, 0x0D], "Byte mode: the host's NACK is the NAK byte too");
}

#[test]
fn an_inbound_ack_is_discarded_unanswered_unless_ignore_inbound_ack_is_0() {
    let dir = TempDir::new("acks-ignore");
    let (ignoring, taking, out_port) = (free_port(), free_port(), free_port());
    let config = services(&dir, out_port, &[("Ignoring", ignoring, ""), ("Taking", taking, "IgnoreInboundAck: 0")]);
    let receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut c = Client::connect_retry(ignoring);
    c.write_raw(&hie_hl7::mllp::encode(&inbound_ack("ACK1"))).unwrap();
    // The next reply on the connection answers the next message: the ACK got none.
    let reply = c.send(&hl7::adt("AFTER1", "M")).unwrap();
    assert_eq!(hl7::value(&reply, "MSA-2"), "AFTER1", "{}", String::from_utf8_lossy(&reply));
    receiver.wait_for_count(1, T);
    assert_eq!(receiver.control_ids(), ["AFTER1"], "the ACK was not forwarded, and it came first");
    let found = wait_for(T, "the ignored ACK recorded", || {
        let r = engine.get("/api/messages?control_id=ACK1&item=Ignoring");
        (r["count"] == 1).then(|| r["messages"][0].clone())
    });
    assert_eq!(found["status"], "Discarded", "{found}");
    assert!(found["note"].as_str().is_some_and(|n| n.contains("IgnoreInboundAck")), "{found}");

    let mut c = Client::connect_retry(taking);
    let reply = c.send(&inbound_ack("ACK2")).unwrap();
    assert_eq!(hl7::value(&reply, "MSA-2"), "ACK2", "IgnoreInboundAck 0: an ACK is a message like any other");
    receiver.wait_for_count(2, T);
    assert_eq!(receiver.control_ids(), ["AFTER1", "ACK2"]);
}

#[test]
fn save_replies_keeps_only_the_replies_that_are_not_plain_ok_acks_by_default() {
    let dir = TempDir::new("acks-save");
    let (default, all, none, out_port) = (free_port(), free_port(), free_port(), free_port());
    let config = services(
        &dir,
        out_port,
        &[("Default", default, ""), ("All", all, "SaveReplies: All"), ("None", none, "SaveReplies: None")],
    );
    let _receiver = Receiver::start(out_port);
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    for (item, port) in [("Default", default), ("All", all), ("None", none)] {
        let mut c = Client::connect_retry(port);
        assert_eq!(hl7::ack_code(&c.send(&hl7::adt(&format!("{item}OK"), "M")).unwrap()), "CA");
        assert_eq!(hl7::ack_code(&c.send(&no_msh9(&format!("{item}BAD"))).unwrap()), "CE");
    }
    let kept = |control_id: &str, item: &str| {
        wait_for(T, control_id, || {
            let r = engine.get(&format!("/api/messages?control_id={control_id}&item={item}"));
            (r["count"] == 1).then(|| r["messages"][0]["has_reply"].as_bool())
        })
    };
    assert_eq!(kept("DefaultOK", "Default"), Some(false), "IndexNotOKs: a plain CA is not kept");
    assert_eq!(kept("DefaultBAD", "Default"), Some(true), "IndexNotOKs: a NACK is kept");
    assert_eq!((kept("AllOK", "All"), kept("AllBAD", "All")), (Some(true), Some(true)));
    assert_eq!((kept("NoneOK", "None"), kept("NoneBAD", "None")), (Some(false), Some(false)));
}

#[test]
fn a_file_service_sends_the_ack_it_builds_to_ack_target_config_names() {
    let dir = TempDir::new("acks-file");
    let (inbox, out, acks) = (dir.join("in"), dir.join("out"), dir.join("acks"));
    for d in [&inbox, &out, &acks] {
        std::fs::create_dir_all(d).unwrap();
    }
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: FileAcks\nitems:\n  - id: Files_In\n    class: EnsLib.HL7.Service.FileService\n    adapter_settings: {{FilePath: {}, CallInterval: 0.2}}\n    host_settings: {{TargetConfigNames: Out, AckMode: Immed, AckTargetConfigNames: Acks_Out}}\n  - id: Out\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n  - id: Acks_Out\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n",
            inbox.display(),
            out.display(),
            acks.display()
        ),
    )
    .unwrap();
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut f = std::fs::File::create(dir.join("msg.tmp")).unwrap();
    f.write_all(&hl7::adt("F1", "M")).unwrap();
    drop(f);
    std::fs::rename(dir.join("msg.tmp"), inbox.join("adt.hl7")).unwrap();
    let ack_file = wait_for(T, "the ACK written by Acks_Out", || finished_files(&acks)?.into_iter().next());
    let ack = std::fs::read(&ack_file).unwrap();
    assert_eq!(hl7::value(&ack, "MSH-9.1"), "ACK", "{}", String::from_utf8_lossy(&ack));
    assert_eq!(hl7::ack_code(&ack), "CA", "{}", String::from_utf8_lossy(&ack));
    assert_eq!(hl7::value(&ack, "MSA-2"), "F1");
    let forwarded = wait_for(T, "the message written by Out", || finished_files(&out)?.into_iter().next());
    assert_eq!(hl7::control_id(&std::fs::read(forwarded).unwrap()), "F1", "the message itself goes to Out");
}

#[test]
fn an_unknown_ack_mode_or_nack_error_code_is_a_validation_error_naming_item_and_setting() {
    let dir = TempDir::new("acks-validate");
    let config = services(
        &dir,
        free_port(),
        &[("Typo", free_port(), "AckMode: Always"), ("OldCode", free_port(), "NackErrorCode: E")],
    );
    let (code, out, err) = run_hie(&["validate", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    let error = |item: &str, setting: &str, expected: &str| {
        out.lines().any(|l| l.contains("error") && l.contains(item) && l.contains(setting) && l.contains(expected))
    };
    assert!(error("Typo", "AckMode", "Byte"), "the choices are named: {out}");
    assert!(error("OldCode", "NackErrorCode", "ContentE"), "{out}");
    // The file service takes AckMode, but not Byte: it has no connection to write a byte on.
    // And the items named in AckTargetConfigNames must exist (found when the item is built,
    // once the settings read).
    let file_service = |name: &str, settings: &str| {
        let inbox = dir.join(name);
        std::fs::create_dir_all(&inbox).unwrap();
        let file = dir.join(&format!("{name}.yaml"));
        std::fs::write(
            &file,
            format!(
                "name: F\nitems:\n  - id: {name}\n    class: EnsLib.HL7.Service.FileService\n    adapter_settings: {{FilePath: {}}}\n    host_settings: {{{settings}}}\n",
                inbox.display()
            ),
        )
        .unwrap();
        let (code, out, _) = run_hie(&["validate", file.to_str().unwrap()]);
        assert_eq!(code, 2, "{out}");
        out
    };
    let out = file_service("Files", "AckMode: Byte");
    assert!(out.lines().any(|l| l.contains("error") && l.contains("Files") && l.contains("AckMode")), "{out}");
    let out = file_service("Dangling", "AckMode: Immed, AckTargetConfigNames: Nowhere");
    // A target setting like TargetConfigNames: checked with the other targets, naming the setting.
    let dangling = "setting 'AckTargetConfigNames': target \"Nowhere\" is not an item";
    assert!(out.lines().any(|l| l.contains("error") && l.contains("Dangling") && l.contains(dangling)), "{out}");
}

#[test]
fn every_iris_ack_setting_of_the_hl7_services_is_declared_and_those_without_effect_say_so() {
    let dir = TempDir::new("acks-declared");
    let config = dir.join("Acks.xml");
    std::fs::write(
        &config,
        format!(
            r#"<Production Name="Acks">
  <Item Name="Tcp_In" ClassName="EnsLib.HL7.Service.TCPService" Enabled="true">
    <Setting Target="Adapter" Name="Port">{}</Setting>
    <Setting Target="Host" Name="AckMode">Msh</Setting>
    <Setting Target="Host" Name="UseAckCommitCodes">0</Setting>
    <Setting Target="Host" Name="IgnoreInboundAck">0</Setting>
    <Setting Target="Host" Name="AddNackERR">0</Setting>
    <Setting Target="Host" Name="NackErrorCode">AllR</Setting>
    <Setting Target="Host" Name="SaveReplies">All</Setting>
    <Setting Target="Host" Name="PreACKTCPClear">1</Setting>
    <Setting Target="Host" Name="DocTypeResolution">Use 9.3</Setting>
    <Setting Target="Host" Name="AlertGracePeriod">30</Setting>
  </Item>
  <Item Name="File_In" ClassName="EnsLib.HL7.Service.FileService" Enabled="true">
    <Setting Target="Adapter" Name="FilePath">{}</Setting>
    <Setting Target="Adapter" Name="FileAccessTimeout">5</Setting>
    <Setting Target="Host" Name="AckMode">Immed</Setting>
    <Setting Target="Host" Name="AckTargetConfigNames">Tcp_Out</Setting>
    <Setting Target="Host" Name="OverrideSegmentTerminator">10</Setting>
  </Item>
  <Item Name="Tcp_Out" ClassName="EnsLib.HL7.Operation.TCPOperation" Enabled="true">
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Adapter" Name="Port">{}</Setting>
    <Setting Target="Adapter" Name="ReadTimeout">10</Setting>
  </Item>
</Production>
"#,
            free_port(),
            dir.0.display(),
            free_port()
        ),
    )
    .unwrap();
    let (code, out, err) = run_hie(&["validate", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("has no setting called"), "every setting is declared: {out}");
    let no_effect = |item: &str, setting: &str| {
        out.lines().any(|l| l.contains(item) && l.contains(setting) && l.contains("not implemented"))
    };
    for (item, setting) in [
        ("Tcp_In", "PreACKTCPClear"),
        ("Tcp_In", "DocTypeResolution"),
        ("File_In", "OverrideSegmentTerminator"),
        ("Tcp_Out", "ReadTimeout"),
    ] {
        assert!(no_effect(item, setting), "{item} {setting} is accepted without effect: {out}");
    }
    for implemented in
        ["AckMode", "UseAckCommitCodes", "IgnoreInboundAck", "NackErrorCode", "SaveReplies", "AlertGracePeriod"]
    {
        assert!(!no_effect("Tcp_In", implemented), "{implemented} has effect: {out}");
    }
    assert!(!no_effect("File_In", "FileAccessTimeout"), "FileAccessTimeout has effect: {out}");
}
