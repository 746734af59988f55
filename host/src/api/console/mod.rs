//! The web console: a page served by `hie run` on the API address, and the live feed it
//! draws from.
//!
//! - `GET /` redirects to `/console/`; `GET /console/` is the page, `/console/app.js` and
//!   `/console/app.css` its script and style. They are embedded in the binary
//!   (`include_str!`): no Node at run time, nothing to build, nothing to go stale.
//! - `GET /api/events` is a server-sent event stream: a `production` event at once and
//!   then every [`PERIOD`], each the production's status (as `GET /api/production`) with
//!   `edges`, the target links between items the diagram draws.
//!
//! # Invariants
//! - The page reads and acts only through the documented API (`/api/...`); it has no
//!   endpoint of its own beyond the feed, so what the console shows is what a script sees,
//!   and every action it takes is checked and audited by [`super::auth`] like any other.
//! - The assets are static text: they name no item and hold no data.

use super::ApiState;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::stream::Stream;
use std::convert::Infallible;
use std::time::Duration;

/// How often the feed sends the production's status.
pub const PERIOD: Duration = Duration::from_secs(1);

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// The console's routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/console/") }))
        .route("/console", get(|| async { Redirect::temporary("/console/") }))
        .route("/console/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/console/app.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/console/app.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/api/events", get(events))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// The production's status with the diagram's edges, as the feed sends it.
pub fn production_view(s: &ApiState) -> serde_json::Value {
    let mut v = serde_json::to_value(s.engine.status()).unwrap_or_default();
    let edges: Vec<[String; 2]> = s
        .engine
        .plan()
        .map(|plan| {
            plan.items
                .iter()
                .flat_map(|p| p.targets().into_iter().map(|t| [p.name.to_string(), t.to_string()]).collect::<Vec<_>>())
                .collect()
        })
        .unwrap_or_default();
    v["edges"] = serde_json::json!(edges);
    v["config"] = s.reloader.status_json();
    v
}

/// `GET /api/events`: the production's status now and every [`PERIOD`].
async fn events(State(s): State<ApiState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures::stream::unfold((s, true), |(s, first)| async move {
        if !first {
            tokio::time::sleep(PERIOD).await;
        }
        let event = Event::default().event("production").data(production_view(&s).to_string());
        Some((Ok(event), (s, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
