//! ABI 1.1: adapters in packs, and what a pack says about itself beyond 1.0.
//!
//! A 1.1 pack fills the root module's optional fields ([`super::PackRoot::manifest_ext`],
//! [`super::PackRoot::create_outbound_adapter`], [`super::PackRoot::create_inbound_adapter`]);
//! a 1.0 pack lacks them and still loads, and a 1.0 host ignores them.
//!
//! # Compatibility rules
//! The rules of [`super`] apply: the structs and enums here are frozen from 1.1 on (new
//! data travels through `extension` fields and methods), and the trait objects are prefix
//! types whose last prefix method is `extension`.
//!
//! # Threads
//! Packs have no async runtime. An inbound adapter's [`InboundAdapterFfi::run`] is a
//! blocking loop the host runs on a thread of its own, until the host asks it to stop
//! ([`InboundHostApi::stop_requested`], [`InboundHostApi::wait`]); an outbound adapter's
//! [`OutboundAdapterFfi::call`] blocks the calling thread until the other side answered.

#![allow(non_local_definitions)]

use super::{AdapterReply, HostCtx, ItemBox, LogLevel, PackManifest, PluginError};
use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RArc, RBox, ROption, RResult, RSlice, RStr, RString, RVec, Tuple2},
};

/// The root module a 1.1 pack exports: 1.0's two fields, then the three 1.1 adds. The
/// host loads every pack through its 1.0 view ([`super::PackRoot`]) and then tries this
/// one (see "How a minor adds to the root module" in [`super`]).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PackRootRef)))]
#[sabi(missing_field(option))]
pub struct PackRoot {
    /// As in 1.0: the pack's manifest.
    pub manifest: extern "C" fn() -> PackManifest,
    /// As in 1.0: constructs an instance of `class` for the item named `item_name`. The
    /// prefix ends here, as in 1.0 (abi_stable requires the same prefix of both views).
    #[sabi(last_prefix_field)]
    pub create_item:
        extern "C" fn(class: RStr<'_>, item_name: RStr<'_>, ctx: &HostCtx) -> RResult<ItemBox, PluginError>,
    /// The pack's ABI minor, vendor, minimum host version, adapters and typed class
    /// settings.
    pub manifest_ext: extern "C" fn() -> PackManifestExt,
    /// Constructs the outbound adapter `adapter` for the item named `item_name` (`ctx`:
    /// the item's settings and logging).
    pub create_outbound_adapter: extern "C" fn(
        adapter: RStr<'_>,
        item_name: RStr<'_>,
        ctx: &HostCtx,
    ) -> RResult<OutboundAdapterBox, PluginError>,
    /// Constructs the inbound adapter `adapter` for the item named `item_name`.
    pub create_inbound_adapter:
        extern "C" fn(adapter: RStr<'_>, item_name: RStr<'_>, ctx: &HostCtx) -> RResult<InboundAdapterBox, PluginError>,
}

impl RootModule for PackRootRef {
    declare_root_module_statics! {PackRootRef}
    const BASE_NAME: &'static str = "hie_pack";
    const NAME: &'static str = "hie_pack";
    // Frozen for ABI generation 1, as the 1.0 view's.
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.0.0");
}

/// Which way an adapter moves messages.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterDirection {
    /// Takes messages in: a service's adapter.
    Inbound = 0,
    /// Sends messages out: an operation's adapter.
    Outbound = 1,
}

/// The kind of value a setting holds, for validation before anything runs.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingKindFfi {
    /// Any text.
    Text = 0,
    /// A boolean (`1/0/true/false/yes/no/on/off`).
    Bool = 1,
    /// A whole number in `min..=max`.
    Int = 2,
    /// A port, 1–65535.
    Port = 3,
    /// Seconds, 0 or more.
    Seconds = 4,
    /// Seconds, or a negative number for "for ever".
    SecondsOrForever = 5,
    /// Any number.
    Number = 6,
    /// One of `choices`.
    Choice = 7,
    /// A comma-separated list.
    List = 8,
}

/// A setting with its kind.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct TypedSettingSpec {
    /// Name as IRIS spells it.
    pub name: RString,
    /// What kind of value it holds.
    pub kind: SettingKindFfi,
    /// Smallest value, for [`SettingKindFfi::Int`].
    pub min: i64,
    /// Largest value, for [`SettingKindFfi::Int`].
    pub max: i64,
    /// The words accepted, for [`SettingKindFfi::Choice`].
    pub choices: RVec<RString>,
    /// Default value as text; empty for none.
    pub default: RString,
    /// Whether the adapter (or class) cannot run without a value.
    pub required: bool,
    /// One line for `hie plugins`.
    pub doc: RString,
}

/// What kind of resource a claim takes.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimKind {
    /// A listening TCP port: `setting` holds the port, `interface_setting` (may be empty)
    /// the local address.
    ListenPort = 0,
    /// A directory the adapter polls: `setting` holds its path.
    Directory = 1,
}

/// A resource an adapter takes for itself: no two enabled items may claim the same one.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct ClaimSpec {
    /// What kind of resource.
    pub kind: ClaimKind,
    /// The setting naming it.
    pub setting: RString,
    /// For a port: the setting holding the local interface; empty when none.
    pub interface_setting: RString,
}

/// An adapter a pack provides.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct AdapterSpecFfi {
    /// The name classes pair with, e.g. `sql-inbound`.
    pub name: RString,
    /// Inbound or outbound.
    pub direction: AdapterDirection,
    /// One line for `hie plugins`.
    pub doc: RString,
    /// Every setting the adapter reads.
    pub settings: RVec<TypedSettingSpec>,
    /// The resources it claims.
    pub claims: RVec<ClaimSpec>,
}

/// The kind of one of a class's settings (1.0's [`super::SettingSpec`] has none).
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct ClassSettingKind {
    /// The class.
    pub class: RString,
    /// The setting, typed.
    pub setting: TypedSettingSpec,
}

/// What a 1.1 pack says about itself beyond [`super::PackManifest`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct PackManifestExt {
    /// The ABI minor the pack needs (1 for 1.1). A host with a lower minor refuses the
    /// pack with a reason, rather than loading what it cannot run.
    pub abi_minor: u32,
    /// Who made the pack.
    pub vendor: RString,
    /// The oldest host version the pack runs on (e.g. `0.2.0`); empty for any.
    pub min_host_version: RString,
    /// The adapters it provides.
    pub adapters: RVec<AdapterSpecFfi>,
    /// Kinds of its classes' settings, for validation.
    pub class_settings: RVec<ClassSettingKind>,
    /// JSON for data added by later minors (`{}` in 1.1).
    pub extension: RString,
}

/// Why an outbound call failed, and whether retrying may help.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct AdapterFailure {
    /// `true`: the other side may come back (connection lost, timed out): the engine
    /// retries per the item's `RetryInterval` and `FailureTimeout`. `false`: this message
    /// will never go through as it is (a constraint violation): it fails.
    pub retryable: bool,
    /// What happened, for the journal and the log.
    pub message: RString,
}

/// An outbound adapter instance. The engine owns the queue, retries and reply handling;
/// the adapter delivers one message per call.
#[sabi_trait]
pub trait OutboundAdapterFfi: Send + Sync {
    /// Delivers `body` with named `params` (e.g. SQL parameters) and returns the reply.
    fn call(
        &self,
        body: RSlice<'_, u8>,
        params: RSlice<'_, Tuple2<RStr<'_>, RStr<'_>>>,
    ) -> RResult<AdapterReply, AdapterFailure>;

    /// Releases connections (the item stops or the pack is swapped).
    fn close(&self);

    /// Named capabilities added after 1.1 (`RNone` when unknown).
    #[sabi(last_prefix_field)]
    fn extension(&self, name: RStr<'_>, input: RSlice<'_, u8>) -> ROption<RResult<RVec<u8>, PluginError>>;
}

/// An owned outbound adapter.
pub type OutboundAdapterBox = OutboundAdapterFfi_TO<'static, RBox<()>>;

/// One message an inbound adapter hands the engine.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct InboundMessage {
    /// The bytes.
    pub body: RVec<u8>,
    /// Where it came from, e.g. `postgres://db/adt`.
    pub origin: RString,
    /// Metadata kept with the message (e.g. the row's key).
    pub attributes: RVec<Tuple2<RString, RString>>,
}

/// What became of one submitted message.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct InboundReply {
    /// The reply the service built (an ACK), if any.
    pub reply: ROption<RVec<u8>>,
    /// Whether the message is committed: only then may the adapter let go of its source
    /// (delete the row, advance its key).
    pub accepted: bool,
    /// The message's journal id (0 when nothing was stored).
    pub id: u64,
}

/// What the host offers an inbound adapter's loop. Implemented by the host.
#[sabi_trait]
pub trait InboundHostApi: Clone + Send + Sync {
    /// Writes a log line into the host's log, tagged with the item.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// The value of one of the item's settings (defaults applied).
    fn setting(&self, name: RStr<'_>) -> ROption<RString>;

    /// Hands `batch` to the service and commits it with `state` (the adapter's durable
    /// key/value state, e.g. the last row key processed) in one commit; blocks until the
    /// commit is durable and returns one reply per message, in order.
    fn submit(&self, batch: RVec<InboundMessage>, state: RVec<Tuple2<RString, RString>>) -> RVec<InboundReply>;

    /// The adapter's durable state `key` as last committed.
    fn state(&self, key: RStr<'_>) -> ROption<RString>;

    /// Whether the item takes input now (false while paused).
    fn accepting(&self) -> bool;

    /// Blocks until the item takes input, `timeout_ms` passes or the host asks the
    /// adapter to stop; returns whether it takes input.
    fn wait_accepting(&self, timeout_ms: u64) -> bool;

    /// Sleeps `timeout_ms` (e.g. its `CallInterval`), waking early when the host asks the
    /// adapter to stop; returns `false` then.
    fn wait(&self, timeout_ms: u64) -> bool;

    /// Whether the host asks the adapter to return from `run`.
    fn stop_requested(&self) -> bool;

    /// Named capabilities added after 1.1 (`RNone` when unknown).
    #[sabi(last_prefix_field)]
    fn extension(&self, name: RStr<'_>, input: RSlice<'_, u8>) -> ROption<RResult<RVec<u8>, PluginError>>;
}

/// The inbound host context as packs receive it.
pub type InboundHostCtx = InboundHostApi_TO<'static, RArc<()>>;

/// An inbound adapter instance: a blocking loop that reads its source and submits.
#[sabi_trait]
pub trait InboundAdapterFfi: Send {
    /// Runs until [`InboundHostApi::stop_requested`]; returns an error if it cannot go
    /// on (the host logs it and restarts the adapter with back-off).
    fn run(&mut self, ctx: &InboundHostCtx) -> RResult<(), PluginError>;

    /// Named capabilities added after 1.1 (`RNone` when unknown).
    #[sabi(last_prefix_field)]
    fn extension(&mut self, name: RStr<'_>, input: RSlice<'_, u8>) -> ROption<RResult<RVec<u8>, PluginError>>;
}

/// An owned inbound adapter.
pub type InboundAdapterBox = InboundAdapterFfi_TO<'static, RBox<()>>;
