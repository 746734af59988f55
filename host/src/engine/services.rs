//! The engine's side of the plugin context: what in-process plugin code can ask for.

use super::EngineInner;
use super::call::SendData;
use super::instance::HostServices;
use crate::message::Envelope;
use hie_plugin_api::abi::{ErrorKind, LogLevel, PluginError};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Weak};
use tokio::runtime::{Handle, RuntimeFlavor};

/// What kind of thread host code runs on, which decides how it may block.
enum HostThread {
    /// A worker of the engine's multi-thread runtime: block inside `block_in_place`.
    Worker(Handle),
    /// An MLLP service's intake thread (a current-thread runtime of its own).
    Intake,
    /// Any other thread (item threads, worker processes): block freely.
    Plain,
}

fn host_thread() -> HostThread {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => HostThread::Worker(h),
        Ok(_) => HostThread::Intake,
        Err(_) => HostThread::Plain,
    }
}

/// Runs `fut` to completion from synchronous code called by a plugin.
///
/// On a tokio worker thread (async execution mode) the wait is moved off the worker with
/// `block_in_place` so the runtime keeps serving other tasks; on plain threads (item
/// threads, worker processes) it simply blocks on the runtime handle. On an intake
/// thread (a service's own current-thread runtime, which cannot block inside itself) a
/// helper thread blocks on the engine's runtime while the intake thread waits for it.
pub fn block_on_host<F>(runtime: &Handle, fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    match host_thread() {
        HostThread::Worker(h) => tokio::task::block_in_place(|| h.block_on(fut)),
        HostThread::Intake => std::thread::scope(|s| match s.spawn(|| runtime.block_on(fut)).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
        HostThread::Plain => runtime.block_on(fut),
    }
}

/// Runs blocking work (a transform) from async host code: moved off a tokio worker with
/// `block_in_place`, or run in place on an intake thread, which is the service's own.
pub fn run_blocking<R>(f: impl FnOnce() -> R) -> R {
    match host_thread() {
        HostThread::Worker(_) => tokio::task::block_in_place(f),
        HostThread::Intake | HostThread::Plain => f(),
    }
}

/// Writes a plugin log line into the host's tracing.
pub fn log_line(item: &str, worker: Option<u32>, level: LogLevel, message: &str) {
    match (level, worker) {
        (LogLevel::Trace, _) => tracing::trace!(item, worker, "{message}"),
        (LogLevel::Debug, _) => tracing::debug!(item, worker, "{message}"),
        (LogLevel::Info, _) => tracing::info!(item, worker, "{message}"),
        (LogLevel::Warn, _) => tracing::warn!(item, worker, "{message}"),
        (LogLevel::Error, _) => tracing::error!(item, worker, "{message}"),
    }
}

/// Host services for an item running inside the engine process.
pub struct EngineServices {
    /// The engine (weak: instances must not keep a stopped engine alive).
    pub engine: Weak<EngineInner>,
    /// The item's name.
    pub item: Arc<str>,
    /// The item's settings with defaults applied.
    pub settings: Arc<BTreeMap<String, String>>,
    /// The item's outbound adapter, for operations (each call takes the one in place).
    pub outbound: Option<Arc<super::outbound_slot::OutboundSlot>>,
    /// Counters for /metrics.
    pub counters: Arc<super::item::ItemStats>,
    /// Whether the operator was told that this service's `send_sync` holds its intake
    /// thread (said once, not per message).
    pub warned_intake_wait: std::sync::atomic::AtomicBool,
}

impl EngineServices {
    /// Warns once when service code waits on the host from an MLLP intake thread: the
    /// service's other connections wait with it.
    fn warn_if_holding_intake(&self) {
        let on_intake = matches!(host_thread(), HostThread::Intake);
        if on_intake && !self.warned_intake_wait.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                item = %self.item,
                "send_sync from the service's intake thread: its other connections wait for each call; run the service in thread_pool mode"
            );
        }
    }
}

fn gone() -> PluginError {
    PluginError::new(ErrorKind::Failed, "the engine is shutting down")
}

impl HostServices for EngineServices {
    fn item_name(&self) -> &str {
        &self.item
    }

    fn setting(&self, name: &str) -> Option<String> {
        if let Some(v) = self.settings.get(name) {
            return Some(v.clone());
        }
        let engine = self.engine.upgrade()?;
        match name {
            "HIE.ItemName" => Some(self.item.to_string()),
            "HIE.DataDir" => Some(engine.options.data_dir.display().to_string()),
            "HIE.ProductionDir" => engine
                .plan()
                .and_then(|p| p.file.parent().map(|d| d.display().to_string()))
                .map(|d| if d.is_empty() { ".".to_string() } else { d }),
            _ => None,
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        log_line(&self.item, None, level, message);
    }

    fn count(&self, metric: &str, delta: u64) {
        self.counters.add_custom(metric, delta);
    }

    fn send_sync(&self, caller: Option<&Envelope>, send: SendData, timeout_ms: i64) -> Result<Vec<u8>, PluginError> {
        let engine = self.engine.upgrade().ok_or_else(gone)?;
        self.warn_if_holding_intake();
        let runtime = engine.runtime.clone();
        let item = self.item.clone();
        let caller = caller.cloned();
        block_on_host(&runtime, async move {
            super::dispatch::call_sync(&engine, &item, caller.as_ref(), send, timeout_ms).await
        })
    }

    fn adapter_call(&self, body: &[u8], params: Vec<(String, String)>) -> crate::adapter::AdapterResult {
        let Some(adapter) = self.outbound.as_ref().map(|slot| slot.current()) else {
            return Err(PluginError::new(
                ErrorKind::Unsupported,
                format!("item {} has no outbound adapter", self.item),
            ));
        };
        let engine = self.engine.upgrade().ok_or_else(gone)?;
        let body = body.to_vec();
        block_on_host(&engine.runtime, async move { adapter.call(body, params).await })
    }

    fn send_deferred_reply(&self, token: &str, body: Vec<u8>) -> Result<(), PluginError> {
        let engine = self.engine.upgrade().ok_or_else(gone)?;
        let runtime = engine.runtime.clone();
        let token = token.to_string();
        block_on_host(&runtime, async move { super::dispatch::deferred_reply(&engine, &token, body).await })
    }

    fn extension(&self, name: &str, _input: &[u8]) -> Option<Result<Vec<u8>, PluginError>> {
        match name {
            // The names of the production's items, newline-separated (routers check rule targets).
            "hie.items" => {
                let engine = self.engine.upgrade()?;
                let plan = engine.plan()?;
                Some(Ok(plan.item_names().join("\n").into_bytes()))
            }
            _ => None,
        }
    }
}
