//! `hie worker`: a worker process of a multi_process item (started by the engine only).

use clap::Args;
use std::process::ExitCode;

/// Arguments of the hidden `hie worker` subcommand. Item and slot are here so that
/// `ps` shows which item a worker belongs to.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The item this worker runs.
    #[arg(long)]
    pub item: String,
    /// The worker's slot.
    #[arg(long)]
    pub slot: usize,
    /// The engine's pid (the worker exits if its parent is not this process).
    #[arg(long)]
    pub parent: u32,
}

/// Runs the worker until the engine stops it.
pub fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    super::init_tracing();
    tracing::debug!(item = %args.item, slot = args.slot, "worker process up");
    match hie_host::worker::run(args.parent) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            super::logging::say_error!("hie worker ({} #{}): {e}", args.item, args.slot);
            Ok(ExitCode::from(3))
        }
    }
}
