//! Arbitrary path texts and message shapes never make parsing, compiling, mapping or
//! evaluation panic.

mod common;

use std::ops::ControlFlow;

use common::{fixture, registry, sample};
use hie_hl7_schema::{CompileOptions, CompiledPath, Keys, SegmentMap, SegmentScope, VirtualPath};

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

const PIECES: &[&str] = &[
    "PID",
    "OBX",
    "MSH",
    "ZXX",
    "PIDgrpgrp",
    "ORCgrp",
    "OBXgrp",
    "PIDgrp",
    "PV1grp",
    "OBR",
    "NTE",
    "ROLi2",
    "ROL2",
    "(",
    ")",
    "(1)",
    "(2)",
    "(0)",
    "()",
    "(*)",
    "(\"*\")",
    "(k1)",
    "(-)",
    "(99999)",
    ".",
    ":",
    "-",
    "3",
    "5",
    "1",
    "PatientName",
    "FamilyName",
    "ObservationValue",
    "Text",
    "é",
    " ",
    "~",
    "\"",
    "9.1",
];

#[test]
fn random_paths_never_panic_anywhere_in_the_pipeline() {
    let reg = registry();
    let bytes = fixture("oru_r01_normal.hl7");
    let msg = hie_hl7::parse(&bytes).unwrap();
    let doc = reg.resolve_message(Some("2.5"), &msg).unwrap();
    let map = SegmentMap::build(&msg, doc.structure());
    let keys = [("k1", 2)];
    let variants = [
        CompileOptions::new().doc_type(&doc),
        CompileOptions::new().doc_type(&doc).scope(SegmentScope::Message),
        CompileOptions::new(),
        CompileOptions::new().segment("OBX"),
    ];
    let mut rng = Lcg(7);
    let mut compiled = 0;
    for _ in 0..20_000 {
        let n = 1 + rng.next() % 8;
        let text: String = (0..n).map(|_| rng.pick(PIECES)).collect();
        for parse in [VirtualPath::parse, VirtualPath::parse_relative] {
            let Ok(p) = parse(&text) else { continue };
            for opts in &variants {
                let Ok(cp) = CompiledPath::compile(&p, opts) else { continue };
                compiled += 1;
                let _ = cp.get(&msg, Some(&map), Keys::new(&keys));
                let _ = cp.get_raw(&msg, None, Keys::NONE);
                let _ = cp.count(&msg, Some(&map), Keys::new(&keys));
                let _ = cp.resolve(&msg, Some(&map), Keys::NONE);
                let _ = cp.get_in(&msg, 5, Keys::NONE);
                let _ = cp.get_in(&msg, 999, Keys::NONE);
                cp.for_each(&msg, Some(&map), Keys::NONE, |_| ControlFlow::Continue(()));
                let names: Vec<[u8; 3]> = msg.segments().map(|s| s.raw()[..3].try_into().unwrap()).collect();
                let _ = cp.write_target(&names, Some(&map), Keys::new(&keys));
                let _ = cp.location_in(1, Keys::NONE);
            }
        }
    }
    assert!(compiled > 500, "{compiled}");
}

#[test]
fn every_structure_of_every_version_maps_any_segment_sequence() {
    let reg = hie_hl7_schema::Registry::new();
    let samples: Vec<Vec<u8>> =
        ["fhirconv_ORU-R01-01_v251.hl7", "fhirconv_ADT-A01-01_v28.hl7", "fhirconv_MDM-T02-03_v23.hl7"]
            .iter()
            .map(|s| sample(s))
            .collect();
    let mut rng = Lcg(11);
    for v in hie_hl7_schema::BUILTIN_VERSIONS {
        let cat = reg.category(v).unwrap();
        for name in cat.structure_names() {
            let s = cat.structure(name).unwrap();
            for bytes in &samples {
                let msg = hie_hl7::parse(bytes).unwrap();
                let mut ids: Vec<[u8; 3]> = msg.segments().map(|s| s.raw()[..3].try_into().unwrap()).collect();
                let m = SegmentMap::from_names(ids.iter().copied(), s);
                assert_eq!(m.len(), ids.len());
                let _ = m.missing_required();
                // Shuffle a little and map again.
                for i in (1..ids.len()).rev() {
                    ids.swap(i, 1 + (rng.next() as usize) % i);
                }
                let m = SegmentMap::from_names(ids.iter().copied(), s);
                assert!((0..m.len()).all(|i| m.element_path(i).is_some()), "{v}:{name}");
            }
        }
    }
}
