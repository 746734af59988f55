//! Structural conformance of a mapped message: required elements that are absent, for
//! validation (together with [`SegmentMap::unexpected`] for segments no position took).
//!
//! # Invariants
//!
//! - Only the message's own group instances are checked: a required element inside an optional
//!   group that is absent is not reported; a required group that is absent is reported once
//!   (not its contents).
//! - Alternatives of a choice are never reported one by one (an instance of a choice always
//!   holds one of them).
//! - Reports are in structure order; `insert_at` is where the element would go (as for writes).

use crate::matcher::{SegmentMap, Step};
use crate::model::Element;
use crate::write::insert_position;

/// A required element the message lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The IRIS path of the missing element, e.g. `PIDgrpgrp(1).ORCgrp(2).OBR`.
    pub path: String,
    /// The segment ID when the element is a segment (`OBR`); `None` for a group.
    pub segment: Option<String>,
    /// Where a segment for it would be inserted (0-based segment index).
    pub insert_at: usize,
}

impl SegmentMap {
    /// The required elements absent from the message, in structure order.
    pub fn missing_required(&self) -> Vec<Missing> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        self.check(&self.structure().items, false, &mut prefix, "", &mut out);
        out
    }

    /// Highest occurrence of child `element` among segments inside the instance `prefix`.
    fn occurrences(&self, prefix: &[Step], element: u16) -> u32 {
        let depth = prefix.len();
        (0..self.len())
            .filter_map(|i| self.placement(i))
            .filter(|p| p.steps.starts_with(prefix))
            .filter_map(|p| p.steps.get(depth))
            .filter(|s| s.element == element)
            .map(|s| s.occurrence)
            .max()
            .unwrap_or(0)
    }

    fn check(&self, items: &[Element], choice: bool, prefix: &mut Vec<Step>, parent: &str, out: &mut Vec<Missing>) {
        for (i, child) in items.iter().enumerate() {
            let element = u16::try_from(i).unwrap_or(u16::MAX);
            let count = self.occurrences(prefix, element);
            let name = if parent.is_empty() { child.name().to_owned() } else { format!("{parent}.{}", child.name()) };
            if count == 0 {
                if child.is_required() && !choice {
                    prefix.push(Step { element, occurrence: 1 });
                    let insert_at = insert_position(self, prefix);
                    prefix.pop();
                    let shown = if child.is_repeating() { format!("{name}(1)") } else { name };
                    out.push(Missing {
                        path: shown,
                        segment: child.as_segment().map(|s| s.segment.clone()),
                        insert_at,
                    });
                }
                continue;
            }
            let Element::Group(g) = child else { continue };
            for occurrence in 1..=count {
                prefix.push(Step { element, occurrence });
                let step = if child.is_repeating() { format!("{name}({occurrence})") } else { name.clone() };
                self.check(&g.items, g.choice, prefix, &step, out);
                prefix.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::builtin::builtin;
    use crate::matcher::SegmentMap;

    fn missing(structure: &str, segs: &[&str]) -> Vec<(String, usize)> {
        let c = builtin("2.5").unwrap();
        let s = Arc::clone(c.structure(structure).unwrap());
        let m = SegmentMap::from_names(
            segs.iter().map(|n| {
                let b = n.as_bytes();
                [b[0], b[1], b[2]]
            }),
            &s,
        );
        m.missing_required().into_iter().map(|x| (x.path, x.insert_at)).collect()
    }

    #[test]
    fn complete_messages_miss_nothing() {
        assert!(missing("ADT_A01", &["MSH", "EVN", "PID", "PV1"]).is_empty());
        assert!(missing("ORU_R01", &["MSH", "PID", "OBR", "OBX"]).is_empty());
    }

    #[test]
    fn absent_required_segments_and_groups_are_reported_where_they_belong() {
        assert_eq!(missing("ADT_A01", &["MSH", "EVN", "PID"]), [("PV1".to_owned(), 3)]);
        assert_eq!(missing("ADT_A01", &["MSH", "PID", "PV1"]), [("EVN".to_owned(), 1)]);
        assert_eq!(missing("ORU_R01", &["MSH", "PID", "ORC"]), [("PIDgrpgrp(1).ORCgrp(1).OBR".to_owned(), 3)]);
        assert_eq!(missing("ORU_R01", &["MSH"]), [("PIDgrpgrp(1)".to_owned(), 1)]);
        assert_eq!(
            missing("ORU_R01", &["MSH", "PID", "OBR", "OBX", "ORC"]),
            [("PIDgrpgrp(1).ORCgrp(2).OBR".to_owned(), 5)]
        );
    }
}
