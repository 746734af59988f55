//! Writing adapters (ABI 1.1): the I/O half of a class, shipped in a pack.
//!
//! An **outbound** adapter implements [`OutboundAdapter::call`]: deliver one message and
//! return the reply, or say whether a failure is worth a retry. The engine owns the
//! queue, the retries (`RetryInterval`, `FailureTimeout`), `ReplyCodeActions` and the
//! circuit breaker; an operation class reaches its adapter through
//! [`crate::Context::adapter_call`].
//!
//! An **inbound** adapter implements [`InboundAdapter::run`]: a blocking loop, on a thread
//! the host owns, that reads its source and hands messages to
//! [`InboundContext::submit`], which returns once they are committed. It holds input while
//! the item is paused ([`InboundContext::wait_accepting`]) and returns when the host asks
//! ([`InboundContext::sleep_or_stop`], [`InboundContext::stop_requested`]). It lets go of
//! its source (deletes a row, moves a file, advances a key) only for messages the replies
//! say are committed, and can commit its own position with them
//! ([`InboundContext::submit_with_state`]), so a crash at any point loses nothing.
//!
//! Declare adapters with [`AdapterDef`] and export them with [`crate::export_pack!`]'s
//! `adapters:` list. Every entry point runs behind a panic guard: a panic in adapter code
//! becomes an error the engine handles, never an abort.

use crate::abi::adapter::{
    AdapterDirection, AdapterSpecFfi, ClaimKind, ClaimSpec, InboundHostCtx, InboundMessage, SettingKindFfi,
    TypedSettingSpec,
};
use crate::context::{AdapterResponse, Context};
use crate::error::Error;
use crate::settings::SettingKind;
use abi_stable::std_types::{RStr, RString, RVec, Tuple2};
use std::time::Duration;

/// Which way an adapter moves messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A service's adapter.
    Inbound,
    /// An operation's adapter.
    Outbound,
}

/// One setting an adapter reads, with its kind.
#[derive(Clone, Debug)]
pub struct TypedSetting {
    /// Name as IRIS spells it.
    pub name: &'static str,
    /// What kind of value it holds (validation checks it before anything runs).
    pub kind: SettingKind,
    /// Default as text; `""` for none.
    pub default: &'static str,
    /// Whether the adapter cannot run without a value.
    pub required: bool,
    /// One line for `hie plugins`.
    pub doc: &'static str,
}

impl TypedSetting {
    /// An optional setting with a default.
    pub fn new(name: &'static str, kind: SettingKind, default: &'static str, doc: &'static str) -> TypedSetting {
        TypedSetting { name, kind, default, required: false, doc }
    }

    /// A setting the adapter cannot run without.
    pub fn required(name: &'static str, kind: SettingKind, doc: &'static str) -> TypedSetting {
        TypedSetting { name, kind, default: "", required: true, doc }
    }

    pub(crate) fn spec(&self) -> TypedSettingSpec {
        let (kind, min, max, choices) = match &self.kind {
            SettingKind::Text => (SettingKindFfi::Text, 0, 0, Vec::new()),
            SettingKind::Bool => (SettingKindFfi::Bool, 0, 0, Vec::new()),
            SettingKind::Int { min, max } => (SettingKindFfi::Int, *min, *max, Vec::new()),
            SettingKind::Port => (SettingKindFfi::Port, 1, 65535, Vec::new()),
            SettingKind::Seconds { forever: false } => (SettingKindFfi::Seconds, 0, 0, Vec::new()),
            SettingKind::Seconds { forever: true } => (SettingKindFfi::SecondsOrForever, 0, 0, Vec::new()),
            SettingKind::Number => (SettingKindFfi::Number, 0, 0, Vec::new()),
            SettingKind::Choice(c) => (SettingKindFfi::Choice, 0, 0, c.clone()),
            SettingKind::List => (SettingKindFfi::List, 0, 0, Vec::new()),
        };
        TypedSettingSpec {
            name: RString::from(self.name),
            kind,
            min,
            max,
            choices: choices.into_iter().map(RString::from).collect(),
            default: RString::from(self.default),
            required: self.required,
            doc: RString::from(self.doc),
        }
    }
}

/// A resource an adapter claims: no two enabled items may claim the same one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// A listening TCP port (`port`: the setting with the port; `interface`: the setting
    /// with the local address, if any).
    ListenPort {
        /// Setting with the port.
        port: &'static str,
        /// Setting with the local interface.
        interface: Option<&'static str>,
    },
    /// A directory the adapter polls (the setting with its path).
    Directory(&'static str),
}

/// Builds an inbound adapter for an item (its settings through the context).
pub type InboundConstructor = fn(&Context<'_>) -> Result<Box<dyn InboundAdapter>, Error>;
/// Builds an outbound adapter for an item.
pub type OutboundConstructor = fn(&Context<'_>) -> Result<Box<dyn OutboundAdapter>, Error>;

/// How an adapter is made.
#[derive(Clone, Copy)]
pub enum Constructor {
    /// An inbound adapter.
    Inbound(InboundConstructor),
    /// An outbound adapter.
    Outbound(OutboundConstructor),
}

/// An adapter a pack provides.
#[derive(Clone)]
pub struct AdapterDef {
    /// The name classes pair with ([`crate::ClassDef::adapter`]), e.g. `sql-inbound`.
    pub name: &'static str,
    /// One line for `hie plugins`.
    pub doc: &'static str,
    /// The settings it reads.
    pub settings: Vec<TypedSetting>,
    /// The resources it claims.
    pub claims: Vec<Claim>,
    /// How to make one.
    pub constructor: Constructor,
}

impl AdapterDef {
    /// An inbound adapter called `name`.
    pub fn inbound(name: &'static str, constructor: InboundConstructor) -> AdapterDef {
        AdapterDef {
            name,
            doc: "",
            settings: Vec::new(),
            claims: Vec::new(),
            constructor: Constructor::Inbound(constructor),
        }
    }

    /// An outbound adapter called `name`.
    pub fn outbound(name: &'static str, constructor: OutboundConstructor) -> AdapterDef {
        AdapterDef {
            name,
            doc: "",
            settings: Vec::new(),
            claims: Vec::new(),
            constructor: Constructor::Outbound(constructor),
        }
    }

    /// Sets the description.
    pub fn doc(mut self, doc: &'static str) -> Self {
        self.doc = doc;
        self
    }

    /// Adds settings.
    pub fn settings(mut self, settings: impl IntoIterator<Item = TypedSetting>) -> Self {
        self.settings.extend(settings);
        self
    }

    /// Adds a claim.
    pub fn claims(mut self, claim: Claim) -> Self {
        self.claims.push(claim);
        self
    }

    /// Inbound or outbound.
    pub fn direction(&self) -> Direction {
        match self.constructor {
            Constructor::Inbound(_) => Direction::Inbound,
            Constructor::Outbound(_) => Direction::Outbound,
        }
    }

    pub(crate) fn spec(&self) -> AdapterSpecFfi {
        AdapterSpecFfi {
            name: RString::from(self.name),
            direction: match self.direction() {
                Direction::Inbound => AdapterDirection::Inbound,
                Direction::Outbound => AdapterDirection::Outbound,
            },
            doc: RString::from(self.doc),
            settings: self.settings.iter().map(TypedSetting::spec).collect(),
            claims: self
                .claims
                .iter()
                .map(|c| match c {
                    Claim::ListenPort { port, interface } => ClaimSpec {
                        kind: ClaimKind::ListenPort,
                        setting: RString::from(*port),
                        interface_setting: RString::from(interface.unwrap_or("")),
                    },
                    Claim::Directory(setting) => ClaimSpec {
                        kind: ClaimKind::Directory,
                        setting: RString::from(*setting),
                        interface_setting: RString::new(),
                    },
                })
                .collect(),
        }
    }
}

/// Why an outbound call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterError {
    /// Whether a retry may succeed (the other side may come back).
    pub retryable: bool,
    /// What happened.
    pub message: String,
}

impl AdapterError {
    /// A failure worth a retry: a lost connection, a timeout, a server not ready.
    pub fn retryable(message: impl Into<String>) -> AdapterError {
        AdapterError { retryable: true, message: message.into() }
    }

    /// A failure no retry will fix: the message is refused as it is.
    pub fn fatal(message: impl Into<String>) -> AdapterError {
        AdapterError { retryable: false, message: message.into() }
    }
}

impl std::fmt::Display for AdapterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", if self.retryable { "(retryable) " } else { "" }, self.message)
    }
}

/// An outbound adapter: delivers one message per call. Called from several threads at
/// once when the item has a `PoolSize` above 1, hence `Sync`.
pub trait OutboundAdapter: Send + Sync {
    /// Delivers `body` with named `params` and returns the reply.
    fn call(&self, body: &[u8], params: &[(&str, &str)]) -> Result<AdapterResponse, AdapterError>;

    /// Releases connections (the item stops or the pack is swapped).
    fn close(&self) {}
}

/// A message an inbound adapter read.
#[derive(Clone, Debug, Default)]
pub struct Inbound {
    /// The bytes.
    pub body: Vec<u8>,
    /// Where it came from, e.g. `postgres://db/adt`.
    pub origin: String,
    /// Metadata kept with the message.
    pub attributes: Vec<(String, String)>,
}

/// What became of a submitted message.
#[derive(Clone, Debug)]
pub struct Submitted {
    /// The reply the service built (an ACK), if any.
    pub reply: Option<Vec<u8>>,
    /// Whether it is committed: only then may the adapter let go of its source.
    pub accepted: bool,
    /// Its journal id (0 when nothing was stored).
    pub id: u64,
}

/// An inbound adapter: a blocking loop on a host thread.
pub trait InboundAdapter: Send {
    /// Reads the source and submits until [`InboundContext::stop_requested`]. An error
    /// ends the loop; the host logs it and starts the adapter again with back-off.
    fn run(&mut self, ctx: &InboundContext<'_>) -> Result<(), Error>;
}

/// What an inbound adapter's loop can ask of the host.
pub struct InboundContext<'a> {
    raw: &'a InboundHostCtx,
}

impl<'a> InboundContext<'a> {
    pub(crate) fn new(raw: &'a InboundHostCtx) -> Self {
        InboundContext { raw }
    }

    /// Logs at `level`.
    pub fn log(&self, level: crate::LogLevel, message: &str) {
        self.raw.log(level, RStr::from_str(message));
    }

    /// A setting's value (defaults applied).
    pub fn setting(&self, name: &str) -> Option<String> {
        self.raw.setting(RStr::from_str(name)).into_option().map(|s| s.into_string())
    }

    /// Hands `batch` to the service and returns once it is committed: one result per
    /// message, in order.
    pub fn submit(&self, batch: Vec<Inbound>) -> Vec<Submitted> {
        self.submit_with_state(batch, &[])
    }

    /// Like [`InboundContext::submit`], committing `state` (durable key/value pairs,
    /// e.g. the last row key processed) in the same commit as the messages.
    pub fn submit_with_state(&self, batch: Vec<Inbound>, state: &[(&str, &str)]) -> Vec<Submitted> {
        let batch: RVec<InboundMessage> = batch
            .into_iter()
            .map(|m| InboundMessage {
                body: RVec::from(m.body),
                origin: RString::from(m.origin),
                attributes: m.attributes.into_iter().map(|(k, v)| Tuple2(RString::from(k), RString::from(v))).collect(),
            })
            .collect();
        let state: RVec<Tuple2<RString, RString>> =
            state.iter().map(|(k, v)| Tuple2(RString::from(*k), RString::from(*v))).collect();
        self.raw
            .submit(batch, state)
            .into_iter()
            .map(|r| Submitted { reply: r.reply.into_option().map(|b| b.into_vec()), accepted: r.accepted, id: r.id })
            .collect()
    }

    /// The durable state `key` as last committed (`None` before the first commit).
    pub fn state(&self, key: &str) -> Option<String> {
        self.raw.state(RStr::from_str(key)).into_option().map(|s| s.into_string())
    }

    /// Whether the item takes input now (false while paused).
    pub fn accepting(&self) -> bool {
        self.raw.accepting()
    }

    /// Blocks until the item takes input, `timeout` passes or a stop is asked for.
    pub fn wait_accepting(&self, timeout: Duration) -> bool {
        self.raw.wait_accepting(timeout.as_millis().min(u64::MAX as u128) as u64)
    }

    /// Sleeps `interval`, waking early for a stop; `false` when the adapter must stop.
    pub fn sleep_or_stop(&self, interval: Duration) -> bool {
        self.raw.wait(interval.as_millis().min(u64::MAX as u128) as u64)
    }

    /// Whether the host asks the adapter to return from `run`.
    pub fn stop_requested(&self) -> bool {
        self.raw.stop_requested()
    }
}
