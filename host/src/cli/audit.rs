//! `hie audit`: who did what to the running engine, from `GET /api/audit`.

use super::client::{ApiArgs, ApiClient};
use super::table::Table;
use super::units;
use clap::Args;
use serde_json::Value;
use std::process::ExitCode;

/// Arguments of `hie audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Where the engine's API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Print the API's JSON answer.
    #[arg(long)]
    pub json: bool,
    /// At most this many entries (newest first).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Runs `hie audit`.
pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let api = ApiClient::from_args(&args.api)?;
    let path = match args.limit {
        Some(l) => format!("/api/audit?limit={l}"),
        None => "/api/audit".to_string(),
    };
    let reply = api.call("GET", &path, None)?;
    if reply.no_such_route() {
        eprintln!(
            "hie: this engine keeps no audit log yet (GET /api/audit answered 404 Not Found); \
             operator actions are in its log on stderr"
        );
        return Ok(ExitCode::from(1));
    }
    if args.json {
        return Ok(reply.print_json());
    }
    if !reply.ok() {
        return Ok(reply.fail("cannot read the audit log"));
    }
    let v = reply.value();
    let entries = v.as_array().or_else(|| v["entries"].as_array()).cloned().unwrap_or_default();
    if entries.is_empty() {
        outln!("No audit entries.");
        return Ok(ExitCode::SUCCESS);
    }
    let now = units::now_us();
    let mut t = Table::new(&["WHO", "WHEN", "ACTION", "WHAT", "FROM"]).max_width(0, 24).max_width(3, 60);
    for e in &entries {
        let when = ["at_us", "at", "when", "time"].iter().find_map(|k| units::parse_us(&e[*k])).unwrap_or(0);
        t.row(vec![
            first(e, &["who", "user", "actor"]),
            if when > 0 { format!("{} ({})", units::local_time(when), units::ago(when, now)) } else { "-".into() },
            first(e, &["action"]),
            first(e, &["what", "target", "item"]),
            first(e, &["from", "source", "address", "remote"]),
        ]);
    }
    t.print();
    Ok(ExitCode::SUCCESS)
}

/// The first of `keys` that `e` has, as text.
fn first(e: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| match &e[*k] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        })
        .unwrap_or_else(|| "-".into())
}
