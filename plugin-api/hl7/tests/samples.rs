//! Every sample message parses, reads as expected and round-trips byte for byte.

use std::path::{Path as FsPath, PathBuf};

use hie_hl7::ack::AckMode;
use hie_hl7::{Batch, Charset, MessageBuf, Path, parse, split_messages};

/// The copies shipped with the crate (CI clones only this repository).
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/samples");
/// The originals in the shared workspace (present only on the build machine).
const SHARED_SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/samples/hl7");

fn sample_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "hl7"))
        .collect();
    files.sort();
    files
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(FsPath::new(SAMPLES).join(name)).unwrap()
}

fn p(s: &str) -> Path {
    s.parse().unwrap()
}

#[test]
fn sample_copies_match_the_shared_originals() {
    if !FsPath::new(SHARED_SAMPLES).is_dir() {
        eprintln!("{SHARED_SAMPLES} not present; only the repository copies are tested");
        return;
    }
    let shared = sample_files(SHARED_SAMPLES);
    assert_eq!(shared.len(), sample_files(SAMPLES).len());
    for f in shared {
        let copy = FsPath::new(SAMPLES).join(f.file_name().unwrap());
        assert_eq!(std::fs::read(&f).unwrap(), std::fs::read(&copy).unwrap(), "{f:?}");
    }
}

#[test]
fn every_sample_parses_and_round_trips_byte_exact() {
    let files = sample_files(SAMPLES);
    assert_eq!(files.len(), 11);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let messages = split_messages(&bytes).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        assert!(!messages.is_empty(), "{f:?}");
        for m in messages {
            let msg = parse(m).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            assert_eq!(msg.as_bytes(), m);
            assert!(msg.segment_count() > 1, "{f:?}");
            assert!(msg.message_type().is_some(), "{f:?}");
            assert_eq!(MessageBuf::from_message(&msg).to_bytes(), m, "{f:?}");
            // Every segment's pieces add back up to the input.
            let mut joined = msg.prefix().to_vec();
            for s in msg.segments() {
                joined.extend_from_slice(s.raw());
                joined.extend_from_slice(s.terminator());
            }
            assert_eq!(joined, m, "{f:?}");
        }
        if !bytes.starts_with(b"FHS") {
            // Single-message files parse whole, BOM included.
            let msg = parse(&bytes).unwrap();
            assert_eq!(msg.as_bytes(), &bytes[..]);
            assert_eq!(MessageBuf::parse(&bytes).unwrap().to_bytes(), bytes, "{f:?}");
        }
    }
}

#[test]
fn bom_samples_are_detected_and_kept() {
    let bytes = read("fhirconv_ADT04-23_v23_bom.hl7");
    let msg = parse(&bytes).unwrap();
    assert!(msg.has_bom());
    assert_eq!(msg.prefix(), b"\xEF\xBB\xBF");
    assert_eq!(msg.message_type().as_deref(), Some("ADT^A04"));
    assert_eq!(msg.version(), Some("2.3"));
    assert_eq!(msg.value(&p("PID-5.2")).as_deref(), Some("MARIO"));
    assert_eq!(msg.dominant_terminator(), b"\n");
    assert_eq!(msg.find_segment("IN1", 2).unwrap().field(2).unwrap().raw(), b"FRI^FRIEND");
}

#[test]
fn lf_separated_sample_reads_escapes_and_occurrences() {
    let bytes = read("fhirconv_ORU-R01-01_v251.hl7");
    let msg = parse(&bytes).unwrap();
    assert_eq!(msg.version(), Some("2.5.1"));
    assert_eq!(msg.message_structure(), Some("ORU_R01"));
    let nte = msg.value(&p("NTE-3")).unwrap();
    assert!(nte.contains("O157:H7 & other STECs"), "{nte}");
    assert_eq!(msg.get(&p("OBX(4)-5.1")), Some(&b"https://testurl.com"[..]));
    assert_eq!(msg.get(&p("OBX(5)-5(2)")), Some(&b"25"[..]));
}

#[test]
fn explicit_nulls_sample() {
    let bytes = read("pyhl7_sample_msh_ADT_A01_v23_nulls.hl7");
    let msg = parse(&bytes).unwrap();
    assert!(msg.is_null(&p("PV1-9")));
    assert_eq!(msg.value(&p("PV1-9")).as_deref(), Some(""));
    assert!(!msg.is_null(&p("PV1-10")));
    assert!(msg.is_null(&p("IN1-5.2")));
    assert_eq!(msg.value(&p("IN1-5.3")).as_deref(), Some("NEW YORK"));
    assert_eq!(msg.value(&p("PV1-5")).as_deref(), Some(" 863968"));
    assert_eq!(msg.get(&p("PID-4(2).5")), Some(&b"DONOR "[..]));
    assert_eq!(msg.control_id(), Some("Q150084616T145947960"));
    assert_eq!(msg.segments_named("IN1").count(), 3);
}

#[test]
fn repeated_subcomponents_sample() {
    let bytes = read("pyhl7_rep_subcomponents.hl7");
    let msg = parse(&bytes).unwrap();
    assert_eq!(msg.get(&p("PID-1")), Some(&b"Field1"[..]));
    assert_eq!(msg.get(&p("PID-2.2")), Some(&b"Component2"[..]));
    assert_eq!(msg.get(&p("PID-3.2.2")), Some(&b"Sub-Component2"[..]));
    assert_eq!(msg.get(&p("PID-3.2.3")), None);
    assert_eq!(msg.get(&p("PID-4(2)")), Some(&b"Repeat2"[..]));
    assert_eq!(msg.get(&p("PID:4(1)")), Some(&b"Repeat1"[..]));
    let pid = msg.find_segment("PID", 1).unwrap();
    let subs: Vec<&[u8]> = pid.field(3).unwrap().component(2).unwrap().subcomponents().collect();
    assert_eq!(subs, vec![&b"Sub-Component1"[..], b"Sub-Component2"]);
}

#[test]
fn fhs_bhs_batch_sample_splits_into_its_message() {
    let bytes = read("pyhl7_sample_file_FHS_BHS_batch.hl7");
    let batch = Batch::parse(&bytes).unwrap();
    assert!(batch.is_batch());
    assert_eq!(batch.messages.len(), 1);
    assert_eq!(batch.declared_message_count(), Some(1));
    assert_eq!(batch.declared_batch_count(), Some(1));
    assert!(batch.counts_match());
    assert_eq!(batch.file_header_field(10), Some(&b"abchs20070101123401.hl7"[..]));
    let msg = parse(batch.messages[0]).unwrap();
    assert_eq!(msg.control_id(), Some("12334456778890"));
    assert_eq!(msg.message_type().as_deref(), Some("ADT^A04"));
    assert_eq!(msg.segment_count(), 6);
    assert_eq!(msg.charset_kind(), Charset::Ascii);
    assert!(matches!(AckMode::of(&msg), AckMode::Enhanced { .. }));
    assert!(!AckMode::of(&msg).wants_accept_ack(true));
    // parse() on the whole file explains what to do.
    let err = parse(&bytes).unwrap_err().to_string();
    assert!(err.contains("no MSH segment at start"), "{err}");
}

#[test]
fn ack_mode_of_samples() {
    let mdm_bytes = read("fhirconv_MDM-T02-03_v23.hl7");
    let mdm = parse(&mdm_bytes).unwrap();
    assert_eq!(mdm.accept_ack_type(), Some("AL"));
    assert_eq!(mdm.application_ack_type(), None);
    assert!(AckMode::of(&mdm).wants_accept_ack(true));
    assert_eq!(mdm.charset(), Some("ASCII"));
    let adt_bytes = read("fhirconv_ADT-A01-01_v28.hl7");
    let adt = parse(&adt_bytes).unwrap();
    assert_eq!(AckMode::of(&adt), AckMode::Original);
}
