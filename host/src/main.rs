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
    /// Log format on stderr: text (coloured only on a terminal) or json (one object per
    /// line). Worker processes inherit it.
    #[arg(
        long,
        global = true,
        env = "HIE_LOG_FORMAT",
        value_enum,
        value_name = "text|json",
        hide_possible_values = true,
        default_value_t = cli::logging::LogFormat::Text,
        display_order = 900
    )]
    log_format: cli::logging::LogFormat,
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
    /// Show a running engine's items: state, queue, rate (from two samples 1 s apart),
    /// errors.
    Status(cli::status::StatusArgs),
    /// Pause, resume or restart an item of a running engine.
    Items(cli::items::ItemsArgs),
    /// Find and act on messages in a running engine (search, show, session, resend,
    /// suspend, purge).
    Messages(cli::messages::MessagesArgs),
    /// Show a running engine's audit log: who did what, when, from where.
    Audit(cli::audit::AuditArgs),
    /// Ask a running engine to reload its production file.
    Reload(cli::reload::ReloadArgs),
    /// Sign packs and make signing keys (for engines run with --trusted-keys).
    Pack(cli::packs::PackArgs),
    /// IRIS routing rules: `hie rules convert FILE` prints their YAML equivalent.
    Rules(cli::iris::RulesArgs),
    /// IRIS DTL transforms: `hie dtl run CLASS FILE` prints the output for a message.
    Dtl(cli::iris::DtlArgs),
    /// Convert HL7 v2 to and from JSON and HL7 v2.xml (`--to json|xml|hl7 FILE`).
    Convert(cli::convert::ConvertArgs),
    /// Lookup tables of a running engine: list, show, set, delete, import (applied live).
    Lookups(cli::lookups::LookupsArgs),
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
    cli::logging::set_format(cli.log_format);
    if std::env::var("HIE_LOG_FORMAT").ok().as_deref() != Some(cli.log_format.name()) {
        // SAFETY: no other thread exists yet (nothing has been started), so nothing reads
        // the environment concurrently. Worker processes inherit the format this way.
        unsafe { std::env::set_var("HIE_LOG_FORMAT", cli.log_format.name()) };
    }
    let result = match cli.command {
        Command::Run(a) => cli::run::run(a),
        Command::Validate(a) => cli::validate::run(a),
        Command::Plugins(a) => cli::plugins::run(a),
        Command::Status(a) => cli::status::run(a),
        Command::Items(a) => cli::items::run(a),
        Command::Messages(a) => cli::messages::run(a),
        Command::Audit(a) => cli::audit::run(a),
        Command::Reload(a) => cli::reload::run(a),
        Command::Pack(a) => cli::packs::run(a),
        Command::Rules(a) => cli::iris::run_rules(a),
        Command::Dtl(a) => cli::iris::run_dtl(a),
        Command::Lookups(a) => cli::lookups::run(a),
        Command::Convert(a) => cli::convert::run(a),
        Command::Worker(a) => cli::worker::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            cli::logging::say(cli::logging::Level::Error, &format!("hie: {e:#}"));
            ExitCode::from(1)
        }
    }
}
