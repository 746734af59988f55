//! Snapshots of the production's state for the API and /metrics.

use super::executor::WorkerInfo;
use super::item::ItemState;
use super::{EngineInner, ProductionState};
use crate::lock::LockExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// One item, as `GET /api/production` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ItemStatus {
    /// Item name.
    pub name: String,
    /// Class name.
    pub class: String,
    /// service, process or operation.
    pub kind: &'static str,
    /// Pack name.
    pub pack: String,
    /// Pack version.
    pub pack_version: String,
    /// SHA-256 of the pack file.
    pub pack_sha256: String,
    /// Pack load generation.
    pub pack_generation: u64,
    /// The pack the item's adapter comes from, when a pack (not the host) provides it.
    pub adapter_pack: Option<String>,
    /// That pack's version.
    pub adapter_pack_version: Option<String>,
    /// Execution mode.
    pub execution_mode: &'static str,
    /// Concurrency.
    pub concurrency: usize,
    /// Item state.
    pub state: ItemState,
    /// Why (pause reason, last failure).
    pub state_note: String,
    /// Messages waiting.
    pub queue_depth: usize,
    /// Of those, how many are only in the journal (beyond the queue's in-memory window).
    pub queue_in_journal: usize,
    /// Messages being processed.
    pub in_flight: usize,
    /// Messages finished.
    pub processed: u64,
    /// Messages that ended in error.
    pub errors: u64,
    /// Retries made.
    pub retries: u64,
    /// Messages discarded.
    pub discarded: u64,
    /// Worker processes (multi_process).
    pub workers: Vec<WorkerInfo>,
    /// When the item (this runtime of it) started, µs since the epoch.
    pub started_us: i64,
    /// Plugin-defined counters.
    pub counters: BTreeMap<String, u64>,
}

/// The whole production.
#[derive(Clone, Debug, Serialize)]
pub struct ProductionStatus {
    /// Production name.
    pub name: String,
    /// Production state.
    pub state: ProductionState,
    /// Production file.
    pub file: String,
    /// Commit durability.
    pub durability: crate::journal::Durability,
    /// Whether the journal accepts writes.
    pub journal_writable: bool,
    /// How far the warehouse (search, sessions) trails the commit log.
    pub index_lag: crate::journal::IndexLag,
    /// Items in file order.
    pub items: Vec<ItemStatus>,
}

/// Takes a snapshot.
pub fn snapshot(engine: &EngineInner) -> ProductionStatus {
    let plan = engine.plan();
    let mut items = Vec::new();
    if let Some(plan) = &plan {
        for p in &plan.items {
            let rt = engine.item(&p.name);
            let queue = engine.queue_for(&p.name, None);
            let (state, note, stats, workers, pack) = match &rt {
                Some(rt) => (
                    rt.state(),
                    rt.state_note(),
                    Some(rt.stats.clone()),
                    rt.executor().map(|e| e.workers()).unwrap_or_default(),
                    rt.pack(),
                ),
                None => (ItemState::Stopped, String::new(), None, Vec::new(), p.pack.clone()),
            };
            let adapter_pack = rt.as_ref().map_or_else(|| p.adapter_pack.clone(), |rt| rt.adapter_pack());
            // A multi_process item with no worker up is restarting, whatever its loops do.
            let state = if !workers.is_empty()
                && state == ItemState::Running
                && !workers.iter().any(|w| w.state == "running")
            {
                ItemState::Restarting
            } else {
                state
            };
            let load = |f: fn(&super::item::ItemStats) -> u64| stats.as_ref().map(|s| f(s)).unwrap_or(0);
            items.push(ItemStatus {
                name: p.name.to_string(),
                class: p.class.clone(),
                kind: crate::pack::kind_name(p.kind),
                pack: pack.name.clone(),
                pack_version: pack.version.clone(),
                pack_sha256: pack.sha256.clone(),
                pack_generation: pack.generation,
                adapter_pack: adapter_pack.as_ref().map(|a| a.name.clone()),
                adapter_pack_version: adapter_pack.as_ref().map(|a| a.version.clone()),
                execution_mode: p.engine.execution_mode.name(),
                concurrency: p.engine.concurrency,
                state,
                state_note: note,
                queue_depth: queue.depth(),
                queue_in_journal: queue.spilled(),
                in_flight: queue.in_flight(),
                processed: load(|s| s.processed.load(Ordering::Relaxed)),
                errors: load(|s| s.errors.load(Ordering::Relaxed)),
                retries: load(|s| s.retries.load(Ordering::Relaxed)),
                discarded: load(|s| s.discarded.load(Ordering::Relaxed)),
                workers,
                started_us: rt.as_ref().map(|r| r.started_us).unwrap_or(0),
                counters: stats.map(|s| s.custom.lock_unpoisoned().clone()).unwrap_or_default(),
            });
        }
    }
    ProductionStatus {
        name: plan.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
        state: engine.state(),
        file: plan.as_ref().map(|p| p.file.display().to_string()).unwrap_or_default(),
        // What the journal does, not what a reloaded file asks for (that needs a restart).
        durability: engine.journal.durability(),
        journal_writable: engine.journal.is_healthy(),
        index_lag: engine.journal.index_lag(),
        items,
    }
}
