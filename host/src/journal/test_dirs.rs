//! Scratch directories for the journal's unit tests (test builds only).

use std::path::{Path, PathBuf};

/// A fresh `hie-<kind>-<name>-<pid>` under the system temp dir.
pub(crate) fn temp_dir(kind: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hie-{kind}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Removes a test's directory, retrying while the spare segment the log started is still
/// being written into it.
pub(crate) fn remove(dir: &Path) {
    for _ in 0..100 {
        if std::fs::remove_dir_all(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
