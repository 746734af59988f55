//! Where a write through a path goes: an existing place, or a new segment to insert at its
//! place in the structure (for DTL targets and other message builders).
//!
//! # Invariants
//!
//! - Planning never changes anything: it returns a [`WriteTarget`]; the caller edits its
//!   `MessageBuf` (insert the segment, then set the value) and rebuilds the [`SegmentMap`]
//!   (`SegmentMap::from_names`) before planning the next write.
//! - A new segment goes after every segment whose structure position comes before the target
//!   position (group instances in order, elements in order), and after any unexpected
//!   segments that follow the last of those. A new instance number beyond the last existing
//!   one simply becomes the next instance once inserted.
//! - The location's field part is taken as written, without checking that the field exists
//!   (writing pads the segment, as `MessageBuf::set` does). `()`, `(*)` and unbound keys are
//!   refused: the caller loops and binds keys.

use crate::compile::{CompiledPath, FieldSel, Idx, Target};
use crate::eval::{Keys, Location};
use crate::matcher::{SegmentMap, Step};

/// Where [`CompiledPath::write_target`] says to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteTarget {
    /// The segment exists; write here.
    Existing(Location),
    /// Insert a new, empty segment with ID `segment` at 0-based index `at` (before the
    /// segment now at `at`; `at` = segment count appends), then write at `location`, whose
    /// `segment_index` is `at`.
    Insert {
        /// Where to insert.
        at: usize,
        /// The segment ID to insert (`OBX`).
        segment: String,
        /// Where to write once inserted.
        location: Location,
    },
}

/// Why no write target could be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The path selects several places (`()`) or a count (`(*)`).
    #[error("path {0:?}: a write needs a single place (no () or (*); bind key variables instead)")]
    NotSingle(String),
    /// A key variable of the path has no value.
    #[error("path {path:?}: key variable {key:?} has no value")]
    UnboundKey {
        /// The path text.
        path: String,
        /// The key.
        key: String,
    },
    /// The path ends on a group; write its segments one by one.
    #[error("path {0:?}: ends on a group; write its segments one by one")]
    Group(String),
    /// The path names a segment by number that the message does not have, or is relative.
    #[error("path {0:?}: no such segment to write to")]
    NoSegment(String),
    /// A structure path without a map for its structure.
    #[error("path {0:?}: needs the SegmentMap of the target for its structure")]
    NeedsMap(String),
}

impl CompiledPath {
    /// Plans a write through this path into a message whose segments are `names` (their IDs
    /// in order) and, for structure paths, whose map is `map` (built from the same names for
    /// the structure the path was compiled against).
    pub fn write_target(
        &self,
        names: &[[u8; 3]],
        map: Option<&SegmentMap>,
        keys: Keys<'_>,
    ) -> Result<WriteTarget, WriteError> {
        let text = || self.text().to_owned();
        if self.count || self.multi {
            return Err(WriteError::NotSingle(text()));
        }
        let value = |idx: &Idx| match idx {
            Idx::Num(n) => Ok(*n),
            Idx::Key(k) => keys
                .get(k)
                .filter(|n| *n > 0)
                .ok_or_else(|| WriteError::UnboundKey { path: text(), key: k.to_string() }),
            Idx::All | Idx::Count => Err(WriteError::NotSingle(text())),
        };
        let field = self.field.as_ref().map(|f| field_part(f, &value)).transpose()?;
        let at_index = |i: usize| {
            let (rep, comp, sub) = field.unwrap_or((None, None, None));
            Location {
                segment_index: i,
                field: self.field.as_ref().map(|f| f.field),
                repetition: rep,
                component: comp,
                subcomponent: sub,
            }
        };
        let insert = |at: usize, id: [u8; 3]| WriteTarget::Insert {
            at,
            segment: String::from_utf8_lossy(&id).into_owned(),
            location: at_index(at),
        };
        match &self.target {
            Target::Relative => Err(WriteError::NoSegment(text())),
            Target::ByNumber(i) if *i < names.len() => Ok(WriteTarget::Existing(at_index(*i))),
            Target::ByNumber(_) => Err(WriteError::NoSegment(text())),
            Target::ByName { name, index } => {
                let n = value(index)?;
                let found = n.checked_sub(1).and_then(|k| names.iter().enumerate().filter(|(_, s)| *s == name).nth(k));
                let found = found.map(|(i, _)| i);
                Ok(match found {
                    Some(i) => WriteTarget::Existing(at_index(i)),
                    None => insert(names.len(), *name),
                })
            }
            Target::Tree { ends_in_group: true, .. } => Err(WriteError::Group(text())),
            Target::Tree { steps, unexpected, .. } => {
                let map = map
                    .filter(|m| self.structure.as_ref().is_some_and(|s| std::sync::Arc::ptr_eq(s, m.structure())))
                    .ok_or_else(|| WriteError::NeedsMap(text()))?;
                let mut target = Vec::with_capacity(steps.len());
                for s in steps.iter() {
                    target.push(Step {
                        element: s.element,
                        occurrence: u32::try_from(value(&s.index)?).unwrap_or(u32::MAX),
                    });
                }
                let id = self.segment_id.unwrap_or(*b"???");
                match unexpected {
                    None => match (0..map.len())
                        .find(|&i| map.placement(i).is_some_and(|p| !p.unexpected && p.steps == target.as_slice()))
                    {
                        Some(i) => Ok(WriteTarget::Existing(at_index(i))),
                        None => Ok(insert(insert_position(map, &target), id)),
                    },
                    Some(z) => {
                        let (last, groups) = target.split_last().ok_or_else(|| WriteError::NoSegment(text()))?;
                        let found = (0..map.len()).find(|&i| {
                            map.placement(i).is_some_and(|p| {
                                p.unexpected
                                    && p.steps == groups
                                    && p.unexpected_occurrence == last.occurrence
                                    && map.segment_id(i).is_some_and(|s| s.as_bytes() == z)
                            })
                        });
                        if let Some(i) = found {
                            return Ok(WriteTarget::Existing(at_index(i)));
                        }
                        let end_of_instance = (0..map.len())
                            .rev()
                            .find(|&i| map.placement(i).is_some_and(|p| p.steps.starts_with(groups)));
                        let at = match end_of_instance {
                            Some(i) if !groups.is_empty() => i + 1,
                            _ => names.len(),
                        };
                        Ok(insert(at, *z))
                    }
                }
            }
        }
    }

    /// The location of this path's field part in segment `segment_index` (for writes through
    /// segment-relative paths, e.g. in a segment-level DTL).
    pub fn location_in(&self, segment_index: usize, keys: Keys<'_>) -> Result<Location, WriteError> {
        let text = || self.text().to_owned();
        if self.count || self.multi {
            return Err(WriteError::NotSingle(text()));
        }
        let value = |idx: &Idx| match idx {
            Idx::Num(n) => Ok(*n),
            Idx::Key(k) => keys
                .get(k)
                .filter(|n| *n > 0)
                .ok_or_else(|| WriteError::UnboundKey { path: text(), key: k.to_string() }),
            Idx::All | Idx::Count => Err(WriteError::NotSingle(text())),
        };
        let Some(f) = self.field.as_ref() else { return Ok(Location::segment(segment_index)) };
        let (repetition, component, subcomponent) = field_part(f, &value)?;
        Ok(Location { segment_index, field: Some(f.field), repetition, component, subcomponent })
    }
}

type FieldPart = (Option<usize>, Option<usize>, Option<usize>);

fn field_part(f: &FieldSel, value: &dyn Fn(&Idx) -> Result<usize, WriteError>) -> Result<FieldPart, WriteError> {
    let rep = f.rep.as_ref().map(value).transpose()?;
    Ok((rep, f.comp, f.sub))
}

/// True when placement `q` comes before `target` in structure order.
fn precedes(q: &[Step], target: &[Step]) -> bool {
    for (a, b) in q.iter().zip(target) {
        match (a.element, a.occurrence).cmp(&(b.element, b.occurrence)) {
            std::cmp::Ordering::Less => return true,
            std::cmp::Ordering::Greater => return false,
            std::cmp::Ordering::Equal => {}
        }
    }
    false
}

/// Index at which a segment placed at `target` is inserted (see the module documentation).
pub(crate) fn insert_position(map: &SegmentMap, target: &[Step]) -> usize {
    let mut pos = 0;
    let mut glued = false;
    for i in 0..map.len() {
        let Some(p) = map.placement(i) else { continue };
        if p.unexpected {
            if glued {
                pos = i + 1;
            }
            continue;
        }
        glued = precedes(p.steps, target);
        if glued {
            pos = i + 1;
        }
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::builtin;
    use crate::compile::CompileOptions;
    use crate::doctype::DocType;

    fn names(s: &[&str]) -> Vec<[u8; 3]> {
        s.iter()
            .map(|n| {
                let b = n.as_bytes();
                [b[0], b[1], b[2]]
            })
            .collect()
    }

    fn plan(doc: &DocType, segs: &[&str], path: &str, keys: Keys<'_>) -> Result<WriteTarget, WriteError> {
        let n = names(segs);
        let map = SegmentMap::from_names(n.iter().copied(), doc.structure());
        let cp = CompiledPath::parse(path, &CompileOptions::new().doc_type(doc)).unwrap();
        cp.write_target(&n, Some(&map), keys)
    }

    fn at(i: usize, seg: &str, field: Option<usize>) -> WriteTarget {
        WriteTarget::Insert {
            at: i,
            segment: seg.into(),
            location: Location { segment_index: i, field, repetition: None, component: None, subcomponent: None },
        }
    }

    #[test]
    fn existing_segments_are_written_in_place() {
        let c = builtin("2.5").unwrap();
        let doc = DocType::new(&c, "ORU_R01").unwrap();
        let got =
            plan(&doc, &["MSH", "PID", "OBR", "OBX", "OBX"], "PIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5(1).1", Keys::NONE)
                .unwrap();
        assert_eq!(
            got,
            WriteTarget::Existing(Location {
                segment_index: 4,
                field: Some(5),
                repetition: Some(1),
                component: Some(1),
                subcomponent: None
            })
        );
    }

    #[test]
    fn missing_segments_are_inserted_at_their_structure_position() {
        let c = builtin("2.5").unwrap();
        let oru = DocType::new(&c, "ORU_R01").unwrap();
        let segs = ["MSH", "PID", "ORC", "OBR", "OBX", "OBX"];
        assert_eq!(
            plan(&oru, &segs, "PIDgrpgrp(1).ORCgrp(1).OBXgrp(3).OBX:5", Keys::NONE).unwrap(),
            at(6, "OBX", Some(5))
        );
        assert_eq!(plan(&oru, &segs, "PIDgrpgrp(1).ORCgrp(1).NTE:3", Keys::NONE).unwrap(), at(4, "NTE", Some(3)));
        assert_eq!(plan(&oru, &segs, "PIDgrpgrp(1).PIDgrp.PV1grp.PV1:2", Keys::NONE).unwrap(), at(2, "PV1", Some(2)));
        assert_eq!(plan(&oru, &["MSH"], "PIDgrpgrp(1).PIDgrp.PID", Keys::NONE).unwrap(), at(1, "PID", None));
        let keys = [("k1", 2)];
        assert!(
            matches!(plan(&oru, &segs, "PIDgrpgrp(1).ORCgrp(1).OBXgrp(k1).OBX:1", Keys::new(&keys)).unwrap(), WriteTarget::Existing(l) if l.segment_index == 5)
        );
        let adt = DocType::new(&c, "ADT_A01").unwrap();
        let segs = ["MSH", "EVN", "PID", "PV1", "ZXX", "AL1"];
        assert_eq!(plan(&adt, &segs, "NK1(1):2", Keys::NONE).unwrap(), at(3, "NK1", Some(2)));
        assert_eq!(
            plan(&adt, &segs, "OBX(1):5", Keys::NONE).unwrap(),
            at(5, "OBX", Some(5)),
            "after the Z-segment glued to PV1"
        );
        assert!(
            matches!(plan(&adt, &segs, "ZXX:1", Keys::NONE).unwrap(), WriteTarget::Existing(l) if l.segment_index == 4)
        );
    }

    #[test]
    fn writes_that_are_not_single_places_are_refused() {
        let c = builtin("2.5").unwrap();
        let oru = DocType::new(&c, "ORU_R01").unwrap();
        let segs = ["MSH", "PID", "OBR", "OBX"];
        assert!(matches!(
            plan(&oru, &segs, "PIDgrpgrp(1).ORCgrp(1).OBXgrp().OBX:5", Keys::NONE),
            Err(WriteError::NotSingle(_))
        ));
        assert!(matches!(
            plan(&oru, &segs, "PIDgrpgrp(1).ORCgrp(1).OBXgrp(*)", Keys::NONE),
            Err(WriteError::NotSingle(_))
        ));
        assert!(matches!(
            plan(&oru, &segs, "PIDgrpgrp(1).ORCgrp(1).OBXgrp(k9).OBX", Keys::NONE),
            Err(WriteError::UnboundKey { .. })
        ));
        assert!(matches!(plan(&oru, &segs, "PIDgrpgrp(1).ORCgrp(1)", Keys::NONE), Err(WriteError::Group(_))));
    }

    #[test]
    fn message_scope_writes_append_missing_segments() {
        let cp = CompiledPath::parse("NTE(2):3", &CompileOptions::new()).unwrap();
        let n = names(&["MSH", "NTE"]);
        assert_eq!(cp.write_target(&n, None, Keys::NONE).unwrap(), at(2, "NTE", Some(3)));
        let rel = CompiledPath::parse_relative("3(2).1", &CompileOptions::new()).unwrap();
        assert_eq!(
            rel.location_in(4, Keys::NONE).unwrap(),
            Location { segment_index: 4, field: Some(3), repetition: Some(2), component: Some(1), subcomponent: None }
        );
    }
}
