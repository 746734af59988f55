//! `hie messages ...`: find and act on messages in a running engine.

use super::client::{ApiArgs, ApiClient, Reply, enc};
use super::units;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::process::ExitCode;

/// Arguments of `hie messages`.
#[derive(Args, Debug)]
pub struct MessagesArgs {
    /// Where the engine's API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Print the API's JSON answer instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: MessagesCommand,
}

/// What to do with messages.
// Parsed once per run: the size of the search variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum MessagesCommand {
    /// Search messages (newest first), as a table.
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
        /// Maximum results (default 100).
        #[arg(long)]
        limit: Option<usize>,
        /// Only messages older than this id (to page back).
        #[arg(long, value_name = "ID")]
        before: Option<u64>,
    },
    /// Show one message: a header block, then its body and reply a segment per line.
    Show {
        /// Message id.
        id: u64,
    },
    /// Show a session as a tree of requests, responses and the hops they caused.
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
    /// Purge old messages (a spinner shows on a terminal while it runs).
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

/// Runs `hie messages ...`.
pub fn run(args: MessagesArgs) -> anyhow::Result<ExitCode> {
    let api = ApiClient::from_args(&args.api)?;
    let json = args.json;
    match args.command {
        MessagesCommand::Search {
            control_id,
            item,
            source,
            status,
            doc_type,
            since,
            until,
            field,
            value,
            limit,
            before,
        } => {
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
                ("before", before.map(|b| b.to_string())),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", enc(&v)));
                }
            }
            let reply = api.call("GET", &format!("/api/messages?{}", q.join("&")), None)?;
            if json {
                return Ok(reply.print_json());
            }
            if !reply.ok() {
                return Ok(reply.fail("search"));
            }
            print_search(&reply.value(), limit.unwrap_or(100));
            Ok(ExitCode::SUCCESS)
        }
        MessagesCommand::Show { id } => {
            let reply = api.call("GET", &format!("/api/messages/{id}"), None)?;
            show(reply, json, |v| super::output::print(format_args!("{}", super::render::message(v))))
        }
        MessagesCommand::Session { id } => {
            let reply = api.call("GET", &format!("/api/sessions/{id}"), None)?;
            show(reply, json, |v| super::output::print(format_args!("{}", super::render::session(v))))
        }
        MessagesCommand::Resend { id, body } => {
            let b = match body {
                Some(p) => {
                    let text = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
                    Some(serde_json::to_vec(&serde_json::json!({ "body": String::from_utf8_lossy(&text) }))?)
                }
                None => None,
            };
            let reply = api.call("POST", &format!("/api/messages/{id}/resend"), b.as_deref())?;
            act(reply, json, &format!("cannot resend message {id}"), |v| {
                outln!("message {id} resent as message {}", v["id"]);
            })
        }
        MessagesCommand::Suspend { id } => {
            let reply = api.call("POST", &format!("/api/messages/{id}/suspend"), None)?;
            act(reply, json, &format!("cannot suspend message {id}"), |_| outln!("message {id} Suspended"))
        }
        MessagesCommand::ResendSuspended { item } => {
            let reply = api.call("POST", &format!("/api/items/{}/resend-suspended", enc(&item)), None)?;
            act(reply, json, &format!("cannot resend the suspended messages of {item}"), |v| {
                outln!("{item}: {} suspended messages put back in its queue", v["resent"]);
            })
        }
        MessagesCommand::Purge { keep_days, include_suspended, include_incomplete } => {
            let path = format!(
                "/api/purge?keep_days={keep_days}&include_suspended={include_suspended}&include_incomplete={include_incomplete}"
            );
            let what = format!("purging messages older than {keep_days} days");
            let reply = super::progress::with_spinner(&what, || api.call("POST", &path, None))?;
            act(reply, json, "purge", |v| {
                let n = |k: &str| v[k].as_u64().unwrap_or(0);
                outln!(
                    "purged {} messages, {} bodies and {} field rows; journal.db {} → {}",
                    units::count(n("headers")),
                    units::count(n("bodies")),
                    units::count(n("fields")),
                    units::size(n("bytes_before")),
                    units::size(n("bytes_after"))
                );
            })
        }
    }
}

/// Prints a read: the JSON with `--json`, else `render` of it; the API's error otherwise.
fn show(reply: Reply, json: bool, render: impl FnOnce(&serde_json::Value)) -> anyhow::Result<ExitCode> {
    if json {
        return Ok(reply.print_json());
    }
    if !reply.ok() {
        return Ok(reply.fail("cannot show it"));
    }
    render(&reply.value());
    Ok(ExitCode::SUCCESS)
}

/// Prints the outcome of an action: the JSON with `--json`, else `say` it, or the error.
fn act(reply: Reply, json: bool, what: &str, say: impl FnOnce(&serde_json::Value)) -> anyhow::Result<ExitCode> {
    if json {
        return Ok(reply.print_json());
    }
    if !reply.ok() {
        return Ok(reply.fail(what));
    }
    say(&reply.value());
    Ok(ExitCode::SUCCESS)
}

/// Prints search results as a table, with how complete they are.
fn print_search(v: &serde_json::Value, limit: usize) {
    let messages = v["messages"].as_array().cloned().unwrap_or_default();
    if messages.is_empty() {
        outln!("No messages found.");
    } else {
        super::render::search_table(&messages).print();
        let took = units::duration_ms(v["elapsed_ms"].as_f64().unwrap_or(0.0));
        let more = if messages.len() >= limit {
            format!(
                "; there may be more: --limit, or --before {}",
                messages.last().map(|m| m["id"].clone()).unwrap_or_default()
            )
        } else {
            String::new()
        };
        outln!("{} messages, newest first ({took}){more}", messages.len());
    }
    if v["complete"] == false {
        let lag = &v["index_lag"];
        eprintln!(
            "note: search trails the journal by {} commits ({}): the newest messages may be missing",
            lag["records"],
            units::duration_ms(lag["ms"].as_f64().unwrap_or(0.0))
        );
    }
}
