//! Parser edge cases: delimiters, terminators, BOM, escapes, nulls, charsets, paths.

use hie_hl7::{Charset, Delimiters, MessageBuf, ParseError, Path, PathError, parse};

fn p(s: &str) -> Path {
    s.parse().unwrap()
}

fn get<'a>(m: &hie_hl7::Message<'a>, path: &str) -> Option<&'a [u8]> {
    m.get_str(path).unwrap()
}

#[test]
fn five_char_msh2_keeps_field_numbering() {
    let bytes = b"MSH|^~\\&#|APP|FAC|RAPP|RFAC|20240101||ADT^A01^ADT_A01|C1|P|2.7\rPID|1||12\\P\\3\r";
    let m = parse(bytes).unwrap();
    assert_eq!(m.delimiters().truncation, Some(b'#'));
    assert_eq!(get(&m, "MSH-2"), Some(&b"^~\\&#"[..]));
    assert_eq!(m.sending_application(), Some("APP"));
    assert_eq!(m.sending_facility(), Some("FAC"));
    assert_eq!(m.receiving_application(), Some("RAPP"));
    assert_eq!(m.receiving_facility(), Some("RFAC"));
    assert_eq!(m.message_code(), Some("ADT"));
    assert_eq!(m.trigger_event(), Some("A01"));
    assert_eq!(m.control_id(), Some("C1"));
    assert_eq!(m.processing_id(), Some("P"));
    assert_eq!(m.version(), Some("2.7"));
    assert_eq!(m.value(&p("PID-3")).as_deref(), Some("12#3"));
}

#[test]
fn lf_crlf_and_mixed_separators() {
    for sep in ["\r", "\n", "\r\n"] {
        let text = ["MSH|^~\\&|A", "PID|1|x", "ZPI|z"].join(sep) + sep;
        let m = parse(text.as_bytes()).unwrap();
        assert_eq!(m.segment_count(), 3, "{sep:?}");
        assert_eq!(get(&m, "PID-2"), Some(&b"x"[..]));
        assert_eq!(get(&m, "ZPI-1"), Some(&b"z"[..]));
        assert_eq!(m.dominant_terminator(), sep.as_bytes());
        assert_eq!(MessageBuf::from_message(&m).to_bytes(), text.as_bytes());
    }
    let mixed = b"MSH|^~\\&|A\r\nPID|1|x\nPV1|1\rOBX|1\n\n\n";
    let m = parse(mixed).unwrap();
    let names: Vec<&str> = m.segments().map(|s| s.name()).collect();
    assert_eq!(names, ["MSH", "PID", "PV1", "OBX"]);
    assert_eq!(m.segment(3).unwrap().terminator(), b"\n\n\n");
    assert_eq!(MessageBuf::from_message(&m).to_bytes(), mixed);
}

#[test]
fn bom_and_surrounding_whitespace_are_kept_for_serialization() {
    let bytes = b"\xEF\xBB\xBFMSH|^~\\&|A\rPID|1\r\n  \n";
    let m = parse(bytes).unwrap();
    assert!(m.has_bom());
    assert_eq!(m.body(), &bytes[3..]);
    assert_eq!(m.sending_application(), Some("A"));
    assert_eq!(m.as_bytes(), bytes);
    assert_eq!(MessageBuf::from_message(&m).to_bytes(), bytes);
    let lead = b"\r\n  MSH|^~\\&|A\r";
    let m = parse(lead).unwrap();
    assert!(!m.has_bom());
    assert_eq!(m.prefix(), b"\r\n  ");
    assert_eq!(MessageBuf::from_message(&m).to_bytes(), lead);
}

#[test]
fn escapes_including_hex_crlf_are_decoded() {
    let bytes = b"MSH|^~\\&|A\rOBX|1|FT|||line1\\X0D0A\\line2\\.br\\line3 \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\H\\bold\\N\\ \\Zcustom\\\r";
    let m = parse(bytes).unwrap();
    assert_eq!(m.value(&p("OBX-5")).as_deref(), Some("line1\r\nline2\nline3 | ^ & ~ \\ bold \\Zcustom\\"));
    // get() stays raw.
    assert!(get(&m, "OBX-5").unwrap().starts_with(b"line1\\X0D0A\\"));
}

#[test]
fn explicit_null_is_distinct_from_empty() {
    let m = parse(b"MSH|^~\\&|A\rPID|1|\"\"||x^\"\"\r").unwrap();
    assert!(m.is_null(&p("PID-2")));
    assert_eq!(m.value(&p("PID-2")).as_deref(), Some(""));
    assert_eq!(get(&m, "PID-2"), Some(&b"\"\""[..]));
    assert!(!m.is_null(&p("PID-3")));
    assert_eq!(m.value(&p("PID-3")).as_deref(), Some(""));
    assert!(m.is_null(&p("PID-4.2")));
    assert!(!m.is_null(&p("PID-9")));
    assert_eq!(m.value(&p("PID-9")), None);
}

#[test]
fn z_segments_and_empty_fields() {
    let m = parse(b"MSH|^~\\&|A\rZPI|1||||five\rZ01\rPID|||\r").unwrap();
    assert_eq!(get(&m, "ZPI-5"), Some(&b"five"[..]));
    assert_eq!(get(&m, "ZPI-2"), Some(&b""[..]));
    assert_eq!(get(&m, "ZPI-6"), None);
    assert_eq!(get(&m, "Z01-1"), None);
    assert_eq!(m.find_segment("Z01", 1).unwrap().field_count(), 0);
    assert_eq!(get(&m, "PID-3"), Some(&b""[..]));
    assert_eq!(get(&m, "PID-4"), None);
}

#[test]
fn custom_delimiters_are_taken_from_msh() {
    // Field '#', component '$', repetition '*', escape '@', subcomponent '!'.
    let bytes = b"MSH#$*@!#APP$X#FAC#R#RF#2024##ORU$R01#C9#P#2.4\rPID#1##a$b!c*d@F@e\r";
    let m = parse(bytes).unwrap();
    let d = m.delimiters();
    assert_eq!(
        d,
        Delimiters {
            field: b'#',
            component: b'$',
            repetition: b'*',
            escape: b'@',
            subcomponent: b'!',
            truncation: None
        }
    );
    assert_eq!(get(&m, "MSH-1"), Some(&b"#"[..]));
    assert_eq!(get(&m, "MSH-2"), Some(&b"$*@!"[..]));
    assert_eq!(get(&m, "MSH-3.2"), Some(&b"X"[..]));
    assert_eq!(m.message_type().as_deref(), Some("ORU^R01"));
    assert_eq!(get(&m, "PID-3(1).2.2"), Some(&b"c"[..]));
    assert_eq!(m.value(&p("PID-3(2)")).as_deref(), Some("d#e"));
    let mut buf = MessageBuf::from_message(&m);
    buf.set(&p("PID-5.2"), "x#y").unwrap();
    assert_eq!(buf.segment_raw(1).unwrap(), b"PID#1##a$b!c*d@F@e##$x@F@y");
}

#[test]
fn latin1_charset_is_decoded_to_utf8() {
    let mut text = b"MSH|^~\\&|A|||||||||||||||8859/1\rPID|1||||M\xfcller^J\xf6rg\r".to_vec();
    let m = parse(&text).unwrap();
    assert_eq!(m.charset(), Some("8859/1"));
    assert_eq!(m.charset_kind(), Charset::Latin1);
    assert_eq!(m.value(&p("PID-5.1")).as_deref(), Some("Müller"));
    assert_eq!(m.value(&p("PID-5.2")).as_deref(), Some("Jörg"));
    // Declared UTF-8 but invalid: lossy, no panic.
    text = b"MSH|^~\\&|A|||||||||||||||UNICODE UTF-8\rPID|1||||M\xfcller\r".to_vec();
    let m = parse(&text).unwrap();
    assert_eq!(m.charset_kind(), Charset::Utf8);
    assert_eq!(m.value(&p("PID-5")).as_deref(), Some("M\u{FFFD}ller"));
    let utf8 = "MSH|^~\\&|A|||||||||||||||UNICODE UTF-8\rPID|1||||Müller\r";
    let m = parse(utf8.as_bytes()).unwrap();
    assert_eq!(m.value(&p("PID-5")).as_deref(), Some("Müller"));
}

#[test]
fn missing_parts_return_none_and_component_one_of_a_plain_field_is_the_field() {
    let m = parse(b"MSH|^~\\&|A\rPID|1|plain|a~b\r").unwrap();
    assert_eq!(get(&m, "PID-2.1"), Some(&b"plain"[..]));
    assert_eq!(get(&m, "PID-2.1.1"), Some(&b"plain"[..]));
    assert_eq!(get(&m, "PID-2(1)"), Some(&b"plain"[..]));
    assert_eq!(get(&m, "PID-2.2"), None);
    assert_eq!(get(&m, "PID-2(2)"), None);
    assert_eq!(get(&m, "PID-3"), Some(&b"a~b"[..]));
    assert_eq!(get(&m, "PID-3.1"), Some(&b"a"[..]));
    assert_eq!(get(&m, "PID(2)-1"), None);
    assert_eq!(get(&m, "PV1-1"), None);
    assert_eq!(get(&m, "MSH-1.1"), Some(&b"|"[..]));
    assert_eq!(get(&m, "MSH-1.2"), None);
}

#[test]
fn parse_errors_describe_the_problem_and_location() {
    let e = parse(b"\xEF\xBB\xBF   ").unwrap_err();
    assert_eq!(e, ParseError::Empty);

    let e = parse(b"EVN|A01\rMSH|^~\\&\r").unwrap_err();
    assert!(matches!(e, ParseError::NoMshAtStart { offset: 0, .. }));
    assert!(e.to_string().starts_with("no MSH segment at start"));
    assert_eq!(e.erl_location().as_deref(), Some("MSH^1"));

    let e = parse(b"MSHA^~\\&|").unwrap_err();
    assert!(matches!(e, ParseError::InvalidFieldSeparator { offset: 3, .. }));

    for bad in [&b"MSH|^~\r"[..], b"MSH|", b"MSH|^~\\&&|", b"MSH|^~\\&#@|A", b"MSH|^~\\a|"] {
        let e = parse(bad).unwrap_err();
        assert!(matches!(e, ParseError::InvalidEncodingCharacters { .. }), "{bad:?}: {e:?}");
        assert!(e.to_string().starts_with("MSH-2 encoding characters missing or invalid"));
        assert_eq!(e.erl_location().as_deref(), Some("MSH^1^2"));
        assert_eq!(e.ack_error_code(), 102);
    }

    let e = parse(b"MSH|^~\\&|A\rPID|1\rthis line broke out of OBX-5\r").unwrap_err();
    assert_eq!(e.segment_index(), Some(3));
    assert_eq!(e.byte_offset(), Some(17));
    assert!(e.to_string().starts_with("segment 3 has an invalid name"), "{e}");
    // A segment name must be followed by the field separator.
    assert!(parse(b"MSH|^~\\&|A\rPIDX|1\r").is_err());
}

#[test]
fn path_parse_errors_are_descriptive() {
    type Check = fn(&PathError) -> bool;
    let cases: [(&str, Check); 8] = [
        ("", |e| matches!(e, PathError::Empty)),
        ("P-3", |e| matches!(e, PathError::BadSegment { .. })),
        ("PID3", |e| matches!(e, PathError::BadSegment { .. })),
        ("PID-", |e| matches!(e, PathError::NotANumber { part: "field", .. })),
        ("PID-3.x", |e| matches!(e, PathError::NotANumber { part: "component", .. })),
        ("OBX(0)-5", |e| matches!(e, PathError::Zero { part: "segment occurrence", .. })),
        ("PID-3(2", |e| matches!(e, PathError::UnclosedParen { part: "repetition", .. })),
        ("PID-3 x", |e| matches!(e, PathError::Trailing { .. })),
    ];
    for (text, check) in cases {
        let e = text.parse::<Path>().unwrap_err();
        assert!(check(&e), "{text:?} gave {e:?}");
        assert!(e.to_string().contains("HL7 path") || text.is_empty(), "{e}");
    }
    let m = parse(b"MSH|^~\\&|A\r").unwrap();
    assert!(m.get_str("PID-").is_err());
    assert!(m.value_str("PID-0").is_err());
    assert_eq!(Path::parse("PID:3(2).1").unwrap().to_string(), "PID-3(2).1");
}

#[test]
fn message_type_is_built_when_component_separator_is_not_caret() {
    let m = parse(b"MSH|$~\\&|A||||||ADT$A01$ADT_A01|1\r").unwrap();
    assert_eq!(m.message_type().as_deref(), Some("ADT^A01"));
    let m = parse(b"MSH|^~\\&|A||||||ACK|1\r").unwrap();
    assert_eq!(m.message_type().as_deref(), Some("ACK"));
    assert_eq!(m.trigger_event(), None);
}
