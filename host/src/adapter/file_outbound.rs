//! File outbound: writes each message to a file, atomically.
//!
//! Settings (IRIS names): `FilePath` (directory), `Overwrite` (0: append to an existing
//! file, as IRIS does; 1: replace it). The file name comes from the operation as the
//! `Filename` parameter, with IRIS's timestamp specifiers expanded here (see
//! [`expand_filename`]). A file is written under a temporary name, synced and renamed,
//! so no half-written file ever appears under its final name.

use super::{AdapterResult, AdapterSettings, OutboundAdapter, SettingsSource};
use chrono::{DateTime, Local};
use futures::future::BoxFuture;
use hie_plugin_api::abi::{ErrorKind, PluginError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The file writer of one operation.
pub struct FileWriter {
    /// Target directory.
    dir: PathBuf,
    /// Replace existing files instead of appending.
    overwrite: bool,
    /// Counter for temporary names.
    seq: Arc<AtomicU64>,
}

impl FileWriter {
    /// A writer for the operation's settings.
    pub fn new(settings: &AdapterSettings) -> Result<Self, String> {
        let dir = settings.text("FilePath");
        if dir.is_empty() {
            return Err("adapter setting FilePath is required".into());
        }
        Ok(FileWriter {
            dir: PathBuf::from(dir),
            overwrite: settings.bool_or("Overwrite", false).map_err(|e| e.to_string())?,
            seq: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// Expands IRIS filename specifiers:
/// `%f` original file name (without directory), `%F` the same without extension,
/// `%Q` ODBC-style timestamp `YYYY-MM-DD_HH.MM.SS.mmm`, `%Y %m %d %H %M %S` date parts,
/// `%N` milliseconds, `%%` a percent sign, and `%!+(X)` / `%+(X)`: when the name exists,
/// add `X` with its last letter counting up (`_a`, `_b`, ...) until it does not.
/// Returns the name and, if present, the uniqueness suffix template.
pub fn expand_filename(pattern: &str, original: &str, now: DateTime<Local>) -> (String, Option<(usize, String)>) {
    let mut out = String::new();
    let mut unique = None;
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let stem = Path::new(original).file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let no_ext = Path::new(&stem).file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    while i < chars.len() {
        if chars[i] != '%' || i + 1 >= chars.len() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let c = chars[i + 1];
        i += 2;
        match c {
            'f' => out.push_str(&stem),
            'F' => out.push_str(&no_ext),
            'Q' => out.push_str(&now.format("%Y-%m-%d_%H.%M.%S%.3f").to_string()),
            'Y' => out.push_str(&now.format("%Y").to_string()),
            'm' => out.push_str(&now.format("%m").to_string()),
            'd' => out.push_str(&now.format("%d").to_string()),
            'H' => out.push_str(&now.format("%H").to_string()),
            'M' => out.push_str(&now.format("%M").to_string()),
            'S' => out.push_str(&now.format("%S").to_string()),
            'N' => out.push_str(&now.format("%3f").to_string()),
            '%' => out.push('%'),
            '!' | '+' => {
                // `%!+(X)` or `%+(X)`.
                if c == '!' && chars.get(i) == Some(&'+') {
                    i += 1;
                }
                if chars.get(i) == Some(&'(') {
                    let close = chars[i..].iter().position(|&ch| ch == ')').map(|p| p + i);
                    if let Some(close) = close {
                        let template: String = chars[i + 1..close].iter().collect();
                        unique = Some((out.len(), template));
                        i = close + 1;
                    }
                }
            }
            other => {
                out.push('%');
                out.push(other);
            }
        }
    }
    (out, unique)
}

/// Picks a free name for a `%!+(X)` pattern: first without the suffix, then `X`, then
/// `X` with its last letter (or digit) counting up; `exists` says whether a name is taken
/// (a directory here, a server's listing for the FTP writer).
pub fn unique_name(name: &str, at: usize, template: &str, exists: impl Fn(&str) -> bool) -> String {
    if !exists(name) {
        return name.to_string();
    }
    let (head, tail) = name.split_at(at.min(name.len()));
    let base: String = template.chars().take(template.chars().count().saturating_sub(1)).collect();
    let last = template.chars().last().unwrap_or('a');
    for n in 0..10_000u32 {
        let suffix = if last.is_ascii_lowercase() && n < 26 {
            format!("{base}{}", (last as u8 + n as u8).min(b'z') as char)
        } else {
            format!("{base}{n}")
        };
        let candidate = format!("{head}{suffix}{tail}");
        if !exists(&candidate) {
            return candidate;
        }
    }
    format!("{head}{}{tail}", chrono::Local::now().timestamp_nanos_opt().unwrap_or_default())
}

fn write_atomically(dir: &Path, name: &str, body: &[u8], overwrite: bool, seq: u64) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let final_path = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        if !overwrite && let Ok(existing) = std::fs::read(&final_path) {
            f.write_all(&existing)?;
        }
        f.write_all(body)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, &final_path)?;
    Ok(final_path)
}

impl OutboundAdapter for FileWriter {
    fn call(&self, body: Vec<u8>, params: Vec<(String, String)>) -> BoxFuture<'static, AdapterResult> {
        let dir = self.dir.clone();
        let overwrite = self.overwrite;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
            let pattern = get("Filename");
            let pattern = if pattern.is_empty() { "%f_%Q%!+(_a)".to_string() } else { pattern };
            let original = get("OriginalFilename");
            let original = if original.is_empty() { get("DefaultName") } else { original };
            let original = if original.is_empty() { "message".to_string() } else { original };
            let result = tokio::task::spawn_blocking(move || {
                let (name, unique) = expand_filename(&pattern, &original, Local::now());
                let name = match unique {
                    Some((at, template)) => unique_name(&name, at, &template, |n| dir.join(n).exists()),
                    None => name,
                };
                if name.contains('/') || name.is_empty() {
                    return Err(std::io::Error::other(format!("invalid file name {name:?}")));
                }
                write_atomically(&dir, &name, &body, overwrite, seq)
            })
            .await;
            match result {
                Ok(Ok(path)) => Ok((Vec::new(), vec![("Path".to_string(), path.display().to_string())])),
                Ok(Err(e)) => Err(PluginError::new(ErrorKind::Failed, format!("cannot write file: {e}"))),
                Err(e) => Err(PluginError::new(ErrorKind::Failed, format!("file writer failed: {e}"))),
            }
        })
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn filename_specifiers_expand_like_iris() {
        let now = Local.with_ymd_and_hms(2026, 11, 26, 9, 5, 7).unwrap();
        let (name, unique) = expand_filename("%f_%Q%!+(_a)", "/in/adt_1.hl7", now);
        assert_eq!(name, "adt_1.hl7_2026-11-26_09.05.07.000");
        assert_eq!(unique, Some((name.len(), "_a".to_string())));
        let (name, _) = expand_filename("%F-%Y%m%d.txt", "x/lab.hl7", now);
        assert_eq!(name, "lab-20261126.txt");
    }

    #[test]
    fn unique_suffix_counts_up_when_the_name_exists() {
        let dir = std::env::temp_dir().join(format!("hie-unique-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.hl7"), b"x").unwrap();
        std::fs::write(dir.join("a.hl7_a"), b"x").unwrap();
        assert_eq!(unique_name("a.hl7", 5, "_a", |n| dir.join(n).exists()), "a.hl7_b");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
