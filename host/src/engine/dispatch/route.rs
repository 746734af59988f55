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
use crate::message::{BodyRef, Envelope, MessageId, Status, now_us, priority, summary_of};
use crate::queue::{Entry, Overflow};
use crate::value_paths::category_of;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Values of the production's indexed search fields in a parsed body.
fn field_values(engine: &EngineInner, msg: &hie_hl7::Message<'_>, category: Option<&str>) -> Vec<(String, String)> {
    let Some(plan) = engine.plan() else { return Vec::new() };
    plan.paths.search_values(msg, category)
}

/// Adds a new body to `out`, with its search field values, read as the session's
/// `attributes` say (its schema category, its service's `DefCharEncoding`); one parse
/// gives those and the header summary.
pub(in crate::engine) fn store_body(
    engine: &EngineInner,
    body: &Bytes,
    attributes: &[(String, String)],
    out: &mut Outgoing,
) -> BodyRef {
    let id = engine.journal.next_body_id();
    out.ops.push(Op::Body { id, data: body.clone(), created_us: now_us() });
    let category = category_of(attributes);
    let Ok(msg) = crate::value_paths::parse_stored(body, attributes) else {
        return BodyRef { id, doc_type: String::new(), control_id: String::new() };
    };
    let fields = field_values(engine, &msg, category);
    if !fields.is_empty() {
        out.ops.push(Op::Fields { body_id: id, fields });
    }
    let (doc_type, control_id) = summary_of(&msg);
    BodyRef { id, doc_type, control_id }
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
        let (stored, body) = match new_body {
            Some(b) => (store_body(engine, &b, &current.header.attributes, out), b),
            None => (BodyRef::of(&current.header), current.body.clone()),
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
        let ordering_key = dest.ordering_key(&body, category_of(&current.header.attributes));
        let priority = if send.priority > 0 {
            send.priority
        } else if sync {
            priority::SYNC
        } else {
            current.header.priority
        };
        let header = current.header.next(id, source.clone(), target.clone(), priority, stored);
        let header = Arc::new(if sync { header.into_request() } else { header }.with_ordering_key(ordering_key));
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
