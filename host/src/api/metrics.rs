//! `GET /metrics`: Prometheus text format.

use super::ApiState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One per-item series: name, type, help, how to read it.
type Series = (&'static str, &'static str, &'static str, fn(&crate::engine::ItemStatus) -> u64);

pub(super) async fn metrics(State(s): State<ApiState>) -> impl IntoResponse {
    let status = s.engine.status();
    let mut out = String::new();
    let series: [Series; 6] = [
        ("hie_item_processed_total", "counter", "Messages an item finished.", |i| i.processed),
        ("hie_item_errors_total", "counter", "Messages that ended in error.", |i| i.errors),
        ("hie_item_retries_total", "counter", "Retries made.", |i| i.retries),
        ("hie_item_discarded_total", "counter", "Messages discarded.", |i| i.discarded),
        ("hie_item_queue_depth", "gauge", "Messages waiting in the item's queue.", |i| i.queue_depth as u64),
        ("hie_item_in_flight", "gauge", "Messages being processed.", |i| i.in_flight as u64),
    ];
    for (name, kind, help, get) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for i in &status.items {
            let _ = writeln!(out, "{name}{{item=\"{}\",class=\"{}\"}} {}", label(&i.name), label(&i.class), get(i));
        }
    }
    let _ = writeln!(out, "# HELP hie_item_counter Counters defined by plugins.\n# TYPE hie_item_counter counter");
    for i in &status.items {
        for (k, v) in &i.counters {
            let _ = writeln!(out, "hie_item_counter{{item=\"{}\",name=\"{}\"}} {v}", label(&i.name), label(k));
        }
    }
    let _ = writeln!(out, "# HELP hie_item_workers Worker processes of an item.\n# TYPE hie_item_workers gauge");
    for i in &status.items {
        let _ = writeln!(out, "hie_item_workers{{item=\"{}\"}} {}", label(&i.name), i.workers.len());
    }
    let _ =
        writeln!(out, "# HELP hie_reloads_total Config and pack reloads by outcome.\n# TYPE hie_reloads_total counter");
    for (kind, outcome, n) in s.reloader.counts() {
        let _ = writeln!(out, "hie_reloads_total{{kind=\"{}\",outcome=\"{}\"}} {n}", label(&kind), label(&outcome));
    }
    let _ = writeln!(
        out,
        "# HELP hie_journal_writable 1 when the journal accepts commits.\n# TYPE hie_journal_writable gauge"
    );
    let _ = writeln!(out, "hie_journal_writable {}", u8::from(status.journal_writable));
    let lag = status.index_lag;
    let _ = writeln!(
        out,
        "# HELP hie_journal_index_lag_records Commits in the commit log not yet in the warehouse (search, sessions).\n# TYPE hie_journal_index_lag_records gauge\nhie_journal_index_lag_records {}",
        lag.records
    );
    let _ = writeln!(
        out,
        "# HELP hie_journal_index_lag_seconds How long ago the oldest commit not yet in the warehouse was written.\n# TYPE hie_journal_index_lag_seconds gauge\nhie_journal_index_lag_seconds {:.3}",
        lag.ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "# HELP hie_alerts_total Alerts raised (AlertOnError, QueueCountAlert, InactivityTimeout).\n# TYPE hie_alerts_total counter"
    );
    let _ =
        writeln!(out, "hie_alerts_total {}", s.engine.inner.alerts.raised.load(std::sync::atomic::Ordering::Relaxed));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
