//! The engine: runs a production's items, moves messages between their queues and
//! commits every step to the journal.
//!
//! # The path of a message
//! 1. An inbound adapter (MLLP listener, file poller) hands bytes to [`Engine::intake`].
//! 2. The service item's code runs through its executor and returns an outcome: the
//!    targets to send to and the reply (ACK).
//! 3. The intake, the body and one header per target are committed in one transaction
//!    (group commit, durable to the production's `Durability`); only then are the
//!    entries pushed onto the targets' queues and the ACK sent.
//! 4. Each process/operation item runs `concurrency` consumer tasks: take an entry,
//!    run it through the executor, commit the outcome with everything it sends, push
//!    those entries, finish the lease. Retries keep the entry leased; crashes put it back.
//!
//! # Invariants
//! - Queues belong to the engine and outlive item restarts, swaps and reloads.
//! - Nothing is pushed onto a queue before the commit that makes it durable.
//! - Start order operations → processes → services; stop is the reverse, and every
//!   in-flight message is finished or put back before an item is considered stopped.

pub mod alerts;
pub mod call;
pub(crate) mod dispatch;
pub mod executor;
pub mod guard;
pub mod instance;
pub mod intake;
pub mod item;
mod operator;
mod outbound_slot;
pub mod pack_adapters;
mod pack_swap;
pub mod reconfigure;
mod services;
mod sink;
mod status;
mod transform;

pub use intake::{Inbound, IntakeReply};
pub use item::{ItemRuntime, ItemState};
pub use operator::OperatorError;
pub use pack_swap::SwapReport;
pub use reconfigure::ApplyReport;
pub use services::block_on_host;
pub use status::{ItemStatus, ProductionStatus};

use crate::journal::Journal;
use crate::lock::{LockExt, RwLockExt};
use crate::message::Header;
use crate::pack::PackRegistry;
use crate::production::diff::PlanDiff;
use crate::production::plan::{EngineSettings, ItemPlan, ProductionPlan};
use crate::queue::{Entry, Queue};
use hie_plugin_api::ItemKind;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::runtime::Handle;

/// How the engine was started.
#[derive(Clone, Debug)]
/// Where a send goes: the target item's queue and its settings in the running plan.
pub struct Target {
    /// The item's queue.
    pub queue: Arc<Queue>,
    /// The running plan, shared rather than copied: a target is looked up on every send.
    plan: Arc<ProductionPlan>,
    /// The item's index in `plan.items`.
    index: usize,
}

impl Target {
    /// The item's engine settings (queue, overflow, ordering key).
    pub fn settings(&self) -> &EngineSettings {
        &self.plan.items[self.index].engine
    }
}

pub struct EngineOptions {
    /// The data directory (journal, staged packs).
    pub data_dir: PathBuf,
    /// Where packs are searched (binary dir, --plugins, config plugin_dirs).
    pub plugin_dirs: Vec<PathBuf>,
    /// Skip items whose class no pack provides.
    pub skip_unresolved: bool,
    /// The `hie` executable, re-executed for worker processes.
    pub exe: PathBuf,
    /// Trusted pack signing keys (`--trusted-keys`): with them, packs outside the binary's
    /// directory load (at start and on reload) only when signed.
    pub trust: Option<Arc<crate::pack::Trust>>,
}

/// Production-level state, as IRIS names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ProductionState {
    /// Not running.
    Stopped,
    /// Starting items.
    Starting,
    /// Running.
    Running,
    /// Some item failed to start or keeps failing.
    Troubled,
    /// Stopping items.
    Stopping,
}

/// Errors starting or changing a production.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An item could not start (its `on_init`/`on_start` failed, its port is taken, ...).
    #[error("item '{item}' could not start: {reason}")]
    ItemStart {
        /// The item.
        item: String,
        /// Why.
        reason: String,
    },
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

/// Shared engine state; every task holds an `Arc` of it.
pub struct EngineInner {
    /// The journal.
    pub journal: Arc<Journal>,
    /// The tokio runtime everything async runs on.
    pub runtime: Handle,
    /// Startup options.
    pub options: EngineOptions,
    /// Queues by item name; created on first need and kept for the engine's life.
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    /// Running items by name.
    items: RwLock<HashMap<String, Arc<ItemRuntime>>>,
    /// The plan being run.
    plan: RwLock<Option<Arc<ProductionPlan>>>,
    /// The packs loaded so far.
    pub packs: RwLock<PackRegistry>,
    /// Sync calls waiting for replies, and deferred replies.
    calls: dispatch::Calls,
    /// Instances of transform classes.
    transforms: transform::Transforms,
    /// Production state.
    state: Mutex<ProductionState>,
    /// Pack load generation counter.
    pub pack_generation: AtomicU64,
    /// A handle to itself, for callbacks that must not keep the engine alive.
    me: std::sync::Weak<EngineInner>,
    /// `PurgeKeepDays` of the plan in force (0: no scheduled purge); a reload changes it,
    /// and the purge schedule, watching it, acts on a new value at once.
    purge_keep_days: tokio::sync::watch::Sender<u32>,
    /// Whether the purge schedule's task is running.
    purge_scheduled: AtomicBool,
    /// Pack directories a reloaded production added to those of the start-up.
    added_plugin_dirs: RwLock<Vec<PathBuf>>,
    /// Alerts raised (AlertOnError, QueueCountAlert, QueueWaitAlert, InactivityTimeout).
    pub alerts: alerts::Alerts,
    /// Whether the alert watch (queue counts and waits, inactivity) runs.
    watching: AtomicBool,
}

/// A handle to the engine (cheap to clone).
#[derive(Clone)]
pub struct Engine {
    /// Shared state.
    pub inner: Arc<EngineInner>,
}

impl Engine {
    /// Creates an engine over an open journal. Nothing runs until [`Engine::start`].
    pub fn new(journal: Arc<Journal>, runtime: Handle, options: EngineOptions, packs: PackRegistry) -> Engine {
        Engine {
            inner: Arc::new_cyclic(|me| EngineInner {
                me: me.clone(),
                journal,
                runtime,
                options,
                queues: Mutex::new(HashMap::new()),
                items: RwLock::new(HashMap::new()),
                plan: RwLock::new(None),
                packs: RwLock::new(packs),
                calls: dispatch::Calls::default(),
                transforms: transform::Transforms::default(),
                state: Mutex::new(ProductionState::Stopped),
                pack_generation: AtomicU64::new(1),
                purge_keep_days: tokio::sync::watch::Sender::new(0),
                purge_scheduled: AtomicBool::new(false),
                added_plugin_dirs: RwLock::new(Vec::new()),
                alerts: alerts::Alerts::default(),
                watching: AtomicBool::new(false),
            }),
        }
    }

    /// Recovers queued messages from the journal and starts every enabled item of `plan`:
    /// operations, then processes, then services. If an item fails to start, the ones
    /// already started are stopped again and the error is returned.
    pub async fn start(&self, plan: ProductionPlan) -> Result<(), EngineError> {
        let inner = &self.inner;
        inner.set_state(ProductionState::Starting);
        // Start-up is a reload from an empty production.
        let diff = PlanDiff::new(&[], &plan.items);
        let plan = Arc::new(plan);
        reconfigure::route(inner, &plan);
        let recovered = inner.recover().await?;
        if recovered > 0 {
            tracing::info!(messages = recovered, "recovered queued messages from the journal");
        }
        if let Err(e) = reconfigure::apply(inner, &reconfigure::Running::default(), &diff, None).await {
            inner.set_state(ProductionState::Stopped);
            return Err(e);
        }
        inner.set_state(ProductionState::Running);
        self.schedule_purge();
        if !inner.watching.swap(true, Ordering::SeqCst) {
            alerts::watch(Arc::downgrade(inner), &inner.runtime);
        }
        tracing::info!(production = %plan.name, items = plan.items.len(), "production running");
        Ok(())
    }

    /// Purges finished messages older than `PurgeKeepDays` once an hour, and at once
    /// when a reload changes the setting (0: none); suspended and unfinished messages
    /// are kept. One schedule per engine; it ends when the engine stops.
    fn schedule_purge(&self) {
        if self.inner.purge_scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let mut setting = self.inner.purge_keep_days.subscribe();
        self.inner.runtime.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    changed = setting.changed() => if changed.is_err() { return },
                }
                let keep_days = *setting.borrow_and_update();
                let Some(inner) = weak.upgrade() else { return };
                if inner.state() == ProductionState::Stopped {
                    inner.purge_scheduled.store(false, Ordering::SeqCst);
                    return;
                }
                if keep_days == 0 {
                    continue;
                }
                tracing::info!(keep_days, "scheduled purge (PurgeKeepDays)");
                if let Err(e) = (Engine { inner }).purge(keep_days, false, false).await {
                    tracing::error!(error = %e, "scheduled purge failed");
                }
            }
        });
    }

    /// Stops every item in reverse start order (services, processes, operations),
    /// finishing in-flight work, for at most the production's `ShutdownTimeout`. Items
    /// still busy then are left (named in the log): what they hold was committed as
    /// queued or in flight and is delivered again after the restart. Queued messages
    /// stay in the journal.
    pub async fn stop(&self) {
        let inner = &self.inner;
        inner.set_state(ProductionState::Stopping);
        let items: Vec<Arc<ItemRuntime>> = inner.items.read_unpoisoned().values().cloned().collect();
        let timeout = inner.plan().map_or(crate::production::plan::DEFAULT_SHUTDOWN_TIMEOUT, |p| p.shutdown_timeout);
        let stopping = async {
            for kind in [ItemKind::Service, ItemKind::Process, ItemKind::Operation] {
                let stopping: Vec<_> = items.iter().filter(|i| i.plan.kind == kind).cloned().collect();
                let futs = stopping.iter().map(|i| i.stop(inner));
                futures::future::join_all(futs).await;
            }
        };
        if tokio::time::timeout(timeout, stopping).await.is_err() {
            let busy: Vec<String> =
                items.iter().filter(|i| i.queue.in_flight() > 0).map(|i| i.plan.name.to_string()).collect();
            tracing::warn!(
                timeout_s = timeout.as_secs(),
                items = ?busy,
                "ShutdownTimeout reached: leaving items still busy; their messages are delivered again after the restart"
            );
        }
        inner.items.write_unpoisoned().clear();
        inner.transforms.clear();
        if let Err(e) = inner.journal.flush().await {
            tracing::error!(error = %e, "could not flush the journal on stop");
        }
        inner.set_state(ProductionState::Stopped);
        tracing::info!("production stopped");
    }

    /// Pauses an item: it takes no new messages; in-flight work finishes. `false` if unknown.
    pub fn pause(&self, item: &str) -> bool {
        match self.inner.item(item) {
            Some(i) => {
                i.pause();
                true
            }
            None => false,
        }
    }

    /// Resumes a paused item. `false` if unknown.
    pub fn resume(&self, item: &str) -> bool {
        match self.inner.item(item) {
            Some(i) => {
                i.resume();
                true
            }
            None => false,
        }
    }

    /// Takes messages in for a service (used by inbound adapters and tests).
    pub async fn intake(&self, item: &str, messages: Vec<Inbound>) -> Vec<IntakeReply> {
        match self.inner.item(item) {
            Some(rt) => intake::intake(&self.inner, &rt, messages).await,
            None => messages.iter().map(|m| intake::refuse(m, &format!("no running item {item}"))).collect(),
        }
    }

    /// A status snapshot for the API.
    pub fn status(&self) -> ProductionStatus {
        status::snapshot(&self.inner)
    }

    /// The running plan.
    pub fn plan(&self) -> Option<Arc<ProductionPlan>> {
        self.inner.plan()
    }

    /// The running item called `name`.
    pub fn item(&self, name: &str) -> Option<Arc<ItemRuntime>> {
        self.inner.item(name)
    }
}

impl EngineInner {
    /// Where packs are searched: the start-up's directories, then those reloads added.
    pub fn plugin_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = self.options.plugin_dirs.clone();
        dirs.extend(self.added_plugin_dirs.read_unpoisoned().iter().cloned());
        dirs
    }

    /// Adds the directories of `wanted` not searched yet; returns them.
    pub(crate) fn add_plugin_dirs(&self, wanted: &[PathBuf]) -> Vec<PathBuf> {
        let key = |d: &PathBuf| d.canonicalize().unwrap_or_else(|_| d.clone());
        let known: HashSet<PathBuf> = self.plugin_dirs().iter().map(key).collect();
        let mut added = self.added_plugin_dirs.write_unpoisoned();
        let mut new = Vec::new();
        for d in wanted {
            if d.is_dir() && !known.contains(&key(d)) && !new.iter().any(|n: &PathBuf| key(n) == key(d)) {
                new.push(d.clone());
            }
        }
        added.extend(new.iter().cloned());
        new
    }

    /// Replaces the running plan (routing sees the new items at once). When its
    /// `SearchFields` differ, the search index is brought up to date in the background.
    pub(crate) fn set_plan(&self, plan: Option<Arc<ProductionPlan>>) {
        let fields = plan.as_ref().map(|p| p.search_fields.clone());
        let keep_days = plan.as_ref().map_or(0, |p| p.purge_keep_days);
        self.purge_keep_days.send_if_modified(|days| std::mem::replace(days, keep_days) != keep_days);
        let old = std::mem::replace(&mut *self.plan.write_unpoisoned(), plan);
        if let Some(fields) = fields
            && old.is_none_or(|o| o.search_fields != fields)
        {
            self.journal.want_search_fields(&fields);
            let journal = self.journal.clone();
            self.runtime.spawn(async move {
                match journal.sync_search_fields().await {
                    // Quiet on a fresh journal, where a new path has nothing to catch up on.
                    Ok(r) if r.bodies > 0 || !r.dropped.is_empty() => tracing::info!(
                        added = ?r.added, dropped = ?r.dropped, bodies = r.bodies, fields = r.fields,
                        "search index brought up to date with SearchFields"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot index stored messages for SearchFields; searches on the new paths scan bodies"),
                }
            });
        }
    }

    /// Registers a running item.
    pub(crate) fn insert_item(&self, rt: Arc<ItemRuntime>) {
        self.items.write_unpoisoned().insert(rt.plan.name.to_string(), rt);
    }

    /// Drops idle transform instances (their pack may have been replaced).
    pub(crate) fn clear_transforms(&self) {
        self.transforms.clear();
    }

    /// Forgets a stopped item.
    pub(crate) fn remove_item(&self, name: &str) {
        self.items.write_unpoisoned().remove(name);
    }

    /// Points the plan's items at the packs their runtimes run now (after a pack swap).
    pub(crate) fn refresh_plan_packs(&self) {
        let Some(plan) = self.plan() else { return };
        let mut updated = (*plan).clone();
        for item in &mut updated.items {
            if let Some(rt) = self.item(&item.name) {
                item.pack = rt.pack();
                item.adapter_pack = rt.adapter_pack();
            }
        }
        self.set_plan(Some(Arc::new(updated)));
    }

    pub(crate) fn set_state(&self, s: ProductionState) {
        *self.state.lock_unpoisoned() = s;
    }

    /// Production state.
    pub fn state(&self) -> ProductionState {
        *self.state.lock_unpoisoned()
    }

    /// The running plan.
    pub fn plan(&self) -> Option<Arc<ProductionPlan>> {
        self.plan.read_unpoisoned().clone()
    }

    /// A running item.
    pub fn item(&self, name: &str) -> Option<Arc<ItemRuntime>> {
        self.items.read_unpoisoned().get(name).cloned()
    }

    /// Every running item.
    pub fn items(&self) -> Vec<Arc<ItemRuntime>> {
        self.items.read_unpoisoned().values().cloned().collect()
    }

    /// The queue of item `name`, created (and configured from `plan`) if needed.
    pub fn queue_for(&self, name: &str, plan: Option<&ItemPlan>) -> Arc<Queue> {
        let mut queues = self.queues.lock_unpoisoned();
        if plan.is_none() {
            // The hot path (every send): no key allocation when the queue exists.
            if let Some(q) = queues.get(name) {
                return q.clone();
            }
        }
        let q = queues
            .entry(name.to_string())
            .or_insert_with(|| {
                let (kind, size) = plan
                    .map(|p| (p.engine.queue_type, p.engine.queue_size))
                    .unwrap_or((crate::queue::QueueType::Fifo, 0));
                Queue::new(name, kind, size)
            })
            .clone();
        if let Some(p) = plan {
            q.reconfigure(p.engine.queue_type, p.engine.queue_size);
            q.set_window(p.engine.queue_window, self.refiller());
        }
        q
    }

    /// Reads a FIFO queue's spilled entries back from the journal.
    fn refiller(&self) -> crate::queue::Refiller {
        let me = self.me.clone();
        Arc::new(move |queue: Arc<Queue>, resident, want| {
            let Some(engine) = me.upgrade() else { return };
            let runtime = engine.runtime.clone();
            runtime.spawn(async move {
                let journal = engine.journal.clone();
                let name = queue.name().to_string();
                let order = queue.kind();
                let loaded =
                    tokio::task::spawn_blocking(move || journal.pending_for(&name, order, &resident, want)).await;
                match loaded {
                    Ok(Ok((rows, exhausted))) => {
                        let entries =
                            rows.into_iter().map(|r| Entry { header: Arc::new(r.header), body: None, crashes: 0 }).collect();
                        queue.refill(entries, exhausted);
                    }
                    other => {
                        tracing::error!(queue = %queue.name(), error = ?other.err(), "cannot read queued messages back from the journal; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        queue.refill(Vec::new(), false);
                    }
                }
            });
        })
    }

    /// Item `name` as a send target, if the current plan has that item.
    pub fn target(&self, name: &str) -> Option<Target> {
        let plan = self.plan()?;
        let index = plan.items.iter().position(|i| &*i.name == name)?;
        Some(Target { queue: self.queue_for(name, None), plan, index })
    }

    /// Puts every Queued/Delivered message back in its target's queue. Returns how many.
    /// FIFO queues load only their window; the rest stays in the journal until they drain.
    async fn recover(&self) -> Result<usize, EngineError> {
        let journal = self.journal.clone();
        let counts = tokio::task::spawn_blocking(move || journal.pending_counts())
            .await
            .map_err(|e| crate::journal::JournalError::Store(e.to_string()))??;
        let mut total = 0;
        for (target, count) in counts {
            let q = self.queue_for(&target, None);
            let limit = q.load_limit();
            let order = q.kind();
            let journal = self.journal.clone();
            let name = target.clone();
            let (rows, _) =
                tokio::task::spawn_blocking(move || journal.pending_for(&name, order, &Default::default(), limit))
                    .await
                    .map_err(|e| crate::journal::JournalError::Store(e.to_string()))??;
            let loaded = rows.len();
            for row in rows {
                let header: Header = row.header;
                q.force_reserve().push(Entry { header: Arc::new(header), body: None, crashes: 0 });
            }
            q.add_spilled((count as usize).saturating_sub(loaded));
            total += count as usize;
        }
        Ok(total)
    }
}
