//! The host-side, owned form of one call into an item: what went in and what came out.
//!
//! These types are plain serde data so the same result can come back from an in-process
//! instance or, over IPC, from a worker process.

use hie_plugin_api::abi::{self, DispositionKind, ErrorActionKind, ErrorKind, PluginError};
use serde::{Deserialize, Serialize};

/// A message an item asked to send (from its outcome or from `send_async`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SendData {
    /// Target item.
    pub target: String,
    /// New body; `None` forwards the current body.
    pub body: Option<Vec<u8>>,
    /// Transform class to apply, or empty.
    pub transform: String,
    /// Priority; 0 inherits.
    pub priority: u8,
}

impl From<&abi::SendRequest> for SendData {
    fn from(s: &abi::SendRequest) -> Self {
        SendData {
            target: s.target.to_string(),
            body: s.body.as_ref().map(|b| b.to_vec()).into_option(),
            transform: s.transform.to_string(),
            priority: s.priority,
        }
    }
}

/// What the item decided for the message.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Disposition {
    /// Done.
    Completed,
    /// Try again later.
    Retry,
    /// Park as Suspended.
    Suspend,
    /// Record as Discarded.
    Discard,
    /// Record as Error, to the error target.
    Fail,
    /// Back to the head of the queue; pause the item.
    Disable,
}

impl From<DispositionKind> for Disposition {
    fn from(k: DispositionKind) -> Self {
        match k {
            DispositionKind::Completed => Disposition::Completed,
            DispositionKind::Retry => Disposition::Retry,
            DispositionKind::Suspend => Disposition::Suspend,
            DispositionKind::Discard => Disposition::Discard,
            DispositionKind::Fail => Disposition::Fail,
            DispositionKind::Disable => Disposition::Disable,
        }
    }
}

/// A successful `process`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OutcomeData {
    /// What to do with the message.
    pub disposition: Disposition,
    /// Retry delay.
    pub retry_after_ms: u64,
    /// Reason.
    pub reason: String,
    /// Messages to send on.
    pub sends: Vec<SendData>,
    /// Reply (ACK, response).
    pub reply: Option<Vec<u8>>,
    /// Warnings to record.
    pub warnings: Vec<String>,
}

impl From<&abi::ProcessOutcome> for OutcomeData {
    fn from(o: &abi::ProcessOutcome) -> Self {
        OutcomeData {
            disposition: o.disposition.kind.into(),
            retry_after_ms: o.disposition.retry_after_ms,
            reason: o.disposition.reason.to_string(),
            sends: o.sends.iter().map(SendData::from).collect(),
            reply: o.reply.as_ref().map(|r| r.to_vec()).into_option(),
            warnings: o.warnings.iter().map(|w| w.to_string()).collect(),
        }
    }
}

/// What to do after a failure.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Action {
    /// Engine default: Error, error target, NACK.
    Default,
    /// Retry later.
    Retry,
    /// Suspend.
    Suspend,
    /// Discard.
    Discard,
    /// Route to an error item.
    RouteTo,
}

/// The kind of a failure, mirroring [`ErrorKind`].
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum FailureKind {
    /// Plugin-reported failure.
    Failed,
    /// Plugin panicked.
    Panicked,
    /// Bad message.
    InvalidMessage,
    /// Timed out.
    Timeout,
    /// Unknown target.
    UnknownTarget,
    /// Unsupported.
    Unsupported,
    /// Could not reach the other system.
    Disconnected,
    /// The worker process running the call died (crash, kill, memory limit, hang).
    WorkerCrashed,
    /// The call was waiting at a worker that died before it started: not its fault.
    NotRun,
}

impl From<ErrorKind> for FailureKind {
    fn from(k: ErrorKind) -> Self {
        match k {
            ErrorKind::Failed => FailureKind::Failed,
            ErrorKind::Panicked => FailureKind::Panicked,
            ErrorKind::InvalidMessage => FailureKind::InvalidMessage,
            ErrorKind::Timeout => FailureKind::Timeout,
            ErrorKind::UnknownTarget => FailureKind::UnknownTarget,
            ErrorKind::Unsupported => FailureKind::Unsupported,
            ErrorKind::Disconnected => FailureKind::Disconnected,
        }
    }
}

impl FailureKind {
    /// The ABI kind to report to plugins.
    pub fn to_abi(self) -> ErrorKind {
        match self {
            FailureKind::Failed | FailureKind::WorkerCrashed | FailureKind::NotRun => ErrorKind::Failed,
            FailureKind::Panicked => ErrorKind::Panicked,
            FailureKind::InvalidMessage => ErrorKind::InvalidMessage,
            FailureKind::Timeout => ErrorKind::Timeout,
            FailureKind::UnknownTarget => ErrorKind::UnknownTarget,
            FailureKind::Unsupported => ErrorKind::Unsupported,
            FailureKind::Disconnected => ErrorKind::Disconnected,
        }
    }
}

/// A failed call and what the item wants done about it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FailureData {
    /// Kind of failure.
    pub kind: FailureKind,
    /// Description.
    pub message: String,
    /// Which hook failed (`process`, `on_before_process`, ...).
    pub stage: String,
    /// What to do.
    pub action: Action,
    /// Target for [`Action::RouteTo`].
    pub action_target: String,
    /// Delay for [`Action::Retry`].
    pub retry_after_ms: u64,
    /// Reply for a waiting sender (e.g. a NACK the plugin built).
    pub reply: Option<Vec<u8>>,
}

impl FailureData {
    /// A failure with the engine's default handling.
    pub fn new(kind: FailureKind, stage: &str, message: impl Into<String>) -> Self {
        FailureData {
            kind,
            message: message.into(),
            stage: stage.to_string(),
            action: Action::Default,
            action_target: String::new(),
            retry_after_ms: 0,
            reply: None,
        }
    }

    /// From a plugin error, default handling.
    pub fn from_plugin(stage: &str, e: &PluginError) -> Self {
        FailureData::new(e.kind.into(), stage, e.message.to_string())
    }

    /// Applies the item's `on_process_error` answer.
    pub fn with_action(mut self, a: &abi::ErrorAction) -> Self {
        self.action = match a.kind {
            ErrorActionKind::Default => Action::Default,
            ErrorActionKind::Retry => Action::Retry,
            ErrorActionKind::Suspend => Action::Suspend,
            ErrorActionKind::Discard => Action::Discard,
            ErrorActionKind::RouteTo => Action::RouteTo,
        };
        self.action_target = a.target.to_string();
        self.retry_after_ms = a.retry_after_ms;
        self.reply = a.reply.as_ref().map(|r| r.to_vec()).into_option();
        self
    }
}

/// Everything one call produced.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CallResult {
    /// The outcome, or the failure.
    pub outcome: Result<OutcomeData, FailureData>,
    /// Messages queued with `send_async` during the call (committed with the outcome).
    pub sends: Vec<SendData>,
    /// Token when the item deferred its reply.
    pub deferred: Option<String>,
    /// Which hooks ran, in order (for tracing and the hook tests).
    pub hooks: Vec<String>,
}

impl CallResult {
    /// A failure produced by the host itself (no plugin code ran or it crashed).
    pub fn host_failure(kind: FailureKind, stage: &str, message: impl Into<String>) -> Self {
        CallResult {
            outcome: Err(FailureData::new(kind, stage, message)),
            sends: Vec::new(),
            deferred: None,
            hooks: Vec::new(),
        }
    }
}
