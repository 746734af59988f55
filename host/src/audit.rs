//! The audit trail: who read which message's body, and who resent, suspended, purged,
//! paused, reloaded, rolled back or swapped what, when, from where (issue 13).
//!
//! # Invariants
//! - Durable before it counts: an entry is appended as one JSON line and synced
//!   (`sync_data`) before [`AuditLog::record`] returns; a body is shown only once its
//!   read is recorded (the API answers 503 when the trail cannot be written).
//! - Kept apart from the journal (`<data-dir>/audit.jsonl`), so purging messages never
//!   purges the audit; nothing in HIE truncates or rewrites it.
//! - A torn last line (a crash mid-append) is skipped when reading, never an error.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One audited action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When, RFC 3339 with milliseconds, UTC.
    pub time: String,
    /// Who: the token's name (`loopback` when the API runs without tokens).
    pub who: String,
    /// Their role.
    pub role: String,
    /// What: `read-body`, `resend`, `suspend`, `purge`, `reload`, `rollback`, ...
    pub action: String,
    /// What it was done to: `POST /api/messages/42/resend` and the like.
    pub target: String,
    /// From where: the peer's address.
    pub from: String,
    /// The HTTP status the action was answered with.
    pub status: u16,
}

/// Why the trail could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be opened, written or synced.
    #[error("the audit log {path} cannot be written: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The append-only audit file.
pub struct AuditLog {
    /// `<data-dir>/audit.jsonl`.
    path: PathBuf,
    /// Held while a line is appended and synced: lines never interleave.
    file: Mutex<Option<std::fs::File>>,
}

impl AuditLog {
    /// The trail in `data_dir` (opened on first use, created when missing).
    pub fn new(data_dir: &Path) -> AuditLog {
        AuditLog { path: data_dir.join("audit.jsonl"), file: Mutex::new(None) }
    }

    /// Appends `entry` and syncs it to disk.
    pub fn record(&self, entry: &AuditEntry) -> Result<(), AuditError> {
        let io = |source| AuditError::Io { path: self.path.clone(), source };
        let mut line = serde_json::to_vec(entry).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
            // A crash mid-append leaves a torn last line: end it, so this entry stands alone.
            if !ends_in_newline(&self.path).map_err(io)? {
                f.write_all(b"\n").map_err(io)?;
            }
            *guard = Some(f);
        }
        let Some(f) = guard.as_mut() else { return Ok(()) };
        let written = f.write_all(&line).and_then(|()| f.sync_data());
        if let Err(e) = written {
            // Reopen next time: the handle may be in a bad state (disk full, file removed).
            *guard = None;
            return Err(io(e));
        }
        Ok(())
    }

    /// The newest `limit` entries, newest first (a line that does not parse is skipped).
    pub fn recent(&self, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(AuditError::Io { path: self.path.clone(), source }),
        };
        Ok(text.lines().rev().filter_map(|l| serde_json::from_str(l).ok()).take(limit).collect())
    }
}

/// Whether the file is empty or its last byte is a newline.
fn ends_in_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    if f.metadata()?.len() == 0 {
        return Ok(true);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// Now, as audit entries write it.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> AuditEntry {
        AuditEntry {
            time: now(),
            who: "alice".into(),
            role: "operator".into(),
            action: action.into(),
            target: "GET /api/messages/1".into(),
            from: "127.0.0.1:5000".into(),
            status: 200,
        }
    }

    #[test]
    fn entries_read_back_newest_first_and_a_torn_last_line_is_skipped() {
        let dir = std::env::temp_dir().join(format!("hie-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let log = AuditLog::new(&dir);
        assert_eq!(log.recent(10).expect("empty"), Vec::new());
        for a in ["read-body", "resend", "purge"] {
            log.record(&entry(a)).expect("recorded");
        }
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.join("audit.jsonl")).expect("open");
        f.write_all(b"{\"time\":\"2026").expect("torn");
        let got: Vec<String> = log.recent(2).expect("read").into_iter().map(|e| e.action).collect();
        assert_eq!(got, ["purge", "resend"]);
        // After a restart (a new log over the same file) the next entry stands alone.
        let log = AuditLog::new(&dir);
        log.record(&entry("reload")).expect("recorded");
        let got: Vec<String> = log.recent(10).expect("read").into_iter().map(|e| e.action).collect();
        assert_eq!(got, ["reload", "purge", "resend", "read-body"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
