//! MLLP over TCP, inbound: accepts connections, frames messages, hands each to the
//! engine's intake and writes back the reply (ACK) after the message is committed.
//!
//! Settings (IRIS names): `Port`, `LocalInterface` (the local address to listen on;
//! empty = every interface), `AllowedIPAddresses` (comma list of addresses or server
//! names, each with an optional port; empty = any peer; see [`super::address`]),
//! `ReadTimeout` (seconds to wait for the rest of a started frame, default 5),
//! `StayConnected` (seconds a connection may sit idle; -1 = for ever), `MaxFrameSize`
//! (HIE: bytes, default 16 MiB).

use super::{AdapterSettings, address};
use crate::engine::{EngineInner, Inbound, ItemRuntime};
use bytes::Bytes;
use hie_hl7::mllp::{self, MllpDecoder, MllpItem};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Per-connection limits and TLS.
#[derive(Clone)]
struct ConnConfig {
    /// TLS (`SSLConfig`): every connection starts with a handshake; `None` = plain TCP.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Time allowed for the rest of a frame once it started.
    read_timeout: Duration,
    /// Idle time before the connection is closed; `None` = never.
    idle_timeout: Option<Duration>,
    /// Largest frame accepted.
    max_frame: usize,
}

/// Binds the listener and starts accepting.
pub async fn start(
    engine: Arc<EngineInner>,
    item: Arc<ItemRuntime>,
    settings: &AdapterSettings,
    stop: CancellationToken,
) -> Result<Vec<JoinHandle<()>>, String> {
    let port = settings.int("Port", 0);
    if !(1..=65535).contains(&port) {
        return Err(format!("adapter setting Port is required (got {:?})", settings.text("Port")));
    }
    // Validation has read both settings already; reading them again here keeps a bad
    // value from ever opening a listener wider than configured.
    let local = address::local_interface(&settings.text("LocalInterface"))?;
    let peers = address::allowed_peers(&settings.text("AllowedIPAddresses"))?;
    // Server names resolve through the system resolver, which blocks.
    let allowed = tokio::task::spawn_blocking(move || address::Allowed::resolve(&peers))
        .await
        .map_err(|e| format!("AllowedIPAddresses: {e}"))??;
    let bind = SocketAddr::new(local.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)), port as u16);
    let listener = TcpListener::bind(bind).await.map_err(|e| format!("cannot listen on TCP {bind}: {e}"))?;
    let stay = settings.int("StayConnected", -1);
    let tls = match settings.text("SSLConfig") {
        name if name.is_empty() => None,
        name => {
            let dir = std::path::PathBuf::from(settings.text("TLSDir"));
            Some(tokio_rustls::TlsAcceptor::from(super::tls::server_config(&dir, &name)?))
        }
    };
    let cfg = ConnConfig {
        tls,
        read_timeout: settings
            .seconds("ReadTimeout", 5.0)
            .unwrap_or(Duration::from_secs(5))
            .max(Duration::from_millis(100)),
        idle_timeout: (stay > 0).then(|| Duration::from_secs(stay as u64)),
        max_frame: settings.int("MaxFrameSize", mllp::DEFAULT_MAX_FRAME_SIZE as i64).max(1024) as usize,
    };
    let listener = listener.into_std().map_err(|e| format!("cannot hand TCP port {port} to the intake thread: {e}"))?;
    tracing::info!(item = %item.plan.name, port, address = %bind.ip(), tls = cfg.tls.is_some(), "MLLP listener open");
    let runtime = engine.runtime.clone();
    let name = item.plan.name.clone();
    // Helper intake threads take connections from the accepting one, round robin.
    let mut helpers = Vec::new();
    let mut ended = Vec::new();
    for _ in 1..intake_threads() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(std::net::TcpStream, SocketAddr)>();
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
        let (engine, item, cfg, stop) = (engine.clone(), item.clone(), cfg.clone(), stop.clone());
        std::thread::Builder::new()
            .name("hie-intake".into())
            .spawn(move || {
                let label = item.plan.name.clone();
                let e = engine.clone();
                intake_thread(&e, &label, serve_handed(engine, item, rx, cfg, stop));
                let _ = ended_tx.send(());
            })
            .map_err(|e| format!("cannot start an intake thread of {name}: {e}"))?;
        helpers.push(tx);
        ended.push(ended_rx);
    }
    let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
    ended.push(ended_rx);
    std::thread::Builder::new()
        .name("hie-intake".into())
        .spawn(move || {
            let label = item.plan.name.clone();
            let e = engine.clone();
            intake_thread(&e, &label, async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => accept_loop(engine, item, listener, allowed, cfg, stop, helpers).await,
                    Err(e) => tracing::error!(item = %item.plan.name, error = %e, "cannot listen on the intake thread"),
                }
            });
            let _ = ended_tx.send(());
        })
        .map_err(|e| format!("cannot start the intake thread of {name}: {e}"))?;
    let task = runtime.spawn(async move {
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

/// Runs `work` on this thread as an intake thread: a current-thread runtime of its own,
/// whose commits are gathered and written by this thread whenever the runtime has
/// nothing else to do (every connection waits for its ACK). The ACK path wakes no other
/// thread, and messages arriving together share one write and one sync.
fn intake_thread(engine: &Arc<EngineInner>, item: &str, work: impl std::future::Future<Output = ()>) {
    crate::journal::gather_on_this_thread();
    crate::engine::intake::defer_pushes_on_this_thread();
    let journal = engine.journal.clone();
    let hook = journal.clone();
    // Idle: every connection has written its ACK or waits for its commit. Wake the next
    // items for what was acknowledged, then write (and sync) what waits.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(move || {
            crate::engine::intake::push_deferred();
            hook.write_gathered();
        })
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(item, error = %e, "cannot start the intake runtime; the listener is closed");
            return;
        }
    };
    runtime.block_on(work);
    // Anything still gathered (its connection is gone) is written, not dropped, and
    // what was committed reaches its queues.
    journal.write_gathered();
    crate::engine::intake::push_deferred();
}

/// A helper intake thread's work: serves the connections the accepting thread hands it
/// until that thread stops, then lets them finish.
async fn serve_handed(
    engine: Arc<EngineInner>,
    item: Arc<ItemRuntime>,
    mut handed: tokio::sync::mpsc::UnboundedReceiver<(std::net::TcpStream, SocketAddr)>,
    cfg: ConnConfig,
    stop: CancellationToken,
) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while let Some((stream, peer)) = handed.recv().await {
        match TcpStream::from_std(stream) {
            Ok(stream) => {
                conns.retain(|c| !c.is_finished());
                conns.push(tokio::spawn(connection(
                    engine.clone(),
                    item.clone(),
                    stream,
                    peer,
                    cfg.clone(),
                    stop.clone(),
                )));
            }
            Err(e) => tracing::warn!(item = %item.plan.name, %peer, error = %e, "cannot take over a connection"),
        }
    }
    for c in conns {
        let _ = c.await;
    }
}

async fn accept_loop(
    engine: Arc<EngineInner>,
    item: Arc<ItemRuntime>,
    listener: TcpListener,
    allowed: address::Allowed,
    cfg: ConnConfig,
    stop: CancellationToken,
    helpers: Vec<tokio::sync::mpsc::UnboundedSender<(std::net::TcpStream, SocketAddr)>>,
) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    let mut next = 0usize;
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                if !allowed.admits(peer) {
                    tracing::warn!(item = %item.plan.name, %peer, "connection refused: address not in AllowedIPAddresses");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                next = next.wrapping_add(1);
                let share = next % (helpers.len() + 1);
                if share > 0 {
                    match stream.into_std() {
                        Ok(std_stream) => {
                            if helpers[share - 1].send((std_stream, peer)).is_err() {
                                tracing::warn!(item = %item.plan.name, %peer, "an intake thread is gone; connection closed");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(item = %item.plan.name, %peer, error = %e, "cannot hand a connection over")
                        }
                    }
                    continue;
                }
                conns.retain(|c| !c.is_finished());
                conns.push(tokio::spawn(connection(
                    engine.clone(),
                    item.clone(),
                    stream,
                    peer,
                    cfg.clone(),
                    stop.clone(),
                )));
            }
            Err(e) => {
                tracing::warn!(item = %item.plan.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    drop(helpers);
    // Connections finish the message in hand (commit + ACK), then close.
    for c in conns {
        let _ = c.await;
    }
}

/// Serves one accepted connection, after a TLS handshake when the service has one.
async fn connection(
    engine: Arc<EngineInner>,
    item: Arc<ItemRuntime>,
    stream: TcpStream,
    peer: SocketAddr,
    cfg: ConnConfig,
    stop: CancellationToken,
) {
    let Some(acceptor) = cfg.tls.clone() else {
        return serve(engine, item, stream, peer, cfg, stop).await;
    };
    // A peer that never finishes its handshake must not hold the connection for ever.
    match tokio::time::timeout(cfg.read_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => serve(engine, item, tls, peer, cfg, stop).await,
        Ok(Err(e)) => {
            tracing::warn!(item = %item.plan.name, %peer, error = %e, "TLS handshake failed; connection closed")
        }
        Err(_) => {
            tracing::warn!(item = %item.plan.name, %peer, "no TLS handshake within ReadTimeout; connection closed")
        }
    }
}

/// Hands `frames` to the intake as one batch (one commit) and writes their replies, in
/// order, in one write. A paused service holds them (backpressure) instead of refusing.
async fn take_in<S: tokio::io::AsyncWrite + Unpin>(
    engine: &Arc<EngineInner>,
    item: &Arc<ItemRuntime>,
    stream: &mut S,
    frames: Vec<Inbound>,
    stop: &CancellationToken,
) -> std::io::Result<()> {
    if frames.is_empty() {
        return Ok(());
    }
    while !item.accepting() {
        if stop.is_cancelled() {
            return Err(std::io::Error::other("the service stopped while paused"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replies = crate::engine::intake::intake(engine, item, frames).await;
    let mut out = Vec::new();
    for reply in replies.into_iter().filter_map(|r| r.reply) {
        mllp::encode_into(&mut out, &reply);
    }
    if out.is_empty() {
        return Ok(());
    }
    // Flushed: a TLS stream holds written bytes until then (plain TCP: no-op).
    stream.write_all(&out).await?;
    stream.flush().await
}

/// Serves one connection until the peer closes it, it idles out or the item stops.
async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    engine: Arc<EngineInner>,
    item: Arc<ItemRuntime>,
    mut stream: S,
    peer: SocketAddr,
    cfg: ConnConfig,
    stop: CancellationToken,
) {
    let origin = format!("mllp://{peer}");
    tracing::debug!(item = %item.plan.name, %peer, "connection open");
    let mut decoder = MllpDecoder::new(cfg.max_frame);
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Frames that arrived together (a pipelining sender) are taken in together: one
        // commit for all of them, then their ACKs in one write, in order.
        let mut frames: Vec<Inbound> = Vec::new();
        for event in decoder.decode(&mut buf) {
            match event {
                MllpItem::Frame(payload) => frames.push(Inbound {
                    body: Bytes::from(payload),
                    origin: origin.clone(),
                    attributes: vec![("RemoteAddress".into(), peer.to_string())],
                }),
                MllpItem::Oversize { discarded } => {
                    tracing::warn!(item = %item.plan.name, %peer, bytes = discarded, max = cfg.max_frame, "frame larger than MaxFrameSize: closing the connection");
                    // The frames before it still get their answers.
                    let _ = take_in(&engine, &item, &mut stream, std::mem::take(&mut frames), &stop).await;
                    let _ = stream.shutdown().await;
                    return;
                }
                MllpItem::JunkSkipped(n) => {
                    tracing::debug!(item = %item.plan.name, %peer, bytes = n, "skipped bytes outside an MLLP frame");
                }
            }
        }
        if let Err(e) = take_in(&engine, &item, &mut stream, frames, &stop).await {
            tracing::debug!(item = %item.plan.name, %peer, error = %e, "cannot write reply; closing");
            return;
        }
        if stop.is_cancelled() {
            return;
        }
        let wait = if decoder.in_frame() { Some(cfg.read_timeout) } else { cfg.idle_timeout };
        let read = async {
            match wait {
                Some(t) => tokio::time::timeout(t, stream.read(&mut chunk)).await.ok(),
                None => Some(stream.read(&mut chunk).await),
            }
        };
        let got = tokio::select! {
            _ = stop.cancelled() => return,
            r = read => r,
        };
        match got {
            None => {
                if decoder.in_frame() {
                    tracing::warn!(item = %item.plan.name, %peer, "ReadTimeout waiting for the rest of a frame: closing");
                } else {
                    tracing::debug!(item = %item.plan.name, %peer, "idle (StayConnected) timeout: closing");
                }
                return;
            }
            Some(Ok(0)) => {
                tracing::debug!(item = %item.plan.name, %peer, "connection closed by peer");
                return;
            }
            Some(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Some(Err(e)) => {
                tracing::debug!(item = %item.plan.name, %peer, error = %e, "read failed; closing");
                return;
            }
        }
    }
}
