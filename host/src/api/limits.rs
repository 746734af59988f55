//! Limits on the management API, so that no client, careless or hostile, ties it up or
//! takes the engine's memory: the API is how operators reach a struggling engine, so it
//! must stay answerable when something floods it.
//!
//! Invariants:
//! - At most [`Limits::max_connections`] connections are open; one more is closed at once
//!   (logged with the peer, at most once a second), never queued.
//! - A request's head must arrive within [`Limits::header_read_timeout`] and fit in
//!   [`Limits::max_header_bytes`] (431, or the connection closed); its body within
//!   [`Limits::body_read_timeout`] (408) and [`Limits::max_body_bytes`] (413). A slow
//!   sender holds only its own connection.
//! - At most [`Limits::max_requests`] whole requests are handled at once; one more is
//!   answered 503 with `Retry-After` at once.
//! - A handler, once it has its whole request, is never cut off by a timer: reloads, pack
//!   swaps and purges change the engine and must not stop half-way.
//!
//! Depends on hyper-util for the connection loop (axum::serve has no header timeout or
//! connection cap); nothing here knows the routes.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The API's limits. The defaults suit an operator's console and scripts with room to
/// spare; they are not settings (yet) because nothing legitimate comes near them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at most (browsers keep about six each; scripts one).
    pub max_connections: usize,
    /// Requests handled at once at most.
    pub max_requests: usize,
    /// Bytes of a request's head (request line and headers) at most.
    pub max_header_bytes: usize,
    /// Time a request's head may take to arrive, from the connection's first byte or the
    /// end of the previous request.
    pub header_read_timeout: Duration,
    /// Bytes of a request body at most (a resend may carry a large HL7 message).
    pub max_body_bytes: usize,
    /// Time a request body may take to arrive in full.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 128,
            max_requests: 32,
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_body_bytes: 16 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// What the request middleware needs.
#[derive(Clone)]
struct RequestLimits {
    /// Permits for requests being handled.
    requests: Arc<Semaphore>,
    limits: Arc<Limits>,
}

/// Wraps `router` in the request limits (concurrency, body size and time).
pub fn limit_requests(router: Router, limits: &Limits) -> Router {
    let state = RequestLimits {
        requests: Arc::new(Semaphore::new(limits.max_requests.max(1))),
        limits: Arc::new(limits.clone()),
    };
    router.layer(axum::middleware::from_fn_with_state(state, limit))
}

fn refuse(code: StatusCode, message: String) -> Response {
    (code, Json(json!({ "error": message }))).into_response()
}

async fn limit(State(l): State<RequestLimits>, req: Request, next: Next) -> Response {
    // hyper refuses a head over the limit that arrives in pieces; one that arrives in a
    // single read is parsed whole, so the head's size is checked here too.
    let head: usize =
        req.uri().to_string().len() + req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum::<usize>();
    if head > l.limits.max_header_bytes {
        let max = l.limits.max_header_bytes;
        return refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, format!("request head over {max} bytes"));
    }
    let max = l.limits.max_body_bytes;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {max} bytes"));
    }
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(l.limits.body_read_timeout, axum::body::to_bytes(body, max)).await {
        Err(_) => {
            let secs = l.limits.body_read_timeout.as_secs();
            return refuse(StatusCode::REQUEST_TIMEOUT, format!("request body not received within {secs} s"));
        }
        Ok(Err(e)) => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("request body unreadable or over {max} bytes: {e}"));
        }
        Ok(Ok(b)) => b,
    };
    // Taken once the request is whole: a slow sender waits on its own connection (bounded
    // by the connection cap and the body timeout), never on a handler's place.
    let Ok(_permit) = l.requests.clone().try_acquire_owned() else {
        let mut r = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("too many API requests at once (at most {}); try again", l.limits.max_requests),
        );
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Serves `router` on `listener` with the connection limits until `shutdown` resolves,
/// then lets open requests finish for at most five seconds.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let graceful = GracefulShutdown::new();
    let mut refused_logged: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most often: back off rather than spin.
                    tracing::warn!(error = %e, "management API: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            if refused_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                refused_logged = Some(Instant::now());
                tracing::warn!(%peer, max = limits.max_connections, "management API: connection refused, too many open");
            }
            drop(stream);
            continue;
        };
        // Each request knows its peer (the audit trail records where an action came from).
        let service = TowerToHyperService::new(router.clone().layer(axum::Extension(super::auth::Peer(peer))));
        let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "management API connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await.is_err() {
        tracing::warn!("management API: requests still open 5 s after shutdown; dropped");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    /// `/slow` counts itself in `entered`, then waits for a permit of `gate`.
    fn app(limits: &Limits, gate: Arc<Semaphore>, entered: Arc<AtomicUsize>) -> Router {
        let slow = move || {
            let (gate, entered) = (gate.clone(), entered.clone());
            async move {
                entered.fetch_add(1, Ordering::SeqCst);
                let _ = gate.acquire().await.map(|p| p.forget());
                "done"
            }
        };
        let router = Router::new().route("/slow", get(slow)).route("/echo", post(|b: String| async move { b }));
        limit_requests(router, limits)
    }

    fn plain(limits: &Limits) -> Router {
        app(limits, Arc::new(Semaphore::new(0)), Arc::new(AtomicUsize::new(0)))
    }

    async fn status(app: &Router, req: Request) -> (StatusCode, Option<String>, String) {
        let r = app.clone().oneshot(req).await.expect("infallible");
        let retry = r.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap_or("").to_string());
        let code = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.expect("body");
        (code, retry, String::from_utf8_lossy(&body).into_owned())
    }

    fn get_req(path: &str) -> Request {
        Request::builder().uri(path).body(Body::empty()).expect("request")
    }

    fn post_req(body: Body) -> Request {
        Request::builder().method("POST").uri("/echo").body(body).expect("request")
    }

    #[tokio::test]
    async fn a_request_beyond_the_concurrency_limit_is_answered_503_with_retry_after_at_once() {
        let limits = Limits { max_requests: 2, ..Limits::default() };
        let (gate, entered) = (Arc::new(Semaphore::new(0)), Arc::new(AtomicUsize::new(0)));
        let app = app(&limits, gate.clone(), entered.clone());
        let held: Vec<_> = (0..2).map(|_| tokio::spawn(app.clone().oneshot(get_req("/slow")))).collect();
        while entered.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        let (code, retry, body) = status(&app, get_req("/slow")).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(body.contains("at most 2"), "{body}");
        assert_eq!(entered.load(Ordering::SeqCst), 2, "the refused request never reached its handler");
        gate.add_permits(2);
        for h in held {
            assert_eq!(h.await.expect("task").expect("response").status(), StatusCode::OK);
        }
        // The places are free again.
        assert_eq!(status(&app, post_req(Body::from("x"))).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413_whether_declared_or_streamed() {
        let app = plain(&Limits { max_body_bytes: 10, ..Limits::default() });
        let declared = Request::builder()
            .method("POST")
            .uri("/echo")
            .header(header::CONTENT_LENGTH, "11")
            .body(Body::from("12345678901"))
            .expect("request");
        let (code, _, body) = status(&app, declared).await;
        assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        let stream = futures::stream::iter((0..2).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from("123456"))));
        let (code, _, body) = status(&app, post_req(Body::from_stream(stream))).await;
        assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(status(&app, post_req(Body::from("1234567890"))).await.2, "1234567890");
    }

    #[tokio::test]
    async fn a_head_over_the_limit_is_431() {
        let app = plain(&Limits { max_header_bytes: 8192, ..Limits::default() });
        let req =
            Request::builder().method("POST").uri("/echo").header("x-filler", "a".repeat(9000)).body(Body::from("x"));
        let (code, _, body) = status(&app, req.expect("request")).await;
        assert_eq!(code, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "{body}");
        let req =
            Request::builder().method("POST").uri("/echo").header("x-filler", "a".repeat(100)).body(Body::from("x"));
        assert_eq!(status(&app, req.expect("request")).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_in_time_is_408() {
        let app = plain(&Limits { body_read_timeout: Duration::from_millis(50), ..Limits::default() });
        let never = futures::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
        let (code, _, body) = status(&app, post_req(Body::from_stream(never))).await;
        assert_eq!(code, StatusCode::REQUEST_TIMEOUT, "{body}");
    }
}
