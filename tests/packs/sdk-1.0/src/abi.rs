//! The FFI-safe types that cross the host/pack boundary: the frozen ABI.
//!
//! # Compatibility rules
//!
//! Everything in this module is part of HIE's plugin ABI generation [`ABI_VERSION`](crate::ABI_VERSION).
//! Layouts are checked by abi_stable when a pack is loaded, so a pack built against a
//! different layout is rejected instead of crashing the host. To keep packs built today
//! loading in later hosts:
//!
//! - the root module [`PackRoot`] and the two trait objects ([`HostApi`], [`ItemFfi`]) are
//!   *prefix* types: new functions/methods may only be added **after** the one marked
//!   `#[sabi(last_prefix_field)]`, and the host must treat them as optional;
//! - plain structs and enums here are frozen: never add, remove or reorder fields or
//!   variants. New data travels through the `extension` entry points by name;
//! - `VERSION_STRINGS` of the root module stays `1.0.0` for the whole generation, because
//!   abi_stable rejects a library whose minor version is lower than the host's.

// abi_stable's #[sabi_trait] expansion trips this newer lint; the impls are its own.
#![allow(non_local_definitions)]

use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RArc, RBox, ROption, RResult, RSlice, RStr, RString, RVec, Tuple2},
};

/// The role an item class plays in a production (IRIS: business service, process, operation).
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemKind {
    /// Takes messages in from outside through an inbound adapter.
    Service = 0,
    /// Routes or transforms messages between items.
    Process = 1,
    /// Sends messages out through an outbound adapter.
    Operation = 2,
}

/// Whether a setting configures the item class itself or the host adapter paired with it,
/// as IRIS's `<Setting Target="Host|Adapter">`.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingTarget {
    /// A setting of the item class.
    Host = 0,
    /// A setting of the host adapter the class is paired with.
    Adapter = 1,
}

/// One setting an item class accepts.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct SettingSpec {
    /// Setting name exactly as IRIS spells it (e.g. `TargetConfigNames`).
    pub name: RString,
    /// Host or Adapter.
    pub target: SettingTarget,
    /// Default value as text; empty when the setting has no default.
    pub default: RString,
    /// One-line description shown by `hie plugins` and in validation messages.
    pub doc: RString,
    /// `false` for settings accepted for IRIS compatibility but not implemented yet:
    /// `hie validate` reports them instead of silently ignoring them.
    pub supported: bool,
}

/// Description of one item class a pack provides.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct ClassSpec {
    /// Class name as productions refer to it (IRIS `ClassName`).
    pub name: RString,
    /// Service, process or operation.
    pub kind: ItemKind,
    /// Name of the host adapter paired with this class (see `hie_plugin_api::adapters`),
    /// or empty for classes without an adapter.
    pub adapter: RString,
    /// One-line description.
    pub doc: RString,
    /// Every setting the class (and its adapter) accepts, with defaults.
    pub settings: RVec<SettingSpec>,
}

/// What a pack tells the host about itself when it is loaded.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct PackManifest {
    /// Pack name, e.g. `hie-hl7`.
    pub name: RString,
    /// Pack version (the pack crate's version).
    pub version: RString,
    /// ABI generation the pack was built against ([`crate::ABI_VERSION`]).
    pub abi_version: u32,
    /// Version of the SDK crate the pack was built with, for diagnostics.
    pub sdk_version: RString,
    /// The item classes the pack provides.
    pub classes: RVec<ClassSpec>,
}

/// Kinds of plugin errors, so the host can react without parsing text.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Ordinary failure reported by plugin code.
    Failed = 0,
    /// Plugin code panicked; the SDK caught it at the boundary.
    Panicked = 1,
    /// The message could not be understood (malformed HL7, wrong type).
    InvalidMessage = 2,
    /// A call to another item or an adapter timed out.
    Timeout = 3,
    /// A send named an item that does not exist in the production.
    UnknownTarget = 4,
    /// The host or adapter does not support what was asked.
    Unsupported = 5,
    /// The adapter could not reach the other system (connect failed, connection lost).
    Disconnected = 6,
}

/// An error crossing the boundary in either direction.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct PluginError {
    /// What kind of error this is.
    pub kind: ErrorKind,
    /// Human-readable description.
    pub message: RString,
}

/// A borrowed view of a message handed to an item for one call.
///
/// Nothing is copied to build it: the body and header strings point into the host's
/// buffers and are valid only for the duration of the call.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct MessageView<'a> {
    /// Journal id of this message header.
    pub id: u64,
    /// Id of the first message of the session (the primary request).
    pub session_id: u64,
    /// Id of the request this message answers or pairs with; 0 when none.
    pub correlation_id: u64,
    /// Id of the message whose processing created this one; 0 for messages from outside.
    pub causation_id: u64,
    /// Priority, IRIS numbering: 1 HighSync, 2 Sync, 4 SimSync, 6 Async.
    pub priority: u8,
    /// When the message header was created, microseconds since the Unix epoch.
    pub created_unix_us: i64,
    /// Item that sent the message; for messages from outside, where they came from
    /// (e.g. `mllp://10.1.2.3:50122`, `file:///in/adt.hl7`).
    pub source: RStr<'a>,
    /// Item the message is addressed to.
    pub target: RStr<'a>,
    /// Document type, e.g. `ADT^A01`; empty when unknown.
    pub doc_type: RStr<'a>,
    /// Adapter metadata, e.g. `OriginalFilename` from the file service, `RemoteAddress`.
    pub attributes: RSlice<'a, Tuple2<RStr<'a>, RStr<'a>>>,
    /// The message body (an HL7 v2 message for the standard classes).
    pub body: RSlice<'a, u8>,
}

/// A message an item wants sent to another item.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct SendRequest {
    /// Name of the target item.
    pub target: RString,
    /// New body; `RNone` forwards the current message's body unchanged (no copy is stored).
    pub body: ROption<RVec<u8>>,
    /// Name of a transform class to apply before delivery; empty for none.
    pub transform: RString,
    /// Priority for the new message; 0 inherits the current message's.
    pub priority: u8,
}

/// What became of a processed message.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DispositionKind {
    /// Done. Sends are committed and the message is Completed.
    Completed = 0,
    /// Try the same message again after `retry_after_ms` (the host enforces FailureTimeout).
    Retry = 1,
    /// Park the message as Suspended with the reason; the queue moves on.
    Suspend = 2,
    /// Record the message as Discarded with the reason.
    Discard = 3,
    /// Record the message as Error and hand it to the error target; the queue moves on.
    Fail = 4,
    /// Put the message back at the head of the queue and pause the item (IRIS action D).
    Disable = 5,
}

/// The disposition of a processed message, with its reason.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct Disposition {
    /// What to do with the message.
    pub kind: DispositionKind,
    /// Delay before the retry, for [`DispositionKind::Retry`].
    pub retry_after_ms: u64,
    /// Why, recorded in the journal and the log; may be empty for Completed.
    pub reason: RString,
}

/// The result of `process`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct ProcessOutcome {
    /// What became of the message.
    pub disposition: Disposition,
    /// Messages to send on. They are committed atomically with the disposition,
    /// so a crash never leaves a message both completed and unsent.
    pub sends: RVec<SendRequest>,
    /// Reply for whoever waits on this message: the ACK a service returns to its sender,
    /// the response to a synchronous request, the reply received by an operation.
    pub reply: ROption<RVec<u8>>,
    /// Warnings to record (IRIS `W` reply actions); they do not change the disposition.
    pub warnings: RVec<RString>,
}

/// What the host should do after `process` (or a hook) failed.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorActionKind {
    /// The host's default: record Error, send to the item's error target if any, and for
    /// services NACK the sender.
    Default = 0,
    /// Retry the message after `retry_after_ms`.
    Retry = 1,
    /// Suspend the message.
    Suspend = 2,
    /// Discard the message.
    Discard = 3,
    /// Send the message to `target` (an error-handling item) and mark the original Error.
    RouteTo = 4,
}

/// The answer of `on_process_error`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct ErrorAction {
    /// What to do.
    pub kind: ErrorActionKind,
    /// Item to route to, for [`ErrorActionKind::RouteTo`].
    pub target: RString,
    /// Delay for [`ErrorActionKind::Retry`].
    pub retry_after_ms: u64,
    /// Reply to send to a waiting sender instead of the host's default (e.g. a NACK with ERR).
    pub reply: ROption<RVec<u8>>,
}

/// A request to an item's host adapter (e.g. the MLLP client or the file writer).
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct AdapterRequest<'a> {
    /// Bytes to deliver.
    pub body: RSlice<'a, u8>,
    /// Named parameters the adapter understands (e.g. `Filename` for the file writer).
    pub params: RSlice<'a, Tuple2<RStr<'a>, RStr<'a>>>,
}

/// What an adapter answered.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct AdapterReply {
    /// Reply bytes (the remote ACK for MLLP); empty when the adapter has no reply.
    pub body: RVec<u8>,
    /// Named results (e.g. `Path` of the file written).
    pub params: RVec<Tuple2<RString, RString>>,
}

/// Log levels for [`HostApi::log`].
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Very detailed diagnostics.
    Trace = 0,
    /// Diagnostics.
    Debug = 1,
    /// Normal operation.
    Info = 2,
    /// Something unexpected but handled.
    Warn = 3,
    /// Something failed.
    Error = 4,
}

/// Services the host gives plugin code. Plugins must not use their own copy of tokio or
/// tracing (they have no runtime and no subscriber): everything goes through here.
///
/// Implemented by the host; plugins receive it as [`HostCtx`] on every call.
#[sabi_trait]
pub trait HostApi: Clone + Send + Sync {
    /// Writes a log line into the host's tracing, tagged with the item's name.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// The value of one of this item's settings (Host or Adapter), defaults applied.
    fn setting(&self, name: RStr<'_>) -> ROption<RString>;

    /// Adds `delta` to a named counter of this item, exported in `/metrics`.
    fn count(&self, metric: RStr<'_>, delta: u64);

    /// Queues a message for another item. It is committed together with the outcome of
    /// the current call, exactly like a [`SendRequest`] in [`ProcessOutcome::sends`].
    fn send_async(&self, request: SendRequest) -> RResult<(), PluginError>;

    /// Sends a message to another item and blocks until it replies or `timeout_ms`
    /// passes (negative: wait for ever). The request is committed first.
    fn send_sync(&self, request: SendRequest, timeout_ms: i64) -> RResult<RVec<u8>, PluginError>;

    /// Calls this item's host adapter (blocking): e.g. write an MLLP frame and read the
    /// reply, or write a file.
    fn adapter_call(&self, request: AdapterRequest<'_>) -> RResult<AdapterReply, PluginError>;

    /// Defers the reply to the current message: returns a token that
    /// [`HostApi::send_deferred_reply`] answers later, from any thread.
    fn defer_reply(&self) -> RResult<RString, PluginError>;

    /// Answers a message whose reply was deferred.
    fn send_deferred_reply(&self, token: RStr<'_>, body: RVec<u8>) -> RResult<(), PluginError>;

    /// Named capabilities added after ABI generation 1 (returns `RNone` when the host does
    /// not know `name`). Always the last prefix method: new methods go below it.
    #[sabi(last_prefix_field)]
    fn extension(&self, name: RStr<'_>, input: RSlice<'_, u8>) -> ROption<RResult<RVec<u8>, PluginError>>;
}

/// The host context as plugins receive it: a shared, cloneable trait object.
/// A clone may be kept (e.g. to answer a deferred reply later).
pub type HostCtx = HostApi_TO<'static, RArc<()>>;

/// An item instance as the host holds it. Implemented by the SDK around the plugin
/// author's [`crate::Item`]; every method catches panics and returns them as errors.
///
/// The host calls one instance from one thread at a time, in this order:
/// `on_init`, `on_start`, then for each message `on_before_process`, `process`,
/// `on_after_process` (and `on_process_error` when any of those failed), then `on_stop`,
/// `on_teardown`.
#[sabi_trait]
pub trait ItemFfi: Send {
    /// Called once after construction, before the production starts.
    fn on_init(&mut self, ctx: &HostCtx) -> RResult<(), PluginError>;
    /// Called when the item starts taking messages.
    fn on_start(&mut self, ctx: &HostCtx) -> RResult<(), PluginError>;
    /// Called when the item stops taking messages (in-flight work is finished).
    fn on_stop(&mut self, ctx: &HostCtx) -> RResult<(), PluginError>;
    /// Called once before the instance is dropped.
    fn on_teardown(&mut self, ctx: &HostCtx) -> RResult<(), PluginError>;
    /// Called before `process`; an error skips `process` and goes to `on_process_error`.
    fn on_before_process(&mut self, ctx: &HostCtx, msg: &MessageView<'_>) -> RResult<(), PluginError>;
    /// Processes one message.
    fn process(&mut self, ctx: &HostCtx, msg: &MessageView<'_>) -> RResult<ProcessOutcome, PluginError>;
    /// Called after a successful `process`; an error goes to `on_process_error`.
    fn on_after_process(
        &mut self,
        ctx: &HostCtx,
        msg: &MessageView<'_>,
        outcome: &ProcessOutcome,
    ) -> RResult<(), PluginError>;
    /// Decides what happens after an error in `process` or a hook.
    fn on_process_error(
        &mut self,
        ctx: &HostCtx,
        msg: &MessageView<'_>,
        error: &PluginError,
    ) -> RResult<ErrorAction, PluginError>;
    /// Named capabilities added after ABI generation 1 (`RNone` when unknown).
    #[sabi(last_prefix_field)]
    fn extension(
        &mut self,
        ctx: &HostCtx,
        name: RStr<'_>,
        input: RSlice<'_, u8>,
    ) -> ROption<RResult<RVec<u8>, PluginError>>;
}

/// An owned item instance.
pub type ItemBox = ItemFfi_TO<'static, RBox<()>>;

/// The root module every pack exports: the only symbol the host looks up.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PackRootRef)))]
#[sabi(missing_field(option))]
pub struct PackRoot {
    /// Returns the pack's manifest.
    pub manifest: extern "C" fn() -> PackManifest,
    /// Constructs an instance of `class` for the item named `item_name`.
    /// `ctx` gives the constructor the item's settings and logging.
    #[sabi(last_prefix_field)]
    pub create_item:
        extern "C" fn(class: RStr<'_>, item_name: RStr<'_>, ctx: &HostCtx) -> RResult<ItemBox, PluginError>,
}

impl RootModule for PackRootRef {
    declare_root_module_statics! {PackRootRef}
    const BASE_NAME: &'static str = "hie_pack";
    const NAME: &'static str = "hie_pack";
    // Frozen for ABI generation 1; see the module docs.
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.0.0");
}

/// The SDK crate's version, recorded in manifests for diagnostics.
pub const SDK_VERSION: VersionStrings = package_version_strings!();

impl PluginError {
    /// Builds an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PluginError { kind, message: RString::from(message.into()) }
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for PluginError {}
