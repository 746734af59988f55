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

/// The body a new header carries: its id and the HL7 summary every header repeats (so a
/// listing or search needs no body read).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BodyRef {
    /// The body's id.
    pub id: MessageId,
    /// HL7 message type (`ADT^A01`), empty for non-HL7 bodies.
    pub doc_type: String,
    /// HL7 control id (MSH-10), empty for non-HL7 bodies.
    pub control_id: String,
}

impl BodyRef {
    /// The body `header` carries (a send that forwards the current message shares it).
    pub fn of(header: &Header) -> BodyRef {
        BodyRef { id: header.body_id, doc_type: header.doc_type.clone(), control_id: header.control_id.clone() }
    }
}

/// Every header the engine makes is made here, so the session, correlation and
/// causation links mean the same everywhere: a session's first hop causes the rest; a
/// sync request is correlated with itself and its response with the request.
impl Header {
    /// The first hop of a new session (a message from outside, an alert): caused by
    /// nothing, its own session.
    pub fn first(
        id: MessageId,
        source: Arc<str>,
        target: Arc<str>,
        priority: u8,
        body: BodyRef,
        attributes: Vec<(String, String)>,
    ) -> Header {
        Header {
            id,
            session_id: id,
            correlation_id: 0,
            causation_id: 0,
            source,
            target,
            priority,
            created_us: now_us(),
            doc_type: body.doc_type,
            control_id: body.control_id,
            body_id: body.id,
            attributes,
            ordering_key: None,
        }
    }

    /// A hop sent while `self` was processed: same session and adapter attributes,
    /// caused by `self`.
    pub fn next(&self, id: MessageId, source: Arc<str>, target: Arc<str>, priority: u8, body: BodyRef) -> Header {
        Header {
            session_id: self.session_id,
            causation_id: self.id,
            attributes: self.attributes.clone(),
            ..Header::first(id, source, target, priority, body, Vec::new())
        }
    }

    /// This hop as a synchronous request: its caller waits for the response that
    /// [`Header::response`] correlates with it.
    pub fn into_request(self) -> Header {
        Header { correlation_id: self.id, ..self }
    }

    /// The response to the sync request `self`: from its target back to its source,
    /// correlated with and caused by the request.
    pub fn response(&self, id: MessageId, body: BodyRef) -> Header {
        Header {
            correlation_id: self.id,
            attributes: Vec::new(),
            ..self.next(id, self.target.clone(), self.source.clone(), self.priority, body)
        }
    }

    /// An operator's resend of `self` to the same target: a new hop in the same session,
    /// caused by the original, with `body` (the original's or an edited one).
    pub fn resend(&self, id: MessageId, body: BodyRef) -> Header {
        self.next(id, self.source.clone(), self.target.clone(), self.priority, body)
    }

    /// Addressed to `target` instead (a resend to another item).
    pub fn to_target(self, target: Arc<str>) -> Header {
        Header { target, ..self }
    }

    /// With the value of the target's `OrderingKey` path.
    pub fn with_ordering_key(self, ordering_key: Option<String>) -> Header {
        Header { ordering_key, ..self }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn body(id: MessageId) -> BodyRef {
        BodyRef { id, doc_type: "ADT^A01".into(), control_id: format!("C{id}") }
    }

    fn first() -> Header {
        Header::first(
            10,
            Arc::from("PAS"),
            Arc::from("In"),
            priority::ASYNC,
            body(1),
            vec![("RemoteAddress".into(), "10.0.0.1".into())],
        )
    }

    #[test]
    fn a_first_hop_is_its_own_session_and_caused_by_nothing() {
        let h = first();
        assert_eq!((h.id, h.session_id, h.causation_id, h.correlation_id), (10, 10, 0, 0));
        assert_eq!((h.body_id, h.doc_type.as_str(), h.control_id.as_str()), (1, "ADT^A01", "C1"));
        assert!(h.created_us > 0);
    }

    #[test]
    fn a_next_hop_keeps_session_and_attributes_and_is_caused_by_the_hop_that_sent_it() {
        let h = first().next(11, Arc::from("In"), Arc::from("Route"), 4, BodyRef::of(&first()));
        assert_eq!((h.id, h.session_id, h.causation_id, h.correlation_id), (11, 10, 10, 0));
        assert_eq!((&*h.source, &*h.target, h.priority, h.body_id), ("In", "Route", 4, 1));
        assert_eq!(h.attributes, first().attributes, "adapter metadata travels with the session");
        assert_eq!(h.ordering_key, None);
    }

    #[test]
    fn a_sync_request_is_correlated_with_itself_and_its_response_with_the_request() {
        let request = first().next(11, Arc::from("In"), Arc::from("Lookup"), priority::SYNC, body(2)).into_request();
        assert_eq!(request.correlation_id, 11);
        let response = request.response(12, body(3));
        assert_eq!((response.session_id, response.correlation_id, response.causation_id), (10, 11, 11));
        assert_eq!((&*response.source, &*response.target), ("Lookup", "In"), "back to the caller");
        assert_eq!((response.priority, response.body_id), (priority::SYNC, 3));
        assert!(response.attributes.is_empty());
    }

    #[test]
    fn a_resend_goes_to_the_same_target_caused_by_the_original_and_uncorrelated() {
        let original = first().next(11, Arc::from("In"), Arc::from("Out"), 6, body(2)).into_request();
        let resent = original.resend(20, body(5)).with_ordering_key(Some("MRN1".into()));
        assert_eq!((resent.id, resent.session_id, resent.causation_id, resent.correlation_id), (20, 10, 11, 0));
        assert_eq!((&*resent.source, &*resent.target, resent.priority), ("In", "Out", 6));
        assert_eq!((resent.body_id, resent.ordering_key.as_deref()), (5, Some("MRN1")));
    }
}
