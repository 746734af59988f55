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

/// Validates and prints every problem; exit 0 when it would run, 2 when not. With
/// `--json` stdout is one JSON object on every path, an unreadable or malformed file
/// included: `file`, `production`, `valid`, `items`, `errors`, `warnings`, `diagnostics`.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    super::init_tracing_with("warn");
    let file = args.config.display().to_string();
    let config = match production::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            if args.json {
                let line = match &e {
                    production::LoadError::Syntax { location, .. } => location.line,
                    production::LoadError::Io { .. } => 0,
                };
                let diagnostic = serde_json::json!({
                    "severity": "error", "file": file, "line": line, "item": null, "setting": null,
                    "message": e.to_string(),
                });
                outln!("{}", serde_json::to_string_pretty(&summary(&file, None, 0, &[diagnostic], false))?);
            } else {
                eprintln!("{e}");
            }
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
    let _ = std::fs::remove_dir_all(&stage);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if args.json {
        let listed: Vec<serde_json::Value> = diags.iter().filter_map(|d| serde_json::to_value(d).ok()).collect();
        let items = plan.as_ref().map_or(config.items.len(), |p| p.items.len());
        let out = summary(&file, Some(&config.name), items, &listed, plan.is_some());
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for d in &diags {
            outln!("{d}");
        }
        match &plan {
            Some(p) => outln!(
                "{file}: production {:?} is valid ({}, {})",
                p.name,
                plural(p.items.len(), "item"),
                plural(warnings, "warning")
            ),
            None => outln!(
                "{file}: {} and {}; the production would not start",
                plural(errors, "error"),
                plural(warnings, "warning")
            ),
        }
    }
    Ok(if plan.is_some() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// `n` and the noun, plural unless `n` is 1.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// The `--json` object.
fn summary(
    file: &str,
    production: Option<&str>,
    items: usize,
    diagnostics: &[serde_json::Value],
    valid: bool,
) -> serde_json::Value {
    let errors = diagnostics.iter().filter(|d| d["severity"] == "error").count();
    serde_json::json!({
        "file": file,
        "production": production,
        "valid": valid,
        "items": items,
        "errors": errors,
        "warnings": diagnostics.len() - errors,
        "diagnostics": diagnostics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_singular_for_one_and_plural_otherwise() {
        assert_eq!(plural(1, "item"), "1 item");
        assert_eq!(plural(0, "warning"), "0 warnings");
        assert_eq!(plural(3, "error"), "3 errors");
    }
}
