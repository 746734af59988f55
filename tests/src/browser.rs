//! A headless Chromium driven through W3C WebDriver (Debian's `chromium` and
//! `chromium-driver`, installed by tests/setup.sh), for the console tests.
//!
//! The WebDriver calls go over a few lines of HTTP/1.1 here ([`request`]): no
//! browser-automation crate, so nothing here can hide a browser's behaviour.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts the driver and the browser.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// One WebDriver request; returns status and body. The body is read by its
/// `Content-Length`: chromedriver answers `Connection: close` and keeps the socket open.
pub fn request(addr: &str, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    let (head_end, length) = loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed before the response head"));
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()))
                .unwrap_or(0);
            break (at + 4, length);
        }
    };
    while raw.len() < head_end + length {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, String::from_utf8_lossy(&raw[head_end..]).to_string()))
}

/// Whether the browser and its driver are installed; says SKIPPED loudly when not.
pub fn available(test: &str) -> bool {
    let ok = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !ok {
        eprintln!(
            "SKIPPED {test}: {CHROMIUM} and {CHROMEDRIVER} are needed (tests/setup.sh installs chromium and chromium-driver)"
        );
    }
    ok
}

/// A running chromedriver with one headless browser session.
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
}

/// A found element's WebDriver reference.
pub type ElementId = String;

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Starts chromedriver on a free port and a headless session at 1280×800 with a fresh
    /// profile in `profile_dir`.
    pub fn start(profile_dir: &Path) -> Browser {
        let port = crate::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        // Killed whatever happens below: a driver left running would hold the files the
        // test process had open (the build lock among them).
        let mut guard = DriverGuard(Some(driver));
        let addr = format!("127.0.0.1:{port}");
        crate::wait_for(Duration::from_secs(20), "chromedriver up", || {
            request(&addr, "GET", "/status", None).ok().filter(|(s, _)| *s == 200).map(|_| ())
        });
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,800",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile_dir.display()));
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args }
        }}});
        let (status, body) = request(&addr, "POST", "/session", Some(&caps.to_string())).expect("new session");
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let session = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("new session: HTTP {status}: {body}"));
        let driver = guard.0.take().expect("the driver");
        Browser { driver, addr, session: session.to_string() }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = body.map(|b| b.to_string());
        let (status, text) = request(&self.addr, method, &path, body.as_deref()).expect("webdriver request");
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status == 200, "WebDriver {method} {path}: HTTP {status}: {text}");
        v["value"].clone()
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The element matching the CSS selector, if there is one now.
    pub fn find(&self, css: &str) -> Option<ElementId> {
        let path = format!("/session/{}/element", self.session);
        let body = json!({ "using": "css selector", "value": css }).to_string();
        let (status, text) = request(&self.addr, "POST", &path, Some(&body)).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        (status == 200).then(|| v["value"][ELEMENT_KEY].as_str().map(str::to_string)).flatten()
    }

    /// Waits up to `timeout` for an element matching `css`.
    pub fn wait(&self, css: &str, timeout: Duration) -> ElementId {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} within {timeout:?}; page text: {}",
                self.text_of("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits up to `timeout` until `css`'s text satisfies `f`; returns the text.
    pub fn wait_text(&self, css: &str, timeout: Duration, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.text_of(css);
            if f(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "{what}: {css} says {t:?} after {timeout:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The visible text of the first element matching `css` (empty when there is none).
    pub fn text_of(&self, css: &str) -> String {
        match self.find(css) {
            Some(e) => self.call("GET", &format!("/element/{e}/text"), None).as_str().unwrap_or("").to_string(),
            None => String::new(),
        }
    }

    /// An attribute of the first element matching `css`.
    pub fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let e = self.find(css)?;
        self.call("GET", &format!("/element/{e}/attribute/{name}"), None).as_str().map(str::to_string)
    }

    /// Clicks the element matching `css` (waiting up to 10 s for it).
    pub fn click(&self, css: &str) {
        let e = self.wait(css, Duration::from_secs(10));
        self.call("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    /// Types `text` into the element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.wait(css, Duration::from_secs(10));
        self.call("POST", &format!("/element/{e}/clear"), Some(json!({})));
        self.call("POST", &format!("/element/{e}/value"), Some(json!({ "text": text })));
    }

    /// Runs `script` in the page and returns its value.
    pub fn script(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": [] })))
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.call("GET", "/screenshot", None);
        let bytes = base64_decode(b64.as_str().unwrap_or(""));
        std::fs::write(path, bytes).expect("write screenshot");
    }
}

/// Standard base64 (the WebDriver screenshot encoding) to bytes.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Kills chromedriver unless [`Browser::start`] got as far as handing it to a [`Browser`].
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(&self.addr, "DELETE", &format!("/session/{}", self.session), None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
