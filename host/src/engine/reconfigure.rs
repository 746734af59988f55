//! Changing a running production: applying a new plan item by item (config reload).
//! Swapping the pack an item's code or adapter comes from is `pack_swap`.
//!
//! # Invariants
//! - Unchanged items are not touched: their tasks, connections and workers stay as they are.
//! - Queues are never dropped: a changed item restarts on the same queue; a removed item's
//!   waiting messages are marked Suspended with the reason (resendable once it is back).
//! - A plan that fails while being applied is rolled back to the previous one.

use super::item::ItemRuntime;
use super::{Engine, EngineError, EngineInner, ProductionState};
use crate::journal::Op;
use crate::message::now_us;
use crate::production::plan::{ItemPlan, ProductionPlan};
use hie_plugin_api::ItemKind;
use serde::Serialize;
use std::sync::Arc;

/// What a plan change did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApplyReport {
    /// Items started.
    pub added: Vec<String>,
    /// Items restarted with their new configuration.
    pub changed: Vec<String>,
    /// Items stopped and removed.
    pub removed: Vec<String>,
    /// Items left running as they were.
    pub unchanged: Vec<String>,
    /// Messages of removed items marked Suspended.
    pub suspended: usize,
}

fn kind_rank(k: ItemKind) -> u8 {
    match k {
        ItemKind::Operation => 0,
        ItemKind::Process => 1,
        ItemKind::Service => 2,
    }
}

impl Engine {
    /// Applies `new` to the running production (see the module docs). On failure the
    /// previous plan is restored and the error returned.
    pub async fn apply_plan(&self, new: ProductionPlan) -> Result<ApplyReport, EngineError> {
        let inner = &self.inner;
        let Some(old) = inner.plan() else {
            return self.start(new).await.map(|_| ApplyReport::default());
        };
        let mut report = ApplyReport::default();
        let mut added: Vec<ItemPlan> = Vec::new();
        let mut changed: Vec<(ItemPlan, Arc<ItemRuntime>)> = Vec::new();
        for item in &new.items {
            match inner.item(&item.name) {
                None => added.push(item.clone()),
                Some(rt) if running_fingerprint(&rt) != item.fingerprint() => changed.push((item.clone(), rt)),
                Some(_) => report.unchanged.push(item.name.to_string()),
            }
        }
        let removed: Vec<Arc<ItemRuntime>> =
            inner.items().into_iter().filter(|rt| new.item(&rt.plan.name).is_none()).collect();
        added.sort_by_key(|p| kind_rank(p.kind));
        changed.sort_by_key(|(p, _)| kind_rank(p.kind));

        // Make the new items routable and their queues configured before anything starts.
        for item in &new.items {
            inner.queue_for(&item.name, Some(item));
        }
        inner.set_plan(Some(Arc::new(new.clone())));

        let mut started: Vec<Arc<ItemRuntime>> = Vec::new();
        let mut replaced: Vec<Arc<ItemRuntime>> = Vec::new();
        let mut failure: Option<EngineError> = None;
        for plan in &added {
            match ItemRuntime::start(inner, plan.clone()).await {
                Ok(rt) => {
                    inner.insert_item(rt.clone());
                    started.push(rt);
                    report.added.push(plan.name.to_string());
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_none() {
            for (plan, old_rt) in &changed {
                old_rt.stop(inner).await;
                replaced.push(old_rt.clone());
                match ItemRuntime::start(inner, plan.clone()).await {
                    Ok(rt) => {
                        inner.insert_item(rt.clone());
                        started.push(rt);
                        report.changed.push(plan.name.to_string());
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(e) = failure {
            tracing::error!(error = %e, "applying the new production failed; rolling back");
            for rt in started.iter().rev() {
                rt.stop(inner).await;
                inner.remove_item(&rt.plan.name);
            }
            inner.set_plan(Some(old.clone()));
            for old_rt in replaced {
                match ItemRuntime::start(inner, old_rt.plan.clone()).await {
                    Ok(rt) => inner.insert_item(rt),
                    Err(e2) => {
                        tracing::error!(item = %old_rt.plan.name, error = %e2, "could not restart the previous version during rollback");
                        inner.set_state(ProductionState::Troubled);
                    }
                }
            }
            return Err(e);
        }
        for rt in removed {
            rt.stop(inner).await;
            inner.remove_item(&rt.plan.name);
            report.suspended += suspend_queue(inner, &rt.plan.name).await?;
            report.removed.push(rt.plan.name.to_string());
        }
        tracing::info!(added = ?report.added, changed = ?report.changed, removed = ?report.removed, unchanged = report.unchanged.len(), "production updated");
        Ok(report)
    }
}

/// The fingerprint of a running item, with the pack it runs now (a pack swap is not a
/// configuration change).
fn running_fingerprint(rt: &ItemRuntime) -> String {
    let mut plan = rt.plan.clone();
    plan.pack = rt.pack();
    plan.adapter_pack = rt.adapter_pack();
    plan.fingerprint()
}

/// Marks every waiting message of a removed item Suspended (those in memory and those
/// only in the journal); returns how many.
async fn suspend_queue(inner: &Arc<EngineInner>, item: &str) -> Result<usize, EngineError> {
    let queue = inner.queue_for(item, None);
    let n = queue.depth();
    queue.drain();
    // Operator pauses belong to the item; an item added again starts unpaused.
    queue.resume();
    if n == 0 {
        return Ok(0);
    }
    let note = format!("item {item} was removed from the production; re-add it and resend its suspended messages");
    inner.journal.commit(vec![Op::SuspendQueued { target: item.to_string(), note, at_us: now_us() }], true).await?;
    tracing::warn!(item, messages = n, "queued messages of a removed item suspended");
    Ok(n)
}
