//! Validation: turns a [`ProductionConfig`] into a [`ProductionPlan`] against the loaded
//! packs, collecting every problem at once, each naming file, line, item and setting.

mod paths;
mod targets;
pub(crate) mod unavailable;

use super::diagnostics::Diagnostic;
use super::model::{ItemConfig, ProductionConfig, Setting, SettingTarget};
use super::plan::{EngineSettings, ExecutionMode, ItemPlan, ProductionPlan, names_targets};
use crate::journal::Durability;
use crate::pack::PackRegistry;
use crate::queue::{Overflow, QueueType};
use hie_plugin_api::{ItemKind, adapters};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A setting the engine implements for every item, whatever its class.
pub struct EngineSettingDoc {
    /// IRIS-style name (Host setting in IRIS XML).
    pub name: &'static str,
    /// YAML key that sets it, if it has its own.
    pub yaml_key: &'static str,
    /// Default.
    pub default: &'static str,
    /// One-line doc.
    pub doc: &'static str,
}

/// Item settings the engine applies itself.
pub const ENGINE_SETTINGS: &[EngineSettingDoc] = &[
    EngineSettingDoc {
        name: "ExecutionMode",
        yaml_key: "execution_mode",
        default: "async",
        doc: "async | thread_pool | multi_process | single_process",
    },
    EngineSettingDoc {
        name: "PoolSize",
        yaml_key: "concurrency",
        default: "1",
        doc: "instances working in parallel (in multi_process: worker processes)",
    },
    EngineSettingDoc {
        name: "QueueType",
        yaml_key: "queue_type",
        default: "fifo",
        doc: "fifo | priority (1 highest; IRIS uses 1-6, rules may set 1-9; FIFO within a priority) | lifo",
    },
    EngineSettingDoc {
        name: "QueueSize",
        yaml_key: "queue_size",
        default: "0",
        doc: "maximum queued messages; 0 = unbounded (bodies stay on disk)",
    },
    EngineSettingDoc {
        name: "QueueWindow",
        yaml_key: "queue_window",
        default: "10000",
        doc: "queued messages kept in memory; the rest wait in the journal and are read back in queue order",
    },
    EngineSettingDoc {
        name: "QueueOverflow",
        yaml_key: "queue_overflow",
        default: "block",
        doc: "block (backpressure) | drop (Discarded, sender NACKed) | redirect (to OverflowTarget)",
    },
    EngineSettingDoc {
        name: "OverflowTarget",
        yaml_key: "overflow_target",
        default: "",
        doc: "item that takes messages when the queue is full and QueueOverflow=redirect",
    },
    EngineSettingDoc {
        name: "WorkerThreads",
        yaml_key: "worker_threads",
        default: "1",
        doc: "threads per worker process (multi_process)",
    },
    EngineSettingDoc {
        name: "OrderingKey",
        yaml_key: "ordering_key",
        default: "",
        doc: "HL7 path (e.g. PID-3.1): same key in arrival order, different keys in parallel",
    },
    EngineSettingDoc { name: "RetryInterval", yaml_key: "", default: "5", doc: "seconds between retries of a message" },
    EngineSettingDoc {
        name: "FailureTimeout",
        yaml_key: "",
        default: "15",
        doc: "seconds before a retrying message fails; -1 = retry for ever",
    },
    EngineSettingDoc {
        name: "NoFailWhileDisconnected",
        yaml_key: "",
        default: "0",
        doc: "don't count time disconnected towards FailureTimeout",
    },
    EngineSettingDoc {
        name: "ErrorTarget",
        yaml_key: "",
        default: "",
        doc: "item that receives this item's errored messages",
    },
    EngineSettingDoc {
        name: "MaxWorkerCrashes",
        yaml_key: "",
        default: "3",
        doc: "crashes on one message before it is quarantined (Suspended)",
    },
    EngineSettingDoc {
        name: "HangTimeout",
        yaml_key: "",
        default: "0",
        doc: "seconds a call may run before it counts as a hang (multi_process: the worker is killed and restarted; thread modes: the thread is replaced; async: not enforced); 0 = off",
    },
    EngineSettingDoc {
        name: "MemoryLimitMB",
        yaml_key: "",
        default: "0",
        doc: "per-worker-process memory limit in MB; 0 = off",
    },
    EngineSettingDoc {
        name: "RateLimit",
        yaml_key: "",
        default: "0",
        doc: "messages per second at most (token bucket); 0 = unlimited",
    },
    EngineSettingDoc {
        name: "CircuitBreakerThreshold",
        yaml_key: "",
        default: "0",
        doc: "consecutive failures that open the circuit; 0 = no breaker",
    },
    EngineSettingDoc {
        name: "CircuitBreakerCooldown",
        yaml_key: "",
        default: "30",
        doc: "seconds an open circuit waits before a half-open probe",
    },
    EngineSettingDoc {
        name: "AlertOnError",
        yaml_key: "",
        default: "0",
        doc: "1 = raise an alert when a message ends in Error here (to the item Ens.Alert when there is one)",
    },
    EngineSettingDoc {
        name: "QueueCountAlert",
        yaml_key: "",
        default: "0",
        doc: "raise an alert when this many messages wait in the queue; 0 = never",
    },
    EngineSettingDoc {
        name: "QueueWaitAlert",
        yaml_key: "",
        default: "0",
        doc: "raise an alert when a message has waited this many seconds in the queue; 0 = never",
    },
    EngineSettingDoc {
        name: "InactivityTimeout",
        yaml_key: "",
        default: "0",
        doc: "raise an alert after this many seconds without a message; 0 = never",
    },
];

/// IRIS settings common to all business hosts that HIE accepts but does not implement.
const IRIS_COMMON_UNSUPPORTED: &[&str] =
    &["AlertGroups", "AlertRetryGracePeriod", "ArchiveIO", "ThrottleDelay", "BusinessPartner", "Schedule"];

/// Settings that must be whole numbers (seconds, counts, ports).
const INTEGER_SETTINGS: &[&str] = &[
    "Port",
    "ConnectTimeout",
    "ResponseTimeout",
    "ReadTimeout",
    "StayConnected",
    "ReconnectRetry",
    "RetryInterval",
    "FailureTimeout",
    "QueueSize",
    "QueueWindow",
    "WorkerThreads",
    "MaxWorkerCrashes",
    "HangTimeout",
    "MemoryLimitMB",
    "CircuitBreakerThreshold",
    "CircuitBreakerCooldown",
    "MaxFrameSize",
];

/// Settings that must be numbers (seconds; fractions allowed).
const NUMBER_SETTINGS: &[&str] = &["CallInterval"];

/// Production-level settings HIE understands.
const PRODUCTION_SETTINGS: &[&str] = &[
    "Durability",
    "PluginDirs",
    "ActorPoolSize",
    "UpdateTimeout",
    "SearchFields",
    "PurgeKeepDays",
    "ShutdownTimeout",
    "TLSDir",
    "IndexLagAlert",
    super::defaults::FILES_SETTING,
];

/// Options for validation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ValidateOptions {
    /// Items whose class no pack provides are skipped with a warning instead of an error.
    pub skip_unresolved: bool,
}

/// Validates `config` against `packs`. Returns the plan when there are no errors, and
/// every diagnostic either way.
pub fn validate(
    config: &ProductionConfig,
    packs: &PackRegistry,
    options: ValidateOptions,
) -> (Option<ProductionPlan>, Vec<Diagnostic>) {
    // System Default Settings first: everything below sees the settings as they run.
    let merged;
    let config = if config.defaults.is_empty() && config.overrides.is_empty() {
        config
    } else {
        merged = super::defaults::apply(config, packs);
        &merged
    };
    let mut diags = Vec::new();
    let durability = production_settings(config, &mut diags);

    for o in config.overrides.iter().filter(|o| !config.items.iter().any(|i| i.name == o.item)) {
        diags.push(
            Diagnostic::error(
                &o.location,
                format!("--set {}.{}: the production has no item {:?}", o.item, o.setting, o.item),
            )
            .item(&o.item)
            .setting(&o.setting),
        );
    }
    // Names first: targets are checked against every item, resolved or not.
    let mut seen: HashMap<&str, &ItemConfig> = HashMap::new();
    for item in &config.items {
        if item.name.trim().is_empty() {
            diags.push(Diagnostic::error(&item.location, "item has an empty name"));
        }
        if let Some(first) = seen.get(item.name.as_str()) {
            diags.push(
                Diagnostic::error(
                    &item.location,
                    format!("duplicate item name (first defined at line {})", first.location.line),
                )
                .item(&item.name),
            );
        } else {
            seen.insert(&item.name, item);
        }
    }

    let mut plans = Vec::new();
    let mut skipped: Vec<&str> = Vec::new();
    for item in &config.items {
        match plan_item(item, packs, &mut diags, options) {
            Some(mut plan) => {
                super::adapters::check_adapter(&mut plan, item, &packs.adapters, &mut diags);
                plans.push(plan);
            }
            // Only an item left out for its class counts as skipped (an item with errors
            // fails the validation anyway).
            None if packs.class(&item.class).is_none() && (options.skip_unresolved || !item.enabled) => {
                skipped.push(&item.name)
            }
            None => {}
        }
    }

    actor_pool(config, &mut plans);
    targets::check_targets(config, &plans, &skipped, &mut diags);
    let configs: BTreeMap<&str, &ItemConfig> = config.items.iter().map(|i| (i.name.as_str(), i)).collect();
    super::adapters::check_claims(&plans, &configs, &packs.adapters, &mut diags);
    check_tls(config, &mut plans, &mut diags);
    super::catalog::fingerprint(&super::catalog::production_dir(&config.file), &mut plans);

    let search_fields = config
        .setting("SearchFields")
        .map(|s| s.value.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
        .unwrap_or_else(|| vec!["PID-3.1".to_string()]);
    let purge_keep_days = config.setting("PurgeKeepDays").and_then(|s| s.value.trim().parse().ok()).unwrap_or(0);
    let shutdown_timeout = config
        .setting("ShutdownTimeout")
        .and_then(|s| s.value.trim().parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(super::plan::DEFAULT_SHUTDOWN_TIMEOUT);
    let update_timeout =
        config.setting("UpdateTimeout").and_then(|s| s.value.trim().parse().ok()).map(Duration::from_secs);
    let index_lag_alert = match config.setting("IndexLagAlert").and_then(|s| s.value.trim().parse::<u64>().ok()) {
        Some(0) => None,
        Some(s) => Some(Duration::from_secs(s)),
        None => Some(super::plan::DEFAULT_INDEX_LAG_ALERT),
    };

    let paths = paths::value_paths(config, &plans, &search_fields, &mut diags);

    let has_errors = diags.iter().any(Diagnostic::is_error);
    let plan = (!has_errors).then(|| ProductionPlan {
        name: config.name.clone(),
        file: config.file.clone(),
        durability,
        search_fields,
        paths,
        purge_keep_days,
        shutdown_timeout,
        update_timeout,
        index_lag_alert,
        items: plans,
        skipped: skipped.iter().map(|s| s.to_string()).collect(),
    });
    (plan, diags)
}

/// IRIS's actor pool: a business process whose `PoolSize` is written 0 runs on the
/// production's shared pool of `ActorPoolSize` jobs (default 2) instead of its own. HIE
/// has no shared pool: such a process gets `ActorPoolSize` instances of its own, which is
/// what IRIS's pool gives one busy process (no FIFO between its messages, as in IRIS).
fn actor_pool(config: &ProductionConfig, plans: &mut [ItemPlan]) {
    let size = config.setting("ActorPoolSize").and_then(|s| s.value.trim().parse::<usize>().ok()).unwrap_or(2).max(1);
    for plan in plans.iter_mut().filter(|p| p.kind == ItemKind::Process) {
        let Some(item) = config.item(&plan.name) else { continue };
        let written = item.settings.iter().rev().find(|s| s.name == "PoolSize").map(|s| s.value.as_str());
        let zero = written.or(item.pool_size.as_deref()).is_some_and(|v| v.trim() == "0");
        if zero && plan.engine.execution_mode != ExecutionMode::SingleProcess {
            plan.engine.concurrency = size;
        }
    }
}

fn production_settings(config: &ProductionConfig, diags: &mut Vec<Diagnostic>) -> Durability {
    let mut durability = Durability::Fsync;
    for s in &config.settings {
        if !PRODUCTION_SETTINGS.contains(&s.name.as_str()) {
            diags.push(Diagnostic::warning(&s.location, "unknown production setting; it is ignored").setting(&s.name));
        }
    }
    if let Some(s) = config.setting("Durability") {
        match Durability::parse(&s.value) {
            Some(d) => durability = d,
            None => diags.push(
                Diagnostic::error(&s.location, format!("invalid value {:?}: expected fsync or process", s.value))
                    .setting("Durability"),
            ),
        }
    }
    for name in ["PurgeKeepDays", "ShutdownTimeout", "IndexLagAlert", "ActorPoolSize", "UpdateTimeout"] {
        if let Some(s) = config.setting(name)
            && s.value.trim().parse::<u32>().is_err()
        {
            diags.push(
                Diagnostic::error(&s.location, format!("invalid value {:?}: expected a whole number", s.value))
                    .setting(name),
            );
        }
    }
    if let Some(s) = config.setting("SearchFields") {
        for p in s.value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Err(e) = hie_hl7_schema::FieldPath::parse(p) {
                diags.push(
                    Diagnostic::error(&s.location, format!("{p:?} is not an HL7 path ({})", e.reason))
                        .setting("SearchFields"),
                );
            }
        }
    }
    durability
}

/// Resolves one item. `None` when its class is unknown (an error, or a warning with
/// `skip_unresolved`) or it has errors that make a plan meaningless.
fn plan_item(
    item: &ItemConfig,
    packs: &PackRegistry,
    diags: &mut Vec<Diagnostic>,
    options: ValidateOptions,
) -> Option<ItemPlan> {
    let Some((pack, class)) = packs.class(&item.class) else {
        let searched: Vec<String> = packs.searched.iter().map(|p| p.display().to_string()).collect();
        let loaded: Vec<String> = packs.packs.iter().map(|p| format!("{} {}", p.name, p.version)).collect();
        let mut msg = format!(
            "unknown class {}: no loaded pack provides it (searched {}; loaded packs: {})",
            item.class,
            if searched.is_empty() { "no directories".to_string() } else { searched.join(", ") },
            if loaded.is_empty() { "none".to_string() } else { loaded.join(", ") }
        );
        if let Some(why) = unavailable::reason(&item.class, &item.location.file) {
            msg = format!("class {} is not available in HIE: {why}", item.class);
        } else if !item.class.starts_with("EnsLib.") && !item.class.starts_with("HIE.") {
            msg.push_str("; this looks like a custom class: provide it in a pack, or run with --skip-unresolved");
        }
        let d = if options.skip_unresolved {
            Diagnostic::warning(&item.location, format!("{msg} (skipped: --skip-unresolved)"))
        } else if !item.enabled {
            // IRIS starts a production whose disabled items name classes it lacks.
            Diagnostic::warning(&item.location, format!("{msg} (the item is disabled, so it is skipped)"))
        } else {
            Diagnostic::error(&item.location, msg)
        };
        diags.push(d.item(&item.name).setting("ClassName"));
        return None;
    };

    let mut settings: BTreeMap<String, String> =
        class.settings.iter().map(|s| (s.name.clone(), s.default.clone())).collect();
    let mut engine_values: HashMap<&str, &Setting> = HashMap::new();
    for s in &item.settings {
        let err = |m: String| Diagnostic::error(&s.location, m).item(&item.name).setting(&s.name);
        let warn = |m: String| Diagnostic::warning(&s.location, m).item(&item.name).setting(&s.name);
        if let Some(doc) = ENGINE_SETTINGS.iter().find(|d| d.name == s.name) {
            engine_values.insert(doc.name, s);
            // Some engine settings are also class settings (e.g. RetryInterval): keep both.
            if class.setting(&s.name).is_some() {
                settings.insert(s.name.clone(), s.value.clone());
            }
            continue;
        }
        let adapter_setting = packs.adapters.get(&class.adapter).and_then(|a| a.setting(&s.name));
        // A setting the class does not take is ignored (warned below), so its value is not
        // checked; one whose kind the pack declares is checked by that kind alone.
        let engine_checks_value = class.setting(&s.name).is_some()
            && adapter_setting.is_none()
            && pack.setting_kinds.get(&class.name).and_then(|k| k.get(&s.name)).is_none();
        match class.setting(&s.name) {
            None if adapter_setting.is_some() => {
                settings.insert(s.name.clone(), s.value.clone());
            }
            Some(spec) => {
                let declared = match spec.target {
                    hie_plugin_api::abi::SettingTarget::Host => SettingTarget::Host,
                    hie_plugin_api::abi::SettingTarget::Adapter => SettingTarget::Adapter,
                };
                if declared != s.target {
                    diags.push(warn(format!(
                        "written as a {:?} setting but {} declares it as a {:?} setting; applied anyway",
                        s.target, class.name, declared
                    )));
                }
                if !spec.supported && s.value.trim() != spec.default.trim() {
                    diags.push(warn(format!(
                        "accepted for IRIS compatibility but not implemented by {} yet; it has no effect",
                        class.name
                    )));
                }
                if let Some(kind) = pack.setting_kinds.get(&class.name).and_then(|k| k.get(&s.name))
                    && let Err(e) = kind.check(&s.value)
                {
                    diags.push(err(e.to_string()));
                }
                settings.insert(s.name.clone(), s.value.clone());
            }
            None if IRIS_COMMON_UNSUPPORTED.contains(&s.name.as_str()) => {
                diags.push(warn("IRIS host setting accepted but not implemented by HIE; it has no effect".into()));
            }
            None => {
                diags.push(warn(format!(
                    "{} has no setting called {}; it is ignored (check the spelling: `hie plugins` lists every setting)",
                    class.name, s.name
                )));
            }
        }
        // Adapter settings are checked against their declared kinds (adapters.rs).
        if INTEGER_SETTINGS.contains(&s.name.as_str())
            && engine_checks_value
            && !s.value.trim().is_empty()
            && s.value.trim().parse::<i64>().is_err()
        {
            diags.push(err(format!("invalid value {:?}: expected a whole number", s.value)));
        }
        if NUMBER_SETTINGS.contains(&s.name.as_str())
            && engine_checks_value
            && !s.value.trim().is_empty()
            && s.value.trim().parse::<f64>().is_err()
        {
            diags.push(err(format!("invalid value {:?}: expected a number of seconds", s.value)));
        }
        // A typo must not open a listener wider than meant (address.rs says why).
        let tcp = [adapters::TCP_MLLP_INBOUND, adapters::TCP_MLLP_OUTBOUND, adapters::HTTP_INBOUND]
            .contains(&class.adapter.as_str());
        let address_error = match s.name.as_str() {
            _ if !tcp => None,
            "LocalInterface" => crate::adapter::address::local_interface(&s.value).err(),
            "AllowedIPAddresses" => crate::adapter::address::allowed_peers(&s.value).err(),
            _ => None,
        };
        if let Some(e) = address_error {
            diags.push(err(e));
        }
        // Framing is a Host setting that the TCP adapters read (hie_hl7::framing).
        let framing_side = match class.adapter.as_str() {
            adapters::TCP_MLLP_INBOUND => Some(hie_hl7::framing::Direction::Inbound),
            adapters::TCP_MLLP_OUTBOUND => Some(hie_hl7::framing::Direction::Outbound),
            _ => None,
        };
        if s.name == "Framing"
            && let Some(side) = framing_side
            && let Err(e) = hie_hl7::framing::Framing::parse(&s.value, side)
        {
            diags.push(err(e.to_string()));
        }
    }

    let engine = engine_settings(item, &settings, &engine_values, class.kind, diags);
    Some(ItemPlan {
        name: Arc::from(item.name.as_str()),
        class: item.class.clone(),
        kind: class.kind,
        adapter: class.adapter.clone(),
        enabled: item.enabled,
        pack: pack.clone(),
        adapter_pack: packs.adapter_pack(&class.adapter).cloned(),
        settings,
        engine,
        location: item.location.clone(),
        catalog: None,
    })
}

fn engine_settings(
    item: &ItemConfig,
    class_settings: &BTreeMap<String, String>,
    values: &HashMap<&str, &Setting>,
    kind: ItemKind,
    diags: &mut Vec<Diagnostic>,
) -> EngineSettings {
    let mut e = EngineSettings::default();
    let bad = |s: &Setting, expected: &str| {
        Diagnostic::error(&s.location, format!("invalid value {:?}: expected {expected}", s.value))
            .item(&item.name)
            .setting(&s.name)
    };
    // Class defaults for engine-applied settings (e.g. FailureTimeout=-1 for HL7 operations).
    let text = |name: &str| -> Option<(String, Option<&Setting>)> {
        match values.get(name) {
            Some(s) => Some((s.value.trim().to_string(), Some(*s))),
            None => class_settings.get(name).map(|v| (v.trim().to_string(), None)),
        }
    };
    let int = |name: &str, diags: &mut Vec<Diagnostic>| -> Option<i64> {
        let (v, s) = text(name)?;
        if v.is_empty() {
            return None;
        }
        // Bounded, so no engine setting overflows what it is turned into (seconds,
        // counts, MiB): 2^32 seconds is 136 years.
        let expected = match v.parse::<i64>() {
            Ok(n) if n.unsigned_abs() <= u64::from(u32::MAX) => return Some(n),
            Ok(_) => "a whole number of at most 4294967295",
            Err(_) => "a whole number",
        };
        if let Some(s) = s {
            diags.push(bad(s, expected));
        }
        None
    };

    if let Some(s) = values.get("ExecutionMode") {
        match ExecutionMode::parse(&s.value) {
            Some(m) => e.execution_mode = m,
            None => diags.push(bad(s, "async, thread_pool, multi_process or single_process")),
        }
    }
    if let Some(p) = &item.pool_size {
        match p.trim().parse::<usize>() {
            Ok(n) => e.concurrency = n.max(1),
            Err(_) => diags.push(
                Diagnostic::error(&item.pool_size_location, format!("invalid value {p:?}: expected a whole number"))
                    .item(&item.name)
                    .setting("PoolSize"),
            ),
        }
    }
    if let Some(s) = values.get("PoolSize") {
        match s.value.trim().parse::<usize>() {
            Ok(n) => e.concurrency = n.max(1),
            Err(_) => diags.push(bad(s, "a whole number")),
        }
    }
    if e.execution_mode == ExecutionMode::SingleProcess {
        e.concurrency = 1;
    }
    if let Some(s) = values.get("QueueType") {
        match QueueType::parse(&s.value) {
            Some(q) => e.queue_type = q,
            None => diags.push(bad(s, "fifo, priority or lifo")),
        }
    }
    if let Some(n) = int("QueueSize", diags) {
        e.queue_size = n.max(0) as usize;
    }
    if let Some(n) = int("QueueWindow", diags) {
        e.queue_window = n.max(0) as usize;
    }
    if let Some(s) = values.get("QueueOverflow") {
        match s.value.trim().to_ascii_lowercase().as_str() {
            "block" | "" => e.overflow = Overflow::Block,
            "drop" => e.overflow = Overflow::Drop,
            "redirect" => match values.get("OverflowTarget").map(|t| t.value.trim()).filter(|t| !t.is_empty()) {
                Some(t) => e.overflow = Overflow::Redirect(t.to_string()),
                None => diags.push(
                    Diagnostic::error(&s.location, "QueueOverflow=redirect needs OverflowTarget naming an item")
                        .item(&item.name)
                        .setting("OverflowTarget"),
                ),
            },
            _ => diags.push(bad(s, "block, drop or redirect")),
        }
    }
    if let Some(n) = int("WorkerThreads", diags) {
        e.worker_threads = n.max(1) as usize;
    }
    if let Some(s) = values.get("OrderingKey") {
        let v = s.value.trim();
        if !v.is_empty() {
            match hie_hl7_schema::FieldPath::parse(v) {
                Ok(_) => e.ordering_key = Some(v.to_string()),
                Err(err) => diags.push(bad(s, &format!("an HL7 path such as PID-3.1 or PID:3.1 ({err})"))),
            }
        }
    }
    if let Some(n) = int("RetryInterval", diags) {
        e.retry_interval = Duration::from_secs(n.max(0) as u64);
    }
    if let Some(n) = int("FailureTimeout", diags) {
        e.failure_timeout = if n < 0 { None } else { Some(Duration::from_secs(n as u64)) };
    }
    if let Some((v, s)) = text("NoFailWhileDisconnected")
        && !v.is_empty()
    {
        match hie_plugin_api::settings::parse_bool(&v) {
            Ok(b) => e.no_fail_while_disconnected = b,
            Err(err) => {
                if let Some(s) = s {
                    diags.push(bad(s, &err.expected));
                }
            }
        }
    }
    if let Some((v, _)) = text("ErrorTarget")
        && !v.is_empty()
    {
        e.error_target = Some(v);
    }
    if let Some(n) = int("MaxWorkerCrashes", diags) {
        e.max_worker_crashes = n.max(1) as u32;
    }
    if let Some(n) = int("HangTimeout", diags) {
        e.hang_timeout = (n > 0).then(|| Duration::from_secs(n as u64));
    }
    if let Some(n) = int("MemoryLimitMB", diags) {
        e.memory_limit = (n > 0).then(|| n as u64 * 1024 * 1024);
    }
    if let Some(s) = values.get("RateLimit") {
        match s.value.trim().parse::<f64>() {
            Ok(r) if r.is_finite() && r >= 0.0 => e.rate_limit = (r > 0.0).then_some(r),
            _ => diags.push(bad(s, "messages per second (a number, 0 = unlimited)")),
        }
    }
    if let Some(n) = int("CircuitBreakerThreshold", diags) {
        e.breaker_threshold = n.max(0) as u32;
    }
    if let Some(n) = int("CircuitBreakerCooldown", diags) {
        e.breaker_cooldown = Duration::from_secs(n.max(1) as u64);
    }
    // A %Boolean in IRIS (1/0); true/false and yes/no read too, as for NoFailWhileDisconnected.
    if let Some((v, s)) = text("AlertOnError")
        && !v.is_empty()
    {
        match hie_plugin_api::settings::parse_bool(&v) {
            Ok(b) => e.alert_on_error = b,
            Err(err) => {
                if let Some(s) = s {
                    diags.push(bad(s, &err.expected));
                }
            }
        }
    }
    if let Some(n) = int("QueueCountAlert", diags) {
        e.queue_count_alert = n.max(0) as usize;
    }
    if let Some(n) = int("QueueWaitAlert", diags) {
        e.queue_wait_alert = (n > 0).then(|| Duration::from_secs(n as u64));
    }
    if let Some(n) = int("InactivityTimeout", diags) {
        e.inactivity_timeout = (n > 0).then(|| Duration::from_secs(n as u64));
    }
    if kind == ItemKind::Service && e.execution_mode == ExecutionMode::MultiProcess && e.ordering_key.is_some() {
        // Services are invoked per connection; per-key order is a queue property.
        if let Some(s) = values.get("OrderingKey") {
            diags.push(
                Diagnostic::warning(&s.location, "OrderingKey has no effect on a service (it orders a queue)")
                    .item(&item.name)
                    .setting("OrderingKey"),
            );
        }
    }
    e
}

/// Loads each MLLP or HTTP item's `SSLConfig` the way its adapter will, and gives the item the
/// production's TLS directory as its adapter setting `TLSDir`, so the adapter finds the
/// files wherever it runs (worker processes get the item's settings, not the plan).
fn check_tls(config: &ProductionConfig, plans: &mut [ItemPlan], diags: &mut Vec<Diagnostic>) {
    let tls_dir = match config.setting("TLSDir") {
        Some(s) if !s.value.trim().is_empty() => {
            let base = config.file.parent().unwrap_or_else(|| std::path::Path::new("."));
            base.join(s.value.trim())
        }
        _ => crate::adapter::tls::default_dir(&config.file),
    };
    for plan in plans.iter_mut() {
        let inbound = plan.adapter == adapters::TCP_MLLP_INBOUND || plan.adapter == adapters::HTTP_INBOUND;
        let remote = plan.adapter == adapters::FTP_INBOUND || plan.adapter == adapters::FTP_OUTBOUND;
        if !inbound && !remote && plan.adapter != adapters::TCP_MLLP_OUTBOUND && plan.adapter != adapters::HTTP_OUTBOUND
        {
            continue;
        }
        if remote {
            check_remote(config, plan, &tls_dir, diags);
            continue;
        }
        let name = plan.setting("SSLConfig").unwrap_or_default().trim().to_string();
        if name.is_empty() {
            continue;
        }
        match crate::adapter::tls::check(&tls_dir, &name, inbound) {
            Ok(()) => {
                plan.settings.insert("TLSDir".into(), tls_dir.display().to_string());
            }
            Err(e) => {
                let item = config.item(&plan.name);
                let location = item
                    .and_then(|i| i.adapter_setting("SSLConfig").or_else(|| i.host_setting("SSLConfig")))
                    .map(|s| s.location.clone())
                    .unwrap_or_else(|| plan.location.clone());
                diags.push(Diagnostic::error(&location, e).item(&plan.name).setting("SSLConfig"));
            }
        }
    }
}

/// Reads an FTP item's server settings the way its adapter will (the TLS files of FTPS,
/// SFTP's known_hosts and key files, the credentials file), reporting the first problem
/// at the setting it names.
fn check_remote(config: &ProductionConfig, plan: &mut ItemPlan, tls_dir: &Path, diags: &mut Vec<Diagnostic>) {
    plan.settings.insert("TLSDir".into(), tls_dir.display().to_string());
    if plan.setting("FTPServer").unwrap_or_default().trim().is_empty() {
        return; // a required setting: reported as such
    }
    let settings = crate::adapter::AdapterSettings::new(plan);
    let Err(e) = crate::adapter::remote::Endpoint::from_settings(&settings) else { return };
    let named = e.strip_prefix("adapter setting ").or_else(|| e.strip_prefix("setting "));
    let setting = named.and_then(|r| r.split([' ', ':']).next()).unwrap_or("FTPServer").to_string();
    let setting = setting.as_str();
    let reported = |d: &Diagnostic| d.item.as_deref() == Some(&*plan.name) && d.setting.as_deref() == Some(setting);
    if diags.iter().any(reported) {
        return; // its kind check said so already
    }
    let location = config
        .item(&plan.name)
        .and_then(|i| i.adapter_setting(setting).or_else(|| i.host_setting(setting)))
        .map(|s| s.location.clone())
        .unwrap_or_else(|| plan.location.clone());
    diags.push(Diagnostic::error(&location, e).item(&plan.name).setting(setting));
}

#[cfg(test)]
mod tests;
