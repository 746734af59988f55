//! `hie-pack-sql`: HIE's SQL pack, built the way a vendor builds an adapter pack (ABI
//! 1.1), separate from the standard pack. PostgreSQL through the `postgres` crate.
//!
//! - `EnsLib.SQL.Service.GenericService` on `EnsLib.SQL.InboundAdapter`: polls a query
//!   and takes each row in as one message ([`inbound`]).
//! - `EnsLib.SQL.Operation.GenericOperation` on `EnsLib.SQL.OutboundAdapter`: runs a
//!   statement per message with parameters taken from it ([`outbound`]).
//!
//! # Invariants
//! - A row's message is committed before its key advances or its `DeleteQuery` runs: the
//!   key is committed with the message, and the delete runs only for rows the engine
//!   says are committed. Kill -9 at any point loses no row; a restart re-delivers at
//!   most the rows in flight.
//! - Database errors are errors for the item (retried when the connection is the
//!   problem), never a crash.

pub mod inbound;
pub mod outbound;
pub mod params;

hie_plugin_api::export_pack! {
    name: "hie-pack-sql",
    version: env!("CARGO_PKG_VERSION"),
    classes: || vec![inbound::service_class(), outbound::operation_class()],
    vendor: "HIE project",
    min_host: "0.1.0",
    adapters: || vec![inbound::adapter(), outbound::adapter()],
}
