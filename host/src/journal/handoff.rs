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
    /// Maximum items (0 = unbounded).
    bound: usize,
}

impl<T> Handoff<T> {
    /// A queue holding at most `bound` items (0: no bound).
    pub fn new(bound: usize) -> Handoff<T> {
        Handoff {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                closed: false,
                consumer_waiting: false,
                producers_waiting: 0,
            }),
            items: Condvar::new(),
            room: Condvar::new(),
            bound,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an item, waiting for room if the queue is full. Returns the item back if closed.
    pub fn push(&self, item: T) -> Result<(), T> {
        let mut g = self.lock();
        while self.bound > 0 && g.items.len() >= self.bound && !g.closed {
            g.producers_waiting += 1;
            g = self.room.wait(g).unwrap_or_else(|e| e.into_inner());
            g.producers_waiting -= 1;
        }
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
        out.extend(g.items.drain(..));
        let wake = g.producers_waiting > 0;
        drop(g);
        if wake {
            self.room.notify_all();
        }
        Some(())
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
