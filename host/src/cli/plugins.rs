//! `hie plugins`.

use clap::Args;
use hie_host::production::validate::ENGINE_SETTINGS;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;

/// Arguments of `hie plugins`.
#[derive(Args, Debug)]
pub struct PluginsArgs {
    /// Extra pack directories.
    #[arg(long = "plugins", value_name = "DIR")]
    pub plugins: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Ask a running engine (its API address) for loaded and staged packs instead.
    #[arg(long, value_name = "ADDR")]
    pub api: Option<String>,
    /// File holding the API's bearer token, when the engine was started with one.
    #[arg(long, env = "HIE_API_TOKEN_FILE", value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
    /// File of trusted ed25519 public keys (`hie pack keygen`): packs outside the hie
    /// binary's directory then load only when signed by one of them (`hie pack sign`).
    #[arg(long, env = "HIE_TRUSTED_KEYS", value_name = "FILE")]
    pub trusted_keys: Option<PathBuf>,
}

/// Lists packs, classes and settings.
pub fn run(args: PluginsArgs) -> anyhow::Result<ExitCode> {
    if let Some(api) = &args.api {
        let body = super::client::ApiClient::new(api, args.api_token_file.as_deref())?.get("/api/plugins")?;
        let v: serde_json::Value = serde_json::from_str(&body)?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(ExitCode::SUCCESS);
        }
        outln!("loaded:");
        for p in v["loaded"].as_array().into_iter().flatten() {
            outln!(
                "  {} {} generation {} sha256 {} {}{}\n      used by: {}",
                p["name"].as_str().unwrap_or(""),
                p["version"].as_str().unwrap_or(""),
                p["generation"],
                &p["sha256"].as_str().unwrap_or("")[..16.min(p["sha256"].as_str().unwrap_or("").len())],
                p["source_path"].as_str().unwrap_or(""),
                if p["deleted"] == true { " (DELETED from disk; still running)" } else { "" },
                p["used_by"]
                    .as_array()
                    .map(|u| u.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            );
        }
        outln!("staged (content-hashed copies):");
        for s in v["staged"].as_array().into_iter().flatten() {
            outln!("  {}", s.as_str().unwrap_or(""));
        }
        for e in v["recent_reloads"].as_array().into_iter().flatten() {
            outln!(
                "reload {} {}: {}",
                e["at"].as_str().unwrap_or(""),
                e["outcome"].as_str().unwrap_or(""),
                e["detail"].as_str().unwrap_or("")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    super::init_tracing_with("warn");
    let dirs = super::plugin_dirs(&args.plugins, None);
    let stage = std::env::temp_dir().join(format!("hie-plugins-{}", std::process::id()));
    let trust = super::trust(args.trusted_keys.as_deref())?;
    let packs = super::load_packs(&dirs, &stage, &AtomicU64::new(1), trust.as_ref());
    let _ = std::fs::remove_dir_all(&stage);
    if args.json {
        let v = serde_json::json!({
            "searched": packs.searched,
            "packs": packs.packs.iter().map(|p| p.as_ref()).collect::<Vec<_>>(),
            "failures": packs.failures,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("searched: {}", packs.searched.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", "));
    for p in &packs.packs {
        outln!(
            "\npack {} {} (ABI {}.{}, sha256 {}){}{}\n  {}",
            p.name,
            p.version,
            p.abi_version,
            p.abi_minor,
            &p.sha256[..16],
            if p.vendor.is_empty() { String::new() } else { format!(", vendor {}", p.vendor) },
            if p.min_host_version.is_empty() { String::new() } else { format!(", needs HIE {}+", p.min_host_version) },
            p.source_path.display()
        );
        for a in &p.adapters {
            outln!("  adapter {} [{:?}]  {}", a.name, a.direction, a.doc);
            for s in &a.settings {
                outln!(
                    "      {:<28} {:<9} default {:<12} {}{}",
                    s.name,
                    s.kind.describe(),
                    format!("{:?}", s.default),
                    s.doc,
                    if s.required { " (required)" } else { "" }
                );
            }
        }
        for c in &p.classes {
            outln!(
                "  {} [{}{}]  {}",
                c.name,
                hie_host::pack::kind_name(c.kind),
                if c.adapter.is_empty() { String::new() } else { format!(", adapter {}", c.adapter) },
                c.doc
            );
            for s in &c.settings {
                outln!(
                    "      {:<28} {:<7} default {:<12} {}{}",
                    s.name,
                    format!("{:?}", s.target),
                    format!("{:?}", s.default),
                    s.doc,
                    if s.supported { "" } else { " (not implemented)" }
                );
            }
        }
    }
    for f in &packs.failures {
        outln!("\nREJECTED {f}");
    }
    outln!("\nhost adapters:");
    for a in packs.adapters.all().filter(|a| a.provider == hie_host::adapter::registry::Provider::Host) {
        outln!("  {} [{:?}]  {}", a.name, a.direction, a.doc);
    }
    outln!("\nengine settings (any item):");
    for s in ENGINE_SETTINGS {
        outln!("      {:<28} default {:<12} {}", s.name, format!("{:?}", s.default), s.doc);
    }
    Ok(ExitCode::SUCCESS)
}
