//! File inbound: polls a directory and takes in the messages each file holds.
//!
//! Settings (IRIS names): `FilePath` (required), `FileSpec` (`*`; several patterns with
//! `;`), `ArchivePath` (move files here after intake), `DeleteFromServer` (1: delete
//! when there is no ArchivePath), `CallInterval` (seconds between polls, default 5), and
//! HIE's `FileFraming`: `HL7` (the default) splits a file into the HL7 messages it holds,
//! taking an FHS/BHS batch whole (the HL7 service applies `BatchHandling`) and a file
//! that is not HL7 whole; `Whole` takes every
//! file whole as one message, whatever it holds (IRIS's passthrough services).
//! A file is archived or deleted only after every message in it is committed; a file
//! whose commit failed stays and is read again at the next poll.

use super::SettingsSource;
use super::pattern::glob_match;
use super::port::{Inbound, InboundContext};
use bytes::Bytes;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;

/// What the poller needs.
#[derive(Clone, Debug)]
struct Config {
    /// Directory polled.
    dir: PathBuf,
    /// Filename patterns.
    specs: Vec<String>,
    /// Archive directory, if any.
    archive: Option<PathBuf>,
    /// Delete files after intake when not archiving.
    delete: bool,
    /// Poll interval.
    interval: Duration,
    /// `FileFraming=Whole`: each file is one message, never split.
    whole: bool,
    /// How long a file must go unmodified before it is taken: IRIS `FileAccessTimeout`
    /// when `ConfirmComplete` asks for the size check (bit 1), else 200 ms.
    settle: Duration,
}

/// The settle time from IRIS `ConfirmComplete` (a bit set: 1 = the size has stopped
/// changing) and `FileAccessTimeout` (seconds): a writer that pauses less than that
/// between writes never has its file taken half-written.
fn settle_time(confirm: &str, access_timeout: &str) -> Result<Duration, String> {
    let bits: u32 = match confirm.trim() {
        "" => 0,
        v => v.parse().map_err(|_| format!("adapter setting ConfirmComplete: invalid value {v:?}: expected a number (bits: 1 size, 2 rename, 4 readable, 8 writable)"))?,
    };
    if bits & 1 == 0 {
        return Ok(Duration::from_millis(200));
    }
    let secs: f64 = match access_timeout.trim() {
        "" => 2.0,
        v => v
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| format!("adapter setting FileAccessTimeout: invalid value {v:?}: expected seconds"))?,
    };
    Ok(Duration::from_secs_f64(secs).max(Duration::from_millis(200)))
}

/// Reads `FileFraming` (shared with the FTP poller): `HL7` (or empty) splits files into HL7 messages, `Whole` does not.
pub fn whole_files(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "hl7" => Ok(false),
        "whole" => Ok(true),
        _ => Err(format!("adapter setting FileFraming: invalid value {value:?}: expected one of HL7, Whole")),
    }
}

/// `FileSpec`'s patterns (`;`-separated; empty is `*`). Shared with the FTP poller.
pub fn file_specs(spec: &str) -> Vec<String> {
    if spec.trim().is_empty() { vec!["*".into()] } else { spec.split(';').map(|s| s.trim().to_string()).collect() }
}

/// `CallInterval` (5 s when not set, never under 50 ms). Shared with the FTP poller.
pub fn poll_interval(settings: &impl SettingsSource) -> Result<Duration, String> {
    Ok(settings
        .seconds_or("CallInterval", Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?
        .unwrap_or(Duration::from_secs(5))
        .max(Duration::from_millis(50)))
}

/// Starts the poller.
pub fn start(ctx: InboundContext) -> Result<Vec<JoinHandle<()>>, String> {
    let settings = &ctx.settings;
    let dir = settings.text("FilePath");
    if dir.is_empty() {
        return Err("adapter setting FilePath is required".into());
    }
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create FilePath {}: {e}", dir.display()))?;
    let archive = Some(settings.text("ArchivePath")).filter(|a| !a.is_empty()).map(PathBuf::from);
    if let Some(a) = &archive {
        std::fs::create_dir_all(a).map_err(|e| format!("cannot create ArchivePath {}: {e}", a.display()))?;
    }
    let spec = settings.text("FileSpec");
    let config = Config {
        dir,
        specs: file_specs(&spec),
        archive,
        delete: settings.bool_or("DeleteFromServer", true).map_err(|e| e.to_string())?,
        interval: poll_interval(settings)?,
        whole: whole_files(&settings.text("FileFraming"))?,
        settle: settle_time(&settings.text("ConfirmComplete"), &settings.text("FileAccessTimeout"))?,
    };
    tracing::info!(item = %ctx.item, dir = %config.dir.display(), "file poller started");
    Ok(vec![ctx.runtime.clone().spawn(poll_loop(ctx, config))])
}

async fn poll_loop(ctx: InboundContext, config: Config) {
    // Files kept in place (no archive, no delete) are remembered so they are taken once.
    let mut seen: HashSet<(PathBuf, SystemTime)> = HashSet::new();
    let mut gate = ctx.gate.clone();
    loop {
        // A paused service reads no files until it is resumed.
        if !gate.wait_open(&ctx.stop).await {
            return;
        }
        for file in list(&config) {
            if ctx.stop.is_cancelled() || !gate.is_open() {
                break;
            }
            take_file(&ctx, &config, &file, &mut seen).await;
        }
        tokio::select! {
            _ = ctx.stop.cancelled() => return,
            _ = tokio::time::sleep(config.interval) => {}
        }
    }
}

/// Files in the directory matching a spec, oldest name first, skipping files written
/// within the settle time (probably still being written).
fn list(config: &Config) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(&config.dir) else { return Vec::new() };
    let now = SystemTime::now();
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            !name.starts_with('.') && config.specs.iter().any(|s| glob_match(s, &name))
        })
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .map(|m| now.duration_since(m).unwrap_or_default() >= config.settle)
                .unwrap_or(false)
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

async fn take_file(ctx: &InboundContext, config: &Config, file: &Path, seen: &mut HashSet<(PathBuf, SystemTime)>) {
    let modified = std::fs::metadata(file).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
    if seen.contains(&(file.to_path_buf(), modified)) {
        return;
    }
    let bytes = match tokio::fs::read(file).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(item = %ctx.item, file = %file.display(), error = %e, "cannot read file");
            return;
        }
    };
    let name = file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let attributes = vec![("OriginalFilename".to_string(), file.display().to_string()), ("Filename".to_string(), name)];
    let origin = format!("file://{}", file.display());
    let parts = messages_of(bytes, config.whole);
    let count = parts.len();
    let inbound: Vec<Inbound> = parts
        .into_iter()
        .map(|body| Inbound { body, origin: origin.clone(), attributes: attributes.clone() })
        .collect();
    let replies = ctx.sink.submit(inbound).await;
    let committed = replies.iter().all(|r| r.id != 0);
    if !committed {
        tracing::warn!(item = %ctx.item, file = %file.display(), "messages not committed; the file stays for the next poll");
        return;
    }
    tracing::info!(item = %ctx.item, file = %file.display(), messages = count, "file taken in");
    match &config.archive {
        Some(dir) => {
            let mut target = dir.join(file.file_name().unwrap_or_default());
            if target.exists() {
                let stamp = chrono::Local::now().format("%Y%m%d%H%M%S%3f");
                target = dir.join(format!("{}.{stamp}", file.file_name().unwrap_or_default().to_string_lossy()));
            }
            if let Err(e) = move_file(file, &target) {
                tracing::error!(item = %ctx.item, file = %file.display(), error = %e, "cannot archive file");
                seen.insert((file.to_path_buf(), modified));
            }
        }
        None if config.delete => {
            if let Err(e) = std::fs::remove_file(file) {
                tracing::error!(item = %ctx.item, file = %file.display(), error = %e, "cannot delete file");
                seen.insert((file.to_path_buf(), modified));
            }
        }
        None => {
            seen.insert((file.to_path_buf(), modified));
        }
    }
}

/// The messages a file holds, split from its bytes. A file holds one message or several;
/// an FHS/BHS batch goes in whole, so the service applies its BatchHandling and answers
/// with one batch of ACKs; a file that is not HL7 at all goes in whole so the service can
/// refuse it and it shows up as an error. With `whole` (`FileFraming=Whole`) every file
/// goes in whole, its bytes as they are. Shared with the FTP poller.
pub fn messages_of(bytes: Vec<u8>, whole: bool) -> Vec<Bytes> {
    if whole {
        return vec![Bytes::from(bytes)];
    }
    match hie_hl7::split_units(&bytes) {
        Ok(units) if matches!(units.first(), Some(hie_hl7::Unit::FileHeader(_) | hie_hl7::Unit::BatchHeader(_))) => {
            vec![Bytes::from(bytes)]
        }
        Ok(units) if !units.is_empty() => units
            .into_iter()
            .filter_map(|u| match u {
                hie_hl7::Unit::Message(m) => Some(Bytes::copy_from_slice(m)),
                _ => None,
            })
            .collect(),
        _ => vec![Bytes::from(bytes)],
    }
}

/// Renames, or copies and deletes across file systems.
fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(_) => {
            std::fs::copy(from, to)?;
            std::fs::remove_file(from)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{settle_time, whole_files};
    use crate::adapter::pattern::glob_match;

    #[test]
    fn confirm_complete_size_makes_file_access_timeout_the_settle_time() {
        use std::time::Duration;
        assert_eq!(settle_time("", ""), Ok(Duration::from_millis(200)));
        assert_eq!(settle_time("0", "10"), Ok(Duration::from_millis(200)), "no size check: HIE's 200 ms");
        assert_eq!(settle_time("1", ""), Ok(Duration::from_secs(2)), "IRIS's default FileAccessTimeout");
        assert_eq!(settle_time("3", "5"), Ok(Duration::from_secs(5)));
        assert_eq!(settle_time("1", "0"), Ok(Duration::from_millis(200)), "never less than 200 ms");
        assert!(settle_time("x", "").unwrap_err().contains("ConfirmComplete"));
        assert!(settle_time("1", "-1").unwrap_err().contains("FileAccessTimeout"));
    }

    #[test]
    fn file_framing_reads_hl7_by_default_and_whole_in_any_case_and_refuses_anything_else() {
        assert_eq!(whole_files(""), Ok(false));
        assert_eq!(whole_files("HL7"), Ok(false));
        assert_eq!(whole_files(" whole "), Ok(true));
        assert!(whole_files("None").unwrap_err().contains("expected one of HL7, Whole"));
    }

    #[test]
    fn file_spec_wildcards_match_like_iris() {
        assert!(glob_match("*", "a.hl7"));
        assert!(glob_match("*.hl7", "adt.hl7"));
        assert!(!glob_match("*.hl7", "adt.txt"));
        assert!(glob_match("adt_??.hl7", "adt_01.hl7"));
        assert!(!glob_match("adt_??.hl7", "adt_1.hl7"));
    }
}
