//! HTTP inbound (IRIS `EnsLib.HTTP.InboundAdapter`): a listener whose every `POST` body
//! is one message for the item's intake sink; the item's reply is the response body.
//!
//! Settings (IRIS names): `Port`, `LocalInterface` (empty = every interface),
//! `AllowedIPAddresses` (empty = any peer; see [`super::address`]), `SSLConfig` (HTTPS,
//! see [`super::tls`]), `ReadTimeout` (seconds a request's head, and then its body, may
//! take to arrive; default 30), and HIE's `MaxConnections` (connections served at once,
//! default 1024; more are closed at once and logged) and `MaxBodySize` (largest request
//! body, default 16 MiB; a larger one is answered 413 and never reaches the item).
//!
//! Each message carries the attributes IRIS puts in an `EnsLib.HTTP.GenericMessage`'s
//! headers: `HttpRequest` (the method), `URL` (path and query), `Content-Type` (when
//! sent), and `RemoteAddress` (the peer, as the MLLP listener sets it).
//!
//! # Invariants
//! - A response is written only after the sink returned the message's reply, which is
//!   after the commit that stores it (as the MLLP listener writes its ACKs).
//! - 200 means committed: a message the engine did not store is answered 503 with
//!   `Retry-After` (resend later), one it stored but refused (invalid content: the item
//!   failed it) 400; both carry the item's or the engine's reply (a NACK) as the body.
//! - While the item is paused a request is held (backpressure), never answered 200.
//! - A body over `MaxBodySize` is never read into memory past the limit.
//! - On stop the listener closes first; requests in hand finish (commit and answer).

use super::port::{InboundContext, IntakeReply};
use super::{SettingsSource, address};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Connections served at once unless `MaxConnections` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: i64 = 1024;
/// Largest request body unless `MaxBodySize` says otherwise (as MLLP's `MaxFrameSize`).
pub const DEFAULT_MAX_BODY: i64 = 16 * 1024 * 1024;
/// `ReadTimeout` unless the item says otherwise.
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping listener lets open requests finish before dropping them.
const DRAIN: Duration = Duration::from_secs(10);
/// Connections the kernel holds before they are accepted (see `mllp_inbound`: many
/// senders reconnect at once after a break).
const LISTEN_BACKLOG: u32 = 4096;

/// What every request of one listener needs.
struct Shared {
    ctx: InboundContext,
    max_body: usize,
    read_timeout: Duration,
}

/// Binds `bind` with [`LISTEN_BACKLOG`] and `SO_REUSEADDR` (a restarted engine gets its
/// port back while old connections linger in TIME_WAIT).
fn listen(bind: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if bind.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(bind)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Binds the listener and starts accepting.
pub async fn start(ctx: InboundContext) -> Result<Vec<JoinHandle<()>>, String> {
    let settings = &ctx.settings;
    let port = hie_plugin_api::settings::parse_port(&settings.text("Port"))
        .map_err(|e| format!("adapter setting Port is required: {e}"))?;
    // Read again here (validation read them first) so a bad value never opens a
    // listener wider than configured.
    let local = address::local_interface(&settings.text("LocalInterface"))?;
    let peers = address::allowed_peers(&settings.text("AllowedIPAddresses"))?;
    let allowed = tokio::task::spawn_blocking(move || address::Allowed::resolve(&peers))
        .await
        .map_err(|e| format!("AllowedIPAddresses: {e}"))??;
    let e = |e: hie_plugin_api::settings::NamedSettingError| e.to_string();
    let max_connections = settings.int_or("MaxConnections", DEFAULT_MAX_CONNECTIONS).map_err(e)?;
    let max_body = settings.int_or("MaxBodySize", DEFAULT_MAX_BODY).map_err(e)?.max(1) as usize;
    let read_timeout = settings
        .seconds_or("ReadTimeout", Some(DEFAULT_READ_TIMEOUT))
        .map_err(e)?
        .unwrap_or(DEFAULT_READ_TIMEOUT)
        .max(Duration::from_millis(100));
    let tls = match settings.text("SSLConfig") {
        name if name.is_empty() => None,
        name => {
            let dir = std::path::PathBuf::from(settings.text("TLSDir"));
            let mut config = (*super::tls::server_config(&dir, &name)?).clone();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
        }
    };
    let bind = SocketAddr::new(local.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)), port);
    let listener = listen(bind).map_err(|e| format!("cannot listen on TCP {bind}: {e}"))?;
    tracing::info!(item = %ctx.item, port, address = %bind.ip(), tls = tls.is_some(), max_connections, "HTTP listener open");
    let limit = Arc::new(Semaphore::new(max_connections.clamp(1, Semaphore::MAX_PERMITS as i64) as usize));
    let shared = Arc::new(Shared { ctx: ctx.clone(), max_body, read_timeout });
    let task = ctx.runtime.spawn(accept_loop(shared, listener, allowed, tls, limit));
    Ok(vec![task])
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    allowed: address::Allowed,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limit: Arc<Semaphore>,
) {
    let ctx = &shared.ctx;
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(shared.read_timeout);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut refused_logged = Instant::now() - Duration::from_secs(60);
    loop {
        let (stream, peer) = tokio::select! {
            _ = ctx.stop.cancelled() => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most often: back off rather than spin.
                    tracing::warn!(item = %ctx.item, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if !allowed.admits(peer) {
            tracing::warn!(item = %ctx.item, %peer, "connection refused: address not in AllowedIPAddresses");
            continue;
        }
        // At MaxConnections a new connection is closed at once, never queued.
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            if refused_logged.elapsed() >= Duration::from_secs(1) {
                refused_logged = Instant::now();
                tracing::warn!(item = %ctx.item, %peer, "connection refused: MaxConnections reached");
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (shared, tls, builder, watcher) = (shared.clone(), tls.clone(), builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            connection(shared, stream, peer, tls, &builder, watcher).await;
            drop(permit);
        });
    }
    drop(listener);
    // Requests in hand finish (their messages are committed and answered), then close.
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!(item = %ctx.item, "HTTP requests still open {}s after stop; dropped", DRAIN.as_secs());
    }
}

/// Serves one connection, after a TLS handshake when the item has one.
async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    builder: &Builder<TokioExecutor>,
    graceful: Watcher,
) {
    let item = shared.ctx.item.clone();
    let read_timeout = shared.read_timeout;
    let router = {
        let shared = shared.clone();
        Router::new().fallback(move |req: Request| handle(shared.clone(), peer, req))
    };
    let service = TowerToHyperService::new(router);
    let served = match tls {
        None => graceful.watch(builder.serve_connection(TokioIo::new(stream), service).into_owned()).await,
        Some(acceptor) => match tokio::time::timeout(read_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => graceful.watch(builder.serve_connection(TokioIo::new(tls), service).into_owned()).await,
            Ok(Err(e)) => {
                tracing::warn!(%item, %peer, error = %e, "TLS handshake failed; connection closed");
                return;
            }
            Err(_) => {
                tracing::warn!(%item, %peer, "no TLS handshake within ReadTimeout; connection closed");
                return;
            }
        },
    };
    if let Err(e) = served {
        tracing::debug!(%item, %peer, error = %e, "HTTP connection ended");
    }
}

/// A plain-text answer (the reason a request was not taken).
fn plain(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"))], text).into_response()
}

/// Answers one request: reads its body within the limits, hands it to the sink, and
/// answers with the reply once the sink returns it (after the commit).
async fn handle(shared: Arc<Shared>, peer: SocketAddr, req: Request) -> Response {
    let ctx = &shared.ctx;
    if req.method() != Method::POST {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only POST takes a message in\n".into());
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let max = shared.max_body;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        tracing::warn!(item = %ctx.item, %peer, max, "request body larger than MaxBodySize: refused");
        return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over MaxBodySize ({max} bytes)\n"));
    }
    let attributes = request_attributes(&req, peer);
    let url = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let body = match tokio::time::timeout(shared.read_timeout, axum::body::to_bytes(req.into_body(), max)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            tracing::warn!(item = %ctx.item, %peer, max, error = %e, "request body unreadable or over MaxBodySize");
            return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("request body unreadable or over {max} bytes\n"));
        }
        Err(_) => {
            let secs = shared.read_timeout.as_secs_f64();
            tracing::warn!(item = %ctx.item, %peer, "request body not received within ReadTimeout");
            return plain(StatusCode::REQUEST_TIMEOUT, format!("request body not received within {secs} s\n"));
        }
    };
    let mut gate = ctx.gate.clone();
    if !gate.wait_open(&ctx.stop).await {
        return unavailable("the service is stopping; resend later\n".into());
    }
    let inbound = super::port::Inbound { body, origin: format!("http://{peer}{url}"), attributes };
    let reply = ctx.sink.submit(vec![inbound]).await.into_iter().next();
    match reply {
        Some(r) => answer(r),
        None => unavailable("the engine gave no answer; resend later\n".into()),
    }
}

/// 503 with `Retry-After`: nothing was stored, the sender should resend.
fn unavailable(text: String) -> Response {
    let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, text);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// The attributes of a request's message, named as IRIS's `EnsLib.HTTP.GenericMessage`
/// headers are, so classes read them whichever adapter the message came through.
fn request_attributes(req: &Request, peer: SocketAddr) -> Vec<(String, String)> {
    let url = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let mut attributes = vec![
        ("RemoteAddress".to_string(), peer.to_string()),
        ("HttpRequest".to_string(), req.method().as_str().to_string()),
        ("URL".to_string(), url),
    ];
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        attributes.push(("Content-Type".to_string(), ct.to_string()));
    }
    attributes
}

/// The response for a message's intake reply (see the module invariants).
fn answer(reply: IntakeReply) -> Response {
    let status = match (reply.accepted, reply.id) {
        (true, _) => StatusCode::OK,
        (false, 0) => StatusCode::SERVICE_UNAVAILABLE,
        (false, _) => StatusCode::BAD_REQUEST,
    };
    let body = reply.reply.unwrap_or_default();
    let mut r = Response::new(Body::from(Bytes::from(body.clone())));
    *r.status_mut() = status;
    if let Some(ct) = content_type(&body) {
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

/// The content type of a reply: HL7 v2 for an ACK, JSON for JSON, bytes otherwise.
fn content_type(body: &[u8]) -> Option<&'static str> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).map(|i| &body[i..])?;
    Some(if start.starts_with(b"MSH") {
        "application/hl7-v2"
    } else if start.starts_with(b"{") || start.starts_with(b"[") {
        "application/json"
    } else {
        "application/octet-stream"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_committed_message_is_answered_200_and_one_never_stored_asks_for_a_resend() {
        let r = |accepted, id| IntakeReply { reply: Some(b"MSH|^~\\&|x\r".to_vec()), accepted, id };
        assert_eq!(answer(r(true, 7)).status(), StatusCode::OK);
        let refused = answer(r(false, 0));
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.headers().contains_key(header::RETRY_AFTER));
        assert_eq!(answer(r(false, 7)).status(), StatusCode::BAD_REQUEST);
        assert_eq!(answer(r(true, 7)).headers()[header::CONTENT_TYPE], "application/hl7-v2");
    }

    #[test]
    fn the_reply_content_type_follows_its_first_bytes() {
        assert_eq!(content_type(b""), None);
        assert_eq!(content_type(b"  {\"a\":1}"), Some("application/json"));
        assert_eq!(content_type(b"MSH|^~\\&|"), Some("application/hl7-v2"));
        assert_eq!(content_type(b"\x00\x01"), Some("application/octet-stream"));
    }
}
