//! The narrow port between the engine and every adapter, the host's own or a pack's.
//!
//! An inbound adapter sees an [`InboundContext`]: its settings, a sink that takes a batch
//! of messages and returns each one's reply only after the commit that stores it, a gate
//! that says whether the item takes input now (and wakes it when that changes), and a
//! stop signal. An outbound adapter is one [`OutboundAdapter`] object: `call(body, params)`
//! returns a reply or an error that says whether to retry; the engine keeps the queues,
//! retries, `ReplyCodeActions` and the circuit breaker.
//!
//! # Dependency rule
//! Adapters depend on this module only; the engine implements [`IntakeSink`] and depends
//! on the adapters. Nothing in `adapter/` names an engine type.

use super::AdapterSettings;
use bytes::Bytes;
use futures::future::BoxFuture;
use hie_plugin_api::abi::{ErrorKind, PluginError};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One message as an inbound adapter received it.
#[derive(Clone, Debug)]
pub struct Inbound {
    /// The bytes.
    pub body: Bytes,
    /// Where it came from, e.g. `mllp://10.1.2.3:50122` or `file:///in/adt.hl7`.
    pub origin: String,
    /// Adapter metadata (e.g. `OriginalFilename`).
    pub attributes: Vec<(String, String)>,
}

/// What the adapter should do for one inbound message.
#[derive(Clone, Debug)]
pub struct IntakeReply {
    /// Bytes to send back (ACK or NACK); `None` sends nothing.
    pub reply: Option<Vec<u8>>,
    /// Whether the message was committed (the file may be archived, the ACK is positive).
    pub accepted: bool,
    /// The intake header id (0 when nothing was recorded).
    pub id: u64,
}

/// Where an inbound adapter hands its messages.
pub trait IntakeSink: Send + Sync {
    /// Runs the service on `batch` and commits it together; returns one reply per message,
    /// in order, once the commit is durable (or NACKs if it failed).
    fn submit(&self, batch: Vec<Inbound>) -> BoxFuture<'static, Vec<IntakeReply>>;

    /// Like [`IntakeSink::submit`], and records `state` (the adapter's durable key/value
    /// state, e.g. the last row key an SQL poller processed) in the same commit.
    fn submit_with_state(
        &self,
        batch: Vec<Inbound>,
        state: Vec<(String, String)>,
    ) -> BoxFuture<'static, Vec<IntakeReply>>;

    /// The adapter's durable state as last committed.
    fn state(&self, key: &str) -> BoxFuture<'static, Option<String>>;

    /// Reports a problem the adapter has with its source (`None`: it is gone), for the
    /// item's status: e.g. "cannot connect to the database".
    fn report(&self, problem: Option<String>);

    /// Runs `work` on an intake thread of its own: a current-thread runtime whose commits
    /// the thread writes itself when it goes idle (no other thread on the ACK path).
    /// The receiver completes when the thread has ended.
    fn spawn_intake_thread(&self, work: BoxFuture<'static, ()>) -> Result<tokio::sync::oneshot::Receiver<()>, String>;
}

/// Whether the item takes input now: an adapter holds input (backpressure) while it
/// does not, and waits for it to change rather than polling.
#[derive(Clone)]
pub struct AcceptGate(pub watch::Receiver<bool>);

impl AcceptGate {
    /// Whether input is taken now.
    pub fn is_open(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until input is taken, or `stop` is cancelled (`false`).
    pub async fn wait_open(&mut self, stop: &CancellationToken) -> bool {
        loop {
            if *self.0.borrow_and_update() {
                return true;
            }
            tokio::select! {
                _ = stop.cancelled() => return false,
                changed = self.0.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                }
            }
        }
    }
}

/// What an inbound adapter is given when it starts.
#[derive(Clone)]
pub struct InboundContext {
    /// The item's name, for logs.
    pub item: Arc<str>,
    /// The item's settings, defaults applied.
    pub settings: AdapterSettings,
    /// Where messages go.
    pub sink: Arc<dyn IntakeSink>,
    /// Whether the item takes input now.
    pub gate: AcceptGate,
    /// Cancelled when the adapter must stop (finish what it has in hand first).
    pub stop: CancellationToken,
    /// The engine's runtime, for the adapter's tasks.
    pub runtime: tokio::runtime::Handle,
}

/// Reply from an outbound adapter: body and named results.
pub type AdapterResult = Result<(Vec<u8>, Vec<(String, String)>), PluginError>;

/// An operation's adapter: delivers bytes somewhere and returns the reply.
///
/// Errors say whether to retry by their kind: [`ErrorKind::Disconnected`] and
/// [`ErrorKind::Timeout`] are retryable (the other side may come back), every other kind
/// is fatal for the message ([`is_retryable`]).
pub trait OutboundAdapter: Send + Sync {
    /// Delivers `body` with `params`.
    fn call(&self, body: Vec<u8>, params: Vec<(String, String)>) -> BoxFuture<'static, AdapterResult>;
    /// Closes connections (item stop).
    fn close(&self) -> BoxFuture<'static, ()>;
}

/// Whether an outbound adapter's error is worth a retry.
pub fn is_retryable(e: &PluginError) -> bool {
    matches!(e.kind, ErrorKind::Disconnected | ErrorKind::Timeout)
}
