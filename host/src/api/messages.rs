use axum::Router; use super::ApiState; pub(super) fn routes() -> Router<ApiState> { Router::new() }
