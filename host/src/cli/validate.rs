//! `hie validate`.

use clap::Args;
use hie_host::production::{self, validate::ValidateOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;

/// Arguments of `hie validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The production file.
    pub config: PathBuf,
    /// Extra pack directories.
    #[arg(long = "plugins", value_name = "DIR")]
    pub plugins: Vec<PathBuf>,
    /// Treat classes no pack provides as warnings (those items are skipped).
    #[arg(long)]
    pub skip_unresolved: bool,
    /// Print the diagnostics as JSON.
    #[arg(long)]
    pub json: bool,
    /// File of trusted ed25519 public keys (`hie pack keygen`): packs outside the hie
    /// binary's directory then load only when signed by one of them (`hie pack sign`).
    #[arg(long, env = "HIE_TRUSTED_KEYS", value_name = "FILE")]
    pub trusted_keys: Option<PathBuf>,
}

/// Validates and prints every problem; exit 0 when it would run, 2 when not.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    super::init_tracing_with("warn");
    let config = match production::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let dirs = super::plugin_dirs(&args.plugins, Some(&config));
    let stage = std::env::temp_dir().join(format!("hie-validate-{}", std::process::id()));
    let trust = super::trust(args.trusted_keys.as_deref())?;
    let packs = super::load_packs(&dirs, &stage, &AtomicU64::new(1), trust.as_ref());
    for f in &packs.failures {
        eprintln!("warning: pack {f}");
    }
    let (plan, diags) =
        production::validate::validate(&config, &packs, ValidateOptions { skip_unresolved: args.skip_unresolved });
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&diags)?);
    } else {
        for d in &diags {
            outln!("{d}");
        }
    }
    let _ = std::fs::remove_dir_all(&stage);
    match plan {
        Some(p) => {
            if !args.json {
                outln!(
                    "{}: production {:?} is valid ({} items, {} warnings)",
                    args.config.display(),
                    p.name,
                    p.items.len(),
                    diags.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let errors = diags.iter().filter(|d| d.is_error()).count();
            if !args.json {
                outln!("{}: {errors} error(s); the production would not start", args.config.display());
            }
            Ok(ExitCode::from(2))
        }
    }
}
