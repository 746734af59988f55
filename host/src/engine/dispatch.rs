//! Moving messages between items: consumer loops, committing outcomes with what they
//! send, retries, error routing and synchronous calls.

use super::EngineInner;
use super::call::{Action, CallResult, Disposition, FailureKind, SendData};
use super::item::{ItemRuntime, ItemState, envelope_of};
use crate::journal::Op;
use crate::message::{Envelope, Header, MessageId, Status, now_us, priority, summary_of};
use crate::queue::{Entry, Lease, Overflow, Reservation};
use bytes::Bytes;
use hie_plugin_api::abi::{ErrorKind, PluginError};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Journal ops and queue pushes that one commit produces.
#[derive(Default)]
pub(super) struct Outgoing {
    /// Changes to commit.
    pub ops: Vec<Op>,
    /// Entries to push once the commit is durable.
    pub pushes: Vec<(Reservation, Entry)>,
    /// Targets whose queue was full with `QueueOverflow=drop`.
    pub dropped: Vec<String>,
}

impl Outgoing {
    /// Pushes every entry (call after a successful commit).
    pub fn push_all(self) {
        for (r, e) in self.pushes {
            r.push(e);
        }
    }
}

/// Values of the production's indexed search fields in a parsed body.
fn field_values(engine: &EngineInner, msg: &hie_hl7::Message<'_>) -> Vec<(String, String)> {
    let Some(plan) = engine.plan() else { return Vec::new() };
    let paths: Vec<(&str, hie_hl7::Path)> =
        plan.search_fields.iter().filter_map(|p| Some((p.as_str(), p.parse().ok()?))).collect();
    crate::journal::field_values_in(msg, paths.iter().map(|(n, p)| (*n, p)))
}

/// A body added to a commit.
pub(super) struct StoredBody {
    /// Its id.
    pub id: MessageId,
    /// HL7 message type (`ADT^A01`), empty for non-HL7 bodies.
    pub doc_type: String,
    /// HL7 control id (MSH-10), empty for non-HL7 bodies.
    pub control_id: String,
}

/// Adds a new body to `out`, with its search field values; one parse gives those and
/// the header summary.
pub(super) fn store_body(engine: &EngineInner, body: &Bytes, out: &mut Outgoing) -> StoredBody {
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
pub(super) fn session_header(
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
pub(super) async fn route_sends(
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
                let transformed = super::services::run_blocking(|| e2.transforms.apply(&e2, &class, &input))?;
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

/// How a call ended, for the consumer loop.
enum Decision {
    /// Commit a final state.
    Finish(Finish),
    /// Call again after the delay.
    Retry(Duration, bool),
    /// Put the message back at the head of the queue (worker crash below the quarantine limit).
    Requeue,
    /// Put the message back and pause the item.
    Disable(String),
}

/// A final state to commit for a message.
struct Finish {
    status: Status,
    note: Option<String>,
    reply: Option<Vec<u8>>,
    sends: Vec<SendData>,
    /// Route a copy to this error-handling item.
    route_to: Option<String>,
    /// Whether this counts as an error.
    error: bool,
}

/// A leased entry that goes back to its queue unless finished: if processing panics or
/// is cancelled, the message is put back at its place instead of being lost in memory.
struct LeaseGuard {
    /// The queue it came from.
    queue: Arc<crate::queue::Queue>,
    /// The lease, until finished or requeued.
    lease: Option<Lease>,
}

impl LeaseGuard {
    fn entry(&mut self) -> &mut Entry {
        &mut self.lease.as_mut().expect("lease present until consumed").entry
    }

    fn finish(mut self) {
        if let Some(l) = self.lease.take() {
            self.queue.finish(l);
        }
    }

    fn requeue(mut self) {
        if let Some(l) = self.lease.take() {
            self.queue.requeue(l);
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(l) = self.lease.take() {
            self.queue.requeue(l);
        }
    }
}

/// The consumer loop of a process or operation (one per unit of concurrency). A panic
/// in host code while processing puts the message back and restarts the loop after a
/// pause, so one bad message cannot stop the item.
pub(super) async fn consume(engine: Arc<EngineInner>, item: Arc<ItemRuntime>, slot: usize) {
    use futures::FutureExt;
    let mut backoff = Duration::from_millis(100);
    loop {
        let run = std::panic::AssertUnwindSafe(consume_loop(engine.clone(), item.clone())).catch_unwind().await;
        match run {
            Ok(()) => return,
            Err(_) => {
                tracing::error!(item = %item.plan.name, slot, "host error while processing; the message is back in the queue and the consumer restarts");
                item.set_state(ItemState::Restarting, "a consumer restarted after a host error");
                tokio::select! {
                    _ = item.stop_token().cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                if item.state() == ItemState::Restarting {
                    item.set_state(ItemState::Running, "");
                }
            }
        }
    }
}

/// How many of an operation's commits may still be unwritten when it takes the next
/// message. Overlapping commits with work is what pipelining buys; for an operation it
/// also bounds what a crash can make it deliver twice (delivered but not yet recorded).
const OPERATION_PIPELINE_DEPTH: usize = 2;
/// The same for processes: their sends are committed atomically with their outcome, so a
/// lost commit repeats no external effect; a deeper pipeline only buys throughput.
const PROCESS_PIPELINE_DEPTH: usize = 16;

/// A consumer's commits not yet written.
pub(super) struct Pipeline {
    pending: std::sync::atomic::AtomicUsize,
    written: tokio::sync::Notify,
    depth: usize,
}

impl Pipeline {
    async fn wait_for_room(&self) {
        loop {
            let notified = self.written.notified();
            if self.pending.load(Ordering::SeqCst) < self.depth {
                return;
            }
            notified.await;
        }
    }

    fn done(&self) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
        self.written.notify_waiters();
    }
}

async fn consume_loop(engine: Arc<EngineInner>, item: Arc<ItemRuntime>) {
    let stop = item.stop_token().clone();
    let depth = if item.plan.kind == hie_plugin_api::ItemKind::Operation {
        OPERATION_PIPELINE_DEPTH
    } else {
        PROCESS_PIPELINE_DEPTH
    };
    let pipeline = Arc::new(Pipeline { pending: Default::default(), written: Default::default(), depth });
    loop {
        pipeline.wait_for_room().await;
        // While the journal cannot commit, taking messages would only deliver them again
        // and again: wait until it can.
        while !engine.journal.is_healthy() {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            // Probe: an empty commit succeeds (and marks the journal healthy) once the
            // disk takes writes again, even if no new message arrives to try.
            let _ = engine.journal.flush().await;
        }
        let lease = tokio::select! {
            _ = stop.cancelled() => break,
            l = item.queue.pop() => match l { Some(l) => l, None => break },
        };
        if !engine.journal.is_healthy() {
            // The journal failed while we waited: this message's last outcome may not be
            // recorded; don't deliver it again until it can be.
            item.queue.requeue(lease);
            continue;
        }
        let env = match envelope_of(&engine, &lease.entry).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(item = %item.plan.name, message = lease.entry.header.id, error = %e, "cannot read message body; will retry");
                item.queue.requeue(lease);
                tokio::select! { _ = stop.cancelled() => break, _ = tokio::time::sleep(Duration::from_secs(1)) => {} }
                continue;
            }
        };
        let guard = LeaseGuard { queue: item.queue.clone(), lease: Some(lease) };
        process_leased(&engine, &item, guard, env, &stop, &pipeline).await;
    }
}

/// Processes one leased message to a final state (or puts it back).
async fn process_leased(
    engine: &Arc<EngineInner>,
    item: &Arc<ItemRuntime>,
    mut lease: LeaseGuard,
    env: Envelope,
    stop: &tokio_util::sync::CancellationToken,
    pipeline: &Arc<Pipeline>,
) {
    let started = Instant::now();
    let mut disconnected = Duration::ZERO;
    loop {
        let Some(executor) = item.executor() else {
            lease.requeue();
            return;
        };
        // An open breaker holds the message (still queued, nothing delivered) until the
        // cool-down lets a probe through.
        loop {
            match item.breaker.permit() {
                super::guard::Permit::Go | super::guard::Permit::Probe => break,
                super::guard::Permit::Wait(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = stop.cancelled() => {
                            lease.requeue();
                            return;
                        }
                    }
                }
            }
        }
        if let Some(limit) = &item.rate_limit {
            limit.acquire().await;
        }
        let call_started = Instant::now();
        let result = executor.invoke(env.clone()).await;
        let failed = match &result.outcome {
            Ok(o) => matches!(o.disposition, Disposition::Retry | Disposition::Fail),
            Err(_) => true,
        };
        match item.breaker.record(!failed) {
            Some(true) => {
                tracing::warn!(item = %item.plan.name, "circuit breaker open: {} consecutive failures; messages stay queued", item.plan.engine.breaker_threshold);
                item.set_state(ItemState::CircuitOpen, "circuit breaker open after consecutive failures");
            }
            Some(false) => {
                tracing::info!(item = %item.plan.name, "circuit breaker closed: the probe call succeeded");
                if item.state() == ItemState::CircuitOpen {
                    item.set_state(ItemState::Running, "");
                }
            }
            None => {}
        }
        match decide(item, lease.entry(), &result, started, disconnected) {
            Decision::Retry(delay, was_disconnected) => {
                if was_disconnected {
                    disconnected += call_started.elapsed() + delay;
                }
                item.stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => continue,
                    _ = stop.cancelled() => {
                        lease.requeue();
                        return;
                    }
                }
            }
            Decision::Requeue => {
                lease.requeue();
                return;
            }
            Decision::Disable(reason) => {
                tracing::warn!(item = %item.plan.name, message = env.header.id, %reason, "reply action D: item paused, message back at the head of its queue");
                lease.requeue();
                item.queue.pause();
                item.set_state(ItemState::Paused, &format!("disabled by reply action: {reason}"));
                return;
            }
            Decision::Finish(fin) => {
                let deferred = result.deferred.is_some();
                commit_finish(engine, item, &env, fin, deferred, lease, pipeline.clone()).await;
                return;
            }
        }
    }
}

fn decide(
    item: &ItemRuntime,
    entry: &mut Entry,
    result: &CallResult,
    started: Instant,
    disconnected: Duration,
) -> Decision {
    let e = &item.plan.engine;
    let retry_or_fail = |after_ms: u64, reason: &str, is_disconnect: bool| {
        let counted = if e.no_fail_while_disconnected {
            started.elapsed().saturating_sub(disconnected)
        } else {
            started.elapsed()
        };
        match e.failure_timeout {
            Some(t) if counted >= t => Decision::Finish(Finish {
                status: Status::Error,
                note: Some(format!("FailureTimeout ({}s) exceeded; last error: {reason}", t.as_secs())),
                reply: None,
                sends: Vec::new(),
                route_to: e.error_target.clone(),
                error: true,
            }),
            _ => Decision::Retry(
                if after_ms > 0 { Duration::from_millis(after_ms) } else { e.retry_interval },
                is_disconnect,
            ),
        }
    };
    match &result.outcome {
        Ok(o) => {
            for w in &o.warnings {
                tracing::warn!(item = %item.plan.name, "{w}");
            }
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
            let mut sends = o.sends.clone();
            sends.extend(result.sends.iter().cloned());
            match o.disposition {
                Disposition::Completed => Decision::Finish(Finish {
                    status: if result.deferred.is_some() { Status::Deferred } else { Status::Completed },
                    note,
                    reply: o.reply.clone(),
                    sends,
                    route_to: None,
                    error: false,
                }),
                Disposition::Retry => retry_or_fail(o.retry_after_ms, &o.reason, false),
                Disposition::Suspend => Decision::Finish(Finish {
                    status: Status::Suspended,
                    note,
                    reply: o.reply.clone(),
                    sends: vec![],
                    route_to: None,
                    error: false,
                }),
                Disposition::Discard => Decision::Finish(Finish {
                    status: Status::Discarded,
                    note,
                    reply: o.reply.clone(),
                    sends: vec![],
                    route_to: None,
                    error: false,
                }),
                Disposition::Fail => Decision::Finish(Finish {
                    status: Status::Error,
                    note,
                    reply: o.reply.clone(),
                    sends: vec![],
                    route_to: e.error_target.clone(),
                    error: true,
                }),
                Disposition::Disable => Decision::Disable(o.reason.clone()),
            }
        }
        Err(f) => {
            let note = format!("{} in {}: {}", kind_text(f.kind), f.stage, f.message);
            if f.kind == FailureKind::NotRun {
                return Decision::Requeue;
            }
            if f.kind == FailureKind::WorkerCrashed {
                entry.crashes += 1;
                if entry.crashes >= e.max_worker_crashes {
                    return Decision::Finish(Finish {
                        status: Status::Suspended,
                        note: Some(format!("quarantined after {} worker crashes: {}", entry.crashes, f.message)),
                        reply: None,
                        sends: vec![],
                        route_to: None,
                        error: true,
                    });
                }
                return Decision::Requeue;
            }
            tracing::warn!(item = %item.plan.name, message = entry.header.id, error = %note, "processing failed");
            match f.action {
                Action::Retry => retry_or_fail(f.retry_after_ms, &note, f.kind == FailureKind::Disconnected),
                Action::Suspend => Decision::Finish(Finish {
                    status: Status::Suspended,
                    note: Some(note),
                    reply: f.reply.clone(),
                    sends: vec![],
                    route_to: None,
                    error: false,
                }),
                Action::Discard => Decision::Finish(Finish {
                    status: Status::Discarded,
                    note: Some(note),
                    reply: f.reply.clone(),
                    sends: vec![],
                    route_to: None,
                    error: false,
                }),
                Action::RouteTo => Decision::Finish(Finish {
                    status: Status::Error,
                    note: Some(note),
                    reply: f.reply.clone(),
                    sends: vec![],
                    route_to: Some(f.action_target.clone())
                        .filter(|t| !t.is_empty())
                        .or_else(|| e.error_target.clone()),
                    error: true,
                }),
                Action::Default => Decision::Finish(Finish {
                    status: Status::Error,
                    note: Some(note),
                    reply: f.reply.clone(),
                    sends: vec![],
                    route_to: e.error_target.clone(),
                    error: true,
                }),
            }
        }
    }
}

/// Human text for a failure kind.
pub(super) fn kind_text(k: FailureKind) -> &'static str {
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

/// Commits the final state of `env` with everything it sends. The consumer does not wait:
/// once the commit is written, the sends are pushed, the lease is finished and a waiting
/// synchronous caller gets the reply; if the commit fails the message goes back to its
/// queue. The journal writes commits in order, so pipelining keeps per-queue order.
async fn commit_finish(
    engine: &Arc<EngineInner>,
    item: &Arc<ItemRuntime>,
    env: &Envelope,
    mut fin: Finish,
    deferred: bool,
    mut lease: LeaseGuard,
    pipeline: Arc<Pipeline>,
) {
    let mut out = Outgoing::default();
    let sends = std::mem::take(&mut fin.sends);
    if let Err(e) = route_sends(engine, &item.plan.name, env, sends, &mut out, false).await {
        // A send that cannot be routed fails the message as a whole: nothing half-sent.
        out = Outgoing::default();
        fin.status = Status::Error;
        fin.note = Some(e);
        fin.error = true;
        fin.route_to = item.plan.engine.error_target.clone();
    }
    if let Some(t) = fin.route_to.clone()
        && let Err(e) = route_sends(
            engine,
            &item.plan.name,
            env,
            vec![SendData { target: t.clone(), body: None, transform: String::new(), priority: 0 }],
            &mut out,
            false,
        )
        .await
    {
        tracing::error!(item = %item.plan.name, message = env.header.id, error = %e, "cannot route to error target {t}");
    }
    let at = now_us();
    let reply = fin.reply.clone().map(Bytes::from);
    out.ops.push(Op::Finish {
        id: env.header.id,
        status: fin.status,
        note: fin.note.clone(),
        reply: reply.clone(),
        at_us: at,
    });
    let awaited = is_sync_request(&env.header) && !deferred;
    if awaited && let Some(r) = &reply {
        response_ops(engine, &env.header, r, &mut out);
    }
    let ops = std::mem::take(&mut out.ops);
    let (engine2, item2) = (engine.clone(), item.clone());
    let id = env.header.id;
    let guard = lease.lease.take().map(|l| LeaseGuard { queue: lease.queue.clone(), lease: Some(l) });
    pipeline.pending.fetch_add(1, Ordering::SeqCst);
    engine.journal.commit_then(
        ops,
        false,
        Box::new(move |result| {
            pipeline.done();
            let Some(guard) = guard else { return };
            if let Err(e) = result {
                tracing::error!(item = %item2.plan.name, message = id, error = %e, "cannot commit outcome; message stays queued");
                guard.requeue();
                return;
            }
            out.push_all();
            guard.finish();
            if awaited {
                let answer = match fin.status {
                    Status::Completed => Ok(fin.reply.clone().unwrap_or_default()),
                    other => Err(format!("{} ended {other}: {}", item2.plan.name, fin.note.clone().unwrap_or_default())),
                };
                if !engine2.calls.complete(id, answer) {
                    tracing::info!(item = %item2.plan.name, request = id, "late response recorded (the caller had given up)");
                }
            }
            item2.stats.processed.fetch_add(1, Ordering::Relaxed);
            if fin.error {
                item2.stats.errors.fetch_add(1, Ordering::Relaxed);
                if item2.plan.engine.alert_on_error {
                    let text = format!("message {id} ended in Error: {}", fin.note.clone().unwrap_or_default());
                    engine2.raise_alert(&item2.plan.name, super::alerts::AlertKind::Error, text);
                }
            }
            if fin.status == Status::Discarded {
                item2.stats.discarded.fetch_add(1, Ordering::Relaxed);
            }
        }),
    );
}

/// Whether a header is a synchronous request (its caller waits for a reply).
fn is_sync_request(h: &Header) -> bool {
    h.correlation_id != 0 && h.correlation_id == h.id
}

/// Ops recording the response to a sync request as its own header (correlated and caused
/// by the request).
fn response_ops(engine: &EngineInner, request: &Header, reply: &Bytes, out: &mut Outgoing) {
    let StoredBody { id: body_id, doc_type, control_id } = store_body(engine, reply, out);
    let header = Arc::new(Header {
        id: engine.journal.next_header_id(),
        session_id: request.session_id,
        correlation_id: request.id,
        causation_id: request.id,
        source: request.target.clone(),
        target: request.source.clone(),
        priority: request.priority,
        created_us: now_us(),
        doc_type,
        control_id,
        body_id,
        attributes: Vec::new(),
        ordering_key: None,
    });
    out.ops.push(Op::Header { header, status: Status::Completed, note: None, reply: None });
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
                header: Arc::new(Header {
                    id: 0,
                    session_id: id,
                    correlation_id: 0,
                    causation_id: 0,
                    source: caller.clone(),
                    target: caller.clone(),
                    priority: priority::SYNC,
                    created_us: now_us(),
                    doc_type: String::new(),
                    control_id: String::new(),
                    body_id: 0,
                    attributes: Vec::new(),
                    ordering_key: None,
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
    if is_sync_request(&row.header) {
        response_ops(engine, &row.header, &reply, &mut out);
    }
    engine.journal.commit(out.ops, false).await.map_err(|e| PluginError::new(ErrorKind::Failed, e.to_string()))?;
    if !engine.calls.complete(id, Ok(body)) {
        tracing::info!(request = id, "deferred reply recorded (the caller had given up)");
    }
    Ok(())
}
