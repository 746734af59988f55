//! hie-hl7-schema custom schema categories: `Registry::load_xml` on IRIS schema exports,
//! then every loaded category used: its definitions looked up along the base chain, DocTypes
//! resolved, the fixture messages mapped onto its structures, symbolic paths compiled and
//! evaluated through it.
//!
//! Invariants: nothing panics (errors are values); a category that loads is usable.
#![no_main]

use std::ops::ControlFlow;

use hie_fuzz::{fixtures, registry};
use hie_hl7_schema::{CompileOptions, CompiledPath, DocType, Keys, SegmentMap};
use libfuzzer_sys::fuzz_target;

const PATHS: &[&str] = &[
    "PID:PatientName(1).FamilyName",
    "ZPI:1",
    "ZPI:PreferredLanguage",
    "PIDgrpgrp(1).PIDgrp.PID:5",
    "PIDgrp.ZPI:2.1",
    "MSH:MessageType.MessageCode",
    "OBX(*)",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut reg = registry().clone();
    let Ok(cats) = reg.load_xml(text, "fuzz.xml") else { return };
    let msgs: Vec<_> = fixtures().iter().map(|f| &f.message).collect();
    for cat in cats.iter().take(4) {
        let _ = (cat.name(), cat.description(), cat.base().map(|b| b.name()), cat.is_builtin(), cat.version());
        let _ = cat.chain().count();
        for name in cat.segment_names().into_iter().take(8) {
            if let Some(seg) = cat.segment(name) {
                for n in 1..4 {
                    let _ = seg.field(n);
                }
            }
        }
        for name in cat.data_type_names().into_iter().take(8) {
            if let Some(dt) = cat.data_type(name) {
                let _ = (dt.is_primitive(), dt.component(1), dt.component_by_name("Identifier"));
            }
        }
        for key in cat.event_keys().into_iter().take(8) {
            let _ = cat.event_structure(key);
        }
        for name in cat.structure_names().into_iter().take(6) {
            let _ = cat.structure_owner(name);
            let Some(doc) = DocType::new(cat, name) else { continue };
            for &msg in &msgs {
                let map = SegmentMap::build(msg, doc.structure());
                let _ = map.missing_required();
                let opts = CompileOptions::new().doc_type(&doc);
                for p in PATHS {
                    if let Ok(cp) = CompiledPath::parse(p, &opts) {
                        let _ = cp.get(msg, Some(&map), Keys::NONE);
                        let _ = cp.count(msg, Some(&map), Keys::NONE);
                        cp.for_each(msg, Some(&map), Keys::NONE, |_| ControlFlow::Continue(()));
                    }
                }
            }
        }
        for &msg in &msgs {
            if let Some(doc) = reg.resolve_message(Some(cat.name()), msg) {
                let _ = doc.to_string();
            }
            let _ = cat.resolve_message(msg);
        }
    }
});
