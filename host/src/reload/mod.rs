//! Hot reload: the production file and the plugin packs change under a running engine.
//!
//! - Config: the production file is re-read when it changes (directory watch, debounced),
//!   on SIGHUP, `POST /api/reload` and `hie reload`. It is parsed and validated first; an
//!   invalid file is reported and the running production is untouched. A valid one is
//!   applied as a per-item diff ([`crate::engine::Engine::apply_plan`]), rolled back if
//!   applying fails. Every applied version is kept (hash, time, text) for rollback; a
//!   rollback also writes that version back to the production file, so the file always
//!   says what runs.
//! - Packs: the plugin directories are watched; a new or changed `.so` is staged under its
//!   hash, loaded and checked, then every item running the old version is swapped to it
//!   ([`crate::engine::Engine::swap_pack`]); `multi_process` items roll their workers.
//!   Any failed check leaves the old version running and is reported.
//!
//! Reloads are serialised: one at a time.

mod versions;
pub mod watch;

pub use versions::{ConfigVersion, Versions};

use crate::engine::Engine;
use crate::lock::LockExt;
use crate::pack::{self, LoadedPack, same_file};
use crate::production::{self, validate::ValidateOptions};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;

/// The outcome of one reload attempt.
#[derive(Clone, Debug, Serialize)]
pub struct ReloadEvent {
    /// `config`, `rollback` or `pack`.
    pub kind: String,
    /// What triggered it: `watch`, `sighup`, `api`, `startup`.
    pub source: String,
    /// `applied`, `unchanged`, `rejected` (invalid; nothing changed) or `failed`
    /// (applying failed and was rolled back).
    pub outcome: String,
    /// When, RFC 3339.
    pub at: String,
    /// Config version now running (config reloads).
    pub version: Option<u64>,
    /// The pack file (pack reloads).
    pub pack: Option<String>,
    /// Human summary.
    pub detail: String,
    /// Validation errors and warnings, one per line, each naming file, line, item, setting.
    pub diagnostics: Vec<String>,
    /// What changed.
    pub report: Option<serde_json::Value>,
}

impl ReloadEvent {
    fn new(kind: &str, source: &str, outcome: &str, detail: impl Into<String>) -> Self {
        ReloadEvent {
            kind: kind.into(),
            source: source.into(),
            outcome: outcome.into(),
            at: chrono::Utc::now().to_rfc3339(),
            version: None,
            pack: None,
            detail: detail.into(),
            diagnostics: Vec::new(),
            report: None,
        }
    }
}

/// Everything the reloader remembers, for the API.
#[derive(Default)]
struct Status {
    /// The last config reload attempt.
    last_config: Option<ReloadEvent>,
    /// Recent pack reload attempts (newest last, at most 50).
    packs: Vec<ReloadEvent>,
    /// Counts by (kind, outcome), for /metrics.
    counts: BTreeMap<(String, String), u64>,
    /// Pack files that were deleted while items still run them.
    deleted_packs: HashSet<PathBuf>,
    /// Files in plugin dirs that are not packs (so they are not re-read on every event).
    not_packs: HashSet<(PathBuf, String)>,
}

/// The reloader of one running engine.
pub struct Reloader {
    /// The engine.
    engine: Engine,
    /// The production file.
    config_path: PathBuf,
    /// Validation options of this run.
    options: ValidateOptions,
    /// `hie run --defaults` files: System Default Settings applied on every load.
    defaults: Vec<PathBuf>,
    /// `hie run --set` overrides, applied on every load ([`production::sets`]).
    sets: Vec<production::model::DefaultSetting>,
    /// Serialises reloads.
    lock: tokio::sync::Mutex<()>,
    /// Applied config versions.
    versions: Mutex<Versions>,
    /// Outcomes, for the API and metrics.
    status: Mutex<Status>,
    /// The file watchers, once started: a production that names a new plugin
    /// directory gets it watched too.
    watchers: Mutex<Option<watch::Watchers>>,
    /// Serialises edits of the catalog files beside the production (lookup tables set
    /// through the API): each is a read-modify-write of a whole table's file.
    catalog_edits: tokio::sync::Mutex<()>,
    /// The fingerprint of the catalog files beside the production when the running
    /// configuration was applied: the same file text over a changed catalog is a change.
    catalog_applied: Mutex<u64>,
}

impl Reloader {
    /// A reloader for the running `engine`, started from `config_path` whose text was
    /// `initial_text`.
    /// `defaults` are the `--defaults` System Default Settings files, read again on every
    /// reload as at start-up; `sets` the `--set` overrides, applied to every load too.
    pub fn new(
        engine: Engine,
        config_path: &Path,
        initial_text: &str,
        options: ValidateOptions,
        defaults: Vec<PathBuf>,
        sets: Vec<production::model::DefaultSetting>,
    ) -> Arc<Reloader> {
        let dir = engine.inner.options.data_dir.join("config-versions");
        let mut versions = Versions::open(&dir);
        versions.record(config_path, initial_text, "startup");
        Arc::new(Reloader {
            engine,
            config_path: config_path.to_path_buf(),
            options,
            defaults,
            sets,
            lock: tokio::sync::Mutex::new(()),
            versions: Mutex::new(versions),
            status: Mutex::new(Status::default()),
            watchers: Mutex::new(None),
            catalog_edits: tokio::sync::Mutex::new(()),
            catalog_applied: Mutex::new(hie_iris::catalog::digest(
                &production::catalog::production_dir(config_path),
                None,
            )),
        })
    }

    /// The production file's directory: the root of its IRIS catalog (rules, DTLs,
    /// schemas, lookup tables).
    pub fn production_dir(&self) -> PathBuf {
        production::catalog::production_dir(&self.config_path)
    }

    /// Held while a catalog file is edited (one edit at a time).
    pub async fn catalog_edit(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.catalog_edits.lock().await
    }

    /// Keeps the file watchers, so directories added by a reload are watched as well.
    pub fn keep_watchers(&self, watchers: watch::Watchers) {
        *self.watchers.lock_unpoisoned() = Some(watchers);
    }

    /// Searches (and watches) the plugin directories `config` names that are new, and
    /// loads their packs, so the classes they provide resolve when it is validated.
    async fn adopt_plugin_dirs(&self, config: &production::ProductionConfig, source: &str) {
        let new = self.engine.inner.packs.add_dirs(&config.plugin_dirs);
        if new.is_empty() {
            return;
        }
        if let Some(w) = self.watchers.lock_unpoisoned().as_mut() {
            for dir in &new {
                if let Err(e) = w.watch_pack_dir(dir) {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the new plugin directory");
                }
            }
        }
        tracing::info!(dirs = ?new, "the production names new plugin directories: loading their packs");
        self.scan_packs(source).await;
    }

    fn note(&self, e: &ReloadEvent) {
        let mut s = self.status.lock_unpoisoned();
        *s.counts.entry((e.kind.clone(), e.outcome.clone())).or_default() += 1;
        if e.kind == "pack" {
            s.packs.push(e.clone());
            let n = s.packs.len();
            if n > 50 {
                s.packs.drain(..n - 50);
            }
        } else {
            s.last_config = Some(e.clone());
        }
        match e.outcome.as_str() {
            "applied" | "unchanged" => {
                tracing::info!(kind = %e.kind, source = %e.source, outcome = %e.outcome, detail = %e.detail, "reload")
            }
            _ => {
                tracing::warn!(kind = %e.kind, source = %e.source, outcome = %e.outcome, detail = %e.detail, diagnostics = ?e.diagnostics, "reload")
            }
        }
    }

    /// Re-reads the production file and applies it if it (or the catalog beside it) changed
    /// and is valid.
    pub async fn reload_config(&self, source: &str) -> ReloadEvent {
        let _guard = self.lock.lock().await;
        let text = match std::fs::read_to_string(&self.config_path) {
            Ok(t) => t,
            Err(e) => {
                let ev = ReloadEvent::new(
                    "config",
                    source,
                    "rejected",
                    format!("cannot read {}: {e}", self.config_path.display()),
                );
                self.note(&ev);
                return ev;
            }
        };
        let ev = self.apply_text(&text, "config", source).await;
        self.note(&ev);
        ev
    }

    /// Applies a kept config version again.
    pub async fn rollback(&self, version: u64) -> ReloadEvent {
        let _guard = self.lock.lock().await;
        let text = self.versions.lock_unpoisoned().text(version);
        let ev = match text {
            Some(text) => {
                let mut ev = self.apply_text(&text, "rollback", &format!("rollback to version {version}")).await;
                if ev.outcome == "applied" || ev.outcome == "unchanged" {
                    // The file says what runs: otherwise the next edit or SIGHUP would
                    // silently undo the rollback.
                    if let Err(e) = write_atomically(&self.config_path, &text) {
                        ev.detail
                            .push_str(&format!("; could not write it back to {}: {e}", self.config_path.display()));
                    }
                }
                ev
            }
            None => ReloadEvent::new("rollback", "api", "rejected", format!("no config version {version}")),
        };
        self.note(&ev);
        ev
    }

    async fn apply_text(&self, text: &str, kind: &str, source: &str) -> ReloadEvent {
        let sha = pack::sha256_hex(text.as_bytes());
        let current = self.versions.lock_unpoisoned().current();
        let catalog = hie_iris::catalog::digest(&self.production_dir(), None);
        if current.as_ref().is_some_and(|c| c.sha256 == sha) && *self.catalog_applied.lock_unpoisoned() == catalog {
            let mut ev =
                ReloadEvent::new(kind, source, "unchanged", "the production is already running this configuration");
            ev.version = current.map(|c| c.version);
            return ev;
        }
        let loaded = production::load_str(&self.config_path, text).and_then(|mut c| {
            production::read_defaults_files(&mut c, &self.defaults)?;
            c.overrides = self.sets.clone();
            Ok(c)
        });
        let config = match loaded {
            Ok(c) => c,
            Err(e) => {
                let mut ev = ReloadEvent::new(
                    kind,
                    source,
                    "rejected",
                    "the file cannot be read as a production; nothing changed",
                );
                ev.diagnostics.push(e.to_string());
                return ev;
            }
        };
        self.adopt_plugin_dirs(&config, source).await;
        let (plan, diags) = {
            let packs = self.engine.inner.packs.registry();
            production::validate::validate(&config, &packs, self.options)
        };
        let mut diagnostics: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        if let Some(p) = &plan {
            let running = self.engine.inner.journal.durability();
            if p.durability != running {
                diagnostics.push(format!(
                    "{}: warning: Durability {:?} takes effect at the next restart; this run keeps {:?}",
                    self.config_path.display(),
                    p.durability,
                    running
                ));
            }
        }
        let Some(plan) = plan else {
            let mut ev = ReloadEvent::new(
                kind,
                source,
                "rejected",
                "the new configuration has errors; the running production is unchanged",
            );
            ev.diagnostics = diagnostics;
            return ev;
        };
        match self.engine.apply_plan(plan).await {
            Ok(report) => {
                // The new version and the event that made it are published together:
                // whoever reads the status sees both or neither.
                let mut status = self.status.lock_unpoisoned();
                *self.catalog_applied.lock_unpoisoned() = catalog;
                let version = self.versions.lock_unpoisoned().record(&self.config_path, text, source);
                let mut ev = ReloadEvent::new(
                    kind,
                    source,
                    "applied",
                    format!(
                        "version {version}: {} added, {} changed, {} removed, {} unchanged",
                        report.added.len(),
                        report.changed.len(),
                        report.removed.len(),
                        report.unchanged.len()
                    ),
                );
                ev.version = Some(version);
                ev.diagnostics = diagnostics;
                ev.report = serde_json::to_value(&report).ok();
                status.last_config = Some(ev.clone());
                ev
            }
            Err(e) => {
                let mut ev =
                    ReloadEvent::new(kind, source, "failed", format!("applying failed and was rolled back: {e}"));
                ev.diagnostics = diagnostics;
                ev
            }
        }
    }

    /// Looks for new, changed and deleted packs in the plugin directories and swaps
    /// running items onto changed packs. Returns one event per pack acted on.
    pub async fn reload_packs(&self, source: &str) -> Vec<ReloadEvent> {
        let _guard = self.lock.lock().await;
        self.scan_packs(source).await
    }

    /// [`Reloader::reload_packs`] for a caller already holding the reload lock.
    async fn scan_packs(&self, source: &str) -> Vec<ReloadEvent> {
        let inner = &self.engine.inner;
        let stage = inner.options.data_dir.join("packs");
        let mut events = Vec::new();
        let candidates = pack::pack_candidates(&inner.packs.dirs());
        for path in &candidates {
            let Ok(sha) = pack::sha256_file(path) else { continue };
            let current: Option<Arc<LoadedPack>> = {
                let reg = inner.packs.registry();
                if reg.packs.iter().any(|p| p.sha256 == sha) {
                    continue;
                }
                reg.packs.iter().find(|p| same_file(&p.source_path, path)).cloned()
            };
            if self.status.lock_unpoisoned().not_packs.contains(&(path.clone(), sha.clone())) {
                continue;
            }
            let generation = inner.packs.next_generation();
            let mut ev = ReloadEvent::new("pack", source, "applied", "");
            ev.pack = Some(path.display().to_string());
            let loaded = match pack::load_pack(path, &stage, generation, inner.options.trust.as_deref()) {
                Ok(Some(p)) => Arc::new(p),
                Ok(None) => {
                    self.status.lock_unpoisoned().not_packs.insert((path.clone(), sha));
                    continue;
                }
                Err(f) => {
                    ev.outcome = "rejected".into();
                    ev.detail = format!("{}; the running version keeps serving", f.reason);
                    tracing::debug!(detail = %f.detail, "rejected pack detail");
                    self.note(&ev);
                    events.push(ev);
                    continue;
                }
            };
            match current {
                None => {
                    inner.packs.add(loaded.clone());
                    ev.detail = format!(
                        "new pack {} {} loaded (generation {})",
                        loaded.name, loaded.version, loaded.generation
                    );
                }
                Some(old) => {
                    // Items whose code or adapter runs from this file.
                    let users: Vec<String> = inner
                        .items()
                        .into_iter()
                        .filter(|rt| {
                            same_file(&rt.pack().source_path, path)
                                || rt.adapter_pack().is_some_and(|p| same_file(&p.source_path, path))
                        })
                        .map(|rt| rt.plan.name.to_string())
                        .collect();
                    // In a stable order, so a swap that fails part-way fails alike each time.
                    let mut users = users;
                    users.sort();
                    match self.engine.swap_pack(loaded.clone(), &users).await {
                        Ok(report) => {
                            inner.packs.replace(&old.source_path, loaded.clone());
                            inner.clear_transforms();
                            ev.detail = format!(
                                "{} {} → {} (generation {}): {} item(s) swapped",
                                loaded.name,
                                old.version,
                                loaded.version,
                                loaded.generation,
                                report.swapped.len()
                            );
                            ev.report = serde_json::to_value(&report).ok();
                        }
                        Err(e) => {
                            ev.outcome = "rejected".into();
                            ev.detail = format!("{e}; the running version keeps serving");
                        }
                    }
                }
            }
            self.note(&ev);
            events.push(ev);
        }
        // Packs deleted from disk: items keep running the version they have, flagged.
        let deleted: HashSet<PathBuf> = inner
            .packs
            .registry()
            .packs
            .iter()
            .filter(|p| !p.source_path.exists())
            .map(|p| p.source_path.clone())
            .collect();
        let mut s = self.status.lock_unpoisoned();
        for d in deleted.difference(&s.deleted_packs) {
            tracing::warn!(pack = %d.display(), "pack file deleted; items keep running the loaded version");
        }
        s.deleted_packs = deleted;
        events
    }

    /// Config status for `GET /api/production`: version, last reload, errors.
    pub fn status_json(&self) -> serde_json::Value {
        // Lock order: status, then versions (as where a version is recorded).
        let s = self.status.lock_unpoisoned();
        let current = self.versions.lock_unpoisoned().current();
        serde_json::json!({
            "version": current.as_ref().map(|c| c.version),
            "sha256": current.as_ref().map(|c| c.sha256.clone()),
            "applied_at": current.as_ref().map(|c| c.applied_at.clone()),
            "last_reload": s.last_config,
            "errors": s.last_config.as_ref().filter(|e| e.outcome == "rejected" || e.outcome == "failed").map(|e| e.diagnostics.clone()).unwrap_or_default(),
        })
    }

    /// Whether a pack file was deleted while loaded.
    pub fn pack_deleted(&self, path: &Path) -> bool {
        self.status.lock_unpoisoned().deleted_packs.contains(path)
    }

    /// Recent pack reloads.
    pub fn pack_events(&self) -> Vec<ReloadEvent> {
        self.status.lock_unpoisoned().packs.clone()
    }

    /// Reload counts by kind and outcome, for /metrics.
    pub fn counts(&self) -> Vec<(String, String, u64)> {
        self.status.lock_unpoisoned().counts.iter().map(|((k, o), n)| (k.clone(), o.clone(), *n)).collect()
    }

    /// Applied versions.
    pub fn versions(&self) -> Vec<ConfigVersion> {
        self.versions.lock_unpoisoned().list()
    }

    /// The effective settings of item `name` in the running version, each with where it
    /// came from (the production file and line, System Default Settings, the class), as
    /// `hie validate --explain` prints them; `None` when the running version has no such item.
    pub fn effective_settings(&self, name: &str) -> Option<Vec<production::defaults::Explained>> {
        let current = self.versions.lock_unpoisoned().current()?;
        let text = self.version_text(current.version)?;
        let mut config = production::load_str(&self.config_path, &text).ok()?;
        production::read_defaults_files(&mut config, &self.defaults).ok()?;
        config.overrides = self.sets.clone();
        let packs = self.engine.inner.packs.registry().clone();
        let merged = production::defaults::apply(&config, &packs);
        let item = merged.item(name)?;
        let plan = self.engine.plan();
        let planned = plan.as_ref().and_then(|p| p.item(name)).map(|p| &p.settings);
        Some(production::defaults::explain(&merged, item, planned))
    }

    /// The production file's text as version `version` applied it.
    pub fn version_text(&self, version: u64) -> Option<String> {
        self.versions.lock_unpoisoned().text(version)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Replaces `path` with `text` through a temporary file and a rename.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path
        .with_file_name(format!(".{}.hie-rollback", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
