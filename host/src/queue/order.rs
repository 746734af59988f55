//! The order in which a queue hands out what it holds in memory, and ordering keys.
//!
//! Entries are ranked by an [`OrderKey`] that depends on the queue type: arrival for FIFO,
//! priority then arrival for a priority queue, newest first for LIFO. Entries with an
//! ordering key wait ("park") while an entry with the same key is in flight, and come
//! back into line, in their order, as it finishes.
//!
//! # Invariants
//! - Two entries with the same ordering key are never in flight together, and leave in
//!   their order; different keys (and entries without a key) flow in parallel.
//! - An entry whose key is busy, or has entries parked already, parks behind them: it
//!   never overtakes an entry of its own key.
//! - An entry given back returns to its place: its rank does not change.
//! - Plain data under the queue's lock: no I/O, no waiting, no counting of bodies
//!   (that is the memory bounds' job).

use super::{Entry, QueueType};
use crate::message::Header;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Position in the queue: (priority or 0, sequence or negated sequence for LIFO).
pub(super) type OrderKey = (u8, i64);

/// The rank of `h` in a queue of type `kind`.
pub(super) fn order_key(kind: QueueType, h: &Header) -> OrderKey {
    let seq = h.id as i64;
    match kind {
        QueueType::Fifo => (0, seq),
        QueueType::Priority => (h.priority, seq),
        QueueType::Lifo => (0, -seq),
    }
}

/// Entries in memory: those ready to be taken, in order, and those parked behind a busy
/// ordering key.
#[derive(Debug, Default)]
pub(super) struct Lineup {
    /// Entries that may be taken, in order.
    ready: BTreeMap<OrderKey, Entry>,
    /// Entries whose ordering key is busy, by key, in order.
    parked: HashMap<String, VecDeque<(OrderKey, Entry)>>,
    /// Number of entries in `parked`.
    parked_len: usize,
    /// Ordering keys with an entry in flight.
    busy_keys: HashSet<String>,
}

impl Lineup {
    /// Entries ready to be taken.
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Entries held: ready and parked.
    pub fn len(&self) -> usize {
        self.ready.len() + self.parked_len
    }

    /// Every entry held, ready ones first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.ready.values().chain(self.parked.values().flat_map(|l| l.iter().map(|(_, e)| e)))
    }

    /// Whether an entry with header id `id` is held.
    pub fn contains(&self, id: u64) -> bool {
        self.entries().any(|e| e.header.id == id)
    }

    /// Ids of the ready entries in the order they would be taken.
    pub fn ready_ids(&self, limit: usize) -> Vec<u64> {
        self.ready.values().take(limit).map(|e| e.header.id).collect()
    }

    /// Adds `entry` at `key`, keeping per-key order: an entry whose key is busy or
    /// already has parked entries waits behind them.
    pub fn insert(&mut self, key: OrderKey, entry: Entry) {
        if let Some(k) = entry.header.ordering_key.as_deref()
            && (self.busy_keys.contains(k) || self.parked.get(k).is_some_and(|l| !l.is_empty()))
        {
            let k = k.to_string();
            self.park(k, key, entry);
            return;
        }
        self.ready.insert(key, entry);
    }

    /// Parks `entry` at its place in the order of ordering key `k`.
    fn park(&mut self, k: String, key: OrderKey, entry: Entry) {
        let list = self.parked.entry(k).or_default();
        // Requeued entries go back to their place in the key's order.
        let pos = list.iter().position(|(pk, _)| *pk > key).unwrap_or(list.len());
        list.insert(pos, (key, entry));
        self.parked_len += 1;
    }

    /// Takes the first entry whose ordering key is free (marking the key busy), parking
    /// the others it passes.
    pub fn take_next(&mut self) -> Option<Entry> {
        loop {
            let (key, entry) = self.ready.pop_first()?;
            match entry.header.ordering_key.clone() {
                None => return Some(entry),
                Some(k) if !self.busy_keys.contains(&k) => {
                    self.busy_keys.insert(k);
                    return Some(entry);
                }
                Some(k) => self.park(k, key, entry),
            }
        }
    }

    /// Puts back an entry that was taken (at `key`, its place): its ordering key is freed
    /// and it is first in line for that key again, ahead of the key's parked entries,
    /// which all came after it. (Releasing the key first would let the next parked entry
    /// overtake it.)
    pub fn put_back(&mut self, key: OrderKey, entry: Entry) {
        if let Some(k) = entry.header.ordering_key.as_deref() {
            self.busy_keys.remove(k);
        }
        self.ready.insert(key, entry);
    }

    /// Frees the ordering key of an entry that was taken, and moves the key's next parked
    /// entry back into line.
    pub fn release(&mut self, entry: &Entry) {
        let Some(k) = entry.header.ordering_key.as_deref() else { return };
        self.busy_keys.remove(k);
        let next = match self.parked.get_mut(k) {
            Some(list) => {
                let n = list.pop_front();
                if list.is_empty() {
                    self.parked.remove(k);
                }
                n
            }
            None => None,
        };
        if let Some((key, e)) = next {
            self.parked_len -= 1;
            self.ready.insert(key, e);
        }
    }

    /// Removes the entry with header id `id`, ready or parked.
    pub fn remove(&mut self, id: u64) -> Option<Entry> {
        let key = self.ready.iter().find(|(_, e)| e.header.id == id).map(|(k, _)| *k);
        if let Some(k) = key {
            return self.ready.remove(&k);
        }
        let mut found = None;
        for list in self.parked.values_mut() {
            if let Some(pos) = list.iter().position(|(_, e)| e.header.id == id) {
                found = list.remove(pos).map(|(_, e)| e);
                break;
            }
        }
        if found.is_some() {
            self.parked_len -= 1;
            self.parked.retain(|_, l| !l.is_empty());
        }
        found
    }

    /// The rank of the last ready entry.
    pub fn last_ready_key(&self) -> Option<OrderKey> {
        self.ready.last_key_value().map(|(k, _)| *k)
    }

    /// Removes the ready entry at `key`.
    pub fn remove_ready(&mut self, key: OrderKey) -> Option<Entry> {
        self.ready.remove(&key)
    }

    /// Removes every ready entry (parked ones stay), in order.
    pub fn take_ready(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.ready).into_values().collect()
    }

    /// Removes every entry held, ready and parked.
    pub fn take_all(&mut self) -> Vec<Entry> {
        let mut out = self.take_ready();
        for (_, list) in self.parked.drain() {
            out.extend(list.into_iter().map(|(_, e)| e));
        }
        self.parked_len = 0;
        out
    }

    /// Ranks everything held anew for a queue of type `kind`.
    pub fn rekey(&mut self, kind: QueueType) {
        for e in self.take_ready() {
            self.ready.insert(order_key(kind, &e.header), e);
        }
        for list in self.parked.values_mut() {
            for (k, e) in list.iter_mut() {
                *k = order_key(kind, &e.header);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::tests::header;

    fn entry(id: u64, priority: u8, key: Option<&str>) -> Entry {
        Entry { header: header(id, priority, key), body: None, crashes: 0 }
    }

    fn add(l: &mut Lineup, kind: QueueType, id: u64, priority: u8, key: Option<&str>) {
        let e = entry(id, priority, key);
        l.insert(order_key(kind, &e.header), e);
    }

    fn take_all_in_order(l: &mut Lineup) -> Vec<u64> {
        let mut got = Vec::new();
        while let Some(e) = l.take_next() {
            got.push(e.header.id);
            l.release(&e);
        }
        got
    }

    #[test]
    fn each_queue_type_ranks_by_its_own_rule() {
        let h = header(7, 2, None);
        assert_eq!(order_key(QueueType::Fifo, &h), (0, 7));
        assert_eq!(order_key(QueueType::Priority, &h), (2, 7));
        assert_eq!(order_key(QueueType::Lifo, &h), (0, -7));
        for (kind, expected) in
            [(QueueType::Fifo, [1, 2, 3, 4]), (QueueType::Priority, [2, 4, 1, 3]), (QueueType::Lifo, [4, 3, 2, 1])]
        {
            let mut l = Lineup::default();
            for (id, priority) in [(1, 6), (2, 1), (3, 6), (4, 1)] {
                add(&mut l, kind, id, priority, None);
            }
            assert_eq!(take_all_in_order(&mut l), expected, "{kind:?}");
        }
    }

    #[test]
    fn a_busy_key_parks_its_entries_and_releases_them_in_order() {
        let mut l = Lineup::default();
        for (id, key) in [(1, "A"), (2, "A"), (3, "B"), (4, "A")] {
            add(&mut l, QueueType::Fifo, id, 6, Some(key));
        }
        let a1 = l.take_next().expect("1");
        let b = l.take_next().expect("3: 2 waits behind 1");
        assert_eq!((a1.header.id, b.header.id), (1, 3));
        assert!(l.take_next().is_none(), "every other entry has key A, which is busy");
        assert_eq!((l.len(), l.ready_len()), (2, 0));
        // A new arrival of key A parks too, even though none is ready.
        add(&mut l, QueueType::Fifo, 5, 6, Some("A"));
        assert_eq!((l.len(), l.ready_len()), (3, 0));
        l.release(&a1);
        assert_eq!(l.ready_ids(10), [2], "the key's next entry is back in line");
        let a2 = l.take_next().expect("2");
        l.release(&a2);
        l.release(&b);
        assert_eq!(take_all_in_order(&mut l), [4, 5]);
    }

    #[test]
    fn an_entry_given_back_returns_to_its_place_in_its_key() {
        let mut l = Lineup::default();
        for id in 1..=2 {
            add(&mut l, QueueType::Fifo, id, 6, Some("A"));
        }
        add(&mut l, QueueType::Fifo, 3, 6, None);
        let first = l.take_next().expect("1");
        // Given back as a requeue does: its key released, then the entry inserted again.
        l.release(&first);
        l.insert(order_key(QueueType::Fifo, &first.header), first);
        assert_eq!(take_all_in_order(&mut l), [1, 2, 3]);
    }

    #[test]
    fn entries_are_found_and_removed_ready_or_parked() {
        let mut l = Lineup::default();
        add(&mut l, QueueType::Fifo, 1, 6, Some("A"));
        let a1 = l.take_next().expect("1");
        add(&mut l, QueueType::Fifo, 2, 6, Some("A"));
        add(&mut l, QueueType::Fifo, 3, 6, None);
        assert!(l.contains(2) && l.contains(3) && !l.contains(1));
        assert_eq!(l.remove(2).expect("parked 2").header.id, 2);
        assert_eq!(l.remove(3).expect("ready 3").header.id, 3);
        assert!(l.remove(3).is_none());
        assert_eq!(l.len(), 0);
        l.release(&a1);
        assert_eq!(l.len(), 0, "nothing left parked for A");
    }

    #[test]
    fn rekeying_reorders_ready_and_parked_entries() {
        let mut l = Lineup::default();
        for id in 1..=3 {
            add(&mut l, QueueType::Fifo, id, 6, None);
        }
        l.rekey(QueueType::Lifo);
        assert_eq!(l.ready_ids(10), [3, 2, 1]);
        assert_eq!(l.last_ready_key(), Some((0, -1)));
        assert_eq!(l.remove_ready((0, -1)).map(|e| e.header.id), Some(1));
        let all: Vec<u64> = l.take_all().iter().map(|e| e.header.id).collect();
        assert_eq!(all, [3, 2]);
    }
}
