//! # hie-pack-example
//!
//! A small pack written the way an NHS Trust integration team would write one: item
//! classes in plain Rust against `hie-plugin-api`. See README.md for a walkthrough.
//!
//! - `HIE.Example.NHSNumberNormaliser`: tidies NHS numbers in PID-3 (strips spaces and
//!   dashes, checks the modulus 11 check digit) and upper-cases the family name. Use it
//!   as a routing-rule transform, or as an item that forwards to its TargetConfigNames.
//! - `HIE.Example.DemographicsLookup` and `HIE.Example.ADTEnricher`: the PDS pattern, a
//!   process calling a lookup operation synchronously before forwarding (see
//!   `demographics.rs`).

mod demographics;
mod nhs_number;
mod normaliser;

pub use nhs_number::{NhsNumberError, normalise_nhs_number};

hie_plugin_api::export_pack! {
    name: env!("CARGO_PKG_NAME"),
    version: env!("CARGO_PKG_VERSION"),
    classes: || vec![normaliser::class(), demographics::lookup_class(), demographics::enricher_class()],
}
