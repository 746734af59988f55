//! `hie worker`: a worker process of a multi_process item.

use clap::Args;
use std::process::ExitCode;

/// Arguments of the hidden `hie worker` subcommand.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// Unix socket to connect to.
    #[arg(long)]
    pub socket: std::path::PathBuf,
}

/// Runs the worker.
pub fn run(_args: WorkerArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("worker mode is not available yet")
}
