//! Item probes: every enabled item of a plan is built once the way the engine builds it
//! (its class's constructor, then `on_init`, with the item's effective settings) and then
//! torn down, before anything starts.
//!
//! Why: what a class checks when it is built (a router's rules file and the DTLs it
//! names, a service's schema categories, the targets of rules, a required setting a pack
//! reads itself) is otherwise found only when `hie run` starts the item, with no file or
//! line. `hie validate` and `hie run` both probe, so a production that validates starts.
//!
//! # Invariants
//! - A probe never starts an item: `on_start` is not called, no adapter is built, no
//!   port is bound, no message is sent (`send_sync`, adapter calls and deferred replies
//!   are refused). The plugin contract (plugin-api `Item`) says construction and
//!   `on_init` read settings and files only.
//! - Disabled items are not probed: IRIS never instantiates them, and neither does HIE.
//! - A failure becomes a diagnostic at the item's location naming the item; with
//!   `skip_unresolved` the item leaves the plan instead (listed as skipped, like an item
//!   whose class no pack provides) so the rest of the production runs.
//! - A constructor that does not return within [`PROBE_TIMEOUT`] is a failure; its thread
//!   is left behind (the process is short-lived or about to start the production anyway).

use super::call::SendData;
use super::instance::{HostServices, Instance};
use crate::message::Envelope;
use crate::production::diagnostics::Diagnostic;
use crate::production::plan::{ItemPlan, ProductionPlan};
use hie_plugin_api::abi::{ErrorKind, LogLevel, PluginError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one item's constructor and `on_init` may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// What plugin code sees while it is probed: its settings and the production's shape,
/// nothing that moves a message.
struct ProbeServices {
    /// The item's name.
    item: String,
    /// Effective settings (System Default Settings and class defaults applied).
    settings: BTreeMap<String, String>,
    /// The production file's directory (`HIE.ProductionDir`), where rules files live.
    production_dir: String,
    /// Every item of the production (the `hie.items` extension: routers check rule targets).
    items: Vec<String>,
    /// Warnings the item logged while being built: reported as diagnostics.
    warnings: Mutex<Vec<String>>,
}

fn refused(what: &str) -> PluginError {
    PluginError::new(ErrorKind::Unsupported, format!("{what} while the item is only being checked (hie validate)"))
}

impl HostServices for ProbeServices {
    fn item_name(&self) -> &str {
        &self.item
    }

    fn setting(&self, name: &str) -> Option<String> {
        if let Some(v) = self.settings.get(name) {
            return Some(v.clone());
        }
        match name {
            "HIE.ItemName" => Some(self.item.clone()),
            "HIE.ProductionDir" => Some(self.production_dir.clone()),
            _ => None,
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        if matches!(level, LogLevel::Warn | LogLevel::Error)
            && let Ok(mut w) = self.warnings.lock()
        {
            w.push(message.to_string());
        }
    }

    fn count(&self, _metric: &str, _delta: u64) {}

    fn send_sync(&self, _: Option<&Envelope>, _: SendData, _: i64) -> Result<Vec<u8>, PluginError> {
        Err(refused("sending"))
    }

    fn adapter_call(&self, _: &[u8], _: Vec<(String, String)>) -> crate::adapter::AdapterResult {
        Err(refused("calling the adapter"))
    }

    fn send_deferred_reply(&self, _: &str, _: Vec<u8>) -> Result<(), PluginError> {
        Err(refused("replying"))
    }

    fn extension(&self, name: &str, _input: &[u8]) -> Option<Result<Vec<u8>, PluginError>> {
        (name == "hie.items").then(|| Ok(self.items.join("\n").into_bytes()))
    }
}

/// Builds one item and tears it down: its warnings, or why it cannot be built.
fn probe_one(item: &ItemPlan, production_dir: &str, items: &[String]) -> Result<Vec<String>, String> {
    let services = Arc::new(ProbeServices {
        item: item.name.to_string(),
        settings: item.settings.clone(),
        production_dir: production_dir.to_string(),
        items: items.to_vec(),
        warnings: Mutex::new(Vec::new()),
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let pack = item.pack.clone();
    let class = item.class.clone();
    let s = services.clone();
    let spawned = std::thread::Builder::new().name("hie-probe".into()).spawn(move || {
        let r = Instance::create(&pack, &class, s).map(Instance::stop);
        let _ = tx.send(r);
    });
    if let Err(e) = spawned {
        return Err(format!("cannot start a thread to check it: {e}"));
    }
    match rx.recv_timeout(PROBE_TIMEOUT) {
        Ok(Ok(())) => Ok(services.warnings.lock().map(|w| w.clone()).unwrap_or_default()),
        Ok(Err(e)) => Err(e.message.to_string()),
        Err(_) => {
            Err(format!("its class's constructor or on_init did not return within {} s", PROBE_TIMEOUT.as_secs()))
        }
    }
}

/// Probes every enabled item of `plan`, returning the diagnostics. Without
/// `skip_unresolved` a failure is an error (the plan must not start); with it the item
/// is removed from `plan` and reported as skipped, and items that target it are warned.
pub fn probe(plan: &mut ProductionPlan, skip_unresolved: bool) -> Vec<Diagnostic> {
    let dir = match plan.file.parent().map(|d| d.display().to_string()) {
        Some(d) if !d.is_empty() => d,
        _ => ".".to_string(),
    };
    let names = plan.item_names();
    let mut diags = Vec::new();
    let mut failed: Vec<Arc<str>> = Vec::new();
    for item in plan.items.iter().filter(|i| i.enabled) {
        match probe_one(item, &dir, &names) {
            Ok(warnings) => {
                for w in warnings {
                    diags.push(Diagnostic::warning(&item.location, w).item(&item.name));
                }
            }
            Err(why) => {
                let text = format!("{} cannot be built: {why}", item.class);
                diags.push(
                    if skip_unresolved {
                        Diagnostic::warning(&item.location, format!("{text} (skipped: --skip-unresolved)"))
                    } else {
                        Diagnostic::error(&item.location, text)
                    }
                    .item(&item.name),
                );
                failed.push(item.name.clone());
            }
        }
    }
    if skip_unresolved && !failed.is_empty() {
        plan.items.retain(|i| !failed.contains(&i.name));
        plan.skipped.extend(failed.iter().map(|f| f.to_string()));
        for item in &plan.items {
            let targets = item.setting("TargetConfigNames").unwrap_or_default();
            for t in targets.split(',').map(str::trim).filter(|t| failed.iter().any(|f| &**f == *t)) {
                diags.push(
                    Diagnostic::warning(
                        &item.location,
                        format!("target {t:?} is skipped (it cannot be built): messages to it will be Suspended"),
                    )
                    .item(&item.name)
                    .setting("TargetConfigNames"),
                );
            }
        }
    }
    diags
}
