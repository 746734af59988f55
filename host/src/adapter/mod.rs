//! Host adapters: the I/O half of item classes (IRIS pairs each host class with an
//! adapter; HIE keeps adapters in the host so sockets and files outlive pack swaps and
//! plugin code needs no runtime of its own).
//!
//! - [`mllp_inbound`]: MLLP/TCP listener for services.
//! - [`mllp_outbound`]: MLLP/TCP client for operations.
//! - [`file_inbound`]: directory poller for services.
//! - [`file_outbound`]: atomic file writer for operations.
//! - [`http_outbound`]: HTTP client for operations that call web services.
//! - [`address`]: the TCP adapters' `LocalInterface` and `AllowedIPAddresses`.
//! - [`tls`]: the TCP adapters' `SSLConfig`.

pub mod address;
pub mod file_inbound;
pub mod file_outbound;
pub mod http_outbound;
pub mod mllp_inbound;
pub mod mllp_outbound;
mod settings;
pub mod tls;

pub use settings::AdapterSettings;

use crate::engine::{EngineInner, ItemRuntime};
use crate::production::plan::ItemPlan;
use futures::future::BoxFuture;
use hie_plugin_api::abi::PluginError;
use hie_plugin_api::adapters;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Reply from an outbound adapter: body and named results.
pub type AdapterResult = Result<(Vec<u8>, Vec<(String, String)>), PluginError>;

/// An operation's adapter: delivers bytes somewhere and returns the reply.
pub trait OutboundAdapter: Send + Sync {
    /// Delivers `body` with `params`.
    fn call(&self, body: Vec<u8>, params: Vec<(String, String)>) -> BoxFuture<'static, AdapterResult>;
    /// Closes connections (item stop).
    fn close(&self) -> BoxFuture<'static, ()>;
}

/// A running inbound adapter.
pub struct InboundHandle {
    /// Cancelled to stop it.
    stop: CancellationToken,
    /// Its tasks.
    tasks: Vec<JoinHandle<()>>,
}

impl InboundHandle {
    /// Stops taking input and waits for in-flight messages to be committed and answered.
    pub async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The outbound adapter for an operation's plan, if its class has one.
pub fn outbound_for(plan: &ItemPlan, runtime: tokio::runtime::Handle) -> Option<Arc<dyn OutboundAdapter>> {
    outbound_from(&plan.adapter, &AdapterSettings::new(plan), runtime)
}

/// The outbound adapter named `adapter` with `settings`, if it is an outbound adapter.
pub fn outbound_from(
    adapter: &str,
    settings: &AdapterSettings,
    runtime: tokio::runtime::Handle,
) -> Option<Arc<dyn OutboundAdapter>> {
    let settings = settings.clone();
    match adapter {
        adapters::TCP_MLLP_OUTBOUND => Some(Arc::new(mllp_outbound::MllpClient::new(&settings, runtime))),
        adapters::FILE_OUTBOUND => Some(Arc::new(file_outbound::FileWriter::new(&settings))),
        adapters::HTTP_OUTBOUND => Some(Arc::new(http_outbound::HttpClient::new(&settings))),
        _ => None,
    }
}

/// Starts the inbound adapter of a service, if its class has one.
pub async fn start_inbound(engine: Arc<EngineInner>, item: Arc<ItemRuntime>) -> Result<Option<InboundHandle>, String> {
    let stop = CancellationToken::new();
    let settings = AdapterSettings::new(&item.plan);
    let tasks = match item.plan.adapter.as_str() {
        adapters::TCP_MLLP_INBOUND => mllp_inbound::start(engine, item.clone(), &settings, stop.clone()).await?,
        adapters::FILE_INBOUND => file_inbound::start(engine, item.clone(), &settings, stop.clone())?,
        "" => return Ok(None),
        other => {
            return Err(format!("class {} needs adapter {other:?}, which this host does not have", item.plan.class));
        }
    };
    Ok(Some(InboundHandle { stop, tasks }))
}
