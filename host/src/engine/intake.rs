//! Taking messages in for a service: run the service's code, commit, then acknowledge.
//!
//! The reply (ACK) is handed back to the adapter only after the commit that stores the
//! message and its queue entries returned: that is the "nothing acknowledged is lost"
//! invariant. When the commit fails, or a target's queue is full with overflow `drop`,
//! the sender gets a NACK built by the host instead.

use super::EngineInner;
use super::alerts::AlertKind;
use super::dispatch::outcome::{self, IntakeVerdict};
use super::dispatch::{Outgoing, route_sends, store_body};
use super::item::ItemRuntime;
pub use crate::adapter::port::{Inbound, IntakeReply};
use crate::journal::Op;
use crate::message::{Envelope, Header, Status, priority};
use bytes::Bytes;
use hie_hl7::ack::{self, AckCode, AckError, AckMode, err_code};
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::Ordering;

thread_local! {
    /// On an intake thread: the queue entries of committed messages, pushed when the
    /// thread next goes idle ([`push_deferred`]) rather than before each ACK.
    static DEFERRED_PUSHES: RefCell<Option<Vec<Outgoing>>> = const { RefCell::new(None) };
}

/// Makes intakes on this thread leave their queue pushes to [`push_deferred`], which
/// the thread must call whenever it would otherwise wait (its runtime's park hook) and
/// before it ends. The ACK then goes out before the wake-up of the next item, and the
/// pushes of messages committed together wake it once.
pub fn defer_pushes_on_this_thread() {
    DEFERRED_PUSHES.with(|d| *d.borrow_mut() = Some(Vec::new()));
}

/// Pushes the queue entries intakes on this thread left.
pub fn push_deferred() {
    let deferred = DEFERRED_PUSHES.with(|d| d.borrow_mut().as_mut().map(std::mem::take).unwrap_or_default());
    for out in deferred {
        out.push_all();
    }
}

/// Pushes `out`'s entries now, or leaves them for [`push_deferred`] on a thread that defers.
fn push_after_ack(out: Outgoing) {
    let out = DEFERRED_PUSHES.with(|d| match d.borrow_mut().as_mut() {
        Some(list) => {
            list.push(out);
            None
        }
        None => Some(out),
    });
    if let Some(out) = out {
        out.push_all();
    }
}

/// A NACK for a message the engine could not take at all.
pub fn refuse(msg: &Inbound, reason: &str) -> IntakeReply {
    IntakeReply { reply: Some(host_nack(&msg.body, reason)), accepted: false, id: 0 }
}

/// Builds a NACK from the host (journal failure, full queue, engine not running):
/// `AR` in original mode, `CR` in enhanced mode, with an ERR segment.
pub fn host_nack(body: &[u8], reason: &str) -> Vec<u8> {
    host_nack_coded(body, reason, |m| match AckMode::of(m) {
        AckMode::Original => AckCode::AR,
        AckMode::Enhanced { .. } => AckCode::CR,
    })
}

fn host_nack_coded(body: &[u8], reason: &str, code: impl Fn(&hie_hl7::Message<'_>) -> AckCode) -> Vec<u8> {
    let ts = chrono::Local::now().format("%Y%m%d%H%M%S").to_string();
    let err = AckError::new(err_code::APPLICATION_INTERNAL_ERROR, reason);
    match hie_hl7::parse(body) {
        Ok(m) => hie_hl7::ack::AckBuilder::new(&m, code(&m), &ts).error(err).build(),
        Err(_) => hie_hl7::ack::nack_for_unparseable(body, AckCode::AR, &err, &ts, None),
    }
}

/// The host's answer to a message of `item` it could not take (a system error), as the
/// IRIS ACK settings of an HL7 service say: nothing for `AckMode=Never`, the NAK byte for
/// `Byte`, MSA-1 from `NackErrorCode` and `UseAckCommitCodes` (docs/iris-settings.md §9.1).
/// A service that does not declare them gets [`host_nack`].
fn item_nack(item: &ItemRuntime, body: &[u8], reason: &str) -> Option<Vec<u8>> {
    let setting = |name: &str| item.plan.setting(name).map(str::trim);
    match setting("AckMode") {
        Some(m) if m.eq_ignore_ascii_case("never") => return None,
        Some(m) if m.eq_ignore_ascii_case("byte") => return Some(vec![ack::NAK_BYTE]),
        _ => {}
    }
    let Some(nack) = setting("NackErrorCode").and_then(ack::NackErrorCode::from_name) else {
        return Some(host_nack(body, reason));
    };
    let commit = setting("UseAckCommitCodes").is_none_or(|v| hie_plugin_api::settings::parse_bool(v).unwrap_or(true));
    Some(host_nack_coded(body, reason, |m| ack::iris_ack_code(ack::AckOutcome::SystemError, nack, commit, m.version())))
}

/// Whether a service keeps `reply` with its message (IRIS `SaveReplies`, declared by the
/// HL7 services): `None` keeps none, `NotOKs` and `IndexNotOKs` all but plain OK ACKs
/// (MSA-1 AA or CA and no ERR, or the ACK byte); `All`, or a service without the setting, all.
fn keeps_reply(item: &ItemRuntime, reply: &[u8]) -> bool {
    let ok_ack = || {
        reply == [ack::ACK_BYTE]
            || hie_hl7::parse(reply).is_ok_and(|m| {
                ack::parse_ack(&m).is_some_and(|a| a.ack_code.is_some_and(|c| c.is_positive())) && !m.has_segment("ERR")
            })
    };
    match item.plan.setting("SaveReplies").map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("none") => false,
        Some("notoks" | "indexnotoks") => !ok_ack(),
        _ => true,
    }
}

/// Runs `messages` through the service and commits them together (a file's messages
/// share one commit); returns one reply per message, in order.
pub async fn intake(engine: &Arc<EngineInner>, item: &Arc<ItemRuntime>, messages: Vec<Inbound>) -> Vec<IntakeReply> {
    intake_with_state(engine, item, messages, Vec::new()).await
}

/// The service setting a session records on its first hop, as IRIS sets a message's
/// DocType from the service that took it in: routers downstream read it (the DocType is
/// that category's structure for MSH-9).
const SCHEMA_CATEGORY: &str = crate::value_paths::CATEGORY_ATTRIBUTE;

/// The service's `MessageSchemaCategory`, when it sets one.
fn service_category(item: &ItemRuntime) -> Option<&str> {
    item.plan.settings.get(SCHEMA_CATEGORY).map(|c| c.trim()).filter(|c| !c.is_empty())
}

/// The service's `DefCharEncoding`, recorded on the session like its category, so every
/// later hop reads the bytes in the charset the service read them in.
const DEF_CHAR_ENCODING: &str = hie_hl7::DEF_CHAR_ENCODING;

/// The attributes of a session's first hop: the adapter's metadata, and the service's
/// `MessageSchemaCategory` and `DefCharEncoding` when it sets them.
fn session_attributes(item: &ItemRuntime, msg: &Inbound) -> Vec<(String, String)> {
    let mut attributes = msg.attributes.clone();
    if let Some(category) = service_category(item) {
        attributes.push((SCHEMA_CATEGORY.to_string(), category.to_string()));
    }
    if let Some(enc) = item.plan.settings.get(DEF_CHAR_ENCODING).map(|c| c.trim()).filter(|c| !c.is_empty()) {
        attributes.push((DEF_CHAR_ENCODING.to_string(), enc.to_string()));
    }
    attributes
}

/// Like [`intake`], also committing the adapter's durable `state` (key, value) for the
/// item in the same commit, so it advances exactly when the messages are stored.
pub async fn intake_with_state(
    engine: &Arc<EngineInner>,
    item: &Arc<ItemRuntime>,
    messages: Vec<Inbound>,
    state: Vec<(String, String)>,
) -> Vec<IntakeReply> {
    let Some(executor) = item.executor() else {
        let why = format!("service {} is not running", item.plan.name);
        return messages
            .iter()
            .map(|m| IntakeReply { reply: item_nack(item, &m.body, &why), accepted: false, id: 0 })
            .collect();
    };
    let mut out = Outgoing::default();
    let mut replies: Vec<IntakeReply> = Vec::with_capacity(messages.len());
    let mut errors = 0u64;
    // The first error's note, for AlertOnError.
    let mut first_error: Option<String> = None;
    for msg in &messages {
        let id = engine.journal.next_header_id();
        let mut msg_out = Outgoing::default();
        let attributes = session_attributes(item, msg);
        let stored = store_body(engine, &msg.body, &attributes, &mut msg_out);
        let header_at = msg_out.ops.len();
        let header = Arc::new(Header::first(
            id,
            Arc::from(msg.origin.as_str()),
            item.plan.name.clone(),
            priority::ASYNC,
            stored,
            attributes,
        ));
        let env = Envelope { header: header.clone(), body: msg.body.clone() };
        if let Some(limit) = &item.rate_limit {
            limit.acquire().await;
        }
        let result = executor.invoke(env.clone()).await;
        let IntakeVerdict { status, note, mut reply, sends, refused } = outcome::intake_verdict(result);
        if refused {
            let note = note.as_deref().unwrap_or_default();
            tracing::warn!(item = %item.plan.name, origin = %msg.origin, error = %note, "inbound message refused");
            reply = reply.or_else(|| item_nack(item, &msg.body, note));
        }
        if status == Status::Error {
            errors += 1;
        }
        let routed = route_sends(engine, &item.plan.name, &env, sends, &mut msg_out, false).await;
        let (status, note) = match routed {
            Ok(_) if !msg_out.dropped.is_empty() => {
                let why =
                    format!("queue full for {}: message dropped (QueueOverflow=drop)", msg_out.dropped.join(", "));
                reply = item_nack(item, &msg.body, &why);
                (Status::Discarded, Some(why))
            }
            Ok(_) => (status, note),
            Err(e) => {
                // Nothing half-sent: keep only the body, record the error, NACK.
                msg_out.ops.truncate(header_at);
                msg_out.pushes.clear();
                reply = item_nack(item, &msg.body, &e);
                errors += 1;
                (Status::Error, Some(e))
            }
        };
        let accepted = matches!(status, Status::Completed);
        if status == Status::Error && first_error.is_none() {
            first_error = Some(note.clone().unwrap_or_default());
        }
        let kept = reply.clone().filter(|r| keeps_reply(item, r)).map(Bytes::from);
        msg_out.ops.insert(header_at, Op::Header { header, status, note, reply: kept });
        out.ops.append(&mut msg_out.ops);
        out.pushes.append(&mut msg_out.pushes);
        replies.push(IntakeReply { reply, accepted, id });
    }
    for (key, value) in state {
        out.ops.push(Op::State { item: item.plan.name.to_string(), key, value });
    }
    // One commit for everything; the ACKs wait for it (synced to disk in fsync mode).
    match engine.journal.commit(std::mem::take(&mut out.ops), true).await {
        Ok(()) => {
            push_after_ack(out);
            item.stats.processed.fetch_add(messages.len() as u64, Ordering::Relaxed);
            item.stats.errors.fetch_add(errors, Ordering::Relaxed);
            if let Some(note) = first_error.filter(|_| item.plan.engine.alert_on_error) {
                engine.raise_alert(
                    &item.plan.name,
                    AlertKind::Error,
                    format!("{errors} message(s) ended in Error: {note}"),
                );
            }
            replies
        }
        Err(e) => {
            item.stats.errors.fetch_add(messages.len() as u64, Ordering::Relaxed);
            let reason = format!("message not stored, resend later: {e}");
            if item.plan.engine.alert_on_error {
                engine.raise_alert(&item.plan.name, AlertKind::Error, reason.clone());
            }
            messages
                .iter()
                .map(|m| IntakeReply { reply: item_nack(item, &m.body, &reason), accepted: false, id: 0 })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Header;
    use crate::queue::{Entry, Queue, QueueType};

    fn outgoing_to(queue: &Arc<Queue>, id: u64) -> Outgoing {
        let body = crate::message::BodyRef { id, ..Default::default() };
        let header = Arc::new(Header::first(id, Arc::from("In"), Arc::from("Route"), 3, body, vec![]));
        let entry = Entry { header, body: None, crashes: 0 };
        Outgoing { pushes: vec![(queue.force_reserve(), entry)], ..Outgoing::default() }
    }

    #[test]
    fn an_intake_thread_pushes_acknowledged_messages_when_it_goes_idle_and_other_threads_at_once() {
        let queue = Queue::new("Route", QueueType::Fifo, 0);
        push_after_ack(outgoing_to(&queue, 1));
        assert_eq!(queue.depth(), 1, "a thread that does not defer pushes at once");

        let q = queue.clone();
        std::thread::spawn(move || {
            defer_pushes_on_this_thread();
            push_after_ack(outgoing_to(&q, 2));
            push_after_ack(outgoing_to(&q, 3));
            assert_eq!(q.depth(), 1, "held until the thread goes idle");
            push_deferred();
            assert_eq!(q.depth(), 3, "both pushed, in order, when it does");
        })
        .join()
        .expect("intake thread");
        assert_eq!(queue.snapshot_ids(10), vec![1, 2, 3]);
    }
}
