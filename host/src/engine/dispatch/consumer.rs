//! The consumer loop of a process or operation: lease an entry, wait for the circuit
//! breaker and the rate limit, call the item, act on what the outcome policy decides,
//! and commit the final state with everything it sends, without waiting for the write.
//!
//! # Invariants
//! - A leased entry goes back to its queue unless its final state is committed
//!   ([`LeaseGuard`]): a panic or a cancellation never loses a message in memory.
//! - A consumer has at most its pipeline depth of commits unwritten (2 for an operation:
//!   this bounds what a crash can make it deliver twice; 16 for a process). The journal
//!   writes commits in order, so pipelining keeps each queue's order.
//! - Sends are pushed, the lease finished and a waiting caller answered only after the
//!   commit is written; if it fails, the message goes back to its queue.
//! - While the journal cannot commit, nothing new is taken.
//! - A send that cannot be routed fails the whole message: nothing is half-sent.

use super::outcome::{self, Decision, Elapsed, Finish};
use super::{Outgoing, route_sends, sync_call};
use crate::engine::EngineInner;
use crate::engine::call::{FailureKind, SendData};
use crate::engine::guard::Permit;
use crate::engine::item::{ItemRuntime, ItemState, envelope_of};
use crate::journal::Op;
use crate::message::{Envelope, Status, now_us};
use crate::queue::{Entry, Lease};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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
pub(in crate::engine) async fn consume(engine: Arc<EngineInner>, item: Arc<ItemRuntime>, slot: usize) {
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
                Permit::Go | Permit::Probe => break,
                Permit::Wait(d) => {
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
        let failed = outcome::is_failed_call(&result);
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
        if outcome::crashed_worker(&result) {
            lease.entry().crashes += 1;
        } else if let Err(f) = &result.outcome
            && f.kind != FailureKind::NotRun
        {
            let note = outcome::failure_note(f);
            tracing::warn!(item = %item.plan.name, message = env.header.id, error = %note, "processing failed");
        }
        let elapsed = Elapsed { total: started.elapsed(), disconnected };
        match outcome::decide(&item.plan.engine, &result, lease.entry().crashes, elapsed) {
            Decision::Retry { delay, disconnected: was_disconnected } => {
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
    let awaited = sync_call::is_request(&env.header) && !deferred;
    if awaited && let Some(r) = &reply {
        sync_call::response_ops(engine, &env.header, r, &mut out);
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
                sync_call::answer(&engine2, &item2.plan.name, id, fin.status, &fin.reply, &fin.note);
            }
            item2.stats.processed.fetch_add(1, Ordering::Relaxed);
            if fin.error {
                item2.stats.errors.fetch_add(1, Ordering::Relaxed);
                if item2.plan.engine.alert_on_error {
                    let text = format!("message {id} ended in Error: {}", fin.note.clone().unwrap_or_default());
                    engine2.raise_alert(&item2.plan.name, crate::engine::alerts::AlertKind::Error, text);
                }
            }
            if fin.status == Status::Discarded {
                item2.stats.discarded.fetch_add(1, Ordering::Relaxed);
            }
        }),
    );
}
