//! Running the real `hie` binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `hie` binary built by `cargo build --workspace`.
pub fn hie_bin() -> PathBuf {
    let p = crate::target_dir().join("debug").join("hie");
    assert!(p.exists(), "{} is missing: run `cargo build --workspace` before the tests", p.display());
    p
}

/// Runs `hie` with `args` to completion; returns (exit code, stdout, stderr).
///
/// A run still going after a minute is killed and the test fails: the commands
/// run this way are meant to end (validate, a start that must refuse), and one
/// that does not must not hang the suite.
pub fn run_hie(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(hie_bin())
        .args(args)
        .env("HIE_LOG", "warn")
        .env_remove("HIE_API_TOKEN_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hie");
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        panic!("hie's output pipes are missing");
    };
    let read_out = std::thread::spawn(move || std::io::read_to_string(&mut stdout).unwrap_or_default());
    let read_err = std::thread::spawn(move || std::io::read_to_string(&mut stderr).unwrap_or_default());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for hie") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            let err = read_err.join().unwrap_or_default();
            panic!("`hie {}` was still running after 60s; stderr:\n{err}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code().unwrap_or(-1), read_out.join().unwrap_or_default(), read_err.join().unwrap_or_default())
}

/// A running engine process.
pub struct Engine {
    /// The process.
    pub child: Child,
    /// API address `127.0.0.1:port`.
    pub api: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The production file.
    pub config: PathBuf,
    /// Where stderr goes.
    pub log: PathBuf,
    /// Extra pack directories given with --plugins.
    pub plugins: Vec<PathBuf>,
    /// The API's bearer token, when the engine was started with --api-token-file.
    pub token: Option<String>,
}

impl Engine {
    /// Starts `hie run config --data-dir data_dir` with `plugins` and waits until the
    /// production is Running.
    pub fn start(config: &Path, data_dir: &Path, plugins: &[PathBuf]) -> Engine {
        Engine::start_with(config, data_dir, plugins, &[])
    }

    /// Like [`Engine::start`] with extra arguments.
    pub fn start_with(config: &Path, data_dir: &Path, plugins: &[PathBuf], extra: &[&str]) -> Engine {
        let mut e = Engine::spawn(config, data_dir, plugins, extra);
        e.wait_running(Duration::from_secs(60));
        e
    }

    /// Spawns without waiting.
    pub fn spawn(config: &Path, data_dir: &Path, plugins: &[PathBuf], extra: &[&str]) -> Engine {
        let api = format!("127.0.0.1:{}", crate::free_port());
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = data_dir.with_extension("log");
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log file");
        let mut cmd = Command::new(hie_bin());
        cmd.arg("run").arg(config).arg("--data-dir").arg(data_dir).arg("--api").arg(&api);
        for p in plugins {
            cmd.arg("--plugins").arg(p);
        }
        cmd.args(extra);
        cmd.env("HIE_LOG", std::env::var("HIE_TEST_LOG").unwrap_or_else(|_| "info".into()));
        // A token file set in the caller's environment would lock the kit out of the API.
        cmd.env_remove("HIE_API_TOKEN_FILE");
        cmd.stdout(Stdio::null()).stderr(Stdio::from(log_file));
        let child = cmd.spawn().expect("spawn hie");
        Engine {
            child,
            api,
            data_dir: data_dir.to_path_buf(),
            config: config.to_path_buf(),
            log,
            plugins: plugins.to_vec(),
            token: None,
        }
    }

    /// Waits until `GET /api/production` says Running; panics with the log otherwise.
    pub fn wait_running(&mut self, timeout: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("hie exited early with {status}; log:\n{}", self.log_text());
            }
            if let Ok((200, body)) =
                crate::api::request_as(&self.api, self.token.as_deref(), "GET", "/api/production", None)
                && body.contains("\"state\":\"Running\"")
            {
                return;
            }
            if start.elapsed() > timeout {
                panic!("hie did not reach Running within {timeout:?}; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The engine's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/production`.
    pub fn production(&self) -> serde_json::Value {
        self.get("/api/production")
    }

    /// One item's entry of `GET /api/production`.
    pub fn item(&self, name: &str) -> serde_json::Value {
        let p = self.production();
        p["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no item {name} in {p}"))
    }

    /// GET JSON from the API.
    pub fn get(&self, path: &str) -> serde_json::Value {
        crate::api::get_json_as(&self.api, self.token.as_deref(), path)
    }

    /// POST to the API.
    pub fn post(&self, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        crate::api::post_json_as(&self.api, self.token.as_deref(), path, body)
    }

    /// Waits until `f(production status)` holds.
    pub fn wait_until(&self, timeout: Duration, what: &str, mut f: impl FnMut(&serde_json::Value) -> bool) {
        crate::wait_for(timeout, what, || f(&self.production()).then_some(()));
    }

    /// SIGKILL, no goodbye.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("hie did not exit within 30 s of SIGTERM; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the same production again on the same data directory (after a kill).
    pub fn restart(&mut self) {
        let next = Engine::start(&self.config, &self.data_dir, &self.plugins);
        // The old process is gone (killed); dropping its handle only reaps it.
        drop(std::mem::replace(self, next));
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- hie log ({}) ----\n{}", self.log.display(), self.log_text());
        }
    }
}
