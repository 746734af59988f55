//! IRIS `ReplyCodeActions`: what an operation does with the reply it got.
//!
//! Syntax: a comma list of `condition=actions`. Conditions: `:AA`-style literal MSA-1
//! codes, `:?A` (AA or CA), `:?E` (AE or CE), `:?R` (AR or CR), `:_` (empty MSA-1),
//! `:*` (any MSA-1), `:~` (no MSA segment), `:I?` (MSA-2 does not match the request's
//! MSH-10), `:T?` (the reply is not an ACK), `E` (the delivery failed), `E#text` /
//! `E*text` (the delivery error contains text), `X` (no reply at all). Actions: `C`
//! complete, `W` warn, `R` retry, `S` suspend, `D` disable the operation, `F` fail.
//! Entries whose actions are only `W` always apply (as warnings); of the others the
//! first match wins. Nothing matching means complete.

use hie_plugin_api::hl7;

/// The HL7 default (IRIS EnsLib.HL7.Operation.ReplyStandard).
pub const DEFAULT: &str = ":?R=RF,:?E=S,:~=S,:?A=C,:*=S,:I?=W,:T?=C";

/// A condition on the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Condition {
    /// MSA-1 equals the code.
    Code(String),
    /// AA or CA.
    AnyAccept,
    /// AE or CE.
    AnyError,
    /// AR or CR.
    AnyReject,
    /// MSA present, MSA-1 empty.
    Empty,
    /// Any MSA-1.
    Any,
    /// No MSA segment.
    NoMsa,
    /// MSA-2 differs from the request's MSH-10.
    IdMismatch,
    /// The reply is not an ACK.
    TypeMismatch,
    /// The delivery failed (with optional text to look for).
    Error(Option<String>),
    /// No reply at all.
    NoReply,
}

/// One `condition=actions` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    condition: Condition,
    /// Action letters, upper case.
    actions: String,
}

/// The parsed setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyActions {
    entries: Vec<Entry>,
}

/// What to do with the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Done.
    Complete,
    /// Retry later (failing at FailureTimeout).
    Retry,
    /// Suspend and move on.
    Suspend,
    /// Back to the head of the queue; disable the operation.
    Disable,
    /// Fail (Error) and move on.
    Fail,
}

/// The evaluation: verdict, why, and warnings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// What to do.
    pub verdict: Verdict,
    /// Human reason (the matching entry and the reply code).
    pub reason: String,
    /// Warnings from W entries.
    pub warnings: Vec<String>,
}

impl Evaluation {
    /// The outcome the evaluation asks for (`retry`: the wait before a Retry), with its
    /// warnings.
    pub fn outcome(&self, retry: std::time::Duration) -> hie_plugin_api::Outcome {
        use hie_plugin_api::Outcome;
        let mut out = match self.verdict {
            Verdict::Complete => Outcome::completed(),
            Verdict::Retry => Outcome::retry(retry, &self.reason),
            Verdict::Suspend => Outcome::suspend(&self.reason),
            Verdict::Disable => Outcome::disable(&self.reason),
            Verdict::Fail => Outcome::fail(&self.reason),
        };
        for w in &self.warnings {
            out = out.warn(w.clone());
        }
        out
    }
}

/// What the operation got back.
pub enum Reply<'a> {
    /// Reply bytes.
    Body(&'a [u8]),
    /// Delivery failed with this error text (no reply).
    Failed(&'a str),
}

impl ReplyActions {
    /// Parses the setting text.
    pub fn parse(spec: &str) -> Result<ReplyActions, String> {
        let mut entries = Vec::new();
        for raw in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (cond, actions) = raw
                .rsplit_once('=')
                .ok_or_else(|| format!("ReplyCodeActions entry {raw:?} has no '=' (expected e.g. :?R=RF)"))?;
            let actions = actions.trim().to_ascii_uppercase();
            if actions.is_empty() || !actions.chars().all(|c| "CWRSDF".contains(c)) {
                return Err(format!("ReplyCodeActions entry {raw:?}: actions must be letters from C, W, R, S, D, F"));
            }
            let cond = cond.trim();
            let condition = match cond {
                ":?A" => Condition::AnyAccept,
                ":?E" => Condition::AnyError,
                ":?R" => Condition::AnyReject,
                ":_" => Condition::Empty,
                ":*" => Condition::Any,
                ":~" => Condition::NoMsa,
                ":I?" => Condition::IdMismatch,
                ":T?" => Condition::TypeMismatch,
                "E" => Condition::Error(None),
                "X" => Condition::NoReply,
                c if c.starts_with("E#") || c.starts_with("E*") => Condition::Error(Some(c[2..].to_string())),
                c if c.starts_with(':') && c.len() > 1 => Condition::Code(c[1..].to_ascii_uppercase()),
                other => return Err(format!("ReplyCodeActions entry {raw:?}: unknown condition {other:?}")),
            };
            entries.push(Entry { condition, actions });
        }
        Ok(ReplyActions { entries })
    }

    /// Evaluates a reply to a request whose MSH-10 is `request_control_id`.
    pub fn evaluate(&self, reply: Reply<'_>, request_control_id: &str) -> Evaluation {
        let parsed = match &reply {
            Reply::Body(b) => hl7::parse(b).ok(),
            Reply::Failed(_) => None,
        };
        let ack = parsed.as_ref().and_then(hl7::ack::parse_ack);
        let has_msa = parsed.as_ref().is_some_and(|m| m.has_segment("MSA"));
        let code = ack.as_ref().map(|a| a.code.to_ascii_uppercase()).unwrap_or_default();
        let matches = |c: &Condition| -> bool {
            match (c, &reply) {
                (Condition::Error(None), Reply::Failed(_)) => true,
                (Condition::Error(Some(t)), Reply::Failed(e)) => e.contains(t.as_str()),
                (Condition::NoReply, Reply::Failed(_)) => true,
                (_, Reply::Failed(_)) => false,
                (Condition::Error(_), _) | (Condition::NoReply, _) => false,
                (Condition::NoMsa, _) => !has_msa,
                (Condition::Empty, _) => has_msa && code.is_empty(),
                (Condition::Any, _) => has_msa,
                (Condition::AnyAccept, _) => code == "AA" || code == "CA",
                (Condition::AnyError, _) => code == "AE" || code == "CE",
                (Condition::AnyReject, _) => code == "AR" || code == "CR",
                (Condition::Code(k), _) => has_msa && &code == k,
                (Condition::IdMismatch, _) => ack.as_ref().is_some_and(|a| a.control_id != request_control_id),
                (Condition::TypeMismatch, _) => {
                    parsed.as_ref().is_some_and(|m| m.message_code().is_some_and(|c| !c.eq_ignore_ascii_case("ACK")))
                }
            }
        };
        let describe = || match &reply {
            Reply::Failed(e) => format!("delivery failed: {e}"),
            Reply::Body(_) if !has_msa => "reply has no MSA segment".to_string(),
            Reply::Body(_) => {
                let mut s = format!("reply {code}");
                if let Some(a) = &ack
                    && let Some(t) = a.text.as_ref().or(a.error_text.as_ref())
                {
                    s.push_str(&format!(" ({t})"));
                }
                s
            }
        };
        let mut warnings = Vec::new();
        for e in self.entries.iter().filter(|e| e.actions == "W") {
            if matches(&e.condition) {
                warnings.push(format!("{} matched {}", describe(), entry_text(e)));
            }
        }
        for e in self.entries.iter().filter(|e| e.actions != "W") {
            if matches(&e.condition) {
                if e.actions.contains('W') {
                    warnings.push(format!("{} matched {}", describe(), entry_text(e)));
                }
                let verdict = if e.actions.contains('R') {
                    Verdict::Retry
                } else if e.actions.contains('D') {
                    Verdict::Disable
                } else if e.actions.contains('S') {
                    Verdict::Suspend
                } else if e.actions.contains('F') {
                    Verdict::Fail
                } else {
                    Verdict::Complete
                };
                return Evaluation { verdict, reason: format!("{} ({})", describe(), entry_text(e)), warnings };
            }
        }
        Evaluation { verdict: Verdict::Complete, reason: describe(), warnings }
    }
}

impl ReplyActions {
    /// Evaluates a failed delivery (no reply). `None` unless an explicit `E`/`X` entry
    /// matched: the caller then retries as for any delivery error.
    pub fn evaluate_failure(&self, error: &str) -> Option<Evaluation> {
        let explicit = self
            .entries
            .iter()
            .any(|e| e.actions != "W" && matches!(e.condition, Condition::Error(_) | Condition::NoReply));
        if !explicit {
            return None;
        }
        let e = self.evaluate(Reply::Failed(error), "");
        e.reason.contains("ReplyCodeActions").then_some(e)
    }
}

fn entry_text(e: &Entry) -> String {
    let c = match &e.condition {
        Condition::Code(k) => format!(":{k}"),
        Condition::AnyAccept => ":?A".into(),
        Condition::AnyError => ":?E".into(),
        Condition::AnyReject => ":?R".into(),
        Condition::Empty => ":_".into(),
        Condition::Any => ":*".into(),
        Condition::NoMsa => ":~".into(),
        Condition::IdMismatch => ":I?".into(),
        Condition::TypeMismatch => ":T?".into(),
        Condition::Error(None) => "E".into(),
        Condition::Error(Some(t)) => format!("E*{t}"),
        Condition::NoReply => "X".into(),
    };
    format!("ReplyCodeActions {c}={}", e.actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(code: &str, id: &str) -> Vec<u8> {
        format!("MSH|^~\\&|R|F|S|F|20260101||ACK^A01^ACK|A1|P|2.5\rMSA|{code}|{id}\r").into_bytes()
    }

    #[test]
    fn default_actions_complete_aa_retry_ar_suspend_ae() {
        let r = ReplyActions::parse(DEFAULT).unwrap();
        assert_eq!(r.evaluate(Reply::Body(&ack("AA", "1")), "1").verdict, Verdict::Complete);
        assert_eq!(r.evaluate(Reply::Body(&ack("CA", "1")), "1").verdict, Verdict::Complete);
        assert_eq!(r.evaluate(Reply::Body(&ack("AR", "1")), "1").verdict, Verdict::Retry);
        assert_eq!(r.evaluate(Reply::Body(&ack("AE", "1")), "1").verdict, Verdict::Suspend);
        assert_eq!(r.evaluate(Reply::Body(b"MSH|^~\\&|R|F\rPID|1\r"), "1").verdict, Verdict::Suspend);
    }

    #[test]
    fn warning_entries_apply_alongside_the_first_match() {
        let r = ReplyActions::parse(DEFAULT).unwrap();
        let e = r.evaluate(Reply::Body(&ack("AA", "other")), "1");
        assert_eq!(e.verdict, Verdict::Complete);
        assert_eq!(e.warnings.len(), 1, "{e:?}");
    }

    #[test]
    fn literal_codes_and_error_conditions_are_understood() {
        let r = ReplyActions::parse(":AE=C,E=D,:*=F").unwrap();
        assert_eq!(r.evaluate(Reply::Body(&ack("AE", "1")), "1").verdict, Verdict::Complete);
        assert_eq!(r.evaluate(Reply::Failed("refused"), "1").verdict, Verdict::Disable);
        assert_eq!(r.evaluate(Reply::Body(&ack("AR", "1")), "1").verdict, Verdict::Fail);
    }

    #[test]
    fn bad_syntax_is_reported_with_the_entry() {
        assert!(ReplyActions::parse(":?A").unwrap_err().contains(":?A"));
        assert!(ReplyActions::parse(":?A=Q").unwrap_err().contains("letters"));
        assert!(ReplyActions::parse("zz=C").unwrap_err().contains("unknown condition"));
    }
}
