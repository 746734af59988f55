//! Transforms named in routing rules: instances of pack classes whose `process` returns
//! the transformed body as its reply.

use super::EngineInner;
use super::instance::{HostServices, Instance};
use crate::lock::LockExt;
use crate::message::Envelope;
use hie_plugin_api::abi::{LogLevel, PluginError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Idle transform instances by class name.
#[derive(Default)]
pub struct Transforms {
    /// Pools of idle instances.
    pools: Mutex<HashMap<String, Vec<Instance>>>,
}

/// The minimal host services a transform gets: logging and no settings.
struct TransformServices {
    /// `transform:<class>`, for logs.
    name: String,
}

impl HostServices for TransformServices {
    fn item_name(&self) -> &str {
        &self.name
    }
    fn setting(&self, _name: &str) -> Option<String> {
        None
    }
    fn log(&self, level: LogLevel, message: &str) {
        super::services::log_line(&self.name, None, level, message);
    }
    fn count(&self, _metric: &str, _delta: u64) {}
    fn send_sync(&self, _: Option<&Envelope>, _: super::call::SendData, _: i64) -> Result<Vec<u8>, PluginError> {
        Err(PluginError::new(hie_plugin_api::abi::ErrorKind::Unsupported, "transforms cannot send messages"))
    }
    fn adapter_call(&self, _: &[u8], _: Vec<(String, String)>) -> crate::adapter::AdapterResult {
        Err(PluginError::new(hie_plugin_api::abi::ErrorKind::Unsupported, "transforms have no adapter"))
    }
    fn send_deferred_reply(&self, _: &str, _: Vec<u8>) -> Result<(), PluginError> {
        Err(PluginError::new(hie_plugin_api::abi::ErrorKind::Unsupported, "transforms cannot defer"))
    }
    fn extension(&self, _: &str, _: &[u8]) -> Option<Result<Vec<u8>, PluginError>> {
        None
    }
}

impl Transforms {
    /// Runs the transform `class` on `env` and returns the new body.
    pub fn apply(&self, engine: &EngineInner, class: &str, env: &Envelope) -> Result<Vec<u8>, String> {
        let idle = self.pools.lock_unpoisoned().get_mut(class).and_then(|p| p.pop());
        let mut instance = match idle {
            Some(i) => i,
            None => {
                let packs = engine.packs.registry();
                let Some((pack, _)) = packs.class(class) else {
                    return Err(format!("transform class {class} is not provided by any loaded pack"));
                };
                let pack = pack.clone();
                drop(packs);
                let services = Arc::new(TransformServices { name: format!("transform:{class}") });
                let mut i = Instance::create(&pack, class, services).map_err(|e| e.message.to_string())?;
                i.start().map_err(|e| e.message.to_string())?;
                i
            }
        };
        let result = instance.run(env);
        self.pools.lock_unpoisoned().entry(class.to_string()).or_default().push(instance);
        match result.outcome {
            Ok(o) if o.disposition != super::call::Disposition::Completed => {
                Err(format!("transform {class} ended {:?}: {}", o.disposition, o.reason))
            }
            Ok(o) => {
                for w in &o.warnings {
                    tracing::warn!(transform = class, "{w}");
                }
                Ok(o.reply.unwrap_or_else(|| env.body.to_vec()))
            }
            Err(f) => Err(format!("transform {class} failed in {}: {}", f.stage, f.message)),
        }
    }

    /// Drops every idle instance (production stop, pack swap).
    pub fn clear(&self) {
        let pools: HashMap<String, Vec<Instance>> = std::mem::take(&mut *self.pools.lock_unpoisoned());
        for (_, list) in pools {
            for i in list {
                i.stop();
            }
        }
    }
}
