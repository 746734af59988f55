//! The subcommands. `anyhow` lives here, at the binary's edge.

/// `println!` that never panics: a closed pipe (`hie plugins | head`) ends the process
/// quietly with exit code 0 (see [`output::print`]).
macro_rules! outln {
    () => { $crate::cli::output::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::print(format_args!("{}\n", format_args!($($arg)*))) };
}

pub mod audit;
pub mod client;
pub mod convert;
pub mod iris;
pub mod items;
pub mod logging;
pub mod lookups;
pub mod messages;
pub mod output;
pub mod packs;
pub mod plugins;
pub mod progress;
pub mod reload;
pub mod render;
pub mod rlimit;
pub mod run;
pub mod status;
pub mod table;
pub mod units;
pub mod validate;
pub mod worker;

pub use logging::{init_tracing, init_tracing_with};

use hie_host::pack::{self, PackRegistry};
use hie_host::production::ProductionConfig;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

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
