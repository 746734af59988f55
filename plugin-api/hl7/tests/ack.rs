//! ACK/NACK building in original and enhanced mode, ERR by version, and reading replies.

use hie_hl7::ack::{
    AckBuilder, AckCode, AckCondition, AckError, AckMode, Severity, build_ack, err_code, nack_for_unparseable,
    parse_ack,
};
use hie_hl7::{Path, parse};

const TS: &str = "20240102030405+0000";

fn lines(b: &[u8]) -> Vec<String> {
    assert!(b.ends_with(b"\r"), "ACK must end with CR");
    assert!(!b.contains(&b'\n'), "ACK segments are separated by CR only");
    String::from_utf8(b.to_vec()).unwrap().trim_end_matches('\r').split('\r').map(str::to_owned).collect()
}

#[test]
fn original_mode_aa_ack_swaps_sender_and_receiver() {
    let m = parse(b"MSH|^~\\&|LAB|HOSP|EHR|CLINIC|20240101||ADT^A01^ADT_A01|MSG1|P|2.5.1\rPID|1\r").unwrap();
    assert_eq!(AckMode::of(&m), AckMode::Original);
    assert!(AckMode::of(&m).wants_application_ack(true));
    assert!(!AckMode::of(&m).wants_accept_ack(true));
    let ack = AckBuilder::new(&m, AckCode::AA, TS).build();
    assert_eq!(
        lines(&ack),
        ["MSH|^~\\&|EHR|CLINIC|LAB|HOSP|20240102030405+0000||ACK^A01^ACK|ACKMSG1|P|2.5.1", "MSA|AA|MSG1",]
    );
    // The ACK parses and reads back.
    let reply = parse(&ack).unwrap();
    let info = parse_ack(&reply).unwrap();
    assert_eq!(info.ack_code, Some(AckCode::AA));
    assert_eq!(info.control_id, "MSG1");
    assert_eq!(info.error_code, None);
    assert_eq!(build_ack(&m, AckCode::AA, None, None, None, TS), ack);
}

#[test]
fn enhanced_mode_is_detected_from_msh15_msh16() {
    let m = parse(b"MSH|^~\\&|A|B|C|D|1||ORU^R01|M2|T|2.5|||AL|ER\r").unwrap();
    let mode = AckMode::of(&m);
    assert_eq!(mode, AckMode::Enhanced { accept: Some(AckCondition::AL), application: Some(AckCondition::ER) });
    assert!(mode.wants_accept_ack(true));
    assert!(!mode.wants_application_ack(true));
    assert!(mode.wants_application_ack(false));
    let ack = AckBuilder::new(&m, AckCode::CA, TS).control_id("C-1").build();
    assert_eq!(lines(&ack), ["MSH|^~\\&|C|D|A|B|20240102030405+0000||ACK^R01^ACK|C-1|T|2.5", "MSA|CA|M2"]);
    let m = parse(b"MSH|^~\\&|A|B|C|D|1||ORU^R01|M2|T|2.5|||NE|\r").unwrap();
    assert_eq!(AckMode::of(&m), AckMode::Enhanced { accept: Some(AckCondition::NE), application: None });
}

#[test]
fn v25_nack_has_err_with_location_code_and_severity() {
    let m = parse(b"MSH|^~\\&|A|B|C|D|1||ADT^A01|M3|P|2.5\r").unwrap();
    let err =
        AckError::new(err_code::REQUIRED_FIELD_MISSING, "PID-3 is required").at(&"PID-3".parse::<Path>().unwrap());
    let ack = AckBuilder::new(&m, AckCode::AE, TS).error(err).build();
    assert_eq!(lines(&ack)[1..], ["MSA|AE|M3|PID-3 is required", "ERR||PID^1^3|101^PID-3 is required^HL70357|E",]);
    let info = parse_ack(&parse(&ack).unwrap()).unwrap();
    assert_eq!(info.error_code.as_deref(), Some("101"));
    assert_eq!(info.error_text.as_deref(), Some("PID-3 is required"));
    assert_eq!(info.text.as_deref(), Some("PID-3 is required"));

    let warn = AckError::new(207, "").with_severity(Severity::Warning);
    let ack = AckBuilder::new(&m, AckCode::AA, TS).error(warn).text("ok").build();
    assert_eq!(lines(&ack)[1..], ["MSA|AA|M3|ok", "ERR|||207^Application internal error^HL70357|W"]);
}

#[test]
fn v23_nack_puts_the_error_in_err1() {
    let m = parse(b"MSH|^~\\&|A|B|C|D|1||ADT^A01|M4|P|2.3\r").unwrap();
    let ack = AckBuilder::new(&m, AckCode::AE, TS)
        .error(AckError::new(102, "bad date & time").with_location("PID^1^7^1^1"))
        .error(AckError::new(207, "second"))
        .build();
    assert_eq!(
        lines(&ack)[1..],
        ["MSA|AE|M4|bad date \\T\\ time", "ERR|PID^1^7^102&bad date \\T\\ time&HL70357~^^^207&second&HL70357",]
    );
    let info = parse_ack(&parse(&ack).unwrap()).unwrap();
    assert_eq!(info.error_code.as_deref(), Some("102"));
    assert_eq!(info.error_text.as_deref(), Some("bad date & time"));
}

#[test]
fn ack_keeps_custom_delimiters_truncation_and_charset() {
    let m = parse(b"MSH#$*@!%#A#B#C#D#1##ORU$R01#M5#P#2.7######UNICODE UTF-8\r").unwrap();
    let ack = AckBuilder::new(&m, AckCode::AE, TS).error(AckError::new(103, "x#y").with_location("OBX^2^5")).build();
    assert_eq!(
        lines(&ack),
        [
            "MSH#$*@!%#C#D#A#B#20240102030405+0000##ACK$R01$ACK#ACKM5#P#2.7######UNICODE UTF-8",
            "MSA#AE#M5#x@F@y",
            "ERR##OBX$2$5#103$x@F@y$HL70357#E",
        ]
    );
}

#[test]
fn local_facility_application_overrides_the_ack_sender() {
    let m = parse(b"MSH|^~\\&|LAB|HOSP|EHR|CLINIC|1||ADT^A01|M6|P|2.4\r").unwrap();
    let msh = |local: &str| {
        let ack = AckBuilder::new(&m, AckCode::AA, TS).local_facility_application(local).build();
        lines(&ack)[0].clone()
    };
    assert!(msh("ISC:EnsembleHL7").starts_with("MSH|^~\\&|EnsembleHL7|ISC|LAB|HOSP|"));
    assert!(msh("@:MYAPP").starts_with("MSH|^~\\&|MYAPP|CLINIC|LAB|HOSP|"));
    assert!(msh("MYAPP").starts_with("MSH|^~\\&|MYAPP|CLINIC|"));
    assert!(msh("FAC:@").starts_with("MSH|^~\\&|EHR|FAC|"));
}

#[test]
fn nack_for_unparseable_salvages_what_it_can() {
    let bad = b"MSH|^~\\&|LAB|HOSP|EHR|CLINIC|1||ADT^A01|M7|P|2.5\rPID|1\rbroken\r";
    let e = parse(bad).unwrap_err();
    let nack = nack_for_unparseable(bad, AckCode::AR, &AckError::from_parse_error(&e), TS, None);
    let l = lines(&nack);
    assert_eq!(l[0], "MSH|^~\\&|EHR|CLINIC|LAB|HOSP|20240102030405+0000||ACK^A01^ACK|ACKM7|P|2.5");
    assert!(l[1].starts_with("MSA|AR|M7|segment 3 has an invalid name"), "{}", l[1]);
    assert!(l[2].starts_with("ERR|||100^segment 3 has an invalid name"), "{}", l[2]);
    assert!(l[2].ends_with("^HL70357|E"));

    // Bad encoding characters: standard delimiters, nothing salvaged.
    let bad = b"MSH|^^^^|LAB|HOSP\r";
    let e = parse(bad).unwrap_err();
    let nack = nack_for_unparseable(bad, AckCode::AR, &AckError::from_parse_error(&e), TS, Some("N1"));
    let l = lines(&nack);
    assert_eq!(l[0], "MSH|^~\\&|||||20240102030405+0000||ACK|N1|P|2.5");
    assert!(l[1].starts_with("MSA|AR||MSH-2 encoding characters"));
    assert!(l[2].starts_with("ERR||MSH^1^2|102^"));

    // No MSH at all; junk line before an MSH line.
    let nack = nack_for_unparseable(b"", AckCode::AR, &AckError::new(100, "empty"), TS, None);
    assert_eq!(lines(&nack)[1], "MSA|AR||empty");
    let nack = nack_for_unparseable(
        b"junk\nMSH|^~\\&|A|B|C|D|1||X^Y|Q1|P|2.3\r",
        AckCode::AR,
        &AckError::new(100, "junk"),
        TS,
        None,
    );
    assert_eq!(lines(&nack)[1], "MSA|AR|Q1|junk");
    assert!(parse(&nack).is_ok());
}

#[test]
fn parse_ack_needs_msa_and_reads_unknown_codes() {
    let no_msa = parse(b"MSH|^~\\&|A\rPID|1\r").unwrap();
    assert_eq!(parse_ack(&no_msa), None);
    let odd = parse(b"MSH|^~\\&|A\rMSA|XX|C1\r").unwrap();
    let info = parse_ack(&odd).unwrap();
    assert_eq!(info.code, "XX");
    assert_eq!(info.ack_code, None);
    assert_eq!("ca".parse::<AckCode>(), Ok(AckCode::CA));
    assert!(AckCode::CE.is_commit() && !AckCode::AE.is_commit());
    assert!(AckCode::AA.is_positive() && !AckCode::AR.is_positive());
}
