//! Alerts, the IRIS way: an item set to alert (`AlertOnError`, `QueueCountAlert`,
//! `QueueWaitAlert`, `InactivityTimeout`) raises one when its condition starts, and the alert goes to the
//! production's item called `Ens.Alert` when there is one (as in IRIS, where that item
//! routes alerts to e-mail, a pager or a ticket system), to the log, to
//! `GET /api/alerts` and to the `hie_alerts_total` metric.
//!
//! Conditions that last (a long queue, a silent interface) alert once when they start,
//! not every second while they hold; they alert again after they have cleared.

use super::EngineInner;
use super::dispatch::{Outgoing, store_body};
use crate::journal::Op;
use crate::lock::LockExt;
use crate::message::{Header, Status, now_us, priority};
use crate::queue::Entry;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The item alerts are sent to, when the production has it (IRIS's convention).
pub const ALERT_ITEM: &str = "Ens.Alert";

/// Alerts kept for the API.
const RECENT: usize = 200;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A message ended in Error (`AlertOnError`).
    Error,
    /// The queue reached `QueueCountAlert`.
    QueueCount,
    /// No message for `InactivityTimeout`.
    Inactivity,
    /// A message waited `QueueWaitAlert` in the queue.
    QueueWait,
    /// The journal refuses commits (disk full, unwritable): services NACK.
    JournalUnwritable,
    /// The warehouse (search, sessions) trails the commit log by `IndexLagAlert`.
    IndexLag,
    /// A service's inbound adapter cannot reach its source, for longer than the
    /// service's `AlertGracePeriod` (`AlertOnError`).
    Connection,
}

/// The name engine-wide alerts carry as their source (IRIS `SourceConfigName`).
pub const ENGINE_SOURCE: &str = "HIE.Journal";

/// One alert.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Alert {
    /// When, microseconds since the epoch.
    pub at_us: i64,
    /// The item that raised it (IRIS `SourceConfigName`).
    pub item: String,
    /// What it is about.
    pub kind: AlertKind,
    /// What happened (IRIS `AlertText`).
    pub text: String,
}

/// The engine's alerts: recent ones for the API, and a count for the metrics.
#[derive(Default)]
pub struct Alerts {
    /// The latest [`RECENT`] alerts, oldest first.
    recent: Mutex<VecDeque<Alert>>,
    /// Alerts raised since start.
    pub raised: AtomicU64,
}

impl Alerts {
    /// The latest alerts, newest first.
    pub fn recent(&self) -> Vec<Alert> {
        self.recent.lock_unpoisoned().iter().rev().cloned().collect()
    }
}

impl EngineInner {
    /// Raises an alert from `item`: logged, kept for the API, counted, and sent to
    /// `Ens.Alert` when the production has that item (never for its own errors, which
    /// would loop).
    pub(crate) fn raise_alert(&self, item: &str, kind: AlertKind, text: String) {
        tracing::warn!(item, kind = ?kind, text = %text, "ALERT");
        let alert = Alert { at_us: now_us(), item: item.to_string(), kind, text };
        {
            let mut recent = self.alerts.recent.lock_unpoisoned();
            if recent.len() >= RECENT {
                recent.pop_front();
            }
            recent.push_back(alert.clone());
        }
        self.alerts.raised.fetch_add(1, Ordering::Relaxed);
        if item == ALERT_ITEM || self.target(ALERT_ITEM).is_none() {
            return;
        }
        let Some(engine) = self.me.upgrade() else { return };
        self.runtime.spawn(async move {
            if let Err(e) = send_to_alert_item(&engine, &alert).await {
                tracing::error!(item = %alert.item, error = %e, "cannot send the alert to {ALERT_ITEM}");
            }
        });
    }
}

/// Stores the alert as a message for `Ens.Alert`: JSON with IRIS's `Ens.AlertRequest`
/// field names.
async fn send_to_alert_item(engine: &Arc<EngineInner>, alert: &Alert) -> Result<(), String> {
    let Some(dest) = engine.target(ALERT_ITEM) else { return Ok(()) };
    let at = chrono::DateTime::from_timestamp_micros(alert.at_us).map(|t| t.to_rfc3339()).unwrap_or_default();
    let body = serde_json::json!({
        "SourceConfigName": alert.item,
        "AlertText": alert.text,
        "AlertTime": at,
        "AlertKind": alert.kind,
    });
    let body = Bytes::from(body.to_string());
    let mut out = Outgoing::default();
    let stored = store_body(engine, &body, &[], &mut out);
    let header = Arc::new(Header::first(
        engine.journal.next_header_id(),
        Arc::from(alert.item.as_str()),
        Arc::from(ALERT_ITEM),
        // Ahead of ordinary traffic in a priority queue (IRIS HighSync).
        priority::HIGH_SYNC,
        stored,
        vec![("AlertKind".into(), format!("{:?}", alert.kind))],
    ));
    out.ops.push(Op::Header { header: header.clone(), status: Status::Queued, note: None, reply: None });
    let reservation = dest.queue.force_reserve();
    engine.journal.commit(out.ops, false).await.map_err(|e| e.to_string())?;
    reservation.push(Entry { header, body: Some(body), crashes: 0 });
    Ok(())
}

/// What the watch remembers of one item between looks.
struct Watched {
    /// Its queue was at or over `QueueCountAlert` at the last look (alerted).
    queue_alerted: bool,
    /// Its processed count at the last change, and when that was.
    last_count: u64,
    last_change: Instant,
    /// It has been silent for `InactivityTimeout` (alerted).
    idle_alerted: bool,
    /// A message in its queue had waited `QueueWaitAlert` at the last look (alerted).
    wait_alerted: bool,
    /// Its inbound adapter's problem outlasted `AlertGracePeriod` (alerted).
    connection_alerted: bool,
}

/// What the watch remembers of the journal between looks.
#[derive(Default)]
struct JournalWatch {
    /// It refused commits at the last look (alerted).
    unwritable: bool,
    /// The warehouse trailed by `IndexLagAlert` at the last look (alerted).
    lagging: bool,
}

impl JournalWatch {
    /// Alerts when the journal stops taking commits, and when the warehouse starts
    /// trailing the log by the production's `IndexLagAlert`.
    fn look(&mut self, engine: &EngineInner) {
        let unwritable = !engine.journal.is_healthy();
        if unwritable && !self.unwritable {
            engine.raise_alert(
                ENGINE_SOURCE,
                AlertKind::JournalUnwritable,
                format!(
                    "the journal in {} cannot be written: messages are refused (NACK) until it can",
                    engine.journal.dir().display()
                ),
            );
        }
        self.unwritable = unwritable;
        let Some(limit) = engine.plan().and_then(|p| p.index_lag_alert) else {
            self.lagging = false;
            return;
        };
        let lag = engine.journal.index_lag();
        let over = Duration::from_millis(lag.ms.max(0) as u64) >= limit;
        if over && !self.lagging {
            engine.raise_alert(
                ENGINE_SOURCE,
                AlertKind::IndexLag,
                format!(
                    "message search trails the journal by {} s ({} commits; IndexLagAlert {}): ACKs are unaffected, searches may miss the newest messages",
                    lag.ms / 1000,
                    lag.records,
                    limit.as_secs()
                ),
            );
        }
        self.lagging = over;
    }
}

/// IRIS `AlertGracePeriod` of a service: its inbound adapter's problem with its source
/// (a connection error) alerts only when it has lasted this long (0: at once), once,
/// and again after it has cleared.
fn look_at_connection(engine: &EngineInner, item: &super::item::ItemRuntime, w: &mut Watched) {
    let Some((problem, since)) = item.adapter_problem() else {
        w.connection_alerted = false;
        return;
    };
    let grace = item
        .plan
        .setting("AlertGracePeriod")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_default();
    if !w.connection_alerted && since.elapsed() >= grace {
        w.connection_alerted = true;
        engine.raise_alert(
            &item.plan.name,
            AlertKind::Connection,
            format!("the adapter cannot reach its source for {} s: {problem}", since.elapsed().as_secs()),
        );
    }
}

/// How often the watch looks at queues and counters.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// Watches every running item for `QueueCountAlert`, `QueueWaitAlert` and
/// `InactivityTimeout` until the engine is gone.
pub(crate) fn watch(engine: Weak<EngineInner>, runtime: &tokio::runtime::Handle) {
    runtime.spawn(async move {
        let mut seen: HashMap<String, Watched> = HashMap::new();
        let mut journal = JournalWatch::default();
        let mut tick = tokio::time::interval(WATCH_EVERY);
        loop {
            tick.tick().await;
            let Some(engine) = engine.upgrade() else { return };
            journal.look(&engine);
            let items = engine.items();
            seen.retain(|name, _| items.iter().any(|i| &*i.plan.name == name));
            for item in items {
                let settings = &item.plan.engine;
                if settings.queue_count_alert == 0
                    && settings.inactivity_timeout.is_none()
                    && settings.queue_wait_alert.is_none()
                    && !settings.alert_on_error
                {
                    continue;
                }
                let count = item.stats.processed.load(Ordering::Relaxed);
                let w = seen.entry(item.plan.name.to_string()).or_insert_with(|| Watched {
                    queue_alerted: false,
                    last_count: count,
                    last_change: Instant::now(),
                    idle_alerted: false,
                    wait_alerted: false,
                    connection_alerted: false,
                });
                if settings.alert_on_error {
                    look_at_connection(&engine, &item, w);
                }
                if settings.queue_count_alert > 0 {
                    let depth = item.queue.depth() + item.queue.spilled();
                    let over = depth >= settings.queue_count_alert;
                    if over && !w.queue_alerted {
                        engine.raise_alert(
                            &item.plan.name,
                            AlertKind::QueueCount,
                            format!("{depth} messages queued (QueueCountAlert {})", settings.queue_count_alert),
                        );
                    }
                    w.queue_alerted = over;
                }
                if let Some(limit) = settings.queue_wait_alert {
                    let waited = item
                        .queue
                        .oldest_waiting_us()
                        .map(|at| Duration::from_micros((now_us() - at).max(0) as u64))
                        .unwrap_or_default();
                    let over = waited >= limit;
                    if over && !w.wait_alerted {
                        engine.raise_alert(
                            &item.plan.name,
                            AlertKind::QueueWait,
                            format!("a message has waited {} s (QueueWaitAlert {})", waited.as_secs(), limit.as_secs()),
                        );
                    }
                    w.wait_alerted = over;
                }
                if count != w.last_count {
                    w.last_count = count;
                    w.last_change = Instant::now();
                    w.idle_alerted = false;
                }
                if let Some(timeout) = settings.inactivity_timeout
                    && !w.idle_alerted
                    && w.last_change.elapsed() >= timeout
                {
                    w.idle_alerted = true;
                    engine.raise_alert(
                        &item.plan.name,
                        AlertKind::Inactivity,
                        format!("no message for {} s (InactivityTimeout)", timeout.as_secs()),
                    );
                }
            }
        }
    });
}
