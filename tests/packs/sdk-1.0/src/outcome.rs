//! What an item returns: the outcome of processing and the action after an error.

use crate::abi::{self, Disposition, DispositionKind, ErrorActionKind, ProcessOutcome, SendRequest};
use abi_stable::std_types::{RNone, ROption, RSome, RString, RVec};
use std::time::Duration;

/// A message to send to another item.
#[derive(Clone, Debug)]
pub struct Send {
    /// Target item name.
    pub target: String,
    /// New body, or `None` to forward the current message's body unchanged.
    pub body: Option<Vec<u8>>,
    /// Transform class to apply first, if any.
    pub transform: Option<String>,
    /// Priority (IRIS numbering); `None` inherits the current message's.
    pub priority: Option<u8>,
}

impl Send {
    /// Forward the current message unchanged to `target`.
    pub fn forward(target: impl Into<String>) -> Self {
        Send { target: target.into(), body: None, transform: None, priority: None }
    }

    /// Send a new body to `target`.
    pub fn new(target: impl Into<String>, body: Vec<u8>) -> Self {
        Send { target: target.into(), body: Some(body), transform: None, priority: None }
    }

    /// Apply the transform class `name` before delivery.
    pub fn with_transform(mut self, name: impl Into<String>) -> Self {
        self.transform = Some(name.into());
        self
    }

    /// Set the priority.
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }
}

impl From<Send> for SendRequest {
    fn from(s: Send) -> Self {
        SendRequest {
            target: RString::from(s.target),
            body: match s.body {
                Some(b) => RSome(RVec::from(b)),
                None => RNone,
            },
            transform: RString::from(s.transform.unwrap_or_default()),
            priority: s.priority.unwrap_or(0),
        }
    }
}

/// The outcome of processing one message.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// What happens to the message.
    kind: DispositionKind,
    /// Retry delay for `Retry`.
    retry_after: Duration,
    /// Reason recorded with the disposition.
    reason: String,
    /// Messages to send on, committed with the disposition.
    sends: Vec<Send>,
    /// Reply for a waiting caller or sender.
    reply: Option<Vec<u8>>,
    /// Warnings to record.
    warnings: Vec<String>,
}

impl Outcome {
    fn with_kind(kind: DispositionKind, reason: String) -> Self {
        Outcome { kind, retry_after: Duration::ZERO, reason, sends: Vec::new(), reply: None, warnings: Vec::new() }
    }

    /// The message is done.
    pub fn completed() -> Self {
        Self::with_kind(DispositionKind::Completed, String::new())
    }

    /// Try again after `after` (the host gives up at the item's FailureTimeout).
    pub fn retry(after: Duration, reason: impl Into<String>) -> Self {
        let mut o = Self::with_kind(DispositionKind::Retry, reason.into());
        o.retry_after = after;
        o
    }

    /// Park the message as Suspended; the queue moves on.
    pub fn suspend(reason: impl Into<String>) -> Self {
        Self::with_kind(DispositionKind::Suspend, reason.into())
    }

    /// Record the message as Discarded.
    pub fn discard(reason: impl Into<String>) -> Self {
        Self::with_kind(DispositionKind::Discard, reason.into())
    }

    /// Record the message as Error (to the error target); the queue moves on.
    pub fn fail(reason: impl Into<String>) -> Self {
        Self::with_kind(DispositionKind::Fail, reason.into())
    }

    /// Put the message back at the head of the queue and pause this item.
    pub fn disable(reason: impl Into<String>) -> Self {
        Self::with_kind(DispositionKind::Disable, reason.into())
    }

    /// Add a message to send on.
    pub fn send(mut self, send: Send) -> Self {
        self.sends.push(send);
        self
    }

    /// Forward the current message unchanged to each of `targets`.
    pub fn forward_to<I, S>(mut self, targets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sends.extend(targets.into_iter().map(Send::forward));
        self
    }

    /// Set the reply (ACK for a service, response for a synchronous caller).
    pub fn reply(mut self, body: Vec<u8>) -> Self {
        self.reply = Some(body);
        self
    }

    /// Record a warning.
    pub fn warn(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// The messages this outcome sends.
    pub fn sends(&self) -> &[Send] {
        &self.sends
    }

    /// The reply, if any.
    pub fn reply_body(&self) -> Option<&[u8]> {
        self.reply.as_deref()
    }
}

impl From<Outcome> for ProcessOutcome {
    fn from(o: Outcome) -> Self {
        ProcessOutcome {
            disposition: Disposition {
                kind: o.kind,
                retry_after_ms: o.retry_after.as_millis().min(u64::MAX as u128) as u64,
                reason: RString::from(o.reason),
            },
            sends: o.sends.into_iter().map(SendRequest::from).collect(),
            reply: o.reply.map(RVec::from).map(RSome).unwrap_or(RNone),
            warnings: o.warnings.into_iter().map(RString::from).collect(),
        }
    }
}

impl From<&ProcessOutcome> for Outcome {
    fn from(p: &ProcessOutcome) -> Self {
        Outcome {
            kind: p.disposition.kind,
            retry_after: Duration::from_millis(p.disposition.retry_after_ms),
            reason: p.disposition.reason.to_string(),
            sends: p
                .sends
                .iter()
                .map(|s| Send {
                    target: s.target.to_string(),
                    body: match &s.body {
                        ROption::RSome(b) => Some(b.to_vec()),
                        ROption::RNone => None,
                    },
                    transform: if s.transform.is_empty() { None } else { Some(s.transform.to_string()) },
                    priority: if s.priority == 0 { None } else { Some(s.priority) },
                })
                .collect(),
            reply: match &p.reply {
                ROption::RSome(b) => Some(b.to_vec()),
                ROption::RNone => None,
            },
            warnings: p.warnings.iter().map(|w| w.to_string()).collect(),
        }
    }
}

/// What to do after `process` or a hook failed.
#[derive(Clone, Debug)]
pub enum ErrorAction {
    /// The host's default: Error status, the item's error target, NACK for services.
    Default,
    /// Retry after the delay.
    Retry(Duration),
    /// Suspend the message.
    Suspend,
    /// Discard the message.
    Discard,
    /// Send the message to an error-handling item.
    RouteTo(String),
    /// The default handling, but answer a waiting sender with this reply (e.g. a NACK).
    Reply(Vec<u8>),
}

impl From<ErrorAction> for abi::ErrorAction {
    fn from(a: ErrorAction) -> Self {
        let mut out = abi::ErrorAction {
            kind: ErrorActionKind::Default,
            target: RString::new(),
            retry_after_ms: 0,
            reply: RNone,
        };
        match a {
            ErrorAction::Default => {}
            ErrorAction::Retry(d) => {
                out.kind = ErrorActionKind::Retry;
                out.retry_after_ms = d.as_millis().min(u64::MAX as u128) as u64;
            }
            ErrorAction::Suspend => out.kind = ErrorActionKind::Suspend,
            ErrorAction::Discard => out.kind = ErrorActionKind::Discard,
            ErrorAction::RouteTo(t) => {
                out.kind = ErrorActionKind::RouteTo;
                out.target = RString::from(t);
            }
            ErrorAction::Reply(r) => out.reply = RSome(RVec::from(r)),
        }
        out
    }
}
