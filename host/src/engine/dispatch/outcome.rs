//! The outcome policy: what the result of one call into an item means for its message.
//! [`decide`] answers for a process or operation (its consumer acts on the answer),
//! [`intake_verdict`] for a service (the intake acts on it).
//!
//! # Invariants
//! - Pure: a function of the item's engine settings, the call's result, the message's
//!   worker crashes and the time spent on it. No I/O, no clock, no state; the callers do
//!   what it decides.
//! - A retry lasts until `FailureTimeout` (time spent disconnected not counted with
//!   `NoFailWhileDisconnected`), then the message ends in Error with a copy to
//!   `ErrorTarget`; without a `FailureTimeout` it retries for ever.
//! - Every Error of a consumer goes to `ErrorTarget` when one is set; `ErrorAction::RouteTo`
//!   names its own target and falls back to it.
//! - A worker crash puts the message back until `MaxWorkerCrashes`, then quarantines it
//!   (Suspended); a call that never ran (its worker died first) is put back, not blamed.
//! - At intake nothing retries (the sender waits for its ACK): what is not Completed,
//!   Discarded or Suspended is Error, and only a Completed message sends anything.

use crate::engine::call::{Action, CallResult, Disposition, FailureData, FailureKind, SendData};
use crate::message::Status;
use crate::production::plan::EngineSettings;
use std::time::Duration;

/// What a consumer does with a message after a call.
#[derive(Debug, PartialEq)]
pub(super) enum Decision {
    /// Commit a final state.
    Finish(Finish),
    /// Call again after `delay`, the message still leased.
    Retry {
        /// How long to wait.
        delay: Duration,
        /// The call failed for want of a connection (time `NoFailWhileDisconnected`
        /// does not count).
        disconnected: bool,
    },
    /// Put the message back at the head of the queue (worker crash below the quarantine
    /// limit, or a call that never ran).
    Requeue,
    /// Put the message back and pause the item (a reply action `D`), with the reason.
    Disable(String),
}

/// A final state to commit for a message.
#[derive(Debug, PartialEq)]
pub(super) struct Finish {
    /// Its status.
    pub status: Status,
    /// Why, for the header.
    pub note: Option<String>,
    /// The reply to store on the header (and give a waiting caller).
    pub reply: Option<Vec<u8>>,
    /// What it sends on.
    pub sends: Vec<SendData>,
    /// Route a copy to this error-handling item.
    pub route_to: Option<String>,
    /// Whether this counts as an error.
    pub error: bool,
}

impl Finish {
    /// A final state that sends nothing and is no error.
    fn quiet(status: Status, note: Option<String>, reply: Option<Vec<u8>>) -> Finish {
        Finish { status, note, reply, sends: Vec::new(), route_to: None, error: false }
    }

    /// An Error, with a copy to `route_to`.
    fn error(note: String, reply: Option<Vec<u8>>, route_to: Option<String>) -> Finish {
        Finish { status: Status::Error, note: Some(note), reply, sends: Vec::new(), route_to, error: true }
    }
}

/// Time spent on one message so far.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Elapsed {
    /// Since its first call.
    pub total: Duration,
    /// Of that, waiting to retry after a disconnection.
    pub disconnected: Duration,
}

/// What a consumer does with its message after a call that gave `result`; `crashes` is
/// how many times a worker crashed on the message, this call included.
pub(super) fn decide(settings: &EngineSettings, result: &CallResult, crashes: u32, elapsed: Elapsed) -> Decision {
    let retry_or_fail = |after_ms: u64, reason: &str, disconnected: bool| {
        let counted = if settings.no_fail_while_disconnected {
            elapsed.total.saturating_sub(elapsed.disconnected)
        } else {
            elapsed.total
        };
        match settings.failure_timeout {
            Some(t) if counted >= t => Decision::Finish(Finish::error(
                format!("FailureTimeout ({}s) exceeded; last error: {reason}", t.as_secs()),
                None,
                settings.error_target.clone(),
            )),
            _ => Decision::Retry {
                delay: if after_ms > 0 { Duration::from_millis(after_ms) } else { settings.retry_interval },
                disconnected,
            },
        }
    };
    match &result.outcome {
        Ok(o) => {
            let note = if o.reason.is_empty() && o.warnings.is_empty() {
                None
            } else {
                Some(
                    [o.reason.clone()]
                        .into_iter()
                        .chain(o.warnings.iter().cloned())
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            };
            let reply = o.reply.clone();
            match o.disposition {
                Disposition::Completed => {
                    let mut sends = o.sends.clone();
                    sends.extend(result.sends.iter().cloned());
                    let status = if result.deferred.is_some() { Status::Deferred } else { Status::Completed };
                    Decision::Finish(Finish { sends, ..Finish::quiet(status, note, reply) })
                }
                Disposition::Retry => retry_or_fail(o.retry_after_ms, &o.reason, false),
                Disposition::Suspend => Decision::Finish(Finish::quiet(Status::Suspended, note, reply)),
                Disposition::Discard => Decision::Finish(Finish::quiet(Status::Discarded, note, reply)),
                Disposition::Fail => Decision::Finish(Finish {
                    note,
                    ..Finish::error(String::new(), reply, settings.error_target.clone())
                }),
                Disposition::Disable => Decision::Disable(o.reason.clone()),
            }
        }
        Err(f) => {
            let note = failure_note(f);
            match f.kind {
                FailureKind::NotRun => return Decision::Requeue,
                FailureKind::WorkerCrashed if crashes >= settings.max_worker_crashes => {
                    return Decision::Finish(Finish {
                        error: true,
                        ..Finish::quiet(
                            Status::Suspended,
                            Some(format!("quarantined after {crashes} worker crashes: {}", f.message)),
                            None,
                        )
                    });
                }
                FailureKind::WorkerCrashed => return Decision::Requeue,
                _ => {}
            }
            let reply = f.reply.clone();
            match f.action {
                Action::Retry => retry_or_fail(f.retry_after_ms, &note, f.kind == FailureKind::Disconnected),
                Action::Suspend => Decision::Finish(Finish::quiet(Status::Suspended, Some(note), reply)),
                Action::Discard => Decision::Finish(Finish::quiet(Status::Discarded, Some(note), reply)),
                Action::RouteTo => Decision::Finish(Finish::error(
                    note,
                    reply,
                    Some(f.action_target.clone()).filter(|t| !t.is_empty()).or_else(|| settings.error_target.clone()),
                )),
                Action::Default => Decision::Finish(Finish::error(note, reply, settings.error_target.clone())),
            }
        }
    }
}

/// Whether a call counts against the circuit breaker: a failure, or an outcome asking to
/// retry or fail.
pub(super) fn is_failed_call(result: &CallResult) -> bool {
    match &result.outcome {
        Ok(o) => matches!(o.disposition, Disposition::Retry | Disposition::Fail),
        Err(_) => true,
    }
}

/// Whether the call's worker crashed on the message (which counts towards its quarantine).
pub(super) fn crashed_worker(result: &CallResult) -> bool {
    matches!(&result.outcome, Err(f) if f.kind == FailureKind::WorkerCrashed)
}

/// What a service's message becomes after the service's call.
#[derive(Debug, PartialEq)]
pub(in crate::engine) struct IntakeVerdict {
    /// The intake header's status.
    pub status: Status,
    /// Why, for the header.
    pub note: Option<String>,
    /// The reply the service built (its ACK or NACK), if any.
    pub reply: Option<Vec<u8>>,
    /// What the message is sent to.
    pub sends: Vec<SendData>,
    /// The call failed: the sender gets a NACK from the host when the service built none.
    pub refused: bool,
}

/// What a service's message becomes after a call that gave `result`.
pub(in crate::engine) fn intake_verdict(result: CallResult) -> IntakeVerdict {
    match result.outcome {
        Ok(o) => {
            let status = match o.disposition {
                Disposition::Completed => Status::Completed,
                Disposition::Discard => Status::Discarded,
                Disposition::Suspend => Status::Suspended,
                Disposition::Retry | Disposition::Fail | Disposition::Disable => Status::Error,
            };
            let mut sends = Vec::new();
            if status == Status::Completed {
                sends = o.sends;
                sends.extend(result.sends);
            }
            IntakeVerdict {
                status,
                note: (!o.reason.is_empty()).then_some(o.reason),
                reply: o.reply,
                sends,
                refused: false,
            }
        }
        Err(f) => IntakeVerdict {
            status: Status::Error,
            note: Some(failure_note(&f)),
            reply: f.reply,
            sends: Vec::new(),
            refused: true,
        },
    }
}

/// A failure as a header note: `<kind> in <stage>: <message>`.
pub(in crate::engine) fn failure_note(f: &FailureData) -> String {
    format!("{} in {}: {}", kind_text(f.kind), f.stage, f.message)
}

/// Human text for a failure kind.
fn kind_text(k: FailureKind) -> &'static str {
    match k {
        FailureKind::Failed => "error",
        FailureKind::Panicked => "panic",
        FailureKind::InvalidMessage => "invalid message",
        FailureKind::Timeout => "timeout",
        FailureKind::UnknownTarget => "unknown target",
        FailureKind::Unsupported => "unsupported",
        FailureKind::Disconnected => "disconnected",
        FailureKind::WorkerCrashed => "worker crashed",
        FailureKind::NotRun => "not run (its worker died first)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::call::OutcomeData;

    const RETRY: Duration = Duration::from_secs(5);

    fn settings() -> EngineSettings {
        EngineSettings {
            retry_interval: RETRY,
            failure_timeout: Some(Duration::from_secs(15)),
            error_target: Some("Errors".into()),
            max_worker_crashes: 3,
            ..EngineSettings::default()
        }
    }

    fn send(target: &str) -> SendData {
        SendData { target: target.into(), body: None, transform: String::new(), priority: 0 }
    }

    /// An outcome with `disposition`, as a pack returns it.
    fn outcome(disposition: Disposition, reason: &str, retry_after_ms: u64) -> CallResult {
        CallResult {
            outcome: Ok(OutcomeData {
                disposition,
                retry_after_ms,
                reason: reason.into(),
                sends: vec![send("A")],
                reply: Some(b"ACK".to_vec()),
                warnings: Vec::new(),
            }),
            sends: vec![send("B")],
            deferred: None,
            hooks: Vec::new(),
        }
    }

    /// The outcome the HL7 TCPOperation makes of a ReplyCodeActions verdict (`C`, `W`,
    /// `R`, `S`, `D`, `F`): the remote ACK as its reply, RetryInterval for `R`.
    fn reply_action(action: char) -> CallResult {
        let (disposition, reason) = match action {
            'C' | 'W' => (Disposition::Completed, ""),
            'R' => (Disposition::Retry, ":?R=RF matched AR"),
            'S' => (Disposition::Suspend, ":?E=S matched AE"),
            'D' => (Disposition::Disable, ":?R=D matched AR"),
            'F' => (Disposition::Fail, ":?R=F matched AR"),
            other => panic!("no reply action {other}"),
        };
        let mut result = outcome(disposition, reason, if action == 'R' { 2000 } else { 0 });
        if let Ok(o) = &mut result.outcome {
            o.sends.clear();
            if action == 'W' {
                o.warnings.push(":I?=W: MSA-2 does not match".into());
            }
        }
        result.sends.clear();
        result
    }

    fn failure(kind: FailureKind, action: Action, target: &str) -> CallResult {
        let mut f = FailureData::new(kind, "process", "boom");
        f.action = action;
        f.action_target = target.into();
        f.retry_after_ms = if action == Action::Retry { 1000 } else { 0 };
        CallResult { outcome: Err(f), sends: vec![send("B")], deferred: None, hooks: Vec::new() }
    }

    fn at(total_s: u64, disconnected_s: u64) -> Elapsed {
        Elapsed { total: Duration::from_secs(total_s), disconnected: Duration::from_secs(disconnected_s) }
    }

    /// A decision in one line: what the table below compares.
    fn summary(d: &Decision) -> String {
        match d {
            Decision::Finish(f) => format!(
                "{:?}{}{}{} sends={} note={}",
                f.status,
                f.route_to.as_ref().map(|t| format!(" ->{t}")).unwrap_or_default(),
                if f.error { " error" } else { "" },
                if f.reply.is_some() { " reply" } else { "" },
                f.sends.iter().map(|s| s.target.as_str()).collect::<Vec<_>>().join(","),
                f.note.as_deref().unwrap_or("-"),
            ),
            Decision::Retry { delay, disconnected } => {
                format!("retry {}ms{}", delay.as_millis(), if *disconnected { " disconnected" } else { "" })
            }
            Decision::Requeue => "requeue".into(),
            Decision::Disable(reason) => format!("disable: {reason}"),
        }
    }

    #[test]
    fn a_consumer_decides_by_settings_result_and_time() {
        let base = settings();
        let no_timeout = EngineSettings { failure_timeout: None, ..settings() };
        let no_error_target = EngineSettings { error_target: None, ..settings() };
        let not_while_disconnected = EngineSettings { no_fail_while_disconnected: true, ..settings() };
        let mut deferred = outcome(Disposition::Completed, "", 0);
        deferred.deferred = Some("7".into());
        let mut warned = outcome(Disposition::Completed, "why", 0);
        if let Ok(o) = &mut warned.outcome {
            o.warnings = vec!["w1".into(), "w2".into()];
        }
        #[rustfmt::skip]
        let cases: Vec<(&str, &EngineSettings, CallResult, u32, Elapsed, &str)> = vec![
            ("completed sends what the outcome and send_async sent", &base, outcome(Disposition::Completed, "", 0), 0, at(0, 0), "Completed reply sends=A,B note=-"),
            ("deferred", &base, deferred, 0, at(0, 0), "Deferred reply sends=A,B note=-"),
            ("reason and warnings make the note", &base, warned, 0, at(0, 0), "Completed reply sends=A,B note=why; w1; w2"),
            ("retry after the outcome's delay", &base, outcome(Disposition::Retry, "busy", 250), 0, at(1, 0), "retry 250ms"),
            ("retry after RetryInterval", &base, outcome(Disposition::Retry, "busy", 0), 0, at(1, 0), "retry 5000ms"),
            ("FailureTimeout ends a retry in Error", &base, outcome(Disposition::Retry, "busy", 0), 0, at(15, 0), "Error ->Errors error sends= note=FailureTimeout (15s) exceeded; last error: busy"),
            ("no FailureTimeout: retry for ever", &no_timeout, outcome(Disposition::Retry, "busy", 0), 0, at(86_400, 0), "retry 5000ms"),
            ("suspend", &base, outcome(Disposition::Suspend, "held", 0), 0, at(0, 0), "Suspended reply sends= note=held"),
            ("discard", &base, outcome(Disposition::Discard, "", 0), 0, at(0, 0), "Discarded reply sends= note=-"),
            ("fail goes to the error target", &base, outcome(Disposition::Fail, "bad", 0), 0, at(0, 0), "Error ->Errors error reply sends= note=bad"),
            ("fail without an error target", &no_error_target, outcome(Disposition::Fail, "bad", 0), 0, at(0, 0), "Error error reply sends= note=bad"),
            ("disable", &base, outcome(Disposition::Disable, "stop", 0), 0, at(0, 0), "disable: stop"),
            ("error: default", &base, failure(FailureKind::Failed, Action::Default, ""), 0, at(0, 0), "Error ->Errors error sends= note=error in process: boom"),
            ("error: retry", &base, failure(FailureKind::Failed, Action::Retry, ""), 0, at(0, 0), "retry 1000ms"),
            ("error: disconnected retry", &base, failure(FailureKind::Disconnected, Action::Retry, ""), 0, at(20, 0), "Error ->Errors error sends= note=FailureTimeout (15s) exceeded; last error: disconnected in process: boom"),
            ("NoFailWhileDisconnected does not count time disconnected", &not_while_disconnected, failure(FailureKind::Disconnected, Action::Retry, ""), 0, at(20, 10), "retry 1000ms disconnected"),
            ("NoFailWhileDisconnected counts the rest", &not_while_disconnected, failure(FailureKind::Disconnected, Action::Retry, ""), 0, at(30, 10), "Error ->Errors error sends= note=FailureTimeout (15s) exceeded; last error: disconnected in process: boom"),
            ("error: suspend", &base, failure(FailureKind::Failed, Action::Suspend, ""), 0, at(0, 0), "Suspended sends= note=error in process: boom"),
            ("error: discard", &base, failure(FailureKind::Failed, Action::Discard, ""), 0, at(0, 0), "Discarded sends= note=error in process: boom"),
            ("error: route to its own target", &base, failure(FailureKind::Panicked, Action::RouteTo, "Bad"), 0, at(0, 0), "Error ->Bad error sends= note=panic in process: boom"),
            ("error: route to nowhere is the error target", &base, failure(FailureKind::Failed, Action::RouteTo, ""), 0, at(0, 0), "Error ->Errors error sends= note=error in process: boom"),
            ("a worker crash puts the message back", &base, failure(FailureKind::WorkerCrashed, Action::Default, ""), 2, at(0, 0), "requeue"),
            ("MaxWorkerCrashes quarantines", &base, failure(FailureKind::WorkerCrashed, Action::Default, ""), 3, at(0, 0), "Suspended error sends= note=quarantined after 3 worker crashes: boom"),
            ("a call that never ran is put back", &base, failure(FailureKind::NotRun, Action::Default, ""), 9, at(0, 0), "requeue"),
            ("ReplyCodeActions C", &base, reply_action('C'), 0, at(0, 0), "Completed reply sends= note=-"),
            ("ReplyCodeActions W", &base, reply_action('W'), 0, at(0, 0), "Completed reply sends= note=:I?=W: MSA-2 does not match"),
            ("ReplyCodeActions R", &base, reply_action('R'), 0, at(3, 0), "retry 2000ms"),
            ("ReplyCodeActions R at FailureTimeout (RF)", &base, reply_action('R'), 0, at(16, 0), "Error ->Errors error sends= note=FailureTimeout (15s) exceeded; last error: :?R=RF matched AR"),
            ("ReplyCodeActions S", &base, reply_action('S'), 0, at(0, 0), "Suspended reply sends= note=:?E=S matched AE"),
            ("ReplyCodeActions D", &base, reply_action('D'), 0, at(0, 0), "disable: :?R=D matched AR"),
            ("ReplyCodeActions F", &base, reply_action('F'), 0, at(0, 0), "Error ->Errors error reply sends= note=:?R=F matched AR"),
        ];
        for (name, settings, result, crashes, elapsed, expected) in cases {
            assert_eq!(summary(&decide(settings, &result, crashes, elapsed)), expected, "{name}");
        }
    }

    #[test]
    fn the_breaker_counts_failures_retries_and_fails() {
        let failed: Vec<bool> = [
            outcome(Disposition::Completed, "", 0),
            outcome(Disposition::Retry, "", 0),
            outcome(Disposition::Fail, "", 0),
            outcome(Disposition::Suspend, "", 0),
            failure(FailureKind::Failed, Action::Discard, ""),
        ]
        .iter()
        .map(is_failed_call)
        .collect();
        assert_eq!(failed, [false, true, true, false, true]);
        assert!(crashed_worker(&failure(FailureKind::WorkerCrashed, Action::Default, "")));
        assert!(!crashed_worker(&failure(FailureKind::NotRun, Action::Default, "")));
    }

    #[test]
    fn a_service_never_retries() {
        let verdict = |r: CallResult| {
            let v = intake_verdict(r);
            let sends: Vec<String> = v.sends.iter().map(|s| s.target.clone()).collect();
            (v.status, v.note, v.reply.is_some(), sends.join(","), v.refused)
        };
        let none = String::new;
        #[rustfmt::skip]
        let cases: Vec<(&str, CallResult, (Status, Option<String>, bool, String, bool))> = vec![
            ("completed sends", outcome(Disposition::Completed, "", 0), (Status::Completed, None, true, "A,B".into(), false)),
            ("discard sends nothing", outcome(Disposition::Discard, "dup", 0), (Status::Discarded, Some("dup".into()), true, none(), false)),
            ("suspend", outcome(Disposition::Suspend, "", 0), (Status::Suspended, None, true, none(), false)),
            ("retry is an error", outcome(Disposition::Retry, "busy", 0), (Status::Error, Some("busy".into()), true, none(), false)),
            ("fail", outcome(Disposition::Fail, "bad", 0), (Status::Error, Some("bad".into()), true, none(), false)),
            ("disable", outcome(Disposition::Disable, "", 0), (Status::Error, None, true, none(), false)),
            ("a failure is refused", failure(FailureKind::InvalidMessage, Action::Suspend, ""), (Status::Error, Some("invalid message in process: boom".into()), false, none(), true)),
        ];
        for (name, result, expected) in cases {
            assert_eq!(verdict(result), expected, "{name}");
        }
    }
}
