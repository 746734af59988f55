//! `hie run`.

use super::logging::{say_error, say_warn};
use clap::Args;
use hie_host::api::auth::{self, Tokens};
use hie_host::api::{self, ApiState};
use hie_host::engine::{Engine, EngineOptions, PackStore};
use hie_host::journal::Journal;
use hie_host::production::{self, validate::ValidateOptions};
use hie_host::reload::{Reloader, watch};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use tokio::signal::unix::{SignalKind, signal};

/// Arguments of `hie run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The production file.
    pub config: PathBuf,
    /// Where the journal and staged packs live.
    #[arg(long, default_value = "hie-data")]
    pub data_dir: PathBuf,
    /// Extra pack directories (the hie binary's own directory is always searched).
    #[arg(long = "plugins", value_name = "DIR")]
    pub plugins: Vec<PathBuf>,
    /// Management API address. Anything but loopback needs --api-token-file.
    #[arg(long, default_value = "127.0.0.1:9840")]
    pub api: SocketAddr,
    /// File holding the API's bearer tokens (each at least 16 characters): one token
    /// (admin), or `NAME ROLE TOKEN` lines with roles viewer, operator, admin. Every API
    /// request must then send `Authorization: Bearer <token>`.
    #[arg(long, env = "HIE_API_TOKEN_FILE", value_name = "FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Run the items whose classes resolve and can be built; skip (and report) the others.
    #[arg(long)]
    pub skip_unresolved: bool,
    /// A System Default Settings export (IRIS `Ens.Config.DefaultSettings.ESD`) applied
    /// after the production's own and those its `SystemDefaults` setting names; repeatable.
    #[arg(long = "defaults", value_name = "FILE")]
    pub defaults: Vec<PathBuf>,
    /// This node's own value of one item's setting, over the file and every default
    /// (repeatable): `--set ADT_In.Port=9001`. Applied again on every reload.
    #[arg(long = "set", value_name = "ITEM.SETTING=VALUE")]
    pub set: Vec<String>,
    /// File of trusted ed25519 public keys (`hie pack keygen`): packs outside the hie
    /// binary's directory then load only when signed by one of them (`hie pack sign`).
    #[arg(long, env = "HIE_TRUSTED_KEYS", value_name = "FILE")]
    pub trusted_keys: Option<PathBuf>,
}

/// Runs the production until SIGTERM/SIGINT, then drains and exits 0.
pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    super::init_tracing();
    match super::rlimit::raise_nofile() {
        Ok((before, after)) if before != after => tracing::info!(before, after, "file descriptor limit raised"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the file descriptor limit"),
    }
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| anyhow::anyhow!("cannot read production file {}: {e}", args.config.display()))?;
    let sets = match production::sets::parse_all(&args.set) {
        Ok(s) => s,
        Err(e) => {
            say_error!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let loaded = production::load_str(&args.config, &text).and_then(|mut c| {
        production::read_defaults_files(&mut c, &args.defaults)?;
        c.overrides = sets.clone();
        Ok(c)
    });
    let config = match loaded {
        Ok(c) => c,
        Err(e) => {
            say_error!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let token = match &args.api_token_file {
        Some(path) => match Tokens::load(path) {
            Ok(t) => {
                if auth::readable_by_others(path) {
                    say_warn!(
                        "warning: the API token file {} can be read by other users (chmod 600 it)",
                        path.display()
                    );
                }
                Some(t)
            }
            Err(e) => {
                say_error!("hie: {e}");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    // The API resends, edits and purges clinical messages: off loopback it needs a token.
    if token.is_none() && !args.api.ip().is_loopback() {
        say_error!(
            "hie: the management API on {} would be open to the network without authentication: \
             give --api-token-file, or keep --api on a loopback address",
            args.api
        );
        return Ok(ExitCode::from(2));
    }
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data directory {}: {e}", args.data_dir.display()))?;
    let dirs = super::plugin_dirs(&args.plugins, Some(&config));
    let generation = AtomicU64::new(1);
    let trust = match super::trust(args.trusted_keys.as_deref()) {
        Ok(t) => t.map(std::sync::Arc::new),
        Err(e) => {
            say_error!("hie: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let packs = super::load_packs(&dirs, &args.data_dir, &generation, trust.as_deref());
    for f in &packs.failures {
        say_warn!("warning: pack {f}");
    }
    let options = ValidateOptions { skip_unresolved: args.skip_unresolved };
    let (mut plan, mut diags) = production::validate::validate(&config, &packs, options);
    // The items are built once before anything starts, as `hie validate` builds them.
    if let Some(p) = plan.as_mut() {
        diags.extend(hie_host::engine::probe::probe(p, args.skip_unresolved));
        if diags.iter().any(|d| d.is_error()) {
            plan = None;
        }
    }
    for d in &diags {
        if d.is_error() {
            say_error!("{d}");
        } else {
            say_warn!("{d}");
        }
    }
    let Some(plan) = plan else {
        say_error!("{}: the production has errors; nothing started", args.config.display());
        return Ok(ExitCode::from(2));
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("hie-rt").build()?;
    let exe = std::env::current_exe()?;
    let outcome = runtime.block_on(async move {
        // Bound before anything starts: a taken port is a start-up error, not
        // an engine running without the API that ops reload and inspect it by.
        let api_listener = match tokio::net::TcpListener::bind(args.api).await {
            Ok(l) => l,
            Err(e) => {
                say_error!("hie: the management API cannot listen on {} (--api): {e}", args.api);
                return Ok(ExitCode::from(1));
            }
        };
        let journal = Journal::open(&args.data_dir, plan.durability)
            .map_err(|e| anyhow::anyhow!("cannot open the journal in {}: {e}", args.data_dir.display()))?;
        let engine_options =
            EngineOptions { data_dir: args.data_dir.clone(), skip_unresolved: args.skip_unresolved, exe, trust };
        let packs = PackStore::new(packs, generation.load(std::sync::atomic::Ordering::Relaxed), dirs.clone());
        let engine = Engine::new(journal, tokio::runtime::Handle::current(), engine_options, packs);
        if let Err(e) = engine.start(plan).await {
            say_error!("hie: {e}");
            return Ok(ExitCode::from(1));
        }
        let reloader = Reloader::new(engine.clone(), &args.config, &text, options, args.defaults.clone(), sets);
        let (change_tx, mut changes) = tokio::sync::mpsc::unbounded_channel();
        match watch::start(&args.config, &dirs, change_tx) {
            Ok(w) => reloader.keep_watchers(w),
            Err(e) => {
                tracing::warn!(error = %e, "file watching is off: reload with SIGHUP, POST /api/reload or `hie reload`")
            }
        }
        let shutdown = tokio_util::sync::CancellationToken::new();
        let audit = std::sync::Arc::new(hie_host::audit::AuditLog::new(&args.data_dir));
        let api_state = ApiState { engine: engine.clone(), reloader: reloader.clone(), audit };
        let api_shutdown = shutdown.clone();
        let api_addr = args.api;
        let api_task = tokio::spawn(async move {
            if let Err(e) =
                api::serve(api_listener, api_state, token, async move { api_shutdown.cancelled().await }).await
            {
                tracing::error!(error = %e, addr = %api_addr, "management API failed");
            }
        });
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: draining"); break; }
                _ = int.recv() => { tracing::info!("SIGINT: draining"); break; }
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reloading the production and packs");
                    let r = reloader.clone();
                    tokio::spawn(async move {
                        r.reload_packs("sighup").await;
                        r.reload_config("sighup").await;
                    });
                }
                Some(change) = changes.recv() => {
                    let r = reloader.clone();
                    tokio::spawn(async move {
                        match change {
                            watch::Change::Config => { r.reload_config("watch").await; }
                            watch::Change::Packs => { r.reload_packs("watch").await; }
                        }
                    });
                }
            }
        }
        engine.stop().await;
        shutdown.cancel();
        let _ = api_task.await;
        Ok(ExitCode::SUCCESS)
    });
    // Work that ShutdownTimeout left behind (a plugin call still blocking a thread) must
    // not hold the exit: the journal is flushed, and what it held is redelivered.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    outcome
}
