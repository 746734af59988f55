//! `multi_process` execution mode: `concurrency` worker processes per item (the `hie`
//! binary re-executed as `hie worker`), each running `WorkerThreads` instances.
//!
//! The engine keeps the queue and the journal; workers get one message per call over a
//! Unix socket pair (length-prefixed frames, credit-based flow control) and return
//! results that the engine commits. Each slot has a supervisor that restarts its worker
//! with exponential backoff and jitter when it dies (crash, kill, memory limit, hang),
//! and resets the backoff after a stable minute. Calls in flight when a worker dies come
//! back as `WorkerCrashed`: the consumer puts the message back at the head of the queue
//! and quarantines it after `MaxWorkerCrashes`.

use super::{Executor, WorkerInfo};
use crate::engine::EngineInner;
use crate::engine::call::{CallResult, FailureKind};
use crate::engine::item::{ItemRuntime, ItemStats};
use crate::engine::services::log_line;
use crate::lock::LockExt;
use crate::message::{Envelope, Header};
use crate::worker::protocol::{self, Init, ToEngine, ToWorker};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use hie_plugin_api::abi::{ErrorKind, LogLevel};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

mod roll;

/// Where a slot's worker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Starting,
    Running,
    Restarting,
    Stopped,
}

/// One call waiting at a worker.
struct InFlight {
    /// Where the result goes.
    reply: oneshot::Sender<CallResult>,
    /// When it was sent (hang detection).
    since: Instant,
}

/// Mutable state of a slot.
struct SlotState {
    phase: Phase,
    pid: u32,
    restarts: u32,
    /// Frames to the worker, while connected.
    tx: Option<mpsc::UnboundedSender<ToWorker>>,
    /// Calls sent and not answered.
    in_flight: HashMap<u64, InFlight>,
    /// Calls that may still be sent (the worker's free threads).
    credits: usize,
    /// Why the worker was last killed by the engine, for the log.
    kill_reason: Option<String>,
    /// Being rolled: takes no new calls.
    draining: bool,
    /// The worker is being replaced on purpose (rolling restart): no backoff, not a crash.
    planned_restart: bool,
    /// Why the last launch failed.
    last_error: Option<String>,
    /// Launches of this slot so far.
    launches: u64,
    /// The connected worker runs the inbound adapter loop.
    runs_inbound: bool,
    /// That worker has ended its loop after a Shutdown (`ToEngine::InboundStopped`).
    inbound_stopped: bool,
}

/// One worker slot.
struct Slot {
    index: usize,
    state: Mutex<SlotState>,
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock_unpoisoned()
    }
}

/// Shared between the executor handle, the supervisors and the connection readers.
struct Shared {
    item: Arc<str>,
    slots: Vec<Arc<Slot>>,
    /// Woken when a slot may accept a call.
    available: Notify,
    next_call: AtomicU64,
    stop: CancellationToken,
    engine: Weak<EngineInner>,
    stats: Arc<ItemStats>,
    /// What new workers are started with (changes on a rolling restart).
    init: Mutex<Init>,
    threads: usize,
    hang_timeout: Option<Duration>,
    memory_limit: Option<u64>,
    exe: std::path::PathBuf,
    /// The service whose inbound adapter loop runs in slot 0's worker (a pack's inbound
    /// adapter in `multi_process` mode), for its submits and its gate. Weak: the item
    /// owns this executor.
    inbound: Option<Weak<ItemRuntime>>,
}

/// The executor.
pub struct MultiProcessExecutor {
    shared: Arc<Shared>,
    supervisors: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Spawns workers from one long-lived thread: PR_SET_PDEATHSIG fires when the *thread*
/// that forked the child exits, so it must never be a pooled thread.
struct Spawner {
    tx: std::sync::mpsc::Sender<(std::process::Command, oneshot::Sender<std::io::Result<tokio::process::Child>>)>,
}

fn spawner(runtime: &tokio::runtime::Handle) -> &'static Spawner {
    static SPAWNER: OnceLock<Spawner> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<(
            std::process::Command,
            oneshot::Sender<std::io::Result<tokio::process::Child>>,
        )>();
        let rt = runtime.clone();
        let _ = std::thread::Builder::new().name("hie-spawner".into()).spawn(move || {
            let _guard = rt.enter();
            while let Ok((cmd, reply)) = rx.recv() {
                let _ = reply.send(tokio::process::Command::from(cmd).kill_on_drop(true).spawn());
            }
        });
        Spawner { tx }
    })
}

/// Starts the item's workers; fails if the first start of any slot fails.
pub async fn start(
    engine: &Arc<EngineInner>,
    rt: &Arc<ItemRuntime>,
    pack: &Arc<crate::pack::LoadedPack>,
) -> Result<Arc<dyn Executor>, String> {
    let plan = &rt.plan;
    let items = engine.plan().map(|p| p.item_names()).unwrap_or_default();
    let mut host_values = std::collections::BTreeMap::new();
    host_values.insert("HIE.ItemName".to_string(), plan.name.to_string());
    host_values.insert("HIE.DataDir".to_string(), engine.options.data_dir.display().to_string());
    if let Some(dir) = engine.plan().and_then(|p| p.file.parent().map(|d| d.display().to_string())) {
        host_values.insert("HIE.ProductionDir".to_string(), if dir.is_empty() { ".".into() } else { dir });
    }
    let threads = plan.engine.worker_threads.max(1);
    let init = Init {
        item: plan.name.to_string(),
        class: plan.class.clone(),
        pack_path: pack.staged_path.display().to_string(),
        pack_source: pack.source_path.display().to_string(),
        pack_sha256: pack.sha256.clone(),
        pack_generation: pack.generation,
        adapter: plan.adapter.clone(),
        settings: plan.settings.clone(),
        threads,
        host_values,
        items,
        adapter_pack: rt.adapter_pack().as_ref().map(roll::staged),
        run_inbound: false,
    };
    let inbound_in_worker = plan.kind == hie_plugin_api::ItemKind::Service && rt.adapter_pack().is_some();
    let shared = Arc::new(Shared {
        item: plan.name.clone(),
        slots: (0..plan.engine.concurrency.max(1))
            .map(|index| {
                Arc::new(Slot {
                    index,
                    state: Mutex::new(SlotState {
                        phase: Phase::Starting,
                        pid: 0,
                        restarts: 0,
                        tx: None,
                        in_flight: HashMap::new(),
                        credits: 0,
                        kill_reason: None,
                        draining: false,
                        planned_restart: false,
                        last_error: None,
                        launches: 0,
                        runs_inbound: false,
                        inbound_stopped: false,
                    }),
                })
            })
            .collect(),
        available: Notify::new(),
        next_call: AtomicU64::new(1),
        stop: CancellationToken::new(),
        engine: Arc::downgrade(engine),
        stats: rt.stats.clone(),
        init: Mutex::new(init),
        threads,
        hang_timeout: plan.engine.hang_timeout,
        memory_limit: plan.engine.memory_limit,
        exe: engine.options.exe.clone(),
        inbound: inbound_in_worker.then(|| Arc::downgrade(rt)),
    });
    let mut supervisors = Vec::new();
    let mut first_starts = Vec::new();
    for slot in &shared.slots {
        let (tx, rx) = oneshot::channel();
        first_starts.push(rx);
        supervisors.push(engine.runtime.spawn(supervise(shared.clone(), slot.clone(), tx)));
    }
    let executor = MultiProcessExecutor { shared: shared.clone(), supervisors: Mutex::new(supervisors) };
    let mut failure: Option<String> = None;
    for rx in first_starts {
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(_) => {
                failure.get_or_insert_with(|| "a worker supervisor ended during start".to_string());
            }
        }
    }
    if let Some(e) = failure {
        executor.shutdown().await;
        return Err(e);
    }
    Ok(Arc::new(executor))
}

/// A connected worker.
struct Connection {
    child: tokio::process::Child,
    reader: FramedRead<tokio::net::unix::OwnedReadHalf, tokio_util::codec::LengthDelimitedCodec>,
    writer: FramedWrite<tokio::net::unix::OwnedWriteHalf, tokio_util::codec::LengthDelimitedCodec>,
    pid: u32,
    /// Whether this worker runs the inbound adapter loop.
    runs_inbound: bool,
}

/// Spawns a worker and waits for its `Ready`.
async fn launch(shared: &Arc<Shared>, slot: &Arc<Slot>) -> Result<Connection, String> {
    let (parent_end, child_end) = std::os::unix::net::UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    let child_fd: OwnedFd = child_end.into();
    let raw = child_fd.as_raw_fd();
    let mut cmd = std::process::Command::new(&shared.exe);
    cmd.arg("worker")
        .arg("--item")
        .arg(&*shared.item)
        .arg("--slot")
        .arg(slot.index.to_string())
        .arg("--parent")
        .arg(std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    // Own process group: a Ctrl-C to the engine's group reaches only the engine, which
    // drains and stops its workers; PDEATHSIG ends them if the engine dies any other way.
    cmd.process_group(0);
    // SAFETY: only async-signal-safe calls (prctl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::dup2(raw, crate::worker::SOCKET_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = oneshot::channel();
    spawner(&runtime).tx.send((cmd, tx)).map_err(|_| "the worker spawner thread is gone".to_string())?;
    let mut child = rx
        .await
        .map_err(|_| "the worker spawner dropped the request".to_string())?
        .map_err(|e| format!("cannot start worker process {}: {e}", shared.exe.display()))?;
    drop(child_fd);
    let pid = child.id().unwrap_or(0);
    parent_end.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stream = tokio::net::UnixStream::from_std(parent_end).map_err(|e| e.to_string())?;
    let (rd, wr) = stream.into_split();
    let mut reader = FramedRead::new(rd, protocol::codec());
    let mut writer = FramedWrite::new(wr, protocol::codec());
    let mut init = shared.init.lock_unpoisoned().clone();
    // One worker runs the inbound adapter's loop: a poller must not run twice.
    init.run_inbound = shared.inbound.is_some() && slot.index == 0;
    let runs_inbound = init.run_inbound;
    let init = protocol::encode(&ToWorker::Init(Box::new(init)))?;
    writer.send(init).await.map_err(|e| format!("cannot send Init to worker {pid}: {e}"))?;
    // Until Ready, the worker may only log and count (its on_init runs now).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let frame = match tokio::time::timeout_at(deadline, reader.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(_) => {
                let status = child.wait().await.map(|s| s.to_string()).unwrap_or_default();
                return Err(format!("worker {pid} exited during start ({status})"));
            }
            Err(_) => {
                let _ = child.start_kill();
                return Err(format!("worker {pid} did not become ready within 60 s"));
            }
        };
        match protocol::decode::<ToEngine>(&frame)? {
            ToEngine::Ready { pid } => return Ok(Connection { child, reader, writer, pid, runs_inbound }),
            ToEngine::InitFailed { reason } => {
                let _ = child.wait().await;
                return Err(reason);
            }
            ToEngine::Log { level, message } => log_line(&shared.item, Some(pid), level_of(level), &message),
            ToEngine::Count { metric, delta } => shared.stats.add_custom(&metric, delta),
            other => return Err(format!("worker {pid} sent {other:?} before Ready")),
        }
    }
}

/// Keeps one slot's worker running until the item stops.
async fn supervise(shared: Arc<Shared>, slot: Arc<Slot>, first: oneshot::Sender<Result<(), String>>) {
    let mut first = Some(first);
    let mut backoff = Duration::from_millis(200);
    loop {
        if shared.stop.is_cancelled() {
            break;
        }
        slot.lock().launches += 1;
        match launch(&shared, &slot).await {
            Err(e) => {
                if let Some(f) = first.take() {
                    let _ = f.send(Err(e));
                    slot.lock().phase = Phase::Stopped;
                    return;
                }
                tracing::error!(item = %shared.item, slot = slot.index, error = %e, "worker failed to start; retrying");
                let mut st = slot.lock();
                st.restarts += 1;
                st.last_error = Some(e);
            }
            Ok(conn) => {
                if let Some(f) = first.take() {
                    let _ = f.send(Ok(()));
                }
                slot.lock().last_error = None;
                let started = Instant::now();
                let why = serve(&shared, &slot, conn).await;
                if shared.stop.is_cancelled() {
                    break;
                }
                let planned = std::mem::take(&mut slot.lock().planned_restart);
                if planned {
                    // Rolling restart: replace at once, it is not a crash.
                    continue;
                }
                slot.lock().restarts += 1;
                if started.elapsed() > Duration::from_secs(60) {
                    backoff = Duration::from_millis(200);
                }
                tracing::warn!(item = %shared.item, slot = slot.index, reason = %why, backoff_ms = backoff.as_millis() as u64, "worker died; restarting");
            }
        }
        slot.lock().phase = Phase::Restarting;
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let jitter =
            Duration::from_millis((nanos as u64 ^ (slot.index as u64 * 7919)) % (backoff.as_millis() as u64 / 2 + 1));
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            _ = tokio::time::sleep(backoff + jitter) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    slot.lock().phase = Phase::Stopped;
}

/// Serves a connected worker until it exits, is killed or the item stops. Returns why it ended.
async fn serve(shared: &Arc<Shared>, slot: &Arc<Slot>, conn: Connection) -> String {
    let Connection { mut child, mut reader, mut writer, pid, runs_inbound } = conn;
    let (tx, mut rx) = mpsc::unbounded_channel::<ToWorker>();
    let write_task = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let Ok(frame) = protocol::encode(&msg) else { continue };
            if writer.send(frame).await.is_err() {
                break;
            }
        }
    });
    {
        let mut st = slot.lock();
        st.phase = Phase::Running;
        st.planned_restart = false;
        st.pid = pid;
        st.tx = Some(tx.clone());
        // Two calls per thread: the next one waits at the worker, so it never idles for
        // a round trip between calls.
        st.credits = shared.threads * 2;
        st.kill_reason = None;
        st.runs_inbound = runs_inbound;
        st.inbound_stopped = false;
    }
    shared.available.notify_waiters();
    tracing::info!(item = %shared.item, slot = slot.index, pid, "worker running");
    // The inbound loop holds input while the item does not take it.
    let gate_task = match shared.inbound.as_ref().and_then(Weak::upgrade).filter(|_| runs_inbound) {
        Some(item) => {
            let mut gate = item.accept_gate();
            let tx = tx.clone();
            Some(tokio::spawn(async move {
                loop {
                    let accepting = *gate.0.borrow_and_update();
                    if tx.send(ToWorker::Gate { accepting }).is_err() || gate.0.changed().await.is_err() {
                        break;
                    }
                }
            }))
        }
        None => None,
    };
    let mut watchdog = tokio::time::interval(Duration::from_millis(250));
    let why = loop {
        tokio::select! {
            frame = reader.next() => match frame {
                Some(Ok(f)) => handle_frame(shared, slot, &tx, pid, &f),
                _ => break "its connection closed".to_string(),
            },
            status = child.wait() => break format!("it exited ({})", status.map(|s| s.to_string()).unwrap_or_default()),
            _ = watchdog.tick() => {
                if let Some(reason) = check_health(shared, slot, pid) {
                    slot.lock().kill_reason = Some(reason.clone());
                    tracing::warn!(item = %shared.item, slot = slot.index, pid, %reason, "killing worker");
                    let _ = child.start_kill();
                }
            }
            _ = shared.stop.cancelled() => {
                let _ = tx.send(ToWorker::Shutdown);
                // Keep reading until the worker closes: its on_stop/on_teardown logs come now.
                let drained = tokio::time::timeout(Duration::from_secs(10), async {
                    while let Some(Ok(f)) = reader.next().await {
                        handle_frame(shared, slot, &tx, pid, &f);
                    }
                })
                .await;
                if drained.is_err() {
                    let _ = child.start_kill();
                }
                break "the item stopped".to_string();
            }
        }
    };
    let _ = child.start_kill();
    let status = child.wait().await.map(|s| s.to_string()).unwrap_or_default();
    // Frames the worker wrote before it died may still be unread (its exit can be seen
    // first): a CallDone among them means that call finished, and must not be taken for
    // the one that crashed the worker. The socket is closed now, so this ends at once.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(Ok(f)) = reader.next().await {
            handle_frame(shared, slot, &tx, pid, &f);
        }
    })
    .await;
    write_task.abort();
    if let Some(t) = gate_task {
        t.abort();
    }
    let (failed, reason) = {
        let mut st = slot.lock();
        st.tx = None;
        st.credits = 0;
        st.pid = 0;
        let reason = st.kill_reason.take().unwrap_or_else(|| format!("worker {pid} {why}, {status}"));
        (std::mem::take(&mut st.in_flight), reason)
    };
    // The oldest calls were running (one per thread, taken in order); the others were
    // waiting behind them and go back without counting as crashes.
    let mut failed: Vec<InFlight> = failed.into_values().collect();
    failed.sort_by_key(|c| c.since);
    for (i, call) in failed.into_iter().enumerate() {
        let kind = if i < shared.threads { FailureKind::WorkerCrashed } else { FailureKind::NotRun };
        let _ = call.reply.send(CallResult::host_failure(kind, "process", reason.clone()));
    }
    shared.available.notify_waiters();
    reason
}

/// Hang and memory checks; `Some(reason)` means kill the worker.
fn check_health(shared: &Shared, slot: &Slot, pid: u32) -> Option<String> {
    if let Some(limit) = shared.hang_timeout {
        let st = slot.lock();
        if let Some(oldest) = st.in_flight.values().map(|c| c.since).min()
            && oldest.elapsed() > limit
        {
            return Some(format!("a call ran longer than HangTimeout ({}s)", limit.as_secs()));
        }
    }
    if let Some(limit) = shared.memory_limit {
        let rss = rss_bytes(pid);
        if rss > limit {
            return Some(format!("resident memory {} MB exceeds MemoryLimitMB {}", rss / 1_048_576, limit / 1_048_576));
        }
    }
    None
}

/// Resident memory of a process in bytes (0 if unknown).
pub fn rss_bytes(pid: u32) -> u64 {
    if pid == 0 {
        return 0;
    }
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn level_of(l: u8) -> LogLevel {
    match l {
        0 => LogLevel::Trace,
        1 => LogLevel::Debug,
        3 => LogLevel::Warn,
        4 => LogLevel::Error,
        _ => LogLevel::Info,
    }
}

fn kind_code(k: ErrorKind) -> u8 {
    k as u8
}

fn handle_frame(shared: &Arc<Shared>, slot: &Arc<Slot>, tx: &mpsc::UnboundedSender<ToWorker>, pid: u32, frame: &[u8]) {
    let msg = match protocol::decode::<ToEngine>(frame) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(item = %shared.item, pid, error = %e, "bad frame from worker");
            return;
        }
    };
    match msg {
        ToEngine::CallDone { id, result } => {
            let call = {
                let mut st = slot.lock();
                st.credits += 1;
                st.in_flight.remove(&id)
            };
            if let Some(c) = call {
                let _ = c.reply.send(*result);
            }
            shared.available.notify_one();
        }
        ToEngine::Log { level, message } => log_line(&shared.item, Some(pid), level_of(level), &message),
        ToEngine::Count { metric, delta } => shared.stats.add_custom(&metric, delta),
        ToEngine::SendSync { id, caller, send, timeout_ms } => {
            let (shared, tx) = (shared.clone(), tx.clone());
            tokio::spawn(async move {
                let result = match shared.engine.upgrade() {
                    Some(engine) => {
                        let caller = caller
                            .map(|(h, b): (Header, Vec<u8>)| Envelope { header: Arc::new(h), body: Bytes::from(b) });
                        crate::engine::dispatch::call_sync(&engine, &shared.item, caller.as_ref(), send, timeout_ms)
                            .await
                    }
                    None => Err(hie_plugin_api::abi::PluginError::new(ErrorKind::Failed, "engine stopped")),
                };
                let _ = tx.send(ToWorker::Answer {
                    id,
                    result: result.map_err(|e| (kind_code(e.kind), e.message.to_string())),
                });
            });
        }
        ToEngine::DeferredReply { id, token, body } => {
            let (shared, tx) = (shared.clone(), tx.clone());
            tokio::spawn(async move {
                let result = match shared.engine.upgrade() {
                    Some(engine) => {
                        crate::engine::dispatch::deferred_reply(&engine, &token, body).await.map(|_| Vec::new())
                    }
                    None => Err(hie_plugin_api::abi::PluginError::new(ErrorKind::Failed, "engine stopped")),
                };
                let _ = tx.send(ToWorker::Answer {
                    id,
                    result: result.map_err(|e| (kind_code(e.kind), e.message.to_string())),
                });
            });
        }
        ToEngine::Submit { id, batch, state } => {
            let (shared, tx) = (shared.clone(), tx.clone());
            tokio::spawn(async move {
                let result = match (shared.engine.upgrade(), shared.inbound.as_ref().and_then(Weak::upgrade)) {
                    (Some(engine), Some(item)) => {
                        let batch = batch
                            .into_iter()
                            .map(|(body, origin, attributes)| crate::adapter::port::Inbound {
                                body: Bytes::from(body),
                                origin,
                                attributes,
                            })
                            .collect();
                        let replies = crate::engine::intake::intake_with_state(&engine, &item, batch, state).await;
                        // It reached its source and handed something in: whatever it
                        // reported is over (as for an adapter in the engine).
                        item.set_adapter_problem(None);
                        let answer: Vec<(Option<Vec<u8>>, bool, u64)> =
                            replies.into_iter().map(|r| (r.reply, r.accepted, r.id)).collect();
                        protocol::encode(&answer).map(|b| b.to_vec()).map_err(|e| (kind_code(ErrorKind::Failed), e))
                    }
                    _ => Err((kind_code(ErrorKind::Failed), "the item is stopping".to_string())),
                };
                let _ = tx.send(ToWorker::Answer { id, result });
            });
        }
        ToEngine::State { id, key } => {
            let (shared, tx) = (shared.clone(), tx.clone());
            tokio::spawn(async move {
                let value = match shared.engine.upgrade() {
                    Some(engine) => {
                        let (journal, item) = (engine.journal.clone(), shared.item.to_string());
                        tokio::task::spawn_blocking(move || journal.adapter_state(&item, &key)).await.ok().flatten()
                    }
                    None => None,
                };
                let result =
                    value.map(String::into_bytes).ok_or((kind_code(ErrorKind::Failed), "no state".to_string()));
                let _ = tx.send(ToWorker::Answer { id, result });
            });
        }
        ToEngine::AdapterProblem { problem } => {
            if let Some(item) = shared.inbound.as_ref().and_then(Weak::upgrade) {
                item.set_adapter_problem(problem);
            }
        }
        ToEngine::InboundStopped => {
            slot.lock().inbound_stopped = true;
            // The item is stopping: the first Shutdown ended the loop, this one the worker.
            if shared.stop.is_cancelled() {
                let _ = tx.send(ToWorker::Shutdown);
            }
        }
        ToEngine::Ready { .. } | ToEngine::InitFailed { .. } => {}
    }
}

impl Executor for MultiProcessExecutor {
    fn invoke(&self, env: Envelope) -> BoxFuture<'static, CallResult> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let id = shared.next_call.fetch_add(1, Ordering::Relaxed);
            let (reply_tx, reply_rx) = oneshot::channel();
            let mut reply_tx = Some(reply_tx);
            let start = id as usize;
            loop {
                let notified = shared.available.notified();
                if shared.stop.is_cancelled() {
                    return CallResult::host_failure(FailureKind::Failed, "process", "the item is stopping");
                }
                let n = shared.slots.len();
                for k in 0..n {
                    let slot = &shared.slots[(start + k) % n];
                    let mut st = slot.lock();
                    if st.phase != Phase::Running || st.credits == 0 || st.draining {
                        continue;
                    }
                    let Some(tx) = st.tx.clone() else { continue };
                    let call = ToWorker::Call { id, header: (*env.header).clone(), body: env.body.to_vec() };
                    if tx.send(call).is_err() {
                        continue;
                    }
                    st.credits -= 1;
                    if let Some(r) = reply_tx.take() {
                        st.in_flight.insert(id, InFlight { reply: r, since: Instant::now() });
                    }
                    break;
                }
                if reply_tx.is_none() {
                    break;
                }
                notified.await;
            }
            reply_rx.await.unwrap_or_else(|_| {
                CallResult::host_failure(FailureKind::WorkerCrashed, "process", "the worker went away during the call")
            })
        })
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let shared = self.shared.clone();
        let supervisors: Vec<_> = std::mem::take(&mut *self.supervisors.lock_unpoisoned());
        Box::pin(async move {
            shared.stop.cancel();
            shared.available.notify_waiters();
            for s in supervisors {
                let _ = s.await;
            }
        })
    }

    fn roll(
        &self,
        pack: Arc<crate::pack::LoadedPack>,
        adapter_pack: Option<Arc<crate::pack::LoadedPack>>,
    ) -> BoxFuture<'static, Result<(), String>> {
        let shared = self.shared.clone();
        Box::pin(async move { roll::roll(&shared, &pack, adapter_pack.as_ref()).await })
    }

    fn workers(&self) -> Vec<WorkerInfo> {
        self.shared
            .slots
            .iter()
            .map(|s| {
                let st = s.lock();
                WorkerInfo {
                    slot: s.index,
                    pid: st.pid,
                    state: match st.phase {
                        Phase::Starting => "starting",
                        Phase::Running => "running",
                        Phase::Restarting => "restarting",
                        Phase::Stopped => "stopped",
                    }
                    .to_string(),
                    restarts: st.restarts,
                    rss_bytes: rss_bytes(st.pid),
                }
            })
            .collect()
    }
}
