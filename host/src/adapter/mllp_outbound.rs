//! MLLP over TCP, outbound: sends a frame, reads the reply frame.
//!
//! Settings (IRIS names): `IPAddress`, `Port`, `StayConnected` (-1: keep the connection;
//! 0: close after each message; N: close after N idle seconds), `ConnectTimeout` (5),
//! `ResponseTimeout` (30), `LocalInterface` (the local address to connect from; empty =
//! the system's choice), `MaxFrameSize` (HIE), and the operation's Host setting `Framing`
//! (IRIS values, default `MLLP`; see [`hie_hl7::framing`]). Connections are pooled, one per
//! concurrent call, and re-established on the next call after any failure.
//!
//! # Invariants
//! - A message is sent in the configured framing and its reply read in the same one
//!   (`Flexible`: sent as MLLP, the reply's framing detected).
//! - A reply with no end marker (`Framing=None`) ends when the receiver closes the
//!   connection or sends nothing more for [`UNFRAMED_REPLY_PAUSE`]; the connection is then
//!   not reused.

use super::tls::{ByteStream as Stream, Connector};
use super::{AdapterResult, AdapterSettings, OutboundAdapter, SettingsSource};
use crate::lock::LockExt;
use futures::future::BoxFuture;
use hie_hl7::framing::{Direction, Framing};
use hie_hl7::mllp::{self, MllpItem};
use hie_plugin_api::abi::{ErrorKind, PluginError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An open connection and when it was last used.
struct Conn {
    /// The socket.
    stream: Box<dyn Stream>,
    /// Last use, for the StayConnected idle limit.
    last_used: Instant,
}

/// Connection settings.
#[derive(Clone)]
struct Config {
    /// `host:port` to connect to.
    address: String,
    /// TLS (`SSLConfig`): the client configuration and the name the receiver's
    /// certificate must carry (its `IPAddress`). `None` = plain TCP; `Err` keeps a setting
    /// that could not be loaded to report at connect time (validation refuses it first).
    tls: Option<Connector>,
    /// Local address to connect from (`LocalInterface`); `None` lets the system choose.
    /// `Err` keeps an unreadable setting to report at connect time (validation refuses it first).
    local: Result<Option<std::net::IpAddr>, String>,
    /// -1 keep, 0 close after each message, N idle seconds.
    stay_connected: i64,
    /// Connect timeout.
    connect_timeout: Duration,
    /// Reply timeout; `None` waits for ever.
    response_timeout: Option<Duration>,
    /// Largest reply frame accepted.
    max_frame: usize,
    /// How messages and replies are framed (`Framing`).
    framing: Framing,
}

/// How long a reply with no end marker (`Framing=None`) may pause before it is taken as
/// complete. IRIS has the adapter's ReadTimeout for this, which HIE's operations do not
/// declare.
pub const UNFRAMED_REPLY_PAUSE: Duration = Duration::from_secs(1);

/// The MLLP client of one operation.
pub struct MllpClient {
    /// Settings.
    config: Arc<Config>,
    /// Idle connections.
    idle: Arc<Mutex<Vec<Conn>>>,
}

impl MllpClient {
    /// A client for the operation's settings (connects lazily).
    pub fn new(settings: &AdapterSettings, _runtime: tokio::runtime::Handle) -> Result<Self, String> {
        let host = settings.text("IPAddress");
        if host.is_empty() {
            return Err("adapter setting IPAddress is required".into());
        }
        let port = hie_plugin_api::settings::parse_port(&settings.text("Port"))
            .map_err(|e| format!("adapter setting Port is required: {e}"))?;
        let e = |e: hie_plugin_api::settings::NamedSettingError| e.to_string();
        Ok(MllpClient {
            config: Arc::new(Config {
                address: format!("{host}:{port}"),
                tls: super::tls::connector(settings, &host),
                local: super::address::local_interface(&settings.text("LocalInterface")),
                stay_connected: settings.int_or("StayConnected", -1).map_err(e)?,
                connect_timeout: settings
                    .seconds_or("ConnectTimeout", Some(Duration::from_secs(5)))
                    .map_err(e)?
                    .unwrap_or(Duration::from_secs(5)),
                response_timeout: settings.seconds_or("ResponseTimeout", Some(Duration::from_secs(30))).map_err(e)?,
                max_frame: settings.int_or("MaxFrameSize", mllp::DEFAULT_MAX_FRAME_SIZE as i64).map_err(e)?.max(1024)
                    as usize,
                framing: Framing::parse(&settings.text("Framing"), Direction::Outbound)
                    .map_err(|e| format!("Framing: {e}"))?,
            }),
            idle: Arc::new(Mutex::new(Vec::new())),
        })
    }
}

fn disconnected(msg: String) -> PluginError {
    PluginError::new(ErrorKind::Disconnected, msg)
}

/// Connects to `config.address`, from `local` when one is set (resolving the remote
/// address first, since the socket must be bound before it connects).
async fn open(config: &Config) -> std::io::Result<TcpStream> {
    let local = config.local.clone().map_err(std::io::Error::other)?;
    let Some(local) = local else { return TcpStream::connect(&config.address).await };
    let remote = tokio::net::lookup_host(&config.address)
        .await?
        .find(|a| a.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| std::io::Error::other(format!("no address of the family of LocalInterface {local}")))?;
    let socket = if local.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.bind(std::net::SocketAddr::new(local, 0))?;
    socket.connect(remote).await
}

/// Connects and, with `SSLConfig`, completes the TLS handshake.
async fn connect_stream(config: &Config) -> std::io::Result<Box<dyn Stream>> {
    let tcp = open(config).await?;
    let _ = tcp.set_nodelay(true);
    super::tls::over(tcp, config.tls.as_ref()).await
}

async fn connect(config: &Config) -> Result<Box<dyn Stream>, PluginError> {
    match tokio::time::timeout(config.connect_timeout, connect_stream(config)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(disconnected(format!("cannot connect to {}: {e}", config.address))),
        Err(_) => Err(disconnected(format!(
            "cannot connect to {}: no answer within ConnectTimeout {}s",
            config.address,
            config.connect_timeout.as_secs_f64()
        ))),
    }
}

/// Writes a frame out (a TLS stream holds written bytes until flushed).
async fn send(stream: &mut Box<dyn Stream>, frame: &[u8]) -> std::io::Result<()> {
    stream.write_all(frame).await?;
    stream.flush().await
}

/// Reads one reply frame, skipping MLLP release 2 commit acknowledgements. `Ok` with
/// `false`: the reply ended on a pause or a close, so the connection is not reused.
async fn read_reply(stream: &mut Box<dyn Stream>, config: &Config) -> Result<(Vec<u8>, bool), PluginError> {
    let mut decoder = config.framing.decoder(config.max_frame);
    let mut buf = Vec::with_capacity(4096);
    let mut paused = false;
    loop {
        let items = if paused { decoder.flush_decode(&mut buf) } else { decoder.decode(&mut buf) };
        for (item, _) in items {
            match item {
                MllpItem::Frame(f) if f.as_slice() == [0x06] => {}
                MllpItem::Frame(f) => return Ok((f, !paused)),
                MllpItem::Oversize { .. } => {
                    return Err(PluginError::new(ErrorKind::Failed, "reply frame larger than MaxFrameSize"));
                }
                MllpItem::JunkSkipped(_) => {}
            }
        }
        if paused {
            return Err(disconnected(format!("{} closed the connection before replying", config.address)));
        }
        // Straight into `buf`: no zeroed scratch buffer per reply.
        buf.reserve(4096);
        let read = if decoder.ends_on_pause() {
            match tokio::time::timeout(UNFRAMED_REPLY_PAUSE, stream.read_buf(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    paused = true;
                    continue;
                }
            }
        } else {
            stream.read_buf(&mut buf).await
        };
        match read {
            Ok(0) if decoder.ends_on_pause() => paused = true,
            Ok(0) => return Err(disconnected(format!("{} closed the connection before replying", config.address))),
            Ok(_) => {}
            Err(e) => return Err(disconnected(format!("reading reply from {}: {e}", config.address))),
        }
    }
}

impl OutboundAdapter for MllpClient {
    fn call(&self, body: Vec<u8>, _params: Vec<(String, String)>) -> BoxFuture<'static, AdapterResult> {
        let config = self.config.clone();
        let idle = self.idle.clone();
        Box::pin(async move {
            let reusable = {
                let mut pool = idle.lock_unpoisoned();
                let mut found = None;
                while let Some(c) = pool.pop() {
                    let expired = config.stay_connected > 0
                        && c.last_used.elapsed() > Duration::from_secs(config.stay_connected as u64);
                    if !expired {
                        found = Some(c);
                        break;
                    }
                }
                found
            };
            let mut stream = match reusable {
                Some(c) => c.stream,
                None => connect(&config).await?,
            };
            let framed = config.framing.send_frame().encode(&body);
            if let Err(e) = send(&mut stream, &framed).await {
                // A pooled connection may have been closed by the peer: one fresh attempt.
                tracing::debug!(address = %config.address, error = %e, "write on pooled connection failed; reconnecting");
                stream = connect(&config).await?;
                send(&mut stream, &framed)
                    .await
                    .map_err(|e| disconnected(format!("writing to {}: {e}", config.address)))?;
            }
            let (reply, reusable) = match config.response_timeout {
                Some(t) => match tokio::time::timeout(t, read_reply(&mut stream, &config)).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(PluginError::new(
                            ErrorKind::Timeout,
                            format!("no reply from {} within ResponseTimeout {}s", config.address, t.as_secs_f64()),
                        ));
                    }
                },
                None => read_reply(&mut stream, &config).await?,
            };
            if config.stay_connected != 0 && reusable {
                idle.lock_unpoisoned().push(Conn { stream, last_used: Instant::now() });
            }
            Ok((reply, Vec::new()))
        })
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let conns: Vec<Conn> = std::mem::take(&mut *self.idle.lock_unpoisoned());
        Box::pin(async move {
            drop(conns);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_to(port: u16, local_interface: &str) -> Config {
        Config {
            address: format!("127.0.0.1:{port}"),
            tls: None,
            local: super::super::address::local_interface(local_interface),
            stay_connected: -1,
            connect_timeout: Duration::from_secs(5),
            response_timeout: None,
            max_frame: 1 << 20,
            framing: Framing::default_for(Direction::Outbound),
        }
    }

    /// A receiver that reads one message ending in `end`, answers `reply` and closes.
    fn answer_once(end: &'static [u8], reply: &'static [u8]) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = listener.local_addr().expect("addr").port();
        let receiver = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut got = Vec::new();
            let mut chunk = [0u8; 1024];
            while !got.ends_with(end) {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = s.write_all(reply);
            got
        });
        (port, receiver)
    }

    #[tokio::test]
    async fn a_none_framed_reply_ends_when_the_receiver_closes_and_the_connection_is_not_pooled() {
        let (port, receiver) = answer_once(b"PID|1\r", b"MSH|^~\\&|B\rMSA|AA|1\r");
        let config = Config { framing: Framing::Fixed(hie_hl7::framing::Frame::None), ..config_to(port, "") };
        let client = MllpClient { config: Arc::new(config), idle: Arc::new(Mutex::new(Vec::new())) };
        let (reply, _) = client.call(b"MSH|^~\\&|A\rPID|1\r".to_vec(), Vec::new()).await.expect("reply");
        assert_eq!(reply, b"MSH|^~\\&|B\rMSA|AA|1\r");
        assert_eq!(receiver.join().expect("receiver"), b"MSH|^~\\&|A\rPID|1\r", "sent unframed");
        assert!(client.idle.lock_unpoisoned().is_empty(), "a closed connection is not reused");
    }

    #[tokio::test]
    async fn an_ascii_cr_operation_sends_the_extra_cr_and_reads_the_reply_up_to_it() {
        let (port, receiver) = answer_once(b"\r\r", b"MSH|^~\\&|B\rMSA|AA|1\r\r");
        let framing = Framing::parse("AsciiCR", Direction::Outbound).expect("AsciiCR");
        let client = MllpClient {
            config: Arc::new(Config { framing, ..config_to(port, "") }),
            idle: Arc::new(Mutex::new(Vec::new())),
        };
        let (reply, _) = client.call(b"MSH|^~\\&|A\r".to_vec(), Vec::new()).await.expect("reply");
        assert_eq!(reply, b"MSH|^~\\&|B\rMSA|AA|1\r");
        assert_eq!(receiver.join().expect("receiver"), b"MSH|^~\\&|A\r\r");
    }

    #[tokio::test]
    async fn connections_leave_from_the_local_interface_when_one_is_set() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = listener.local_addr().expect("addr").port();
        let _from_local = open(&config_to(port, "lo (127.0.0.3)")).await.expect("connect from 127.0.0.3");
        let (_, peer) = listener.accept().expect("accept");
        assert_eq!(peer.ip().to_string(), "127.0.0.3");
        let _default = open(&config_to(port, "")).await.expect("connect");
        let (_, peer) = listener.accept().expect("accept");
        assert_eq!(peer.ip().to_string(), "127.0.0.1", "the system's choice");
        let err = open(&config_to(port, "eth0")).await.expect_err("an unreadable LocalInterface");
        assert!(err.to_string().contains("LocalInterface"), "{err}");
    }
}
