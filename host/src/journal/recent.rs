//! Where the bodies the warehouse does not have yet are in the commit log.
//!
//! A consumer whose queue is deeper than the body cache reads bodies back from the
//! journal. The warehouse trails the log, so a body committed moments ago may not be in
//! it yet; rather than wait for the indexer (whose pace a busy CPU sets), the body is
//! read from its log record. The writer notes each written body's record; the indexer
//! forgets them as it indexes them.
//!
//! # Invariants
//! - A noted position is of a record written (and published) by the log: its bytes do
//!   not change until its segment is retired, which happens only after it was indexed.
//! - Memory is bounded: past [`MAX_NOTED`] positions nothing more is noted, and those
//!   bodies are read from the warehouse once it has them.

use crate::lock::LockExt;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Positions kept at most (about 60 MB at this bound).
const MAX_NOTED: usize = 1_000_000;

/// Where one record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordPos {
    /// The record's LSN.
    pub lsn: u64,
    /// The first LSN (name) of its segment.
    pub segment: u64,
    /// Its offset in that segment.
    pub offset: u64,
}

#[derive(Default)]
struct Inner {
    by_body: HashMap<u64, RecordPos>,
    /// `(lsn, body id)` in LSN order, to forget what gets indexed.
    order: VecDeque<(u64, u64)>,
}

/// The positions of bodies written but not indexed yet.
#[derive(Default)]
pub struct RecentBodies {
    inner: Mutex<Inner>,
}

impl RecentBodies {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock_unpoisoned()
    }

    /// Notes that the bodies `ids` are in the record at `pos` (records in LSN order).
    pub fn note(&self, written: &[(RecordPos, Vec<u64>)]) {
        if written.iter().all(|(_, ids)| ids.is_empty()) {
            return;
        }
        let mut g = self.lock();
        for (pos, ids) in written {
            for id in ids {
                if g.order.len() >= MAX_NOTED {
                    return;
                }
                g.by_body.insert(*id, *pos);
                g.order.push_back((pos.lsn, *id));
            }
        }
    }

    /// Forgets the bodies of records up to `lsn`: they are in the warehouse.
    pub fn forget_through(&self, lsn: u64) {
        let mut g = self.lock();
        while let Some(&(l, id)) = g.order.front() {
            if l > lsn {
                break;
            }
            g.order.pop_front();
            if g.by_body.get(&id).is_some_and(|p| p.lsn == l) {
                g.by_body.remove(&id);
            }
        }
    }

    /// Where body `id` is, if it is not indexed yet.
    pub fn find(&self, id: u64) -> Option<RecordPos> {
        self.lock().by_body.get(&id).copied()
    }

    /// How many positions are noted.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_found_until_their_record_is_indexed() {
        let recent = RecentBodies::default();
        let at = |lsn| RecordPos { lsn, segment: 1, offset: lsn * 100 };
        recent.note(&[(at(5), vec![10, 11]), (at(6), vec![]), (at(7), vec![12])]);
        assert_eq!(recent.find(11), Some(at(5)));
        recent.forget_through(5);
        assert_eq!((recent.find(10), recent.find(12)), (None, Some(at(7))));
        assert_eq!(recent.len(), 1);
        recent.forget_through(100);
        assert_eq!(recent.len(), 0);
    }
}
