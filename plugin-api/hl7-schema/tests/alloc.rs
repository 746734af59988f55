//! Evaluation of compiled paths does not allocate (numeric, symbolic, short, group and key
//! paths, counts and iteration), measured with a counting global allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::ControlFlow;

use common::{fixture, registry};
use hie_hl7_schema::{CompileOptions, CompiledPath, Keys, SegmentMap};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.with(Cell::get);
    let r = f();
    (ALLOCS.with(Cell::get) - before, r)
}

#[test]
fn compiled_paths_evaluate_without_allocating() {
    let reg = registry();
    let oru = fixture("oru_r01_normal.hl7");
    let msg = hie_hl7::parse(&oru).unwrap();
    let doc = reg.resolve_message(Some("2.5"), &msg).unwrap();
    let (n, map) = allocations(|| SegmentMap::build(&msg, doc.structure()));
    assert!(n <= 8, "building the map: {n} allocations");
    let opts = CompileOptions::new().doc_type(&doc);
    let none = CompileOptions::new();
    let paths: Vec<(CompiledPath, &str)> = [
        ("PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5", &opts, "140"),
        ("PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:ObservationValue", &opts, "140"),
        ("PIDgrpgrp(1).PIDgrp.PID:PatientName(1).FamilyName", &opts, "SMITH"),
        ("PIDgrpgrp(1).PIDgrp.PID:3(2).4", &opts, "RXX"),
        ("MSH:SendingApplication.NamespaceID", &opts, "LIMS"),
        ("MSH:9.2", &opts, "R01"),
        ("PID-3.1", &opts, "9434765919"),
        ("OBX(4)-3.2", &none, "Lab comment"),
        ("OBX(3):ObservationValue", &none, "112"),
        ("PID:PatientName.GivenName", &none, "JOHN"),
    ]
    .into_iter()
    .map(|(p, o, want)| (CompiledPath::parse(p, o).unwrap(), want))
    .collect();
    for (cp, want) in &paths {
        let (n, v) = allocations(|| cp.get(&msg, Some(&map), Keys::NONE));
        assert_eq!(v.as_deref(), Some(*want), "{}", cp.text());
        assert_eq!(n, 0, "{} allocated", cp.text());
    }
    let count = CompiledPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp(*)", &opts).unwrap();
    let all = CompiledPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp().OBX:3.1", &opts).unwrap();
    let keyed = CompiledPath::parse("PIDgrpgrp(1).ORCgrp(1).OBXgrp(k1).OBX:5", &opts).unwrap();
    let reps = CompiledPath::parse("PIDgrpgrp(1).PIDgrp.PID:3(*)", &opts).unwrap();
    let (n, _) = allocations(|| {
        assert_eq!(count.count(&msg, Some(&map), Keys::NONE), 4);
        assert_eq!(reps.count(&msg, Some(&map), Keys::NONE), 2);
        let mut seen = 0;
        all.for_each(&msg, Some(&map), Keys::NONE, |_| {
            seen += 1;
            ControlFlow::Continue(())
        });
        assert_eq!(seen, 4);
        let keys = [("k1", 3)];
        assert_eq!(keyed.get(&msg, Some(&map), Keys::new(&keys)).as_deref(), Some("112"));
        assert!(map.placement(5).is_some());
    });
    assert_eq!(n, 0, "counts, iteration and keys allocated");
}
