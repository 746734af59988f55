//! What a queue keeps in memory: at most `window` entries and [`BODY_CACHE_BYTES`] of
//! bodies. Deeper entries stay only in the journal ("spilled") and are read back in the
//! queue's order, through the engine's [`Refiller`], when it runs below half its window.
//!
//! # Invariants
//! - Every entry in memory is ahead of every spilled one. A FIFO arrival behind a full
//!   window spills; a LIFO or higher-priority arrival takes the place of the last entry
//!   in memory, which spills instead. An arrival that may be behind a spilled entry
//!   (`floor` unknown, as after a recovery, or behind it) spills too.
//! - `spilled` counts the entries committed to the queue that are only in the journal.
//! - A refill never loads an entry the queue holds, has leased, admitted while the
//!   refill ran (it may have been read as queued just before it was taken and finished)
//!   or had withdrawn by an operator.
//! - At most one refill runs at a time.
//! - Bodies beyond the cache budget are dropped from their entries and read back from
//!   the journal when the entry is taken.

use super::order::{OrderKey, order_key};
use super::{Entry, Queue, State};
use crate::lock::LockExt;
use bytes::Bytes;
use std::collections::HashSet;
use std::sync::Arc;

/// Cached bodies per queue, at most (bytes); beyond this bodies are read from the journal.
pub(super) const BODY_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Reads spilled entries back from the journal: called with the queue and the ids it
/// holds; must call [`Queue::refill`] when done. Installed by the engine.
pub type Refiller = Arc<dyn Fn(Arc<Queue>, HashSet<u64>, usize) + Send + Sync>;

/// Bytes of the bodies cached in a queue's entries.
#[derive(Debug, Default)]
pub(super) struct BodyCache {
    /// Bytes counted.
    bytes: usize,
}

impl BodyCache {
    /// Counts the body of an entry entering memory, or drops it when it would go over
    /// the budget.
    pub fn keep(&mut self, body: &mut Option<Bytes>) {
        if let Some(b) = body {
            if self.bytes + b.len() > BODY_CACHE_BYTES {
                *body = None;
            } else {
                self.bytes += b.len();
            }
        }
    }

    /// Uncounts the body of an entry leaving memory.
    pub fn forget(&mut self, body: &Option<Bytes>) {
        if let Some(b) = body {
            self.bytes = self.bytes.saturating_sub(b.len());
        }
    }

    /// Uncounts everything.
    pub fn clear(&mut self) {
        self.bytes = 0;
    }

    /// Bytes counted now.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The window's bookkeeping.
#[derive(Debug, Default)]
pub(super) struct Window {
    /// Most entries the queue holds in memory; 0 = no limit.
    pub limit: usize,
    /// Entries committed to this queue that are only in the journal.
    pub spilled: usize,
    /// A position at or before every spilled entry (`None` while unknown, as after a
    /// recovery): only an arrival ahead of it may stay in memory.
    pub floor: Option<OrderKey>,
    /// Ids of leased entries (a refill must not load them again).
    pub leased: HashSet<u64>,
    /// A refill from the journal is under way.
    refilling: bool,
    /// `spilled` when the running refill started.
    spilled_at_refill: usize,
    /// Ids that entered memory while a refill ran. The refill must not load them: it may
    /// have read one as queued just before it was taken and finished.
    admitted_while_refilling: HashSet<u64>,
    /// Spilled ids withdrawn by an operator (suspended): a refill that read them as still
    /// queued must not load them. Cleared when nothing is spilled.
    withdrawn: HashSet<u64>,
}

impl Window {
    /// Notes an entry entering memory (a running refill must not load it).
    pub fn admitted(&mut self, id: u64) {
        if self.refilling {
            self.admitted_while_refilling.insert(id);
        }
    }

    /// Notes that `id` is queued (again): a suspended message resent under its own id.
    pub fn requeued(&mut self, id: u64) {
        self.withdrawn.remove(&id);
    }

    /// Forgets everything spilled (the queue's item was removed).
    pub fn forget_spilled(&mut self) {
        self.spilled = 0;
        self.floor = None;
    }
}

/// Whether a new entry may stay in memory; makes room by spilling the last entry in
/// memory when the new one is ahead of it. `false`: the entry is counted as spilled.
pub(super) fn admit(s: &mut State, entry: &Entry) -> bool {
    if s.window.spilled == 0 {
        s.window.floor = None;
    }
    let key = order_key(s.kind, &entry.header);
    let spill = |s: &mut State, key: OrderKey| {
        s.window.spilled += 1;
        s.window.floor = Some(s.window.floor.map_or(key, |f| f.min(key)));
    };
    // Behind (or possibly behind) something already spilled: it must not overtake it.
    if s.window.spilled > 0 && s.window.floor.is_none_or(|floor| key > floor) {
        s.window.spilled += 1;
        return false;
    }
    if s.lineup.len() < s.window.limit {
        return true;
    }
    match s.lineup.last_ready_key() {
        Some(last) if last > key => {
            if let Some(evicted) = s.lineup.remove_ready(last) {
                // Spilled for real now: a running refill may load it back.
                s.window.admitted_while_refilling.remove(&evicted.header.id);
                s.cache.forget(&evicted.body);
            }
            spill(s, last);
            true
        }
        _ => {
            spill(s, key);
            false
        }
    }
}

/// Spills every ready entry, to be read back in a new order (the queue type changed
/// while part of the queue is only in the journal).
pub(super) fn spill_ready(s: &mut State) {
    let dropped = s.lineup.take_ready();
    for e in &dropped {
        s.cache.forget(&e.body);
    }
    s.window.spilled += dropped.len();
    s.window.floor = None;
}

impl Queue {
    /// Sets the in-memory window (0: keep everything in memory) and the function that
    /// reads spilled entries back.
    pub fn set_window(&self, window: usize, refiller: Refiller) {
        self.lock().window.limit = window;
        *self.refiller.lock_unpoisoned() = Some(refiller);
    }

    /// Records `n` entries that are in the journal but not loaded (recovery of a deep queue).
    pub fn add_spilled(&self, n: usize) {
        self.lock().window.spilled += n;
        self.ready.notify_one();
    }

    /// How many entries recovery should load: the window, else all.
    pub fn load_limit(&self) -> usize {
        let s = self.lock();
        if s.window.limit > 0 { s.window.limit } else { usize::MAX }
    }

    /// Entries only in the journal.
    pub fn spilled(&self) -> usize {
        self.lock().window.spilled
    }

    /// Adds entries read back from the journal (oldest first). `exhausted`: the journal
    /// held no more spilled entries when it was read; only the entries spilled before the
    /// refill started are then written off (later ones are counted on).
    pub fn refill(&self, entries: Vec<Entry>, exhausted: bool) {
        let mut s = self.lock();
        let admitted = std::mem::take(&mut s.window.admitted_while_refilling);
        // Entries that entered memory during the refill were never counted as spilled;
        // withdrawn ones were uncounted when withdrawn.
        let n = entries
            .iter()
            .filter(|e| !admitted.contains(&e.header.id) && !s.window.withdrawn.contains(&e.header.id))
            .count();
        let mut resident: HashSet<u64> = s.lineup.entries().map(|e| e.header.id).collect();
        resident.extend(s.window.leased.iter().copied());
        resident.extend(admitted);
        resident.extend(s.window.withdrawn.iter().copied());
        for e in entries {
            if !resident.insert(e.header.id) {
                continue;
            }
            let key = order_key(s.kind, &e.header);
            s.lineup.insert(key, e);
        }
        let w = &mut s.window;
        let before = std::mem::take(&mut w.spilled_at_refill);
        w.spilled = if exhausted { w.spilled.saturating_sub(before.max(n)) } else { w.spilled.saturating_sub(n) };
        w.refilling = false;
        if w.spilled == 0 {
            w.withdrawn.clear();
        }
        drop(s);
        self.ready.notify_waiters();
    }

    /// Starts a refill if the queue runs low and has spilled entries.
    pub(super) fn maybe_refill(&self, s: &mut State) {
        if s.window.spilled == 0 || s.window.refilling || s.lineup.ready_len() > s.window.limit / 2 {
            return;
        }
        let Some(refiller) = self.refiller.lock_unpoisoned().clone() else { return };
        let Some(me) = self.me.upgrade() else { return };
        s.window.refilling = true;
        s.window.spilled_at_refill = s.window.spilled;
        let mut resident: HashSet<u64> = s.window.leased.clone();
        resident.extend(s.lineup.entries().map(|e| e.header.id));
        let want = s.window.limit.saturating_sub(s.lineup.ready_len()).max(1);
        refiller(me, resident, want);
    }

    /// Withdraws a waiting entry that is only in the journal (operator suspend of a message
    /// deep in the queue): it is no longer counted, and no refill loads it. `false` when
    /// the queue holds it in memory or in flight, or has nothing spilled.
    pub fn withdraw_spilled(&self, id: u64) -> bool {
        let mut s = self.lock();
        let held = s.window.leased.contains(&id) || s.lineup.contains(id);
        if held || s.window.spilled == 0 || !s.window.withdrawn.insert(id) {
            return false;
        }
        s.window.spilled -= 1;
        drop(s);
        self.space.notify_waiters();
        true
    }

    /// Undoes [`Queue::withdraw_spilled`] (the commit that was to suspend it failed).
    pub fn restore_spilled(&self, id: u64) {
        let mut s = self.lock();
        if s.window.withdrawn.remove(&id) {
            s.window.spilled += 1;
        }
        drop(s);
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::header;
    use super::super::{Entry, Queue, QueueType};
    use super::*;

    fn push(q: &Arc<Queue>, id: u64, priority: u8, body: Option<&[u8]>) {
        let body = body.map(Bytes::copy_from_slice);
        q.force_reserve().push(Entry { header: header(id, priority, None), body, crashes: 0 });
    }

    /// A queue with a window of 3 and a refiller that only records what it was asked.
    fn windowed(kind: QueueType) -> (Arc<Queue>, Arc<std::sync::Mutex<Vec<(HashSet<u64>, usize)>>>) {
        let q = Queue::new("t", kind, 0);
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let a = asked.clone();
        q.set_window(3, Arc::new(move |_q, resident, want| a.lock().unwrap().push((resident, want))));
        (q, asked)
    }

    #[test]
    fn the_body_cache_keeps_bodies_up_to_its_budget() {
        let mut cache = BodyCache::default();
        let mut big = Some(Bytes::from(vec![0u8; BODY_CACHE_BYTES - 10]));
        cache.keep(&mut big);
        assert!(big.is_some());
        let mut over = Some(Bytes::from(vec![0u8; 11]));
        cache.keep(&mut over);
        assert!(over.is_none(), "over budget: read back from the journal instead");
        let mut fits = Some(Bytes::from(vec![0u8; 10]));
        cache.keep(&mut fits);
        assert!(fits.is_some());
        cache.forget(&big);
        let mut now_fits = Some(Bytes::from(vec![0u8; 11]));
        cache.keep(&mut now_fits);
        assert!(now_fits.is_some(), "room again once bodies leave memory");
        cache.clear();
        cache.forget(&now_fits);
        assert_eq!(cache.bytes, 0, "never below zero");
    }

    #[test]
    fn a_fifo_arrival_behind_a_full_window_spills_and_so_does_everything_after_it() {
        let (q, _) = windowed(QueueType::Fifo);
        for id in 1..=5 {
            push(&q, id, 6, None);
        }
        assert_eq!((q.snapshot_ids(10), q.spilled(), q.depth()), (vec![1, 2, 3], 2, 5));
    }

    #[test]
    fn an_arrival_ahead_takes_the_place_of_the_last_entry_in_memory() {
        let (q, _) = windowed(QueueType::Priority);
        for id in 1..=3 {
            push(&q, id, 6, Some(b"body"));
        }
        push(&q, 4, 1, None);
        assert_eq!((q.snapshot_ids(10), q.spilled()), (vec![4, 1, 2], 1), "3 spilled to make room for 4");
        // An arrival behind the spilled entry may not overtake it.
        push(&q, 5, 6, None);
        assert_eq!((q.snapshot_ids(10), q.spilled()), (vec![4, 1, 2], 2));
        // One ahead of it still may.
        push(&q, 6, 1, None);
        assert_eq!((q.snapshot_ids(10), q.spilled()), (vec![4, 6, 1], 3));
        assert_eq!(q.lock().cache.bytes, 4, "the spilled entries' bodies left the cache");
    }

    #[test]
    fn after_a_recovery_every_arrival_spills_until_the_journal_is_read() {
        let (q, _) = windowed(QueueType::Lifo);
        q.add_spilled(2);
        push(&q, 9, 6, None);
        assert_eq!((q.snapshot_ids(10), q.spilled()), (vec![], 3), "where the spilled ones are is unknown");
    }

    #[tokio::test]
    async fn running_low_asks_for_a_refill_once_and_the_refill_skips_what_is_held() {
        let (q, asked) = windowed(QueueType::Priority);
        for id in 1..=6 {
            push(&q, id, 6, None);
        }
        let l1 = q.pop().await.expect("open");
        assert!(asked.lock().unwrap().is_empty(), "two of three left: not low yet");
        let l2 = q.pop().await.expect("open");
        let l3 = q.pop().await.expect("open");
        let asks = asked.lock().unwrap().clone();
        assert_eq!(asks.len(), 1, "one refill at a time");
        let (resident, want) = &asks[0];
        assert_eq!((resident.clone(), *want), (HashSet::from([1, 2, 3]), 2), "leased and queued ids are held");
        // An urgent arrival enters memory while the refill runs; the refill read it as
        // queued in the journal too, and must not load it twice.
        push(&q, 7, 1, None);
        let back = |id, priority| Entry { header: header(id, priority, None), body: None, crashes: 0 };
        q.refill(vec![back(4, 6), back(5, 6), back(7, 1)], false);
        assert_eq!(q.snapshot_ids(10), [7, 4, 5]);
        assert_eq!(q.spilled(), 1, "6 is still only in the journal");
        for l in [l1, l2, l3] {
            q.finish(l);
        }
    }
}
