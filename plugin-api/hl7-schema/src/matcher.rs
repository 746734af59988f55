//! Mapping a message's segments onto its message structure: the [`SegmentMap`].
//!
//! The matcher is greedy and never fails. It keeps a stack of open group instances and, for
//! each segment in message order, looks for the next structure position that can take it:
//!
//! 1. Innermost open group first, then outwards (leaving an inner group ends its instance).
//! 2. In a group: the current element again, if it may repeat and can start with the segment
//!    (a new repetition of a segment, or a new instance of a group); otherwise the first later
//!    element that can start with it. Elements skipped over are simply absent (required ones
//!    too: the map is tolerant; validation reports them).
//! 3. An element "can start with" a segment when it is that segment, or a group whose first
//!    elements can: its leading optional elements and its first required one (any member of a
//!    choice). Entering a group opens a new instance and descends to the segment.
//! 4. In a choice, once one alternative has occurred the others are not candidates.
//! 5. "Any segment" (`Hxx`) positions take a segment only when no named position does.
//! 6. A segment no position takes is *unexpected*: it stays in the innermost open group
//!    instance (where it can be addressed as a Z-segment step) and the position does not move.
//!
//! # Invariants
//!
//! - Built once per message (one allocation for the entries, one for the steps); lookups
//!   afterwards ([`SegmentMap::placement`]) do not allocate.
//! - Every segment of the message has exactly one entry, in message order.
//! - Occurrence numbers are 1-based and consecutive within the enclosing group instance: the
//!   k-th instance of a group, the k-th repetition of a segment element.

use std::sync::Arc;

use hie_hl7::Message;

use crate::model::{Element, MessageStructure};

/// One level of a segment's place in the structure: the element's position among its
/// siblings (0-based index into the group's or structure's `items`) and which occurrence of
/// that element it is (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Step {
    /// 0-based position of the element among its siblings.
    pub element: u16,
    /// 1-based occurrence of the element within the enclosing group instance.
    pub occurrence: u32,
}

/// Where one segment sits in the structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement<'m> {
    /// The group steps from the top, then the segment element's step. For an unexpected
    /// segment: only the group steps of the instance it was found in.
    pub steps: &'m [Step],
    /// True when no structure position took the segment.
    pub unexpected: bool,
    /// For an unexpected segment, its occurrence among unexpected segments with the same ID
    /// in the same group instance (1-based); otherwise 0.
    pub unexpected_occurrence: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    len: u16,
    unexpected: bool,
    unexpected_occurrence: u32,
    name: [u8; 3],
}

/// The structure position of every segment of one message. Build it once per message and
/// pass it to every group-path evaluation.
#[derive(Debug, Clone)]
pub struct SegmentMap {
    structure: Arc<MessageStructure>,
    entries: Vec<Entry>,
    steps: Vec<Step>,
}

/// One open group instance (or the structure itself at the bottom of the stack).
struct Frame<'s> {
    items: &'s [Element],
    choice: bool,
    /// Current child position and how often it has occurred in this instance.
    cur: Option<(usize, u32)>,
}

/// Where a segment goes: pop to `level`, then take child `child` of that frame (a new
/// occurrence when it is the current one).
struct Plan {
    level: usize,
    child: usize,
}

impl SegmentMap {
    /// Maps `msg` onto `structure`.
    pub fn build(msg: &Message<'_>, structure: &Arc<MessageStructure>) -> SegmentMap {
        let names = msg.segments().map(|s| name3(s.name().as_bytes()));
        SegmentMap::from_names(names, structure)
    }

    /// Maps a sequence of segment IDs onto `structure` (for messages being built, e.g. a DTL
    /// target held in a `MessageBuf`).
    pub fn from_names(names: impl IntoIterator<Item = [u8; 3]>, structure: &Arc<MessageStructure>) -> SegmentMap {
        let names = names.into_iter();
        let mut map = SegmentMap {
            structure: Arc::clone(structure),
            entries: Vec::with_capacity(names.size_hint().0),
            steps: Vec::with_capacity(names.size_hint().0 * 3),
        };
        let mut stack = vec![Frame { items: &structure.items, choice: false, cur: None }];
        // path[i]: the step that opened stack[i + 1].
        let mut path: Vec<Step> = Vec::new();
        for name in names {
            let plan = search(&stack, &name, false).or_else(|| search(&stack, &name, true));
            let start = map.steps.len();
            match plan {
                Some(plan) => {
                    descend(&mut stack, &mut path, plan, &name);
                    map.steps.extend_from_slice(&path);
                    if let Some(leaf) = stack.last().and_then(|f| f.cur) {
                        map.steps.push(Step { element: to_u16(leaf.0), occurrence: leaf.1 });
                    }
                    map.entries.push(Entry {
                        start: start as u32,
                        len: (map.steps.len() - start) as u16,
                        unexpected: false,
                        unexpected_occurrence: 0,
                        name,
                    });
                }
                None => {
                    map.steps.extend_from_slice(&path);
                    let prior = map
                        .entries
                        .iter()
                        .filter(|e| e.unexpected && e.name == name && map.steps_of(e) == path.as_slice())
                        .count();
                    let occ = u32::try_from(prior + 1).unwrap_or(u32::MAX);
                    map.entries.push(Entry {
                        start: start as u32,
                        len: path.len() as u16,
                        unexpected: true,
                        unexpected_occurrence: occ,
                        name,
                    });
                }
            }
        }
        map
    }

    fn steps_of(&self, e: &Entry) -> &[Step] {
        let start = e.start as usize;
        self.steps.get(start..start + e.len as usize).unwrap_or(&[])
    }

    /// The structure the map was built for.
    pub fn structure(&self) -> &Arc<MessageStructure> {
        &self.structure
    }

    /// Number of segments mapped (the message's segment count).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the message had no segments.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where segment `index` (0-based, MSH is 0) sits.
    pub fn placement(&self, index: usize) -> Option<Placement<'_>> {
        let e = self.entries.get(index)?;
        Some(Placement {
            steps: self.steps_of(e),
            unexpected: e.unexpected,
            unexpected_occurrence: e.unexpected_occurrence,
        })
    }

    /// The segment ID recorded for segment `index`.
    pub fn segment_id(&self, index: usize) -> Option<&str> {
        self.entries.get(index).and_then(|e| std::str::from_utf8(&e.name).ok())
    }

    /// The structure element segment `index` was matched to (`None` for unexpected ones).
    pub fn element(&self, index: usize) -> Option<&Element> {
        let p = self.placement(index)?;
        if p.unexpected {
            return None;
        }
        let mut items: &[Element] = &self.structure.items;
        let mut found = None;
        for s in p.steps {
            let e = items.get(usize::from(s.element))?;
            if let Element::Group(g) = e {
                items = &g.items;
            }
            found = Some(e);
        }
        found
    }

    /// The elements from the top of the structure down to segment `index`, each with its
    /// occurrence: its groups (with their HL7 names, for v2.xml) and last the segment element.
    /// For an unexpected segment the chain ends with the group it was found in. Empty for an
    /// index out of range.
    pub fn element_chain(&self, index: usize) -> impl Iterator<Item = (&Element, u32)> + '_ {
        let steps = self.placement(index).map_or(&[][..], |p| p.steps);
        let mut items: &[Element] = &self.structure.items;
        steps.iter().map_while(move |s| {
            let e = items.get(usize::from(s.element))?;
            if let Element::Group(g) = e {
                items = &g.items;
            }
            Some((e, s.occurrence))
        })
    }

    /// The indexes of the segments no structure position took.
    pub fn unexpected(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().enumerate().filter(|(_, e)| e.unexpected).map(|(i, _)| i)
    }

    /// The IRIS path of segment `index`, e.g. `PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX`
    /// (repeating elements get their occurrence; an unexpected segment ends in its ID).
    pub fn element_path(&self, index: usize) -> Option<String> {
        let p = self.placement(index)?;
        let mut items: &[Element] = &self.structure.items;
        let mut out = String::new();
        for s in p.steps {
            let e = items.get(usize::from(s.element))?;
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(e.name());
            if e.is_repeating() {
                out.push_str(&format!("({})", s.occurrence));
            }
            if let Element::Group(g) = e {
                items = &g.items;
            }
        }
        if p.unexpected {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(self.segment_id(index)?);
            if p.unexpected_occurrence > 1 {
                out.push_str(&format!("({})", p.unexpected_occurrence));
            }
        }
        Some(out)
    }
}

fn to_u16(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

fn name3(b: &[u8]) -> [u8; 3] {
    let mut n = [b' '; 3];
    for (d, s) in n.iter_mut().zip(b) {
        *d = *s;
    }
    n
}

/// True when `e` can start with segment `name` (see the module documentation, rule 3).
fn starts_with(e: &Element, name: &[u8; 3], any: bool) -> bool {
    match e {
        Element::Segment(s) => s.segment.as_bytes() == name || (any && s.any),
        Element::Group(g) => {
            for item in &g.items {
                if starts_with(item, name, any) {
                    return true;
                }
                if !g.choice && item.is_required() {
                    return false;
                }
            }
            false
        }
    }
}

fn may_repeat(e: &Element, count: u32) -> bool {
    e.max().is_none_or(|m| count < m)
}

/// Finds where `name` goes without changing anything.
fn search(stack: &[Frame<'_>], name: &[u8; 3], any: bool) -> Option<Plan> {
    for level in (0..stack.len()).rev() {
        let f = &stack[level];
        if let Some((c, count)) = f.cur {
            let e = f.items.get(c)?;
            if may_repeat(e, count) && starts_with(e, name, any) {
                return Some(Plan { level, child: c });
            }
        }
        let from = match (f.choice, f.cur) {
            (true, Some(_)) => f.items.len(),
            (_, Some((c, _))) => c + 1,
            (_, None) => 0,
        };
        if let Some(c) = f.items.iter().skip(from).position(|e| starts_with(e, name, any)) {
            return Some(Plan { level, child: from + c });
        }
    }
    None
}

/// Applies a plan: pops to its level, takes its child, and descends into groups until a
/// segment element takes `name`.
fn descend<'s>(stack: &mut Vec<Frame<'s>>, path: &mut Vec<Step>, plan: Plan, name: &[u8; 3]) {
    stack.truncate(plan.level + 1);
    path.truncate(plan.level);
    let mut child = plan.child;
    loop {
        let Some(frame) = stack.last_mut() else { return };
        let occurrence = match frame.cur {
            Some((c, n)) if c == child => n.saturating_add(1),
            _ => 1,
        };
        frame.cur = Some((child, occurrence));
        let Some(Element::Group(g)) = frame.items.get(child) else { return };
        path.push(Step { element: to_u16(child), occurrence });
        stack.push(Frame { items: &g.items, choice: g.choice, cur: None });
        let pick = g
            .items
            .iter()
            .position(|e| starts_with(e, name, false))
            .or_else(|| g.items.iter().position(|e| starts_with(e, name, true)));
        match pick {
            Some(c) => child = c,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::builtin;

    fn map(version: &str, structure: &str, segs: &[&str]) -> (SegmentMap, Vec<String>) {
        let cat = builtin(version).unwrap();
        let s = Arc::clone(cat.structure(structure).unwrap());
        let m = SegmentMap::from_names(segs.iter().map(|s| name3(s.as_bytes())), &s);
        let paths = (0..m.len()).map(|i| m.element_path(i).unwrap_or_default()).collect();
        (m, paths)
    }

    #[test]
    fn oru_segments_land_in_their_groups() {
        let (m, p) = map("2.5", "ORU_R01", &["MSH", "PID", "PV1", "ORC", "OBR", "OBX", "NTE", "OBX", "OBX"]);
        assert_eq!(
            p,
            [
                "MSH",
                "PIDgrpgrp(1).PIDgrp.PID",
                "PIDgrpgrp(1).PIDgrp.PV1grp.PV1",
                "PIDgrpgrp(1).ORCgrp(1).ORC",
                "PIDgrpgrp(1).ORCgrp(1).OBR",
                "PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX",
                "PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).NTE(1)",
                "PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX",
                "PIDgrpgrp(1).ORCgrp(1).OBXgrp(3).OBX",
            ]
        );
        assert_eq!(m.unexpected().count(), 0);
        assert_eq!(m.element(5).map(Element::name), Some("OBX"));
        let chain: Vec<(Option<&str>, u32)> = m
            .element_chain(7)
            .map(|(e, n)| (e.as_group().and_then(|g| g.hl7_name.as_deref()).or(Some(e.name())), n))
            .collect();
        assert_eq!(
            chain,
            [
                (Some("ORU_R01.PATIENT_RESULT"), 1),
                (Some("ORU_R01.ORDER_OBSERVATION"), 1),
                (Some("ORU_R01.OBSERVATION"), 2),
                (Some("OBX"), 1)
            ]
        );
        assert_eq!(m.element_chain(99).count(), 0);
    }

    #[test]
    fn a_new_leading_segment_starts_a_new_group_instance() {
        let (_, p) = map("2.5", "ORU_R01", &["MSH", "PID", "OBR", "OBX", "OBR", "OBX", "PID", "OBR"]);
        assert_eq!(p[4], "PIDgrpgrp(1).ORCgrp(2).OBR");
        assert_eq!(p[5], "PIDgrpgrp(1).ORCgrp(2).OBXgrp(1).OBX");
        assert_eq!(p[6], "PIDgrpgrp(2).PIDgrp.PID");
        assert_eq!(p[7], "PIDgrpgrp(2).ORCgrp(1).OBR");
    }

    #[test]
    fn unexpected_segments_stay_in_the_current_instance() {
        let (m, p) = map("2.5", "ORU_R01", &["MSH", "PID", "OBR", "OBX", "ZXX", "ZXX", "OBX"]);
        assert_eq!(p[4], "PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).ZXX");
        assert_eq!(p[5], "PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).ZXX(2)");
        assert_eq!(p[6], "PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX");
        assert_eq!(m.unexpected().collect::<Vec<_>>(), [4, 5]);
        assert!(m.element(4).is_none());
    }

    #[test]
    fn top_level_repeats_and_duplicate_siblings() {
        let (_, p) =
            map("2.5", "ADT_A01", &["MSH", "EVN", "PID", "ROL", "NK1", "NK1", "PV1", "ROL", "OBX", "OBX", "AL1"]);
        assert_eq!(p[3], "ROL(1)");
        assert_eq!(p[5], "NK1(2)");
        assert_eq!(p[7], "ROLi2(1)");
        assert_eq!(p[9], "OBX(2)");
    }

    #[test]
    fn out_of_order_segments_are_unexpected_not_misplaced() {
        let (m, p) = map("2.5", "ADT_A01", &["MSH", "EVN", "PV1", "PID"]);
        assert_eq!(p[2], "PV1");
        assert_eq!(m.unexpected().collect::<Vec<_>>(), [3]);
        assert_eq!(p[3], "PID");
    }

    #[test]
    fn choice_takes_one_alternative_per_instance() {
        let (_, p) = map("2.5", "ORM_O01", &["MSH", "PID", "ORC", "OBR", "NTE", "ORC", "RQD"]);
        assert_eq!(p[3], "ORCgrp(1).OBRuniongrp.OBRunion.OBR");
        assert_eq!(p[4], "ORCgrp(1).OBRuniongrp.NTE(1)");
        assert_eq!(p[6], "ORCgrp(2).OBRuniongrp.OBRunion.RQD");
    }
}
