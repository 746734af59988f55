//! Building the test-only packs (they live outside the workspace so they never load into
//! ordinary runs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Builds the crate at `tests/packs/<name>` with `env` into `target/test-packs/<tag>` and
/// returns the directory holding its `.so` (a directory with only that pack).
pub fn build(name: &str, tag: &str, env: &[(&str, &str)]) -> PathBuf {
    let crate_dir = crate::workspace_root().join("tests/packs").join(name);
    let lib = format!("libhie_pack_{}.so", name.trim_end_matches("-pack").replace('-', "_"));
    build_crate(&crate_dir, &lib, tag, env)
}

/// Builds the pack crate in `crate_dir` (its library file `lib`) into
/// `target/test-packs/packs/<tag>` and returns that directory.
pub fn build_crate(crate_dir: &Path, lib: &str, tag: &str, env: &[(&str, &str)]) -> PathBuf {
    // Test binaries run in parallel; builds of one pack with different env share an
    // output file, so build-and-copy must not interleave.
    let _lock = BuildLock::acquire();
    let manifest = crate_dir.join("Cargo.toml");
    let name = crate_dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let target = crate::target_dir().join("test-packs");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("build").arg("--quiet").arg("--manifest-path").arg(&manifest).arg("--target-dir").arg(&target);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd.status().expect("run cargo build for a test pack");
    assert!(status.success(), "building test pack {name} ({tag}) failed");
    let out = target.join("packs").join(tag);
    std::fs::create_dir_all(&out).expect("pack dir");
    copy_atomically(&target.join("debug").join(lib), &out.join(lib));
    out
}

/// The adapter pack template (`plugins/example/adapter-template`), built as a vendor
/// would, once per test process.
pub fn adapter_template() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = crate::workspace_root().join("plugins/example/adapter-template");
        build_crate(&dir, "libhie_pack_template.so", "adapter-template", &[])
    })
    .clone()
}

/// Copies via a temporary name and rename, as pack deployments should.
pub fn copy_atomically(from: &Path, to: &Path) {
    let tmp = to.with_extension("so.tmp");
    std::fs::copy(from, &tmp).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    std::fs::rename(&tmp, to).expect("rename pack into place");
}

/// The probe pack built as version `dev`, once per test process.
pub fn probe() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build("probe", "probe-dev", &[("HIE_PROBE_VERSION", "dev")])).clone()
}

/// The pack built against a mismatched interface, once per test process.
pub fn mismatched() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build("mismatched", "mismatched", &[])).clone()
}

/// The adapter probe pack (ABI 1.1) in `variant` (`plain`, `duplicate`, `future`), once
/// per test process and variant.
pub fn adapter_probe(variant: &str) -> PathBuf {
    static DIRS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut dirs = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, d)) = dirs.iter().find(|(v, _)| v == variant) {
        return d.clone();
    }
    let env: Vec<(&str, &str)> = if variant == "plain" { vec![] } else { vec![("HIE_ADAPTER_PROBE_VARIANT", variant)] };
    let dir = build("adapter-probe", &format!("adapter-probe-{variant}"), &env);
    dirs.push((variant.to_string(), dir.clone()));
    dir
}

/// A pack built against the 1.0 SDK (`tests/packs/sdk-1.0`), once per test process.
pub fn v1_pack() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build("v1-pack", "v1-pack", &[])).clone()
}

/// An exclusive lock on `target/test-packs/.build-lock` (flock), held while building.
struct BuildLock(std::fs::File);

impl BuildLock {
    fn acquire() -> BuildLock {
        use std::os::fd::AsRawFd;
        let dir = crate::target_dir().join("test-packs");
        std::fs::create_dir_all(&dir).expect("test-packs dir");
        let f = std::fs::File::create(dir.join(".build-lock")).expect("lock file");
        // SAFETY: flock on a file descriptor we own.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        BuildLock(f)
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking our own descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
