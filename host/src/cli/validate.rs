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
    /// Treat classes no pack provides, and items that cannot be built (a rule class or
    /// transform not found), as warnings: those items are skipped.
    #[arg(long)]
    pub skip_unresolved: bool,
    /// A System Default Settings export applied after the production's own; repeatable
    /// (as `hie run --defaults`).
    #[arg(long = "defaults", value_name = "FILE")]
    pub defaults: Vec<PathBuf>,
    /// A node's own value of one item's setting, as `hie run --set` (repeatable).
    #[arg(long = "set", value_name = "ITEM.SETTING=VALUE")]
    pub set: Vec<String>,
    /// Print the diagnostics as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print every effective setting of this item and where it came from: the production
    /// file, System Default Settings (file and line) or the class default.
    #[arg(long, value_name = "ITEM")]
    pub explain: Option<String>,
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
    let sets = match production::sets::parse_all(&args.set) {
        Ok(s) => s,
        Err(e) => {
            if args.json {
                let diagnostic = serde_json::json!({
                    "severity": "error", "file": "--set", "line": 0, "item": null, "setting": null, "message": e,
                });
                outln!("{}", serde_json::to_string_pretty(&summary(&file, None, 0, &[diagnostic], false))?);
            } else {
                eprintln!("{e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let config = match production::load_with_defaults(&args.config, &args.defaults) {
        Ok(mut c) => {
            c.overrides = sets;
            c
        }
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
    let (mut plan, mut diags) =
        production::validate::validate(&config, &packs, ValidateOptions { skip_unresolved: args.skip_unresolved });
    // Build every item as `hie run` will (rules files, DTLs, schemas): validate ⇒ run.
    if let Some(p) = plan.as_mut() {
        diags.extend(hie_host::engine::probe::probe(p, args.skip_unresolved));
        if diags.iter().any(|d| d.is_error()) {
            plan = None;
        }
    }
    let explained = match &args.explain {
        Some(name) => {
            let merged = production::defaults::apply(&config, &packs);
            let Some(item) = merged.item(name) else {
                let _ = std::fs::remove_dir_all(&stage);
                anyhow::bail!("--explain {name}: the production has no item of that name");
            };
            let plan_item = plan.as_ref().and_then(|p| p.item(name));
            Some(production::defaults::explain(&merged, item, plan_item.map(|p| &p.settings)))
        }
        None => None,
    };
    let classes = production::migration::report(&production::defaults::apply(&config, &packs), &packs);
    let _ = std::fs::remove_dir_all(&stage);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if args.json {
        let listed: Vec<serde_json::Value> = diags.iter().filter_map(|d| serde_json::to_value(d).ok()).collect();
        let items = plan.as_ref().map_or(config.items.len(), |p| p.items.len());
        let mut out = summary(&file, Some(&config.name), items, &listed, plan.is_some());
        out["classes"] = serde_json::to_value(&classes)?;
        if let Some(e) = &explained {
            out["explain"] = serde_json::to_value(e)?;
        }
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for d in &diags {
            outln!("{d}");
        }
        if let (Some(e), Some(name)) = (&explained, &args.explain) {
            outln!("effective settings of {name}:");
            let width = e.iter().map(|x| x.setting.len()).max().unwrap_or(0);
            for x in e {
                outln!("  {:width$} = {:?}  ({})", x.setting, x.value, x.source);
            }
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
        print_migration_report(&classes);
    }
    Ok(if plan.is_some() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// The migration report: each class, its items, and who provides it in HIE.
fn print_migration_report(classes: &[production::migration::ClassUse]) {
    if classes.is_empty() {
        return;
    }
    outln!("classes this production uses:");
    let mut t =
        super::table::Table::new(&["CLASS", "ITEMS", "DISABLED", "PROVIDED BY"]).right(&[1, 2]).max_width(3, 100);
    for c in classes {
        t.row(vec![c.class.clone(), c.items.to_string(), c.disabled.to_string(), c.provided_by()]);
    }
    t.print();
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
