//! The engine ↔ worker protocol: length-prefixed frames (u32) carrying postcard-encoded
//! [`ToWorker`] and [`ToEngine`] values over a Unix socket pair.
//!
//! Flow control is by credit: the engine has at most two calls outstanding per worker
//! thread (`Init::threads`), so a thread finds its next call waiting; every `CallDone`
//! returns a credit. The worker writes each `CallDone` before its thread starts the next
//! call ([`FrameWriter`]), so when a worker dies the engine knows which calls finished.

use crate::engine::call::{CallResult, SendData};
use crate::lock::LockExt;
use crate::message::Header;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A pack staged by the engine, for a worker to load.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StagedPack {
    /// The staged (content-hashed) file.
    pub path: String,
    /// The deployed path (for messages).
    pub source: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Load generation in the engine.
    pub generation: u64,
}

/// Everything a worker needs to run an item.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Init {
    /// Item name (for logs and the context).
    pub item: String,
    /// Class to instantiate.
    pub class: String,
    /// The staged (content-hashed) pack file to load.
    pub pack_path: String,
    /// The deployed pack path (for messages).
    pub pack_source: String,
    /// SHA-256 of the pack.
    pub pack_sha256: String,
    /// Load generation of the pack in the engine.
    pub pack_generation: u64,
    /// Host adapter of the class (for operations).
    pub adapter: String,
    /// The item's settings, defaults applied.
    pub settings: BTreeMap<String, String>,
    /// Threads (instances) in this worker.
    pub threads: usize,
    /// Host-provided values answered by `setting("HIE.*")`.
    pub host_values: BTreeMap<String, String>,
    /// Names of the production's items (the `hie.items` extension).
    pub items: Vec<String>,
    /// The pack providing the class's adapter, when a pack (not the host) does: the
    /// worker loads it and runs the adapter here, so a crash in it takes this process only.
    pub adapter_pack: Option<StagedPack>,
    /// Whether this worker runs the service's inbound adapter loop (one worker does).
    pub run_inbound: bool,
}

/// Engine → worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// First frame: set up the item.
    Init(Box<Init>),
    /// Process one message.
    Call {
        /// Engine-side call id.
        id: u64,
        /// The header.
        header: Header,
        /// The body.
        body: Vec<u8>,
    },
    /// Answer to a worker's `SendSync` or `DeferredReply`.
    Answer {
        /// The worker's request id.
        id: u64,
        /// Reply bytes, or an error (kind, message).
        result: Result<Vec<u8>, (u8, String)>,
    },
    /// Stop: run `on_stop`/`on_teardown` and exit. A worker running the inbound adapter
    /// loop first only ends the loop (answers and calls are still served meanwhile) and
    /// says `InboundStopped`; the next `Shutdown` stops it.
    Shutdown,
    /// Whether the item takes input now (for the inbound adapter loop); sent at start and
    /// whenever it changes.
    Gate {
        /// Taking input.
        accepting: bool,
    },
}

/// One message an inbound adapter in a worker submits: `(body, origin, attributes)`.
pub type SubmittedMessage = (Vec<u8>, String, Vec<(String, String)>);

/// Worker → engine. (`CallDone` is boxed; the rest are small.)
#[derive(Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum ToEngine {
    /// Init done; instances are running.
    Ready {
        /// The worker's pid.
        pid: u32,
    },
    /// Init failed (pack load or `on_init`).
    InitFailed {
        /// Why.
        reason: String,
    },
    /// A call finished.
    CallDone {
        /// Engine-side call id.
        id: u64,
        /// Its result.
        result: Box<CallResult>,
    },
    /// A plugin log line.
    Log {
        /// `LogLevel` as u8.
        level: u8,
        /// Text.
        message: String,
    },
    /// A plugin counter increment.
    Count {
        /// Counter name.
        metric: String,
        /// Amount.
        delta: u64,
    },
    /// Plugin code calls another item synchronously.
    SendSync {
        /// Worker-side request id.
        id: u64,
        /// The message being processed, if any (the request is caused by it).
        caller: Option<(Header, Vec<u8>)>,
        /// What to send.
        send: SendData,
        /// Timeout; negative waits for ever.
        timeout_ms: i64,
    },
    /// The inbound adapter hands in messages (and its durable state) to commit; answered
    /// with the postcard-encoded `Vec<(reply, accepted, id)>`.
    Submit {
        /// Worker-side request id.
        id: u64,
        /// `(body, origin, attributes)` per message.
        batch: Vec<SubmittedMessage>,
        /// Adapter state committed with them.
        state: Vec<(String, String)>,
    },
    /// The inbound adapter asks for its durable state `key`; answered with the value's
    /// bytes, or an error when there is none.
    State {
        /// Worker-side request id.
        id: u64,
        /// The key.
        key: String,
    },
    /// The inbound adapter loop has ended after a `Shutdown` (its last submit answered);
    /// the worker still serves calls until the next `Shutdown`.
    InboundStopped,
    /// The inbound adapter reports a problem with its source (`None`: it is gone).
    AdapterProblem {
        /// What is wrong.
        problem: Option<String>,
    },
    /// Plugin code answers a deferred reply.
    DeferredReply {
        /// Worker-side request id.
        id: u64,
        /// The token.
        token: String,
        /// The reply body.
        body: Vec<u8>,
    },
}

/// Encodes a frame payload.
pub fn encode<T: Serialize>(v: &T) -> Result<bytes::Bytes, String> {
    postcard::to_allocvec(v).map(bytes::Bytes::from).map_err(|e| e.to_string())
}

/// Decodes a frame payload.
pub fn decode<'a, T: Deserialize<'a>>(b: &'a [u8]) -> Result<T, String> {
    postcard::from_bytes(b).map_err(|e| e.to_string())
}

/// The frame codec both sides use (u32 length prefix, 256 MiB cap).
pub fn codec() -> tokio_util::codec::LengthDelimitedCodec {
    tokio_util::codec::LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(256 * 1024 * 1024)
        .new_codec()
}

/// Writes frames to the engine from any thread, synchronously: a frame is in the socket
/// when [`FrameWriter::send`] returns.
///
/// Why not a writer task: the engine blames a worker's death on the calls whose results
/// it has not received. A result still queued inside this process when plugin code
/// crashes it on the next call would make the engine blame the finished message and
/// excuse the crashing one (so the crashing one would not be quarantined in time, and
/// an innocent one could be).
pub struct FrameWriter {
    /// The worker's end of the socket. It may be non-blocking (the reading half is
    /// driven by tokio and shares the file description), so writes wait for room.
    stream: std::sync::Mutex<std::os::unix::net::UnixStream>,
}

impl FrameWriter {
    /// A writer over `stream` (a clone of the socket the reader uses).
    pub fn new(stream: std::os::unix::net::UnixStream) -> FrameWriter {
        FrameWriter { stream: std::sync::Mutex::new(stream) }
    }

    /// Encodes `msg` and writes it as one length-prefixed frame (the framing of [`codec`]).
    pub fn send(&self, msg: &ToEngine) -> Result<(), String> {
        let payload = encode(msg)?;
        let len = u32::try_from(payload.len()).map_err(|_| "frame too large".to_string())?;
        let mut frame = Vec::with_capacity(4 + payload.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&payload);
        let mut stream = self.stream.lock_unpoisoned();
        write_all_waiting(&mut stream, &frame).map_err(|e| format!("cannot write to the engine: {e}"))
    }
}

/// `write_all` that waits for room when the socket is non-blocking.
fn write_all_waiting(stream: &mut std::os::unix::net::UnixStream, mut buf: &[u8]) -> std::io::Result<()> {
    use std::io::{ErrorKind, Write};
    use std::os::fd::AsRawFd;
    while !buf.is_empty() {
        match stream.write(buf) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let mut fd = libc::pollfd { fd: stream.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
                // SAFETY: one valid pollfd for a descriptor this stream owns; -1 waits until
                // the socket is writable or fails (then the next write reports why).
                unsafe { libc::poll(&mut fd, 1, -1) };
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
