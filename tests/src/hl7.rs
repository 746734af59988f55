//! Building test HL7 messages.

/// An ADT^A01 with control id and MRN (PID-3.1).
pub fn adt(control_id: &str, mrn: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|PAS|RXX|EPR|RXX|20260101120000||ADT^A01^ADT_A01|{control_id}|P|2.4\rEVN|A01|20260101120000\rPID|1||{mrn}^^^RXX^MR||Smith^Alice||19800101|F\rPV1|1|I\r"
    )
    .into_bytes()
}

/// An ORU^R01 with control id.
pub fn oru(control_id: &str, mrn: &str) -> Vec<u8> {
    format!(
        "MSH|^~\\&|LAB|RXX|EPR|RXX|20260101120000||ORU^R01^ORU_R01|{control_id}|P|2.4\rPID|1||{mrn}^^^RXX^MR||Jones^Bob\rOBR|1\rOBX|1|NM|GLU||5.5|mmol/L\r"
    )
    .into_bytes()
}

/// MSH-10 of a message (empty if unparseable).
pub fn control_id(msg: &[u8]) -> String {
    hie_hl7::parse(msg).ok().and_then(|m| m.control_id().map(str::to_string)).unwrap_or_default()
}

/// MSA-1 of a reply (empty if none).
pub fn ack_code(reply: &[u8]) -> String {
    hie_hl7::parse(reply)
        .ok()
        .and_then(|m| m.value_str("MSA-1").ok().flatten().map(|v| v.into_owned()))
        .unwrap_or_default()
}

/// Whether MSA-1 `code` accepts the message: `AA` (original mode) or `CA` (enhanced-mode commit
/// accept). HIE's HL7 services answer `CA` to a v2.3+ message (the test messages are v2.4) under
/// IRIS's default `UseAckCommitCodes=1`, and `AA` otherwise (docs/iris-settings.md §9.1.3).
pub fn is_accept_code(code: &str) -> bool {
    matches!(code, "AA" | "CA")
}

/// Whether MSA-1 `code` refuses the message: `AE`/`AR` or the commit-mode `CE`/`CR`.
pub fn is_nack_code(code: &str) -> bool {
    matches!(code, "AE" | "AR" | "CE" | "CR")
}

/// Whether a reply accepts the message (MSA-1 `AA` or `CA`, see [`is_accept_code`]).
///
/// For tests that only need "the message was acknowledged" (durability, floods, reliability,
/// reload); tests about the ACK itself compare [`ack_code`] with the exact code instead.
pub fn accepted(reply: &[u8]) -> bool {
    is_accept_code(&ack_code(reply))
}

/// Whether a reply is a NACK (MSA-1 `AE`, `AR`, `CE` or `CR`, see [`is_nack_code`]).
///
/// For tests that only need "the message was refused"; an empty or missing MSA-1 is neither
/// accepted nor a NACK.
pub fn is_nack(reply: &[u8]) -> bool {
    is_nack_code(&ack_code(reply))
}

/// The value at an HL7 path.
pub fn value(msg: &[u8], path: &str) -> String {
    hie_hl7::parse(msg).ok().and_then(|m| m.value_str(path).ok().flatten().map(|v| v.into_owned())).unwrap_or_default()
}

/// `msg` with an NTE segment carrying `note` (the probe pack reads its instructions there).
pub fn with_note(msg: Vec<u8>, note: &str) -> Vec<u8> {
    let mut m = msg;
    m.extend_from_slice(format!("NTE|1||{note}\r").as_bytes());
    m
}
