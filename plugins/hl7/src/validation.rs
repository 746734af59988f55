//! IRIS's `Validation` setting for HL7 messages (docs/iris-formats.md §7): `d` (the
//! message must have a DocType), `m` (its segments must map onto the DocType's structure:
//! no required segment missing, none unexpected), `z` / `-z` (trailing Z segments are
//! errors / accepted; `m` implies `z` unless `-z` is given), the field flags `n r l a t y`
//! ([`crate::field_checks`]), `1` (= `dm-z`), and `0` or empty (none). Any other flag is
//! refused when the item starts, never ignored: a silently skipped flag would pass the bad
//! messages it was set to stop. Field checks need a DocType: a message without one fails
//! them as it fails `d`.
//!
//! # Invariants
//! - An empty `Validation` does nothing per message ([`Validation::parse`] gives `None`).
//! - The first problem found is reported, in segment order, with the HL7 table 0357 code
//!   and the segment it concerns, so a NACK's ERR and a router's log can name it.

use crate::field_checks::FieldChecks;
use hie_hl7_schema::{DocType, SegmentMap};
pub use hie_iris::catalog::load_schemas;
use hie_plugin_api::hl7;
use hie_plugin_api::hl7::ack::err_code;

/// What a message is checked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validation {
    /// `d`: it must have a DocType.
    doc_type: bool,
    /// `m`: its segments must map onto the structure.
    structure: bool,
    /// `z`: trailing Z segments are errors (with `m`).
    trailing_z: bool,
    /// `n r l a t y`: field checks.
    fields: FieldChecks,
}

/// Why a message failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// HL7 table 0357 code (100 segment sequence, 200 unsupported message type).
    pub code: u16,
    /// The segment it concerns and its 1-based position (`PV1`, 3), when there is one.
    pub segment: Option<(String, usize)>,
    /// The field it concerns (1-based), for field checks.
    pub field: Option<usize>,
    /// What is wrong, for ERR, MSA-3 and the log.
    pub text: String,
}

impl Problem {
    /// The ERL location (`PV1^3`), when the problem concerns a segment.
    pub fn location(&self) -> Option<String> {
        let field = self.field.map(|f| format!("^{f}")).unwrap_or_default();
        self.segment.as_ref().map(|(id, n)| format!("{id}^{n}{field}"))
    }
}

impl Validation {
    /// Reads the setting; `Ok(None)` when it asks for no validation.
    pub fn parse(flags: &str) -> Result<Option<Validation>, String> {
        let flags = flags.trim();
        if flags.is_empty() || flags == "0" {
            return Ok(None);
        }
        let flags = if flags == "1" { "dm-z" } else { flags };
        let (mut d, mut m, mut z, mut no_z) = (false, false, false, false);
        let mut fields = FieldChecks::default();
        let mut chars = flags.chars();
        while let Some(c) = chars.next() {
            match c {
                'd' => d = true,
                'm' => m = true,
                'z' => z = true,
                '-' if chars.next() == Some('z') => no_z = true,
                c if fields.set(c) => {}
                other => {
                    return Err(format!(
                        "Validation {flags:?}: flag {other:?} is not supported (HIE checks d, m, z and -z, the field flags n r l a t y, and 1 = dm-z; an ignored flag would pass the messages it should stop)"
                    ));
                }
            }
        }
        Ok(Some(Validation { doc_type: d, structure: m, trailing_z: !no_z && (z || m), fields }))
    }

    /// Checks `msg`, whose DocType is `doc` (`None`: its category has no structure for it).
    pub fn check(&self, msg: &hl7::Message<'_>, doc: Option<&DocType>) -> Result<(), Problem> {
        let Some(doc) = doc else {
            if self.doc_type || self.structure || self.fields.any() {
                let msh9 = msg.get_str("MSH-9").ok().flatten().map(String::from_utf8_lossy).unwrap_or_default();
                return Err(Problem {
                    code: err_code::UNSUPPORTED_MESSAGE_TYPE,
                    segment: Some(("MSH".into(), 1)),
                    field: Some(9),
                    text: format!("no DocType for message type {msh9:?} (Validation needs one)"),
                });
            }
            return Ok(());
        };
        if self.fields.any()
            && let Err((code, seg, pos, field, text)) = self.fields.check(msg, doc.category())
        {
            return Err(Problem { code, segment: Some((seg, pos)), field: Some(field), text });
        }
        if !self.structure {
            return Ok(());
        }
        let map = SegmentMap::build(msg, doc.structure());
        let unexpected: Vec<usize> = map.unexpected().collect();
        let last_placed = (0..map.len()).rev().find(|i| !unexpected.contains(i)).unwrap_or(0);
        for i in unexpected {
            let id = map.segment_id(i).unwrap_or_default().to_string();
            if i > last_placed && id.starts_with('Z') && !self.trailing_z {
                continue;
            }
            return Err(Problem {
                code: err_code::SEGMENT_SEQUENCE_ERROR,
                text: format!("unexpected segment {id} at position {} for {}", i + 1, doc_name(doc)),
                segment: Some((id, i + 1)),
                field: None,
            });
        }
        if let Some(missing) = map.missing_required().into_iter().next() {
            let what = missing.segment.clone().unwrap_or_else(|| missing.path.clone());
            return Err(Problem {
                code: err_code::SEGMENT_SEQUENCE_ERROR,
                text: format!("required {} {} is missing for {}", kind(&missing), missing.path, doc_name(doc)),
                segment: Some((what, missing.insert_at + 1)),
                field: None,
            });
        }
        Ok(())
    }
}

fn kind(m: &hie_hl7_schema::Missing) -> &'static str {
    if m.segment.is_some() { "segment" } else { "group" }
}

fn doc_name(doc: &DocType) -> String {
    format!("{}:{}", doc.category_name(), doc.structure_name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hie_hl7_schema::Registry;

    const A01: &[u8] = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20240301101500||ADT^A01^ADT_A01|ADT0001|P|2.5\rEVN|A01|20240301101500\rPID|1||9434765919^^^NHS^NH||SMITH^JOHN\rPV1|1|I|WARD1\r";

    fn check(flags: &str, body: &[u8]) -> Result<(), Problem> {
        let msg = hl7::parse(body).expect("parses");
        let schemas = Registry::new();
        let doc = schemas.resolve_message(Some("2.5"), &msg);
        Validation::parse(flags).expect("flags").expect("some validation").check(&msg, doc.as_ref())
    }

    fn with(extra: &str) -> Vec<u8> {
        let mut m = A01.to_vec();
        m.extend_from_slice(extra.as_bytes());
        m
    }

    #[test]
    fn empty_and_zero_ask_for_nothing_and_one_means_dm_minus_z() {
        assert_eq!(Validation::parse(""), Ok(None));
        assert_eq!(Validation::parse(" 0 "), Ok(None));
        let one = Validation::parse("1").expect("reads");
        assert_eq!(one, Validation::parse("dm-z").expect("reads"));
        let none = FieldChecks::default();
        assert_eq!(one, Some(Validation { doc_type: true, structure: true, trailing_z: false, fields: none }));
        assert_eq!(
            Validation::parse("dm").expect("reads"),
            Some(Validation { doc_type: true, structure: true, trailing_z: true, fields: none }),
            "m implies z"
        );
    }

    #[test]
    fn an_unknown_flag_is_refused_naming_it_never_ignored() {
        let e = Validation::parse("dmq").expect_err("q is no flag");
        assert!(e.contains("flag 'q' is not supported"), "{e}");
    }

    #[test]
    fn r_fails_an_empty_required_field_with_code_101_naming_segment_and_field() {
        // 2.5 PID-5 (Patient Name) is required.
        let body = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20240301101500||ADT^A01^ADT_A01|ADT0001|P|2.5\rEVN|A01|20240301101500\rPID|1||9434765919^^^NHS^NH||\rPV1|1|I|WARD1\r";
        let p = check("r", body).expect_err("PID-5 is required");
        assert_eq!((p.code, p.location().as_deref()), (101, Some("PID^3^5")), "{p:?}");
        assert!(p.text.contains("PID-5"), "{}", p.text);
        assert_eq!(check("r", A01), Ok(()));
    }

    #[test]
    fn l_fails_an_overlong_field_with_code_104() {
        // 2.5 PV1-2 (Patient Class) is at most 1 character long.
        let p =
            check("l", &A01.iter().copied().collect::<Vec<u8>>().replace_pv1_class("INPATIENT")).expect_err("too long");
        assert_eq!((p.code, p.location().as_deref()), (104, Some("PV1^4^2")), "{p:?}");
        assert_eq!(check("l", A01), Ok(()));
    }

    #[test]
    fn t_fails_a_code_missing_from_its_table_with_code_103() {
        let p = check("t", &A01.iter().copied().collect::<Vec<u8>>().replace_pv1_class("Q")).expect_err("no class Q");
        assert_eq!((p.code, p.location().as_deref()), (103, Some("PV1^4^2")), "{p:?}");
        assert!(p.text.contains("\"Q\"") && p.text.contains("0004"), "{}", p.text);
        assert_eq!(check("t", A01), Ok(()));
    }

    #[test]
    fn a_n_and_y_fail_too_many_repeats_extra_fields_and_malformed_values() {
        // PV1-2 does not repeat.
        let p = check("a", &A01.to_vec().replace_pv1_class("I~O")).expect_err("repeats");
        assert_eq!((p.code, p.location().as_deref()), (102, Some("PV1^4^2")));
        let p = check(
            "n",
            &with("")[..A01.len() - 1]
                .iter()
                .copied()
                .chain(b"|||||||||||||||||||||||||||||||||||||||||||||||||||||||EXTRA\r".iter().copied())
                .collect::<Vec<u8>>(),
        )
        .expect_err("extra field");
        assert_eq!(p.code, 102);
        assert!(p.text.contains("PV1 defines"), "{}", p.text);
        // EVN-2 (Recorded Date/Time) is a TS/DTM.
        let bad_date = String::from_utf8_lossy(A01).replace("EVN|A01|20240301101500", "EVN|A01|2024-03-01");
        let p = check("y", bad_date.as_bytes()).expect_err("not a date");
        assert_eq!((p.code, p.location().as_deref()), (102, Some("EVN^2^2")), "{p:?}");
        assert_eq!(check("anry", A01), Ok(()), "the well-formed message passes them all");
    }

    #[test]
    fn field_checks_without_a_doc_type_fail_as_d_does() {
        let body = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20240301101500||QQQ^Q99|X1|P|2.5\rPID|1\r";
        assert_eq!(check("r", body).expect_err("no DocType").code, 200);
    }

    trait ReplaceClass {
        fn replace_pv1_class(&self, class: &str) -> Vec<u8>;
    }

    impl ReplaceClass for Vec<u8> {
        fn replace_pv1_class(&self, class: &str) -> Vec<u8> {
            String::from_utf8_lossy(self).replace("PV1|1|I|", &format!("PV1|1|{class}|")).into_bytes()
        }
    }

    #[test]
    fn a_well_formed_message_passes_d_and_m() {
        assert_eq!(check("dm", A01), Ok(()));
    }

    #[test]
    fn a_missing_required_segment_fails_m_with_code_100_naming_it() {
        let no_pv1 = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20240301101500||ADT^A01^ADT_A01|ADT0001|P|2.5\rEVN|A01|20240301101500\rPID|1||9434765919^^^NHS^NH||SMITH^JOHN\r";
        let p = check("m", no_pv1).expect_err("PV1 is required in ADT_A01");
        assert_eq!(p.code, 100);
        assert_eq!(p.segment.as_ref().map(|s| s.0.as_str()), Some("PV1"), "{p:?}");
        assert!(p.text.contains("required segment PV1") && p.text.contains("2.5:ADT_A01"), "{}", p.text);
    }

    #[test]
    fn an_unknown_segment_in_the_middle_fails_m_with_its_position() {
        let body = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20240301101500||ADT^A01^ADT_A01|ADT0001|P|2.5\rEVN|A01|20240301101500\rXYZ|1\rPID|1||9434765919^^^NHS^NH||SMITH^JOHN\rPV1|1|I|WARD1\r";
        let p = check("m", body).expect_err("XYZ is no segment of ADT_A01");
        assert_eq!((p.code, p.segment.clone()), (100, Some(("XYZ".to_string(), 3))));
        assert_eq!(p.location().as_deref(), Some("XYZ^3"));
    }

    #[test]
    fn trailing_z_segments_fail_z_and_pass_minus_z() {
        let body = with("ZPI|1|cym\r");
        let p = check("dmz", &body).expect_err("z: a trailing Z segment is an error");
        assert_eq!(p.segment, Some(("ZPI".to_string(), 5)));
        assert_eq!(check("dm-z", &body), Ok(()), "-z accepts it");
        assert_eq!(check("1", &body), Ok(()));
    }

    #[test]
    fn d_fails_a_message_whose_type_has_no_structure_in_its_category() {
        let body = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20240301101500||QQQ^Q99|X1|P|2.5\rPID|1\r";
        let p = check("d", body).expect_err("no DocType");
        assert_eq!(p.code, 200);
        assert!(p.text.contains("QQQ^Q99"), "{}", p.text);
    }
}
