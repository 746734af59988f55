//! Routing sends: each send an outcome (or `send_async`) made becomes a new `Queued`
//! header in the commit being built, with its body stored once, its transform applied,
//! its target's capacity reserved and its overflow policy applied.
//!
//! # Invariants
//! - A send to an item the running plan does not have fails the whole routing: the
//!   caller commits none of it.
//! - A send that forwards the current message shares its body row; a new or transformed
//!   body is stored once, with its search fields.
//! - Capacity is reserved before the commit and the entry pushed only after it
//!   ([`Outgoing::push_all`]); a full queue blocks, drops (recorded Discarded) or
//!   redirects, as the target's `QueueOverflow` says.

use super::Outgoing;
use crate::engine::EngineInner;
use crate::engine::call::SendData;
use crate::journal::Op;
use crate::message::{Envelope, Header, MessageId, Status, now_us, priority, summary_of};
use crate::queue::{Entry, Overflow};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Values of the production's indexed search fields in a parsed body.
fn field_values(engine: &EngineInner, msg: &hie_hl7::Message<'_>) -> Vec<(String, String)> {
    let Some(plan) = engine.plan() else { return Vec::new() };
    let paths: Vec<(&str, hie_hl7::Path)> =
        plan.search_fields.iter().filter_map(|p| Some((p.as_str(), p.parse().ok()?))).collect();
    crate::journal::field_values_in(msg, paths.iter().map(|(n, p)| (*n, p)))
}

/// A body added to a commit.
pub(in crate::engine) struct StoredBody {
    /// Its id.
    pub id: MessageId,
    /// HL7 message type (`ADT^A01`), empty for non-HL7 bodies.
    pub doc_type: String,
    /// HL7 control id (MSH-10), empty for non-HL7 bodies.
    pub control_id: String,
}

/// Adds a new body to `out`, with its search field values; one parse gives those and
/// the header summary.
pub(in crate::engine) fn store_body(engine: &EngineInner, body: &Bytes, out: &mut Outgoing) -> StoredBody {
    let id = engine.journal.next_body_id();
    out.ops.push(Op::Body { id, data: body.clone(), created_us: now_us() });
    let Ok(msg) = hie_hl7::parse(body) else {
        return StoredBody { id, doc_type: String::new(), control_id: String::new() };
    };
    let fields = field_values(engine, &msg);
    if !fields.is_empty() {
        out.ops.push(Op::Fields { body_id: id, fields });
    }
    let (doc_type, control_id) = summary_of(&msg);
    StoredBody { id, doc_type, control_id }
}

/// The header of a new session's first hop: a message from outside (or an alert) for
/// `target`, carrying the body [`store_body`] stored.
pub(in crate::engine) fn session_header(
    id: MessageId,
    source: Arc<str>,
    target: Arc<str>,
    priority: u8,
    body: StoredBody,
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

/// Turns sends into new queued headers in `out`: checks targets, applies transforms and
/// the targets' overflow policies, reserves queue capacity. Returns the new header ids.
/// `sync` marks requests whose caller waits for a reply.
pub(in crate::engine) async fn route_sends(
    engine: &Arc<EngineInner>,
    source: &Arc<str>,
    current: &Envelope,
    sends: Vec<SendData>,
    out: &mut Outgoing,
    sync: bool,
) -> Result<Vec<MessageId>, String> {
    let mut ids = Vec::with_capacity(sends.len());
    for send in sends {
        let Some(mut dest) = engine.target(&send.target) else {
            return Err(format!("unknown target {:?}: no item of that name in the production", send.target));
        };
        let mut target: Arc<str> = Arc::from(send.target.as_str());
        // Body: new, transformed, or the current one shared.
        let new_body = match (&send.body, send.transform.is_empty()) {
            (Some(b), true) => Some(Bytes::from(b.clone())),
            (body, false) => {
                let input = Envelope {
                    header: current.header.clone(),
                    body: body.as_ref().map(|b| Bytes::from(b.clone())).unwrap_or_else(|| current.body.clone()),
                };
                let class = send.transform.clone();
                let e2 = engine.clone();
                let transformed = crate::engine::services::run_blocking(|| e2.transforms.apply(&e2, &class, &input))?;
                Some(Bytes::from(transformed))
            }
            (None, true) => None,
        };
        let (body_id, body, doc_type, control_id) = match new_body {
            Some(b) => {
                let stored = store_body(engine, &b, out);
                (stored.id, b, stored.doc_type, stored.control_id)
            }
            None => (
                current.header.body_id,
                current.body.clone(),
                current.header.doc_type.clone(),
                current.header.control_id.clone(),
            ),
        };
        // Capacity, with the target's overflow policy.
        let reservation = match dest.queue.try_reserve() {
            Some(r) => Some(r),
            None => match dest.settings().overflow.clone() {
                Overflow::Block => Some(dest.queue.reserve().await),
                Overflow::Drop => None,
                Overflow::Redirect(other) => match engine.target(&other) {
                    Some(d) => {
                        dest = d;
                        target = Arc::from(other.as_str());
                        Some(match dest.queue.try_reserve() {
                            Some(r) => r,
                            None => dest.queue.reserve().await,
                        })
                    }
                    None => None,
                },
            },
        };
        let id = engine.journal.next_header_id();
        let ordering_key =
            dest.settings().ordering_key.as_deref().and_then(|k| k.parse::<hie_hl7::Path>().ok()).map(|path| {
                hie_hl7::parse(&body).ok().and_then(|m| m.value(&path).map(|v| v.to_string())).unwrap_or_default()
            });
        let header = Arc::new(Header {
            id,
            session_id: current.header.session_id,
            correlation_id: if sync { id } else { 0 },
            causation_id: current.header.id,
            source: source.clone(),
            target: target.clone(),
            priority: if send.priority > 0 {
                send.priority
            } else if sync {
                priority::SYNC
            } else {
                current.header.priority
            },
            created_us: now_us(),
            doc_type,
            control_id,
            body_id,
            attributes: current.header.attributes.clone(),
            ordering_key,
        });
        match reservation {
            Some(r) => {
                out.ops.push(Op::Header { header: header.clone(), status: Status::Queued, note: None, reply: None });
                out.pushes.push((r, Entry { header, body: Some(body), crashes: 0 }));
            }
            None => {
                let note = format!(
                    "queue of {} is full (QueueSize={}): dropped (QueueOverflow=drop)",
                    target,
                    dest.settings().queue_size
                );
                tracing::warn!(target = %target, message = id, "{note}");
                if let Some(rt) = engine.item(&target) {
                    rt.stats.discarded.fetch_add(1, Ordering::Relaxed);
                }
                out.ops.push(Op::Header { header, status: Status::Discarded, note: Some(note), reply: None });
                out.dropped.push(target.to_string());
            }
        }
        ids.push(id);
    }
    Ok(ids)
}
