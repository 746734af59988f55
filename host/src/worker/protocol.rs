//! The engine ↔ worker protocol: length-prefixed frames (u32) carrying postcard-encoded
//! [`ToWorker`] and [`ToEngine`] values over a Unix socket pair.
//!
//! Flow control is by credit: the engine never has more calls outstanding at a worker
//! than the worker has threads (`Init::threads`); every `CallDone` returns a credit.

use crate::engine::call::{CallResult, SendData};
use crate::message::Header;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Stop: run `on_stop`/`on_teardown` and exit.
    Shutdown,
}

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
