//! Finding and acting on messages: search, show, sessions, resend, suspend, purge and
//! the dead-letter view.

use super::{ApiError, ApiState};
use crate::engine::OperatorError;
use crate::journal::{HeaderRow, Search};
use crate::message::Status;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Json;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// The routes of this module.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/messages", get(search))
        .route("/api/messages/{id}", get(show))
        .route("/api/messages/{id}/resend", post(resend))
        .route("/api/messages/{id}/suspend", post(suspend))
        .route("/api/items/{name}/resend-suspended", post(resend_suspended))
        .route("/api/sessions/{id}", get(session))
        .route("/api/dead-letters", get(dead_letters))
        .route("/api/purge", post(purge))
        .route("/api/journal", get(journal_stats))
}

fn bad_request(m: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, m.into())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::NotFound(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
            OperatorError::Conflict(_) => ApiError(StatusCode::CONFLICT, e.to_string()),
            OperatorError::Journal(_) => internal(e),
        }
    }
}

/// Parses a time: RFC 3339, or a number (seconds, milliseconds or microseconds since
/// the epoch, told apart by size).
fn parse_time(s: &str) -> Result<i64, ApiError> {
    if let Ok(n) = s.trim().parse::<i64>() {
        return Ok(if n > 100_000_000_000_000 {
            n
        } else if n > 100_000_000_000 {
            n * 1000
        } else {
            n * 1_000_000
        });
    }
    chrono::DateTime::parse_from_rfc3339(s.trim()).map(|t| t.timestamp_micros()).map_err(|_| {
        bad_request(format!("invalid time {s:?}: use RFC 3339 (2026-11-26T10:00:00Z) or seconds since the epoch"))
    })
}

/// Query parameters of `GET /api/messages`.
#[derive(Debug, Deserialize, Default)]
struct SearchParams {
    control_id: Option<String>,
    item: Option<String>,
    source: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    doc_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
    field: Option<String>,
    value: Option<String>,
    limit: Option<usize>,
    before: Option<u64>,
}

fn row_json(r: &HeaderRow) -> Value {
    serde_json::to_value(r).unwrap_or_default()
}

async fn search(State(s): State<ApiState>, Query(p): Query<SearchParams>) -> Result<Json<Value>, ApiError> {
    let status = match &p.status {
        Some(st) => Some(Status::parse(st).ok_or_else(|| {
            bad_request(format!(
                "unknown status {st:?}; one of {}",
                Status::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
            ))
        })?),
        None => None,
    };
    let field = match (p.field, p.value) {
        (Some(f), Some(v)) => {
            hie_hl7_schema::FieldPath::parse(&f).map_err(|e| bad_request(format!("field: {e}")))?;
            Some((f, v))
        }
        (None, None) => None,
        _ => return Err(bad_request("field and value go together")),
    };
    let search = Search {
        control_id: p.control_id.filter(|c| !c.is_empty()),
        item: p.item.filter(|c| !c.is_empty()),
        source: p.source.filter(|c| !c.is_empty()),
        status,
        doc_type: p.doc_type.filter(|c| !c.is_empty()),
        since_us: p.since.as_deref().map(parse_time).transpose()?,
        until_us: p.until.as_deref().map(parse_time).transpose()?,
        field,
        before_id: p.before,
        limit: p.limit,
    };
    let indexed = s.engine.plan().map(|p| p.search_fields.clone()).unwrap_or_default();
    let journal = s.engine.inner.journal.clone();
    let started = std::time::Instant::now();
    let rows = tokio::task::spawn_blocking(move || journal.search(&search, &indexed))
        .await
        .map_err(internal)?
        .map_err(|e| bad_request(e.to_string()))?;
    // The search answers from what the warehouse holds (it waits briefly for the newest
    // commits); how far that trails the log is part of the answer.
    let lag = s.engine.inner.journal.index_lag();
    Ok(Json(json!({
        "count": rows.len(),
        "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0,
        "index_lag": lag,
        "complete": lag.records == 0,
        "messages": rows.iter().map(row_json).collect::<Vec<_>>(),
    })))
}

async fn show(
    State(s): State<ApiState>,
    Path(id): Path<u64>,
    caller: Option<axum::Extension<super::auth::Caller>>,
) -> Result<Json<Value>, ApiError> {
    // A viewer sees the header, never the body or the reply.
    let bodies = caller.is_none_or(|c| c.role >= super::auth::Role::Operator);
    let journal = s.engine.inner.journal.clone();
    let (row, body, reply) = tokio::task::spawn_blocking(move || -> Result<_, crate::journal::JournalError> {
        let Some(row) = journal.header(id)? else { return Ok((None, None, None)) };
        let body = journal.load_body(row.header.body_id).ok();
        let reply = journal.reply(id)?;
        Ok((Some(row), body, reply))
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let row = row.ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no message {id}")))?;
    let mut v = row_json(&row);
    v["body_size"] = json!(body.as_ref().map(|b| b.len()));
    if bodies {
        v["body"] = json!(body.as_ref().map(|b| String::from_utf8_lossy(b).to_string()));
        v["reply"] = json!(reply.as_ref().map(|b| String::from_utf8_lossy(b).to_string()));
    } else {
        v["body_withheld"] = json!("the viewer role sees no bodies");
    }
    Ok(Json(v))
}

/// Body of `POST /api/messages/{id}/resend`.
#[derive(Debug, Deserialize, Default)]
struct ResendBody {
    /// Replacement body (edited message); the original body when absent.
    body: Option<String>,
    /// Another item to send it to (IRIS's resend to a new target); its own target when absent.
    target: Option<String>,
}

async fn resend(
    State(s): State<ApiState>,
    Path(id): Path<u64>,
    body: Option<Json<ResendBody>>,
) -> Result<Json<Value>, ApiError> {
    let ResendBody { body, target } = body.map(|b| b.0).unwrap_or_default();
    let target = target.filter(|t| !t.trim().is_empty());
    let new_id = s.engine.resend(id, body.map(String::into_bytes), target.as_deref().map(str::trim)).await?;
    Ok(Json(json!({ "resent": id, "id": new_id, "target": target })))
}

async fn suspend(State(s): State<ApiState>, Path(id): Path<u64>) -> Result<Json<Value>, ApiError> {
    s.engine.suspend(id).await?;
    Ok(Json(json!({ "id": id, "status": "Suspended" })))
}

async fn resend_suspended(State(s): State<ApiState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let n = s.engine.resend_suspended(&name).await?;
    Ok(Json(json!({ "item": name, "resent": n })))
}

/// Builds the session tree: each header under the header that caused it.
fn tree(rows: &[HeaderRow]) -> Vec<Value> {
    let ids: std::collections::HashSet<u64> = rows.iter().map(|r| r.header.id).collect();
    let mut children: HashMap<u64, Vec<&HeaderRow>> = HashMap::new();
    let mut roots = Vec::new();
    for r in rows {
        if r.header.causation_id != 0 && ids.contains(&r.header.causation_id) {
            children.entry(r.header.causation_id).or_default().push(r);
        } else {
            roots.push(r);
        }
    }
    fn node(r: &HeaderRow, children: &HashMap<u64, Vec<&HeaderRow>>) -> Value {
        let h = &r.header;
        let kind = if h.correlation_id != 0 && h.correlation_id != h.id { "response" } else { "request" };
        json!({
            "id": h.id,
            "kind": kind,
            "source": h.source.as_ref(),
            "target": h.target.as_ref(),
            "status": r.status,
            "doc_type": h.doc_type,
            "control_id": h.control_id,
            "correlation_id": h.correlation_id,
            "causation_id": h.causation_id,
            "created_us": h.created_us,
            "processed_us": r.processed_us,
            "elapsed_ms": r.processed_us.map(|p| (p - h.created_us) as f64 / 1000.0),
            "note": r.note,
            "has_reply": r.has_reply,
            "children": children.get(&h.id).map(|c| c.iter().map(|r| node(r, children)).collect::<Vec<_>>()).unwrap_or_default(),
        })
    }
    roots.into_iter().map(|r| node(r, &children)).collect()
}

async fn session(State(s): State<ApiState>, Path(id): Path<u64>) -> Result<Json<Value>, ApiError> {
    let journal = s.engine.inner.journal.clone();
    let rows = tokio::task::spawn_blocking(move || journal.session(id)).await.map_err(internal)?.map_err(internal)?;
    if rows.is_empty() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no session {id}")));
    }
    let first = rows.iter().map(|r| r.header.created_us).min().unwrap_or(0);
    let last = rows.iter().filter_map(|r| r.processed_us.or(r.reply_us)).max().unwrap_or(first);
    Ok(Json(json!({
        "session_id": id,
        "count": rows.len(),
        "elapsed_ms": (last - first) as f64 / 1000.0,
        "messages": rows.iter().map(row_json).collect::<Vec<_>>(),
        "tree": tree(&rows),
    })))
}

/// Query of `GET /api/dead-letters`.
#[derive(Debug, Deserialize)]
struct DeadLetterParams {
    limit: Option<usize>,
}

async fn dead_letters(State(s): State<ApiState>, Query(p): Query<DeadLetterParams>) -> Result<Json<Value>, ApiError> {
    let journal = s.engine.inner.journal.clone();
    let limit = p.limit.unwrap_or(100).clamp(1, 10_000);
    let rows = tokio::task::spawn_blocking(move || {
        journal.by_statuses(&[Status::Error, Status::Suspended, Status::Discarded], limit)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let mut by_item: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    for r in &rows {
        *by_item.entry(r.header.target.to_string()).or_default().entry(r.status.name()).or_default() += 1;
    }
    Ok(Json(json!({
        "count": rows.len(),
        "by_item": by_item,
        "messages": rows.iter().map(row_json).collect::<Vec<_>>(),
    })))
}

/// Query of `POST /api/purge`.
#[derive(Debug, Deserialize)]
struct PurgeParams {
    keep_days: Option<u32>,
    include_suspended: Option<bool>,
    include_incomplete: Option<bool>,
}

async fn purge(State(s): State<ApiState>, Query(p): Query<PurgeParams>) -> Result<Json<Value>, ApiError> {
    let report = s
        .engine
        .purge(p.keep_days.unwrap_or(7), p.include_suspended.unwrap_or(false), p.include_incomplete.unwrap_or(false))
        .await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

async fn journal_stats(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let journal = s.engine.inner.journal.clone();
    let stats = tokio::task::spawn_blocking(move || journal.stats()).await.map_err(internal)?.map_err(internal)?;
    let mut v = serde_json::to_value(stats).unwrap_or_default();
    v["durability"] = json!(s.engine.inner.journal.durability());
    v["writable"] = json!(s.engine.inner.journal.is_healthy());
    v["dir"] = json!(s.engine.inner.journal.dir().display().to_string());
    let lag = s.engine.inner.journal.index_lag();
    v["index_lag_records"] = json!(lag.records);
    v["index_lag_ms"] = json!(lag.ms);
    v["index_lag"] = json!(lag);
    Ok(Json(v))
}
