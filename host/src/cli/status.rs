//! `hie status`: the production's items as a table (state, queue, rate, errors).

use super::client::{ApiArgs, ApiClient};
use super::table::Table;
use super::units;
use clap::Args;
use serde_json::Value;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Arguments of `hie status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Where the engine's API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Print JSON: the `GET /api/production` answer, with each item's `rate_per_s`.
    #[arg(long)]
    pub json: bool,
    /// Seconds between the two samples of `GET /api/production` the rate is computed
    /// from (the change in `processed` over this time). 0 takes one sample, no rate.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub interval: f64,
}

/// Runs `hie status`.
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let api = ApiClient::from_args(&args.api)?;
    let first = api.get_json("/api/production")?;
    let started = Instant::now();
    let (mut now, elapsed) = if args.interval > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(args.interval.min(60.0)));
        (api.get_json("/api/production")?, Some(started.elapsed().as_secs_f64()))
    } else {
        (first.clone(), None)
    };
    add_rates(&first, &mut now, elapsed);
    if args.json {
        super::output::json(&now);
        return Ok(ExitCode::SUCCESS);
    }
    print_status(&now);
    Ok(ExitCode::SUCCESS)
}

/// Adds `rate_per_s` to every item of `now`: processed since `first`, per second.
fn add_rates(first: &Value, now: &mut Value, elapsed: Option<f64>) {
    let Some(elapsed) = elapsed.filter(|e| *e > 0.0) else { return };
    now["rate_interval_s"] = serde_json::json!(elapsed);
    let before = |name: &str, started: &Value| {
        first["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["name"] == name && &i["started_us"] == started))
            .and_then(|i| i["processed"].as_u64())
    };
    for item in now["items"].as_array_mut().into_iter().flatten() {
        let name = item["name"].as_str().unwrap_or_default().to_string();
        // A runtime restarted between the samples starts its counters again: no rate.
        if let (Some(b), Some(n)) = (before(&name, &item["started_us"]), item["processed"].as_u64()) {
            item["rate_per_s"] = serde_json::json!(n.saturating_sub(b) as f64 / elapsed);
        }
    }
}

fn print_status(v: &Value) {
    let config = &v["config"];
    let version = config["version"].as_u64().map(|n| format!(", config v{n}")).unwrap_or_default();
    let writable = if v["journal_writable"] == false { ", JOURNAL NOT WRITABLE" } else { "" };
    outln!(
        "Production {}: {}{version}, durability {}{writable}",
        v["name"].as_str().map(|n| format!("{n:?}")).unwrap_or_else(|| "?".into()),
        v["state"].as_str().unwrap_or("?"),
        v["durability"].as_str().unwrap_or("?"),
    );
    let lag = &v["index_lag"];
    // A trail of a few milliseconds is the indexer's normal gathering, not news.
    if lag["records"].as_u64().unwrap_or(0) > 0 && lag["ms"].as_i64().unwrap_or(0) >= 1000 {
        outln!(
            "Search trails the journal by {} commits ({})",
            lag["records"],
            units::duration_ms(lag["ms"].as_f64().unwrap_or(0.0))
        );
    }
    for e in config["errors"].as_array().into_iter().flatten() {
        outln!("Last reload: {}", e.as_str().unwrap_or_default());
    }
    outln!();
    let now = units::now_us();
    let mut t =
        Table::new(&["ITEM", "KIND", "STATE", "QUEUE", "IN FLIGHT", "RATE", "PROCESSED", "ERRORS", "STARTED", "NOTE"])
            .right(&[3, 4, 5, 6, 7])
            .max_width(0, 32)
            .max_width(9, 60);
    for i in v["items"].as_array().into_iter().flatten() {
        let n = |k: &str| i[k].as_u64().unwrap_or(0);
        let rate = i["rate_per_s"].as_f64().map(units::rate).unwrap_or_else(|| "-".into());
        let queue = match n("queue_in_journal") {
            0 => units::count(n("queue_depth")),
            spilled => format!("{} ({} on disk)", units::count(n("queue_depth")), units::count(spilled)),
        };
        t.row(vec![
            i["name"].as_str().unwrap_or_default().into(),
            i["kind"].as_str().unwrap_or_default().into(),
            i["state"].as_str().unwrap_or_default().into(),
            queue,
            units::count(n("in_flight")),
            rate,
            units::count(n("processed")),
            units::count(n("errors")),
            units::ago(i["started_us"].as_i64().unwrap_or(0), now),
            note(i),
        ]);
    }
    t.print();
}

/// The NOTE column: the state's reason, workers, a deleted pack.
fn note(i: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(n) = i["state_note"].as_str().filter(|n| !n.is_empty()) {
        parts.push(n.to_string());
    }
    if let Some(w) = i["workers"].as_array().filter(|w| !w.is_empty()) {
        let up = w.iter().filter(|w| w["state"] == "running").count();
        parts.push(format!("workers {up}/{} up", w.len()));
    }
    if i["pack_deleted"] == true {
        parts.push("pack file deleted".into());
    }
    parts.join("; ")
}
