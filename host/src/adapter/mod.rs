//! Adapters: the I/O half of item classes (IRIS pairs each host class with an adapter).
//! The host's own adapters live here; packs provide more through ABI 1.1. Sockets and
//! files are the host's, so they outlive pack swaps and plugin code needs no runtime.
//!
//! - [`port`]: the narrow port every adapter sees (and the only engine-facing types).
//! - [`registry`]: every adapter with its typed settings and claimed resources.
//! - [`mllp_inbound`]: MLLP/TCP listener for services.
//! - [`mllp_outbound`]: MLLP/TCP client for operations.
//! - [`file_inbound`]: directory poller for services.
//! - [`file_outbound`]: atomic file writer for operations.
//! - [`ftp_inbound`], [`ftp_outbound`]: the same on an FTP, FTPS or SFTP server,
//!   through [`remote`].
//! - [`http_outbound`]: HTTP client for operations that call web services.
//! - [`http_inbound`]: HTTP listener for services (each POST body a message).
//! - [`pattern`]: `*` and `?` name patterns (FileSpec, known_hosts).
//! - [`address`]: the TCP adapters' `LocalInterface` and `AllowedIPAddresses`.
//! - [`tls`]: the TCP adapters' `SSLConfig`.
//!
//! # Dependency rule
//! The engine depends on adapters, never the reverse: nothing here names an engine type.
//! An inbound adapter talks to the engine only through [`port::IntakeSink`]; an outbound
//! adapter is called through [`port::OutboundAdapter`].

pub mod address;
pub mod file_inbound;
pub mod file_outbound;
pub mod ftp_inbound;
pub mod ftp_outbound;
pub mod http_inbound;
pub mod http_outbound;
pub mod mllp_inbound;
pub mod mllp_outbound;
pub mod pattern;
pub mod port;
pub mod registry;
pub mod remote;
mod settings;
pub mod tls;

pub use hie_plugin_api::settings::SettingsSource;
pub use port::{AdapterResult, InboundContext, OutboundAdapter};
pub use settings::AdapterSettings;

use hie_plugin_api::adapters;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running inbound adapter.
pub struct InboundHandle {
    /// Cancelled to stop it.
    stop: CancellationToken,
    /// Its tasks.
    tasks: Vec<JoinHandle<()>>,
}

impl InboundHandle {
    /// A handle over `tasks`, stopped through `stop`.
    pub fn new(stop: CancellationToken, tasks: Vec<JoinHandle<()>>) -> InboundHandle {
        InboundHandle { stop, tasks }
    }

    /// Stops taking input and waits for in-flight messages to be committed and answered.
    pub async fn stop(self) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The host's outbound adapter named `adapter` with `settings`: `Ok(None)` when the host
/// has no outbound adapter of that name (a pack may), an error when its settings do not
/// read (validation reports the same problem first).
pub fn host_outbound(
    adapter: &str,
    settings: &AdapterSettings,
    runtime: tokio::runtime::Handle,
) -> Result<Option<Arc<dyn OutboundAdapter>>, String> {
    Ok(match adapter {
        adapters::TCP_MLLP_OUTBOUND => Some(Arc::new(mllp_outbound::MllpClient::new(settings, runtime)?)),
        adapters::FILE_OUTBOUND => Some(Arc::new(file_outbound::FileWriter::new(settings)?)),
        adapters::HTTP_OUTBOUND => Some(Arc::new(http_outbound::HttpClient::new(settings)?)),
        adapters::FTP_OUTBOUND => Some(Arc::new(ftp_outbound::FtpWriter::new(settings)?)),
        _ => None,
    })
}

/// Starts the host's inbound adapter named `adapter`; `Ok(None)` when the host has none
/// of that name (a pack may).
pub async fn start_host_inbound(adapter: &str, ctx: InboundContext) -> Result<Option<InboundHandle>, String> {
    let stop = ctx.stop.clone();
    let tasks = match adapter {
        adapters::TCP_MLLP_INBOUND => mllp_inbound::start(ctx).await?,
        adapters::FILE_INBOUND => file_inbound::start(ctx)?,
        adapters::HTTP_INBOUND => http_inbound::start(ctx).await?,
        adapters::FTP_INBOUND => ftp_inbound::start(ctx)?,
        _ => return Ok(None),
    };
    Ok(Some(InboundHandle::new(stop, tasks)))
}
