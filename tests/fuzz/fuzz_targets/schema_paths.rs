//! hie-hl7-schema virtual property paths: `VirtualPath::parse`/`parse_relative`,
//! `CompiledPath` compile (against a DocType, a category, a segment, no schema) and every
//! evaluation (get, get_raw, count, resolve, for_each, first, *_in, write_target,
//! location_in), against a message and its DocType.
//!
//! Input: `path lines [NUL message]`; without a message part the path lines run against the
//! fixture messages. DocTypes come from the built-in categories and the fixtures' HIE_2.5.
//!
//! Invariants: nothing panics; a path's text parses back to the same path; `first` finds a
//! node exactly when `resolve` finds a location; a count path counts, and single-valued
//! paths agree between `get`/`get_raw`/`first`.
#![no_main]

use std::ops::ControlFlow;

use hie_fuzz::{MESSAGES, lines, registry, split_nul};
use hie_hl7_schema::{CompileOptions, CompiledPath, Keys, SegmentMap, SegmentScope, VirtualPath};
use libfuzzer_sys::fuzz_target;

fn evaluate(cp: &CompiledPath, msg: &hie_hl7::Message<'_>, map: Option<&SegmentMap>, names: &[[u8; 3]]) {
    let pairs = [("k1", 2), ("k2", 1), ("i", 1)];
    let keys = Keys::new(&pairs);
    let first = cp.first(msg, map, keys);
    let all = cp.resolve(msg, map, keys);
    if !cp.is_count() {
        assert_eq!(first.is_some(), !all.is_empty(), "{}: first and resolve disagree", cp.text());
    }
    let _ = cp.get(msg, map, keys);
    let _ = cp.get_raw(msg, map, keys);
    let _ = cp.count(msg, map, keys);
    let mut seen = 0usize;
    cp.for_each(msg, map, keys, |node| {
        seen += 1;
        for loc in node.locations().take(4) {
            let _ = (loc.raw(msg), loc.value(msg), loc.to_path(msg));
        }
        if seen > 16 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    for seg in [1, msg.segment_count().saturating_sub(1)] {
        let _ = cp.get_in(msg, seg, keys);
        let _ = cp.count_in(msg, seg, keys);
        let _ = cp.location_in(seg, keys);
    }
    let _ = cp.write_target(names, map, keys);
    let _ = (cp.needs_segment_map(), cp.structure(), cp.segment_id(), cp.is_multi(), cp.is_group());
    let _ = (cp.is_whole_segment(), cp.is_relative(), cp.field_numbers());
}

fuzz_target!(|data: &[u8]| {
    let (paths, message) = split_nul(data);
    let reg = registry();
    let owned;
    let bytes: &[u8] = if message.is_empty() {
        MESSAGES[paths.len() % MESSAGES.len()]
    } else {
        owned = message.to_vec();
        &owned
    };
    let Ok(msg) = hie_hl7::parse(bytes) else { return };
    let names: Vec<[u8; 3]> =
        msg.segments().filter_map(|s| s.raw().get(..3).and_then(|n| <[u8; 3]>::try_from(n).ok())).collect();
    let docs: Vec<_> = [Some("2.5"), Some("HIE_2.5")]
        .into_iter()
        .filter_map(|c| reg.resolve_message(c, &msg))
        .collect();
    let maps: Vec<_> = docs.iter().map(|d| SegmentMap::build(&msg, d.structure())).collect();
    let cat = reg.category("2.5").expect("2.5");
    for (d, m) in docs.iter().zip(&maps) {
        let _ = (d.to_string(), m.missing_required().len(), m.len());
        for i in 0..m.len() {
            let _ = (m.placement(i), m.segment_id(i), m.element(i));
        }
    }
    let _ = hie_hl7_schema::message_doc_name(&msg);

    for text in lines(paths).take(4) {
        let _ = hie_hl7_schema::doc_name(&text);
        let _ = reg.doc_type(&text);
        for relative in [false, true] {
            let parsed = if relative { VirtualPath::parse_relative(&text) } else { VirtualPath::parse(&text) };
            let Ok(p) = parsed else { continue };
            let again = if relative { VirtualPath::parse_relative(&p.to_string()) } else { p.to_string().parse() };
            assert_eq!(again.as_ref().map(VirtualPath::form), Ok(p.form()), "{text:?}");
            let _ = (p.is_symbolic(), p.has_groups(), p.is_count(), p.is_multi(), p.keys().count());
            let _ = hie_hl7_schema::get(&msg, docs.first(), &p);
            let _ = hie_hl7_schema::count(&msg, docs.first(), &p);
            let mut opts = vec![(CompileOptions::new(), None), (CompileOptions::new().category(&cat).segment("OBX"), None)];
            if let (Some(d), Some(m)) = (docs.first(), maps.first()) {
                opts.push((CompileOptions::new().doc_type(d), Some(m)));
            }
            if let (Some(d), Some(m)) = (docs.last(), maps.last()) {
                opts.push((CompileOptions::new().doc_type(d).scope(SegmentScope::Message).segment("PID"), Some(m)));
            }
            for (o, map) in &opts {
                let Ok(cp) = CompiledPath::compile(&p, o) else { continue };
                evaluate(&cp, &msg, *map, &names);
            }
        }
        let _ = CompiledPath::square_bracket(&text, &CompileOptions::new())
            .map(|cp| evaluate(&cp, &msg, None, &names));
    }
});
