//! hie-hl7 IRIS `Framing` decoders: `FrameDecoder::decode` on arbitrary chunkings of a byte
//! stream, for every framing.
//!
//! Input: `[framing byte] [max-size byte] [chunking seed bytes x4] stream`. The framing byte
//! picks one of the values below; the stream is decoded in one piece, one byte at a time and
//! in chunks whose sizes come from the seed, then flushed (the sender paused).
//!
//! Invariants: nothing panics; no frame is longer than the maximum; what is left buffered is
//! never more than the input; for the fixed framings every chunking gives the same frames
//! (and the same number of oversize drops) as decoding the whole stream at once. `Flexible`
//! may place a message differently when it gives up at the maximum before deciding, and
//! may frame a reply differently (see hie_hl7::framing), so only its payloads are compared,
//! and only when nothing was oversize.
#![no_main]

use hie_hl7::framing::{Direction, FrameDecoder, Framing};
use hie_hl7::mllp::MllpItem;
use libfuzzer_sys::fuzz_target;

const FRAMINGS: [&str; 12] = [
    "MLLP",
    "MLLP2/3",
    "MLLP28/28",
    "Ascii2/3",
    "Ascii28/28",
    "AsciiLF",
    "AsciiCR",
    "Ascii28",
    "Ascii77",
    "None",
    "Flexible",
    "Flexible!",
];

#[derive(Debug, PartialEq, Eq, Default)]
struct Out {
    frames: Vec<Vec<u8>>,
    oversize: usize,
}

fn collect(out: &mut Out, max: usize, items: Vec<(MllpItem, hie_hl7::framing::Frame)>) {
    for (item, _) in items {
        match item {
            MllpItem::Frame(f) => {
                assert!(f.len() <= max, "frame of {} bytes over the maximum {max}", f.len());
                out.frames.push(f);
            }
            MllpItem::Oversize { .. } => out.oversize += 1,
            MllpItem::JunkSkipped(n) => assert!(n > 0),
        }
    }
}

fn run(framing: Framing, max: usize, stream: &[u8], mut next_chunk: impl FnMut() -> usize) -> Out {
    let mut dec = FrameDecoder::new(framing, max);
    let mut buf = Vec::new();
    let mut out = Out::default();
    let mut i = 0;
    loop {
        let n = next_chunk().max(1);
        let end = (i + n).min(stream.len());
        buf.extend_from_slice(&stream[i..end]);
        i = end;
        collect(&mut out, max, dec.decode(&mut buf));
        assert!(buf.len() <= stream.len());
        if i >= stream.len() {
            break;
        }
    }
    collect(&mut out, max, dec.flush_decode(&mut buf));
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let text = FRAMINGS[usize::from(data[0]) % FRAMINGS.len()];
    let Ok(framing) = Framing::parse(text, Direction::Inbound) else { return };
    let max = match data[1] {
        0 => usize::MAX / 2,
        b => usize::from(b),
    };
    let mut seed = u32::from_le_bytes([data[2], data[3], data[4], data[5]]) as u64 | 1;
    let stream = &data[6..];

    let whole = run(framing, max, stream, || usize::MAX);
    let bytewise = run(framing, max, stream, || 1);
    let chunked = run(framing, max, stream, || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        1 + (seed % 64) as usize
    });
    if matches!(framing, Framing::Flexible { .. }) {
        if whole.oversize + bytewise.oversize + chunked.oversize == 0 {
            assert_eq!(whole.frames, bytewise.frames, "byte-at-a-time decoding differs");
            assert_eq!(whole.frames, chunked.frames, "chunked decoding differs");
        }
        return;
    }
    assert_eq!(whole, bytewise, "byte-at-a-time decoding differs");
    assert_eq!(whole, chunked, "chunked decoding differs");
});
