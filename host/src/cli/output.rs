//! Writing to stdout without panicking, and what the terminal looks like.
//!
//! `println!` panics when stdout is a closed pipe (`hie plugins | head`). Every command
//! prints through [`print`] (the `outln!` macro) instead: a closed pipe ends the process
//! quietly with exit code 0, as the reader asked for no more; any other write error is
//! reported on stderr and ends it with 1.

use std::fmt;
use std::io::{IsTerminal, Write};

/// Writes `args` to stdout (see the module docs for errors).
pub fn print(args: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("hie: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Prints a JSON value on one line (what `--json` gives scripts).
pub fn json(value: &serde_json::Value) {
    print(format_args!("{value}\n"));
}

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether stderr is a terminal (progress is shown only there).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// The width tables may use: the terminal's columns when stdout is one (or `COLUMNS`),
/// otherwise no limit, so piped output is never cut at an arbitrary width.
pub fn width() -> Option<usize> {
    if !stdout_is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills a winsize struct we own; fd 1 is open.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0;
    if got {
        return Some(ws.ws_col as usize);
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).filter(|c| *c > 0)
}
