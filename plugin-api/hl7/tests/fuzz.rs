//! Pseudo-random mutation of the samples: nothing may panic, and what parses must still
//! round-trip byte for byte. Deterministic (fixed seeds) so failures reproduce.

use hie_hl7::ack::{AckBuilder, AckCode, AckError, nack_for_unparseable, parse_ack};
use hie_hl7::mllp::MllpDecoder;
use hie_hl7::{Batch, Charset, Delimiters, MessageBuf, Path, parse, split_messages, unescape};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/samples");

mod mutate;

use mutate::Rng;

const INTERESTING: &[u8] = b"\r\n|^~\\&#\"MSHXF.\x0B\x1C\x00\xFF\xC3 ";

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    mutate::mutate(rng, input, INTERESTING)
}

fn random_path(rng: &mut Rng) -> Path {
    const SEGS: [&str; 8] = ["MSH", "PID", "OBX", "PV1", "ZPI", "EVN", "NTE", "IN1"];
    let mut p = Path::new(SEGS[rng.below(SEGS.len())], 1 + rng.below(25)).unwrap();
    if rng.below(3) == 0 {
        p = p.with_occurrence(1 + rng.below(3));
    }
    if rng.below(3) == 0 {
        p = p.with_repetition(1 + rng.below(3));
    }
    if rng.below(2) == 0 {
        p = p.with_component(1 + rng.below(6));
    }
    if rng.below(3) == 0 {
        p = p.with_subcomponent(1 + rng.below(3));
    }
    p
}

fn random_text(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcXYZ019 |^~\\&#\r\n.\"";
    let len = rng.below(12);
    let s: String = (0..len).map(|_| char::from(CHARS[rng.below(CHARS.len())])).collect();
    if s == "\"\"" { "x".into() } else { s }
}

fn exercise(rng: &mut Rng, bytes: &[u8]) {
    let _ = split_messages(bytes);
    let _ = Batch::parse(bytes).map(|b| (b.counts_match(), b.declared_message_count()));
    let err = AckError::new(100, "fuzz");
    let nack = nack_for_unparseable(bytes, AckCode::AR, &err, "20240101", None);
    assert!(nack.ends_with(b"\r"));
    assert!(parse(&nack).is_ok(), "NACK must parse: {:?}", String::from_utf8_lossy(&nack));

    // MLLP decoding of the mutated bytes in random chunks.
    let mut dec = MllpDecoder::new(1 + rng.below(4096));
    let mut buf = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let n = 1 + rng.below(300);
        buf.extend_from_slice(&bytes[i..(i + n).min(bytes.len())]);
        i += n;
        let _ = dec.decode(&mut buf);
    }

    // Unescape arbitrary slices with arbitrary delimiters.
    let d = Delimiters::from_parts(b'|', b"^~\\&#").unwrap();
    let start = rng.below(bytes.len());
    let end = start + rng.below(bytes.len() - start + 1);
    for cs in [Charset::Ascii, Charset::Latin1, Charset::Latin9, Charset::Utf8] {
        let _ = unescape(&bytes[start..end], &d, cs);
    }

    let Ok(msg) = parse(bytes) else {
        return;
    };
    assert_eq!(msg.as_bytes(), bytes);
    assert_eq!(MessageBuf::from_message(&msg).to_bytes(), bytes);
    for seg in msg.segments() {
        for field in seg.fields() {
            let _ = field.value();
            for rep in field.repetitions() {
                let _ = rep.value();
                for comp in rep.components() {
                    let _ = comp.value();
                    for (k, _) in comp.subcomponents().enumerate() {
                        let _ = comp.subcomponent_value(k + 1);
                    }
                }
            }
        }
    }
    let _ = (msg.message_type(), msg.control_id(), msg.version(), msg.charset());
    let _ = parse_ack(&msg);
    let ack =
        AckBuilder::new(&msg, AckCode::AE, "20240101").error(AckError::new(207, "x").with_location("PID^1^3")).build();
    assert!(parse(&ack).is_ok(), "ACK must parse: {:?}", String::from_utf8_lossy(&ack));

    let mut buf = MessageBuf::from_message(&msg);
    for _ in 0..4 {
        let path = random_path(rng);
        let _ = msg.get(&path);
        let _ = msg.value(&path);
        let _ = msg.is_null(&path);
        let text = random_text(rng);
        if buf.set(&path, &text).is_ok() {
            let out = buf.to_bytes();
            let re = parse(&out).unwrap_or_else(|e| panic!("edited message must parse: {e}"));
            if buf.charset_kind() != Charset::Latin1 && buf.charset_kind() != Charset::Latin9 {
                assert_eq!(re.value(&path).as_deref(), Some(text.as_str()), "{path}");
            }
        }
    }
}

#[test]
fn mutated_samples_never_panic_and_parsed_ones_round_trip() {
    let mut files: Vec<_> = std::fs::read_dir(SAMPLES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    files.sort();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    let mut total = 0;
    for f in &files {
        let original = std::fs::read(f).unwrap();
        exercise(&mut rng, &original);
        for _ in 0..300 {
            let m = mutate(&mut rng, &original);
            exercise(&mut rng, &m);
            parsed += usize::from(parse(&m).is_ok());
            total += 1;
        }
    }
    // Sanity: the mutations must not all be fatal, or the round-trip checks test nothing.
    assert!(parsed > total / 10, "only {parsed} of {total} mutated inputs parsed");
}

#[test]
fn random_bytes_and_prefixes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let len = rng.below(64);
        let mut v: Vec<u8> = (0..len).map(|_| INTERESTING[rng.below(INTERESTING.len())]).collect();
        if rng.below(2) == 0 {
            v.splice(0..0, b"MSH|^~\\&".iter().copied());
        }
        exercise(&mut rng, &v);
    }
    // Every prefix of a sample.
    let sample = std::fs::read(format!("{SAMPLES}/pyhl7_sample_file_FHS_BHS_batch.hl7")).unwrap();
    for i in 0..=sample.len() {
        exercise(&mut rng, &sample[..i]);
    }
}

#[test]
fn random_path_texts_never_panic() {
    let mut rng = Rng(7);
    const CHARS: [char; 26] = [
        'P', 'I', 'D', 'O', 'B', 'X', '-', ':', '.', '(', ')', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ' ',
        'x', 'é', '€', 'p',
    ];
    for _ in 0..20000 {
        let len = rng.below(16);
        let s: String = (0..len).map(|_| CHARS[rng.below(CHARS.len())]).collect();
        if let Ok(p) = s.parse::<Path>() {
            // Display output parses back to the same path.
            assert_eq!(p.to_string().parse::<Path>(), Ok(p), "{s:?}");
        }
    }
}
