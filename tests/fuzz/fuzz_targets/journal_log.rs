//! The commit-log record decoder (host/src/journal/log.rs `parse_segment`/`parse_record`,
//! through the `hie_host::journal::fuzz_parse_log_segment` hook): a segment's bytes as
//! recovery reads them.
//!
//! Input: `[mode byte] segment bytes`. Mode even: the bytes as they are. Mode odd: each
//! record's CRC is fixed up first (walking `len u32 | crc u32 | lsn u64 | payload`), so
//! the fuzzer reaches the postcard decoding of `Vec<Op>` instead of stopping at the CRC.
//!
//! Invariants: nothing panics or allocates without bound; a prefix of a segment never
//! holds more records than the whole; zeros appended add at most the one record
//! they may complete (a short record at the end) and never lose one.
#![no_main]

use hie_host::journal::fuzz_parse_log_segment;
use libfuzzer_sys::fuzz_target;

fn fix_crcs(bytes: &mut [u8]) {
    let mut pos = 0usize;
    while pos + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let Some(end) = pos.checked_add(16).and_then(|p| p.checked_add(len)) else { return };
        if end > bytes.len() {
            return;
        }
        let crc = crc32fast::hash(&bytes[pos + 16..end]);
        bytes[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        fix_crcs(&mut bytes);
    }
    let n = fuzz_parse_log_segment(&bytes);
    let half = fuzz_parse_log_segment(&bytes[..bytes.len() / 2]);
    assert!(half <= n, "a prefix holds {half} records, the whole {n}");
    bytes.extend_from_slice(&[0u8; 32]);
    let padded = fuzz_parse_log_segment(&bytes);
    assert!(padded == n || padded == n + 1, "zeros appended: {n} records became {padded}");
});
