//! `hie-pack-ens`: IRIS `Ens` classes beyond HL7, under their IRIS names, so IRIS
//! productions that use them load unchanged.
//!
//! - `EnsLib.EMail.AlertOperation` ([`alert`]) on this pack's own adapter
//!   `EnsLib.EMail.OutboundAdapter` ([`smtp`], ABI 1.1): e-mails the alerts the engine
//!   sends to `Ens.Alert`, over SMTP with STARTTLS or implicit TLS (rustls).
//! - `EnsLib.File.PassthroughService` and `EnsLib.File.PassthroughOperation` ([`file`])
//!   on the host's file adapters: files of any content, whole and unchanged; and
//!   `EnsLib.FTP.PassthroughService` and `EnsLib.FTP.PassthroughOperation` ([`ftp`]),
//!   the same on the host's FTP adapters.
//! - `EnsLib.HTTP.GenericOperation` ([`http`]) on the host's HTTP adapter, and
//!   `EnsLib.HTTP.GenericService` ([`http_service`]) on the host's HTTP listener.
//! - `EnsLib.MsgRouter.RoutingEngine` ([`router`]): the generic router (IRIS rule
//!   classes over alerts and other non-HL7 messages), usually the item `Ens.Alert`.
//!
//! # Invariants
//! - Every class declares every IRIS setting it is known to have, with IRIS's default;
//!   those HIE does not implement are `unsupported`, so `hie validate` warns instead of
//!   ignoring them. Host settings carry their kind; adapter settings are typed by the
//!   adapter that reads them.
//! - Failures the other side may recover from are retried through the engine
//!   (`RetryInterval`, `FailureTimeout`); refusals fail the message with the reason.
//! - No tokio and no tracing here: I/O goes through the host's adapters or, for SMTP,
//!   lettre's blocking client inside this pack's adapter.

pub mod alert;
pub mod common;
pub mod file;
pub mod ftp;
pub mod http;
pub mod http_service;
pub mod router;
pub mod smtp;

use hie_plugin_api::ClassDef;
use hie_plugin_api::adapter::AdapterDef;

/// Every class of the pack.
pub fn classes() -> Vec<ClassDef> {
    vec![
        alert::class(),
        file::service_class(),
        file::operation_class(),
        ftp::service_class(),
        ftp::operation_class(),
        http::class(),
        http_service::class(),
        router::class(),
    ]
}

/// Every adapter of the pack.
pub fn adapters() -> Vec<AdapterDef> {
    vec![smtp::adapter()]
}

hie_plugin_api::export_pack! {
    name: "hie-pack-ens",
    version: env!("CARGO_PKG_VERSION"),
    classes: classes,
    vendor: "HIE project",
    min_host: "0.1.0",
    adapters: adapters,
}
