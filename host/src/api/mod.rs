//! The management API (HTTP, loopback by default), Prometheus metrics and the web
//! console ([`console`]).
//!
//! Ops scripts rely on these paths; they are part of HIE's interface. With a token
//! configured every path needs it ([`auth`]).

pub mod auth;
mod console;
pub mod limits;
mod lookups;
mod messages;
mod metrics;
pub mod session;

use crate::engine::Engine;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The engine.
    pub engine: Engine,
    /// Hot reload of config and packs.
    pub reloader: std::sync::Arc<crate::reload::Reloader>,
    /// The audit trail (`<data-dir>/audit.jsonl`).
    pub audit: std::sync::Arc<crate::audit::AuditLog>,
}

/// An API error: status code and message, answered as JSON.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

/// Builds the router; with `tokens`, every request must present one and its role must
/// allow the request; every audited request is recorded ([`auth::authorize`]). The
/// request limits ([`limits`]) apply before the token check, so unauthenticated floods
/// are bounded too.
pub fn router(state: ApiState, tokens: Option<auth::Tokens>, limits: &limits::Limits) -> Router {
    let gate = auth::Gate { tokens, sessions: session::Sessions::default(), audit: state.audit.clone() };
    let router = routes(state).layer(axum::middleware::from_fn_with_state(gate, auth::authorize));
    limits::limit_requests(router, limits)
}

fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/api/production", get(production))
        .route("/api/items/{name}/pause", post(pause))
        .route("/api/items/{name}/resume", post(resume))
        .route("/api/items/{name}/restart", post(restart))
        .route("/api/items/{name}/settings", get(item_settings))
        .route("/metrics", get(metrics::metrics))
        .route("/api/reload", post(reload))
        .route("/api/packs/reload", post(reload_packs))
        .route("/api/config/versions", get(versions))
        .route("/api/config/versions/{version}", get(version_text))
        .route("/api/config/rollback/{version}", post(rollback))
        .route("/api/plugins", get(plugins))
        .route("/api/alerts", get(alerts))
        .route("/api/audit", get(audit))
        .merge(messages::routes())
        .merge(lookups::routes())
        .merge(console::routes())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    tokens: Option<auth::Tokens>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, tokens = tokens.is_some(), "management API listening");
    }
    let limits = limits::Limits::default();
    limits::serve(listener, router(state, tokens, &limits), &limits, shutdown).await
}

/// Query of `GET /api/audit`.
#[derive(serde::Deserialize)]
struct AuditQuery {
    /// At most this many entries (default 100).
    limit: Option<usize>,
}

/// The audit trail, newest first.
async fn audit(
    State(s): State<ApiState>,
    axum::extract::Query(q): axum::extract::Query<AuditQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let log = s.audit.clone();
    let limit = q.limit.unwrap_or(100).min(100_000);
    let entries = tokio::task::spawn_blocking(move || log.recent(limit))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({ "entries": entries })))
}

/// Recent alerts, newest first, and how many were raised since start.
async fn alerts(State(s): State<ApiState>) -> Json<serde_json::Value> {
    let alerts = &s.engine.inner.alerts;
    Json(json!({
        "raised": alerts.raised.load(std::sync::atomic::Ordering::Relaxed),
        "alerts": alerts.recent(),
    }))
}

async fn production(State(s): State<ApiState>) -> Json<serde_json::Value> {
    let status = s.engine.status();
    let mut v = serde_json::to_value(&status).unwrap_or_default();
    if let Some(items) = v["items"].as_array_mut() {
        for item in items {
            let deleted = s
                .engine
                .item(item["name"].as_str().unwrap_or(""))
                .map(|rt| s.reloader.pack_deleted(&rt.pack().source_path));
            item["pack_deleted"] = json!(deleted.unwrap_or(false));
        }
    }
    v["config"] = s.reloader.status_json();
    Json(v)
}

fn event_response(ev: crate::reload::ReloadEvent) -> (StatusCode, Json<serde_json::Value>) {
    let code = match ev.outcome.as_str() {
        "applied" | "unchanged" => StatusCode::OK,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    (code, Json(serde_json::to_value(ev).unwrap_or_default()))
}

async fn reload(State(s): State<ApiState>) -> (StatusCode, Json<serde_json::Value>) {
    event_response(s.reloader.reload_config("api").await)
}

async fn reload_packs(State(s): State<ApiState>) -> Json<serde_json::Value> {
    Json(json!({ "events": s.reloader.reload_packs("api").await }))
}

async fn versions(State(s): State<ApiState>) -> Json<serde_json::Value> {
    let current = s.reloader.versions().last().map(|v| v.version);
    Json(json!({ "current": current, "versions": s.reloader.versions() }))
}

/// Whether a setting's value is a secret the API never shows (credentials inline,
/// passphrases, passwords).
fn secret(setting: &str) -> bool {
    let s = setting.to_ascii_lowercase();
    s.contains("credentials") || s.contains("password") || s.contains("passphrase")
}

/// An item's effective settings and where each came from; secrets shown as `***`.
async fn item_settings(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut settings = s
        .reloader
        .effective_settings(&name)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no item {name} in the running version")))?;
    for e in settings.iter_mut().filter(|e| secret(&e.setting) && !e.value.is_empty()) {
        e.value = "***".into();
    }
    Ok(Json(json!({ "item": name, "settings": settings })))
}

/// One version's production file, as it was applied (admin: it may hold credentials).
async fn version_text(
    State(s): State<ApiState>,
    Path(version): Path<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let text = s
        .reloader
        .version_text(version)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no config version {version}")))?;
    let meta = s.reloader.versions().into_iter().find(|v| v.version == version);
    Ok(Json(json!({ "version": version, "meta": meta, "text": text })))
}

async fn rollback(State(s): State<ApiState>, Path(version): Path<u64>) -> (StatusCode, Json<serde_json::Value>) {
    event_response(s.reloader.rollback(version).await)
}

async fn plugins(State(s): State<ApiState>) -> Json<serde_json::Value> {
    let packs = s.engine.inner.packs.registry().clone();
    let staged_dir = s.engine.inner.options.data_dir.join("packs");
    let mut staged: Vec<String> = std::fs::read_dir(&staged_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".so"))
                .collect()
        })
        .unwrap_or_default();
    staged.sort();
    let loaded: Vec<serde_json::Value> = packs
        .packs
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p.as_ref()).unwrap_or_default();
            v["deleted"] = json!(s.reloader.pack_deleted(&p.source_path));
            v["used_by"] = json!(
                s.engine
                    .inner
                    .items()
                    .iter()
                    .filter(|rt| {
                        rt.pack().sha256 == p.sha256 || rt.adapter_pack().is_some_and(|a| a.sha256 == p.sha256)
                    })
                    .map(|rt| rt.plan.name.to_string())
                    .collect::<Vec<_>>()
            );
            v
        })
        .collect();
    Json(json!({
        "searched": packs.searched,
        "loaded": loaded,
        "staged": staged,
        "failures": packs.failures,
        "recent_reloads": s.reloader.pack_events(),
    }))
}

async fn pause(State(s): State<ApiState>, Path(name): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    if s.engine.pause(&name) {
        Ok(Json(json!({ "item": name, "state": "Paused" })))
    } else {
        Err(ApiError(StatusCode::NOT_FOUND, format!("no running item {name}")))
    }
}

async fn resume(State(s): State<ApiState>, Path(name): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    if s.engine.resume(&name) {
        Ok(Json(json!({ "item": name, "state": "Running" })))
    } else {
        Err(ApiError(StatusCode::NOT_FOUND, format!("no running item {name}")))
    }
}

/// Restarts an item, as IRIS's "restart": its runtime is stopped (in-flight work
/// finishes; waiting messages stay in its queue) and started again with the same
/// configuration on the packs it runs now. A paused item comes back paused.
async fn restart(State(s): State<ApiState>, Path(name): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    use crate::engine::{ItemRuntime, ItemState};
    let inner = &s.engine.inner;
    let old = inner.item(&name).ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no running item {name}")))?;
    let was_paused = old.state() == ItemState::Paused;
    // The running plan's entry: the item's settings, with the packs its code and adapter
    // run from now (kept in step by pack swaps).
    let plan = inner.plan().and_then(|p| p.item(&name).cloned()).unwrap_or_else(|| {
        let mut plan = old.plan.clone();
        plan.pack = old.pack();
        plan
    });
    old.stop(inner).await;
    // A reload that replaced the item meanwhile wins: never run two runtimes of one item.
    let replaced =
        |inner: &crate::engine::EngineInner| !inner.item(&name).is_some_and(|rt| std::sync::Arc::ptr_eq(&rt, &old));
    let conflict = || ApiError(StatusCode::CONFLICT, format!("item {name} was replaced by a reload while restarting"));
    if replaced(inner) {
        return Err(conflict());
    }
    match ItemRuntime::start(inner, plan).await {
        Ok(rt) if replaced(inner) => {
            rt.stop(inner).await;
            Err(conflict())
        }
        Ok(rt) => {
            if was_paused {
                rt.pause();
            }
            inner.insert_item(rt.clone());
            tracing::info!(item = %name, "item restarted by operator");
            Ok(Json(json!({ "item": name, "state": rt.state(), "started_us": rt.started_us })))
        }
        Err(e) => {
            old.set_state(ItemState::Failed, &format!("restart failed: {e}"));
            Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("item {name} did not start again: {e}")))
        }
    }
}
