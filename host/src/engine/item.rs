//! A running item: its executor, its consumer tasks or inbound adapter, its state and
//! counters.

use super::EngineInner;
use super::executor::{AsyncExecutor, Executor, InstanceFactory, ThreadExecutor};
use super::instance::Instance;
use super::outbound_slot::OutboundSlot;
use super::services::EngineServices;
use crate::adapter::{InboundHandle, OutboundAdapter};
use crate::lock::{LockExt, RwLockExt};
use crate::message::Envelope;
use crate::production::plan::{ExecutionMode, ItemPlan};
use crate::queue::Queue;
use hie_plugin_api::ItemKind;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// An item's state as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ItemState {
    /// Being started.
    Starting,
    /// Taking and processing messages.
    Running,
    /// Paused by an operator or a reply action: takes nothing new.
    Paused,
    /// Restarting after a crash.
    Restarting,
    /// Could not be (re)started.
    Failed,
    /// Circuit breaker open: messages stay queued until the cool-down probe succeeds.
    CircuitOpen,
    /// Disabled in the production.
    Disabled,
    /// Stopping: finishing in-flight work.
    Stopping,
    /// Stopped.
    Stopped,
}

/// Counters for the API and /metrics.
#[derive(Default, Debug)]
pub struct ItemStats {
    /// Messages finished (any final status).
    pub processed: AtomicU64,
    /// Messages that ended in Error (or failed intake).
    pub errors: AtomicU64,
    /// Retries made.
    pub retries: AtomicU64,
    /// Messages discarded (overflow drop, discard outcome).
    pub discarded: AtomicU64,
    /// Plugin-defined counters.
    pub custom: Mutex<BTreeMap<String, u64>>,
}

impl ItemStats {
    /// Adds to a plugin-defined counter.
    pub fn add_custom(&self, name: &str, delta: u64) {
        *self.custom.lock_unpoisoned().entry(name.to_string()).or_default() += delta;
    }
}

/// A running item.
pub struct ItemRuntime {
    /// The item's validated configuration.
    pub plan: ItemPlan,
    /// Its queue (engine-owned; shared with whoever sends to it).
    pub queue: Arc<Queue>,
    /// What runs its code; replaced on hot swap.
    executor: RwLock<Option<Arc<dyn Executor>>>,
    /// Current state.
    state: Mutex<ItemState>,
    /// Why the state is what it is (last failure, pause reason).
    state_note: Mutex<String>,
    /// Counters.
    pub stats: Arc<ItemStats>,
    /// Cancelled to stop the consumer tasks.
    stop: CancellationToken,
    /// Consumer tasks.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Outbound adapter (operations), swapped between calls when its pack changes.
    pub outbound: Option<Arc<OutboundSlot>>,
    /// Inbound adapter (services).
    inbound: Mutex<Option<InboundHandle>>,
    /// Whether the item takes input now (Running), for its inbound adapter's gate.
    accepting: tokio::sync::watch::Sender<bool>,
    /// A problem the inbound adapter reports with its source (cannot connect, ...).
    adapter_problem: Mutex<Option<(String, std::time::Instant)>>,
    /// Circuit breaker (CircuitBreakerThreshold; disabled at 0).
    pub breaker: super::guard::Breaker,
    /// Rate limit (RateLimit), if any.
    pub rate_limit: Option<super::guard::RateLimit>,
    /// When this runtime started (µs since the epoch): unchanged across reloads that do
    /// not touch the item.
    pub started_us: i64,
    /// The pack the item's code runs from now (changes on a pack swap; `plan.pack` is
    /// the one it started with).
    pack: RwLock<Arc<crate::pack::LoadedPack>>,
    /// The pack its adapter runs from now, when a pack provides it (changes on a swap of
    /// that pack; `plan.adapter_pack` is the one it started with).
    adapter_pack: RwLock<Option<Arc<crate::pack::LoadedPack>>>,
}

impl ItemRuntime {
    /// Builds the item's executor and adapters and starts it (unless disabled).
    pub async fn start(engine: &Arc<EngineInner>, plan: ItemPlan) -> Result<Arc<ItemRuntime>, super::EngineError> {
        let queue = engine.queue_for(&plan.name, Some(&plan));
        let outbound = outbound_for(engine, &plan, plan.adapter_pack.as_ref())
            .map_err(|reason| super::EngineError::ItemStart { item: plan.name.to_string(), reason })?
            .map(|a| Arc::new(OutboundSlot::new(a)));
        let stats = Arc::new(ItemStats::default());
        let rt = Arc::new(ItemRuntime {
            queue,
            executor: RwLock::new(None),
            state: Mutex::new(ItemState::Starting),
            state_note: Mutex::new(String::new()),
            stats,
            stop: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            outbound,
            inbound: Mutex::new(None),
            accepting: tokio::sync::watch::Sender::new(false),
            adapter_problem: Mutex::new(None),
            breaker: super::guard::Breaker::new(plan.engine.breaker_threshold, plan.engine.breaker_cooldown),
            rate_limit: plan.engine.rate_limit.map(super::guard::RateLimit::new),
            pack: RwLock::new(plan.pack.clone()),
            adapter_pack: RwLock::new(plan.adapter_pack.clone()),
            started_us: crate::message::now_us(),
            plan,
        });
        if !rt.plan.enabled {
            rt.set_state(ItemState::Disabled, "disabled in the production");
            return Ok(rt);
        }
        let err = |reason: String| super::EngineError::ItemStart { item: rt.plan.name.to_string(), reason };
        let executor = build_executor(engine, &rt, rt.pack()).await.map_err(err)?;
        *rt.executor.write_unpoisoned() = Some(executor);
        match rt.plan.kind {
            ItemKind::Service => {
                let handle = start_inbound(engine, &rt, rt.adapter_pack())
                    .await
                    .map_err(|e| super::EngineError::ItemStart { item: rt.plan.name.to_string(), reason: e });
                match handle {
                    Ok(h) => *rt.inbound.lock_unpoisoned() = h,
                    Err(e) => {
                        if let Some(ex) = rt.take_executor() {
                            ex.shutdown().await;
                        }
                        return Err(e);
                    }
                }
            }
            ItemKind::Process | ItemKind::Operation => {
                let mut tasks = rt.tasks.lock_unpoisoned();
                for slot in 0..rt.plan.engine.concurrency.max(1) {
                    let engine = engine.clone();
                    let item = rt.clone();
                    tasks.push(engine.runtime.clone().spawn(super::dispatch::consume(engine, item, slot)));
                }
            }
        }
        rt.set_state(ItemState::Running, "");
        tracing::info!(item = %rt.plan.name, class = %rt.plan.class, mode = rt.plan.engine.execution_mode.name(), "item started");
        Ok(rt)
    }

    /// Stops taking messages, finishes in-flight work and shuts the executor down.
    pub async fn stop(&self, engine: &Arc<EngineInner>) {
        if matches!(self.state(), ItemState::Stopped | ItemState::Disabled) {
            self.set_state(ItemState::Stopped, "");
            return;
        }
        self.set_state(ItemState::Stopping, "");
        let inbound = self.inbound.lock_unpoisoned().take();
        if let Some(h) = inbound {
            h.stop().await;
        }
        self.stop.cancel();
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock_unpoisoned());
        for t in tasks {
            let _ = t.await;
        }
        // Consumers do not wait for their last commits; these make sure what they sent on
        // is queued at its targets before those are stopped in turn.
        if let Err(e) = engine.journal.flush().await {
            tracing::warn!(item = %self.plan.name, error = %e, "could not flush the journal while stopping");
        }
        if let Some(ex) = self.take_executor() {
            ex.shutdown().await;
        }
        if let Some(o) = &self.outbound {
            o.close().await;
        }
        self.set_state(ItemState::Stopped, "");
        tracing::info!(item = %self.plan.name, "item stopped");
    }

    /// The pack the item runs now.
    pub fn pack(&self) -> Arc<crate::pack::LoadedPack> {
        self.pack.read_unpoisoned().clone()
    }

    /// Records that the item now runs `pack`.
    pub fn set_pack(&self, pack: Arc<crate::pack::LoadedPack>) {
        *self.pack.write_unpoisoned() = pack;
    }

    /// The pack the item's adapter runs from now, when a pack provides it.
    pub fn adapter_pack(&self) -> Option<Arc<crate::pack::LoadedPack>> {
        self.adapter_pack.read_unpoisoned().clone()
    }

    /// Records that the item's adapter now runs from `pack` (multi_process items, whose
    /// workers were rolled onto it).
    pub fn set_adapter_pack(&self, pack: Option<Arc<crate::pack::LoadedPack>>) {
        *self.adapter_pack.write_unpoisoned() = pack;
    }

    /// Builds (but does not install) the outbound adapter of `pack` for this item, for a
    /// swap of its adapter pack; `None` where no outbound adapter runs in this process.
    pub fn build_outbound_with(
        &self,
        engine: &Arc<EngineInner>,
        pack: &Arc<crate::pack::LoadedPack>,
    ) -> Result<Option<Arc<dyn OutboundAdapter>>, String> {
        if self.outbound.is_none() {
            return Ok(None);
        }
        outbound_for(engine, &self.plan, Some(pack))
    }

    /// Moves the item's adapter onto `pack`: an outbound adapter built for it by
    /// [`ItemRuntime::build_outbound_with`] takes the next call; an inbound adapter is
    /// stopped and started again on `pack` (its senders see the gap, which is returned).
    /// If the new inbound adapter cannot start, the old one is started again and the
    /// error returned.
    pub async fn move_adapter(
        self: &Arc<Self>,
        engine: &Arc<EngineInner>,
        pack: Arc<crate::pack::LoadedPack>,
        outbound: Option<Arc<dyn OutboundAdapter>>,
    ) -> Result<Option<std::time::Duration>, String> {
        if let (Some(slot), Some(new)) = (&self.outbound, outbound) {
            slot.replace(new, &engine.runtime, &self.plan.name);
        }
        let old = self.adapter_pack();
        self.set_adapter_pack(Some(pack.clone()));
        if self.plan.kind != ItemKind::Service || !self.plan.enabled {
            return Ok(None);
        }
        let since = std::time::Instant::now();
        let running = self.inbound.lock_unpoisoned().take();
        if let Some(h) = running {
            h.stop().await;
        }
        match start_inbound(engine, self, Some(pack)).await {
            Ok(h) => {
                *self.inbound.lock_unpoisoned() = h;
                let gap = since.elapsed();
                tracing::info!(item = %self.plan.name, gap_ms = gap.as_millis() as u64, "inbound adapter restarted on the new pack");
                Ok(Some(gap))
            }
            Err(e) => {
                self.set_adapter_pack(old.clone());
                if let Ok(h) = start_inbound(engine, self, old).await {
                    *self.inbound.lock_unpoisoned() = h;
                }
                Err(e)
            }
        }
    }

    /// Builds (but does not install) an executor running this item on `pack`.
    pub async fn build_executor_with(
        self: &Arc<Self>,
        engine: &Arc<EngineInner>,
        pack: Arc<crate::pack::LoadedPack>,
    ) -> Result<Arc<dyn Executor>, String> {
        build_executor(engine, self, pack).await
    }

    /// The current executor.
    pub fn executor(&self) -> Option<Arc<dyn Executor>> {
        self.executor.read_unpoisoned().clone()
    }

    fn take_executor(&self) -> Option<Arc<dyn Executor>> {
        self.executor.write_unpoisoned().take()
    }

    /// Replaces the executor (hot swap); returns the old one for the caller to drain.
    pub fn swap_executor(&self, new: Arc<dyn Executor>) -> Option<Arc<dyn Executor>> {
        self.executor.write_unpoisoned().replace(new)
    }

    /// The state.
    pub fn state(&self) -> ItemState {
        self.state.lock_unpoisoned().clone()
    }

    /// The note explaining the state (an adapter's problem with its source, if any).
    pub fn state_note(&self) -> String {
        let note = self.state_note.lock_unpoisoned().clone();
        match self.adapter_problem.lock_unpoisoned().as_ref() {
            Some((problem, _)) if note.is_empty() => format!("adapter: {problem}"),
            Some((problem, _)) => format!("{note}; adapter: {problem}"),
            None => note,
        }
    }

    /// The gate an inbound adapter waits on: open while the item takes input.
    pub fn accept_gate(&self) -> crate::adapter::port::AcceptGate {
        crate::adapter::port::AcceptGate(self.accepting.subscribe())
    }

    /// Records (or clears) the inbound adapter's problem with its source. A problem that
    /// follows another keeps the time the first began: the source has been away since.
    pub fn set_adapter_problem(&self, problem: Option<String>) {
        let mut p = self.adapter_problem.lock_unpoisoned();
        *p = match (problem, p.take()) {
            (Some(text), Some((_, since))) => Some((text, since)),
            (Some(text), None) => Some((text, std::time::Instant::now())),
            (None, _) => None,
        };
    }

    /// The inbound adapter's problem with its source and since when, if it has one.
    pub fn adapter_problem(&self) -> Option<(String, std::time::Instant)> {
        self.adapter_problem.lock_unpoisoned().clone()
    }

    /// Sets the state with a reason (and opens or closes the inbound adapter's gate).
    pub fn set_state(&self, s: ItemState, note: &str) {
        self.accepting.send_replace(s == ItemState::Running);
        *self.state.lock_unpoisoned() = s;
        *self.state_note.lock_unpoisoned() = note.to_string();
    }

    /// Pauses the item: its queue hands out nothing and its inbound adapter stops reading.
    pub fn pause(&self) {
        self.queue.pause();
        if matches!(self.state(), ItemState::Running | ItemState::CircuitOpen) {
            self.set_state(ItemState::Paused, "paused by operator");
        }
    }

    /// Resumes a paused item.
    pub fn resume(&self) {
        self.queue.resume();
        if self.state() == ItemState::Paused {
            self.set_state(ItemState::Running, "");
        }
    }

    /// Whether the item should take new input (services check this before reading).
    pub fn accepting(&self) -> bool {
        self.state() == ItemState::Running
    }

    /// The cancellation token consumers watch.
    pub fn stop_token(&self) -> &CancellationToken {
        &self.stop
    }
}

/// Starts a service's inbound adapter behind the adapter port: the adapter sees the
/// item's settings, its intake sink, its gate and a stop signal, nothing else.
async fn start_inbound(
    engine: &Arc<EngineInner>,
    rt: &Arc<ItemRuntime>,
    adapter_pack: Option<Arc<crate::pack::LoadedPack>>,
) -> Result<Option<InboundHandle>, String> {
    if rt.plan.adapter.is_empty() {
        return Ok(None);
    }
    let ctx = crate::adapter::InboundContext {
        item: rt.plan.name.clone(),
        settings: crate::adapter::AdapterSettings::new(&rt.plan),
        sink: Arc::new(super::sink::ItemSink { engine: engine.clone(), item: rt.clone() }),
        gate: crate::adapter::port::AcceptGate(rt.accepting.subscribe()),
        stop: CancellationToken::new(),
        runtime: engine.runtime.clone(),
    };
    if let Some(pack) = &adapter_pack {
        // In multi_process mode the loop runs in a worker process (worker/inbound.rs).
        if rt.plan.engine.execution_mode == ExecutionMode::MultiProcess {
            return Ok(Some(InboundHandle::new(ctx.stop, Vec::new())));
        }
        return super::pack_adapters::start_inbound(pack, &rt.plan.adapter, ctx).map(Some);
    }
    match crate::adapter::start_host_inbound(&rt.plan.adapter, ctx).await? {
        Some(handle) => Ok(Some(handle)),
        None => Err(format!("class {} needs adapter {:?}, which nothing provides", rt.plan.class, rt.plan.adapter)),
    }
}

/// The outbound adapter of an operation: the host's, or its adapter pack's. In
/// `multi_process` mode a pack's is made in the worker processes instead, where the
/// calls run.
fn outbound_for(
    engine: &Arc<EngineInner>,
    plan: &ItemPlan,
    adapter_pack: Option<&Arc<crate::pack::LoadedPack>>,
) -> Result<Option<Arc<dyn crate::adapter::OutboundAdapter>>, String> {
    if plan.adapter.is_empty() {
        return Ok(None);
    }
    if let Some(pack) = adapter_pack {
        if plan.kind != ItemKind::Operation || plan.engine.execution_mode == ExecutionMode::MultiProcess {
            return Ok(None);
        }
        return super::pack_adapters::outbound(pack, &plan.adapter, &plan.name, &plan.settings).map(Some);
    }
    crate::adapter::host_outbound(&plan.adapter, &crate::adapter::AdapterSettings::new(plan), engine.runtime.clone())
}

/// The host services and instance factory for an item running in this process, on `pack`.
pub fn instance_factory(
    engine: &Arc<EngineInner>,
    rt: &ItemRuntime,
    pack: Arc<crate::pack::LoadedPack>,
) -> InstanceFactory {
    let services = Arc::new(EngineServices {
        engine: Arc::downgrade(engine),
        item: rt.plan.name.clone(),
        settings: Arc::new(rt.plan.settings.clone()),
        outbound: rt.outbound.clone(),
        counters: rt.stats.clone(),
        warned_intake_wait: Default::default(),
    });
    let class = rt.plan.class.clone();
    Arc::new(move || Instance::create(&pack, &class, services.clone()))
}

/// Builds the executor for the item's execution mode.
async fn build_executor(
    engine: &Arc<EngineInner>,
    rt: &Arc<ItemRuntime>,
    pack: Arc<crate::pack::LoadedPack>,
) -> Result<Arc<dyn Executor>, String> {
    let factory = instance_factory(engine, rt, pack.clone());
    let n = rt.plan.engine.concurrency.max(1);
    let name = rt.plan.name.to_string();
    let mode = rt.plan.engine.execution_mode;
    let built: Result<Arc<dyn Executor>, String> = match mode {
        ExecutionMode::Async => {
            // Instance creation runs plugin code (on_init may block): keep it off the workers.
            tokio::task::spawn_blocking(move || AsyncExecutor::start(&factory, n))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map(|e| Arc::new(e) as Arc<dyn Executor>)
        }
        ExecutionMode::ThreadPool | ExecutionMode::SingleProcess => {
            let threads = if mode == ExecutionMode::SingleProcess { 1 } else { n };
            let hang = rt.plan.engine.hang_timeout;
            let runtime = engine.runtime.clone();
            tokio::task::spawn_blocking(move || ThreadExecutor::start(&factory, &name, threads, hang, &runtime))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map(|e| Arc::new(e) as Arc<dyn Executor>)
        }
        ExecutionMode::MultiProcess => super::executor::multi_process::start(engine, rt, &pack).await,
    };
    built
}

/// Builds an envelope for a leased entry, reading the body from the journal if it is not cached.
pub async fn envelope_of(engine: &Arc<EngineInner>, entry: &crate::queue::Entry) -> Result<Envelope, String> {
    if let Some(b) = &entry.body {
        return Ok(Envelope { header: entry.header.clone(), body: b.clone() });
    }
    let journal = engine.journal.clone();
    let id = entry.header.body_id;
    let body = tokio::task::spawn_blocking(move || journal.load_body(id)).await.map_err(|e| e.to_string())?;
    body.map(|b| Envelope { header: entry.header.clone(), body: b }).map_err(|e| e.to_string())
}
