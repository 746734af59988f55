//! The writer thread's queue: commits handed in by threads that could not write them
//! themselves.
//!
//! Why not a channel: crossbeam's (and std's) receivers spin and `sched_yield` before they
//! park. On a two-core machine that steals the very CPU the sender needs; measured, the
//! ACK path spent more time yielding than syncing. This queue parks at once and only
//! pays for a wake-up when the other side is actually asleep.
//!
//! # Invariants
//! - A push never waits: the queue has no bound. Commits are bounded upstream (queue
//!   slots are reserved before a commit, intakes wait for their ACKs), and a bound here
//!   would put a wait on the commit path.
//! - Items come out in the order they went in.

use crate::lock::{CondvarExt, LockExt};
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

struct Inner<T> {
    items: VecDeque<T>,
    /// No more items will come.
    closed: bool,
    /// The consumer is waiting for items.
    consumer_waiting: bool,
}

/// A multi-producer, single-consumer queue.
pub struct Handoff<T> {
    inner: Mutex<Inner<T>>,
    /// Signalled when items arrive while the consumer waits.
    items: Condvar,
}

impl<T> Handoff<T> {
    /// An empty queue.
    pub fn new() -> Handoff<T> {
        Handoff {
            inner: Mutex::new(Inner { items: VecDeque::new(), closed: false, consumer_waiting: false }),
            items: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        self.inner.lock_unpoisoned()
    }

    /// Adds an item. Returns the item back if the queue is closed.
    pub fn push(&self, item: T) -> Result<(), T> {
        let mut g = self.lock();
        if g.closed {
            return Err(item);
        }
        g.items.push_back(item);
        let wake = g.consumer_waiting;
        drop(g);
        if wake {
            self.items.notify_one();
        }
        Ok(())
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
            g = self.items.wait_unpoisoned(g);
            g.consumer_waiting = false;
        }
        true
    }

    /// Takes everything queued, without waiting.
    pub fn try_take_all(&self, out: &mut Vec<T>) {
        out.extend(self.lock().items.drain(..));
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    /// Closes the queue: producers get their items back, the consumer drains and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.items.notify_all();
    }
}

impl<T> Default for Handoff<T> {
    fn default() -> Self {
        Handoff::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_push_never_waits_and_the_consumer_wakes_for_the_first_item_in_order() {
        let q: Arc<Handoff<usize>> = Arc::new(Handoff::new());
        let q2 = q.clone();
        let consumer = std::thread::spawn(move || {
            assert!(q2.wait_for_items());
            let mut out = Vec::new();
            // Give the producer time to add the rest behind the first.
            std::thread::sleep(Duration::from_millis(20));
            q2.try_take_all(&mut out);
            out
        });
        for i in 0..10_000 {
            q.push(i).expect("open");
        }
        let out = consumer.join().expect("consumer");
        assert!(!out.is_empty());
        assert!(out.windows(2).all(|w| w[0] + 1 == w[1]), "in order");
        q.close();
        assert!(q.push(1).is_err(), "closed");
        let mut rest = Vec::new();
        q.try_take_all(&mut rest);
        assert!(q.is_empty());
        assert!(!q.wait_for_items(), "closed and empty");
    }
}
