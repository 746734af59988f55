//! One live item instance from a pack, and the host context it calls back into.
//!
//! Used wherever plugin code runs: tokio tasks, item threads and worker processes. What
//! differs between those places is only the [`HostServices`] behind the context.

use super::call::{CallResult, FailureData, FailureKind, OutcomeData, SendData};
use crate::lock::LockExt;
use crate::message::Envelope;
use crate::pack::LoadedPack;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RErr, RNone, ROk, ROption, RResult, RSlice, RStr, RString, RVec, Tuple2};
use hie_plugin_api::abi::{
    AdapterReply, AdapterRequest, ErrorKind, HostApi, HostApi_TO, HostCtx, ItemBox, LogLevel, MessageView, PluginError,
    SendRequest,
};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

/// What the host does for plugin code; implemented by the engine (in-process) and by the
/// worker runtime (over IPC to the engine).
pub trait HostServices: Send + Sync {
    /// The item's name.
    fn item_name(&self) -> &str;
    /// A setting value (defaults applied), or a host-provided `HIE.*` value.
    fn setting(&self, name: &str) -> Option<String>;
    /// Writes a log line tagged with the item.
    fn log(&self, level: LogLevel, message: &str);
    /// Adds to a counter of the item.
    fn count(&self, metric: &str, delta: u64);
    /// Sends and waits for the reply (blocking). `caller` is the message being processed.
    fn send_sync(&self, caller: Option<&Envelope>, send: SendData, timeout_ms: i64) -> Result<Vec<u8>, PluginError>;
    /// Calls the item's outbound adapter (blocking).
    fn adapter_call(&self, body: &[u8], params: Vec<(String, String)>) -> crate::adapter::AdapterResult;
    /// Answers a deferred reply.
    fn send_deferred_reply(&self, token: &str, body: Vec<u8>) -> Result<(), PluginError>;
    /// Named extension capabilities.
    fn extension(&self, name: &str, input: &[u8]) -> Option<Result<Vec<u8>, PluginError>>;
}

/// The call in progress on an instance, so context callbacks know what they belong to.
#[derive(Default)]
struct CurrentCall {
    /// The message being processed.
    envelope: Option<Envelope>,
    /// Sends made with `send_async`, committed with the outcome.
    sends: Vec<SendData>,
    /// Deferred-reply token handed out during the call.
    deferred: Option<String>,
}

/// The host side of [`HostApi`] for one instance.
#[derive(Clone)]
struct InstanceCtx {
    /// Where callbacks go.
    services: Arc<dyn HostServices>,
    /// The call in progress.
    current: Arc<Mutex<CurrentCall>>,
}

/// Runs host code called from a plugin, never letting a panic cross back over the boundary.
fn host_guard<T>(fallback: impl FnOnce(String) -> T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => {
            let text = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %text, "host callback panicked; returning an error to the plugin");
            fallback(text)
        }
    }
}

fn host_panic_error(text: String) -> PluginError {
    PluginError::new(ErrorKind::Failed, format!("host error: {text}"))
}

impl HostApi for InstanceCtx {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        host_guard(|_| (), || self.services.log(level, message.as_str()))
    }

    fn setting(&self, name: RStr<'_>) -> ROption<RString> {
        host_guard(|_| RNone, || self.services.setting(name.as_str()).map(RString::from).into())
    }

    fn count(&self, metric: RStr<'_>, delta: u64) {
        host_guard(|_| (), || self.services.count(metric.as_str(), delta))
    }

    fn send_async(&self, request: SendRequest) -> RResult<(), PluginError> {
        host_guard(
            |t| RErr(host_panic_error(t)),
            || {
                let mut cur = self.current.lock_unpoisoned();
                if cur.envelope.is_none() {
                    return RErr(PluginError::new(
                        ErrorKind::Unsupported,
                        "send_async is only available while processing a message",
                    ));
                }
                cur.sends.push(SendData::from(&request));
                ROk(())
            },
        )
    }

    fn send_sync(&self, request: SendRequest, timeout_ms: i64) -> RResult<RVec<u8>, PluginError> {
        host_guard(
            |t| RErr(host_panic_error(t)),
            || {
                let caller = self.current.lock_unpoisoned().envelope.clone();
                match self.services.send_sync(caller.as_ref(), SendData::from(&request), timeout_ms) {
                    Ok(v) => ROk(RVec::from(v)),
                    Err(e) => RErr(e),
                }
            },
        )
    }

    fn adapter_call(&self, request: AdapterRequest<'_>) -> RResult<AdapterReply, PluginError> {
        host_guard(
            |t| RErr(host_panic_error(t)),
            || {
                let params =
                    request.params.iter().map(|Tuple2(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
                match self.services.adapter_call(request.body.as_slice(), params) {
                    Ok((body, params)) => ROk(AdapterReply {
                        body: RVec::from(body),
                        params: params.into_iter().map(|(k, v)| Tuple2(RString::from(k), RString::from(v))).collect(),
                    }),
                    Err(e) => RErr(e),
                }
            },
        )
    }

    fn defer_reply(&self) -> RResult<RString, PluginError> {
        host_guard(
            |t| RErr(host_panic_error(t)),
            || {
                let mut cur = self.current.lock_unpoisoned();
                let Some(env) = &cur.envelope else {
                    return RErr(PluginError::new(ErrorKind::Unsupported, "no message is being processed"));
                };
                let token = env.header.id.to_string();
                cur.deferred = Some(token.clone());
                ROk(RString::from(token))
            },
        )
    }

    fn send_deferred_reply(&self, token: RStr<'_>, body: RVec<u8>) -> RResult<(), PluginError> {
        host_guard(
            |t| RErr(host_panic_error(t)),
            || match self.services.send_deferred_reply(token.as_str(), body.into_vec()) {
                Ok(()) => ROk(()),
                Err(e) => RErr(e),
            },
        )
    }

    fn extension(&self, name: RStr<'_>, input: RSlice<'_, u8>) -> ROption<RResult<RVec<u8>, PluginError>> {
        host_guard(
            |t| abi_stable::std_types::RSome(RErr(host_panic_error(t))),
            || match self.services.extension(name.as_str(), input.as_slice()) {
                None => RNone,
                Some(Ok(v)) => abi_stable::std_types::RSome(ROk(RVec::from(v))),
                Some(Err(e)) => abi_stable::std_types::RSome(RErr(e)),
            },
        )
    }
}

/// A live instance of an item class.
pub struct Instance {
    /// The plugin object.
    item: ItemBox,
    /// The context handed to every call.
    ctx: HostCtx,
    /// Shared with the context: the call in progress.
    current: Arc<Mutex<CurrentCall>>,
    /// Whether `on_start` ran (so `on_stop` is owed).
    started: bool,
    /// The pack this instance came from (kept alive for diagnostics).
    pack: Arc<LoadedPack>,
}

impl Instance {
    /// A host context over `services` for plugin code outside any message (an adapter's
    /// constructor and its calls): `send_async` is refused there.
    pub fn host_ctx(services: Arc<dyn HostServices>) -> HostCtx {
        let ctx_impl = InstanceCtx { services, current: Arc::new(Mutex::new(CurrentCall::default())) };
        HostApi_TO::from_ptr(RArc::new(ctx_impl), TD_Opaque)
    }

    /// Constructs an instance of `class` from `pack` and runs `on_init`.
    pub fn create(
        pack: &Arc<LoadedPack>,
        class: &str,
        services: Arc<dyn HostServices>,
    ) -> Result<Instance, PluginError> {
        let current = Arc::new(Mutex::new(CurrentCall::default()));
        let item_name = services.item_name().to_string();
        let ctx_impl = InstanceCtx { services, current: current.clone() };
        let ctx: HostCtx = HostApi_TO::from_ptr(RArc::new(ctx_impl), TD_Opaque);
        let create = pack.root.create_item();
        let mut item = create(RStr::from_str(class), RStr::from_str(&item_name), &ctx).into_result()?;
        item.on_init(&ctx).into_result()?;
        Ok(Instance { item, ctx, current, started: false, pack: pack.clone() })
    }

    /// The pack the instance came from.
    pub fn pack(&self) -> &Arc<LoadedPack> {
        &self.pack
    }

    /// Runs `on_start`.
    pub fn start(&mut self) -> Result<(), PluginError> {
        self.item.on_start(&self.ctx).into_result()?;
        self.started = true;
        Ok(())
    }

    /// Runs `on_stop` (if started) and `on_teardown`, logging failures: stopping never fails.
    pub fn stop(mut self) {
        if self.started
            && let RErr(e) = self.item.on_stop(&self.ctx)
        {
            tracing::warn!(error = %e, "on_stop failed");
        }
        if let RErr(e) = self.item.on_teardown(&self.ctx) {
            tracing::warn!(error = %e, "on_teardown failed");
        }
    }

    /// Runs one message through `on_before_process`, `process`, `on_after_process` and, on
    /// failure, `on_process_error`.
    pub fn run(&mut self, env: &Envelope) -> CallResult {
        {
            let mut cur = self.current.lock_unpoisoned();
            *cur = CurrentCall { envelope: Some(env.clone()), sends: Vec::new(), deferred: None };
        }
        let h = &env.header;
        let attrs: Vec<Tuple2<RStr<'_>, RStr<'_>>> =
            h.attributes.iter().map(|(k, v)| Tuple2(RStr::from_str(k), RStr::from_str(v))).collect();
        let view = MessageView {
            id: h.id,
            session_id: h.session_id,
            correlation_id: h.correlation_id,
            causation_id: h.causation_id,
            priority: h.priority,
            created_unix_us: h.created_us,
            source: RStr::from_str(&h.source),
            target: RStr::from_str(&h.target),
            doc_type: RStr::from_str(&h.doc_type),
            attributes: RSlice::from_slice(&attrs),
            body: RSlice::from_slice(&env.body),
        };
        let mut hooks = vec!["on_before_process".to_string()];
        let outcome = match self.item.on_before_process(&self.ctx, &view) {
            RErr(e) => Err(("on_before_process", e)),
            ROk(()) => {
                hooks.push("process".into());
                match self.item.process(&self.ctx, &view) {
                    RErr(e) => Err(("process", e)),
                    ROk(out) => {
                        hooks.push("on_after_process".into());
                        match self.item.on_after_process(&self.ctx, &view, &out) {
                            RErr(e) => Err(("on_after_process", e)),
                            ROk(()) => Ok(OutcomeData::from(&out)),
                        }
                    }
                }
            }
        };
        let outcome = match outcome {
            Ok(o) => Ok(o),
            Err((stage, e)) => {
                hooks.push("on_process_error".into());
                let failure = FailureData::from_plugin(stage, &e);
                match self.item.on_process_error(&self.ctx, &view, &e) {
                    ROk(action) => Err(failure.with_action(&action)),
                    RErr(e2) => {
                        // An error while handling an error: default handling, both recorded.
                        let mut f = failure;
                        f.message = format!("{}; on_process_error also failed: {}", f.message, e2.message);
                        Err(f)
                    }
                }
            }
        };
        let cur = std::mem::take(&mut *self.current.lock_unpoisoned());
        CallResult { outcome, sends: cur.sends, deferred: cur.deferred, hooks }
    }

    /// A failure to report when creating an instance failed.
    pub fn create_failure(e: &PluginError) -> CallResult {
        CallResult::host_failure(FailureKind::from(e.kind), "on_init", e.message.to_string())
    }
}
