//! `hie lookups list|show|set|delete|import`: the lookup tables of a running engine's
//! production, edited live (see the API's `/api/lookups`).

use super::client::{ApiArgs, ApiClient, enc};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `hie lookups`.
#[derive(Args, Debug)]
pub struct LookupsArgs {
    /// Where the engine's API is.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Print the API's JSON answer.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do (default: list).
    #[command(subcommand)]
    pub command: Option<LookupsCommand>,
}

/// What to do with the lookup tables.
#[derive(Subcommand, Debug)]
pub enum LookupsCommand {
    /// The tables and how many entries each has.
    List,
    /// Every entry of one table.
    Show {
        /// Table name.
        table: String,
    },
    /// Set one entry; the routers and transforms reading the tables restart on it.
    Set {
        /// Table name.
        table: String,
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Remove one entry.
    Delete {
        /// Table name.
        table: String,
        /// Key.
        key: String,
    },
    /// Import an IRIS lookup-table export (either format: an `<Export>` replaces the
    /// tables it holds, a bare `<lookupTable>` merges its entries).
    Import {
        /// The XML file.
        file: PathBuf,
    },
}

/// Runs `hie lookups ...`.
pub fn run(args: LookupsArgs) -> anyhow::Result<ExitCode> {
    let api = ApiClient::from_args(&args.api)?;
    let command = args.command.unwrap_or(LookupsCommand::List);
    let (method, path, body, what) = match &command {
        LookupsCommand::List => ("GET", "/api/lookups".to_string(), None, "list the lookup tables".to_string()),
        LookupsCommand::Show { table } => {
            ("GET", format!("/api/lookups/{}", enc(table)), None, format!("show lookup table {table}"))
        }
        LookupsCommand::Set { table, key, value } => (
            "PUT",
            format!("/api/lookups/{}/{}", enc(table), enc(key)),
            Some(value.as_bytes().to_vec()),
            format!("set {table} {key}"),
        ),
        LookupsCommand::Delete { table, key } => {
            ("DELETE", format!("/api/lookups/{}/{}", enc(table), enc(key)), None, format!("delete {table} {key}"))
        }
        LookupsCommand::Import { file } => {
            let text = std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            ("POST", "/api/lookups/import".to_string(), Some(text), format!("import {}", file.display()))
        }
    };
    let reply = api.call(method, &path, body.as_deref())?;
    if args.json {
        return Ok(reply.print_json());
    }
    if reply.no_such_route() {
        eprintln!("hie: this engine does not serve {method} {path} (an older version of hie?)");
        return Ok(ExitCode::from(1));
    }
    if !reply.ok() {
        return Ok(reply.fail(&format!("cannot {what}")));
    }
    let v = reply.value();
    match command {
        LookupsCommand::List => {
            for t in v["tables"].as_array().into_iter().flatten() {
                outln!("{}\t{} entries", t["table"].as_str().unwrap_or(""), t["entries"]);
            }
        }
        LookupsCommand::Show { .. } => {
            for (k, val) in v["entries"].as_object().into_iter().flatten() {
                outln!("{k}\t{}", val.as_str().unwrap_or(""));
            }
        }
        _ => {
            let tables: Vec<&str> = v["changed"].as_array().into_iter().flatten().filter_map(|t| t.as_str()).collect();
            let outcome = v["reload"]["outcome"].as_str().unwrap_or("?");
            outln!("{what}: done (tables {}); reload {outcome}", tables.join(", "));
            if !["applied", "unchanged"].contains(&outcome) {
                eprintln!("hie: the tables changed but the reload was {outcome}: {}", v["reload"]["detail"]);
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
