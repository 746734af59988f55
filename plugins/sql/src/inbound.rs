//! `EnsLib.SQL.Service.GenericService` on `EnsLib.SQL.InboundAdapter`: each row a poll
//! finds becomes one message.
//!
//! Adapter settings (IRIS names): `DSN` (a PostgreSQL URL or `key=value` string),
//! `Query` (a SELECT with `?` placeholders), `Parameters` (see [`crate::params`]; `%LastKey`
//! is the last `KeyFieldName` value processed, kept durably across restarts),
//! `KeyFieldName`, `DeleteQuery` (run with the row's key once its message is committed),
//! `CallInterval` (seconds between polls). Host setting `MessageColumn`: the column whose
//! text is the message (an HL7 message, say); without it a row becomes a JSON object.
//!
//! # Invariants
//! - The new `%LastKey` is committed in the same commit as the rows' messages, and a
//!   row's `DeleteQuery` runs only after its message is committed: kill -9 at any point
//!   loses no row, and a restart delivers again at most the rows in flight.
//! - Rows are read as PostgreSQL's own JSON of each row (`row_to_json`), so every column
//!   type arrives as text the engine can store, whatever it is.

use crate::params::{self, Param};
use hie_plugin_api::adapter::{AdapterDef, InboundAdapter, InboundContext, TypedSetting};
use hie_plugin_api::settings::SettingKind;
use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, LogLevel, Message, Outcome, SettingDef};
use std::time::Duration;

/// The adapter's name.
pub const ADAPTER: &str = "EnsLib.SQL.InboundAdapter";
/// Rows per commit at most.
const ROWS_PER_COMMIT: usize = 100;
/// The adapter state holding the last key processed.
const LAST_KEY: &str = "LastKey";

/// `EnsLib.SQL.Service.GenericService`: forwards each row's message to its targets.
pub fn service_class() -> ClassDef {
    ClassDef::new("EnsLib.SQL.Service.GenericService", ItemKind::Service, |ctx| {
        Ok(Box::new(RowService { targets: ctx.setting_list("TargetConfigNames") }))
    })
    .adapter(ADAPTER)
    .doc("polls a database query and sends each row on as a message (PostgreSQL)")
    .settings([
        SettingDef::host("TargetConfigNames", "", "comma-separated items that receive every row"),
        SettingDef::host(
            "AlertGracePeriod",
            "0",
            "seconds the database may be unreachable before AlertOnError alerts (0: at once)",
        ),
        SettingDef::host(
            "MessageColumn",
            "",
            "column whose text is the message (e.g. an HL7 message); empty: the row as a JSON object",
        ),
    ])
}

struct RowService {
    targets: Vec<String>,
}

impl Item for RowService {
    fn process(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>) -> Result<Outcome, Error> {
        Ok(Outcome::completed().forward_to(self.targets.iter().cloned()))
    }
}

/// `EnsLib.SQL.InboundAdapter`.
pub fn adapter() -> AdapterDef {
    AdapterDef::inbound(ADAPTER, |ctx| Ok(Box::new(Poller::from_settings(ctx)?)))
        .doc("polls a PostgreSQL query; each row becomes a message, committed before its key advances or its row is deleted")
        .settings([
            TypedSetting::required("DSN", SettingKind::Text, "PostgreSQL URL or key=value connection string"),
            TypedSetting::required("Query", SettingKind::Text, "SELECT with ? placeholders"),
            TypedSetting::new("Parameters", SettingKind::Text, "", "values for the placeholders: %LastKey, quoted literals"),
            TypedSetting::new("KeyFieldName", SettingKind::Text, "", "column that identifies a row (for %LastKey and DeleteQuery)"),
            TypedSetting::new("DeleteQuery", SettingKind::Text, "", "run with the row's key once its message is committed"),
            TypedSetting::new("CallInterval", SettingKind::Seconds { forever: false }, "5", "seconds between polls"),
        ])
}

/// The poller's configuration.
struct Poller {
    dsn: String,
    query: String,
    params: Vec<Param>,
    key_field: String,
    delete_query: String,
    interval: Duration,
    message_column: String,
}

impl Poller {
    fn from_settings(ctx: &Context<'_>) -> Result<Poller, Error> {
        use hie_plugin_api::settings::SettingsSource;
        let interval = ctx
            .seconds_or("CallInterval", Some(Duration::from_secs(5)))
            .map_err(|e| Error::failed(e.to_string()))?
            .unwrap_or(Duration::from_secs(5));
        Ok(Poller {
            dsn: ctx.setting_or("DSN", ""),
            query: ctx.setting_or("Query", ""),
            params: params::parse(&ctx.setting_or("Parameters", "")).map_err(Error::failed)?,
            key_field: ctx.setting_or("KeyFieldName", ""),
            delete_query: ctx.setting_or("DeleteQuery", ""),
            interval: interval.max(Duration::from_millis(50)),
            message_column: ctx.setting_or("MessageColumn", ""),
        })
    }

    /// One poll: reads the rows, submits them in commits of [`ROWS_PER_COMMIT`], deletes
    /// the committed ones. Returns the new last key.
    fn poll(&self, client: &mut postgres::Client, ctx: &InboundContext<'_>, last_key: &str) -> Result<String, Error> {
        let values = params::values(&self.params, b"", last_key, None).map_err(Error::failed)?;
        let (sql, _) = params::positional(&self.query);
        let rows = crate::outbound::query_json(client, &sql, &values).map_err(|e| Error::failed(e.to_string()))?;
        let mut last = last_key.to_string();
        for chunk in rows.chunks(ROWS_PER_COMMIT) {
            if !ctx.accepting() || ctx.stop_requested() {
                break;
            }
            let mut batch = Vec::with_capacity(chunk.len());
            let mut keys = Vec::with_capacity(chunk.len());
            for row in chunk {
                let key = json_text(row.get(&self.key_field));
                let body = match self.message_column.as_str() {
                    "" => row.to_string(),
                    col => json_text(row.get(col)),
                };
                let mut attributes = Vec::new();
                if !self.key_field.is_empty() {
                    attributes.push((self.key_field.clone(), key.clone()));
                }
                batch.push(hie_plugin_api::adapter::Inbound {
                    body: body.into_bytes(),
                    origin: format!("sql:{}", self.key_field),
                    attributes,
                });
                keys.push(key);
            }
            let new_key = keys.last().cloned().unwrap_or_else(|| last.clone());
            let results = if self.key_field.is_empty() {
                ctx.submit(batch)
            } else {
                ctx.submit_with_state(batch, &[(LAST_KEY, &new_key)])
            };
            if results.iter().any(|r| !r.accepted) {
                // Nothing of this commit is stored (one commit): the rows stay for the next poll.
                return Err(Error::failed(
                    "rows were not committed (the journal refused them); they stay for the next poll",
                ));
            }
            last = new_key;
            if !self.delete_query.is_empty() {
                let (delete, _) = params::positional(&self.delete_query);
                for key in &keys {
                    if let Err(e) = crate::outbound::execute(client, &delete, std::slice::from_ref(key)) {
                        ctx.log(
                            LogLevel::Warn,
                            &format!("DeleteQuery for key {key} failed (the row may be taken again): {e}"),
                        );
                    }
                }
            }
        }
        Ok(last)
    }
}

/// A JSON value as the text of a column: strings as they are, `null` as empty, the rest
/// as JSON.
fn json_text(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

impl InboundAdapter for Poller {
    fn run(&mut self, ctx: &InboundContext<'_>) -> Result<(), Error> {
        let mut client = postgres::Client::connect(&self.dsn, postgres::NoTls)
            .map_err(|e| Error::failed(format!("cannot connect to the database (DSN): {e}")))?;
        let mut last_key = ctx.state(LAST_KEY).unwrap_or_else(|| "0".into());
        ctx.log(LogLevel::Info, &format!("polling every {:?} from key {last_key:?}", self.interval));
        while !ctx.stop_requested() {
            if !ctx.wait_accepting(Duration::from_secs(1)) {
                continue;
            }
            match self.poll(&mut client, ctx, &last_key) {
                Ok(k) => last_key = k,
                Err(e) if client.is_closed() => {
                    return Err(Error::failed(format!("lost the database connection: {e}")));
                }
                Err(e) => ctx.log(LogLevel::Error, &format!("poll failed: {e}")),
            }
            if !ctx.sleep_or_stop(self.interval) {
                break;
            }
        }
        Ok(())
    }
}
