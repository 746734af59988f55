//! The engine <-> worker protocol decoder (host/src/worker/protocol.rs): frame payloads
//! decoded as `ToWorker` (engine -> worker) and `ToEngine` (worker -> engine).
//!
//! Invariants: nothing panics or allocates without bound; whatever decodes re-encodes, and
//! the re-encoding decodes to the same value and re-encodes to the same bytes.
#![no_main]

use hie_host::worker::protocol::{ToEngine, ToWorker, decode, encode};
use libfuzzer_sys::fuzz_target;

macro_rules! roundtrip {
    ($t:ty, $data:expr) => {
        if let Ok(v) = decode::<$t>($data) {
            let once = encode(&v).expect("a decoded frame re-encodes");
            let back = decode::<$t>(&once).expect("a re-encoded frame decodes");
            assert_eq!(format!("{v:?}"), format!("{back:?}"));
            assert_eq!(encode(&back).expect("re-encodes"), once, "re-encoding is not stable");
        }
    };
}

fuzz_target!(|data: &[u8]| {
    roundtrip!(ToWorker, data);
    roundtrip!(ToEngine, data);
});
