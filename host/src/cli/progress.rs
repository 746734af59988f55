//! Progress on long work: a spinner with the elapsed time, on stderr, only when stderr
//! is a terminal (never in logs, pipes or files). The API answers long requests (purge,
//! reload, restart) only when done, so the spinner shows that the work goes on and for
//! how long, not a fraction.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A running spinner; it is cleared when finished or dropped.
pub struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Spinner {
    /// Starts a spinner saying `what` (e.g. "purging"), if stderr is a terminal.
    pub fn start(what: &str) -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = super::output::stderr_is_terminal().then(|| {
            let stop = stop.clone();
            let what = what.to_string();
            std::thread::spawn(move || spin(&what, &stop))
        });
        Spinner { stop, thread }
    }

    /// Stops and clears the spinner.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.end();
    }
}

fn spin(what: &str, stop: &AtomicBool) {
    let started = Instant::now();
    let mut err = std::io::stderr();
    let mut frame = 0;
    while !stop.load(Ordering::Relaxed) {
        let secs = started.elapsed().as_secs();
        let elapsed = if secs < 60 { format!("{secs}s") } else { format!("{}m{:02}s", secs / 60, secs % 60) };
        let _ = write!(err, "\r\x1b[2K{} {what}… {elapsed}", FRAMES[frame % FRAMES.len()]);
        let _ = err.flush();
        frame += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
}

/// Runs `work` with a spinner saying `what` while it runs.
pub fn with_spinner<T>(what: &str, work: impl FnOnce() -> T) -> T {
    let spinner = Spinner::start(what);
    let out = work();
    spinner.finish();
    out
}
