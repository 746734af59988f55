//! What the engine runs: the plan in force, the item runtimes, the queues and the
//! production state. One handle, so routing, status and reload read one picture.
//!
//! # Invariants
//! - A queue, once made, is kept for the engine's life: items restart, swap and reload
//!   around it, and what it holds is never dropped with an item.
//! - The plan is replaced whole (an `Arc` swap): a reader holds one plan, never a mix.
//!
//! # Dependency rule
//! Knows queues, item runtimes and plans; nothing of the journal or packs. The refill
//! of a spilled queue comes in as a [`Refiller`] from the caller.

use super::{ItemRuntime, ProductionState};
use crate::lock::{LockExt, RwLockExt};
use crate::production::plan::{ItemPlan, ProductionPlan};
use crate::queue::{Queue, QueueType, Refiller};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// The running production's parts.
pub(super) struct Topology {
    /// Queues by item name; created on first need and kept for the engine's life (a
    /// send may name an item before it starts, and recovery fills queues first).
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    /// Running items by name: what intake, routing and the API look up.
    items: RwLock<HashMap<String, Arc<ItemRuntime>>>,
    /// The plan being run; `None` before the first start. Shared, since every send
    /// looks a target up in it.
    plan: RwLock<Option<Arc<ProductionPlan>>>,
    /// Production state as IRIS names it, for status and the schedules.
    state: Mutex<ProductionState>,
}

impl Default for Topology {
    fn default() -> Topology {
        Topology {
            queues: Mutex::new(HashMap::new()),
            items: RwLock::new(HashMap::new()),
            plan: RwLock::new(None),
            state: Mutex::new(ProductionState::Stopped),
        }
    }
}

impl Topology {
    /// Production state.
    pub fn state(&self) -> ProductionState {
        *self.state.lock_unpoisoned()
    }

    /// Sets the production state.
    pub fn set_state(&self, s: ProductionState) {
        *self.state.lock_unpoisoned() = s;
    }

    /// The running plan.
    pub fn plan(&self) -> Option<Arc<ProductionPlan>> {
        self.plan.read_unpoisoned().clone()
    }

    /// Puts `plan` in force; returns the one it replaces.
    pub fn replace_plan(&self, plan: Option<Arc<ProductionPlan>>) -> Option<Arc<ProductionPlan>> {
        std::mem::replace(&mut *self.plan.write_unpoisoned(), plan)
    }

    /// A running item.
    pub fn item(&self, name: &str) -> Option<Arc<ItemRuntime>> {
        self.items.read_unpoisoned().get(name).cloned()
    }

    /// Every running item.
    pub fn items(&self) -> Vec<Arc<ItemRuntime>> {
        self.items.read_unpoisoned().values().cloned().collect()
    }

    /// Registers a running item.
    pub fn insert_item(&self, rt: Arc<ItemRuntime>) {
        self.items.write_unpoisoned().insert(rt.plan.name.to_string(), rt);
    }

    /// Forgets a stopped item.
    pub fn remove_item(&self, name: &str) {
        self.items.write_unpoisoned().remove(name);
    }

    /// Forgets every item (the production stopped).
    pub fn clear_items(&self) {
        self.items.write_unpoisoned().clear();
    }

    /// The queue of item `name`, created if needed; with `plan`, (re)configured from it
    /// and given `refiller` for its spill window.
    pub fn queue_for(&self, name: &str, plan: Option<&ItemPlan>, refiller: impl FnOnce() -> Refiller) -> Arc<Queue> {
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
                let (kind, size) =
                    plan.map(|p| (p.engine.queue_type, p.engine.queue_size)).unwrap_or((QueueType::Fifo, 0));
                Queue::new(name, kind, size)
            })
            .clone();
        if let Some(p) = plan {
            q.reconfigure(p.engine.queue_type, p.engine.queue_size);
            q.set_window(p.engine.queue_window, refiller());
        }
        q
    }
}
