//! `hie reload`: ask a running engine to re-read its production file.

use super::client::{ApiArgs, ApiClient};
use clap::Args;
use serde_json::Value;
use std::process::ExitCode;

/// Arguments of `hie reload`.
#[derive(Args, Debug)]
pub struct ReloadArgs {
    /// Where the engine's API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Print the API's JSON answer (the reload event).
    #[arg(long)]
    pub json: bool,
}

/// Runs `hie reload`: exit 0 when applied or unchanged, 1 otherwise.
pub fn run(args: ReloadArgs) -> anyhow::Result<ExitCode> {
    let api = ApiClient::from_args(&args.api)?;
    let reply = super::progress::with_spinner("reloading", || api.call("POST", "/api/reload", None))?;
    if args.json {
        return Ok(reply.print_json());
    }
    let v = reply.value();
    if v["outcome"].is_null() {
        return Ok(reply.fail("reload"));
    }
    print_event(&v);
    Ok(reply.exit_code())
}

/// Prints a reload event: outcome, version, what changed, diagnostics.
pub fn print_event(v: &Value) {
    let version = v["version"].as_u64().map(|n| format!(" (config v{n})")).unwrap_or_default();
    outln!("reload {}{version}: {}", v["outcome"].as_str().unwrap_or("?"), v["detail"].as_str().unwrap_or(""));
    let report = &v["report"];
    for key in ["added", "changed", "removed"] {
        let names: Vec<&str> = report[key].as_array().into_iter().flatten().filter_map(|n| n.as_str()).collect();
        if !names.is_empty() {
            outln!("  {key}: {}", names.join(", "));
        }
    }
    if let Some(n) = report["suspended"].as_u64().filter(|n| *n > 0) {
        outln!("  {n} queued messages of removed items suspended");
    }
    for d in v["diagnostics"].as_array().into_iter().flatten() {
        outln!("  {}", d.as_str().unwrap_or_default());
    }
}
