//! `hie messages ...` and `hie reload`: small clients of the management API.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// The API address argument shared by client commands.
#[derive(Args, Debug)]
pub struct ApiArgs {
    /// Management API address of the running engine.
    #[arg(long, default_value = "127.0.0.1:9840")]
    pub api: String,
    /// File holding the API's bearer token, when the engine was started with one.
    #[arg(long, env = "HIE_API_TOKEN_FILE", value_name = "FILE")]
    pub api_token_file: Option<std::path::PathBuf>,
}

/// A client of one engine's management API.
pub struct ApiClient {
    /// `host:port`.
    addr: String,
    /// Bearer token sent with every request, when the engine needs one.
    token: Option<hie_host::api::auth::ApiToken>,
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
        let mut stream = TcpStream::connect(addr).with_context(|| format!("cannot reach the engine API at {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let body = body.unwrap_or_default();
        let auth = self.token.as_ref().map(|t| format!("Authorization: Bearer {}\r\n", t.as_str())).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )?;
        stream.write_all(body)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let text = String::from_utf8_lossy(&response).to_string();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        Ok((status, if chunked { dechunk(rest) } else { rest.to_string() }))
    }

    /// GET and return the body, failing on non-2xx.
    pub fn get(&self, path: &str) -> anyhow::Result<String> {
        let (status, body) = self.request("GET", path, None)?;
        anyhow::ensure!((200..300).contains(&status), "HTTP {status}: {body}");
        Ok(body)
    }
}

/// Arguments of `hie messages`.
#[derive(Args, Debug)]
pub struct MessagesArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: MessagesCommand,
}

/// What to do with messages.
#[derive(Subcommand, Debug)]
pub enum MessagesCommand {
    /// Search messages (newest first).
    Search {
        /// MSH-10.
        #[arg(long)]
        control_id: Option<String>,
        /// Item the messages were addressed to.
        #[arg(long)]
        item: Option<String>,
        /// Item (or origin, e.g. mllp://host:port) that sent the messages.
        #[arg(long)]
        source: Option<String>,
        /// Status (Queued, Completed, Error, Suspended, Discarded, ...).
        #[arg(long)]
        status: Option<String>,
        /// Document type, e.g. ADT or ADT^A01.
        #[arg(long = "type")]
        doc_type: Option<String>,
        /// Created at or after: RFC 3339, or seconds / ms / µs since the epoch.
        #[arg(long)]
        since: Option<String>,
        /// Created before (same formats as --since).
        #[arg(long)]
        until: Option<String>,
        /// HL7 path to match, with --value.
        #[arg(long)]
        field: Option<String>,
        /// Value for --field.
        #[arg(long)]
        value: Option<String>,
        /// Maximum results.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show one message: header and body.
    Show {
        /// Message id.
        id: u64,
    },
    /// Show a session as a tree of requests, responses and children.
    Session {
        /// Session id.
        id: u64,
    },
    /// Resend a message (optionally with a new body from a file).
    Resend {
        /// Message id.
        id: u64,
        /// File holding the edited body.
        #[arg(long)]
        body: Option<std::path::PathBuf>,
    },
    /// Suspend a queued message.
    Suspend {
        /// Message id.
        id: u64,
    },
    /// Resend every suspended message of an item.
    ResendSuspended {
        /// Item name.
        item: String,
    },
    /// Purge old messages.
    Purge {
        /// Keep messages younger than this many days.
        #[arg(long, default_value_t = 7)]
        keep_days: u32,
        /// Also purge suspended messages.
        #[arg(long)]
        include_suspended: bool,
        /// Also purge unfinished messages (Queued, Delivered, Deferred, Created).
        #[arg(long)]
        include_incomplete: bool,
    },
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

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `hie messages ...`.
pub fn run(args: MessagesArgs) -> anyhow::Result<ExitCode> {
    let api = ApiClient::from_args(&args.api)?;
    let (method, path, body): (&str, String, Option<Vec<u8>>) = match args.command {
        MessagesCommand::Search { control_id, item, source, status, doc_type, since, until, field, value, limit } => {
            let mut q = Vec::new();
            for (k, v) in [
                ("control_id", control_id),
                ("item", item),
                ("source", source),
                ("status", status),
                ("type", doc_type),
                ("since", since),
                ("until", until),
                ("field", field),
                ("value", value),
                ("limit", limit.map(|l| l.to_string())),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", enc(&v)));
                }
            }
            ("GET", format!("/api/messages?{}", q.join("&")), None)
        }
        MessagesCommand::Show { id } => ("GET", format!("/api/messages/{id}"), None),
        MessagesCommand::Session { id } => {
            let text = api.get(&format!("/api/sessions/{id}"))?;
            let v: serde_json::Value = serde_json::from_str(&text)?;
            print_tree(&v["tree"], 0);
            return Ok(ExitCode::SUCCESS);
        }
        MessagesCommand::Resend { id, body } => {
            let b = match body {
                Some(p) => {
                    let text = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
                    Some(serde_json::to_vec(&serde_json::json!({ "body": String::from_utf8_lossy(&text) }))?)
                }
                None => None,
            };
            ("POST", format!("/api/messages/{id}/resend"), b)
        }
        MessagesCommand::Suspend { id } => ("POST", format!("/api/messages/{id}/suspend"), None),
        MessagesCommand::ResendSuspended { item } => {
            ("POST", format!("/api/items/{}/resend-suspended", enc(&item)), None)
        }
        MessagesCommand::Purge { keep_days, include_suspended, include_incomplete } => (
            "POST",
            format!(
                "/api/purge?keep_days={keep_days}&include_suspended={include_suspended}&include_incomplete={include_incomplete}"
            ),
            None,
        ),
    };
    let (status, text) = api.request(method, &path, body.as_deref())?;
    println!("{text}");
    Ok(if (200..300).contains(&status) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Prints a session tree node and its children, indented.
fn print_tree(node: &serde_json::Value, depth: usize) {
    let Some(list) = node.as_array() else { return };
    for n in list {
        println!(
            "{}{} {} -> {} [{}] {} {}",
            "  ".repeat(depth),
            n["id"],
            n["source"].as_str().unwrap_or(""),
            n["target"].as_str().unwrap_or(""),
            n["status"].as_str().unwrap_or(""),
            n["doc_type"].as_str().unwrap_or(""),
            n["elapsed_ms"].as_f64().map(|e| format!("{e:.1} ms")).unwrap_or_default()
        );
        print_tree(&n["children"], depth + 1);
    }
}

/// Runs `hie reload`.
pub fn reload(args: ApiArgs) -> anyhow::Result<ExitCode> {
    let (status, text) = ApiClient::from_args(&args)?.request("POST", "/api/reload", None)?;
    println!("{text}");
    Ok(if (200..300).contains(&status) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
