//! Host production loaders for HIE's own formats: `hie_host::production::load_str` with a
//! `.yaml`/`.yml` path and a `.json` path, and with no extension (format sniffing).
//!
//! Input: `[selector byte] text` (selector % 3: .yaml, .json, no extension).
//!
//! Invariants: nothing panics; loading is deterministic; every reported line number lies
//! inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "production_common.rs"]
mod production_common;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let path = ["production.yaml", "production.json", "production"][usize::from(sel) % 3];
    production_common::check(path, text);
});
