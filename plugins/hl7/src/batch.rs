//! HL7 batches (`FHS`/`BHS` ... `BTS`/`FTS`) arriving at an HL7 service as one unit — an
//! MLLP frame, an HTTP body, a batch file — forwarded as IRIS's `BatchHandling` says and
//! acknowledged with one reply per batch that mirrors its structure
//! (docs/iris-settings.md §9.5).
//!
//! # Invariants
//! - Every child is checked as a lone message would be (parse, MSH-9, Validation) and
//!   gets its own ACK or NACK inside the batch reply, in input order; the reply's FHS/BHS
//!   carry only the encoding characters, BTS-1 counts the ACKs of its batch, FTS-1 the
//!   batches.
//! - `Whole`: the batch goes to the targets as one document, only if every child is
//!   accepted (otherwise nothing is forwarded and accepted children are answered AE
//!   saying why). The other modes forward each accepted child, in order, and never a
//!   rejected one; the batch's own header and trailer segments stay in the stored batch
//!   (HIE does not forward IRIS's parent document: an HL7 router could not parse it).
//! - Pure: no I/O; the service supplies the per-child check.

use hie_plugin_api::hl7::batch::{Unit, split_units};
use hie_plugin_api::hl7::{ParseError, UTF8_BOM};

/// IRIS `BatchHandling`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchHandling {
    /// `Whole` (Whole Batch): the batch as one document.
    Whole,
    /// `1Session` (Single-Session Batch, IRIS's default): every child, one session.
    SingleSession,
    /// `Batch` (Multi-Session Batch): every child (HIE: in the batch's session).
    MultiSession,
    /// `Indiv` (Individual): every child (HIE: in the batch's session).
    Individual,
}

impl BatchHandling {
    /// Reads the setting: IRIS's logical values or its display names, any case; empty is
    /// IRIS's default, Single-Session Batch.
    pub fn parse(value: &str) -> Result<BatchHandling, String> {
        let v = value.trim().to_ascii_lowercase();
        Ok(match v.as_str() {
            "" | "1session" | "single-session batch" | "single-session" => BatchHandling::SingleSession,
            "whole" | "whole batch" => BatchHandling::Whole,
            "batch" | "multi-session batch" | "multi-session" => BatchHandling::MultiSession,
            "indiv" | "individual" => BatchHandling::Individual,
            _ => {
                return Err(format!(
                    "BatchHandling: invalid value {value:?}: expected Whole, 1Session, Batch or Indiv \
                     (Whole Batch, Single-Session Batch, Multi-Session Batch, Individual)"
                ));
            }
        })
    }
}

/// What the service decided for one child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildVerdict {
    /// Accepted (would be forwarded as a lone message).
    pub accepted: bool,
    /// Why not, when rejected.
    pub reason: String,
    /// Its ACK or NACK, when the AckMode gives one.
    pub ack: Option<Vec<u8>>,
}

/// What to do with a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Bodies to forward to every target, in order (the whole batch for `Whole`).
    pub forward: Vec<Vec<u8>>,
    /// Rejected children: (1-based position, reason).
    pub rejected: Vec<(usize, String)>,
    /// The reply: a batch of ACKs, a single ACK byte (AckMode=Byte), or none.
    pub reply: Option<Vec<u8>>,
    /// Children in the batch.
    pub children: usize,
}

/// True when `body` starts (after a BOM and whitespace) with an `FHS` or `BHS` segment.
pub fn is_batch(body: &[u8]) -> bool {
    let b = body.strip_prefix(UTF8_BOM).unwrap_or(body);
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let b = &b[start..];
    (b.starts_with(b"FHS") || b.starts_with(b"BHS")) && b.get(3).is_some_and(u8::is_ascii_punctuation)
}

/// The encoding-characters header `SEG|^~\&` of a batch segment, from the input's own.
fn header(seg: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = name.to_vec();
    match seg.get(3) {
        Some(&sep) => {
            out.push(sep);
            let enc: Vec<u8> = seg.iter().skip(4).take_while(|&&c| c != sep).copied().collect();
            out.extend_from_slice(&enc);
        }
        None => out.extend_from_slice(b"|^~\\&"),
    }
    out.push(b'\r');
    out
}

/// Handles a batch: checks each child with `check`, decides what is forwarded, and builds
/// the batch reply.
pub fn handle(
    body: &[u8],
    mode: BatchHandling,
    mut check: impl FnMut(&[u8]) -> ChildVerdict,
) -> Result<BatchOutcome, ParseError> {
    let units = split_units(body)?;
    let mut verdicts: Vec<(usize, ChildVerdict)> = Vec::new();
    let mut children: Vec<&[u8]> = Vec::new();
    for u in &units {
        if let Unit::Message(m) = u {
            children.push(m);
            verdicts.push((children.len(), check(m)));
        }
    }
    let rejected: Vec<(usize, String)> =
        verdicts.iter().filter(|(_, v)| !v.accepted).map(|(n, v)| (*n, v.reason.clone())).collect();
    let forward = match mode {
        BatchHandling::Whole if rejected.is_empty() && !children.is_empty() => vec![body.to_vec()],
        BatchHandling::Whole => Vec::new(),
        _ => children.iter().zip(&verdicts).filter(|(_, (_, v))| v.accepted).map(|(c, _)| c.to_vec()).collect(),
    };
    let reply = reply(&units, &verdicts, mode == BatchHandling::Whole && !rejected.is_empty());
    Ok(BatchOutcome { forward, rejected, reply, children: children.len() })
}

/// The batch reply mirroring `units`; `whole_refused` turns the accepted children's ACKs
/// into AE (nothing was forwarded).
fn reply(units: &[Unit<'_>], verdicts: &[(usize, ChildVerdict)], whole_refused: bool) -> Option<Vec<u8>> {
    let acks: Vec<Option<Vec<u8>>> = verdicts
        .iter()
        .map(|(_, v)| match (&v.ack, whole_refused && v.accepted) {
            (Some(a), true) => Some(refuse(a)),
            (a, _) => a.clone(),
        })
        .collect();
    if acks.iter().all(Option::is_none) {
        return None;
    }
    // AckMode=Byte: one byte for the whole batch.
    if acks.iter().flatten().all(|a| a.len() == 1) {
        let ok = verdicts.iter().all(|(_, v)| v.accepted) && !whole_refused;
        return Some(vec![if ok { 0x06 } else { 0x15 }]);
    }
    let mut out = Vec::new();
    let (mut in_batch, mut batch_acks, mut batches, mut file_open) = (false, 0usize, 0usize, false);
    let mut next = acks.into_iter();
    let close_batch = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(format!("BTS|{n}\r").as_bytes());
    for u in units {
        match u {
            Unit::FileHeader(s) => {
                out.extend(header(s, b"FHS"));
                file_open = true;
            }
            Unit::BatchHeader(s) => {
                if in_batch {
                    close_batch(&mut out, batch_acks);
                }
                out.extend(header(s, b"BHS"));
                (in_batch, batch_acks) = (true, 0);
                batches += 1;
            }
            Unit::Message(_) => {
                if let Some(Some(a)) = next.next() {
                    out.extend_from_slice(&a);
                    if !a.ends_with(b"\r") {
                        out.push(b'\r');
                    }
                    batch_acks += 1;
                }
            }
            Unit::BatchTrailer(_) if in_batch => {
                close_batch(&mut out, batch_acks);
                in_batch = false;
            }
            Unit::BatchTrailer(_) => {}
            Unit::FileTrailer(_) => {
                if in_batch {
                    close_batch(&mut out, batch_acks);
                    in_batch = false;
                }
                out.extend_from_slice(format!("FTS|{}\r", batches.max(1)).as_bytes());
                file_open = false;
            }
        }
    }
    if in_batch {
        close_batch(&mut out, batch_acks);
    }
    if file_open {
        out.extend_from_slice(format!("FTS|{}\r", batches.max(1)).as_bytes());
    }
    Some(out)
}

/// An accepted child's ACK turned into AE: the batch it came in was not forwarded.
fn refuse(ack: &[u8]) -> Vec<u8> {
    let text = b"not forwarded: another message of this batch was rejected (BatchHandling=Whole)";
    let mut out = Vec::with_capacity(ack.len() + text.len());
    for seg in ack.split(|&b| b == b'\r').filter(|s| !s.is_empty()) {
        if seg.starts_with(b"MSA") && seg.len() > 4 {
            let sep = seg[3];
            let mut fields: Vec<&[u8]> = seg.split(|&b| b == sep).collect();
            let code: &[u8] = if fields.get(1).is_some_and(|c| c.first() == Some(&b'C')) { b"CE" } else { b"AE" };
            if fields.len() > 1 {
                fields[1] = code;
            }
            while fields.len() < 4 {
                fields.push(b"");
            }
            fields[3] = text;
            out.extend(fields.join(&sep));
        } else {
            out.extend_from_slice(seg);
        }
        out.push(b'\r');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: &[u8] = b"FHS|^~\\&|PAS\rBHS|^~\\&|PAS\rMSH|^~\\&|PAS|RXX|||202601010000||ADT^A01|C1|P|2.4\rPID|1\rMSH|^~\\&|PAS|RXX|||202601010000||ADT^A01|C2|P|2.4\rPID|2\rBTS|2\rFTS|1\r";

    /// Accepts every child whose body does not contain `BAD`; the ACK is `ACK <control id>`.
    fn check(child: &[u8]) -> ChildVerdict {
        let id = String::from_utf8_lossy(child).split('|').nth(9).unwrap_or("").to_string();
        let bad = child.windows(3).any(|w| w == b"BAD");
        let code = if bad { "AE" } else { "AA" };
        ChildVerdict {
            accepted: !bad,
            reason: if bad { "bad".into() } else { String::new() },
            ack: Some(format!("MSH|^~\\&|ISC|EnsembleHL7|||x||ACK^A01|{id}|P|2.4\rMSA|{code}|{id}\r").into_bytes()),
        }
    }

    #[test]
    fn every_iris_value_and_display_name_parses_and_others_are_refused() {
        for (v, m) in [
            ("Whole", BatchHandling::Whole),
            ("Whole Batch", BatchHandling::Whole),
            ("1Session", BatchHandling::SingleSession),
            ("", BatchHandling::SingleSession),
            ("Batch", BatchHandling::MultiSession),
            ("Multi-Session Batch", BatchHandling::MultiSession),
            ("indiv", BatchHandling::Individual),
            ("Individual", BatchHandling::Individual),
        ] {
            assert_eq!(BatchHandling::parse(v), Ok(m), "{v}");
        }
        assert!(BatchHandling::parse("Each").unwrap_err().contains("expected Whole, 1Session, Batch or Indiv"));
    }

    #[test]
    fn a_batch_is_recognised_by_its_first_segment() {
        assert!(is_batch(BATCH));
        assert!(is_batch(b"\xEF\xBB\xBF\r\nBHS|^~\\&\rMSH|^~\\&\r"));
        assert!(!is_batch(b"MSH|^~\\&|A\r"));
        assert!(!is_batch(b"FHSX"));
    }

    #[test]
    fn individual_forwards_each_child_and_answers_one_batch_of_acks() {
        let out = handle(BATCH, BatchHandling::Individual, check).unwrap();
        assert_eq!(out.children, 2);
        assert_eq!(out.forward.len(), 2);
        assert!(out.forward[0].starts_with(b"MSH|") && out.forward[0].ends_with(b"PID|1\r"));
        let reply = String::from_utf8(out.reply.unwrap()).unwrap();
        assert_eq!(
            reply,
            "FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|ISC|EnsembleHL7|||x||ACK^A01|C1|P|2.4\rMSA|AA|C1\r\
             MSH|^~\\&|ISC|EnsembleHL7|||x||ACK^A01|C2|P|2.4\rMSA|AA|C2\rBTS|2\rFTS|1\r"
        );
    }

    #[test]
    fn a_rejected_child_is_not_forwarded_and_its_nack_sits_in_the_batch_reply() {
        let body = String::from_utf8_lossy(BATCH).replace("PID|2", "PID|BAD").into_bytes();
        let out = handle(&body, BatchHandling::SingleSession, check).unwrap();
        assert_eq!(out.forward.len(), 1);
        assert_eq!(out.rejected, vec![(2, "bad".to_string())]);
        let reply = String::from_utf8(out.reply.unwrap()).unwrap();
        assert!(reply.contains("MSA|AA|C1\r") && reply.contains("MSA|AE|C2\r") && reply.ends_with("BTS|2\rFTS|1\r"));
    }

    #[test]
    fn whole_forwards_the_batch_as_one_document_or_nothing_when_a_child_is_rejected() {
        let out = handle(BATCH, BatchHandling::Whole, check).unwrap();
        assert_eq!(out.forward, vec![BATCH.to_vec()]);
        let body = String::from_utf8_lossy(BATCH).replace("PID|2", "PID|BAD").into_bytes();
        let out = handle(&body, BatchHandling::Whole, check).unwrap();
        assert!(out.forward.is_empty());
        let reply = String::from_utf8(out.reply.unwrap()).unwrap();
        assert!(reply.contains("MSA|AE|C1|not forwarded: another message of this batch was rejected"), "{reply}");
        assert!(reply.contains("MSA|AE|C2\r"), "{reply}");
    }

    #[test]
    fn nested_batches_get_one_bts_each_and_fts_counts_the_batches() {
        let body = b"FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|||||||ADT^A01|A|P|2.4\rBTS|1\rBHS|^~\\&\rMSH|^~\\&|||||||ADT^A01|B|P|2.4\rMSH|^~\\&|||||||ADT^A01|C|P|2.4\rBTS|2\rFTS|2\r";
        let reply =
            String::from_utf8(handle(body, BatchHandling::MultiSession, check).unwrap().reply.unwrap()).unwrap();
        let segs: Vec<&str> = reply.split('\r').filter(|s| !s.starts_with("MSH") && !s.is_empty()).collect();
        assert_eq!(
            segs,
            ["FHS|^~\\&", "BHS|^~\\&", "MSA|AA|A", "BTS|1", "BHS|^~\\&", "MSA|AA|B", "MSA|AA|C", "BTS|2", "FTS|2"]
        );
    }

    #[test]
    fn a_bhs_only_batch_gets_a_bhs_bts_reply_and_no_acks_means_no_reply() {
        let body = b"BHS|^~\\&\rMSH|^~\\&|||||||ADT^A01|A|P|2.4\rBTS|1\r";
        let reply = String::from_utf8(handle(body, BatchHandling::Individual, check).unwrap().reply.unwrap()).unwrap();
        assert!(reply.starts_with("BHS|^~\\&\rMSH") && reply.ends_with("BTS|1\r") && !reply.contains("FHS"), "{reply}");
        let silent = handle(body, BatchHandling::Individual, |c| ChildVerdict { ack: None, ..check(c) }).unwrap();
        assert_eq!(silent.reply, None);
    }

    #[test]
    fn ack_mode_byte_answers_the_whole_batch_with_one_byte() {
        let byte = |c: &[u8]| {
            let v = check(c);
            ChildVerdict { ack: Some(vec![if v.accepted { 0x06 } else { 0x15 }]), ..v }
        };
        assert_eq!(handle(BATCH, BatchHandling::Individual, byte).unwrap().reply, Some(vec![0x06]));
        let body = String::from_utf8_lossy(BATCH).replace("PID|2", "PID|BAD").into_bytes();
        assert_eq!(handle(&body, BatchHandling::Individual, byte).unwrap().reply, Some(vec![0x15]));
    }
}
