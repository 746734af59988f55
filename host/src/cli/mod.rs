//! The subcommands. `anyhow` lives here, at the binary's edge.

pub mod messages;
pub mod packs;
pub mod plugins;
pub mod run;
pub mod validate;
pub mod worker;

use hie_host::pack::{self, PackRegistry};
use hie_host::production::ProductionConfig;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

/// Sets up logging: `HIE_LOG` (or `RUST_LOG`) filters, default `info`.
pub fn init_tracing() {
    init_tracing_with("info");
}

/// Sets up logging with `default` when neither `HIE_LOG` nor `RUST_LOG` is set.
pub fn init_tracing_with(default: &str) {
    let filter =
        std::env::var("HIE_LOG").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| default.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

/// The pack directories, in search order: the executable's directory, `--plugins`, then
/// the production's `plugin_dirs`.
pub fn plugin_dirs(extra: &[PathBuf], config: Option<&ProductionConfig>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = crate::exe_dir() {
        dirs.push(d);
    }
    dirs.extend(extra.iter().cloned());
    if let Some(c) = config {
        dirs.extend(c.plugin_dirs.iter().cloned());
    }
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.canonicalize().unwrap_or_else(|_| d.clone())));
    dirs
}

/// Loads packs, staging them in `<data_dir>/packs` (only signed ones outside the binary's
/// directory when `trust` is given).
pub fn load_packs(
    dirs: &[PathBuf],
    data_dir: &Path,
    generation: &AtomicU64,
    trust: Option<&pack::Trust>,
) -> PackRegistry {
    pack::scan(dirs, &data_dir.join("packs"), generation, trust)
}

/// Reads `--trusted-keys`, if given.
pub fn trust(file: Option<&Path>) -> anyhow::Result<Option<pack::Trust>> {
    file.map(|f| pack::Trust::load(f).map_err(|e| anyhow::anyhow!(e))).transpose()
}
