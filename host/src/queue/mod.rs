//! Item queues: the in-memory order of what waits for each item, backed by the journal.
//!
//! # Invariants
//! - A queue belongs to the engine, not to an item instance: restarting, hot-swapping or
//!   moving an item to worker processes never touches its queue.
//! - An entry is pushed only after the commit that made it `Queued` is durable, and
//!   leaves the queue for good only when the commit that finishes it is durable.
//! - Entries hold headers and at most a bounded amount of cached bodies; bodies are read
//!   back from the journal. A queue keeps at most `window` entries in memory, whatever
//!   its type: beyond that, entries stay only in the journal ("spilled") and are read
//!   back in the queue's order as it drains, so its memory stays bounded however deep it
//!   gets. Every entry in memory is ahead of every spilled one: a FIFO arrival behind a
//!   full window spills; a LIFO or higher-priority arrival takes the place of the last
//!   entry in memory, which spills instead.
//! - With an ordering key, two entries with the same key are never in flight together
//!   and leave in arrival order; different keys flow in parallel.
//!
//! The parts, each with its own invariants: `order` (what is handed out next, ordering
//! keys), `capacity` (reservations against a bounded queue), `spill` (the in-memory
//! window, refills from the journal, the body cache). This module holds the queue
//! itself: pushing, taking, finishing and giving back entries, pausing and closing.

mod capacity;
mod order;
mod spill;

pub use capacity::Reservation;
pub use spill::Refiller;

use crate::lock::LockExt;
use crate::message::Header;
use bytes::Bytes;
use order::{Lineup, order_key};
use spill::{BodyCache, Window};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Queue ordering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// First in, first out.
    Fifo,
    /// By IRIS priority (1 first), FIFO within a priority.
    Priority,
    /// Last in, first out.
    Lifo,
}

impl QueueType {
    /// Parses `fifo`, `priority`, `lifo`.
    pub fn parse(s: &str) -> Option<QueueType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fifo" | "" => Some(QueueType::Fifo),
            "priority" => Some(QueueType::Priority),
            "lifo" => Some(QueueType::Lifo),
            _ => None,
        }
    }
}

/// What happens when a bounded queue is full.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Overflow {
    /// The sender waits (a service stops reading and holds the ACK).
    Block,
    /// The message is recorded Discarded with the reason; a waiting sender gets a NACK.
    Drop,
    /// The message goes to another item instead.
    Redirect(String),
}

/// One queued message.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The header (id, priority, ordering key, ...).
    pub header: Arc<Header>,
    /// The body when cached; `None` means read it from the journal.
    pub body: Option<Bytes>,
    /// How many times processing this entry crashed a worker (quarantine counter).
    pub crashes: u32,
}

/// Everything mutable in a queue, under one lock.
#[derive(Debug)]
struct State {
    /// Queue ordering.
    kind: QueueType,
    /// Maximum queued + reserved entries; 0 = unbounded.
    capacity: usize,
    /// Slots reserved by producers committing messages to this queue.
    reserved: usize,
    /// The entries in memory, in order.
    lineup: Lineup,
    /// Entries taken and not yet finished.
    in_flight: usize,
    /// Paused queues hand out nothing.
    paused: bool,
    /// Closed queues hand out nothing and wake every waiter.
    closed: bool,
    /// Bodies cached in the entries.
    cache: BodyCache,
    /// The in-memory window and what is spilled beyond it.
    window: Window,
}

/// A queue.
pub struct Queue {
    /// The owning item's name, for logs.
    name: String,
    /// Everything mutable.
    state: Mutex<State>,
    /// Woken when an entry may have become available.
    ready: Notify,
    /// Woken when capacity may have been freed.
    space: Notify,
    /// Reads spilled entries back.
    refiller: Mutex<Option<Refiller>>,
    /// A handle to itself, for the refiller.
    me: std::sync::Weak<Queue>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("name", &self.name).finish_non_exhaustive()
    }
}

/// An entry taken from the queue. Finish it with [`Queue::finish`] or give it back with
/// [`Queue::requeue`].
#[derive(Debug)]
pub struct Lease {
    /// The entry.
    pub entry: Entry,
}

impl Queue {
    /// A new empty queue.
    pub fn new(name: &str, kind: QueueType, capacity: usize) -> Arc<Queue> {
        Arc::new_cyclic(|me| Queue {
            me: me.clone(),
            refiller: Mutex::new(None),
            name: name.to_string(),
            state: Mutex::new(State {
                kind,
                capacity,
                reserved: 0,
                lineup: Lineup::default(),
                in_flight: 0,
                paused: false,
                closed: false,
                cache: BodyCache::default(),
                window: Window::default(),
            }),
            ready: Notify::new(),
            space: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock would be a host bug; keep serving anyway.
        self.state.lock_unpoisoned()
    }

    /// The item name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Changes ordering and capacity (config change); existing entries are re-sorted.
    pub fn reconfigure(&self, kind: QueueType, capacity: usize) {
        let mut s = self.lock();
        s.capacity = capacity;
        if s.kind != kind && s.window.limit > 0 && s.window.spilled > 0 {
            // Part of the queue is only in the journal: reload the window in the new order.
            s.kind = kind;
            spill::spill_ready(&mut s);
        } else if s.kind != kind {
            s.kind = kind;
            s.lineup.rekey(kind);
        }
        drop(s);
        self.space.notify_waiters();
        self.ready.notify_waiters();
    }

    /// Entries waiting (not in flight), in memory or spilled.
    pub fn depth(&self) -> usize {
        let s = self.lock();
        s.lineup.len() + s.window.spilled
    }

    /// The queue's ordering (refills read the journal in it).
    pub fn kind(&self) -> QueueType {
        self.lock().kind
    }

    /// Entries in flight.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Puts a committed entry into the slot its reservation held.
    fn push_reserved(&self, mut entry: Entry) {
        let mut s = self.lock();
        s.reserved = s.reserved.saturating_sub(1);
        s.window.requeued(entry.header.id);
        if s.window.limit > 0 && !spill::admit(&mut s, &entry) {
            // Left in the journal; read back in order when the queue drains.
            drop(s);
            self.ready.notify_one();
            return;
        }
        s.cache.keep(&mut entry.body);
        s.window.admitted(entry.header.id);
        let key = order_key(s.kind, &entry.header);
        s.lineup.insert(key, entry);
        drop(s);
        self.ready.notify_one();
    }

    /// Takes the next entry, waiting until there is one. `None` when the queue is closed.
    pub async fn pop(&self) -> Option<Lease> {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if s.closed {
                    return None;
                }
                let taken = if s.paused { None } else { s.lineup.take_next() };
                // Leased before a refill looks: an entry neither queued nor leased at that
                // instant would look spilled and be read back a second time.
                if let Some(entry) = &taken {
                    s.window.leased.insert(entry.header.id);
                }
                if !s.paused {
                    self.maybe_refill(&mut s);
                }
                if let Some(entry) = taken {
                    s.in_flight += 1;
                    s.cache.forget(&entry.body);
                    let more = s.lineup.ready_len() > 0;
                    drop(s);
                    if more {
                        // Let another waiting worker look too.
                        self.ready.notify_one();
                    }
                    return Some(Lease { entry });
                }
            }
            notified.await;
        }
    }

    /// Finishes a leased entry for good (its final state is committed).
    pub fn finish(&self, lease: Lease) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        s.window.leased.remove(&lease.entry.header.id);
        s.lineup.release(&lease.entry);
        drop(s);
        self.space.notify_waiters();
        self.ready.notify_one();
    }

    /// Gives a leased entry back: it returns to its original place (the head for FIFO),
    /// so nothing is lost or reordered.
    pub fn requeue(&self, lease: Lease) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        s.window.leased.remove(&lease.entry.header.id);
        let key = order_key(s.kind, &lease.entry.header);
        let mut entry = lease.entry;
        entry.body = None;
        s.lineup.put_back(key, entry);
        drop(s);
        self.ready.notify_one();
    }

    /// Stops handing out entries (in-flight work continues).
    pub fn pause(&self) {
        self.lock().paused = true;
    }

    /// Resumes handing out entries.
    pub fn resume(&self) {
        self.lock().paused = false;
        self.ready.notify_waiters();
    }

    /// Whether the queue is paused.
    pub fn is_paused(&self) -> bool {
        self.lock().paused
    }

    /// Wakes every waiting `pop` with `None` until [`Queue::reopen`].
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_waiters();
        self.space.notify_waiters();
    }

    /// Lets `pop` hand out entries again after [`Queue::close`].
    pub fn reopen(&self) {
        self.lock().closed = false;
        self.ready.notify_waiters();
    }

    /// Removes and returns every waiting entry held in memory (for items removed from the
    /// production); spilled entries are forgotten (the caller deals with them in the journal).
    pub fn drain(&self) -> Vec<Entry> {
        let mut s = self.lock();
        s.window.forget_spilled();
        let mut out = s.lineup.take_all();
        s.cache.clear();
        out.sort_by_key(|e| e.header.id);
        drop(s);
        self.space.notify_waiters();
        out
    }

    /// Removes a waiting entry by header id (operator suspend). `false` when it is not
    /// waiting here (taken, or unknown).
    pub fn remove(&self, id: u64) -> bool {
        let mut s = self.lock();
        let Some(entry) = s.lineup.remove(id) else { return false };
        // Counted when it entered memory, parked behind its key or not.
        s.cache.forget(&entry.body);
        drop(s);
        self.space.notify_waiters();
        true
    }

    /// When the longest-waiting entry in memory was queued (µs since the epoch): the
    /// queue's age for `QueueWaitAlert`. Entries kept only in the journal are newer
    /// in a FIFO queue, which keeps its oldest in memory.
    pub fn oldest_waiting_us(&self) -> Option<i64> {
        self.lock().lineup.entries().map(|e| e.header.created_us).min()
    }

    /// Ids of waiting entries in the order they would be taken (for tests and the API).
    pub fn snapshot_ids(&self, limit: usize) -> Vec<u64> {
        self.lock().lineup.ready_ids(limit)
    }
}

#[cfg(test)]
mod tests;
