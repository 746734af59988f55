//! Changing a running production: carrying out a [`PlanDiff`] item by item. A config
//! reload is the diff from the items running now; start-up ([`Engine::start`]) is the
//! diff from an empty production, so both take the same path. Swapping the pack an
//! item's code or adapter comes from is `pack_swap`.
//!
//! # Invariants
//! - Unchanged items are not touched: their tasks, connections and workers stay as they are.
//! - A running item is compared with the packs it runs now: a pack swap is not a
//!   configuration change.
//! - Items start in start order (operations, processes, services); a queue is configured
//!   and its item routable before anything starts.
//! - Queues are never dropped: a changed item restarts on the same queue; a removed item's
//!   waiting messages are marked Suspended with the reason (resendable once it is back).
//! - A plan that fails while being applied is rolled back to the previous one: the flip
//!   of what was done is undone.
//! - A changed item that does not stop within the production's `UpdateTimeout` fails the
//!   reload (rolled back like a failed start); that item is never run twice at once: its
//!   previous configuration starts only once the old runtime has stopped.

use super::item::ItemRuntime;
use super::{Engine, EngineError, EngineInner, ProductionState};
use crate::journal::Op;
use crate::message::now_us;
use crate::production::diff::PlanDiff;
use crate::production::plan::{ItemPlan, ProductionPlan};
use serde::Serialize;
use std::collections::HashMap;
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

impl Engine {
    /// Applies `new` to the running production (see the module docs). On failure the
    /// previous plan is restored and the error returned.
    pub async fn apply_plan(&self, new: ProductionPlan) -> Result<ApplyReport, EngineError> {
        let inner = &self.inner;
        let Some(old) = inner.plan() else {
            return self.start(new).await.map(|_| ApplyReport::default());
        };
        let running = Running::now(inner, &old);
        let diff = PlanDiff::new(&running.plans, &new.items);
        let new = Arc::new(new);
        route(inner, &new);
        let report = apply(inner, &running, &diff, Some(old)).await?;
        tracing::info!(added = ?report.added, changed = ?report.changed, removed = ?report.removed, unchanged = report.unchanged.len(), "production updated");
        Ok(report)
    }
}

/// The items running now.
#[derive(Default)]
pub(super) struct Running {
    /// How each runs: its plan with the packs it runs now (a pack swap is not a
    /// configuration change), in the running plan's order.
    plans: Vec<ItemPlan>,
    /// Their runtimes, by name.
    runtimes: HashMap<Arc<str>, Arc<ItemRuntime>>,
}

impl Running {
    /// The items running in `inner`, whose plan is `plan`.
    fn now(inner: &EngineInner, plan: &ProductionPlan) -> Running {
        let mut items = inner.items();
        items.sort_by_key(|rt| plan.items.iter().position(|p| p.name == rt.plan.name).unwrap_or(usize::MAX));
        let plans = items
            .iter()
            .map(|rt| {
                let mut plan = rt.plan.clone();
                plan.pack = rt.pack();
                plan.adapter_pack = rt.adapter_pack();
                plan
            })
            .collect();
        Running { plans, runtimes: items.into_iter().map(|rt| (rt.plan.name.clone(), rt)).collect() }
    }

    /// The runtime of an item the diff found running.
    fn runtime(&self, name: &str) -> &Arc<ItemRuntime> {
        &self.runtimes[name]
    }
}

/// Makes the items of `plan` routable, their queues configured first (before anything
/// sends to them).
pub(super) fn route(inner: &EngineInner, plan: &Arc<ProductionPlan>) {
    for item in &plan.items {
        inner.queue_for(&item.name, Some(item));
    }
    inner.set_plan(Some(plan.clone()));
}

/// Carries out `diff` over the `running` items, the plan of its new side already routed
/// ([`route`]): starts the added items, restarts the changed ones (each stopped, then
/// started on the same queue), then stops the removed ones and suspends what waits in
/// their queues. If a start fails, what was done is undone (the flip of the part of the
/// diff carried out), `previous` is routed again and the error returned. Start-up is the
/// diff from nothing, with no previous plan.
pub(super) async fn apply(
    inner: &Arc<EngineInner>,
    running: &Running,
    diff: &PlanDiff,
    previous: Option<Arc<ProductionPlan>>,
) -> Result<ApplyReport, EngineError> {
    let mut report =
        ApplyReport { unchanged: diff.unchanged.iter().map(|n| n.to_string()).collect(), ..Default::default() };
    // What has been done so far, for an undo.
    let mut done = PlanDiff::default();
    let mut failure: Option<EngineError> = None;
    for plan in &diff.added {
        match ItemRuntime::start(inner, plan.clone()).await {
            Ok(rt) => {
                inner.insert_item(rt);
                done.added.push(plan.clone());
                report.added.push(plan.name.to_string());
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    if failure.is_none() {
        let timeout = inner.plan().and_then(|p| p.update_timeout);
        for change in &diff.changed {
            if let Err(e) = stop_within(inner, running.runtime(&change.new.name), &change.old, timeout).await {
                failure = Some(e);
                break;
            }
            done.changed.push(change.clone());
            match ItemRuntime::start(inner, change.new.clone()).await {
                Ok(rt) => {
                    inner.insert_item(rt);
                    report.changed.push(change.new.name.to_string());
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
    }
    if let Some(e) = failure {
        if previous.is_some() {
            tracing::error!(error = %e, "applying the new production failed; rolling back");
        }
        undo(inner, running, done.flip(), previous).await;
        return Err(e);
    }
    for plan in &diff.removed {
        let rt = running.runtime(&plan.name);
        rt.stop(inner).await;
        inner.remove_item(&plan.name);
        report.suspended += suspend_queue(inner, &plan.name).await?;
        report.removed.push(plan.name.to_string());
    }
    Ok(report)
}

/// Stops a changed item, waiting at most `timeout` (`UpdateTimeout`) for its message in
/// hand. Past it the stop goes on in the background and, once it is done, the item starts
/// again on `previous` (its plan before the reload), so it is left as it was; the reload
/// gets the error and rolls back the rest.
async fn stop_within(
    inner: &Arc<EngineInner>,
    rt: &Arc<ItemRuntime>,
    previous: &ItemPlan,
    timeout: Option<std::time::Duration>,
) -> Result<(), EngineError> {
    let Some(timeout) = timeout else {
        rt.stop(inner).await;
        return Ok(());
    };
    let mut stopping = tokio::spawn({
        let (inner, rt) = (inner.clone(), rt.clone());
        async move { rt.stop(&inner).await }
    });
    if tokio::time::timeout(timeout, &mut stopping).await.is_ok() {
        return Ok(());
    }
    let item = previous.name.to_string();
    tracing::warn!(item = %item, timeout_s = timeout.as_secs(), "UpdateTimeout reached: rolling the update back; the item restarts as it was once its message in hand is done");
    let (inner2, previous) = (inner.clone(), previous.clone());
    tokio::spawn(async move {
        let _ = stopping.await;
        match ItemRuntime::start(&inner2, previous).await {
            Ok(rt) => inner2.insert_item(rt),
            Err(e) => {
                tracing::error!(error = %e, "could not restart an item that outlived UpdateTimeout");
                inner2.set_state(ProductionState::Troubled);
            }
        }
    });
    Err(EngineError::UpdateTimeout { item, seconds: timeout.as_secs() })
}

/// Undoes the part of a diff that was carried out, given as its flip: the items it
/// started (those now `removed`, and the new side of each change that got started) are
/// stopped, newest first; `previous` is routed again; the items it replaced start again.
async fn undo(inner: &Arc<EngineInner>, running: &Running, undo: PlanDiff, previous: Option<Arc<ProductionPlan>>) {
    // In the order they were started: the added items, then the changes.
    let started: Vec<&Arc<str>> =
        undo.removed.iter().chain(undo.changed.iter().map(|c| &c.old)).map(|p| &p.name).collect();
    for name in started.into_iter().rev() {
        // The change that failed has nothing running (its old runtime is stopped).
        let Some(rt) =
            inner.item(name).filter(|rt| !running.runtimes.get(name).is_some_and(|old| Arc::ptr_eq(old, rt)))
        else {
            continue;
        };
        rt.stop(inner).await;
        inner.remove_item(name);
    }
    // Start-up has no previous production: its plan stays, and nothing was replaced.
    let Some(previous) = previous else { return };
    inner.set_plan(Some(previous));
    for change in &undo.changed {
        // The previous production's entry (the flip's new side): the packs the item ran
        // on when the reload began, which a pack swap may have moved on from the ones its
        // runtime started with.
        match ItemRuntime::start(inner, change.new.clone()).await {
            Ok(rt) => inner.insert_item(rt),
            Err(e2) => {
                tracing::error!(item = %change.new.name, error = %e2, "could not restart the previous version during rollback");
                inner.set_state(ProductionState::Troubled);
            }
        }
    }
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
