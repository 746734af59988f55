//! The end-to-end test kit: starts the real `hie` binary on real ports and files, talks
//! MLLP to it, plays the downstream system, and reads its management API.
//!
//! Tests need the workspace built first (`cargo build --workspace`); test-only packs are
//! built by [`packs`] into `target/test-packs`.

pub mod api;
pub mod browser;
pub mod engine;
pub mod hl7;
pub mod http;
pub mod mllp;
pub mod packs;
pub mod pg;
pub mod tls;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The repository root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(|p| p.to_path_buf()).unwrap_or_default()
}

/// The cargo target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A free TCP port on loopback, never handed out twice by this process.
///
/// Ports come from below the kernel's ephemeral range (32768 and up), so no
/// outgoing connection can take one between this call and the engine's bind,
/// and from a walk no other call in this process repeats: asking the kernel
/// for port 0 twice could return the same port once the first probe closed
/// (CI saw the MLLP listener and the management API handed one port). The
/// walk starts at an offset from the pid so test binaries run one after
/// another do not reuse each other's lingering ports.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(u32::MAX, (std::process::id() * 397) % SPAN, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        // The wildcard bind clashes with any listener on the port, whatever its address.
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN)
}

/// The finished files in `dir`: what a downstream system would pick up. File
/// operations write under a hidden temporary name (`.name.tmp`) and rename, so
/// dot files are work in progress and left out. `None` when `dir` is missing.
pub fn finished_files(dir: &std::path::Path) -> Option<Vec<PathBuf>> {
    let files = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    Some(files)
}

/// A fresh temporary directory, removed when dropped (kept when HIE_KEEP_TMP is set).
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `hie-test-<name>-<pid>-<n>` under the system temp dir.
    pub fn new(name: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("hie-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    /// A path inside.
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("HIE_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
