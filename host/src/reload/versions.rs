//! The applied configuration versions, kept in `<data-dir>/config-versions/` so an
//! operator can see what ran when and roll back.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One applied version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigVersion {
    /// 1, 2, 3 ... in the order applied (continues across restarts).
    pub version: u64,
    /// SHA-256 of the file text.
    pub sha256: String,
    /// When it was applied (RFC 3339).
    pub applied_at: String,
    /// What applied it: `startup`, `watch`, `sighup`, `api`, `rollback to version N`.
    pub source: String,
    /// The production file it came from.
    pub file: String,
}

/// The version history.
pub struct Versions {
    /// Where versions are stored; `None` if the directory cannot be written (kept in memory).
    dir: Option<PathBuf>,
    /// Versions in order.
    list: Vec<ConfigVersion>,
    /// Texts kept in memory when the directory is not writable.
    memory: Vec<(u64, String)>,
}

impl Versions {
    /// Opens (or creates) the store.
    pub fn open(dir: &Path) -> Versions {
        let dir_ok = std::fs::create_dir_all(dir).is_ok();
        let list = std::fs::read(dir.join("index.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<ConfigVersion>>(&b).ok())
            .unwrap_or_default();
        Versions { dir: dir_ok.then(|| dir.to_path_buf()), list, memory: Vec::new() }
    }

    /// Records `text` as applied and returns its version number.
    pub fn record(&mut self, file: &Path, text: &str, source: &str) -> u64 {
        let version = self.list.last().map(|v| v.version + 1).unwrap_or(1);
        let v = ConfigVersion {
            version,
            sha256: crate::pack::sha256_hex(text.as_bytes()),
            applied_at: chrono::Utc::now().to_rfc3339(),
            source: source.to_string(),
            file: file.display().to_string(),
        };
        self.list.push(v);
        match &self.dir {
            Some(dir) => {
                let write = std::fs::write(dir.join(format!("{version}.txt")), text)
                    .and_then(|_| {
                        std::fs::write(
                            dir.join("index.json.tmp"),
                            serde_json::to_vec_pretty(&self.list).unwrap_or_default(),
                        )
                    })
                    .and_then(|_| std::fs::rename(dir.join("index.json.tmp"), dir.join("index.json")));
                if let Err(e) = write {
                    tracing::warn!(error = %e, "cannot store the config version; keeping it in memory");
                    self.memory.push((version, text.to_string()));
                }
            }
            None => self.memory.push((version, text.to_string())),
        }
        version
    }

    /// The running (last applied) version.
    pub fn current(&self) -> Option<ConfigVersion> {
        self.list.last().cloned()
    }

    /// Every version.
    pub fn list(&self) -> Vec<ConfigVersion> {
        self.list.clone()
    }

    /// The text of a version.
    pub fn text(&self, version: u64) -> Option<String> {
        if let Some((_, t)) = self.memory.iter().find(|(v, _)| *v == version) {
            return Some(t.clone());
        }
        let dir = self.dir.as_ref()?;
        std::fs::read_to_string(dir.join(format!("{version}.txt"))).ok()
    }
}
