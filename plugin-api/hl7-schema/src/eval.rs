//! Evaluating a [`CompiledPath`] on a parsed message: locations, values and counts.
//!
//! # Invariants
//!
//! - Evaluation never allocates except to build a returned collection ([`CompiledPath::resolve`]),
//!   a decoded value that needs it (escapes, a non-UTF-8 charset), a count returned as text, or
//!   a whole group's text. Values are read with hie-hl7's zero-copy getters.
//! - Structure paths need the [`SegmentMap`] of the message, built for the structure the path
//!   was compiled against (the same `Arc`); with no map or another structure they select
//!   nothing.
//! - A [`Location`] is yielded only where the message has the item: the segment exists and so
//!   do the field, repetition, component and subcomponent asked for (an empty but present
//!   field counts as present, as in [`hie_hl7::Message::get`]).
//! - Counts: `(*)` on a field counts its repetitions (0 for an empty or absent field); on a
//!   segment or group step it counts the occurrences there. [`CompiledPath::count`] on a path
//!   without `(*)` counts the nodes the path selects.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::Arc;

use hie_hl7::{Message, Segment};

use crate::compile::{CompiledPath, FieldSel, Idx, Target, TreeStep};
use crate::matcher::{Placement, SegmentMap};

/// Values of the key variables a path uses (`k1` in `OBXgrp(k1)`), by name (case-sensitive).
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'k> {
    pairs: &'k [(&'k str, usize)],
}

impl<'k> Keys<'k> {
    /// No key variables.
    pub const NONE: Keys<'static> = Keys { pairs: &[] };

    /// Keys from `(name, value)` pairs; the first pair with a name wins.
    pub fn new(pairs: &'k [(&'k str, usize)]) -> Keys<'k> {
        Keys { pairs }
    }

    /// The value of key `name`.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// A place in a message. `segment_index` is 0-based as [`Message::segment`] takes it (MSH is
/// 0); the other numbers are 1-based HL7 numbers. `field: None` is the whole segment;
/// `repetition: None` the whole field (all repetitions); `component: None` the whole
/// repetition; `subcomponent: None` the whole component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// 0-based segment position in the message.
    pub segment_index: usize,
    /// Field number.
    pub field: Option<usize>,
    /// Repetition number.
    pub repetition: Option<usize>,
    /// Component number.
    pub component: Option<usize>,
    /// Subcomponent number.
    pub subcomponent: Option<usize>,
}

/// What a path selects: a value, a whole segment, or a whole group instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    /// A field, repetition, component or subcomponent.
    Value(Location),
    /// A whole segment (0-based index).
    Segment(usize),
    /// A whole group instance: its first and last segment (0-based, inclusive).
    Group {
        /// First segment of the instance.
        first: usize,
        /// Last segment of the instance.
        last: usize,
    },
}

impl Node {
    /// The node as locations: the value, the segment, or every segment of the group.
    pub fn locations(&self) -> impl Iterator<Item = Location> {
        let (range, value) = match *self {
            Node::Value(l) => (0..0, Some(l)),
            Node::Segment(i) => (i..i + 1, None),
            Node::Group { first, last } => (first..last + 1, None),
        };
        value.into_iter().chain(range.map(Location::segment))
    }
}

impl Location {
    /// The whole segment at `index`.
    pub fn segment(index: usize) -> Location {
        Location { segment_index: index, field: None, repetition: None, component: None, subcomponent: None }
    }

    /// The raw (escaped) bytes at this location, `None` when the message lacks it.
    pub fn raw<'a>(&self, msg: &Message<'a>) -> Option<&'a [u8]> {
        let seg = msg.segment(self.segment_index)?;
        let Some(f) = self.field else { return Some(seg.raw()) };
        let field = seg.field(f)?;
        let Some(r) = self.repetition else { return Some(field.raw()) };
        let rep = field.repetition(r)?;
        let Some(c) = self.component else { return Some(rep.raw()) };
        let comp = rep.component(c)?;
        match self.subcomponent {
            None => Some(comp.raw()),
            Some(s) => comp.subcomponent(s),
        }
    }

    /// The decoded value (escapes resolved, charset applied, `""` read as empty), as
    /// [`Message::value`] decodes. A whole segment is its raw text in the message charset.
    pub fn value<'a>(&self, msg: &Message<'a>) -> Option<Cow<'a, str>> {
        let seg = msg.segment(self.segment_index)?;
        let Some(f) = self.field else { return Some(msg.charset_kind().decode(seg.raw())) };
        let field = seg.field(f)?;
        let Some(r) = self.repetition else { return Some(field.value()) };
        let rep = field.repetition(r)?;
        let Some(c) = self.component else { return Some(rep.value()) };
        let comp = rep.component(c)?;
        match self.subcomponent {
            None => Some(comp.value()),
            Some(s) => comp.subcomponent_value(s),
        }
    }

    /// The same place as an [`hie_hl7::Path`] (segment name and occurrence counted in the
    /// message), e.g. for [`hie_hl7::MessageBuf::set`]. `None` for a whole segment.
    pub fn to_path(&self, msg: &Message<'_>) -> Option<hie_hl7::Path> {
        let seg = msg.segment(self.segment_index)?;
        let occurrence = msg.segments().take(self.segment_index + 1).filter(|s| s.name() == seg.name()).count();
        let mut p = hie_hl7::Path::new(seg.name(), self.field?).ok()?.with_occurrence(occurrence);
        if let Some(r) = self.repetition {
            p = p.with_repetition(r);
        }
        if let Some(c) = self.component {
            p = p.with_component(c);
        }
        if let Some(s) = self.subcomponent {
            p = p.with_subcomponent(s);
        }
        Some(p)
    }
}

/// Selected segment(s) before the field part.
#[derive(Clone, Copy)]
enum Sel {
    Segment(usize),
    Group(usize, usize),
}

fn idx_value(idx: &Idx, keys: &Keys<'_>) -> Option<usize> {
    match idx {
        Idx::Num(n) => Some(*n),
        Idx::Key(k) => keys.get(k),
        Idx::All | Idx::Count => None,
    }
}

fn idx_matches(idx: &Idx, occurrence: u32, keys: &Keys<'_>) -> bool {
    match idx {
        Idx::All | Idx::Count => true,
        _ => idx_value(idx, keys).is_some_and(|n| n as u64 == u64::from(occurrence)),
    }
}

fn prefix_matches(steps: &[TreeStep], placed: &[crate::matcher::Step], keys: &Keys<'_>) -> bool {
    placed.len() >= steps.len()
        && steps.iter().zip(placed).all(|(s, p)| s.element == p.element && idx_matches(&s.index, p.occurrence, keys))
}

impl CompiledPath {
    fn map_fits(&self, map: Option<&SegmentMap>) -> Option<()> {
        let (Some(m), Some(s)) = (map, self.structure.as_ref()) else { return None };
        Arc::ptr_eq(m.structure(), s).then_some(())
    }

    /// Calls `f` for every selected segment or group instance, in message order.
    fn segments(
        &self,
        msg: &Message<'_>,
        map: Option<&SegmentMap>,
        keys: &Keys<'_>,
        f: &mut impl FnMut(Sel) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        match &self.target {
            Target::Relative => ControlFlow::Continue(()),
            Target::ByNumber(i) => {
                if *i < msg.segment_count() {
                    f(Sel::Segment(*i))?;
                }
                ControlFlow::Continue(())
            }
            Target::ByName { name, index } => {
                let want = idx_value(index, keys);
                if want.is_none() && matches!(index, Idx::Key(_)) {
                    return ControlFlow::Continue(());
                }
                let mut seen = 0usize;
                for seg in msg.segments() {
                    if seg.name().as_bytes() != name {
                        continue;
                    }
                    seen += 1;
                    match want {
                        Some(n) if n == seen => return f(Sel::Segment(seg.index())),
                        Some(_) => {}
                        None => f(Sel::Segment(seg.index()))?,
                    }
                }
                ControlFlow::Continue(())
            }
            Target::Tree { steps, ends_in_group, unexpected } => {
                if self.map_fits(map).is_none() {
                    return ControlFlow::Continue(());
                }
                let Some(map) = map else { return ControlFlow::Continue(()) };
                // A run of consecutive segments of one group instance: (first, last).
                let mut run: Option<(usize, usize)> = None;
                let depth = steps.len();
                for i in 0..map.len() {
                    let Some(p) = map.placement(i) else { continue };
                    if !*ends_in_group {
                        if tree_segment_matches(steps, *unexpected, &p, map.segment_id(i), keys) {
                            f(Sel::Segment(i))?;
                        }
                        continue;
                    }
                    if !prefix_matches(steps, p.steps, keys) {
                        if let Some((first, last)) = run.take() {
                            f(Sel::Group(first, last))?;
                        }
                        continue;
                    }
                    let instance = p.steps.get(..depth);
                    match run {
                        Some((first, _)) if map.placement(first).and_then(|q| q.steps.get(..depth)) == instance => {
                            run = Some((first, i));
                        }
                        Some((first, last)) => {
                            f(Sel::Group(first, last))?;
                            run = Some((i, i));
                        }
                        None => run = Some((i, i)),
                    }
                }
                if let Some((first, last)) = run {
                    f(Sel::Group(first, last))?;
                }
                ControlFlow::Continue(())
            }
        }
    }

    /// Calls `f` for every node the path selects, in message order; `f` returns
    /// `ControlFlow::Break(())` to stop. Key variables come from `keys`.
    pub fn for_each(
        &self,
        msg: &Message<'_>,
        map: Option<&SegmentMap>,
        keys: Keys<'_>,
        mut f: impl FnMut(Node) -> ControlFlow<()>,
    ) {
        let _ = self.segments(msg, map, &keys, &mut |sel| match (sel, &self.field) {
            (Sel::Group(first, last), _) => f(Node::Group { first, last }),
            (Sel::Segment(i), None) => f(Node::Segment(i)),
            (Sel::Segment(i), Some(fs)) => match msg.segment(i) {
                Some(seg) => field_nodes(&seg, fs, &keys, &mut f),
                None => ControlFlow::Continue(()),
            },
        });
    }

    /// The first node the path selects.
    pub fn first(&self, msg: &Message<'_>, map: Option<&SegmentMap>, keys: Keys<'_>) -> Option<Node> {
        let mut out = None;
        self.for_each(msg, map, keys, |n| {
            out = Some(n);
            ControlFlow::Break(())
        });
        out
    }

    /// Every location the path selects (a group instance gives each of its segments).
    pub fn resolve(&self, msg: &Message<'_>, map: Option<&SegmentMap>, keys: Keys<'_>) -> Vec<Location> {
        let mut out = Vec::new();
        self.for_each(msg, map, keys, |n| {
            out.extend(n.locations());
            ControlFlow::Continue(())
        });
        out
    }

    /// The decoded value of the first node: a value as [`Location::value`], a segment's raw
    /// text, a group instance's segments joined by CR. For a `(*)` path, the count as text.
    pub fn get<'a>(&self, msg: &Message<'a>, map: Option<&SegmentMap>, keys: Keys<'_>) -> Option<Cow<'a, str>> {
        if self.count {
            return Some(Cow::Owned(self.count(msg, map, keys).to_string()));
        }
        node_value(msg, self.first(msg, map, keys)?)
    }

    /// The raw (escaped) bytes of the first node (a group instance: from its first segment to
    /// the end of its last, as in the input). `None` for a `(*)` path.
    pub fn get_raw<'a>(&self, msg: &Message<'a>, map: Option<&SegmentMap>, keys: Keys<'_>) -> Option<&'a [u8]> {
        if self.count {
            return None;
        }
        node_raw(msg, self.first(msg, map, keys)?)
    }

    /// For a `(*)` path, the count it asks for; otherwise the number of nodes selected.
    pub fn count(&self, msg: &Message<'_>, map: Option<&SegmentMap>, keys: Keys<'_>) -> usize {
        if !self.count {
            let mut n = 0;
            self.for_each(msg, map, keys, |_| {
                n += 1;
                ControlFlow::Continue(())
            });
            return n;
        }
        if let Some(fs) = &self.field {
            let mut n = 0;
            let _ = self.segments(msg, map, &keys, &mut |sel| {
                if let Sel::Segment(i) = sel {
                    n = msg.segment(i).map_or(0, |s| repetition_count(&s, fs.field));
                }
                ControlFlow::Break(())
            });
            return n;
        }
        match &self.target {
            Target::Tree { steps, ends_in_group: true, .. } => {
                let depth = steps.len().saturating_sub(1);
                let mut max = 0u32;
                let _ = self.segments(msg, map, &keys, &mut |sel| {
                    if let (Sel::Group(first, _), Some(m)) = (sel, map) {
                        let occ = m.placement(first).and_then(|p| p.steps.get(depth)).map_or(0, |s| s.occurrence);
                        max = max.max(occ);
                    }
                    ControlFlow::Continue(())
                });
                max as usize
            }
            _ => {
                let mut n = 0;
                let _ = self.segments(msg, map, &keys, &mut |_| {
                    n += 1;
                    ControlFlow::Continue(())
                });
                n
            }
        }
    }

    /// [`CompiledPath::for_each`] for a segment-relative path (or the field part of any path)
    /// applied to segment `segment_index` of `msg`.
    pub fn for_each_in(
        &self,
        msg: &Message<'_>,
        segment_index: usize,
        keys: Keys<'_>,
        mut f: impl FnMut(Node) -> ControlFlow<()>,
    ) {
        let Some(seg) = msg.segment(segment_index) else { return };
        let _ = match &self.field {
            None => f(Node::Segment(segment_index)),
            Some(fs) => field_nodes(&seg, fs, &keys, &mut f),
        };
    }

    /// [`CompiledPath::get`] for a segment-relative path applied to segment `segment_index`.
    pub fn get_in<'a>(&self, msg: &Message<'a>, segment_index: usize, keys: Keys<'_>) -> Option<Cow<'a, str>> {
        if self.count {
            return Some(Cow::Owned(self.count_in(msg, segment_index, keys).to_string()));
        }
        let mut out = None;
        self.for_each_in(msg, segment_index, keys, |n| {
            out = Some(n);
            ControlFlow::Break(())
        });
        node_value(msg, out?)
    }

    /// [`CompiledPath::get_raw`] for a segment-relative path applied to segment `segment_index`.
    pub fn get_raw_in<'a>(&self, msg: &Message<'a>, segment_index: usize, keys: Keys<'_>) -> Option<&'a [u8]> {
        let mut out = None;
        self.for_each_in(msg, segment_index, keys, |n| {
            out = Some(n);
            ControlFlow::Break(())
        });
        node_raw(msg, out?)
    }

    /// [`CompiledPath::count`] for a segment-relative path applied to segment `segment_index`.
    pub fn count_in(&self, msg: &Message<'_>, segment_index: usize, keys: Keys<'_>) -> usize {
        match (&self.field, self.count) {
            (Some(fs), true) => msg.segment(segment_index).map_or(0, |s| repetition_count(&s, fs.field)),
            _ => {
                let mut n = 0;
                self.for_each_in(msg, segment_index, keys, |_| {
                    n += 1;
                    ControlFlow::Continue(())
                });
                n
            }
        }
    }
}

fn tree_segment_matches(
    steps: &[TreeStep],
    unexpected: Option<[u8; 3]>,
    p: &Placement<'_>,
    id: Option<&str>,
    keys: &Keys<'_>,
) -> bool {
    let Some((last, groups)) = steps.split_last() else { return false };
    match unexpected {
        Some(z) => {
            p.unexpected
                && id.is_some_and(|s| s.as_bytes() == z)
                && p.steps.len() == groups.len()
                && prefix_matches(groups, p.steps, keys)
                && idx_matches(&last.index, p.unexpected_occurrence, keys)
        }
        None => !p.unexpected && p.steps.len() == steps.len() && prefix_matches(steps, p.steps, keys),
    }
}

/// Repetitions of field `n`: 0 when absent or empty.
fn repetition_count(seg: &Segment<'_>, n: usize) -> usize {
    match seg.field(n) {
        Some(f) if !f.is_empty() => f.repetitions().count(),
        _ => 0,
    }
}

/// The value nodes of the field part in one segment.
fn field_nodes(
    seg: &Segment<'_>,
    fs: &FieldSel,
    keys: &Keys<'_>,
    f: &mut impl FnMut(Node) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let Some(field) = seg.field(fs.field) else { return ControlFlow::Continue(()) };
    let loc = |rep: Option<usize>| Location {
        segment_index: seg.index(),
        field: Some(fs.field),
        repetition: rep,
        component: fs.comp,
        subcomponent: fs.sub,
    };
    let present = |rep: usize| {
        let Some(r) = field.repetition(rep) else { return false };
        let Some(c) = fs.comp else { return true };
        let Some(comp) = r.component(c) else { return false };
        fs.sub.is_none_or(|s| comp.subcomponent(s).is_some())
    };
    match &fs.rep {
        None => f(Node::Value(loc(None))),
        Some(Idx::All | Idx::Count) => {
            if field.is_empty() {
                return ControlFlow::Continue(());
            }
            for r in 1..=field.repetitions().count() {
                if present(r) {
                    f(Node::Value(loc(Some(r))))?;
                }
            }
            ControlFlow::Continue(())
        }
        Some(idx) => match idx_value(idx, keys) {
            Some(r) if present(r) => f(Node::Value(loc(Some(r)))),
            _ => ControlFlow::Continue(()),
        },
    }
}

fn node_value<'a>(msg: &Message<'a>, node: Node) -> Option<Cow<'a, str>> {
    match node {
        Node::Value(l) => l.value(msg),
        Node::Segment(i) => Location::segment(i).value(msg),
        Node::Group { first, last } => {
            let mut s = String::new();
            for i in first..=last {
                if i > first {
                    s.push('\r');
                }
                s.push_str(&Location::segment(i).value(msg)?);
            }
            Some(Cow::Owned(s))
        }
    }
}

fn node_raw<'a>(msg: &Message<'a>, node: Node) -> Option<&'a [u8]> {
    match node {
        Node::Value(l) => l.raw(msg),
        Node::Segment(i) => Location::segment(i).raw(msg),
        Node::Group { first, last } => {
            let all = msg.as_bytes();
            let start = offset_in(all, msg.segment(first)?.raw())?;
            let end_seg = msg.segment(last)?.raw();
            let end = offset_in(all, end_seg)? + end_seg.len();
            all.get(start..end)
        }
    }
}

/// Byte offset of `part` inside `all` (it is a subslice of it).
fn offset_in(all: &[u8], part: &[u8]) -> Option<usize> {
    let base = all.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    (p >= base && p + part.len() <= base + all.len()).then(|| p - base)
}
