//! Rolling restarts of a multi_process item's workers onto a new pack (or adapter pack).
//!
//! Invariants: one slot at a time, so the item keeps serving on the others; a slot takes
//! no new calls while it is replaced and its in-flight calls finish first; the slot that
//! runs the inbound adapter loop ends the loop before it drains (its submits may need its
//! own calls); a worker that fails to start on the new pack sends every slot back.

use super::{Phase, Shared, Slot};
use crate::lock::LockExt;
use crate::worker::protocol::{self, ToWorker};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rolling restart on a new pack (and adapter pack): one slot at a time, stop sending it
/// calls, let its in-flight calls finish, stop its worker and start a new one on the new
/// pack. If a new worker fails to start, every slot goes back to the old pack.
pub(super) async fn roll(
    shared: &Arc<Shared>,
    pack: &Arc<crate::pack::LoadedPack>,
    adapter_pack: Option<&Arc<crate::pack::LoadedPack>>,
) -> Result<(), String> {
    let old_init = shared.init.lock_unpoisoned().clone();
    let mut new_init = old_init.clone();
    new_init.pack_path = pack.staged_path.display().to_string();
    new_init.pack_source = pack.source_path.display().to_string();
    new_init.pack_sha256 = pack.sha256.clone();
    new_init.pack_generation = pack.generation;
    new_init.adapter_pack = adapter_pack.map(staged);
    *shared.init.lock_unpoisoned() = new_init;
    for (i, slot) in shared.slots.iter().enumerate() {
        if let Err(e) = roll_slot(shared, slot).await {
            // All or nothing: every slot goes back to the old pack.
            *shared.init.lock_unpoisoned() = old_init.clone();
            for back in &shared.slots[..=i] {
                if let Err(e2) = roll_slot(shared, back).await {
                    tracing::error!(item = %shared.item, slot = back.index, error = %e2, "could not put a worker back on the old pack");
                }
            }
            return Err(e);
        }
    }
    Ok(())
}

/// How a worker finds a pack: the staged copy it loads and what it reports.
pub(super) fn staged(p: &Arc<crate::pack::LoadedPack>) -> protocol::StagedPack {
    protocol::StagedPack {
        path: p.staged_path.display().to_string(),
        source: p.source_path.display().to_string(),
        sha256: p.sha256.clone(),
        generation: p.generation,
    }
}

async fn roll_slot(shared: &Arc<Shared>, slot: &Arc<Slot>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let launches_before = slot.lock().launches;
    // A worker running the inbound loop ends the loop first, still taking calls: the loop
    // may be waiting for the answer to a submit, and that answer may need a call to this
    // very worker (a service's own code runs here), so draining first would deadlock.
    let runs_inbound = {
        let st = slot.lock();
        if st.runs_inbound
            && let Some(tx) = &st.tx
        {
            let _ = tx.send(ToWorker::Shutdown);
        }
        st.runs_inbound && st.tx.is_some()
    };
    if runs_inbound {
        loop {
            {
                let st = slot.lock();
                if st.inbound_stopped || st.launches > launches_before || st.tx.is_none() {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(format!("worker {} did not end its inbound loop within 120 s", slot.index));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    slot.lock().draining = true;
    // Let the calls it holds finish.
    while !slot.lock().in_flight.is_empty() {
        if Instant::now() > deadline {
            slot.lock().draining = false;
            return Err(format!("worker {} did not finish its calls within 120 s", slot.index));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    {
        let mut st = slot.lock();
        st.planned_restart = true;
        if let Some(tx) = &st.tx {
            let _ = tx.send(ToWorker::Shutdown);
        }
    }
    // Wait for the replacement to be running (or to fail).
    let result = loop {
        {
            let st = slot.lock();
            if st.launches > launches_before && st.phase == Phase::Running && st.tx.is_some() {
                break Ok(());
            }
            if st.launches > launches_before
                && let Some(e) = &st.last_error
            {
                break Err(format!("worker {} failed to start on the new pack: {e}", slot.index));
            }
        }
        if Instant::now() > deadline || shared.stop.is_cancelled() {
            break Err(format!("worker {} was not replaced within 120 s", slot.index));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    slot.lock().draining = false;
    shared.available.notify_waiters();
    result
}
