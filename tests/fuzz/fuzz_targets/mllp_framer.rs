//! hie-hl7 MLLP framer: `MllpDecoder::decode` on arbitrary chunkings of a byte stream.
//!
//! Input: `[max-size byte] [chunking seed bytes x4] stream`. The stream is decoded in one
//! piece, one byte at a time, and in chunks whose sizes come from the seed.
//!
//! Invariants: nothing panics; every chunking gives the same frames (and the same number of
//! oversize drops) as decoding the whole stream at once; no frame is longer than the
//! maximum or holds a start byte; what is left buffered is never more than the input.
#![no_main]

use hie_hl7::mllp::{MllpDecoder, MllpItem, START_BLOCK};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq, Eq, Default)]
struct Out {
    frames: Vec<Vec<u8>>,
    oversize: usize,
}

fn run(max: usize, stream: &[u8], mut next_chunk: impl FnMut() -> usize) -> Out {
    let mut dec = MllpDecoder::new(max);
    let mut buf = Vec::new();
    let mut out = Out::default();
    let mut i = 0;
    loop {
        let n = next_chunk().max(1);
        let end = (i + n).min(stream.len());
        buf.extend_from_slice(&stream[i..end]);
        i = end;
        for item in dec.decode(&mut buf) {
            match item {
                MllpItem::Frame(f) => {
                    assert!(f.len() <= max, "frame of {} bytes over the maximum {max}", f.len());
                    assert!(!f.contains(&START_BLOCK), "a frame holds a start byte");
                    out.frames.push(f);
                }
                MllpItem::Oversize { discarded } => {
                    assert!(discarded > max);
                    out.oversize += 1;
                }
                MllpItem::JunkSkipped(n) => assert!(n > 0),
            }
        }
        assert!(buf.len() <= stream.len());
        if i >= stream.len() {
            break;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let max = match data[0] {
        0 => usize::MAX / 2,
        255 => hie_hl7::mllp::DEFAULT_MAX_FRAME_SIZE,
        b => usize::from(b),
    };
    let mut seed = u32::from_le_bytes([data[1], data[2], data[3], data[4]]) as u64 | 1;
    let stream = &data[5..];

    let whole = run(max, stream, || usize::MAX);
    let bytewise = run(max, stream, || 1);
    assert_eq!(whole, bytewise, "byte-at-a-time decoding differs");
    let chunked = run(max, stream, || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        1 + (seed % 64) as usize
    });
    assert_eq!(whole, chunked, "chunked decoding differs");
});
