//! The validated, resolved form of a production that the engine runs.

use super::model::Location;
use crate::journal::Durability;
use crate::pack::LoadedPack;
use crate::queue::{Overflow, QueueType};
use hie_plugin_api::ItemKind;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What runs an item's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    /// Tokio tasks in the engine process.
    Async,
    /// A pool of OS threads per item; plugin code may block.
    ThreadPool,
    /// Worker processes (the `hie` binary re-executed), each with `WorkerThreads` threads.
    MultiProcess,
    /// One dedicated thread, strictly sequential.
    SingleProcess,
}

impl ExecutionMode {
    /// Parses the config spelling (`async`, `thread_pool`, `multi_process`, `single_process`).
    pub fn parse(s: &str) -> Option<ExecutionMode> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "async" | "" => Some(ExecutionMode::Async),
            "thread_pool" | "threadpool" => Some(ExecutionMode::ThreadPool),
            "multi_process" | "multiprocess" => Some(ExecutionMode::MultiProcess),
            "single_process" | "singleprocess" | "single_thread" => Some(ExecutionMode::SingleProcess),
            _ => None,
        }
    }

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            ExecutionMode::Async => "async",
            ExecutionMode::ThreadPool => "thread_pool",
            ExecutionMode::MultiProcess => "multi_process",
            ExecutionMode::SingleProcess => "single_process",
        }
    }
}

/// Settings the engine itself applies to an item, whatever its class.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EngineSettings {
    /// What runs the item.
    pub execution_mode: ExecutionMode,
    /// Instances working in parallel (IRIS PoolSize).
    pub concurrency: usize,
    /// Queue ordering.
    pub queue_type: QueueType,
    /// Queue bound; 0 = unbounded.
    pub queue_size: usize,
    /// Most entries a queue keeps in memory; the rest stay in the journal.
    pub queue_window: usize,
    /// What happens when the queue is full.
    pub overflow: Overflow,
    /// Threads per worker process (multi_process).
    pub worker_threads: usize,
    /// HL7 path whose value orders messages per key (FIFO groups), if any.
    pub ordering_key: Option<String>,
    /// Delay between retries of a message.
    pub retry_interval: Duration,
    /// Give up retrying after this long; `None` = retry for ever (HL7 operations' default).
    pub failure_timeout: Option<Duration>,
    /// Don't count time spent disconnected towards the failure timeout.
    pub no_fail_while_disconnected: bool,
    /// Where errored messages go, if anywhere.
    pub error_target: Option<String>,
    /// Crashes of a worker on one message before the message is quarantined.
    pub max_worker_crashes: u32,
    /// A call running longer than this counts as a hang; `None` = never.
    pub hang_timeout: Option<Duration>,
    /// Memory limit per worker process in bytes; `None` = none.
    pub memory_limit: Option<u64>,
    /// Messages per second at most; `None` = unlimited.
    pub rate_limit: Option<f64>,
    /// Consecutive failures that open the circuit breaker; 0 = no breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker waits before a half-open probe.
    pub breaker_cooldown: Duration,
    /// Raise an alert when a message ends in Error here (IRIS AlertOnError).
    pub alert_on_error: bool,
    /// Raise an alert when this many messages wait in the queue; 0 = never (IRIS QueueCountAlert).
    pub queue_count_alert: usize,
    /// Raise an alert after this long without a message; `None` = never (IRIS InactivityTimeout).
    pub inactivity_timeout: Option<Duration>,
    /// Raise an alert when a message has waited this long in the queue; `None` = never
    /// (IRIS QueueWaitAlert).
    pub queue_wait_alert: Option<Duration>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            execution_mode: ExecutionMode::Async,
            concurrency: 1,
            queue_type: QueueType::Fifo,
            queue_size: 0,
            queue_window: 10_000,
            overflow: Overflow::Block,
            worker_threads: 1,
            ordering_key: None,
            retry_interval: Duration::from_secs(5),
            failure_timeout: Some(Duration::from_secs(15)),
            no_fail_while_disconnected: false,
            error_target: None,
            max_worker_crashes: 3,
            hang_timeout: None,
            memory_limit: None,
            rate_limit: None,
            breaker_threshold: 0,
            breaker_cooldown: Duration::from_secs(30),
            alert_on_error: false,
            queue_count_alert: 0,
            inactivity_timeout: None,
            queue_wait_alert: None,
        }
    }
}

/// One item, resolved against the packs and ready to run.
#[derive(Clone, Debug)]
pub struct ItemPlan {
    /// Item name.
    pub name: Arc<str>,
    /// Class name.
    pub class: String,
    /// Service, process or operation.
    pub kind: ItemKind,
    /// Host adapter paired with the class, or empty.
    pub adapter: String,
    /// Disabled items are not started.
    pub enabled: bool,
    /// The pack providing the class.
    pub pack: Arc<LoadedPack>,
    /// The pack providing the class's adapter, when a pack (not the host) provides it.
    pub adapter_pack: Option<Arc<LoadedPack>>,
    /// Every class setting (Host and Adapter) with defaults applied, by name.
    pub settings: BTreeMap<String, String>,
    /// What the engine applies itself.
    pub engine: EngineSettings,
    /// Where the item is written.
    pub location: Location,
    /// The fingerprint of the IRIS catalog files the item reads (rules, DTLs, schemas,
    /// lookup tables), `None` when it reads none ([`super::catalog`]): a change restarts it.
    pub catalog: Option<u64>,
}

/// Whether a setting's value names other items: `TargetConfigNames` (and
/// `AckTargetConfigNames`), `BadMessageHandler` and every setting whose name ends in
/// `Target` (OverflowTarget, ErrorTarget, and pack settings that follow the convention,
/// e.g. LookupTarget).
pub fn names_targets(setting: &str) -> bool {
    setting.ends_with("TargetConfigNames") || setting == "BadMessageHandler" || setting.ends_with("Target")
}

impl ItemPlan {
    /// The items this item's settings name as targets ([`names_targets`]), in order, each once.
    pub fn targets(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (_, v) in self.settings.iter().filter(|(n, _)| names_targets(n)) {
            for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        out
    }

    /// A setting's value (defaults applied).
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(|s| s.as_str())
    }

    /// Whether `other` runs exactly as this item does: the same class, pack build, settings,
    /// engine settings, adapter, adapter pack build, catalog files and `enabled`. Two such plans need no
    /// restart on reload; the item's name and where it is written do not count.
    pub fn runs_like(&self, other: &ItemPlan) -> bool {
        self.class == other.class
            && self.enabled == other.enabled
            && self.pack.sha256 == other.pack.sha256
            && self.settings == other.settings
            && self.engine == other.engine
            && self.adapter == other.adapter
            && self.adapter_pack.as_ref().map(|p| &p.sha256) == other.adapter_pack.as_ref().map(|p| &p.sha256)
            && self.catalog == other.catalog
    }
}

/// IRIS's default `ShutdownTimeout`: how long a shutdown waits for items to finish.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);

/// How far the warehouse may trail the commit log before an alert, by default.
pub const DEFAULT_INDEX_LAG_ALERT: Duration = Duration::from_secs(60);

/// A whole production, validated.
#[derive(Clone, Debug)]
pub struct ProductionPlan {
    /// Production name.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// Commit durability.
    pub durability: Durability,
    /// HL7 paths whose values are indexed for message search.
    pub search_fields: Vec<String>,
    /// `SearchFields` and every `OrderingKey`, parsed, with the schemas they read with.
    pub paths: std::sync::Arc<crate::value_paths::ValuePaths>,
    /// Automatic purge: keep this many days (0 = never purge automatically).
    pub purge_keep_days: u32,
    /// How long a shutdown waits for items to finish their messages in hand before it
    /// leaves them (IRIS `ShutdownTimeout`, default 120 s): what they hold stays in the
    /// journal and is delivered after the restart.
    pub shutdown_timeout: std::time::Duration,
    /// How long a reload waits for each changed or removed item to finish its message in
    /// hand and stop (IRIS `UpdateTimeout`); past it the reload is rolled back and the item
    /// restarts on its previous configuration once it has stopped. `None` (HIE's default
    /// when the setting is absent): as long as it takes.
    pub update_timeout: Option<std::time::Duration>,
    /// Alert when the warehouse (search, sessions) trails the commit log by this long
    /// (`IndexLagAlert`, seconds; default 60, 0 = never).
    pub index_lag_alert: Option<Duration>,
    /// Items in file order (unresolved items skipped with `--skip-unresolved` are absent).
    pub items: Vec<ItemPlan>,
    /// Items of the production that are not in `items` (skipped: a class no pack
    /// provides, or disabled with such a class). They are still names of the production:
    /// a rule may name one (what is sent there is Suspended), as IRIS allows.
    pub skipped: Vec<String>,
}

impl ProductionPlan {
    /// Every item name of the production, planned or skipped, in file order of each kind.
    pub fn item_names(&self) -> Vec<String> {
        self.items.iter().map(|i| i.name.to_string()).chain(self.skipped.iter().cloned()).collect()
    }

    /// The item called `name`.
    pub fn item(&self, name: &str) -> Option<&ItemPlan> {
        self.items.iter().find(|i| &*i.name == name)
    }
}
