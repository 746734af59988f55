//! Synchronous calls between items: `Context::send_sync` and deferred replies.
//!
//! A request is committed with `correlation_id` = its own id and pushed; its caller waits
//! in [`Calls`] by that id. When the target finishes, its reply is stored on the request
//! header and as a response header (`correlation_id` = `causation_id` = the request id),
//! in the same commit as the target's outcome, and then the caller wakes ([`answer`]).
//!
//! # Invariants
//! - A call to an item that does not exist fails at once; nothing is committed.
//! - The caller wakes only after the reply is committed.
//! - A target that ends in any status but Completed gives the caller an error naming it.
//! - A caller that timed out gets `Timeout` and the request a note; the response is
//!   still recorded when it comes ("late response").
//! - A deferred request stays `Deferred` until its deferred reply arrives, from any
//!   thread; the reply is committed before the caller wakes.

use super::{Outgoing, route_sends, store_body};
use crate::engine::EngineInner;
use crate::engine::call::SendData;
use crate::journal::Op;
use crate::lock::LockExt;
use crate::message::{BodyRef, Envelope, Header, MessageId, Status, now_us, priority};
use bytes::Bytes;
use hie_plugin_api::abi::{ErrorKind, PluginError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Where a waiting caller gets the reply, or the target's failure.
type Waiter = oneshot::Sender<Result<Vec<u8>, String>>;

/// Callers blocked in `send_sync`, by the request header id they wait on.
#[derive(Default)]
pub struct Calls {
    /// Waiting callers.
    waiters: Mutex<HashMap<MessageId, Waiter>>,
}

impl Calls {
    /// Registers a caller waiting on `request`.
    pub fn register(&self, request: MessageId) -> oneshot::Receiver<Result<Vec<u8>, String>> {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock_unpoisoned().insert(request, tx);
        rx
    }

    /// The caller gave up (timeout).
    pub fn cancel(&self, request: MessageId) {
        self.waiters.lock_unpoisoned().remove(&request);
    }

    /// Delivers the reply (or the target's failure) to `request`'s caller. `false` when
    /// nobody waits any more (the reply is then only recorded).
    pub fn complete(&self, request: MessageId, reply: Result<Vec<u8>, String>) -> bool {
        let waiter = self.waiters.lock_unpoisoned().remove(&request);
        match waiter {
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        }
    }
}

/// Whether a header is a synchronous request (its caller waits for a reply).
pub(super) fn is_request(h: &Header) -> bool {
    h.correlation_id != 0 && h.correlation_id == h.id
}

/// Ops recording the response to a sync request as its own header (correlated and caused
/// by the request).
pub(super) fn response_ops(engine: &EngineInner, request: &Header, reply: &Bytes, out: &mut Outgoing) {
    let stored = store_body(engine, reply, &request.attributes, out);
    let header = Arc::new(request.response(engine.journal.next_header_id(), stored));
    out.ops.push(Op::Header { header, status: Status::Completed, note: None, reply: None });
}

/// Wakes the caller waiting on `request`, which `item` finished with `status`: the reply
/// when Completed, else an error naming the status. Call after the commit is written.
pub(super) fn answer(
    engine: &EngineInner,
    item: &str,
    request: MessageId,
    status: Status,
    reply: &Option<Vec<u8>>,
    note: &Option<String>,
) {
    let answer = match status {
        Status::Completed => Ok(reply.clone().unwrap_or_default()),
        other => Err(format!("{item} ended {other}: {}", note.clone().unwrap_or_default())),
    };
    if !engine.calls.complete(request, answer) {
        tracing::info!(item = %item, request, "late response recorded (the caller had given up)");
    }
}

/// `send_sync` from plugin code: commit the request, push it, wait for the reply.
pub(crate) async fn call_sync(
    engine: &Arc<EngineInner>,
    caller: &Arc<str>,
    current: Option<&Envelope>,
    send: SendData,
    timeout_ms: i64,
) -> Result<Vec<u8>, PluginError> {
    if engine.target(&send.target).is_none() {
        return Err(PluginError::new(
            ErrorKind::UnknownTarget,
            format!("unknown target {:?}: no item of that name in the production", send.target),
        ));
    }
    // A call made outside message processing (e.g. from on_start) starts its own session.
    let synthetic;
    let current = match current {
        Some(c) => c,
        None => {
            let id = engine.journal.next_header_id();
            synthetic = Envelope {
                // Id 0: the request it sends is caused by nothing (as from outside).
                header: Arc::new(Header {
                    id: 0,
                    ..Header::first(id, caller.clone(), caller.clone(), priority::SYNC, BodyRef::default(), Vec::new())
                }),
                body: Bytes::new(),
            };
            &synthetic
        }
    };
    let mut send = send;
    if send.body.is_none() && current.header.body_id == 0 {
        send.body = Some(Vec::new());
    }
    let target = send.target.clone();
    let mut out = Outgoing::default();
    let ids = route_sends(engine, caller, current, vec![send], &mut out, true)
        .await
        .map_err(|e| PluginError::new(ErrorKind::Failed, e))?;
    if !out.dropped.is_empty() {
        return Err(PluginError::new(ErrorKind::Failed, format!("queue of {target} is full: request dropped")));
    }
    let Some(&id) = ids.first() else {
        return Err(PluginError::new(ErrorKind::Failed, "request was not created"));
    };
    let rx = engine.calls.register(id);
    if let Err(e) = engine.journal.commit(std::mem::take(&mut out.ops), false).await {
        engine.calls.cancel(id);
        return Err(PluginError::new(ErrorKind::Failed, format!("cannot commit request: {e}")));
    }
    out.push_all();
    let wait = async {
        match rx.await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(PluginError::new(ErrorKind::Failed, e)),
            Err(_) => Err(PluginError::new(ErrorKind::Failed, "request was abandoned")),
        }
    };
    if timeout_ms < 0 {
        return wait.await;
    }
    match tokio::time::timeout(Duration::from_millis(timeout_ms as u64), wait).await {
        Ok(r) => r,
        Err(_) => {
            engine.calls.cancel(id);
            let note = format!("caller {caller} timed out after {timeout_ms} ms waiting for the reply");
            engine.journal.commit_detached(vec![Op::Note { id, note: note.clone() }]);
            Err(PluginError::new(ErrorKind::Timeout, note))
        }
    }
}

/// Answers a deferred reply: records it and wakes the caller, if still waiting.
pub(crate) async fn deferred_reply(engine: &Arc<EngineInner>, token: &str, body: Vec<u8>) -> Result<(), PluginError> {
    let id: MessageId = token
        .trim()
        .parse()
        .map_err(|_| PluginError::new(ErrorKind::Failed, format!("invalid deferred-reply token {token:?}")))?;
    let journal = engine.journal.clone();
    let row = tokio::task::spawn_blocking(move || journal.header(id))
        .await
        .map_err(|e| PluginError::new(ErrorKind::Failed, e.to_string()))?
        .map_err(|e| PluginError::new(ErrorKind::Failed, e.to_string()))?
        .ok_or_else(|| PluginError::new(ErrorKind::Failed, format!("no message {id} for deferred-reply token")))?;
    if row.status != Status::Deferred {
        return Err(PluginError::new(ErrorKind::Failed, format!("message {id} is {} not Deferred", row.status)));
    }
    let reply = Bytes::from(body.clone());
    let mut out = Outgoing::default();
    out.ops.push(Op::Finish {
        id,
        status: Status::Completed,
        note: Some("deferred reply sent".into()),
        reply: Some(reply.clone()),
        at_us: now_us(),
    });
    if is_request(&row.header) {
        response_ops(engine, &row.header, &reply, &mut out);
    }
    engine.journal.commit(out.ops, false).await.map_err(|e| PluginError::new(ErrorKind::Failed, e.to_string()))?;
    if !engine.calls.complete(id, Ok(body)) {
        tracing::info!(request = id, "deferred reply recorded (the caller had given up)");
    }
    Ok(())
}
