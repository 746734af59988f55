//! FTP inbound: polls a directory on an FTP, FTPS or SFTP server ([`super::remote`]) and
//! takes in the messages each file holds, as IRIS's `EnsLib.FTP.InboundAdapter` does.
//!
//! Settings (IRIS names): `FTPServer` (required), `FTPPort`, `Protocol`, `Credentials`,
//! `SSLConfig` (FTPS), `UsePASV`, `ConnectTimeout`, the SFTP key settings, `FilePath`
//! (the remote directory; empty = the log-in directory), `FileSpec`, `ArchivePath` (a
//! remote directory files are moved to), `DeleteFromServer`, `CallInterval` and HIE's
//! `FileFraming`, each as the file poller reads it ([`super::file_inbound`]).
//!
//! # Invariants
//! - A file is deleted or moved on the server only after every message it holds is
//!   committed (all the sink's replies carry an id). A file whose commit failed, or that
//!   could not be read whole, stays and is read again at the next poll.
//! - One session per poll: a server that goes away costs one poll, never the item; the
//!   error is logged with the server and the verb, and the next poll tries again.
//! - A file kept on the server (no ArchivePath, DeleteFromServer=0) is taken once per
//!   engine run: its name is remembered.

use super::SettingsSource;
use super::file_inbound::{file_specs, messages_of, poll_interval, whole_files};
use super::pattern::glob_match;
use super::port::{Inbound, InboundContext};
use super::remote::{self, Endpoint, Session};
use std::collections::HashSet;
use std::time::Duration;
use tokio::task::JoinHandle;

/// What the poller needs.
#[derive(Clone, Debug)]
struct Config {
    /// The server.
    endpoint: Endpoint,
    /// Remote directory polled.
    dir: String,
    /// Filename patterns.
    specs: Vec<String>,
    /// Remote archive directory, if any.
    archive: Option<String>,
    /// Delete files after intake when not archiving.
    delete: bool,
    /// Poll interval.
    interval: Duration,
    /// `FileFraming=Whole`: each file is one message, never split.
    whole: bool,
}

/// Reads the poller's settings (validation reports the same errors first).
fn config(settings: &impl SettingsSource) -> Result<Config, String> {
    let endpoint = Endpoint::from_settings(settings)?;
    Ok(Config {
        endpoint,
        dir: settings.text("FilePath"),
        specs: file_specs(&settings.text("FileSpec")),
        archive: Some(settings.text("ArchivePath")).filter(|a| !a.is_empty()),
        delete: settings.bool_or("DeleteFromServer", true).map_err(|e| e.to_string())?,
        interval: poll_interval(settings)?,
        whole: whole_files(&settings.text("FileFraming"))?,
    })
}

/// Starts the poller.
pub fn start(ctx: InboundContext) -> Result<Vec<JoinHandle<()>>, String> {
    let config = config(&ctx.settings)?;
    tracing::info!(item = %ctx.item, server = %config.endpoint.address(), dir = %config.dir, "FTP poller started");
    Ok(vec![ctx.runtime.clone().spawn(poll_loop(ctx, config))])
}

async fn poll_loop(ctx: InboundContext, config: Config) {
    let mut kept: HashSet<String> = HashSet::new();
    let mut gate = ctx.gate.clone();
    loop {
        // A paused service reads no files until it is resumed.
        if !gate.wait_open(&ctx.stop).await {
            return;
        }
        if let Err(e) = poll(&ctx, &config, &mut kept).await {
            tracing::warn!(item = %ctx.item, error = %e, "FTP poll failed; trying again at the next poll");
        }
        tokio::select! {
            _ = ctx.stop.cancelled() => return,
            _ = tokio::time::sleep(config.interval) => {}
        }
    }
}

/// One poll: connect, list, take every matching file in name order, log out.
async fn poll(ctx: &InboundContext, config: &Config, kept: &mut HashSet<String>) -> Result<(), String> {
    let mut session = Session::connect(&config.endpoint).await?;
    let result = take_all(ctx, config, kept, &mut session).await;
    session.quit().await;
    result
}

async fn take_all(
    ctx: &InboundContext,
    config: &Config,
    kept: &mut HashSet<String>,
    session: &mut Session,
) -> Result<(), String> {
    let names: Vec<String> = session
        .list(&config.dir)
        .await?
        .into_iter()
        .filter(|n| !n.starts_with('.') && config.specs.iter().any(|s| glob_match(s, n)) && !kept.contains(n))
        .collect();
    for name in names {
        if ctx.stop.is_cancelled() || !ctx.gate.is_open() {
            break;
        }
        take_file(ctx, config, kept, session, &name).await?;
    }
    Ok(())
}

async fn take_file(
    ctx: &InboundContext,
    config: &Config,
    kept: &mut HashSet<String>,
    session: &mut Session,
    name: &str,
) -> Result<(), String> {
    let path = remote::join(&config.dir, name);
    let bytes = session.get(&path).await?;
    let origin = format!("ftp://{}/{}", config.endpoint.address(), path.trim_start_matches('/'));
    let attributes = vec![("OriginalFilename".to_string(), path.clone()), ("Filename".to_string(), name.to_string())];
    let inbound: Vec<Inbound> = messages_of(bytes, config.whole)
        .into_iter()
        .map(|body| Inbound { body, origin: origin.clone(), attributes: attributes.clone() })
        .collect();
    let count = inbound.len();
    let replies = ctx.sink.submit(inbound).await;
    if !replies.iter().all(|r| r.id != 0) {
        tracing::warn!(item = %ctx.item, file = %path, "messages not committed; the file stays on the server for the next poll");
        return Ok(());
    }
    tracing::info!(item = %ctx.item, file = %path, messages = count, "file taken in");
    // Committed: from here a failure to move or delete must not take the file in again.
    let done = match &config.archive {
        Some(dir) => match session.rename(&path, &remote::join(dir, name)).await {
            // An archived file of that name is there already: keep both, as the file poller does.
            Err(_) => {
                let stamp = chrono::Local::now().format("%Y%m%d%H%M%S%3f");
                Some(session.rename(&path, &remote::join(dir, &format!("{name}.{stamp}"))).await)
            }
            ok => Some(ok),
        },
        None if config.delete => Some(session.delete(&path).await),
        None => None,
    };
    match done {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            tracing::error!(item = %ctx.item, file = %path, error = %e, "cannot archive or delete the file on the server; it is not taken again");
            kept.insert(name.to_string());
        }
        None => {
            kept.insert(name.to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::AdapterSettings;

    #[test]
    fn the_poller_reads_iris_defaults_and_refuses_an_unknown_file_framing() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("FTPServer".to_string(), "pacs.trust.nhs.uk".to_string());
        let c = config(&AdapterSettings::from_map("In", m.clone())).expect("config");
        assert_eq!(
            (c.specs.clone(), c.delete, c.interval, c.whole),
            (vec!["*".to_string()], true, Duration::from_secs(5), false)
        );
        assert_eq!((c.dir.as_str(), c.archive.as_deref()), ("", None));
        m.insert("FileFraming".to_string(), "Lines".to_string());
        assert!(config(&AdapterSettings::from_map("In", m)).unwrap_err().contains("FileFraming"));
    }
}
