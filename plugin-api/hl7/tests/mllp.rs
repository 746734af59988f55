//! MLLP framing: junk, split and pipelined frames, FS CR LF, oversize resync.

use hie_hl7::mllp::{
    COMMIT_ACK_BLOCK, COMMIT_NAK_BLOCK, CR, Decoded, END_BLOCK, MllpDecoder, MllpEvent, MllpItem, START_BLOCK, encode,
    encode_into,
};

const MSG1: &[u8] = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1\r";
const MSG2: &[u8] = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|2|P|2.5\rPID|2\r";

fn frames(items: &[MllpItem]) -> Vec<&[u8]> {
    items
        .iter()
        .filter_map(|i| match i {
            MllpItem::Frame(f) => Some(f.as_slice()),
            _ => None,
        })
        .collect()
}

#[test]
fn encode_wraps_payload_and_constants_are_mllp() {
    assert_eq!((START_BLOCK, END_BLOCK, CR), (0x0B, 0x1C, 0x0D));
    assert_eq!(encode(b"x"), [0x0B, b'x', 0x1C, 0x0D]);
    let mut out = b"pre".to_vec();
    encode_into(&mut out, b"y");
    assert_eq!(out, b"pre\x0By\x1C\x0D");
    assert_eq!(COMMIT_ACK_BLOCK, [0x0B, 0x06, 0x1C, 0x0D]);
    assert_eq!(COMMIT_NAK_BLOCK, [0x0B, 0x15, 0x1C, 0x0D]);
}

#[test]
fn next_frame_reports_range_and_consumed() {
    let mut dec = MllpDecoder::default();
    let mut buf = encode(MSG1);
    buf.extend_from_slice(b"\x0Bpartial");
    let d = dec.next_frame(&buf);
    assert_eq!(d.consumed, MSG1.len() + 3);
    assert_eq!(d.payload(&buf), Some(MSG1));
    assert_eq!(d.event, MllpEvent::Frame(1..1 + MSG1.len()));
    buf.drain(..d.consumed);
    assert_eq!(dec.next_frame(&buf), Decoded { consumed: 0, event: MllpEvent::NeedMore });
    assert!(dec.in_frame());
}

#[test]
fn junk_before_start_byte_is_skipped() {
    let mut dec = MllpDecoder::default();
    let mut buf = b"\r\nnoise".to_vec();
    buf.extend(encode(MSG1));
    let items = dec.decode(&mut buf);
    assert_eq!(items[0], MllpItem::JunkSkipped(7));
    assert_eq!(frames(&items), [MSG1]);
    assert!(buf.is_empty());
    // Junk without any start byte is dropped as it arrives, never buffered.
    let mut buf = vec![b'x'; 1000];
    assert_eq!(dec.decode(&mut buf), [MllpItem::JunkSkipped(1000)]);
    assert!(buf.is_empty());
}

#[test]
fn frame_split_across_reads_byte_by_byte() {
    let mut dec = MllpDecoder::default();
    let mut wire = encode(MSG1);
    wire.extend(encode(MSG2));
    let mut buf = Vec::new();
    let mut got = Vec::new();
    for &b in &wire {
        buf.push(b);
        got.extend(dec.decode(&mut buf));
    }
    assert_eq!(frames(&got), [MSG1, MSG2]);
    assert_eq!(got.len(), 2);
    assert!(buf.is_empty());
}

#[test]
fn split_exactly_between_fs_and_cr() {
    let mut dec = MllpDecoder::default();
    let wire = encode(MSG1);
    let (a, b) = wire.split_at(wire.len() - 1);
    let mut buf = a.to_vec();
    assert!(dec.decode(&mut buf).is_empty());
    buf.extend_from_slice(b);
    assert_eq!(frames(&dec.decode(&mut buf)), [MSG1]);
}

#[test]
fn pipelined_frames_in_one_read_are_all_delivered() {
    let mut dec = MllpDecoder::default();
    let mut buf = Vec::new();
    for _ in 0..3 {
        encode_into(&mut buf, MSG1);
        encode_into(&mut buf, MSG2);
    }
    let items = dec.decode(&mut buf);
    assert_eq!(frames(&items), [MSG1, MSG2, MSG1, MSG2, MSG1, MSG2]);
    assert!(buf.is_empty());
}

#[test]
fn fs_cr_lf_ending_is_tolerated_even_across_reads() {
    let mut dec = MllpDecoder::default();
    let mut buf = Vec::new();
    for m in [MSG1, MSG2] {
        buf.push(START_BLOCK);
        buf.extend_from_slice(m);
        buf.extend_from_slice(b"\x1C\x0D\x0A");
    }
    let items = dec.decode(&mut buf);
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(frames(&items), [MSG1, MSG2]);
    // The LF arrives in the next read.
    let mut buf = encode(MSG1);
    assert_eq!(frames(&dec.decode(&mut buf)), [MSG1]);
    buf.extend_from_slice(b"\n");
    buf.extend(encode(MSG2));
    let items = dec.decode(&mut buf);
    assert_eq!(items, [MllpItem::Frame(MSG2.to_vec())]);
}

#[test]
fn oversize_frame_is_dropped_and_decoder_resyncs() {
    let mut dec = MllpDecoder::new(64);
    let big = vec![b'A'; 1000];
    let mut wire = encode(&big);
    wire.extend(encode(MSG1));
    // Fed in 100-byte reads: the buffer never grows past the limit plus one read.
    let mut buf = Vec::new();
    let mut got = Vec::new();
    for chunk in wire.chunks(100) {
        buf.extend_from_slice(chunk);
        got.extend(dec.decode(&mut buf));
        assert!(buf.len() <= 64 + 100 + 2, "buffered {}", buf.len());
    }
    assert_eq!(got, [MllpItem::Oversize { discarded: 1003 }, MllpItem::Frame(MSG1.to_vec())]);
    assert!(!dec.is_discarding());

    // A complete oversize frame in one read is reported the same way.
    let mut dec = MllpDecoder::new(10);
    let mut buf = encode(&big);
    buf.extend(encode(b"small"));
    assert_eq!(dec.decode(&mut buf), [MllpItem::Oversize { discarded: 1003 }, MllpItem::Frame(b"small".to_vec())]);
}

#[test]
fn oversize_frame_without_end_resyncs_at_next_start_byte() {
    let mut dec = MllpDecoder::new(16);
    let mut buf = vec![START_BLOCK];
    buf.extend(vec![b'B'; 100]);
    assert!(dec.decode(&mut buf).is_empty());
    assert!(dec.is_discarding());
    buf.extend(encode(b"next"));
    assert_eq!(dec.decode(&mut buf), [MllpItem::Oversize { discarded: 101 }, MllpItem::Frame(b"next".to_vec())]);
}

#[test]
fn oversize_partial_frame_is_oversize_however_it_was_read() {
    // Found by fuzzing (tests/fuzz/corpus/mllp_framer/regression-oversize-partial-frame): a
    // partial frame over the maximum, abandoned by a new start byte, was JunkSkipped when it
    // arrived in one read but Oversize (the connection is closed) when read in pieces.
    let mut wire = vec![START_BLOCK];
    wire.extend(vec![b'B'; 100]);
    wire.extend(encode(b"next"));
    let want = [MllpItem::Oversize { discarded: 101 }, MllpItem::Frame(b"next".to_vec())];
    let mut dec = MllpDecoder::new(16);
    assert_eq!(dec.decode(&mut wire.clone()), want);
    for size in [1, 7, 50, 101, 102] {
        let mut dec = MllpDecoder::new(16);
        let (mut buf, mut got) = (Vec::new(), Vec::new());
        for chunk in wire.chunks(size) {
            buf.extend_from_slice(chunk);
            got.extend(dec.decode(&mut buf));
        }
        assert_eq!(got, want, "reads of {size}");
    }
    // At the maximum it is still a partial frame dropped as junk.
    let mut buf = vec![START_BLOCK];
    buf.extend(vec![b'B'; 16]);
    buf.extend(encode(b"next"));
    let mut dec = MllpDecoder::new(16);
    assert_eq!(dec.decode(&mut buf), [MllpItem::JunkSkipped(17), MllpItem::Frame(b"next".to_vec())]);
}

#[test]
fn frame_of_exactly_the_maximum_is_a_frame_when_its_fs_arrives_alone() {
    // Found by fuzzing (tests/fuzz/regressions/mllp_framer-fs-counted-as-payload): a read ending
    // in the FS of a frame whose payload is exactly the maximum counted that FS as payload
    // and dropped the frame as oversize; in one read the same frame was delivered.
    let payload = b"12345678";
    let wire = encode(payload);
    for size in [1, 2, 9, 10] {
        let mut dec = MllpDecoder::new(payload.len());
        let (mut buf, mut got) = (Vec::new(), Vec::new());
        for chunk in wire.chunks(size) {
            buf.extend_from_slice(chunk);
            got.extend(dec.decode(&mut buf));
        }
        assert_eq!(got, [MllpItem::Frame(payload.to_vec())], "reads of {size}");
    }
    // One byte more is oversize, however it is read.
    let wire = encode(b"123456789");
    for size in [1, 10, 12] {
        let mut dec = MllpDecoder::new(payload.len());
        let (mut buf, mut got) = (Vec::new(), Vec::new());
        for chunk in wire.chunks(size) {
            buf.extend_from_slice(chunk);
            got.extend(dec.decode(&mut buf));
        }
        assert_eq!(got, [MllpItem::Oversize { discarded: 12 }], "reads of {size}");
    }
}

#[test]
fn start_byte_inside_unfinished_frame_drops_the_partial_frame() {
    let mut dec = MllpDecoder::default();
    let mut buf = b"\x0Btruncated".to_vec();
    buf.extend(encode(MSG1));
    let items = dec.decode(&mut buf);
    assert_eq!(items, [MllpItem::JunkSkipped(10), MllpItem::Frame(MSG1.to_vec())]);
}

#[test]
fn fs_without_cr_is_data_unless_a_frame_starts_next() {
    let mut dec = MllpDecoder::default();
    let mut buf = b"\x0Ba\x1Cb\x1C\x0D".to_vec();
    assert_eq!(dec.decode(&mut buf), [MllpItem::Frame(b"a\x1Cb".to_vec())]);
    let mut buf = b"\x0Bone\x1C\x0Btwo\x1C\x0D".to_vec();
    assert_eq!(dec.decode(&mut buf), [MllpItem::Frame(b"one".to_vec()), MllpItem::Frame(b"two".to_vec())]);
}

#[test]
fn empty_frame_and_commit_blocks_decode() {
    let mut dec = MllpDecoder::default();
    let mut buf = encode(b"");
    buf.extend_from_slice(&COMMIT_ACK_BLOCK);
    assert_eq!(dec.decode(&mut buf), [MllpItem::Frame(vec![]), MllpItem::Frame(vec![0x06])]);
}

#[test]
fn large_frame_in_small_reads_is_scanned_incrementally() {
    // 4 MiB in 64-byte reads: rescanning from the start each time would take ~10^11 steps.
    let payload = vec![b'x'; 4 << 20];
    let wire = encode(&payload);
    let mut dec = MllpDecoder::default();
    let mut buf = Vec::with_capacity(wire.len());
    let mut got = Vec::new();
    for chunk in wire.chunks(64) {
        buf.extend_from_slice(chunk);
        let d = dec.next_frame(&buf);
        if let Some(p) = d.payload(&buf) {
            got.push(p.len());
        }
        buf.drain(..d.consumed);
    }
    assert_eq!(got, [payload.len()]);
}

#[test]
fn broken_contract_does_not_panic() {
    let mut dec = MllpDecoder::default();
    let _ = dec.next_frame(b"\x0Babcdef");
    // Caller "forgets" to keep the bytes and passes something shorter/different.
    let _ = dec.next_frame(b"zz");
    let _ = dec.next_frame(b"");
    dec.reset();
    assert!(!dec.in_frame());
}
