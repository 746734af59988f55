//! What plugin code can ask of the host.

use crate::abi::{AdapterRequest, HostCtx, SendRequest};
use crate::error::Error;
use crate::outcome::Send;
use abi_stable::std_types::{RSlice, RStr, Tuple2};

pub use crate::abi::LogLevel;

/// The host, as seen from plugin code during one call.
///
/// Everything a plugin would otherwise reach for a runtime or a global for goes through
/// here: logging (into the host's tracing, tagged with the item), settings, metrics,
/// messaging other items and the item's host adapter.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The host's callback table for this item instance.
    raw: &'a HostCtx,
}

/// An adapter's answer to [`Context::adapter_call`].
#[derive(Clone, Debug, Default)]
pub struct AdapterResponse {
    /// Reply bytes (e.g. the ACK read back over MLLP).
    pub body: Vec<u8>,
    /// Named results from the adapter.
    pub params: Vec<(String, String)>,
}

impl<'a> Context<'a> {
    /// Wraps a raw host context: the SDK does this for every call; plugin code does it
    /// with a context it kept (e.g. to answer a deferred reply from another thread).
    pub fn new(raw: &'a HostCtx) -> Self {
        Context { raw }
    }

    /// The raw host context; clone it to keep it beyond this call (deferred replies).
    pub fn raw(&self) -> &'a HostCtx {
        self.raw
    }

    /// Writes a log line at `level`.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.raw.log(level, RStr::from_str(message));
    }

    /// Logs at info level.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    /// Logs at warn level.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }

    /// Logs at error level.
    pub fn error(&self, message: &str) {
        self.log(LogLevel::Error, message);
    }

    /// Logs at debug level.
    pub fn debug(&self, message: &str) {
        self.log(LogLevel::Debug, message);
    }

    /// A setting's value (defaults applied), or `None` if the class does not declare it.
    pub fn setting(&self, name: &str) -> Option<String> {
        self.raw.setting(RStr::from_str(name)).into_option().map(|s| s.into_string())
    }

    /// A setting's value, or `default` when absent or empty.
    pub fn setting_or(&self, name: &str, default: &str) -> String {
        match self.setting(name) {
            Some(v) if !v.trim().is_empty() => v,
            _ => default.to_string(),
        }
    }

    /// A setting parsed as an integer; `default` when absent, empty or not a number.
    pub fn setting_i64(&self, name: &str, default: i64) -> i64 {
        self.setting(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
    }

    /// A setting read as an IRIS boolean (`1`, `true`, `yes` are true).
    pub fn setting_bool(&self, name: &str, default: bool) -> bool {
        match self.setting(name) {
            Some(v) if !v.trim().is_empty() => {
                matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            }
            _ => default,
        }
    }

    /// A comma-separated list setting (IRIS `TargetConfigNames` style), trimmed, empties removed.
    pub fn setting_list(&self, name: &str) -> Vec<String> {
        self.setting(name)
            .map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// Adds `delta` to a counter of this item in `/metrics`.
    pub fn count(&self, metric: &str, delta: u64) {
        self.raw.count(RStr::from_str(metric), delta);
    }

    /// Queues a message for another item; committed with the outcome of the current call.
    pub fn send_async(&self, send: Send) -> Result<(), Error> {
        self.raw.send_async(SendRequest::from(send)).into_result().map_err(Error::from)
    }

    /// Sends a message to another item and blocks until its reply (or the timeout;
    /// `None` waits for ever). Safe in every execution mode.
    pub fn send_sync(&self, send: Send, timeout: Option<std::time::Duration>) -> Result<Vec<u8>, Error> {
        let timeout_ms = timeout.map(|t| t.as_millis().min(i64::MAX as u128) as i64).unwrap_or(-1);
        self.raw.send_sync(SendRequest::from(send), timeout_ms).into_result().map(|v| v.into_vec()).map_err(Error::from)
    }

    /// Calls this item's host adapter with `body` and named parameters (blocking).
    pub fn adapter_call(&self, body: &[u8], params: &[(&str, &str)]) -> Result<AdapterResponse, Error> {
        let params: Vec<Tuple2<RStr<'_>, RStr<'_>>> =
            params.iter().map(|(k, v)| Tuple2(RStr::from_str(k), RStr::from_str(v))).collect();
        let request = AdapterRequest { body: RSlice::from_slice(body), params: RSlice::from_slice(&params) };
        self.raw
            .adapter_call(request)
            .into_result()
            .map(|r| AdapterResponse {
                body: r.body.into_vec(),
                params: r.params.into_iter().map(|Tuple2(k, v)| (k.into_string(), v.into_string())).collect(),
            })
            .map_err(Error::from)
    }

    /// Calls a named host extension (capabilities added after ABI generation 1);
    /// `None` when the host does not know it.
    pub fn extension(&self, name: &str, input: &[u8]) -> Option<Result<Vec<u8>, Error>> {
        self.raw
            .extension(RStr::from_str(name), RSlice::from_slice(input))
            .into_option()
            .map(|r| r.into_result().map(|v| v.into_vec()).map_err(Error::from))
    }

    /// The names of the production's items (to check targets named in files), when the
    /// host can tell.
    pub fn production_items(&self) -> Option<Vec<String>> {
        let bytes = self.extension("hie.items", &[])?.ok()?;
        Some(String::from_utf8_lossy(&bytes).lines().map(str::to_string).collect())
    }

    /// Defers the reply to the current message; answer it later with
    /// [`Context::send_deferred_reply`] (from a clone of [`Context::raw`], on any thread).
    pub fn defer_reply(&self) -> Result<String, Error> {
        self.raw.defer_reply().into_result().map(|t| t.into_string()).map_err(Error::from)
    }

    /// Answers a deferred reply.
    pub fn send_deferred_reply(&self, token: &str, body: Vec<u8>) -> Result<(), Error> {
        send_deferred_reply(self.raw, token, body)
    }
}

/// Answers a deferred reply through a host context kept from an earlier call.
pub fn send_deferred_reply(raw: &HostCtx, token: &str, body: Vec<u8>) -> Result<(), Error> {
    raw.send_deferred_reply(RStr::from_str(token), body.into()).into_result().map_err(Error::from)
}
