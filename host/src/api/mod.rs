//! The management API (HTTP, loopback by default) and Prometheus metrics.
//!
//! Ops scripts rely on these paths; they are part of HIE's interface.

mod messages;
mod metrics;

use crate::engine::Engine;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use std::net::SocketAddr;

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The engine.
    pub engine: Engine,
    /// Control channel to the process's main loop (reload, etc.).
    pub control: tokio::sync::mpsc::UnboundedSender<Control>,
}

/// Requests the API makes of the main loop.
#[derive(Debug)]
pub enum Control {
    /// Re-read the production file and apply the difference.
    Reload(tokio::sync::oneshot::Sender<serde_json::Value>),
    /// Roll back to a kept config version.
    Rollback(u64, tokio::sync::oneshot::Sender<serde_json::Value>),
}

/// An API error: status code and message, answered as JSON.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

/// Builds the router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/production", get(production))
        .route("/api/items/{name}/pause", post(pause))
        .route("/api/items/{name}/resume", post(resume))
        .route("/metrics", get(metrics::metrics))
        .merge(messages::routes())
        .with_state(state)
}

/// Serves the API on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "management API listening");
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

async fn production(State(s): State<ApiState>) -> Json<serde_json::Value> {
    Json(serde_json::to_value(s.engine.status()).unwrap_or_default())
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
