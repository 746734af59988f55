//! A service's inbound adapter loop from a pack, run in a worker process
//! (`multi_process`): a segfault in vendor code ends this worker, not the engine.
//!
//! The loop's host context sends its submits and state reads to the engine over the
//! worker's socket and waits for the answers; the engine forwards the item's gate
//! (`ToWorker::Gate`) and the worker's shutdown stops the loop.
//!
//! # Invariants
//! - A submit returns only when the engine answered it, which is after the commit.
//! - Only one worker of the item runs the loop (slot 0), so a poller never runs twice.

use super::Pending;
use super::protocol::{FrameWriter, Init, ToEngine};
use crate::engine::pack_adapters::{self, LoopControl};
use crate::lock::{CondvarExt, LockExt};
use crate::pack::LoadedPack;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RNone, ROption, RResult, RSlice, RStr, RString, RVec, Tuple2};
use hie_plugin_api::abi::adapter::{InboundHostApi, InboundHostApi_TO, InboundHostCtx, InboundMessage, InboundReply};
use hie_plugin_api::abi::{ErrorKind, LogLevel, PluginError};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The loop's gate and stop flag, shared with the worker's frame reader.
#[derive(Default)]
struct Signals {
    /// (accepting, stopped)
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Signals {
    fn get(&self) -> (bool, bool) {
        *self.state.lock_unpoisoned()
    }

    /// Waits up to `timeout` until `done(accepting, stopped)` holds; returns the state.
    fn wait(&self, timeout: Duration, done: impl Fn(bool, bool) -> bool) -> (bool, bool) {
        let deadline = Instant::now() + timeout;
        let mut g = self.state.lock_unpoisoned();
        while !done(g.0, g.1) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = self.changed.wait_timeout_unpoisoned(g, deadline - now);
        }
        *g
    }
}

/// A running inbound loop in this worker.
pub struct RunningInbound {
    signals: Arc<Signals>,
    thread: std::thread::JoinHandle<()>,
}

impl RunningInbound {
    /// The engine says whether the item takes input.
    pub fn set_accepting(&self, accepting: bool) {
        self.signals.state.lock_unpoisoned().0 = accepting;
        self.signals.changed.notify_all();
    }

    /// Asks the loop to end and waits for it.
    pub fn stop(self) {
        self.signals.state.lock_unpoisoned().1 = true;
        self.signals.changed.notify_all();
        let _ = self.thread.join();
    }
}

/// The host side of the loop's context, over the worker's socket.
#[derive(Clone)]
struct WorkerInboundHost {
    settings: BTreeMap<String, String>,
    out: Arc<FrameWriter>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
    signals: Arc<Signals>,
}

impl WorkerInboundHost {
    /// Sends a request and waits for the engine's answer (ids are kept apart from the
    /// instances' by a high bit).
    fn ask(&self, make: impl FnOnce(u64) -> ToEngine) -> Result<Vec<u8>, PluginError> {
        let id = (1 << 62) | self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::channel();
        self.pending.lock_unpoisoned().insert(id, tx);
        if self.out.send(&make(id)).is_err() {
            self.pending.lock_unpoisoned().remove(&id);
            return Err(PluginError::new(ErrorKind::Failed, "the engine connection is closed"));
        }
        rx.recv().unwrap_or_else(|_| Err(PluginError::new(ErrorKind::Failed, "no answer from the engine")))
    }
}

fn guarded<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(fallback)
}

impl InboundHostApi for WorkerInboundHost {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        guarded((), || {
            let _ = self.out.send(&ToEngine::Log { level: level as u8, message: message.to_string() });
        })
    }

    fn setting(&self, name: RStr<'_>) -> ROption<RString> {
        guarded(RNone, || self.settings.get(name.as_str()).map(|v| RString::from(v.as_str())).into())
    }

    fn submit(&self, batch: RVec<InboundMessage>, state: RVec<Tuple2<RString, RString>>) -> RVec<InboundReply> {
        let refused: RVec<InboundReply> =
            batch.iter().map(|_| InboundReply { reply: RNone, accepted: false, id: 0 }).collect();
        guarded(refused.clone(), || {
            let batch = batch
                .into_iter()
                .map(|m| {
                    (
                        m.body.into_vec(),
                        m.origin.into_string(),
                        m.attributes.into_iter().map(|t| (t.0.into_string(), t.1.into_string())).collect(),
                    )
                })
                .collect();
            let state = state.into_iter().map(|t| (t.0.into_string(), t.1.into_string())).collect();
            let answer = match self.ask(|id| ToEngine::Submit { id, batch, state }) {
                Ok(a) => a,
                Err(_) => return refused,
            };
            let replies: Vec<(Option<Vec<u8>>, bool, u64)> = match super::protocol::decode(&answer) {
                Ok(r) => r,
                Err(_) => return refused,
            };
            replies
                .into_iter()
                .map(|(reply, accepted, id)| InboundReply { reply: reply.map(RVec::from).into(), accepted, id })
                .collect()
        })
    }

    fn state(&self, key: RStr<'_>) -> ROption<RString> {
        guarded(RNone, || {
            let key = key.to_string();
            match self.ask(|id| ToEngine::State { id, key }) {
                Ok(v) => ROption::RSome(RString::from(String::from_utf8_lossy(&v).into_owned())),
                Err(_) => RNone,
            }
        })
    }

    fn accepting(&self) -> bool {
        guarded(false, || self.signals.get().0)
    }

    fn wait_accepting(&self, timeout_ms: u64) -> bool {
        guarded(false, || {
            let (accepting, stopped) = self.signals.wait(Duration::from_millis(timeout_ms), |a, s| a || s);
            accepting && !stopped
        })
    }

    fn wait(&self, timeout_ms: u64) -> bool {
        guarded(false, || !self.signals.wait(Duration::from_millis(timeout_ms), |_, s| s).1)
    }

    fn stop_requested(&self) -> bool {
        guarded(true, || self.signals.get().1)
    }

    fn extension(&self, _name: RStr<'_>, _input: RSlice<'_, u8>) -> ROption<RResult<RVec<u8>, PluginError>> {
        RNone
    }
}

/// Starts the loop of `init`'s inbound adapter from `pack` on a thread of this worker.
pub fn start(
    pack: &Arc<LoadedPack>,
    init: &Init,
    out: Arc<FrameWriter>,
    pending: Pending,
) -> Result<RunningInbound, String> {
    let make = pack_adapters::inbound_maker(pack, &init.adapter, &init.item, &init.settings)?;
    let first = make().map_err(|e| format!("adapter {} failed to start: {}", init.adapter, e.message))?;
    let signals = Arc::new(Signals::default());
    let host_impl = WorkerInboundHost {
        settings: init.settings.clone(),
        out: out.clone(),
        pending,
        next_id: Arc::new(AtomicU64::new(1)),
        signals: signals.clone(),
    };
    let host: InboundHostCtx = InboundHostApi_TO::from_ptr(RArc::new(host_impl), TD_Opaque);
    let (item, adapter) = (init.item.clone(), init.adapter.clone());
    let control = LoopControl {
        make,
        stopped: Box::new({
            let s = signals.clone();
            move || s.get().1
        }),
        sleep: Box::new({
            let s = signals.clone();
            move |d| !s.wait(d, |_, stopped| stopped).1
        }),
        report: Box::new(move |problem| {
            let _ = out.send(&ToEngine::AdapterProblem { problem });
        }),
    };
    let thread = std::thread::Builder::new()
        .name("hie-adapter".into())
        .spawn(move || pack_adapters::run_inbound_loop(&item, &adapter, first, &host, control))
        .map_err(|e| format!("cannot start the adapter thread: {e}"))?;
    Ok(RunningInbound { signals, thread })
}
