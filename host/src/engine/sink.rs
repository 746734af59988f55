//! The engine's side of the adapter port: an item's intake sink, and the intake threads
//! inbound adapters run their connections on.
//!
//! # Invariants
//! - `submit` returns a message's reply only after the commit that stores it.
//! - An intake thread writes the commits it gathered itself, when its runtime would
//!   park, and pushes their queue entries after the ACKs: nothing else is woken on the
//!   ACK path (see ARCHITECTURE.md, "The journal").

use super::EngineInner;
use super::intake::{self, Inbound, IntakeReply};
use super::item::ItemRuntime;
use crate::adapter::port::IntakeSink;
use futures::future::BoxFuture;
use std::sync::Arc;

/// An item's intake, as its inbound adapter sees it.
pub struct ItemSink {
    /// The engine.
    pub engine: Arc<EngineInner>,
    /// The service.
    pub item: Arc<ItemRuntime>,
}

impl IntakeSink for ItemSink {
    fn submit(&self, batch: Vec<Inbound>) -> BoxFuture<'static, Vec<IntakeReply>> {
        self.submit_with_state(batch, Vec::new())
    }

    fn submit_with_state(
        &self,
        batch: Vec<Inbound>,
        state: Vec<(String, String)>,
    ) -> BoxFuture<'static, Vec<IntakeReply>> {
        let (engine, item) = (self.engine.clone(), self.item.clone());
        Box::pin(async move { intake::intake_with_state(&engine, &item, batch, state).await })
    }

    fn state(&self, key: &str) -> BoxFuture<'static, Option<String>> {
        let journal = self.engine.journal.clone();
        let (item, key) = (self.item.plan.name.to_string(), key.to_string());
        Box::pin(
            async move { tokio::task::spawn_blocking(move || journal.adapter_state(&item, &key)).await.ok().flatten() },
        )
    }

    fn report(&self, problem: Option<String>) {
        self.item.set_adapter_problem(problem);
    }

    fn spawn_intake_thread(&self, work: BoxFuture<'static, ()>) -> Result<tokio::sync::oneshot::Receiver<()>, String> {
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
        let engine = self.engine.clone();
        let name = self.item.plan.name.clone();
        std::thread::Builder::new()
            .name("hie-intake".into())
            .spawn(move || {
                run_intake_thread(&engine, &name, work);
                let _ = ended_tx.send(());
            })
            .map_err(|e| format!("cannot start an intake thread of {}: {e}", self.item.plan.name))?;
        Ok(ended_rx)
    }
}

/// Runs `work` on this thread as an intake thread: a current-thread runtime of its own,
/// whose commits are gathered and written by this thread whenever the runtime has
/// nothing else to do (every connection waits for its ACK). The ACK path wakes no other
/// thread, and messages arriving together share one write and one sync.
fn run_intake_thread(engine: &Arc<EngineInner>, item: &str, work: BoxFuture<'static, ()>) {
    crate::journal::gather_on_this_thread();
    intake::defer_pushes_on_this_thread();
    let journal = engine.journal.clone();
    let hook = journal.clone();
    // Idle: every connection has written its ACK or waits for its commit. Wake the next
    // items for what was acknowledged, then write (and sync) what waits.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(move || {
            intake::push_deferred();
            hook.write_gathered();
        })
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(item, error = %e, "cannot start the intake runtime; the listener is closed");
            return;
        }
    };
    runtime.block_on(work);
    // Anything still gathered (its connection is gone) is written, not dropped, and
    // what was committed reaches its queues.
    journal.write_gathered();
    intake::push_deferred();
}
