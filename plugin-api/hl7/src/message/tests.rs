//! Unit tests of the parsed message view.
use super::*;

const ADT: &[u8] = b"MSH|^~\\&|APP|FAC|RAPP|RFAC|20240101||ADT^A01^ADT_A01|CTRL1|P|2.5.1\r\
PID|1||123^^^MRN~456^^^NHS||Doe^John&Jr||19700101|M\r\
OBX|1|TX|||first\r\
OBX|2|TX|||second\\F\\part\r";

fn get<'a>(m: &Message<'a>, p: &str) -> Option<&'a str> {
    m.get_str(p).unwrap().map(|b| std::str::from_utf8(b).unwrap())
}

#[test]
fn msh_numbering_is_standard() {
    let m = parse(ADT).unwrap();
    assert_eq!(get(&m, "MSH-1"), Some("|"));
    assert_eq!(get(&m, "MSH-2"), Some("^~\\&"));
    assert_eq!(get(&m, "MSH-3"), Some("APP"));
    assert_eq!(get(&m, "MSH-9.2"), Some("A01"));
    assert_eq!(get(&m, "MSH-2.2"), None);
    assert_eq!(m.message_type().as_deref(), Some("ADT^A01"));
    assert!(matches!(m.message_type(), Some(Cow::Borrowed(_))));
    assert_eq!(m.control_id(), Some("CTRL1"));
    assert_eq!(m.version(), Some("2.5.1"));
}

#[test]
fn repetitions_components_subcomponents_and_occurrences() {
    let m = parse(ADT).unwrap();
    assert_eq!(get(&m, "PID-3"), Some("123^^^MRN~456^^^NHS"));
    assert_eq!(get(&m, "PID-3.1"), Some("123"));
    assert_eq!(get(&m, "PID-3(2).4"), Some("NHS"));
    assert_eq!(get(&m, "PID-3(3)"), None);
    assert_eq!(get(&m, "PID-5.2.2"), Some("Jr"));
    assert_eq!(get(&m, "PID-1.1"), Some("1"));
    assert_eq!(get(&m, "PID-1.1.1"), Some("1"));
    assert_eq!(get(&m, "PID-1.2"), None);
    assert_eq!(get(&m, "PID-2"), Some(""));
    assert_eq!(get(&m, "PID-99"), None);
    assert_eq!(get(&m, "OBX(2)-5"), Some("second\\F\\part"));
    assert_eq!(m.value_str("OBX(2)-5").unwrap().as_deref(), Some("second|part"));
    assert_eq!(get(&m, "OBX(3)-5"), None);
    assert_eq!(get(&m, "ZZZ-1"), None);
}

#[test]
fn segment_field_iteration() {
    let m = parse(ADT).unwrap();
    let msh = m.segment(0).unwrap();
    let fields: Vec<&[u8]> = msh.fields().map(|f| f.raw()).collect();
    assert_eq!(fields[0], b"|");
    assert_eq!(fields[1], b"^~\\&");
    assert_eq!(fields[2], b"APP");
    assert_eq!(msh.field_count(), 12);
    // MSH-2 is not split on its own delimiter characters.
    assert_eq!(msh.field(2).unwrap().repetitions().count(), 1);
    let pid = m.find_segment("PID", 1).unwrap();
    let reps: Vec<_> = pid.field(3).unwrap().repetitions().map(|r| r.raw()).collect();
    assert_eq!(reps, vec![&b"123^^^MRN"[..], b"456^^^NHS"]);
    let name = pid.field(5).unwrap().component(2).unwrap();
    assert_eq!(name.subcomponent(2), Some(&b"Jr"[..]));
    assert_eq!(m.segments_named("OBX").count(), 2);
    assert_eq!(m.segments().map(|s| s.name()).collect::<Vec<_>>(), ["MSH", "PID", "OBX", "OBX"]);
}

#[test]
fn parse_errors_name_the_problem() {
    assert_eq!(parse(b"  \r\n").unwrap_err(), ParseError::Empty);
    assert!(matches!(parse(b"PID|1\r").unwrap_err(), ParseError::NoMshAtStart { .. }));
    assert!(matches!(parse(b"MSH").unwrap_err(), ParseError::InvalidFieldSeparator { .. }));
    assert!(matches!(parse(b"MSH|^~|x").unwrap_err(), ParseError::InvalidEncodingCharacters { .. }));
    let e = parse(b"MSH|^~\\&|A\rPID|1\rpid|2\r").unwrap_err();
    assert_eq!(e, ParseError::InvalidSegmentName { index: 3, offset: 17, name: "pid|2".into() });
    assert!(e.to_string().contains("segment 3 has an invalid name"));
}

#[test]
fn blank_lines_and_trailing_whitespace_belong_to_terminators() {
    let input = b"MSH|^~\\&|A\r\n\r\n  \nPID|1\n\n \t\n";
    let m = parse(input).unwrap();
    assert_eq!(m.segment_count(), 2);
    assert_eq!(m.segment(0).unwrap().terminator(), b"\r\n\r\n  \n");
    assert_eq!(m.segment(1).unwrap().terminator(), b"\n\n \t\n");
    assert_eq!(m.as_bytes(), input);
}
