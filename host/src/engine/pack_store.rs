//! The packs the engine has loaded, the counter that numbers their loads, and the pack
//! directories a reload added to those of the start-up.
//!
//! # Invariants
//! - A pack once loaded stays in the registry until a pack swap replaces it: shared
//!   libraries are never unloaded, and items still running the older build keep it.
//! - Generations only grow: a worker process told to load generation N never meets an
//!   older build under that number.

use crate::lock::RwLockExt;
use crate::pack::{LoadedPack, PackRegistry};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// The engine's packs.
pub struct PackStore {
    /// The packs loaded so far, by the start-up and by reloads.
    registry: RwLock<PackRegistry>,
    /// The generation the next load gets (the start-up's loads took the first ones).
    generation: AtomicU64,
    /// The start-up's pack directories (binary dir, `--plugins`, config `plugin_dirs`).
    startup_dirs: Vec<PathBuf>,
    /// Pack directories reloaded productions added, searched after the start-up's.
    added_dirs: RwLock<Vec<PathBuf>>,
}

impl PackStore {
    /// The start-up's packs, loaded from `dirs`; `next_generation` numbers the next load.
    pub fn new(registry: PackRegistry, next_generation: u64, dirs: Vec<PathBuf>) -> PackStore {
        PackStore {
            registry: RwLock::new(registry),
            generation: AtomicU64::new(next_generation),
            startup_dirs: dirs,
            added_dirs: RwLock::new(Vec::new()),
        }
    }

    /// The packs loaded so far.
    pub fn registry(&self) -> RwLockReadGuard<'_, PackRegistry> {
        self.registry.read_unpoisoned()
    }

    /// Adds a newly loaded pack.
    pub fn add(&self, pack: Arc<LoadedPack>) {
        self.registry.write_unpoisoned().add(pack);
    }

    /// Puts `pack` in the place of the one loaded from `old_path`.
    pub fn replace(&self, old_path: &Path, pack: Arc<LoadedPack>) {
        self.registry.write_unpoisoned().replace(old_path, pack);
    }

    /// Takes the next load generation.
    pub fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::Relaxed)
    }

    /// Where packs are searched: the start-up's directories, then those reloads added.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs = self.startup_dirs.clone();
        dirs.extend(self.added_dirs.read_unpoisoned().iter().cloned());
        dirs
    }

    /// Adds the directories of `wanted` not searched yet; returns them.
    pub fn add_dirs(&self, wanted: &[PathBuf]) -> Vec<PathBuf> {
        let key = |d: &PathBuf| d.canonicalize().unwrap_or_else(|_| d.clone());
        let known: HashSet<PathBuf> = self.dirs().iter().map(key).collect();
        let mut added = self.added_dirs.write_unpoisoned();
        let mut new = Vec::new();
        for d in wanted {
            if d.is_dir() && !known.contains(&key(d)) && !new.iter().any(|n: &PathBuf| key(n) == key(d)) {
                new.push(d.clone());
            }
        }
        added.extend(new.iter().cloned());
        new
    }
}
