//! FTP outbound: writes each message as a file on an FTP, FTPS or SFTP server
//! ([`super::remote`]), as IRIS's `EnsLib.FTP.OutboundAdapter` does.
//!
//! Settings (IRIS names): the server's (`FTPServer`, `FTPPort`, `Protocol`,
//! `Credentials`, `SSLConfig`, `UsePASV`, `ConnectTimeout`, the SFTP key settings),
//! `FilePath` (the remote directory; empty = the log-in directory) and `StayConnected`
//! (-1 keeps the session, 0 logs out after each file). The file name comes from the
//! operation as the `Filename` parameter, expanded as the file writer expands it
//! ([`super::file_outbound::expand_filename`]; `%!+(_a)` counts up past the names
//! the directory's listing holds).
//!
//! # Invariants
//! - No half-written file ever appears under its final name: the body is stored under a
//!   hidden temporary name in the same directory, then renamed.
//! - A call succeeds only once the rename succeeded; any failure of the server or the
//!   network is `Disconnected` (retried by the engine) and drops the session, so the
//!   next attempt starts on a fresh one.

use super::file_outbound::{expand_filename, unique_name};
use super::remote::{self, Endpoint, Session};
use super::{AdapterResult, AdapterSettings, OutboundAdapter, SettingsSource};
use chrono::Local;
use futures::future::BoxFuture;
use hie_plugin_api::abi::{ErrorKind, PluginError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

/// The FTP writer of one operation.
pub struct FtpWriter {
    /// The server.
    endpoint: Arc<Endpoint>,
    /// Remote directory.
    dir: Arc<str>,
    /// Keep the session between files (`StayConnected` other than 0).
    stay_connected: bool,
    /// The session kept between calls; calls take their turn on it.
    session: Arc<Mutex<Option<Session>>>,
    /// Counter for temporary names.
    seq: Arc<AtomicU64>,
}

impl FtpWriter {
    /// A writer for the operation's settings.
    pub fn new(settings: &AdapterSettings) -> Result<Self, String> {
        let stay = settings.text("StayConnected");
        let stay_connected = match stay.trim() {
            "" => true,
            v => {
                v.parse::<f64>()
                    .map_err(|_| format!("adapter setting StayConnected: invalid value {v:?}: expected seconds"))?
                    != 0.0
            }
        };
        Ok(FtpWriter {
            endpoint: Arc::new(Endpoint::from_settings(settings)?),
            dir: Arc::from(settings.text("FilePath").as_str()),
            stay_connected,
            session: Arc::new(Mutex::new(None)),
            seq: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// A failure of the server or the network: retried.
fn disconnected(message: String) -> PluginError {
    PluginError::new(ErrorKind::Disconnected, message)
}

impl OutboundAdapter for FtpWriter {
    fn call(&self, body: Vec<u8>, params: Vec<(String, String)>) -> BoxFuture<'static, AdapterResult> {
        let (endpoint, dir, slot) = (self.endpoint.clone(), self.dir.clone(), self.session.clone());
        let stay = self.stay_connected;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
            let pattern = Some(get("Filename")).filter(|p| !p.is_empty()).unwrap_or_else(|| "%f_%Q%!+(_a)".into());
            let original = [get("OriginalFilename"), get("DefaultName")]
                .into_iter()
                .find(|o| !o.is_empty())
                .unwrap_or_else(|| "message".into());
            let (name, unique) = expand_filename(&pattern, &original, Local::now());
            if name.contains('/') || name.is_empty() || name.starts_with('.') {
                return Err(PluginError::new(ErrorKind::Failed, format!("invalid file name {name:?}")));
            }
            let mut guard = slot.lock().await;
            let mut session = match guard.take() {
                Some(s) => s,
                None => Session::connect(&endpoint).await.map_err(disconnected)?,
            };
            let result = store(&mut session, &dir, &name, unique, &body, seq).await;
            match &result {
                Ok(_) if stay => *guard = Some(session),
                _ => session.quit().await,
            }
            let path = result.map_err(disconnected)?;
            Ok((Vec::new(), vec![("Path".to_string(), path)]))
        })
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let slot = self.session.clone();
        Box::pin(async move {
            if let Some(s) = slot.lock().await.take() {
                s.quit().await;
            }
        })
    }
}

/// Stores `body` under a temporary name and renames it to `name` (made unique first when
/// the pattern asks); returns the final path.
async fn store(
    session: &mut Session,
    dir: &str,
    name: &str,
    unique: Option<(usize, String)>,
    body: &[u8],
    seq: u64,
) -> Result<String, String> {
    let name = match unique {
        Some((at, template)) => {
            let taken = session.list(dir).await?;
            unique_name(name, at, &template, |n| taken.iter().any(|t| t == n))
        }
        None => name.to_string(),
    };
    let tmp = remote::join(dir, &format!(".{name}.{}.{seq}.tmp", std::process::id()));
    let path = remote::join(dir, &name);
    session.put(&tmp, body).await?;
    if let Err(e) = session.rename(&tmp, &path).await {
        let _ = session.delete(&tmp).await;
        return Err(e);
    }
    Ok(path)
}
