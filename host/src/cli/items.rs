//! `hie items pause|resume|restart NAME`: operator control of one item.

use super::client::{ApiArgs, ApiClient, enc};
use clap::{Args, Subcommand};
use std::process::ExitCode;

/// Arguments of `hie items`.
#[derive(Args, Debug)]
pub struct ItemsArgs {
    /// Where the engine's API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Print the API's JSON answer.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: ItemsCommand,
}

/// What to do with an item.
#[derive(Subcommand, Debug)]
pub enum ItemsCommand {
    /// Pause an item: it takes nothing new (a service stops reading); in-flight work
    /// finishes and waiting messages stay queued.
    Pause {
        /// Item name.
        name: String,
    },
    /// Resume a paused item.
    Resume {
        /// Item name.
        name: String,
    },
    /// Restart an item: stop it (in-flight work finishes, waiting messages stay queued)
    /// and start it again with the same settings. A paused item comes back paused.
    Restart {
        /// Item name.
        name: String,
    },
}

/// Runs `hie items ...`.
pub fn run(args: ItemsArgs) -> anyhow::Result<ExitCode> {
    let api = ApiClient::from_args(&args.api)?;
    let (action, name) = match &args.command {
        ItemsCommand::Pause { name } => ("pause", name),
        ItemsCommand::Resume { name } => ("resume", name),
        ItemsCommand::Restart { name } => ("restart", name),
    };
    let path = format!("/api/items/{}/{action}", enc(name));
    let reply = if action == "restart" {
        super::progress::with_spinner(&format!("restarting {name}"), || api.call("POST", &path, None))?
    } else {
        api.call("POST", &path, None)?
    };
    if args.json {
        return Ok(reply.print_json());
    }
    if reply.no_such_route() {
        eprintln!("hie: this engine does not serve POST {path} (an older version of hie?)");
        return Ok(ExitCode::from(1));
    }
    if !reply.ok() {
        return Ok(reply.fail(&format!("cannot {action} {name}")));
    }
    let v = reply.value();
    let state = v["state"].as_str().unwrap_or("done");
    match action {
        "restart" => outln!("{name}: restarted, {state}"),
        _ => outln!("{name}: {state}"),
    }
    Ok(ExitCode::SUCCESS)
}
