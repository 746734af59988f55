//! Lookup tables (IRIS `Lookup()`, `..Lookup`): list, read, set, delete and import
//! entries of the tables beside the production, live.
//!
//! An edit is written to the catalog (`hie_iris::catalog::edit_lookups`: the whole table to
//! `lookup/live/`), then the production is reloaded: the items that read the catalog see a
//! new fingerprint and restart on the new tables (their queues stay; nothing is lost).
//! The answer carries the reload's outcome.
//!
//! # Paths
//! - `GET /api/lookups`: the tables and their sizes.
//! - `GET /api/lookups/{table}`: its entries (404 when there is no such table).
//! - `PUT /api/lookups/{table}/{key}`: the body (text) becomes the value.
//! - `DELETE /api/lookups/{table}/{key}`: 404 when there is no such entry.
//! - `POST /api/lookups/import`: the body is a lookup-table file, either IRIS format.

use super::{ApiError, ApiState};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Json;
use axum::routing::{get, post, put};
use hie_iris::catalog::{self, LookupEdit, LookupEditError};
use serde_json::{Value, json};

/// The routes of this module.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/lookups", get(list))
        .route("/api/lookups/import", post(import))
        .route("/api/lookups/{table}", get(show))
        .route("/api/lookups/{table}/{key}", put(set).delete(delete))
}

fn load(s: &ApiState) -> Result<hie_iris::lookup::LookupTables, ApiError> {
    catalog::load_lookups(&s.reloader.production_dir()).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e))
}

async fn list(State(s): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let tables = load(&s)?;
    let list: Vec<Value> = tables
        .table_names()
        .into_iter()
        .map(|t| json!({ "table": t, "entries": tables.entries(t).map_or(0, |e| e.len()) }))
        .collect();
    Ok(Json(json!({ "dir": s.reloader.production_dir().join(catalog::LOOKUP_DIR), "tables": list })))
}

async fn show(State(s): State<ApiState>, Path(table): Path<String>) -> Result<Json<Value>, ApiError> {
    let tables = load(&s)?;
    let entries =
        tables.entries(&table).ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no lookup table {table:?}")))?;
    let map: serde_json::Map<String, Value> = entries.into_iter().map(|(k, v)| (k.to_owned(), json!(v))).collect();
    Ok(Json(json!({ "table": table, "entries": map })))
}

async fn set(
    State(s): State<ApiState>,
    Path((table, key)): Path<(String, String)>,
    value: String,
) -> Result<Json<Value>, ApiError> {
    edit(&s, LookupEdit::Set { table, key, value }).await
}

async fn delete(
    State(s): State<ApiState>,
    Path((table, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    edit(&s, LookupEdit::Delete { table, key }).await
}

async fn import(State(s): State<ApiState>, text: String) -> Result<Json<Value>, ApiError> {
    edit(&s, LookupEdit::Import(text)).await
}

/// Makes the edit (one at a time), then reloads so the items reading the tables restart.
async fn edit(s: &ApiState, edit: LookupEdit) -> Result<Json<Value>, ApiError> {
    let guard = s.reloader.catalog_edit().await;
    let dir = s.reloader.production_dir();
    let changed = tokio::task::spawn_blocking(move || catalog::edit_lookups(&dir, &edit))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("the edit did not finish: {e}")))?
        .map_err(|e| {
            let code = match e {
                LookupEditError::NoSuchEntry { .. } => StatusCode::NOT_FOUND,
                LookupEditError::Empty | LookupEditError::Import(_) => StatusCode::BAD_REQUEST,
                LookupEditError::Files(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            ApiError(code, e.to_string())
        })?;
    drop(guard);
    tracing::info!(tables = ?changed, "lookup tables edited through the API");
    let reload = s.reloader.reload_config("api").await;
    Ok(Json(json!({ "changed": changed, "reload": reload })))
}
