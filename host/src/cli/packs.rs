//! `hie pack keygen` and `hie pack sign`: signing packs for engines that only load signed
//! ones (`hie run --trusted-keys FILE`).

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `hie pack`.
#[derive(Args, Debug)]
pub struct PackArgs {
    #[command(subcommand)]
    command: PackCommand,
}

#[derive(Subcommand, Debug)]
enum PackCommand {
    /// Make an ed25519 key pair: PREFIX.secret (keep it) and PREFIX.public (give it to
    /// the engines that should trust your packs, in their --trusted-keys file).
    Keygen {
        /// Path prefix of the two key files.
        prefix: PathBuf,
    },
    /// Sign packs: writes <pack>.so.sig beside each, to deploy with it.
    Sign {
        /// The secret key file (from `hie pack keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The packs.
        #[arg(required = true)]
        packs: Vec<PathBuf>,
    },
    /// Check packs' signatures against trusted keys, as an engine would.
    Verify {
        /// The trusted public keys.
        #[arg(long, value_name = "FILE")]
        trusted_keys: PathBuf,
        /// The packs.
        #[arg(required = true)]
        packs: Vec<PathBuf>,
    },
}

/// Runs `hie pack`.
pub fn run(args: PackArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PackCommand::Keygen { prefix } => {
            let (secret, public) = hie_host::pack::trust::keygen(&prefix).map_err(|e| anyhow::anyhow!(e))?;
            outln!("secret key: {} (keep it private)\npublic key: {}", secret.display(), public.display());
            Ok(ExitCode::SUCCESS)
        }
        PackCommand::Sign { key, packs } => {
            for p in &packs {
                let sig = hie_host::pack::trust::sign(p, &key).map_err(|e| anyhow::anyhow!(e))?;
                outln!("{}: signed ({})", p.display(), sig.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        PackCommand::Verify { trusted_keys, packs } => {
            let trust = hie_host::pack::Trust::load(&trusted_keys).map_err(|e| anyhow::anyhow!(e))?;
            let mut ok = true;
            for p in &packs {
                let sha = hie_host::pack::sha256_file(p)?;
                match trust.check(p, &sha) {
                    Ok(()) => outln!("{}: signature verifies", p.display()),
                    Err(e) => {
                        ok = false;
                        outln!("{}: {e}", p.display());
                    }
                }
            }
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}
