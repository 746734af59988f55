//! hie-hl7: parse, every accessor, paths from the input, escapes and charsets, MessageBuf
//! edits and to_bytes, batch splitting, ACK and NACK building.
//!
//! Input: `message [NUL lines]`. Each line (at most 6) is `PATH` (read), `PATH=VALUE`
//! (`set`), `PATH#RAW` (`set_raw`), `PATH!` (`set_null`), `+SEGMENT` (`push_segment`) or
//! `-N` (`remove_segment`).
//!
//! Invariants: nothing panics; `as_bytes()` is the input; an unedited MessageBuf (from the
//! message or parsed itself) gives the input back byte for byte; Message and MessageBuf
//! agree on every lookup; a path's text form parses back to the same path; escape then
//! unescape gives the value back; a value written with `set` reads back as written (where
//! the charset can hold it) and every edited message parses; ACKs and NACKs parse.
#![no_main]

use hie_hl7::ack::{AckBuilder, AckCode, AckError, AckMode, build_ack, nack_for_unparseable, parse_ack};
use hie_hl7::{
    Batch, Charset, Delimiters, MessageBuf, Path, escape, parse, split_messages, split_units, unescape,
};
use hie_fuzz::{lines, split_nul};
use libfuzzer_sys::fuzz_target;

fn walk(msg: &hie_hl7::Message<'_>) {
    for seg in msg.segments() {
        let _ = (seg.name(), seg.raw(), seg.terminator(), seg.index(), seg.is_header(), seg.field_count());
        for (fi, field) in seg.fields().enumerate() {
            let _ = (field.raw(), field.is_empty(), field.is_null(), field.value());
            let _ = field.component(1);
            let _ = seg.field(fi);
            for (ri, rep) in field.repetitions().enumerate() {
                let _ = (rep.raw(), rep.value(), field.repetition(ri + 1));
                for (ci, comp) in rep.components().enumerate() {
                    let _ = (comp.raw(), comp.value(), rep.component(ci + 1));
                    for (k, sub) in comp.subcomponents().enumerate() {
                        assert_eq!(comp.subcomponent(k + 1), Some(sub));
                        let _ = comp.subcomponent_value(k + 1);
                    }
                }
            }
        }
    }
    let _ = (msg.prefix(), msg.body(), msg.has_bom(), msg.charset_kind(), msg.dominant_terminator());
    let _ = (msg.message_type(), msg.message_code(), msg.trigger_event(), msg.message_structure());
    let _ = (msg.control_id(), msg.processing_id(), msg.version(), msg.charset());
    let _ = (msg.sending_application(), msg.sending_facility(), msg.receiving_application());
    let _ = (msg.receiving_facility(), msg.accept_ack_type(), msg.application_ack_type());
    let _ = msg.segments_named("OBX").count();
    let _ = (msg.find_segment("PID", 1), msg.has_segment("ZPI"));
    let _ = AckMode::of(msg);
}

fn check_path(msg: &hie_hl7::Message<'_>, buf: &MessageBuf, text: &str) -> Option<Path> {
    let r = Path::parse(text);
    assert_eq!(msg.get_str(text).ok().flatten(), r.as_ref().ok().and_then(|p| msg.get(p)));
    let p = r.ok()?;
    let canonical = p.to_string();
    assert_eq!(Path::parse(&canonical).as_ref(), Ok(&p), "{canonical}");
    let _ = p.to_erl();
    let raw = msg.get(&p);
    assert_eq!(buf.get(&p), raw, "{p}: Message and MessageBuf disagree");
    assert_eq!(buf.value(&p), msg.value(&p), "{p}");
    let _ = msg.is_null(&p);
    let _ = AckError::new(102, "x").at(&p);
    Some(p)
}

enum Edit<'v> {
    Set(&'v str),
    Raw(&'v str),
    Null,
}

fn edit(orig: &MessageBuf, p: &Path, e: &Edit<'_>) {
    let mut buf = orig.clone();
    let (r, value) = match e {
        Edit::Set(v) => (buf.set(p, v), Some(*v)),
        Edit::Raw(v) => (buf.set_raw(p, v.as_bytes()), None),
        Edit::Null => (buf.set_null(p), None),
    };
    if r.is_err() {
        return;
    }
    let out = buf.to_bytes();
    let re = parse(&out).unwrap_or_else(|err| panic!("{p}: edited message must parse: {err}"));
    let charset_field = p.segment() == "MSH" && p.field() == 18;
    match (e, value) {
        (Edit::Set(_), Some(v)) => {
            let lossless = matches!(buf.charset_kind(), Charset::Ascii | Charset::Utf8 | Charset::Unknown);
            if lossless && !charset_field && v != "\"\"" {
                assert_eq!(re.value(p).as_deref(), Some(v), "{p}: value written with set reads back");
            }
        }
        // HL7's null is `""`: with `"` as a delimiter (MSH-2 accepts any punctuation) it
        // reads back as delimiters, so it cannot be checked there.
        (Edit::Null, _) if !charset_field && !buf.delimiters().is_delimiter(b'"') => {
            assert!(re.is_null(p), "{p} must be null")
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let (bytes, extra) = split_nul(data);

    let _ = split_messages(bytes);
    let _ = split_units(bytes);
    if let Ok(b) = Batch::parse(bytes) {
        let _ = (b.is_batch(), b.counts_match(), b.declared_message_count(), b.declared_batch_count());
        let _ = (b.file_header_field(3), b.batch_header_field(3));
    }
    let err = AckError::new(100, "fuzz");
    let nack = nack_for_unparseable(bytes, AckCode::AR, &err, "20240101", Some("C1"));
    assert!(parse(&nack).is_ok(), "NACK must parse: {:?}", String::from_utf8_lossy(&nack));

    let d = Delimiters::default();
    for cs in [Charset::Utf8, Charset::Latin9] {
        let _ = unescape(bytes, &d, cs);
    }

    let parsed = parse(bytes);
    if let Err(e) = &parsed {
        let _ = (e.segment_index(), e.byte_offset(), e.erl_location(), e.ack_error_code(), e.to_string());
        let _ = AckError::from_parse_error(e);
    }
    let Ok(msg) = parsed else {
        assert!(MessageBuf::parse(bytes).is_err());
        return;
    };
    assert_eq!(msg.as_bytes(), bytes);
    assert_eq!(msg.to_bytes(), bytes);
    let buf = MessageBuf::from_message(&msg);
    assert_eq!(buf.to_bytes(), bytes, "unedited MessageBuf must round-trip");
    let parsed_buf = MessageBuf::parse(bytes).expect("MessageBuf parses what Message parses");
    assert_eq!(parsed_buf.to_bytes(), bytes);
    assert_eq!(buf.segment_count(), msg.segment_count());
    for i in 0..buf.segment_count() {
        let _ = (buf.segment_raw(i), buf.segment_name(i));
    }
    walk(&msg);
    let _ = parse_ack(&msg);
    let ack = AckBuilder::new(&msg, AckCode::AE, "20240101")
        .error(AckError::new(207, "x").with_location("PID^1^3"))
        .text("t")
        .control_id("C2")
        .build();
    assert!(parse(&ack).is_ok(), "ACK must parse: {:?}", String::from_utf8_lossy(&ack));
    let ack = build_ack(&msg, AckCode::AA, None, Some("F:A"), None, "20240101");
    assert!(parse(&ack).is_ok(), "ACK must parse: {:?}", String::from_utf8_lossy(&ack));

    let delims = msg.delimiters();
    let mut edited = buf.clone();
    for line in lines(extra).take(6) {
        if let Some(seg) = line.strip_prefix('+') {
            let _ = edited.push_segment(seg.as_bytes());
            continue;
        }
        if let Some(n) = line.strip_prefix('-').and_then(|n| n.parse::<usize>().ok()) {
            let _ = edited.remove_segment(n);
            continue;
        }
        let (path_text, e) = if let Some(p) = line.strip_suffix('!') {
            (p, Some(Edit::Null))
        } else if let Some((p, v)) = line.split_once('=') {
            (p, Some(Edit::Set(v)))
        } else if let Some((p, v)) = line.split_once('#') {
            (p, Some(Edit::Raw(v)))
        } else {
            (line.as_str(), None)
        };
        let Some(p) = check_path(&msg, &buf, path_text) else { continue };
        if let Some(e) = e {
            if let Edit::Set(v) = e {
                let esc = escape(v, &delims);
                assert_eq!(unescape(esc.as_bytes(), &delims, Charset::Utf8), v, "escape round trip");
                let _ = edited.set(&p, v);
            }
            edit(&buf, &p, &e);
        }
    }
    if !extra.is_empty() {
        let out = edited.to_bytes();
        assert!(parse(&out).is_ok(), "edited message must parse: {:?}", String::from_utf8_lossy(&out));
    }
});
