//! Issue 17 item 5: IRIS `Framing` on the HL7 TCP service and operation, through the real
//! `hie` binary: services answer in the framing of the connection (configured or, with
//! `Flexible`, detected), an operation sends in its framing and reads the reply ACK in it.

use hie_tests::engine::{Engine, run_hie};
use hie_tests::mllp::Client;
use hie_tests::{TempDir, free_port, hl7};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Reads from `stream` until what was read ends with `end`; returns all of it.
fn read_until(stream: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(end) {
        let n = stream.read(&mut chunk).expect("read");
        assert!(n > 0, "connection closed after {got:?}");
        got.extend_from_slice(&chunk[..n]);
    }
    got
}

/// `stream` with a read timeout, so a test that goes wrong fails instead of hanging.
fn timed(stream: TcpStream) -> TcpStream {
    stream.set_read_timeout(Some(T)).expect("read timeout");
    stream
}

/// Whether `reply` is an ACK accepting the message (`AA`, or `CA` with commit codes).
fn accepted(reply: &[u8]) -> bool {
    ["AA", "CA"].contains(&hl7::ack_code(reply).as_str())
}

fn connect(port: u16) -> TcpStream {
    timed(hie_tests::wait_for(Duration::from_secs(10), "the listener", || TcpStream::connect(("127.0.0.1", port)).ok()))
}

/// An IRIS production: three TCP services (`AsciiLF`, `MLLP02/03`, default `Flexible`)
/// all sending to one TCP operation with `Framing=AsciiLF`.
fn production(dir: &TempDir, lf: u16, mllp23: u16, flexible: u16, out: u16) -> std::path::PathBuf {
    let service = |name: &str, port: u16, framing: &str| {
        let framing = if framing.is_empty() {
            String::new()
        } else {
            format!(r#"<Setting Target="Host" Name="Framing">{framing}</Setting>"#)
        };
        format!(
            r#"  <Item Name="{name}" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="Port">{port}</Setting>
    {framing}
    <Setting Target="Host" Name="TargetConfigNames">Out_LF</Setting>
  </Item>
"#
        )
    };
    let text = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Production Name="Trust.Framing" LogGeneralTraceEvents="false">
{}{}{}  <Item Name="Out_LF" ClassName="EnsLib.HL7.Operation.TCPOperation" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="IPAddress">127.0.0.1</Setting>
    <Setting Target="Adapter" Name="Port">{out}</Setting>
    <Setting Target="Host" Name="Framing">AsciiLF</Setting>
  </Item>
</Production>
"#,
        service("In_LF", lf, "AsciiLF"),
        service("In_MLLP23", mllp23, "MLLP02/03"),
        service("In_Flexible", flexible, ""),
    );
    let file = dir.join("Trust.Framing.xml");
    std::fs::write(&file, text).unwrap();
    file
}

/// A receiver speaking `AsciiLF`: records the exact bytes of each message (one connection)
/// and answers each with an AA ACK followed by LF.
fn ascii_lf_receiver(listener: TcpListener, count: usize) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        let mut stream = timed(stream);
        for _ in 0..count {
            let message = read_until(&mut stream, b"\n");
            let id = hl7::control_id(&message);
            let ack = format!("MSH|^~\\&|EPR|RXX|PAS|RXX|20260101120000||ACK^A01|A{id}|P|2.4\rMSA|AA|{id}\r\n");
            if stream.write_all(ack.as_bytes()).is_err() || tx.send(message).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
fn services_answer_in_their_framing_and_the_operation_sends_and_reads_ascii_lf() {
    let dir = TempDir::new("iris-framing");
    let (lf, mllp23, flexible, out) = (free_port(), free_port(), free_port(), free_port());
    let config = production(&dir, lf, mllp23, flexible, out);
    let (code, text, err) = run_hie(&["validate", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}{err}");
    let listener = TcpListener::bind(("127.0.0.1", out)).expect("receiver port");
    let received = ascii_lf_receiver(listener, 4);
    let _engine = Engine::start(&config, &dir.join("data"), &[]);

    // AsciiLF: `M 0A` in, the ACK `A 0A` back.
    let mut s = connect(lf);
    s.write_all(&[hl7::adt("F1", "M1"), b"\n".to_vec()].concat()).unwrap();
    let reply = read_until(&mut s, b"\n");
    assert!(reply.starts_with(b"MSH|") && reply.ends_with(b"\r\n"), "{reply:?}");
    assert!(accepted(&reply), "{reply:?}");

    // MLLP02/03: `02 M 03 0D` both ways.
    let mut s = connect(mllp23);
    s.write_all(&[b"\x02".as_slice(), &hl7::adt("F2", "M2"), b"\x03\r"].concat()).unwrap();
    let reply = read_until(&mut s, b"\x03\r");
    assert!(reply.starts_with(b"\x02MSH|"), "{reply:?}");
    assert!(accepted(&reply[1..reply.len() - 2]), "{reply:?}");

    // Flexible: an AsciiCR sender (an extra CR after the message) is answered AsciiCR ...
    let mut s = connect(flexible);
    s.write_all(&[hl7::adt("F3", "M3"), b"\r".to_vec()].concat()).unwrap();
    let reply = read_until(&mut s, b"\r\r");
    assert!(reply.starts_with(b"MSH|"), "{reply:?}");
    assert!(accepted(&reply), "{reply:?}");
    // ... and an MLLP sender MLLP.
    let mut client = Client::connect_retry(flexible);
    assert!(accepted(&client.send(&hl7::adt("F4", "M4")).unwrap()));

    // The operation wrote each message as `M 0A`, byte for byte, on one connection: each
    // next one came only after it had read the AsciiLF ACK of the one before.
    let mut ids = Vec::new();
    for _ in 0..4 {
        let message = received.recv_timeout(T).expect("a message at the receiver");
        let id = hl7::control_id(&message);
        let mrn = id.replace('F', "M");
        assert_eq!(message, [hl7::adt(&id, &mrn), b"\n".to_vec()].concat(), "exact bytes of {id}");
        ids.push(id);
    }
    ids.sort();
    assert_eq!(ids, ["F1", "F2", "F3", "F4"], "each message once: no resend for want of a reply");
}

#[test]
fn an_invalid_or_unavailable_framing_is_a_validation_error_naming_item_and_setting() {
    let dir = TempDir::new("iris-framing-invalid");
    let config = production(&dir, free_port(), free_port(), free_port(), free_port());
    let text = std::fs::read_to_string(&config).unwrap().replace(">MLLP02/03<", ">MLLP2<").replace(
        r#"<Setting Target="Host" Name="Framing">AsciiLF</Setting>
  </Item>
</Production>"#,
        r#"<Setting Target="Host" Name="Framing">MsgEnvelope</Setting>
  </Item>
</Production>"#,
    );
    std::fs::write(&config, text).unwrap();
    let (code, out, err) = run_hie(&["validate", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    let error = |item: &str, text: &str| {
        out.lines().any(|l| l.contains("error") && l.contains(item) && l.contains("Framing") && l.contains(text))
    };
    assert!(error("In_MLLP23", "invalid value \"MLLP2\""), "{out}");
    assert!(error("Out_LF", "not available in HIE"), "{out}");
}

#[test]
fn a_none_framed_message_ends_when_the_sender_pauses_or_half_closes_and_the_ack_comes_back_unframed() {
    let dir = TempDir::new("iris-framing-none");
    let port = free_port();
    let text = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Production Name="Trust.None" LogGeneralTraceEvents="false">
  <Item Name="In_None" ClassName="EnsLib.HL7.Service.TCPService" PoolSize="1" Enabled="true">
    <Setting Target="Adapter" Name="Port">{port}</Setting>
    <Setting Target="Adapter" Name="ReadTimeout">1</Setting>
    <Setting Target="Host" Name="Framing">None</Setting>
  </Item>
</Production>
"#
    );
    let config = dir.join("Trust.None.xml");
    std::fs::write(&config, text).unwrap();
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    // An unframed ACK: read until it holds its MSA segment, whole.
    let read_ack = |s: &mut TcpStream| {
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while !(got.windows(4).any(|w| w == b"MSA|") && got.ends_with(b"\r")) {
            let n = s.read(&mut chunk).expect("read");
            assert!(n > 0, "connection closed after {got:?}");
            got.extend_from_slice(&chunk[..n]);
        }
        got
    };
    // The sender stops after the message: it ends with the pause.
    let mut s = connect(port);
    s.write_all(&hl7::adt("N1", "M1")).unwrap();
    let reply = read_ack(&mut s);
    assert!(reply.starts_with(b"MSH|") && accepted(&reply), "{reply:?}");
    // The sender closes its side after the message: it ends there.
    let mut s = connect(port);
    s.write_all(&hl7::adt("N2", "M2")).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let reply = read_ack(&mut s);
    assert!(reply.starts_with(b"MSH|") && accepted(&reply), "{reply:?}");
}
