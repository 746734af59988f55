//! Messages as the engine keeps them: a header (who, where, what state) and a body.
//!
//! Every hop between items is its own header; headers share bodies when a message is
//! forwarded unchanged. Responses (ACKs, sync replies) are stored on the request's header.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A journal id (headers and bodies each have their own sequence).
pub type MessageId = u64;

/// Message status, with IRIS's names and meanings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[repr(u8)]
pub enum Status {
    /// Created but not yet queued (transient).
    Created = 0,
    /// Waiting in the target item's queue.
    Queued = 1,
    /// Taken by the target item and being processed.
    Delivered = 2,
    /// Dropped on purpose (overflow drop, rule delete, explicit discard), with a reason.
    Discarded = 3,
    /// Parked by an operator or a reply action; resendable.
    Suspended = 4,
    /// The reply was deferred by the target and is still outstanding.
    Deferred = 5,
    /// Abandoned by an operator.
    Aborted = 6,
    /// Processing failed; handed to the error target if there is one.
    Error = 7,
    /// Done.
    Completed = 8,
}

impl Status {
    /// All statuses, for parsing and docs.
    pub const ALL: [Status; 9] = [
        Status::Created,
        Status::Queued,
        Status::Delivered,
        Status::Discarded,
        Status::Suspended,
        Status::Deferred,
        Status::Aborted,
        Status::Error,
        Status::Completed,
    ];

    /// The status's name as the API and CLI show it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Created => "Created",
            Status::Queued => "Queued",
            Status::Delivered => "Delivered",
            Status::Discarded => "Discarded",
            Status::Suspended => "Suspended",
            Status::Deferred => "Deferred",
            Status::Aborted => "Aborted",
            Status::Error => "Error",
            Status::Completed => "Completed",
        }
    }

    /// Parses a status name (case-insensitive).
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.iter().copied().find(|st| st.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The stored code.
    pub fn code(self) -> i64 {
        self as u8 as i64
    }

    /// From a stored code.
    pub fn from_code(code: i64) -> Status {
        Status::ALL.iter().copied().find(|s| s.code() == code).unwrap_or(Status::Created)
    }

    /// Whether work on the message is finished (purgeable by default).
    pub fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Discarded | Status::Aborted | Status::Error)
    }

    /// Whether the message still waits in, or is being worked by, its target's queue.
    pub fn is_pending(self) -> bool {
        matches!(self, Status::Queued | Status::Delivered)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// IRIS priorities: 1 HighSync, 2 Sync, 4 SimSync, 6 Async (the default for queued sends).
pub mod priority {
    /// Highest priority (IRIS HighSync).
    pub const HIGH_SYNC: u8 = 1;
    /// Synchronous request (IRIS Sync).
    pub const SYNC: u8 = 2;
    /// IRIS SimSync.
    pub const SIM_SYNC: u8 = 4;
    /// Ordinary queued message (IRIS Async).
    pub const ASYNC: u8 = 6;
}

/// The header of one hop of a message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// This header's id.
    pub id: MessageId,
    /// Id of the session's first header.
    pub session_id: MessageId,
    /// Id of the request this header pairs with (sync calls); 0 when none.
    pub correlation_id: MessageId,
    /// Id of the header whose processing created this one; 0 for messages from outside.
    pub causation_id: MessageId,
    /// Sending item.
    pub source: Arc<str>,
    /// Target item.
    pub target: Arc<str>,
    /// IRIS priority (1 highest).
    pub priority: u8,
    /// Creation time, microseconds since the Unix epoch.
    pub created_us: i64,
    /// Document type, e.g. `ADT^A01` (MSH-9.1^MSH-9.2), empty when unknown.
    pub doc_type: String,
    /// MSH-10, empty when unknown.
    pub control_id: String,
    /// The body this header carries.
    pub body_id: MessageId,
    /// Adapter metadata (e.g. `OriginalFilename`, `RemoteAddress`).
    pub attributes: Vec<(String, String)>,
    /// The value of the target item's OrderingKey path, when it has one.
    pub ordering_key: Option<String>,
}

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A header together with its body, as items process it.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The hop's header.
    pub header: Arc<Header>,
    /// The body bytes (cheap to clone).
    pub body: Bytes,
}

/// `doc_type` and `control_id` of a parsed HL7 message.
pub fn summary_of(m: &hie_hl7::Message<'_>) -> (String, String) {
    let code = m.message_code().unwrap_or_default();
    let event = m.trigger_event().unwrap_or_default();
    let doc = if event.is_empty() { code.to_string() } else { format!("{code}^{event}") };
    (doc, m.control_id().unwrap_or_default().to_string())
}
