//! The executor seam: what runs an item's code. The engine hands an executor one message
//! at a time and gets a [`CallResult`] back; where the plugin code runs (tokio tasks, a
//! thread pool, one thread, worker processes) is the executor's business alone.

mod inline;
pub mod multi_process;
mod threads;

pub use inline::AsyncExecutor;
pub use threads::ThreadExecutor;

use super::call::CallResult;
use super::instance::Instance;
use crate::message::Envelope;
use futures::future::BoxFuture;
use hie_plugin_api::abi::PluginError;
use serde::Serialize;
use std::sync::Arc;

/// Builds a fresh, initialised instance of the item's class.
pub type InstanceFactory = Arc<dyn Fn() -> Result<Instance, PluginError> + Send + Sync>;

/// A worker process as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerInfo {
    /// Slot number (stable across restarts of the slot's worker).
    pub slot: usize,
    /// OS process id (0 while restarting).
    pub pid: u32,
    /// `running`, `starting`, `restarting`, `failed`.
    pub state: String,
    /// How many times this slot's worker was restarted.
    pub restarts: u32,
    /// Resident memory in bytes (from /proc).
    pub rss_bytes: u64,
}

/// Runs an item's code.
pub trait Executor: Send + Sync {
    /// Runs one message through the item's hooks.
    fn invoke(&self, env: Envelope) -> BoxFuture<'static, CallResult>;

    /// Stops every instance (`on_stop`, `on_teardown`) after in-flight calls finish.
    fn shutdown(&self) -> BoxFuture<'static, ()>;

    /// Worker processes, for `multi_process` executors.
    fn workers(&self) -> Vec<WorkerInfo> {
        Vec::new()
    }

    /// Restarts the executor's processes one at a time on `pack`, their adapter on
    /// `adapter_pack` (rolling restart), for executors that run their own processes.
    fn roll(
        &self,
        _pack: Arc<crate::pack::LoadedPack>,
        _adapter_pack: Option<Arc<crate::pack::LoadedPack>>,
    ) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async { Err("this executor cannot roll its workers".to_string()) })
    }
}

/// Creates `n` instances and runs `on_start` on each; on any failure stops the ones
/// already made and returns the error.
pub fn start_instances(factory: &InstanceFactory, n: usize) -> Result<Vec<Instance>, PluginError> {
    let mut out: Vec<Instance> = Vec::with_capacity(n);
    for _ in 0..n {
        let made = factory().and_then(|mut i| i.start().map(|_| i));
        match made {
            Ok(i) => out.push(i),
            Err(e) => {
                for i in out {
                    i.stop();
                }
                return Err(e);
            }
        }
    }
    Ok(out)
}
