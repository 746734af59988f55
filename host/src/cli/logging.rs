//! Logging on stderr: `HIE_LOG` (or `RUST_LOG`) filters; `--log-format` (or
//! `HIE_LOG_FORMAT`) picks text or JSON lines. Colour codes are written only when
//! stderr is a terminal (and `NO_COLOR` is unset), never into files or journald.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured only on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the
    /// event's fields.
    Json,
}

impl LogFormat {
    /// The name `--log-format` and `HIE_LOG_FORMAT` use.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Sets the log format for this process (from the global `--log-format`). Call once,
/// before any subcommand starts logging.
pub fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

/// Sets up logging: `HIE_LOG` (or `RUST_LOG`) filters, default `info`.
pub fn init_tracing() {
    init_tracing_with("info");
}

/// Sets up logging with `default` when neither `HIE_LOG` nor `RUST_LOG` is set.
pub fn init_tracing_with(default: &str) {
    let filter =
        std::env::var("HIE_LOG").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| default.to_string());
    let filter = tracing_subscriber::EnvFilter::new(filter);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match FORMAT.get().copied().unwrap_or_default() {
        LogFormat::Text => builder.with_ansi(colour()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).try_init(),
    };
}

/// Whether log lines may carry ANSI colour: only on a terminal, and not under `NO_COLOR`.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// How serious a line written by [`say`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something the operator should look at; the command goes on.
    Warn,
    /// Why the command stops.
    Error,
}

/// Writes a message meant for the operator on stderr, whatever the log filter: as it
/// is in text format, and as a JSON log line (`level`, `message`, `target` `hie`) in
/// JSON format, so a log reader that expects JSON never meets a stray text line.
pub fn say(level: Level, text: &str) {
    if FORMAT.get().copied().unwrap_or_default() == LogFormat::Text {
        eprintln!("{text}");
        return;
    }
    let line = serde_json::json!({
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "level": match level { Level::Warn => "WARN", Level::Error => "ERROR" },
        "message": text,
        "target": "hie",
    });
    eprintln!("{line}");
}

/// [`say`] for a problem that stops the command.
macro_rules! say_error {
    ($($arg:tt)*) => { $crate::cli::logging::say($crate::cli::logging::Level::Error, &format!($($arg)*)) };
}

/// [`say`] for a warning.
macro_rules! say_warn {
    ($($arg:tt)*) => { $crate::cli::logging::say($crate::cli::logging::Level::Warn, &format!($($arg)*)) };
}
pub(crate) use {say_error, say_warn};
