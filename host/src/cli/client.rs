//! The management API client the client commands share (`status`, `items`, `messages`,
//! `audit`, `reload`, `plugins --api`).

use anyhow::Context;
use clap::Args;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// The API address arguments shared by client commands (accepted before or after a
/// subcommand).
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// Management API address of the running engine.
    #[arg(long, global = true, default_value = "127.0.0.1:9840")]
    pub api: String,
    /// File holding the API's bearer token, when the engine was started with one.
    #[arg(long, global = true, env = "HIE_API_TOKEN_FILE", value_name = "FILE")]
    pub api_token_file: Option<std::path::PathBuf>,
}

/// A client of one engine's management API.
pub struct ApiClient {
    /// `host:port`.
    addr: String,
    /// Bearer token sent with every request, when the engine needs one.
    token: Option<hie_host::api::auth::ApiToken>,
}

/// One API answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The body (JSON, or empty for a path the engine does not serve).
    pub text: String,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or(serde_json::Value::Null)
    }

    /// The error the API gave (`{"error": ...}`), or the status and body.
    pub fn error_message(&self) -> String {
        let v = self.value();
        let reason = match v["error"].as_str() {
            Some(e) => e.to_string(),
            None if self.text.trim().is_empty() => status_text(self.status).to_string(),
            None => self.text.trim().to_string(),
        };
        format!("HTTP {}: {reason}", self.status)
    }

    /// Whether the engine does not serve this path at all (an older engine): a 404
    /// with no JSON error in the body.
    pub fn no_such_route(&self) -> bool {
        self.status == 404 && self.value()["error"].is_null()
    }

    /// The exit code for this answer: 0 for 2xx, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        if self.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) }
    }

    /// For `--json`: prints the body as the API gave it and returns the exit code.
    pub fn print_json(&self) -> ExitCode {
        let text = self.text.trim();
        if text.is_empty() {
            super::output::json(&serde_json::json!({ "error": self.error_message(), "status": self.status }));
        } else {
            outln!("{text}");
        }
        self.exit_code()
    }

    /// For human output of a failed request: prints the error on stderr, returns 1.
    pub fn fail(&self, what: &str) -> ExitCode {
        eprintln!("hie: {what}: {}", self.error_message());
        ExitCode::from(1)
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized (give --api-token-file)",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "",
    }
}

impl ApiClient {
    /// A client for `addr`, with the token read from `token_file` when given.
    pub fn new(addr: &str, token_file: Option<&std::path::Path>) -> anyhow::Result<ApiClient> {
        let token = token_file.map(hie_host::api::auth::ApiToken::load).transpose().map_err(anyhow::Error::msg)?;
        Ok(ApiClient { addr: addr.to_string(), token })
    }

    /// A client as the command line says.
    pub fn from_args(args: &ApiArgs) -> anyhow::Result<ApiClient> {
        ApiClient::new(&args.api, args.api_token_file.as_deref())
    }

    /// Makes one HTTP request to the API and returns (status, body).
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> anyhow::Result<(u16, String)> {
        let addr = &self.addr;
        let mut stream = TcpStream::connect(addr)
            .with_context(|| format!("cannot reach the engine API at {addr} (is `hie run` up? see --api)"))?;
        stream.set_read_timeout(Some(Duration::from_secs(600)))?;
        // A request without a body says no content type: the API reads an empty JSON
        // body as malformed (`hie messages resend ID` without --body was refused so).
        let content_type = if body.is_some() { "Content-Type: application/json\r\n" } else { "" };
        let body = body.unwrap_or_default();
        let auth = self.token.as_ref().map(|t| format!("Authorization: Bearer {}\r\n", t.as_str())).unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}{content_type}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response).to_string();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        Ok((status, if chunked { dechunk(rest) } else { rest.to_string() }))
    }

    /// Makes one request and returns the answer, whatever its status.
    pub fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> anyhow::Result<Reply> {
        let (status, text) = self.request(method, path, body)?;
        Ok(Reply { status, text })
    }

    /// GET and return the body, failing on non-2xx.
    pub fn get(&self, path: &str) -> anyhow::Result<String> {
        let reply = self.call("GET", path, None)?;
        anyhow::ensure!(reply.ok(), "GET {path}: {}", reply.error_message());
        Ok(reply.text)
    }

    /// GET and parse JSON, failing on non-2xx.
    pub fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let text = self.get(path)?;
        serde_json::from_str(&text).with_context(|| format!("GET {path}: the engine's answer is not JSON"))
    }
}

/// Decodes a chunked HTTP body.
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

/// Percent-encodes a query value or path segment.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
