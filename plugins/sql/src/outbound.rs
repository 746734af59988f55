//! `EnsLib.SQL.Operation.GenericOperation` on `EnsLib.SQL.OutboundAdapter`: runs one
//! statement per message.
//!
//! Host settings: `Query` (any statement with `?` placeholders) and `Parameters` (see
//! [`crate::params`]: HL7 paths, `%Body`, quoted literals). Adapter setting: `DSN`.
//!
//! # Invariants
//! - A lost or refused connection is retryable (`RetryInterval`, `FailureTimeout`); a
//!   statement the database refuses (a constraint violation, a syntax error) fails the
//!   message with the database's own message. Neither ever crashes the item.
//! - Parameters travel as text and are converted to the types the database reports for
//!   the statement's placeholders, as IRIS passes them.

use crate::params::{self, Param};
use hie_plugin_api::adapter::{AdapterDef, AdapterError, OutboundAdapter, TypedSetting};
use hie_plugin_api::settings::{SettingKind, SettingsSource};
use hie_plugin_api::{
    AdapterResponse, ClassDef, Context, Error, ErrorKind, Item, ItemKind, Message, Outcome, SettingDef,
};
use postgres::types::{ToSql, Type};
use std::sync::Mutex;
use std::time::Duration;

/// The adapter's name.
pub const ADAPTER: &str = "EnsLib.SQL.OutboundAdapter";

/// `EnsLib.SQL.Operation.GenericOperation`.
pub fn operation_class() -> ClassDef {
    ClassDef::new("EnsLib.SQL.Operation.GenericOperation", ItemKind::Operation, |ctx| {
        let query = ctx.setting_or("Query", "");
        if query.trim().is_empty() {
            return Err(Error::failed("setting Query is required"));
        }
        Ok(Box::new(Statement {
            query,
            params: params::parse(&ctx.setting_or("Parameters", "")).map_err(Error::failed)?,
            retry: ctx
                .seconds_or("RetryInterval", Some(Duration::from_secs(5)))
                .ok()
                .flatten()
                .unwrap_or(Duration::from_secs(5)),
        }))
    })
    .adapter(ADAPTER)
    .doc("runs a statement for each message, with parameters from its fields (PostgreSQL)")
    .settings([
        SettingDef::host("Query", "", "statement with ? placeholders (required)"),
        SettingDef::host("Parameters", "", "comma-separated: HL7 paths, %Body, quoted literals"),
    ])
}

struct Statement {
    query: String,
    params: Vec<Param>,
    retry: Duration,
}

impl Item for Statement {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let values = match params::values(&self.params, msg.body(), "", msg.attribute(params::CATEGORY_ATTRIBUTE)) {
            Ok(v) => v,
            Err(e) => return Ok(Outcome::fail(e)),
        };
        let mut named: Vec<(String, String)> = vec![("Query".into(), self.query.clone())];
        named.extend(values.into_iter().enumerate().map(|(i, v)| ((i + 1).to_string(), v)));
        let refs: Vec<(&str, &str)> = named.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match ctx.adapter_call(msg.body(), &refs) {
            Ok(r) => Ok(Outcome::completed().reply(r.body)),
            Err(e) if e.kind == ErrorKind::Disconnected => Ok(Outcome::retry(self.retry, e.message)),
            Err(e) => Ok(Outcome::fail(format!("the database refused the statement: {}", e.message))),
        }
    }
}

/// `EnsLib.SQL.OutboundAdapter`.
pub fn adapter() -> AdapterDef {
    AdapterDef::outbound(ADAPTER, |ctx| {
        Ok(Box::new(Database { dsn: ctx.setting_or("DSN", ""), idle: Mutex::new(Vec::new()) }))
    })
    .doc("runs statements on PostgreSQL; connections are opened on first use and kept")
    .settings([TypedSetting::required("DSN", SettingKind::Text, "PostgreSQL URL or key=value connection string")])
}

/// Connections to one database, shared by an item's instances.
struct Database {
    dsn: String,
    idle: Mutex<Vec<postgres::Client>>,
}

impl OutboundAdapter for Database {
    fn call(&self, _body: &[u8], params: &[(&str, &str)]) -> Result<AdapterResponse, AdapterError> {
        let query = params.iter().find(|(k, _)| *k == "Query").map(|(_, v)| *v).unwrap_or("");
        let mut values: Vec<(usize, String)> =
            params.iter().filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v.to_string()))).collect();
        values.sort();
        let values: Vec<String> = values.into_iter().map(|(_, v)| v).collect();
        let mut client = match self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            Some(c) if !c.is_closed() => c,
            _ => postgres::Client::connect(&self.dsn, postgres::NoTls)
                .map_err(|e| AdapterError::retryable(format!("cannot connect to the database: {e}")))?,
        };
        let (sql, _) = params::positional(query);
        let result = execute(&mut client, &sql, &values);
        if !client.is_closed() {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(client);
        }
        match result {
            Ok(n) => Ok(AdapterResponse {
                body: n.to_string().into_bytes(),
                params: vec![("RowsAffected".into(), n.to_string())],
            }),
            Err(e) => Err(classify(&e)),
        }
    }

    fn close(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A statement that could not run.
#[derive(Debug)]
pub enum DbError {
    /// The database (or the connection to it) refused.
    Db(postgres::Error),
    /// A parameter does not read as its placeholder's type.
    Param(String),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Db(e) => write!(f, "{e}"),
            DbError::Param(m) => write!(f, "{m}"),
        }
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError::Db(e)
    }
}

/// Whether a failure is worth a retry: the connection, the server's state or a
/// transient conflict, not the statement or its values.
fn classify(e: &DbError) -> AdapterError {
    let e = match e {
        DbError::Param(m) => return AdapterError::fatal(m.clone()),
        DbError::Db(e) => e,
    };
    let Some(db) = e.as_db_error() else {
        // I/O, a closed connection, a protocol error: the other side may come back.
        return AdapterError::retryable(format!("database connection problem: {e}"));
    };
    let code = db.code().code();
    let transient = code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || code == "40001"
        || code == "40P01";
    let text = format!("{} (SQLSTATE {code})", db.message());
    if transient { AdapterError::retryable(text) } else { AdapterError::fatal(text) }
}

/// Text values converted to the types the database expects for the statement's
/// placeholders (an empty value is NULL unless the placeholder is text).
fn typed(types: &[Type], values: &[String]) -> Result<Vec<Box<dyn ToSql + Sync>>, DbError> {
    let mut out: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let t = types.get(i).cloned().unwrap_or(Type::TEXT);
        let text_like = [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME, Type::UNKNOWN].contains(&t);
        if v.is_empty() && !text_like {
            out.push(Box::new(Option::<String>::None));
            continue;
        }
        let bad = || DbError::Param(format!("parameter {}: {v:?} is not a value of type {}", i + 1, t.name()));
        out.push(match t {
            Type::INT2 => Box::new(v.trim().parse::<i16>().map_err(|_| bad())?),
            Type::INT4 => Box::new(v.trim().parse::<i32>().map_err(|_| bad())?),
            Type::INT8 => Box::new(v.trim().parse::<i64>().map_err(|_| bad())?),
            Type::FLOAT4 => Box::new(v.trim().parse::<f32>().map_err(|_| bad())?),
            Type::FLOAT8 => Box::new(v.trim().parse::<f64>().map_err(|_| bad())?),
            Type::BOOL => Box::new(hie_plugin_api::settings::parse_bool(v).map_err(|_| bad())?),
            Type::JSON | Type::JSONB => Box::new(serde_json::from_str::<serde_json::Value>(v).map_err(|_| bad())?),
            t if text_like || t == Type::TEXT => Box::new(v.clone()),
            t => {
                return Err(DbError::Param(format!(
                    "parameter {}: placeholders of type {} are not supported; cast in the query, e.g. ?::text::{}",
                    i + 1,
                    t.name(),
                    t.name()
                )));
            }
        });
    }
    Ok(out)
}

/// Prepares `sql`, converts `values` to its placeholder types and runs it; returns the
/// rows affected.
pub fn execute(client: &mut postgres::Client, sql: &str, values: &[String]) -> Result<u64, DbError> {
    let stmt = client.prepare(sql)?;
    let args = typed(stmt.params(), values)?;
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|b| b.as_ref()).collect();
    Ok(client.execute(&stmt, &refs)?)
}

/// Runs the query `sql` and returns each row as PostgreSQL's JSON of it, in order.
pub fn query_json(
    client: &mut postgres::Client,
    sql: &str,
    values: &[String],
) -> Result<Vec<serde_json::Value>, DbError> {
    let wrapped = format!("SELECT row_to_json(hie_row)::text FROM ({sql}) AS hie_row");
    let stmt = client.prepare(&wrapped)?;
    let args = typed(stmt.params(), values)?;
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|b| b.as_ref()).collect();
    let rows = client.query(&stmt, &refs)?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<_, String>(0).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect())
}
