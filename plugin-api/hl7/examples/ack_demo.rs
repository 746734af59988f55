//! Prints a few ACKs (used to eyeball the output format).
use hie_hl7::ack::{AckBuilder, AckCode, AckError, nack_for_unparseable};

fn show(b: &[u8]) {
    println!("{}", String::from_utf8_lossy(b).replace('\r', "\n"));
}

fn main() {
    let m25 = hie_hl7::parse(
        b"MSH|^~\\&|LAB|HOSP|EHR|CLINIC|20240101||ORU^R01^ORU_R01|MSG1|P|2.5.1|||AL|NE||8859/1\rPID|1\r",
    )
    .unwrap();
    show(&AckBuilder::new(&m25, AckCode::AA, "20240101120000").build());
    show(
        &AckBuilder::new(&m25, AckCode::AE, "20240101120000")
            .error(AckError::new(101, "PID-3 missing & required").with_location("PID^1^3"))
            .local_facility_application("ISC:EnsembleHL7")
            .control_id("X1")
            .build(),
    );
    let m23 = hie_hl7::parse(b"MSH|^~\\&|LAB|HOSP|EHR|CLINIC|20240101||ADT^A01|MSG2|P|2.3\r").unwrap();
    show(
        &AckBuilder::new(&m23, AckCode::AE, "20240101120000")
            .error(AckError::new(101, "PID-3 missing").with_location("PID^1^3"))
            .error(AckError::new(207, ""))
            .build(),
    );
    let bad = b"MSH|^~\\&|LAB|HOSP|EHR|CLINIC|20240101||ADT^A01|MSG3|P|2.4\rP\r";
    let e = hie_hl7::parse(bad).unwrap_err();
    show(&nack_for_unparseable(bad, AckCode::AR, &AckError::from_parse_error(&e), "20240101", None));
    show(&nack_for_unparseable(b"garbage", AckCode::AR, &AckError::new(100, "no MSH"), "20240101", Some("N1")));
}
