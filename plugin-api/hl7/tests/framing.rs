//! IRIS `Framing`: every value parsed, encoded and decoded, whole and split into reads,
//! with junk between messages and a frame-size bound.

use hie_hl7::framing::{Direction, Frame, FrameDecoder, Framing};
use hie_hl7::mllp::MllpItem;

const MSG1: &[u8] = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1\r";
const MSG2: &[u8] = b"MSH|^~\\&|A|B|C|D|1||ADT^A01|2|P|2.5\rPID|2\r";

fn parse(text: &str) -> Framing {
    Framing::parse(text, Direction::Inbound).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// What a stream decodes to: frames with the framing each came in, and oversize drops.
#[derive(Debug, PartialEq, Eq, Default)]
struct Out {
    frames: Vec<(Vec<u8>, Frame)>,
    oversize: usize,
}

fn collect(out: &mut Out, items: Vec<(MllpItem, Frame)>) {
    for (item, frame) in items {
        match item {
            MllpItem::Frame(f) => out.frames.push((f, frame)),
            MllpItem::Oversize { .. } => out.oversize += 1,
            MllpItem::JunkSkipped(n) => assert!(n > 0),
        }
    }
}

/// Decodes `stream` in reads of `chunk` bytes, then flushes (the sender paused).
fn run(framing: Framing, max: usize, stream: &[u8], chunk: usize) -> Out {
    let mut dec = FrameDecoder::new(framing, max);
    let mut buf = Vec::new();
    let mut out = Out::default();
    for piece in stream.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        collect(&mut out, dec.decode(&mut buf));
    }
    collect(&mut out, dec.flush_decode(&mut buf));
    out
}

/// Decodes `stream` whole, byte by byte and in 7-byte reads; all three must agree.
fn decode(framing: Framing, max: usize, stream: &[u8]) -> Out {
    let whole = run(framing, max, stream, usize::MAX);
    assert_eq!(run(framing, max, stream, 1), whole, "byte-at-a-time decoding of {framing} differs");
    assert_eq!(run(framing, max, stream, 7), whole, "split decoding of {framing} differs");
    whole
}

fn payloads(out: &Out) -> Vec<&[u8]> {
    out.frames.iter().map(|(f, _)| f.as_slice()).collect()
}

#[test]
fn every_iris_value_parses_in_any_case_and_bad_ones_are_refused() {
    let cases = [
        ("Flexible", Framing::Flexible { strict: false }),
        ("flexible!", Framing::Flexible { strict: true }),
        ("NONE", Framing::Fixed(Frame::None)),
        ("MLLP", Framing::Fixed(Frame::MLLP)),
        ("mllp11/28", Framing::Fixed(Frame::MLLP)),
        ("MLLP02/03", Framing::Fixed(Frame::Block { start: 2, end: 3, cr: true })),
        ("AsciiLF", Framing::Fixed(Frame::Suffix(0x0A))),
        ("asciicr", Framing::Fixed(Frame::Suffix(0x0D))),
        ("Ascii13", Framing::Fixed(Frame::Suffix(0x0D))),
        ("Ascii35", Framing::Fixed(Frame::Suffix(35))),
        ("Ascii2/3", Framing::Fixed(Frame::Block { start: 2, end: 3, cr: false })),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text), want, "{text}");
    }
    assert_eq!(Framing::parse(" ", Direction::Inbound), Ok(Framing::Flexible { strict: false }));
    assert_eq!(Framing::parse("", Direction::Outbound), Ok(Framing::Fixed(Frame::MLLP)));
    for bad in ["MLLP2", "MLLP2/", "Ascii256", "Ascii", "AsciiX", "MLLP+2/3", "Flex", "MLLP 2/3"] {
        let e = Framing::parse(bad, Direction::Inbound).expect_err(bad).to_string();
        assert!(e.contains("invalid value") && e.contains("MLLPnn/mm"), "{bad}: {e}");
    }
    for unavailable in ["LLP", "MsgEnvelope"] {
        let e = Framing::parse(unavailable, Direction::Outbound).expect_err(unavailable).to_string();
        assert!(e.contains("not available in HIE"), "{e}");
    }
}

#[test]
fn framings_display_as_iris_spells_them() {
    for text in ["Flexible", "Flexible!", "None", "MLLP", "MLLP2/3", "Ascii2/3", "AsciiLF", "AsciiCR", "Ascii35"] {
        assert_eq!(parse(text).to_string(), text);
    }
}

#[test]
fn each_framing_encodes_the_bytes_of_the_iris_table() {
    let m = b"M\r";
    let enc = |t: &str| parse(t).send_frame().encode(m);
    assert_eq!(enc("MLLP"), b"\x0BM\r\x1C\r");
    assert_eq!(enc("MLLP2/3"), b"\x02M\r\x03\r");
    assert_eq!(enc("Ascii2/3"), b"\x02M\r\x03");
    assert_eq!(enc("AsciiLF"), b"M\r\n");
    assert_eq!(enc("AsciiCR"), b"M\r\r");
    assert_eq!(enc("Ascii28"), b"M\r\x1C");
    assert_eq!(enc("None"), b"M\r");
    assert_eq!(enc("Flexible"), b"\x0BM\r\x1C\r", "an operation set to Flexible sends MLLP");
}

#[test]
fn every_fixed_framing_decodes_what_it_encodes_split_or_whole_with_junk_between() {
    for text in ["MLLP", "MLLP2/3", "Ascii2/3", "AsciiLF", "AsciiCR", "Ascii28", "Ascii35"] {
        let framing = parse(text);
        let frame = framing.send_frame();
        let mut stream = b"\r\n  ".to_vec();
        frame.encode_into(&mut stream, MSG1);
        stream.extend_from_slice(b"\r\n");
        frame.encode_into(&mut stream, MSG2);
        let out = decode(framing, 1 << 20, &stream);
        assert_eq!(payloads(&out), [MSG1, MSG2], "{text}");
        assert!(out.frames.iter().all(|(_, f)| *f == frame), "{text}");
        assert_eq!(out.oversize, 0, "{text}");
    }
}

#[test]
fn none_splits_at_each_line_starting_msh_and_ends_the_last_message_on_a_pause() {
    let stream = [MSG1, MSG2].concat();
    let out = decode(parse("None"), 1 << 20, &stream);
    assert_eq!(payloads(&out), [MSG1, MSG2]);
    // Before the pause only the first is complete.
    let mut dec = FrameDecoder::new(parse("None"), 1 << 20);
    let mut buf = stream.clone();
    let items = dec.decode(&mut buf);
    assert_eq!(items.len(), 1);
    assert!(dec.in_frame() && dec.ends_on_pause());
    // CRLF segment terminators stay part of the message.
    let crlf = b"MSH|^~\\&|A\r\nPID|1\r\nMSH|^~\\&|B\r\n";
    let out = decode(parse("None"), 1 << 20, crlf);
    assert_eq!(payloads(&out), [&crlf[..19], &crlf[19..]]);
}

#[test]
fn mllp_tolerates_fs_cr_lf_and_fs_followed_by_the_next_start() {
    let stream = [b"\x0B".as_slice(), MSG1, b"\x1C\r\n\x0B", MSG2, b"\x1C\x0B", MSG1, b"\x1C\r"].concat();
    for framing in ["MLLP", "Flexible", "Flexible!"] {
        let out = decode(parse(framing), 1 << 20, &stream);
        assert_eq!(payloads(&out), [MSG1, MSG2, MSG1], "{framing}");
    }
    // MLLPnn/mm likewise: `mm CR LF`.
    let stream = [b"\x02".as_slice(), MSG1, b"\x03\r\n\x02", MSG2, b"\x03\r"].concat();
    assert_eq!(payloads(&decode(parse("MLLP2/3"), 1 << 20, &stream)), [MSG1, MSG2]);
}

#[test]
fn flexible_detects_each_framing_and_reports_it_for_the_reply() {
    for text in ["MLLP", "MLLP2/3", "Ascii2/3", "AsciiLF", "AsciiCR", "Ascii28", "None"] {
        let frame = parse(text).send_frame();
        let mut stream = b"\r\n".to_vec();
        frame.encode_into(&mut stream, MSG1);
        frame.encode_into(&mut stream, MSG2);
        for flexible in ["Flexible", "Flexible!"] {
            // Split reads give the same messages; whether MLLPnn/mm or Asciinn/mm is told
            // by the byte after the end byte, which a split read may not have yet.
            let out = run(parse(flexible), 1 << 20, &stream, usize::MAX);
            for chunk in [1, 7] {
                let split = run(parse(flexible), 1 << 20, &stream, chunk);
                assert_eq!(payloads(&split), payloads(&out), "{flexible} reading {text} in {chunk}-byte reads");
            }
            assert_eq!(payloads(&out), [MSG1, MSG2], "{flexible} reading {text}");
            // Asciinn/mm: the last message, with no byte after its end yet, is answered
            // with a CR after the end byte (MLLPnn/mm), which such a sender skips as junk.
            let told = if text == "Ascii2/3" { 1 } else { 2 };
            assert!(out.frames[..told].iter().all(|(_, f)| *f == frame), "{flexible} reading {text}: {:?}", out.frames);
        }
    }
}

#[test]
fn flexible_detects_every_message_afresh_and_flexible_bang_holds_the_first() {
    let stream = [b"\x0B".as_slice(), MSG1, b"\x1C\r", MSG2, b"\r"].concat();
    let out = decode(parse("Flexible"), 1 << 20, &stream);
    assert_eq!(payloads(&out), [MSG1, MSG2]);
    assert_eq!(out.frames[1].1, Frame::Suffix(0x0D), "the second message came AsciiCR");
    let out = decode(parse("Flexible!"), 1 << 20, &stream);
    assert_eq!(payloads(&out), [MSG1], "after MLLP, unframed bytes are junk");
}

#[test]
fn flexible_skips_junk_that_cannot_start_a_message() {
    let stream = [b"garbage\x02xx\r\n\x0B".as_slice(), MSG1, b"\x1C\r"].concat();
    let out = decode(parse("Flexible"), 1 << 20, &stream);
    assert_eq!(payloads(&out), [MSG1]);
    assert_eq!(out.frames[0].1, Frame::MLLP);
}

#[test]
fn every_framing_drops_a_message_over_max_frame_size_and_keeps_the_next() {
    let big = [b"MSH|^~\\&|BIG\r".as_slice(), &[b'x'; 300], b"\r"].concat();
    for text in ["MLLP", "MLLP2/3", "Ascii2/3", "AsciiLF", "AsciiCR", "Ascii28", "None"] {
        let frame = parse(text).send_frame();
        let mut stream = Vec::new();
        frame.encode_into(&mut stream, &big);
        frame.encode_into(&mut stream, MSG1);
        frame.encode_into(&mut stream, MSG2);
        let out = decode(parse(text), 100, &stream);
        assert_eq!(payloads(&out), [MSG1, MSG2], "{text}");
        assert_eq!(out.oversize, 1, "{text}");
        assert!(out.frames.iter().all(|(f, _)| f.len() <= 100));
    }
    // Flexible that has not placed a message gives up at the bound too.
    let stream = [b"\x02MSH".as_slice(), &[b'x'; 300]].concat();
    let out = run(parse("Flexible"), 100, &stream, usize::MAX);
    assert_eq!((out.frames.len(), out.oversize), (0, 1));
    let unframed = [b"MSH".as_slice(), &[b'x'; 300]].concat();
    let out = run(parse("Flexible"), 100, &unframed, 1);
    assert_eq!((out.frames.len(), out.oversize), (0, 1));
}

#[test]
fn an_unfinished_message_waits_and_a_pause_ends_only_unframed_ones() {
    let mut dec = FrameDecoder::new(parse("AsciiCR"), 1 << 20);
    let mut buf = MSG1.to_vec();
    assert!(dec.decode(&mut buf).is_empty(), "the final CR may be the separator's first half");
    assert!(dec.in_frame() && !dec.ends_on_pause());
    assert!(dec.flush_decode(&mut buf).is_empty(), "AsciiCR needs its extra CR");
    buf.push(b'\r');
    let items = dec.decode(&mut buf);
    assert_eq!(items, [(MllpItem::Frame(MSG1.to_vec()), Frame::Suffix(0x0D))]);
    // Flexible on an unframed message without an end: a pause makes it `None`.
    let mut dec = FrameDecoder::new(parse("Flexible"), 1 << 20);
    let mut buf = MSG1[..MSG1.len() - 1].to_vec();
    assert!(dec.decode(&mut buf).is_empty());
    assert!(dec.ends_on_pause());
    let items = dec.flush_decode(&mut buf);
    assert_eq!(items, [(MllpItem::Frame(MSG1[..MSG1.len() - 1].to_vec()), Frame::None)]);
}

#[test]
fn random_streams_never_panic_and_fixed_framings_decode_the_same_however_split() {
    let alphabet = b"\x0B\x1C\r\nMSH|x\x02\x03#FB";
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let framings = ["MLLP", "MLLP2/3", "MLLP28/28", "Ascii2/3", "Ascii28/28", "AsciiLF", "AsciiCR", "Ascii35", "None"];
    for round in 0..5000 {
        let len = (next() % 200) as usize;
        let stream: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        let max = 1 + (next() % 64) as usize;
        let text = framings[round % framings.len()];
        let out = decode(parse(text), max, &stream);
        assert!(out.frames.iter().all(|(f, _)| f.len() <= max), "{text}");
        for flexible in ["Flexible", "Flexible!"] {
            let outs: Vec<Out> = [usize::MAX, 1, 5].map(|chunk| run(parse(flexible), max, &stream, chunk)).into();
            assert!(outs.iter().all(|o| o.frames.iter().all(|(f, _)| f.len() <= max)), "{flexible}");
            // Without an oversize drop, Flexible places messages the same however split.
            if outs.iter().all(|o| o.oversize == 0) {
                assert!(outs.iter().all(|o| payloads(o) == payloads(&outs[0])), "{flexible} {stream:?}: {outs:?}");
            }
        }
    }
}
