//! The worker process of a `multi_process` item: the `hie` binary re-executed with the
//! hidden `worker` subcommand.
//!
//! A worker loads the item's pack itself (from the engine's content-hashed staged copy),
//! runs `threads` instances on their own threads, and talks to the engine over the
//! socket it inherited as fd 3. The engine keeps the queue and the journal: a worker
//! only computes results, so a crash in plugin code kills this process and nothing else.
//!
//! # Invariants
//! - The worker dies with the engine (PR_SET_PDEATHSIG, and a parent check at start).
//! - It never holds more than two calls per thread (the engine's credits).
//! - A call's result is in the socket before its thread starts another call, so the
//!   engine blames a crash only on calls that were running or waiting.

mod inbound;
pub mod protocol;

use crate::adapter::{AdapterSettings, OutboundAdapter};
use crate::engine::block_on_host;
use crate::engine::call::{CallResult, FailureKind, SendData};
use crate::engine::instance::{HostServices, Instance};
use crate::lock::LockExt;
use crate::message::Envelope;
use bytes::Bytes;
use futures::StreamExt;
use hie_plugin_api::abi::{ErrorKind, LogLevel, PluginError};
use protocol::{FrameWriter, Init, ToEngine, ToWorker};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::codec::FramedRead;

/// The file descriptor the engine passes the socket on.
pub const SOCKET_FD: i32 = 3;

/// Answers to the worker's own requests (sync calls, deferred replies), by request id.
type Pending = Arc<Mutex<HashMap<u64, std::sync::mpsc::Sender<Result<Vec<u8>, PluginError>>>>>;

/// Host services inside a worker: everything that needs the engine goes over the socket.
struct WorkerServices {
    /// Item name.
    item: String,
    /// Settings, defaults applied.
    settings: BTreeMap<String, String>,
    /// `HIE.*` values.
    host_values: BTreeMap<String, String>,
    /// Production item names.
    items: Vec<String>,
    /// Frames to the engine.
    out: Arc<FrameWriter>,
    /// Requests waiting for the engine's answer.
    pending: Pending,
    /// Next request id.
    next_id: AtomicU64,
    /// The item's outbound adapter, run in this process.
    outbound: Option<Arc<dyn OutboundAdapter>>,
    /// The worker's runtime (adapter I/O).
    runtime: tokio::runtime::Handle,
}

impl WorkerServices {
    /// Sends a request frame and blocks for the engine's answer.
    fn ask(&self, make: impl FnOnce(u64) -> ToEngine, timeout: Option<Duration>) -> Result<Vec<u8>, PluginError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::channel();
        self.pending.lock_unpoisoned().insert(id, tx);
        if self.out.send(&make(id)).is_err() {
            return Err(PluginError::new(ErrorKind::Failed, "the engine connection is closed"));
        }
        let answer = match timeout {
            Some(t) => rx.recv_timeout(t).map_err(|_| ()),
            None => rx.recv().map_err(|_| ()),
        };
        self.pending.lock_unpoisoned().remove(&id);
        answer.unwrap_or_else(|_| Err(PluginError::new(ErrorKind::Timeout, "no answer from the engine")))
    }
}

impl HostServices for WorkerServices {
    fn item_name(&self) -> &str {
        &self.item
    }

    fn setting(&self, name: &str) -> Option<String> {
        self.settings.get(name).or_else(|| self.host_values.get(name)).cloned()
    }

    fn log(&self, level: LogLevel, message: &str) {
        let _ = self.out.send(&ToEngine::Log { level: level as u8, message: message.to_string() });
    }

    fn count(&self, metric: &str, delta: u64) {
        let _ = self.out.send(&ToEngine::Count { metric: metric.to_string(), delta });
    }

    fn send_sync(&self, caller: Option<&Envelope>, send: SendData, timeout_ms: i64) -> Result<Vec<u8>, PluginError> {
        let caller = caller.map(|c| ((*c.header).clone(), c.body.to_vec()));
        // The engine enforces the timeout; the margin only guards against a lost engine.
        let guard = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64) + Duration::from_secs(5));
        self.ask(|id| ToEngine::SendSync { id, caller, send, timeout_ms }, guard)
    }

    fn adapter_call(&self, body: &[u8], params: Vec<(String, String)>) -> crate::adapter::AdapterResult {
        let Some(adapter) = self.outbound.clone() else {
            return Err(PluginError::new(
                ErrorKind::Unsupported,
                format!("item {} has no outbound adapter", self.item),
            ));
        };
        let body = body.to_vec();
        block_on_host(&self.runtime, async move { adapter.call(body, params).await })
    }

    fn send_deferred_reply(&self, token: &str, body: Vec<u8>) -> Result<(), PluginError> {
        let token = token.to_string();
        self.ask(|id| ToEngine::DeferredReply { id, token, body }, Some(Duration::from_secs(60))).map(|_| ())
    }

    fn extension(&self, name: &str, _input: &[u8]) -> Option<Result<Vec<u8>, PluginError>> {
        match name {
            "hie.items" => Some(Ok(self.items.join("\n").into_bytes())),
            _ => None,
        }
    }
}

/// Runs a worker on the inherited socket until the engine says stop or goes away.
pub fn run(parent_pid: u32) -> Result<(), String> {
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } as u32 != parent_pid {
        return Err("the engine that started this worker is gone".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("hie-worker-rt")
        .build()
        .map_err(|e| e.to_string())?;
    let handle = runtime.handle().clone();
    runtime.block_on(serve(handle))
}

async fn serve(runtime: tokio::runtime::Handle) -> Result<(), String> {
    // SAFETY: fd 3 was set up by the engine for this process and is owned by us from here.
    let std_stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(SOCKET_FD) };
    // Frames out are written synchronously by whichever thread has one (see FrameWriter);
    // frames in are read by this task.
    let out_tx = Arc::new(FrameWriter::new(std_stream.try_clone().map_err(|e| e.to_string())?));
    std_stream.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stream = tokio::net::UnixStream::from_std(std_stream).map_err(|e| e.to_string())?;
    let mut reader = FramedRead::new(stream, protocol::codec());

    let init: Init = match reader.next().await {
        Some(Ok(frame)) => match protocol::decode::<ToWorker>(&frame) {
            Ok(ToWorker::Init(init)) => *init,
            Ok(other) => return Err(format!("expected Init, got {other:?}")),
            Err(e) => return Err(e),
        },
        _ => return Err("the engine closed the socket before Init".into()),
    };
    let pid = std::process::id();
    tracing::info!(item = %init.item, pid, pack = %init.pack_source, "worker starting");

    let pack = match crate::pack::load_staged(
        std::path::Path::new(&init.pack_source),
        std::path::Path::new(&init.pack_path),
        init.pack_sha256.clone(),
        init.pack_generation,
    ) {
        Ok(Some(p)) => Arc::new(p),
        Ok(None) => return fail(&out_tx, "the staged file is not a HIE pack".into()),
        Err(e) => return fail(&out_tx, e.reason),
    };
    let settings = AdapterSettings::from_map(&init.item, init.settings.clone());
    // A pack's adapter runs here, in this process: a crash in it ends this worker only.
    let adapter_pack = match &init.adapter_pack {
        None => None,
        Some(p) => match crate::pack::load_staged(
            std::path::Path::new(&p.source),
            std::path::Path::new(&p.path),
            p.sha256.clone(),
            p.generation,
        ) {
            Ok(Some(p)) => Some(Arc::new(p)),
            Ok(None) => return fail(&out_tx, "the staged adapter pack is not a HIE pack".into()),
            Err(e) => return fail(&out_tx, e.reason),
        },
    };
    let outbound = match (&adapter_pack, init.run_inbound) {
        (Some(p), false) if !init.adapter.is_empty() && !is_inbound(p, &init.adapter) => {
            match crate::engine::pack_adapters::outbound(p, &init.adapter, &init.item, &init.settings) {
                Ok(o) => Some(o),
                Err(e) => return fail(&out_tx, e),
            }
        }
        (Some(_), _) => None,
        (None, _) => match crate::adapter::host_outbound(&init.adapter, &settings, runtime.clone()) {
            Ok(o) => o,
            Err(e) => return fail(&out_tx, e),
        },
    };
    let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    let services = Arc::new(WorkerServices {
        item: init.item.clone(),
        settings: init.settings.clone(),
        host_values: init.host_values.clone(),
        items: init.items.clone(),
        out: out_tx.clone(),
        pending: pending.clone(),
        next_id: AtomicU64::new(1),
        outbound,
        runtime: runtime.clone(),
    });

    // Instance threads: each creates and starts its own instance.
    let (job_tx, job_rx) = crossbeam_channel::unbounded::<(u64, Envelope)>();
    let mut threads = Vec::new();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    for n in 0..init.threads.max(1) {
        let (pack, class, services, job_rx, out, ready) =
            (pack.clone(), init.class.clone(), services.clone(), job_rx.clone(), out_tx.clone(), ready_tx.clone());
        let t = std::thread::Builder::new().name(format!("hie-worker-{n}")).spawn(move || {
            let made = Instance::create(&pack, &class, services as Arc<dyn HostServices>)
                .and_then(|mut i| i.start().map(|_| i));
            let mut instance = match made {
                Ok(i) => {
                    let _ = ready.send(Ok(()));
                    i
                }
                Err(e) => {
                    let _ = ready.send(Err(e.message.to_string()));
                    return;
                }
            };
            while let Ok((id, env)) = job_rx.recv() {
                let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| instance.run(&env))) {
                    Ok(r) => r,
                    Err(_) => {
                        CallResult::host_failure(FailureKind::Panicked, "process", "host code panicked in the worker")
                    }
                };
                // Written before the next call starts: if that one crashes the process,
                // the engine knows this one finished.
                let _ = out.send(&ToEngine::CallDone { id, result: Box::new(result) });
            }
            instance.stop();
        });
        match t {
            Ok(t) => threads.push(t),
            Err(e) => return fail(&out_tx, format!("cannot start a thread: {e}")),
        }
    }
    drop(ready_tx);
    for _ in 0..threads.len() {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return fail(&out_tx, e),
            Err(_) => return fail(&out_tx, "an instance thread died during start".into()),
        }
    }
    let _ = out_tx.send(&ToEngine::Ready { pid });
    let inbound = match (&adapter_pack, init.run_inbound) {
        (Some(p), true) => match inbound::start(p, &init, out_tx.clone(), pending.clone()) {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::error!(item = %init.item, error = %e, "the inbound adapter cannot start");
                let _ = out_tx.send(&ToEngine::AdapterProblem { problem: Some(e) });
                None
            }
        },
        _ => None,
    };

    let mut inbound = inbound;
    // Set by the first Shutdown while an inbound loop runs: the loop may be waiting for the
    // answer to a submit, so answers (and calls) are still served until it has ended; then
    // the engine hears InboundStopped and sends the Shutdown that stops the worker.
    let mut stopping: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let frame = match stopping.as_mut() {
            Some(done) => tokio::select! {
                _ = done => {
                    stopping = None;
                    let _ = out_tx.send(&ToEngine::InboundStopped);
                    continue;
                }
                f = reader.next() => f,
            },
            None => reader.next().await,
        };
        let Some(Ok(frame)) = frame else { break };
        match protocol::decode::<ToWorker>(&frame) {
            Ok(ToWorker::Call { id, header, body }) => {
                let env = Envelope { header: Arc::new(header), body: Bytes::from(body) };
                if job_tx.send((id, env)).is_err() {
                    break;
                }
            }
            Ok(ToWorker::Answer { id, result }) => {
                let waiter = pending.lock_unpoisoned().remove(&id);
                if let Some(w) = waiter {
                    let _ = w.send(result.map_err(|(k, m)| PluginError::new(error_kind(k), m)));
                }
            }
            Ok(ToWorker::Gate { accepting }) => {
                if let Some(i) = &inbound {
                    i.set_accepting(accepting);
                }
            }
            Ok(ToWorker::Shutdown) => match inbound.take() {
                Some(i) => stopping = Some(tokio::task::spawn_blocking(move || i.stop())),
                None if stopping.is_some() => {}
                None => break,
            },
            Ok(ToWorker::Init(_)) => tracing::warn!("ignoring a second Init"),
            Err(e) => tracing::error!(error = %e, "bad frame from the engine"),
        }
    }
    drop(job_tx);
    // No more answers come: a submit still waiting gets "no answer" and the loop can end.
    pending.lock_unpoisoned().clear();
    if let Some(i) = inbound {
        let _ = tokio::task::spawn_blocking(move || i.stop()).await;
    }
    if let Some(s) = stopping {
        let _ = s.await;
    }
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
    Ok(())
}

/// Whether `pack`'s adapter `name` is an inbound one.
fn is_inbound(pack: &crate::pack::LoadedPack, name: &str) -> bool {
    pack.adapters.iter().any(|a| a.name == name && a.direction == crate::adapter::registry::Direction::Inbound)
}

/// Tells the engine why the worker could not start, and returns the reason.
fn fail(out: &FrameWriter, reason: String) -> Result<(), String> {
    let _ = out.send(&ToEngine::InitFailed { reason: reason.clone() });
    Err(reason)
}

/// Error kinds as sent over the wire.
pub fn error_kind(k: u8) -> ErrorKind {
    match k {
        1 => ErrorKind::Panicked,
        2 => ErrorKind::InvalidMessage,
        3 => ErrorKind::Timeout,
        4 => ErrorKind::UnknownTarget,
        5 => ErrorKind::Unsupported,
        6 => ErrorKind::Disconnected,
        _ => ErrorKind::Failed,
    }
}
