//! A blocking hand-off queue between the journal's threads.
//!
//! Why not a channel: crossbeam's (and std's) receivers spin and `sched_yield` before they
//! park. On a two-core machine that steals the very CPU the sender needs; measured, the
//! ACK path spent more time yielding than syncing. This queue parks at once and only
//! pays for a wake-up when the other side is actually asleep.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

struct Inner<T> {
    items: VecDeque<T>,
    /// Total weight of `items`.
    weight: usize,
    /// No more items will come.
    closed: bool,
    /// The consumer is waiting for items.
    consumer_waiting: bool,
    /// Producers are waiting for room.
    producers_waiting: usize,
}

/// A multi-producer, single-consumer queue with an optional bound.
pub struct Handoff<T> {
    inner: Mutex<Inner<T>>,
    /// Signalled when items arrive.
    items: Condvar,
    /// Signalled when room frees up.
    room: Condvar,
    /// Maximum total weight (0 = unbounded).
    bound: usize,
    /// An item's weight (1 each for a bound on the count).
    weigh: fn(&T) -> usize,
}

impl<T> Handoff<T> {
    /// A queue holding at most `bound` items (0: no bound).
    pub fn new(bound: usize) -> Handoff<T> {
        Handoff::weighed(bound, |_| 1)
    }

    /// A queue holding items of at most `bound` total weight, as `weigh` counts it (a
    /// heavier item than the bound still passes alone).
    pub fn weighed(bound: usize, weigh: fn(&T) -> usize) -> Handoff<T> {
        Handoff {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                weight: 0,
                closed: false,
                consumer_waiting: false,
                producers_waiting: 0,
            }),
            items: Condvar::new(),
            room: Condvar::new(),
            bound,
            weigh,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an item, waiting for room if the queue is full. Returns the item back if closed.
    pub fn push(&self, item: T) -> Result<(), T> {
        let w = (self.weigh)(&item);
        let mut g = self.lock();
        while self.bound > 0 && !g.items.is_empty() && g.weight + w > self.bound && !g.closed {
            g.producers_waiting += 1;
            g = self.room.wait(g).unwrap_or_else(|e| e.into_inner());
            g.producers_waiting -= 1;
        }
        if g.closed {
            return Err(item);
        }
        g.items.push_back(item);
        g.weight += w;
        let wake = g.consumer_waiting;
        drop(g);
        if wake {
            self.items.notify_one();
        }
        Ok(())
    }

    /// Takes everything queued, waiting until there is something (or `deadline` passes,
    /// when given). `None` when the queue is closed and empty.
    pub fn take_all(&self, deadline: Option<Instant>, out: &mut Vec<T>) -> Option<()> {
        let mut g = self.lock();
        while g.items.is_empty() {
            if g.closed {
                return None;
            }
            g.consumer_waiting = true;
            g = match deadline {
                None => self.items.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        g.consumer_waiting = false;
                        return Some(());
                    }
                    self.items.wait_timeout(g, d - now).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0)
                }
            };
            g.consumer_waiting = false;
        }
        self.drain(g, out);
        Some(())
    }

    /// Moves every item into `out` and wakes producers waiting for room.
    fn drain(&self, mut g: std::sync::MutexGuard<'_, Inner<T>>, out: &mut Vec<T>) {
        out.extend(g.items.drain(..));
        g.weight = 0;
        let wake = g.producers_waiting > 0;
        drop(g);
        if wake {
            self.room.notify_all();
        }
    }

    /// Waits until something is queued, without taking it; `false` when the queue is
    /// closed and empty. For a consumer that must hold another lock while it takes.
    pub fn wait_for_items(&self) -> bool {
        let mut g = self.lock();
        while g.items.is_empty() {
            if g.closed {
                return false;
            }
            g.consumer_waiting = true;
            g = self.items.wait(g).unwrap_or_else(|e| e.into_inner());
            g.consumer_waiting = false;
        }
        true
    }

    /// Takes everything queued, without waiting.
    pub fn try_take_all(&self, out: &mut Vec<T>) {
        let g = self.lock();
        if !g.items.is_empty() {
            self.drain(g, out);
        }
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    /// Whether at most half the bound is taken (always, without a bound): a producer
    /// that must not wait can check before it commits itself to a push.
    pub fn has_room(&self) -> bool {
        self.bound == 0 || self.lock().weight <= self.bound / 2
    }

    /// Like [`Handoff::take_all`] with a timeout.
    pub fn take_all_for(&self, timeout: Duration, out: &mut Vec<T>) -> Option<()> {
        self.take_all(Some(Instant::now() + timeout), out)
    }

    /// Closes the queue: producers get their items back, the consumer drains and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.items.notify_all();
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_weighed_queue_holds_producers_at_its_bound_and_lets_an_oversize_item_through_alone() {
        let q: Arc<Handoff<usize>> = Arc::new(Handoff::weighed(10, |w| *w));
        q.push(12).expect("an item heavier than the bound passes when the queue is empty");
        let q2 = q.clone();
        let blocked = std::thread::spawn(move || q2.push(1));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!blocked.is_finished(), "no room while 12 of 10 are queued");
        let mut out = Vec::new();
        q.take_all(None, &mut out);
        assert_eq!(out, vec![12]);
        blocked.join().expect("producer").expect("pushed once room freed");
        q.push(4).unwrap();
        q.push(5).unwrap();
        out.clear();
        q.take_all(None, &mut out);
        assert_eq!(out, vec![1, 4, 5], "10 fit exactly");
    }
}
