//! # hie-pack-hl7: the standard HL7 v2 pack
//!
//! The EnsLib.HL7 item classes under their IRIS names, so IRIS productions load
//! unchanged, plus `HIE.Process.Passthrough` and the `HIE.Transform.*` HL7 ⇄ JSON / XML conversions. Classes declare every IRIS setting with
//! IRIS's default; settings not implemented yet are declared `unsupported` so
//! `hie validate` reports them instead of ignoring them.
//!
//! The I/O (MLLP listener and client, file poller and writer, HTTP listener and client,
//! FTP/FTPS/SFTP poller and writer)
//! lives in host adapters;
//! these classes decide what to do with messages: parse and acknowledge, route by rules,
//! interpret replies with ReplyCodeActions.

mod ack;
mod batch;
mod conversions;
mod field_checks;
mod ftp;
mod http;
mod iris_rules;
mod operations;
mod passthrough;
pub mod reply_actions;
mod router;
mod rule_logging;
pub mod rules;
mod services;
pub mod validation;

use hie_plugin_api::ClassDef;

/// Every class of the pack.
pub fn classes() -> Vec<ClassDef> {
    let mut v = vec![
        services::tcp_service(),
        services::file_service(),
        operations::tcp_operation(),
        operations::file_operation(),
        http::http_service(),
        http::http_operation(),
        ftp::ftp_service(),
        ftp::ftp_operation(),
        router::routing_engine(),
        passthrough::passthrough(),
    ];
    v.extend(conversions::classes());
    v
}

hie_plugin_api::export_pack! {
    name: env!("CARGO_PKG_NAME"),
    version: env!("CARGO_PKG_VERSION"),
    classes: classes,
}
