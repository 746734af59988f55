//! Adapters from packs (ABI 1.1), behind the same port as the host's own.
//!
//! An outbound pack adapter's blocking `call` runs on a blocking thread of the runtime,
//! so it never holds an async worker. An inbound pack adapter's loop runs on a thread of
//! its own (`hie-adapter`), whose host context turns `submit` into the item's intake
//! sink and `wait`/`stop_requested` into the port's stop signal; a loop that returns an
//! error (or panics, which the SDK turns into an error) is started again with back-off
//! until the item stops.
//!
//! # Invariants
//! - Pack code never sees an engine type: it gets an ABI context whose every callback
//!   runs under a panic guard on the host side.
//! - A panic in any adapter entry point is an error for the item, never an abort.

use super::instance::{HostServices, Instance};
use crate::adapter::port::{AdapterResult, Inbound, InboundContext, OutboundAdapter};
use crate::adapter::{InboundHandle, SettingsSource};
use crate::message::Envelope;
use crate::pack::LoadedPack;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RNone, ROption, RResult, RSlice, RStr, RString, RVec, Tuple2};
use futures::future::BoxFuture;
use hie_plugin_api::abi::adapter::{
    InboundAdapterBox, InboundHostApi, InboundHostApi_TO, InboundHostCtx, InboundMessage, InboundReply,
    OutboundAdapterBox,
};
use hie_plugin_api::abi::{ErrorKind, LogLevel, PluginError};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

/// What an adapter's constructor (and the adapter, if it keeps the context) can ask of
/// the host: its item's settings and the log. Messaging belongs to classes, not adapters.
struct AdapterServices {
    item: String,
    settings: BTreeMap<String, String>,
}

fn unsupported(what: &str) -> PluginError {
    PluginError::new(ErrorKind::Unsupported, format!("{what} is not available to an adapter"))
}

impl HostServices for AdapterServices {
    fn item_name(&self) -> &str {
        &self.item
    }
    fn setting(&self, name: &str) -> Option<String> {
        self.settings.get(name).cloned()
    }
    fn log(&self, level: LogLevel, message: &str) {
        super::services::log_line(&self.item, None, level, message);
    }
    fn count(&self, _metric: &str, _delta: u64) {}
    fn send_sync(&self, _: Option<&Envelope>, _: super::call::SendData, _: i64) -> Result<Vec<u8>, PluginError> {
        Err(unsupported("send_sync"))
    }
    fn adapter_call(&self, _: &[u8], _: Vec<(String, String)>) -> AdapterResult {
        Err(unsupported("adapter_call"))
    }
    fn send_deferred_reply(&self, _: &str, _: Vec<u8>) -> Result<(), PluginError> {
        Err(unsupported("send_deferred_reply"))
    }
    fn extension(&self, _: &str, _: &[u8]) -> Option<Result<Vec<u8>, PluginError>> {
        None
    }
}

/// Creates the outbound adapter `adapter` of `pack` for `item`.
pub fn outbound(
    pack: &Arc<LoadedPack>,
    adapter: &str,
    item: &str,
    settings: &BTreeMap<String, String>,
) -> Result<Arc<dyn OutboundAdapter>, String> {
    let create = pack
        .root11
        .and_then(|r| r.create_outbound_adapter())
        .ok_or_else(|| format!("pack {} {} provides no adapters (ABI 1.0)", pack.name, pack.version))?;
    let ctx = adapter_host_ctx(item, settings);
    let inner = create(RStr::from_str(adapter), RStr::from_str(item), &ctx)
        .into_result()
        .map_err(|e| format!("adapter {adapter} of pack {} failed to start: {}", pack.name, e.message))?;
    Ok(Arc::new(PackOutbound { inner: Arc::new(inner), adapter: adapter.to_string(), _pack: pack.clone() }))
}

/// A pack's outbound adapter, as the engine calls it.
struct PackOutbound {
    inner: Arc<OutboundAdapterBox>,
    adapter: String,
    /// Keeps the library's record alive while its code can run.
    _pack: Arc<LoadedPack>,
}

impl OutboundAdapter for PackOutbound {
    fn call(&self, body: Vec<u8>, params: Vec<(String, String)>) -> BoxFuture<'static, AdapterResult> {
        let inner = self.inner.clone();
        let adapter = self.adapter.clone();
        Box::pin(async move {
            let joined = tokio::task::spawn_blocking(move || {
                let params: Vec<Tuple2<RStr<'_>, RStr<'_>>> =
                    params.iter().map(|(k, v)| Tuple2(RStr::from_str(k), RStr::from_str(v))).collect();
                inner.call(RSlice::from_slice(&body), RSlice::from_slice(&params)).into_result()
            })
            .await;
            match joined {
                Ok(Ok(reply)) => Ok((
                    reply.body.into_vec(),
                    reply.params.into_iter().map(|t| (t.0.into_string(), t.1.into_string())).collect(),
                )),
                Ok(Err(f)) => Err(PluginError::new(
                    if f.retryable { ErrorKind::Disconnected } else { ErrorKind::Failed },
                    f.message.into_string(),
                )),
                Err(e) => {
                    Err(PluginError::new(ErrorKind::Failed, format!("adapter {adapter} call did not finish: {e}")))
                }
            }
        })
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let _ = tokio::task::spawn_blocking(move || inner.close()).await;
        })
    }
}

/// A host context for an adapter's constructor: its item's settings and the log.
pub fn adapter_host_ctx(item: &str, settings: &BTreeMap<String, String>) -> hie_plugin_api::abi::HostCtx {
    Instance::host_ctx(Arc::new(AdapterServices { item: item.to_string(), settings: settings.clone() }))
}

/// Makes an inbound adapter instance (each start of its loop gets a new one).
pub type MakeInbound = Box<dyn Fn() -> Result<InboundAdapterBox, PluginError> + Send>;

/// How an inbound adapter loop is made and told to stop, wherever it runs (the engine's
/// process or a worker's).
pub struct LoopControl {
    /// Makes an instance.
    pub make: MakeInbound,
    /// Whether the host asks the loop to end.
    pub stopped: Box<dyn Fn() -> bool + Send>,
    /// Sleeps, waking early for a stop; `false` when stopped.
    pub sleep: Box<dyn Fn(Duration) -> bool + Send>,
    /// Reports a problem for the item's status.
    pub report: Box<dyn Fn(Option<String>) + Send>,
}

/// Runs an inbound adapter's loop until a stop: a loop that returns early or fails (a
/// panic arrives as an error) is made again and restarted, with back-off from 200 ms to
/// 30 s, its problem reported.
pub fn run_inbound_loop(
    item: &str,
    adapter: &str,
    first: InboundAdapterBox,
    host: &InboundHostCtx,
    control: LoopControl,
) {
    const FIRST_BACKOFF: Duration = Duration::from_millis(200);
    /// A loop that ran this long was healthy: its next failure starts the back-off again.
    const HEALTHY_RUN: Duration = Duration::from_secs(60);
    let mut instance = Some(first);
    let mut backoff = FIRST_BACKOFF;
    while !(control.stopped)() {
        let mut running = match instance.take() {
            Some(i) => i,
            None => match (control.make)() {
                Ok(i) => i,
                Err(e) => {
                    tracing::error!(item, adapter, error = %e.message, "the adapter cannot start; retrying");
                    (control.report)(Some(e.message.to_string()));
                    if !(control.sleep)(backoff) {
                        break;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            },
        };
        let started = std::time::Instant::now();
        let outcome = running.run(host).into_result();
        if started.elapsed() >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        match outcome {
            Ok(()) if (control.stopped)() => break,
            Ok(()) => tracing::warn!(item, adapter, "the adapter's loop returned before a stop; starting it again"),
            Err(e) => {
                tracing::error!(item, adapter, error = %e.message, "the adapter's loop failed; starting it again");
                (control.report)(Some(e.message.to_string()));
            }
        }
        if !(control.sleep)(backoff) {
            break;
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Makes instances of inbound adapter `adapter` of `pack` for `item`.
pub fn inbound_maker(
    pack: &Arc<LoadedPack>,
    adapter: &str,
    item: &str,
    settings: &BTreeMap<String, String>,
) -> Result<MakeInbound, String> {
    let create = pack
        .root11
        .and_then(|r| r.create_inbound_adapter())
        .ok_or_else(|| format!("pack {} {} provides no adapters (ABI 1.0)", pack.name, pack.version))?;
    let ctx = adapter_host_ctx(item, settings);
    let (adapter, item, keep) = (adapter.to_string(), item.to_string(), pack.clone());
    Ok(Box::new(move || {
        let _ = &keep;
        create(RStr::from_str(&adapter), RStr::from_str(&item), &ctx).into_result()
    }))
}

/// Starts the inbound adapter `adapter` of `pack` behind `ctx`, on a thread of its own.
pub fn start_inbound(pack: &Arc<LoadedPack>, adapter: &str, ctx: InboundContext) -> Result<InboundHandle, String> {
    let make = inbound_maker(pack, adapter, &ctx.item, ctx.settings.values())?;
    // Made here, so a constructor that fails fails the item's start.
    let first =
        make().map_err(|e| format!("adapter {adapter} of pack {} failed to start: {}", pack.name, e.message))?;
    let host: InboundHostCtx = InboundHostApi_TO::from_ptr(RArc::new(PackInboundHost { ctx: ctx.clone() }), TD_Opaque);
    let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop, runtime, sink) = (ctx.stop.clone(), ctx.runtime.clone(), ctx.sink.clone());
    let (item, adapter_name) = (ctx.item.to_string(), adapter.to_string());
    let control = LoopControl {
        make,
        stopped: Box::new({
            let stop = stop.clone();
            move || stop.is_cancelled()
        }),
        sleep: Box::new({
            let (stop, runtime) = (stop.clone(), runtime.clone());
            move |d| sleep_unless_stopped(&stop, &runtime, d)
        }),
        report: Box::new(move |p| sink.report(p)),
    };
    std::thread::Builder::new()
        .name("hie-adapter".into())
        .spawn(move || {
            run_inbound_loop(&item, &adapter_name, first, &host, control);
            let _ = ended_tx.send(());
        })
        .map_err(|e| format!("cannot start the adapter thread: {e}"))?;
    let task = ctx.runtime.spawn(async move {
        let _ = ended_rx.await;
    });
    Ok(InboundHandle::new(ctx.stop.clone(), vec![task]))
}

/// Sleeps `d` unless a stop comes first; `false` when it did.
fn sleep_unless_stopped(stop: &tokio_util::sync::CancellationToken, rt: &tokio::runtime::Handle, d: Duration) -> bool {
    rt.block_on(async {
        tokio::select! {
            _ = stop.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    })
}

/// Runs host code called from a pack, never letting a panic cross back over the boundary.
fn guarded<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!("host callback of an adapter panicked; returning a fallback");
        fallback
    })
}

/// The host side of an inbound pack adapter's context.
#[derive(Clone)]
struct PackInboundHost {
    ctx: InboundContext,
}

impl InboundHostApi for PackInboundHost {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        guarded((), || super::services::log_line(&self.ctx.item, None, level, message.as_str()))
    }

    fn setting(&self, name: RStr<'_>) -> ROption<RString> {
        guarded(RNone, || self.ctx.settings.raw(name.as_str()).map(RString::from).into())
    }

    fn submit(&self, batch: RVec<InboundMessage>, state: RVec<Tuple2<RString, RString>>) -> RVec<InboundReply> {
        let refused = |batch: &RVec<InboundMessage>| {
            batch.iter().map(|_| InboundReply { reply: RNone, accepted: false, id: 0 }).collect::<RVec<_>>()
        };
        let all_refused = refused(&batch);
        guarded(all_refused, || {
            let inbound: Vec<Inbound> = batch
                .into_iter()
                .map(|m| Inbound {
                    body: bytes::Bytes::from(m.body.into_vec()),
                    origin: m.origin.into_string(),
                    attributes: m.attributes.into_iter().map(|t| (t.0.into_string(), t.1.into_string())).collect(),
                })
                .collect();
            let state: Vec<(String, String)> =
                state.into_iter().map(|t| (t.0.into_string(), t.1.into_string())).collect();
            let replies = self.ctx.runtime.block_on(self.ctx.sink.submit_with_state(inbound, state));
            // It reached its source and handed something in: whatever it reported is over.
            self.ctx.sink.report(None);
            replies
                .into_iter()
                .map(|r| InboundReply { reply: r.reply.map(RVec::from).into(), accepted: r.accepted, id: r.id })
                .collect()
        })
    }

    fn state(&self, key: RStr<'_>) -> ROption<RString> {
        guarded(RNone, || self.ctx.runtime.block_on(self.ctx.sink.state(key.as_str())).map(RString::from).into())
    }

    fn accepting(&self) -> bool {
        guarded(false, || self.ctx.gate.is_open())
    }

    fn wait_accepting(&self, timeout_ms: u64) -> bool {
        guarded(false, || {
            let mut gate = self.ctx.gate.clone();
            let stop = self.ctx.stop.clone();
            self.ctx.runtime.block_on(async move {
                tokio::time::timeout(Duration::from_millis(timeout_ms), gate.wait_open(&stop)).await.unwrap_or(false)
            })
        })
    }

    fn wait(&self, timeout_ms: u64) -> bool {
        guarded(false, || sleep_unless_stopped(&self.ctx.stop, &self.ctx.runtime, Duration::from_millis(timeout_ms)))
    }

    fn stop_requested(&self) -> bool {
        guarded(true, || self.ctx.stop.is_cancelled())
    }

    fn extension(&self, _name: RStr<'_>, _input: RSlice<'_, u8>) -> ROption<RResult<RVec<u8>, PluginError>> {
        RNone
    }
}
