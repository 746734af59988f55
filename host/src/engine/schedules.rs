//! The engine's own background work: the purge schedule (`PurgeKeepDays`) and the alert
//! watch (queue counts and waits, inactivity). Each runs at most once per engine,
//! started by the first [`Engine::start`], and ends when the engine is dropped.
//!
//! # Invariants
//! - One purge schedule and one watch per engine, however often it is started.
//! - They hold the engine weakly: a schedule never keeps a stopped engine alive.

use super::{Engine, EngineInner, ProductionState, alerts};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// How often the purge runs while `PurgeKeepDays` is set.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// The state of the engine's schedules.
pub(super) struct Schedules {
    /// `PurgeKeepDays` of the plan in force (0: no scheduled purge); a reload changes it,
    /// and the purge schedule, watching it, acts on a new value at once.
    purge_keep_days: watch::Sender<u32>,
    /// Whether the purge schedule's task is running (it ends when the production stops).
    purge_scheduled: AtomicBool,
    /// Whether the alert watch runs.
    watching: AtomicBool,
}

impl Default for Schedules {
    fn default() -> Schedules {
        Schedules {
            purge_keep_days: watch::Sender::new(0),
            purge_scheduled: AtomicBool::new(false),
            watching: AtomicBool::new(false),
        }
    }
}

impl Schedules {
    /// Takes the `PurgeKeepDays` of a plan put in force; a change wakes the schedule.
    pub fn set_purge_keep_days(&self, keep_days: u32) {
        self.purge_keep_days.send_if_modified(|days| std::mem::replace(days, keep_days) != keep_days);
    }
}

/// Starts the purge schedule and the alert watch, unless they run already.
pub(super) fn start(inner: &Arc<EngineInner>) {
    schedule_purge(inner);
    if !inner.schedules.watching.swap(true, Ordering::SeqCst) {
        alerts::watch(Arc::downgrade(inner), &inner.runtime);
    }
}

/// Purges finished messages older than `PurgeKeepDays` once an hour, and at once when a
/// reload changes the setting (0: none); suspended and unfinished messages are kept.
/// The schedule ends when the production stops.
fn schedule_purge(inner: &Arc<EngineInner>) {
    if inner.schedules.purge_scheduled.swap(true, Ordering::SeqCst) {
        return;
    }
    let weak = Arc::downgrade(inner);
    let mut setting = inner.schedules.purge_keep_days.subscribe();
    inner.runtime.spawn(async move {
        let mut tick = tokio::time::interval(PURGE_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = setting.changed() => if changed.is_err() { return },
            }
            let keep_days = *setting.borrow_and_update();
            let Some(inner) = weak.upgrade() else { return };
            if inner.state() == ProductionState::Stopped {
                inner.schedules.purge_scheduled.store(false, Ordering::SeqCst);
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
