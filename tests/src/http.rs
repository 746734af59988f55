//! A tiny HTTP server for tests that need a web service behind an operation (the
//! demographics lookup).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server answers: status, body, delay before answering.
pub type Handler = dyn Fn(&str, &str) -> (u16, String, Duration) + Send + Sync;

/// One request as the server read it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The header lines after the request line, as sent.
    pub headers: Vec<String>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// A running fake HTTP server.
pub struct FakeHttp {
    /// Its port.
    pub port: u16,
    /// Requests served.
    pub requests: Arc<AtomicUsize>,
    /// Every request read, in arrival order.
    pub received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl FakeHttp {
    /// Starts a server on `port` answering with `handler(method, path)`.
    pub fn start(
        port: u16,
        handler: impl Fn(&str, &str) -> (u16, String, Duration) + Send + Sync + 'static,
    ) -> FakeHttp {
        FakeHttp::serve(port, None, handler)
    }

    /// Like [`FakeHttp::start`], over TLS with `tls` (HTTPS).
    pub fn start_tls(
        port: u16,
        tls: Arc<rustls::ServerConfig>,
        handler: impl Fn(&str, &str) -> (u16, String, Duration) + Send + Sync + 'static,
    ) -> FakeHttp {
        FakeHttp::serve(port, Some(tls), handler)
    }

    fn serve(
        port: u16,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: impl Fn(&str, &str) -> (u16, String, Duration) + Send + Sync + 'static,
    ) -> FakeHttp {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind fake http");
        listener.set_nonblocking(true).expect("nonblocking");
        let handler: Arc<Handler> = Arc::new(handler);
        let requests = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s, log) = (requests.clone(), stop.clone(), received.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let (h, r, tls, log) = (handler.clone(), r.clone(), tls.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    match tls {
                        None => answer(stream, &*h, &r, &log),
                        Some(cfg) => {
                            let Ok(conn) = rustls::ServerConnection::new(cfg) else { return };
                            let mut tls = rustls::StreamOwned::new(conn, stream);
                            answer(&mut tls, &*h, &r, &log);
                            tls.conn.send_close_notify();
                            let _ = tls.flush();
                        }
                    }
                });
            }
        });
        FakeHttp { port, requests, received, stop }
    }

    /// The requests read so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Reads one request from `stream` and writes the handler's answer.
fn answer(mut stream: impl Read + Write, handler: &Handler, requests: &AtomicUsize, log: &Mutex<Vec<Received>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let (method, path) = (first.next().unwrap_or("").to_string(), first.next().unwrap_or("").to_string());
    let headers: Vec<String> = lines.map(str::to_string).collect();
    let length = headers
        .iter()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < end + 4 + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf.get(end + 4..).unwrap_or_default().to_vec();
    log.lock().unwrap_or_else(|e| e.into_inner()).push(Received {
        method: method.clone(),
        path: path.clone(),
        headers,
        body,
    });
    requests.fetch_add(1, Ordering::SeqCst);
    let (status, body, delay) = handler(&method, &path);
    std::thread::sleep(delay);
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
