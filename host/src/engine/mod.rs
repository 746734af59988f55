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
mod pack_store;
mod pack_swap;
pub mod probe;
pub mod reconfigure;
mod schedules;
mod services;
mod sink;
mod status;
mod topology;
mod transform;

pub use intake::{Inbound, IntakeReply};
pub use item::{ItemRuntime, ItemState};
pub use operator::OperatorError;
pub use pack_store::PackStore;
pub use pack_swap::SwapReport;
pub use reconfigure::ApplyReport;
pub use services::block_on_host;
pub use status::{ItemStatus, ProductionStatus};

use crate::journal::Journal;
use crate::message::Header;
use crate::production::diff::PlanDiff;
use crate::production::plan::{EngineSettings, ItemPlan, ProductionPlan};
use crate::queue::{Entry, Queue};
use hie_plugin_api::ItemKind;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::runtime::Handle;

/// Where a send goes: the target item's queue and its settings in the running plan.
#[derive(Clone)]
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

    /// The item's `OrderingKey` value for `body`, read with the session's schema
    /// `category`; `None` when the item has no `OrderingKey`.
    pub fn ordering_key(&self, body: &[u8], category: Option<&str>) -> Option<String> {
        self.plan.paths.ordering_key(&self.plan.items[self.index].name, body, category)
    }
}

/// How the engine was started.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// The data directory (journal, staged packs).
    pub data_dir: PathBuf,
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
    /// A changed item did not stop within the production's `UpdateTimeout`: the reload
    /// was rolled back; the item restarts as it was once its message in hand is done.
    #[error(
        "item '{item}' did not finish its message in hand within UpdateTimeout ({seconds} s): the update was rolled back; the item restarts on its previous configuration once that message is done"
    )]
    UpdateTimeout {
        /// The item.
        item: String,
        /// The production's `UpdateTimeout`.
        seconds: u64,
    },
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

/// Shared engine state; every task holds an `Arc` of it. Each field is one concern
/// behind its own handle; none of them knows the others.
pub struct EngineInner {
    /// The journal: every message and every queue entry is durable here first.
    pub journal: Arc<Journal>,
    /// The tokio runtime everything async runs on.
    pub runtime: Handle,
    /// How the engine was started (data directory, executable, trust).
    pub options: EngineOptions,
    /// What runs: the plan in force, item runtimes, queues, production state.
    topology: topology::Topology,
    /// The packs loaded, their load generations and the directories searched.
    pub packs: PackStore,
    /// Sync calls waiting for replies, and deferred replies.
    calls: dispatch::Calls,
    /// Idle instances of transform classes, reused across messages.
    transforms: transform::Transforms,
    /// Alerts raised (AlertOnError, QueueCountAlert, QueueWaitAlert, InactivityTimeout).
    pub alerts: alerts::Alerts,
    /// The purge schedule and the alert watch.
    schedules: schedules::Schedules,
    /// A handle to itself, for callbacks that must not keep the engine alive.
    me: std::sync::Weak<EngineInner>,
}

/// A handle to the engine (cheap to clone).
#[derive(Clone)]
pub struct Engine {
    /// Shared state.
    pub inner: Arc<EngineInner>,
}

impl Engine {
    /// Creates an engine over an open journal. Nothing runs until [`Engine::start`].
    pub fn new(journal: Arc<Journal>, runtime: Handle, options: EngineOptions, packs: PackStore) -> Engine {
        Engine {
            inner: Arc::new_cyclic(|me| EngineInner {
                me: me.clone(),
                journal,
                runtime,
                options,
                topology: topology::Topology::default(),
                packs,
                calls: dispatch::Calls::default(),
                transforms: transform::Transforms::default(),
                alerts: alerts::Alerts::default(),
                schedules: schedules::Schedules::default(),
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
        schedules::start(inner);
        tracing::info!(production = %plan.name, items = plan.items.len(), "production running");
        Ok(())
    }

    /// Stops every item in reverse start order (services, processes, operations),
    /// finishing in-flight work, for at most the production's `ShutdownTimeout`. Items
    /// still busy then are left (named in the log): what they hold was committed as
    /// queued or in flight and is delivered again after the restart. Queued messages
    /// stay in the journal.
    pub async fn stop(&self) {
        let inner = &self.inner;
        inner.set_state(ProductionState::Stopping);
        let items = inner.items();
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
        inner.topology.clear_items();
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
    /// Replaces the running plan (routing sees the new items at once). When its
    /// `SearchFields` differ, the search index is brought up to date in the background.
    pub(crate) fn set_plan(&self, plan: Option<Arc<ProductionPlan>>) {
        let fields = plan.as_ref().map(|p| (p.search_fields.clone(), p.paths.clone()));
        self.schedules.set_purge_keep_days(plan.as_ref().map_or(0, |p| p.purge_keep_days));
        let old = self.topology.replace_plan(plan);
        if let Some((fields, paths)) = fields {
            let changed = old.is_none_or(|o| o.search_fields != fields);
            // The new schemas serve scanning searches even when the paths stay.
            self.journal.want_search_fields(paths);
            if !changed {
                return;
            }
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
        self.topology.insert_item(rt);
    }

    /// Drops idle transform instances (their pack may have been replaced).
    pub(crate) fn clear_transforms(&self) {
        self.transforms.clear();
    }

    /// Forgets a stopped item.
    pub(crate) fn remove_item(&self, name: &str) {
        self.topology.remove_item(name);
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

    /// Sets the production state.
    pub(crate) fn set_state(&self, s: ProductionState) {
        self.topology.set_state(s);
    }

    /// Production state.
    pub fn state(&self) -> ProductionState {
        self.topology.state()
    }

    /// The running plan.
    pub fn plan(&self) -> Option<Arc<ProductionPlan>> {
        self.topology.plan()
    }

    /// A running item.
    pub fn item(&self, name: &str) -> Option<Arc<ItemRuntime>> {
        self.topology.item(name)
    }

    /// Every running item.
    pub fn items(&self) -> Vec<Arc<ItemRuntime>> {
        self.topology.items()
    }

    /// The queue of item `name`, created (and configured from `plan`) if needed.
    pub fn queue_for(&self, name: &str, plan: Option<&ItemPlan>) -> Arc<Queue> {
        self.topology.queue_for(name, plan, || self.refiller())
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
