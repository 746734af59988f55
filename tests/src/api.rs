//! A minimal HTTP/1.1 client for the management API (no dependency, no surprises).
//!
//! The CLI (`hie messages ...`) has its own client of the same shape on purpose: the test
//! kit drives the engine as a black box and shares no code with it, so a bug in one
//! client cannot hide the same bug in the other.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Makes a request; returns status and body.
pub fn request(addr: &str, method: &str, path: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    request_as(addr, None, method, path, body)
}

/// Makes a request with `Authorization: Bearer <token>` when `token` is given.
pub fn request_as(
    addr: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// GET and parse JSON; panics on failure (tests want loud failures).
pub fn get_json(addr: &str, path: &str) -> serde_json::Value {
    get_json_as(addr, None, path)
}

/// [`get_json`] with a bearer token.
pub fn get_json_as(addr: &str, token: Option<&str>, path: &str) -> serde_json::Value {
    let (status, body) = request_as(addr, token, "GET", path, None).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert!((200..300).contains(&status), "GET {path}: HTTP {status}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: bad JSON ({e}): {body}"))
}

/// POST with an optional JSON body; returns status and parsed JSON (or Null).
pub fn post_json(addr: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    post_json_as(addr, None, path, body)
}

/// [`post_json`] with a bearer token.
pub fn post_json_as(addr: &str, token: Option<&str>, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let (status, text) = request_as(addr, token, "POST", path, body).unwrap_or_else(|e| panic!("POST {path}: {e}"));
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}
