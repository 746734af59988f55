//! `hie`: the HIE engine's command line.

mod cli;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// HIE: a healthcare integration engine. Runs productions of items whose classes come
/// from plugin packs; takes HL7 v2 in over MLLP and files, routes it, sends it on.
#[derive(Parser, Debug)]
#[command(name = "hie", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a production (IRIS XML, UDL .cls, Studio export, YAML or JSON).
    Run(cli::run::RunArgs),
    /// Check a production against the available packs and print every problem.
    Validate(cli::validate::ValidateArgs),
    /// List loaded packs, their classes and settings, and packs that failed to load.
    Plugins(cli::plugins::PluginsArgs),
    /// Find and act on messages in a running engine (search, show, resend, suspend, purge).
    Messages(cli::messages::MessagesArgs),
    /// Ask a running engine to reload its production file.
    Reload(cli::messages::ApiArgs),
    /// Sign packs and make signing keys (for engines run with --trusted-keys).
    Pack(cli::packs::PackArgs),
    /// Internal: run as a worker process of a multi_process item.
    #[command(hide = true)]
    Worker(cli::worker::WorkerArgs),
}

/// Where packs are looked for besides `--plugins` and the production's `plugin_dirs`:
/// the directory holding the `hie` executable.
pub fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.to_path_buf()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cli::run::run(a),
        Command::Validate(a) => cli::validate::run(a),
        Command::Plugins(a) => cli::plugins::run(a),
        Command::Messages(a) => cli::messages::run(a),
        Command::Reload(a) => cli::messages::reload(a),
        Command::Pack(a) => cli::packs::run(a),
        Command::Worker(a) => cli::worker::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hie: {e:#}");
            ExitCode::from(1)
        }
    }
}
