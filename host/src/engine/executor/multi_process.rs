//! `multi_process` execution mode: worker processes (the `hie` binary re-executed).

use crate::engine::EngineInner;
use crate::engine::executor::Executor;
use crate::engine::item::ItemRuntime;
use std::sync::Arc;

/// Starts the worker processes of an item.
pub async fn start(_engine: &Arc<EngineInner>, rt: &Arc<ItemRuntime>) -> Result<Arc<dyn Executor>, String> {
    Err(format!("execution mode multi_process is not available yet for item {}", rt.plan.name))
}
