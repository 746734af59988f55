//! `EnsLib.HTTP.GenericService`: takes each HTTP `POST` on the host's `http-inbound`
//! adapter in as a message and forwards it to `TargetConfigNames`.
//!
//! The body is the request body, byte for byte. The adapter gives the message the
//! attributes IRIS puts in an `EnsLib.HTTP.GenericMessage`'s headers (`HttpRequest`,
//! `URL`, `Content-Type`), which `EnsLib.HTTP.GenericOperation` ([`crate::http`]) reads,
//! so a service and an operation relay a request as IRIS does.
//!
//! # Invariants
//! - The response is 200 with an empty body once the message is committed (HIE
//!   forwards one way, as IRIS with `OneWay=1`); a message the engine could not store is
//!   answered with an error status by the adapter, never 200.
//! - Bytes are never decoded or re-encoded.

use crate::common::service_settings;
use hie_plugin_api::settings::SettingKind;
use hie_plugin_api::{ClassDef, Context, Error, Item, ItemKind, Message, Outcome, SettingDef, adapters};

/// `EnsLib.HTTP.GenericService`.
pub fn class() -> ClassDef {
    ClassDef::new("EnsLib.HTTP.GenericService", ItemKind::Service, |ctx| {
        Ok(Box::new(GenericService { targets: ctx.setting_list("TargetConfigNames") }))
    })
    .adapter(adapters::HTTP_INBOUND)
    .doc("takes each HTTP POST body in as a message (method, URL and Content-Type as attributes) and forwards it; answers 200 once committed")
    .settings([SettingDef::host("TargetConfigNames", "", "comma-separated items that receive every request")])
    .settings(service_settings())
    .settings(http_listener_settings())
    .settings([
        SettingDef::host(
            "OneWay",
            "0",
            "0: return the target's response (HIE always answers at once, empty, as with 1)",
        )
        .kind(SettingKind::Bool)
        .unsupported(),
        SettingDef::host("PersistInProcData", "1", "keep in-process request data").unsupported(),
    ])
}

/// The adapter settings of a service on the host's `http-inbound` adapter (IRIS
/// `EnsLib.HTTP.InboundAdapter`), shared with the HL7 pack's HTTP service by copy.
pub fn http_listener_settings() -> Vec<SettingDef> {
    vec![
        SettingDef::adapter("Port", "", "TCP port to listen on (required)"),
        SettingDef::adapter("LocalInterface", "", "local address to listen on; empty = every interface"),
        SettingDef::adapter(
            "AllowedIPAddresses",
            "",
            "comma-separated peers allowed to connect: addresses or server names, each with an optional :port; empty = any",
        ),
        SettingDef::adapter(
            "SSLConfig",
            "",
            "HTTPS: TLS configuration, <TLSDir>/<name>.crt and .key (and .ca to require client certificates)",
        ),
        SettingDef::adapter("ReadTimeout", "30", "seconds a request's head, then its body, may take to arrive"),
        SettingDef::adapter("MaxConnections", "1024", "HIE: connections served at once; more are refused"),
        SettingDef::adapter("MaxBodySize", "16777216", "HIE: largest request body in bytes; larger is answered 413"),
        SettingDef::adapter(
            "StayConnected",
            "-1",
            "seconds an idle connection is kept (HIE: keep-alive, closed by ReadTimeout)",
        )
        .unsupported(),
        SettingDef::adapter("JobPerConnection", "1", "each connection is served independently (always so in HIE)"),
        SettingDef::adapter("CallInterval", "5", "listener wake-up interval (not used by HIE)").unsupported(),
        SettingDef::adapter("QSize", "100", "listen backlog").unsupported(),
        SettingDef::adapter("Charset", "Auto", "how the body is decoded (HIE never decodes)").unsupported(),
        SettingDef::adapter("ForceCharset", "0", "ignore the request's charset").unsupported(),
        SettingDef::host(
            "EnableStandardRequests",
            "1",
            "also take requests through the IRIS web server (HIE has its own listener only)",
        )
        .unsupported(),
    ]
}

/// Forwards every request to `TargetConfigNames`.
struct GenericService {
    targets: Vec<String>,
}

impl Item for GenericService {
    fn on_init(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        if self.targets.is_empty() {
            ctx.warn("TargetConfigNames is empty: requests are taken in but go nowhere");
        }
        Ok(())
    }

    fn process(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>) -> Result<Outcome, Error> {
        Ok(Outcome::completed().forward_to(self.targets.iter().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_listens_on_the_host_http_adapter_and_declares_its_iris_settings() {
        let c = class();
        assert_eq!(c.adapter, adapters::HTTP_INBOUND);
        let get = |n: &str| c.settings.iter().find(|s| s.name == n).expect(n);
        assert!(get("Port").supported && get("SSLConfig").supported);
        assert!(!get("OneWay").supported && get("OneWay").default == "0");
    }
}
