//! A bounded queue's capacity: producers reserve a slot before they commit a message to
//! the queue, and push into it only after the commit.
//!
//! # Invariants
//! - Entries waiting (in memory or spilled) plus slots reserved never exceed the
//!   capacity, except through [`Queue::force_reserve`] (recovery and requeues, which
//!   must never fail); 0 is unbounded. Entries in flight do not count.
//! - A reservation holds its slot until it is pushed or dropped; dropping it frees the
//!   slot and wakes producers waiting for room.

use super::{Entry, Queue, State};
use std::sync::Arc;

/// Capacity held for an entry that is being committed.
#[derive(Debug)]
#[must_use = "a reservation holds queue capacity until pushed or released"]
pub struct Reservation {
    /// The queue the slot is in.
    queue: Arc<Queue>,
    /// Whether the slot is still held.
    live: bool,
}

impl Reservation {
    /// Pushes the entry into the reserved slot.
    pub fn push(mut self, entry: Entry) {
        self.live = false;
        self.queue.push_reserved(entry);
    }

    /// The queue this reservation is for.
    pub fn queue(&self) -> &Arc<Queue> {
        &self.queue
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.live {
            let mut s = self.queue.lock();
            s.reserved = s.reserved.saturating_sub(1);
            drop(s);
            self.queue.space.notify_waiters();
        }
    }
}

/// Whether `s` has room for one more reservation.
fn has_room(s: &State) -> bool {
    s.capacity == 0 || s.lineup.len() + s.window.spilled + s.reserved < s.capacity
}

impl Queue {
    /// Reserves a slot if there is room now.
    pub fn try_reserve(self: &Arc<Self>) -> Option<Reservation> {
        let mut s = self.lock();
        if !has_room(&s) {
            return None;
        }
        s.reserved += 1;
        Some(Reservation { queue: self.clone(), live: true })
    }

    /// Reserves a slot, waiting for room (overflow `block`).
    pub async fn reserve(self: &Arc<Self>) -> Reservation {
        loop {
            let notified = self.space.notified();
            if let Some(r) = self.try_reserve() {
                return r;
            }
            notified.await;
        }
    }

    /// Reserves a slot regardless of capacity (recovery and requeues must never fail).
    pub fn force_reserve(self: &Arc<Self>) -> Reservation {
        self.lock().reserved += 1;
        Reservation { queue: self.clone(), live: true }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::header;
    use super::super::{Entry, Queue, QueueType};
    use std::time::Duration;

    fn entry(id: u64) -> Entry {
        Entry { header: header(id, 6, None), body: None, crashes: 0 }
    }

    #[test]
    fn reservations_and_waiting_entries_share_the_capacity() {
        let q = Queue::new("t", QueueType::Fifo, 2);
        q.try_reserve().expect("room").push(entry(1));
        let held = q.try_reserve().expect("room for a second");
        assert!(q.try_reserve().is_none(), "one waiting and one reserved fill it");
        drop(held);
        let _again = q.try_reserve().expect("a dropped reservation frees its slot");
        assert!(q.try_reserve().is_none());
        // Forcing ignores the bound.
        q.force_reserve().push(entry(2));
        assert_eq!(q.depth(), 2);
    }

    #[test]
    fn spilled_entries_count_and_unbounded_queues_never_refuse() {
        let q = Queue::new("t", QueueType::Fifo, 3);
        q.add_spilled(3);
        assert!(q.try_reserve().is_none(), "what waits in the journal counts");
        let open = Queue::new("u", QueueType::Fifo, 0);
        let held: Vec<_> = (0..100).map(|_| open.try_reserve().expect("unbounded")).collect();
        assert_eq!(held.len(), 100);
    }

    #[tokio::test]
    async fn a_blocked_producer_gets_its_slot_when_an_entry_finishes() {
        let q = Queue::new("t", QueueType::Fifo, 1);
        q.try_reserve().expect("room").push(entry(1));
        let waiting = tokio::spawn({
            let q = q.clone();
            async move { q.reserve().await.push(entry(2)) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "full: the producer waits");
        let lease = q.pop().await.expect("open");
        assert!(
            q.try_reserve().is_some_and(|r| {
                drop(r);
                true
            }),
            "an entry in flight does not count"
        );
        q.finish(lease);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken").expect("pushed");
        assert_eq!(q.snapshot_ids(10), [2]);
    }
}
