//! MLLP over TCP, inbound: accepts connections, frames messages, hands them to the
//! item's intake sink and writes back each reply (ACK) after its message is committed.
//!
//! Settings (IRIS names): `Port`, `LocalInterface` (the local address to listen on;
//! empty = every interface), `AllowedIPAddresses` (comma list of addresses or server
//! names, each with an optional port; empty = any peer; see [`super::address`]),
//! `ReadTimeout` (seconds a started frame may take to arrive in full, default 5),
//! `StayConnected` (seconds a connection may sit idle; -1 = for ever), `MaxConnections`
//! (HIE: connections served at once, default 1024; more are refused and logged),
//! `MaxFrameSize` (HIE: bytes, default 16 MiB), and the service's Host setting `Framing`
//! (IRIS values, default `Flexible`; see [`hie_hl7::framing`]), which the adapter sees
//! because an adapter's settings are all of the item's class settings.
//!
//! # Invariants
//! - A reply is written only after the sink returned it, which is after the commit.
//! - A frame must arrive in full within `ReadTimeout` of its first byte, however slowly
//!   its bytes trickle in, so a slow sender cannot hold a connection (or memory) for long.
//! - An idle connection holds no read buffer beyond what its last frame needed.
//! - Each reply goes back in the framing its message came in (under `Flexible`, the one
//!   detected for that message).
//! - A message with no end marker (`Framing=None`, or unframed under `Flexible` until its
//!   end shows) ends at the next `MSH` line, when the sender closes, or when nothing more
//!   arrives within `ReadTimeout` of its first byte; any other unfinished frame is
//!   discarded then and the connection closed.

use super::port::{Inbound, InboundContext};
use super::{SettingsSource, address};
use bytes::Bytes;
use hie_hl7::framing::{Direction, Frame, Framing};
use hie_hl7::mllp::{self, MllpItem};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Connections a service serves at once unless `MaxConnections` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: i64 = 1024;

/// Per-connection limits and TLS.
#[derive(Clone)]
struct ConnConfig {
    /// TLS (`SSLConfig`): every connection starts with a handshake; `None` = plain TCP.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Time allowed for a frame to arrive in full once it started.
    read_timeout: Duration,
    /// Idle time before the connection is closed; `None` = never.
    idle_timeout: Option<Duration>,
    /// Largest frame accepted.
    max_frame: usize,
    /// How messages are framed (`Framing`).
    framing: Framing,
}

/// Connections the kernel holds before they are accepted. The standard library's 128 is
/// overrun when many senders reconnect at once (after a network break or an engine
/// restart): the kernel then drops their handshakes and each waits a second or more to
/// retry. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `bind` with [`LISTEN_BACKLOG`] (and `SO_REUSEADDR`, so a restarted engine gets its
/// port back while old connections linger in TIME_WAIT).
fn listen(bind: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if bind.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(bind)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A connection handed from the accepting thread to another intake thread.
type Handed = (std::net::TcpStream, SocketAddr, tokio::sync::OwnedSemaphorePermit);

/// Binds the listener and starts accepting.
pub async fn start(ctx: InboundContext) -> Result<Vec<JoinHandle<()>>, String> {
    let settings = &ctx.settings;
    let port = hie_plugin_api::settings::parse_port(&settings.text("Port"))
        .map_err(|e| format!("adapter setting Port is required: {e}"))?;
    // Validation has read both settings already; reading them again here keeps a bad
    // value from ever opening a listener wider than configured.
    let local = address::local_interface(&settings.text("LocalInterface"))?;
    let peers = address::allowed_peers(&settings.text("AllowedIPAddresses"))?;
    // Server names resolve through the system resolver, which blocks.
    let allowed = tokio::task::spawn_blocking(move || address::Allowed::resolve(&peers))
        .await
        .map_err(|e| format!("AllowedIPAddresses: {e}"))??;
    let bind = SocketAddr::new(local.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)), port);
    let listener = listen(bind).map_err(|e| format!("cannot listen on TCP {bind}: {e}"))?;
    let stay = settings.int_or("StayConnected", -1).map_err(|e| e.to_string())?;
    let max_connections = settings.int_or("MaxConnections", DEFAULT_MAX_CONNECTIONS).map_err(|e| e.to_string())?;
    let tls = match settings.text("SSLConfig") {
        name if name.is_empty() => None,
        name => {
            let dir = std::path::PathBuf::from(settings.text("TLSDir"));
            Some(tokio_rustls::TlsAcceptor::from(super::tls::server_config(&dir, &name)?))
        }
    };
    let read_timeout = settings
        .seconds_or("ReadTimeout", Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?
        .unwrap_or(Duration::from_secs(5));
    let cfg = ConnConfig {
        tls,
        read_timeout: read_timeout.max(Duration::from_millis(100)),
        idle_timeout: (stay > 0).then(|| Duration::from_secs(stay as u64)),
        max_frame: settings
            .int_or("MaxFrameSize", mllp::DEFAULT_MAX_FRAME_SIZE as i64)
            .map_err(|e| e.to_string())?
            .max(1024) as usize,
        framing: Framing::parse(&settings.text("Framing"), Direction::Inbound).map_err(|e| format!("Framing: {e}"))?,
    };
    let listener = listener.into_std().map_err(|e| format!("cannot hand TCP port {port} to the intake thread: {e}"))?;
    tracing::info!(item = %ctx.item, port, address = %bind.ip(), tls = cfg.tls.is_some(), max_connections, framing = %cfg.framing, "MLLP listener open");
    let limit = Arc::new(Semaphore::new(max_connections.clamp(1, Semaphore::MAX_PERMITS as i64) as usize));
    // Helper intake threads take connections from the accepting one, round robin.
    let mut helpers = Vec::new();
    let mut ended = Vec::new();
    for _ in 1..intake_threads() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Handed>();
        let work = serve_handed(ctx.clone(), rx, cfg.clone());
        ended.push(ctx.sink.spawn_intake_thread(Box::pin(work))?);
        helpers.push(tx);
    }
    let accept = {
        let ctx = ctx.clone();
        async move {
            match TcpListener::from_std(listener) {
                Ok(listener) => accept_loop(ctx, listener, allowed, cfg, limit, helpers).await,
                Err(e) => tracing::error!(item = %ctx.item, error = %e, "cannot listen on the intake thread"),
            }
        }
    };
    ended.push(ctx.sink.spawn_intake_thread(Box::pin(accept))?);
    let task = ctx.runtime.spawn(async move {
        for e in ended {
            let _ = e.await;
        }
    });
    Ok(vec![task])
}

/// Intake threads per MLLP service: one per core, at most four. Each serves its share of
/// the service's connections, so on a busy machine the service is not confined to one
/// thread's share of the CPU, and one thread's sync does not hold up the others' parsing.
fn intake_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
}

/// A helper intake thread's work: serves the connections the accepting thread hands it
/// until that thread stops, then lets them finish.
async fn serve_handed(ctx: InboundContext, mut handed: tokio::sync::mpsc::UnboundedReceiver<Handed>, cfg: ConnConfig) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while let Some((stream, peer, permit)) = handed.recv().await {
        match TcpStream::from_std(stream) {
            Ok(stream) => {
                conns.retain(|c| !c.is_finished());
                conns.push(tokio::spawn(connection(ctx.clone(), stream, peer, cfg.clone(), permit)));
            }
            Err(e) => tracing::warn!(item = %ctx.item, %peer, error = %e, "cannot take over a connection"),
        }
    }
    for c in conns {
        let _ = c.await;
    }
}

async fn accept_loop(
    ctx: InboundContext,
    listener: TcpListener,
    allowed: address::Allowed,
    cfg: ConnConfig,
    limit: Arc<Semaphore>,
    helpers: Vec<tokio::sync::mpsc::UnboundedSender<Handed>>,
) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    let mut next = 0usize;
    let mut refused_logged = Instant::now() - Duration::from_secs(60);
    loop {
        let accepted = tokio::select! {
            _ = ctx.stop.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(item = %ctx.item, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !allowed.admits(peer) {
            tracing::warn!(item = %ctx.item, %peer, "connection refused: address not in AllowedIPAddresses");
            continue;
        }
        // At MaxConnections a new connection is closed at once (the sender sees it and
        // retries later) rather than queued behind the others.
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            if refused_logged.elapsed() >= Duration::from_secs(1) {
                refused_logged = Instant::now();
                tracing::warn!(item = %ctx.item, %peer, "connection refused: MaxConnections reached");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        next = next.wrapping_add(1);
        let share = next % (helpers.len() + 1);
        if share > 0 {
            match stream.into_std() {
                Ok(std_stream) => {
                    if helpers[share - 1].send((std_stream, peer, permit)).is_err() {
                        tracing::warn!(item = %ctx.item, %peer, "an intake thread is gone; connection closed");
                    }
                }
                Err(e) => tracing::warn!(item = %ctx.item, %peer, error = %e, "cannot hand a connection over"),
            }
            continue;
        }
        conns.retain(|c| !c.is_finished());
        conns.push(tokio::spawn(connection(ctx.clone(), stream, peer, cfg.clone(), permit)));
    }
    drop(listener);
    drop(helpers);
    // Connections finish the message in hand (commit + ACK), then close.
    for c in conns {
        let _ = c.await;
    }
}

/// Serves one accepted connection, after a TLS handshake when the service has one. The
/// permit (a place under `MaxConnections`) is held until the connection ends.
async fn connection(
    ctx: InboundContext,
    stream: TcpStream,
    peer: SocketAddr,
    cfg: ConnConfig,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let Some(acceptor) = cfg.tls.clone() else {
        return serve(ctx, stream, peer, cfg).await;
    };
    // A peer that never finishes its handshake must not hold the connection for ever.
    match tokio::time::timeout(cfg.read_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => serve(ctx, tls, peer, cfg).await,
        Ok(Err(e)) => tracing::warn!(item = %ctx.item, %peer, error = %e, "TLS handshake failed; connection closed"),
        Err(_) => tracing::warn!(item = %ctx.item, %peer, "no TLS handshake within ReadTimeout; connection closed"),
    }
}

/// Hands `frames` to the sink as one batch (one commit) and writes their replies, in
/// order, in one write, each in the framing its message came in (`framings`, one per
/// frame). While the service is paused it holds them (backpressure).
async fn take_in<S: tokio::io::AsyncWrite + Unpin>(
    ctx: &InboundContext,
    stream: &mut S,
    frames: Vec<Inbound>,
    framings: Vec<Frame>,
) -> std::io::Result<()> {
    if frames.is_empty() {
        return Ok(());
    }
    let mut gate = ctx.gate.clone();
    if !gate.wait_open(&ctx.stop).await {
        return Err(std::io::Error::other("the service stopped while paused"));
    }
    let replies = ctx.sink.submit(frames).await;
    let mut out = Vec::new();
    let last = framings.last().copied().unwrap_or(Frame::MLLP);
    for (i, reply) in replies.into_iter().enumerate() {
        if let Some(reply) = reply.reply {
            framings.get(i).copied().unwrap_or(last).encode_into(&mut out, &reply);
        }
    }
    if out.is_empty() {
        return Ok(());
    }
    // Flushed: a TLS stream holds written bytes until then (plain TCP: no-op).
    stream.write_all(&out).await?;
    stream.flush().await
}

/// Bytes read at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Serves one connection until the peer closes it, it idles out or the item stops.
async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    ctx: InboundContext,
    mut stream: S,
    peer: SocketAddr,
    cfg: ConnConfig,
) {
    let origin = format!("mllp://{peer}");
    tracing::debug!(item = %ctx.item, %peer, "connection open");
    let mut decoder = cfg.framing.decoder(cfg.max_frame);
    let mut buf: Vec<u8> = Vec::new();
    // When the frame being read started: it must be complete within ReadTimeout.
    let mut frame_started: Option<Instant> = None;
    // The sender paused (or closed) in a message that ends on a pause: take it in.
    let mut paused = false;
    loop {
        // Frames that arrived together (a pipelining sender) are taken in together: one
        // commit for all of them, then their ACKs in one write, in order.
        let mut frames: Vec<Inbound> = Vec::new();
        let mut framings: Vec<Frame> = Vec::new();
        let events =
            if std::mem::take(&mut paused) { decoder.flush_decode(&mut buf) } else { decoder.decode(&mut buf) };
        for (event, frame) in events {
            match event {
                MllpItem::Frame(payload) => {
                    frames.push(Inbound {
                        body: Bytes::from(payload),
                        origin: origin.clone(),
                        attributes: vec![("RemoteAddress".into(), peer.to_string())],
                    });
                    framings.push(frame);
                }
                MllpItem::Oversize { discarded } => {
                    tracing::warn!(item = %ctx.item, %peer, bytes = discarded, max = cfg.max_frame, "frame larger than MaxFrameSize: closing the connection");
                    // The frames before it still get their answers.
                    let _ = take_in(&ctx, &mut stream, std::mem::take(&mut frames), framings).await;
                    let _ = stream.shutdown().await;
                    return;
                }
                MllpItem::JunkSkipped(n) => {
                    tracing::debug!(item = %ctx.item, %peer, bytes = n, framing = %frame, "skipped bytes outside a frame");
                }
            }
        }
        if let Err(e) = take_in(&ctx, &mut stream, frames, framings).await {
            tracing::debug!(item = %ctx.item, %peer, error = %e, "cannot write reply; closing");
            return;
        }
        if ctx.stop.is_cancelled() {
            return;
        }
        if !decoder.in_frame() {
            frame_started = None;
            // An idle connection keeps no buffer.
            if buf.is_empty() && buf.capacity() > READ_CHUNK {
                buf = Vec::new();
            }
        }
        let wait = match (decoder.in_frame(), frame_started) {
            (true, Some(at)) => Some(cfg.read_timeout.saturating_sub(at.elapsed())),
            (true, None) => Some(cfg.read_timeout),
            (false, _) => cfg.idle_timeout,
        };
        if decoder.in_frame() && frame_started.is_none() {
            frame_started = Some(Instant::now());
        }
        let got = tokio::select! {
            _ = ctx.stop.cancelled() => return,
            r = read_some(&mut stream, &mut buf, wait) => r,
        };
        match got {
            None | Some(Ok(0)) if decoder.ends_on_pause() => {
                // A message with no end marker is complete once the sender pauses or
                // closes; a closed connection is noticed on the next read.
                paused = true;
            }
            None => {
                if decoder.in_frame() {
                    tracing::warn!(item = %ctx.item, %peer, timeout_s = cfg.read_timeout.as_secs_f64(), "a frame did not arrive in full within ReadTimeout: closing");
                } else {
                    tracing::debug!(item = %ctx.item, %peer, "idle (StayConnected) timeout: closing");
                }
                return;
            }
            Some(Ok(0)) => {
                tracing::debug!(item = %ctx.item, %peer, "connection closed by peer");
                return;
            }
            Some(Ok(_)) => {
                // The first byte of a frame starts its clock (set above once the decoder
                // sees it in a frame).
            }
            Some(Err(e)) => {
                tracing::debug!(item = %ctx.item, %peer, error = %e, "read failed; closing");
                return;
            }
        }
    }
}

/// Reads what is available into `buf`, waiting at most `wait`; `None` on timeout. An
/// empty buffer (an idle connection) waits with a small buffer on the stack, so idle
/// connections cost no heap buffer; within a frame it grows `buf` by [`READ_CHUNK`].
async fn read_some<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    wait: Option<Duration>,
) -> Option<std::io::Result<usize>> {
    let read = async {
        if buf.is_empty() {
            let mut first = [0u8; 1024];
            let n = stream.read(&mut first).await?;
            buf.extend_from_slice(&first[..n]);
            return Ok(n);
        }
        buf.reserve(READ_CHUNK);
        let mut limited = (&mut *stream).take(READ_CHUNK as u64);
        limited.read_buf(buf).await
    };
    match wait {
        Some(t) => tokio::time::timeout(t, read).await.ok(),
        None => Some(read.await),
    }
}
