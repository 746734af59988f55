//! `async` execution mode: plugin code runs on the engine's tokio workers.
//!
//! Each call borrows one of `concurrency` instances. Plugin calls are short and
//! synchronous; when one must wait (send_sync, an adapter call) the host side moves the
//! wait off the worker with `block_in_place`, so other tasks keep running.

use super::{Executor, InstanceFactory, start_instances};
use crate::engine::call::{CallResult, FailureKind};
use crate::engine::instance::Instance;
use crate::lock::LockExt;
use crate::message::Envelope;
use futures::future::BoxFuture;
use hie_plugin_api::abi::PluginError;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Runs calls inline on tokio tasks.
pub struct AsyncExecutor {
    /// Idle instances.
    pool: Arc<Mutex<Vec<Instance>>>,
    /// One permit per instance: callers wait here when all are busy.
    permits: Arc<Semaphore>,
    /// How many instances exist (for shutdown).
    size: u32,
}

impl AsyncExecutor {
    /// Creates and starts `concurrency` instances.
    pub fn start(factory: &InstanceFactory, concurrency: usize) -> Result<AsyncExecutor, PluginError> {
        let instances = start_instances(factory, concurrency.max(1))?;
        let size = instances.len() as u32;
        Ok(AsyncExecutor {
            pool: Arc::new(Mutex::new(instances)),
            permits: Arc::new(Semaphore::new(size as usize)),
            size,
        })
    }
}

impl Executor for AsyncExecutor {
    fn invoke(&self, env: Envelope) -> BoxFuture<'static, CallResult> {
        let pool = self.pool.clone();
        let permits = self.permits.clone();
        Box::pin(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return CallResult::host_failure(FailureKind::Failed, "process", "item is shut down");
            };
            let instance = pool.lock_unpoisoned().pop();
            let Some(mut instance) = instance else {
                return CallResult::host_failure(FailureKind::Failed, "process", "no idle instance");
            };
            let result = instance.run(&env);
            pool.lock_unpoisoned().push(instance);
            result
        })
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let pool = self.pool.clone();
        let permits = self.permits.clone();
        let size = self.size;
        Box::pin(async move {
            // Taking every permit waits for in-flight calls to finish.
            if let Ok(all) = permits.acquire_many(size).await {
                all.forget();
            }
            permits.close();
            let instances: Vec<Instance> = std::mem::take(&mut *pool.lock_unpoisoned());
            for i in instances {
                i.stop();
            }
        })
    }
}
