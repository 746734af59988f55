//! File watching for hot reload: the production file's directory, the IRIS catalog
//! directories beside it (rule, DTL, schema and lookup-table files: a change there reloads
//! too, and the plan's catalog fingerprint restarts the items that read them) and the
//! plugin directories, debounced. A catalog directory created after start is watched from
//! the next restart; until then `hie reload` picks its changes up.
//!
//! Directories are watched rather than files, because editors save by writing a temporary
//! file and renaming it, which breaks a watch on the file itself. Events are only hints:
//! the reloader re-reads and hashes, so a spurious or repeated event changes nothing.

use notify_debouncer_full::notify::{EventKind, RecursiveMode, event::AccessKind};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The production file.
    Config,
    /// A `.so` in a plugin directory.
    Packs,
}

type Watcher = Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>;

/// Keeps the watchers alive; dropping it stops watching.
pub struct Watchers {
    /// Watches the production file's directory.
    _config: Watcher,
    /// Watches the plugin directories; a reload that names a new one adds it.
    packs: Watcher,
}

impl Watchers {
    /// Watches one more plugin directory (one a changed production names).
    pub fn watch_pack_dir(&mut self, dir: &Path) -> Result<(), String> {
        self.packs.watch(dir, RecursiveMode::NonRecursive).map_err(|e| format!("cannot watch {}: {e}", dir.display()))
    }
}

fn relevant(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Access(AccessKind::Open(_))
            | EventKind::Access(AccessKind::Read)
            | EventKind::Access(AccessKind::Any)
    )
}

/// Watches the production file (through its directory) and the plugin directories.
pub fn start(config: &Path, plugin_dirs: &[PathBuf], tx: UnboundedSender<Change>) -> Result<Watchers, String> {
    let config_name = config.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let config_dir = match config.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let ctx = tx.clone();
    // Events name paths under the directory as it was watched: one spelling for both.
    let config_dir = std::fs::canonicalize(&config_dir).unwrap_or(config_dir);
    let catalog_dirs: Vec<PathBuf> = hie_iris::catalog::watched_dirs(&config_dir);
    let watched = catalog_dirs.clone();
    let catalog_file = move |p: &Path| {
        p.extension().is_some_and(|x| hie_iris::catalog::DIGESTED.iter().any(|d| x == *d))
            && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
            && p.parent().is_some_and(|d| watched.iter().any(|w| w == d))
    };
    let mut d = new_debouncer(Duration::from_millis(300), None, move |res: DebounceEventResult| {
        if let Ok(events) = res {
            let hit = events.iter().any(|e| {
                relevant(&e.kind)
                    && e.paths.iter().any(|p| p.file_name() == Some(config_name.as_os_str()) || catalog_file(p))
            });
            if hit {
                let _ = ctx.send(Change::Config);
            }
        }
    })
    .map_err(|e| format!("cannot start the config watcher: {e}"))?;
    d.watch(&config_dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {e}", config_dir.display()))?;
    for dir in catalog_dirs.iter().filter(|c| **c != config_dir && c.is_dir()) {
        if let Err(e) = d.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the catalog directory");
        }
    }
    let config_watcher = d;

    let ptx = tx;
    let mut d = new_debouncer(Duration::from_millis(300), None, move |res: DebounceEventResult| {
        if let Ok(events) = res {
            let hit = events.iter().any(|e| {
                relevant(&e.kind)
                    && e.paths.iter().any(|p| {
                        p.extension().is_some_and(|x| x == "so")
                            && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
            });
            if hit {
                let _ = ptx.send(Change::Packs);
            }
        }
    })
    .map_err(|e| format!("cannot start the pack watcher: {e}"))?;
    for dir in plugin_dirs.iter().filter(|d| d.is_dir()) {
        if let Err(e) = d.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch plugin directory");
        }
    }
    Ok(Watchers { _config: config_watcher, packs: d })
}
