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

use crate::message::Header;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
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

/// Cached bodies per queue, at most (bytes); beyond this bodies are read from the journal.
const BODY_CACHE_BYTES: usize = 8 * 1024 * 1024;

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

/// Position in the queue: (priority or 0, sequence or negated sequence for LIFO).
type OrderKey = (u8, i64);

#[derive(Debug)]
struct State {
    kind: QueueType,
    /// Maximum queued + reserved entries; 0 = unbounded.
    capacity: usize,
    /// Entries that may be taken, in order.
    main: BTreeMap<OrderKey, Entry>,
    /// Entries whose ordering key is busy, by key, in order.
    parked: HashMap<String, VecDeque<(OrderKey, Entry)>>,
    /// Number of entries in `parked`.
    parked_len: usize,
    /// Ordering keys with an entry in flight.
    busy_keys: HashSet<String>,
    /// Slots reserved by producers committing messages to this queue.
    reserved: usize,
    /// Entries taken and not yet finished.
    in_flight: usize,
    /// Paused queues hand out nothing.
    paused: bool,
    /// Closed queues hand out nothing and wake every waiter.
    closed: bool,
    /// Bytes of cached bodies.
    cached_bytes: usize,
    /// Most entries the queue holds in memory; 0 = no limit.
    window: usize,
    /// Entries committed to this queue that are only in the journal.
    spilled: usize,
    /// A position at or before every spilled entry (`None` while unknown, as after a
    /// recovery): only an arrival ahead of it may stay in memory.
    spill_floor: Option<OrderKey>,
    /// Ids of leased entries (a refill must not load them again).
    leased: HashSet<u64>,
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

/// Reads spilled entries back from the journal: called with the queue and the ids it
/// holds; must call [`Queue::refill`] when done. Installed by the engine.
pub type Refiller = Arc<dyn Fn(Arc<Queue>, HashSet<u64>, usize) + Send + Sync>;

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
                main: BTreeMap::new(),
                parked: HashMap::new(),
                parked_len: 0,
                busy_keys: HashSet::new(),
                reserved: 0,
                in_flight: 0,
                paused: false,
                closed: false,
                cached_bytes: 0,
                window: 0,
                spilled: 0,
                spill_floor: None,
                leased: HashSet::new(),
                refilling: false,
                spilled_at_refill: 0,
                admitted_while_refilling: HashSet::new(),
                withdrawn: HashSet::new(),
            }),
            ready: Notify::new(),
            space: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock would be a host bug; keep serving anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The item name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Changes ordering and capacity (config change); existing entries are re-sorted.
    pub fn reconfigure(&self, kind: QueueType, capacity: usize) {
        let mut s = self.lock();
        s.capacity = capacity;
        if s.kind != kind && s.window > 0 && s.spilled > 0 {
            // Part of the queue is only in the journal: reload the window in the new order.
            s.kind = kind;
            let n = s.main.len();
            let cached: usize = s.main.values().filter_map(|e| e.body.as_ref().map(|b| b.len())).sum();
            s.main.clear();
            s.cached_bytes = s.cached_bytes.saturating_sub(cached);
            s.spilled += n;
            s.spill_floor = None;
        } else if s.kind != kind {
            s.kind = kind;
            let entries: Vec<Entry> = std::mem::take(&mut s.main).into_values().collect();
            for e in entries {
                let k = order_key(kind, &e.header);
                s.main.insert(k, e);
            }
            for list in s.parked.values_mut() {
                for (k, e) in list.iter_mut() {
                    *k = order_key(kind, &e.header);
                }
            }
        }
        drop(s);
        self.space.notify_waiters();
        self.ready.notify_waiters();
    }

    /// Entries waiting (not in flight), in memory or spilled.
    pub fn depth(&self) -> usize {
        let s = self.lock();
        s.main.len() + s.parked_len + s.spilled
    }

    /// Sets the in-memory window (0: keep everything in memory) and the function that
    /// reads spilled entries back.
    pub fn set_window(&self, window: usize, refiller: Refiller) {
        self.lock().window = window;
        *self.refiller.lock().unwrap_or_else(|e| e.into_inner()) = Some(refiller);
    }

    /// Records `n` entries that are in the journal but not loaded (recovery of a deep queue).
    pub fn add_spilled(&self, n: usize) {
        self.lock().spilled += n;
        self.ready.notify_one();
    }

    /// How many entries recovery should load: the window, else all.
    pub fn load_limit(&self) -> usize {
        let s = self.lock();
        if s.window > 0 { s.window } else { usize::MAX }
    }

    /// The queue's ordering (refills read the journal in it).
    pub fn kind(&self) -> QueueType {
        self.lock().kind
    }

    /// Entries only in the journal.
    pub fn spilled(&self) -> usize {
        self.lock().spilled
    }

    /// Adds entries read back from the journal (oldest first). `exhausted`: the journal
    /// held no more spilled entries when it was read; only the entries spilled before the
    /// refill started are then written off (later ones are counted on).
    pub fn refill(&self, entries: Vec<Entry>, exhausted: bool) {
        let mut s = self.lock();
        let admitted = std::mem::take(&mut s.admitted_while_refilling);
        // Entries that entered memory during the refill were never counted as spilled;
        // withdrawn ones were uncounted when withdrawn.
        let n =
            entries.iter().filter(|e| !admitted.contains(&e.header.id) && !s.withdrawn.contains(&e.header.id)).count();
        let mut resident: HashSet<u64> = s.main.values().map(|e| e.header.id).collect();
        resident.extend(s.leased.iter().copied());
        resident.extend(s.parked.values().flat_map(|l| l.iter().map(|(_, e)| e.header.id)));
        resident.extend(admitted);
        resident.extend(s.withdrawn.iter().copied());
        for e in entries {
            if !resident.insert(e.header.id) {
                continue;
            }
            let key = order_key(s.kind, &e.header);
            insert(&mut s, key, e);
        }
        let before = std::mem::take(&mut s.spilled_at_refill);
        s.spilled = if exhausted { s.spilled.saturating_sub(before.max(n)) } else { s.spilled.saturating_sub(n) };
        s.refilling = false;
        if s.spilled == 0 {
            s.withdrawn.clear();
        }
        drop(s);
        self.ready.notify_waiters();
    }

    /// Starts a refill if the queue runs low and has spilled entries.
    fn maybe_refill(&self, s: &mut State) {
        if s.spilled == 0 || s.refilling || s.main.len() > s.window / 2 {
            return;
        }
        let Some(refiller) = self.refiller.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return };
        let Some(me) = self.me.upgrade() else { return };
        s.refilling = true;
        s.spilled_at_refill = s.spilled;
        let mut resident: HashSet<u64> = s.leased.clone();
        resident.extend(s.main.values().map(|e| e.header.id));
        resident.extend(s.parked.values().flat_map(|l| l.iter().map(|(_, e)| e.header.id)));
        let want = s.window.saturating_sub(s.main.len()).max(1);
        refiller(me, resident, want);
    }

    /// Entries in flight.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// Reserves a slot if there is room now.
    pub fn try_reserve(self: &Arc<Self>) -> Option<Reservation> {
        let mut s = self.lock();
        if s.capacity > 0 && s.main.len() + s.parked_len + s.spilled + s.reserved >= s.capacity {
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

    fn push_reserved(&self, mut entry: Entry) {
        let mut s = self.lock();
        s.reserved = s.reserved.saturating_sub(1);
        // A suspended message resent under its own id is waiting again.
        s.withdrawn.remove(&entry.header.id);
        if s.window > 0 && !self.admit(&mut s, &entry) {
            // Left in the journal; read back in order when the queue drains.
            drop(s);
            self.ready.notify_one();
            return;
        }
        if let Some(b) = &entry.body {
            if s.cached_bytes + b.len() > BODY_CACHE_BYTES {
                entry.body = None;
            } else {
                s.cached_bytes += b.len();
            }
        }
        if s.refilling {
            s.admitted_while_refilling.insert(entry.header.id);
        }
        let key = order_key(s.kind, &entry.header);
        insert(&mut s, key, entry);
        drop(s);
        self.ready.notify_one();
    }

    /// Whether a new entry may stay in memory; makes room by spilling the last entry in
    /// memory when the new one is ahead of it. `false`: the entry is counted as spilled.
    fn admit(&self, s: &mut State, entry: &Entry) -> bool {
        if s.spilled == 0 {
            s.spill_floor = None;
        }
        let key = order_key(s.kind, &entry.header);
        let spill = |s: &mut State, key: OrderKey| {
            s.spilled += 1;
            s.spill_floor = Some(s.spill_floor.map_or(key, |f| f.min(key)));
        };
        // Behind (or possibly behind) something already spilled: it must not overtake it.
        if s.spilled > 0 && s.spill_floor.is_none_or(|floor| key > floor) {
            s.spilled += 1;
            return false;
        }
        if s.main.len() + s.parked_len < s.window {
            return true;
        }
        match s.main.last_key_value().map(|(k, _)| *k) {
            Some(last) if last > key => {
                if let Some(evicted) = s.main.remove(&last) {
                    // Spilled for real now: a running refill may load it back.
                    s.admitted_while_refilling.remove(&evicted.header.id);
                    if let Some(b) = &evicted.body {
                        s.cached_bytes = s.cached_bytes.saturating_sub(b.len());
                    }
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

    /// Takes the next entry, waiting until there is one. `None` when the queue is closed.
    pub async fn pop(&self) -> Option<Lease> {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if s.closed {
                    return None;
                }
                let taken = if s.paused { None } else { take_next(&mut s) };
                // Leased before a refill looks: an entry neither queued nor leased at that
                // instant would look spilled and be read back a second time.
                if let Some(entry) = &taken {
                    s.leased.insert(entry.header.id);
                }
                if !s.paused {
                    self.maybe_refill(&mut s);
                }
                if let Some(entry) = taken {
                    s.in_flight += 1;
                    if let Some(b) = &entry.body {
                        s.cached_bytes = s.cached_bytes.saturating_sub(b.len());
                    }
                    let more = !s.main.is_empty();
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
        s.leased.remove(&lease.entry.header.id);
        release_key(&mut s, &lease.entry);
        drop(s);
        self.space.notify_waiters();
        self.ready.notify_one();
    }

    /// Gives a leased entry back: it returns to its original place (the head for FIFO),
    /// so nothing is lost or reordered.
    pub fn requeue(&self, lease: Lease) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        s.leased.remove(&lease.entry.header.id);
        release_key(&mut s, &lease.entry);
        let key = order_key(s.kind, &lease.entry.header);
        let mut entry = lease.entry;
        entry.body = None;
        insert(&mut s, key, entry);
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
        s.spilled = 0;
        s.spill_floor = None;
        let mut out: Vec<Entry> = std::mem::take(&mut s.main).into_values().collect();
        for (_, list) in s.parked.drain() {
            out.extend(list.into_iter().map(|(_, e)| e));
        }
        s.parked_len = 0;
        s.cached_bytes = 0;
        out.sort_by_key(|e| e.header.id);
        drop(s);
        self.space.notify_waiters();
        out
    }

    /// Removes a waiting entry by header id (operator suspend). `false` when it is not
    /// waiting here (taken, or unknown).
    pub fn remove(&self, id: u64) -> bool {
        let mut s = self.lock();
        let key = s.main.iter().find(|(_, e)| e.header.id == id).map(|(k, _)| *k);
        if let Some(k) = key {
            if let Some(e) = s.main.remove(&k)
                && let Some(b) = &e.body
            {
                s.cached_bytes = s.cached_bytes.saturating_sub(b.len());
            }
            drop(s);
            self.space.notify_waiters();
            return true;
        }
        let mut found = false;
        for list in s.parked.values_mut() {
            if let Some(pos) = list.iter().position(|(_, e)| e.header.id == id) {
                list.remove(pos);
                found = true;
                break;
            }
        }
        if found {
            s.parked_len -= 1;
            s.parked.retain(|_, l| !l.is_empty());
            drop(s);
            self.space.notify_waiters();
        }
        found
    }

    /// Withdraws a waiting entry that is only in the journal (operator suspend of a message
    /// deep in the queue): it is no longer counted, and no refill loads it. `false` when
    /// the queue holds it in memory or in flight, or has nothing spilled.
    pub fn withdraw_spilled(&self, id: u64) -> bool {
        let mut s = self.lock();
        let held = s.leased.contains(&id)
            || s.main.values().any(|e| e.header.id == id)
            || s.parked.values().any(|l| l.iter().any(|(_, e)| e.header.id == id));
        if held || s.spilled == 0 || !s.withdrawn.insert(id) {
            return false;
        }
        s.spilled -= 1;
        drop(s);
        self.space.notify_waiters();
        true
    }

    /// Undoes [`Queue::withdraw_spilled`] (the commit that was to suspend it failed).
    pub fn restore_spilled(&self, id: u64) {
        let mut s = self.lock();
        if s.withdrawn.remove(&id) {
            s.spilled += 1;
        }
        drop(s);
        self.ready.notify_one();
    }

    /// When the longest-waiting entry in memory was queued (µs since the epoch): the
    /// queue's age for `QueueWaitAlert`. Entries kept only in the journal are newer
    /// in a FIFO queue, which keeps its oldest in memory.
    pub fn oldest_waiting_us(&self) -> Option<i64> {
        let s = self.lock();
        let parked = s.parked.values().flat_map(|l| l.iter().map(|(_, e)| e));
        s.main.values().chain(parked).map(|e| e.header.created_us).min()
    }

    /// Ids of waiting entries in the order they would be taken (for tests and the API).
    pub fn snapshot_ids(&self, limit: usize) -> Vec<u64> {
        let s = self.lock();
        s.main.values().take(limit).map(|e| e.header.id).collect()
    }
}

fn order_key(kind: QueueType, h: &Header) -> OrderKey {
    let seq = h.id as i64;
    match kind {
        QueueType::Fifo => (0, seq),
        QueueType::Priority => (h.priority, seq),
        QueueType::Lifo => (0, -seq),
    }
}

/// Inserts keeping per-key order: an entry whose key is busy or already has parked
/// entries waits behind them.
fn insert(s: &mut State, key: OrderKey, entry: Entry) {
    if let Some(k) = entry.header.ordering_key.as_deref()
        && (s.busy_keys.contains(k) || s.parked.get(k).is_some_and(|l| !l.is_empty()))
    {
        let list = s.parked.entry(k.to_string()).or_default();
        // Requeued entries go back to their place in the key's order.
        let pos = list.iter().position(|(pk, _)| *pk > key).unwrap_or(list.len());
        list.insert(pos, (key, entry));
        s.parked_len += 1;
        return;
    }
    s.main.insert(key, entry);
}

/// Takes the first entry whose ordering key is free, parking the others it passes.
fn take_next(s: &mut State) -> Option<Entry> {
    loop {
        let (key, entry) = s.main.pop_first()?;
        match entry.header.ordering_key.clone() {
            None => return Some(entry),
            Some(k) if !s.busy_keys.contains(&k) => {
                s.busy_keys.insert(k);
                return Some(entry);
            }
            Some(k) => {
                let list = s.parked.entry(k).or_default();
                let pos = list.iter().position(|(pk, _)| *pk > key).unwrap_or(list.len());
                list.insert(pos, (key, entry));
                s.parked_len += 1;
            }
        }
    }
}

/// Frees an entry's ordering key and moves the key's next parked entry back into line.
fn release_key(s: &mut State, entry: &Entry) {
    let Some(k) = entry.header.ordering_key.as_deref() else { return };
    s.busy_keys.remove(k);
    let next = match s.parked.get_mut(k) {
        Some(list) => {
            let n = list.pop_front();
            if list.is_empty() {
                s.parked.remove(k);
            }
            n
        }
        None => None,
    };
    if let Some((key, e)) = next {
        s.parked_len -= 1;
        s.main.insert(key, e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(id: u64, priority: u8, key: Option<&str>) -> Arc<Header> {
        Arc::new(Header {
            id,
            session_id: id,
            correlation_id: 0,
            causation_id: 0,
            source: Arc::from("a"),
            target: Arc::from("b"),
            priority,
            created_us: 0,
            doc_type: String::new(),
            control_id: String::new(),
            body_id: id,
            attributes: vec![],
            ordering_key: key.map(str::to_string),
        })
    }

    fn push(q: &Arc<Queue>, id: u64, priority: u8, key: Option<&str>) {
        q.force_reserve().push(Entry { header: header(id, priority, key), body: None, crashes: 0 });
    }

    /// A stand-in for the journal: every queued entry until it is finished, and a
    /// refiller that reads the best non-resident ones back in the queue's order.
    fn journal_refiller(journal: Arc<Mutex<Vec<Entry>>>) -> Refiller {
        Arc::new(move |q: Arc<Queue>, resident: HashSet<u64>, want: usize| {
            let journal = journal.clone();
            std::thread::spawn(move || {
                let kind = q.kind();
                let mut rows: Vec<Entry> =
                    journal.lock().unwrap().iter().filter(|e| !resident.contains(&e.header.id)).cloned().collect();
                rows.sort_by_key(|e| order_key(kind, &e.header));
                let exhausted = rows.len() <= want;
                rows.truncate(want);
                q.refill(rows, exhausted);
            });
        })
    }

    /// Pops until the queue is empty, finishing each entry (and removing it from `journal`).
    async fn drain_in_order(q: &Arc<Queue>, journal: &Arc<Mutex<Vec<Entry>>>, n: usize) -> Vec<u64> {
        let mut got = vec![];
        for _ in 0..n {
            let lease = tokio::time::timeout(std::time::Duration::from_secs(5), q.pop())
                .await
                .expect("an entry within 5 s")
                .expect("queue open");
            let id = lease.entry.header.id;
            journal.lock().unwrap().retain(|e| e.header.id != id);
            q.finish(lease);
            got.push(id);
            assert!(q.lock().main.len() <= 4, "the window bounds memory");
        }
        got
    }

    fn windowed(kind: QueueType, ids: &[(u64, u8)]) -> (Arc<Queue>, Arc<Mutex<Vec<Entry>>>) {
        let q = Queue::new("t", kind, 0);
        let journal = Arc::new(Mutex::new(Vec::new()));
        q.set_window(4, journal_refiller(journal.clone()));
        for &(id, priority) in ids {
            let entry = Entry { header: header(id, priority, None), body: None, crashes: 0 };
            journal.lock().unwrap().push(entry.clone());
            q.force_reserve().push(entry);
        }
        (q, journal)
    }

    #[tokio::test]
    async fn a_deep_lifo_queue_keeps_only_its_window_in_memory_and_still_hands_out_newest_first() {
        let ids: Vec<(u64, u8)> = (1..=30).map(|i| (i, 3)).collect();
        let (q, journal) = windowed(QueueType::Lifo, &ids);
        assert_eq!(q.lock().main.len(), 4);
        assert_eq!(q.depth(), 30);
        let first = drain_in_order(&q, &journal, 10).await;
        assert_eq!(first, (21..=30).rev().collect::<Vec<_>>());
        // Newer arrivals mid-drain still come out first.
        for id in 31..=33 {
            let entry = Entry { header: header(id, 3, None), body: None, crashes: 0 };
            journal.lock().unwrap().push(entry.clone());
            q.force_reserve().push(entry);
        }
        let rest = drain_in_order(&q, &journal, 23).await;
        let mut expected: Vec<u64> = vec![33, 32, 31];
        expected.extend((1..=20).rev());
        assert_eq!(rest, expected);
        assert_eq!(q.depth(), 0);
    }

    #[tokio::test]
    async fn a_deep_priority_queue_keeps_only_its_window_in_memory_and_still_orders_by_priority() {
        // Priorities cycle 6, 3, 1: the best ones arrive late and must overtake.
        let ids: Vec<(u64, u8)> = (1..=30).map(|i| (i, [6, 3, 1][(i % 3) as usize])).collect();
        let (q, journal) = windowed(QueueType::Priority, &ids);
        assert_eq!(q.lock().main.len(), 4);
        let first = drain_in_order(&q, &journal, 5).await;
        // An urgent arrival mid-drain goes ahead of everything that waits at lower priority.
        let entry = Entry { header: header(99, 1, None), body: None, crashes: 0 };
        journal.lock().unwrap().push(entry.clone());
        q.force_reserve().push(entry);
        let rest = drain_in_order(&q, &journal, 26).await;
        let mut expected: Vec<(u8, u64)> = ids.iter().map(|&(id, p)| (p, id)).collect();
        expected.sort();
        let expected: Vec<u64> = expected.into_iter().map(|(_, id)| id).collect();
        assert_eq!(first, expected[..5]);
        let mut later = expected[5..].to_vec();
        // 99 has priority 1: after the priority-1 entries still waiting, before the rest.
        let pos = later.iter().position(|id| ids.iter().any(|&(i, p)| i == *id && p > 1)).unwrap_or(later.len());
        later.insert(pos, 99);
        assert_eq!(rest, later);
    }

    #[tokio::test]
    async fn priority_queue_orders_by_priority_then_arrival() {
        let q = Queue::new("t", QueueType::Priority, 0);
        push(&q, 1, 6, None);
        push(&q, 2, 1, None);
        push(&q, 3, 6, None);
        push(&q, 4, 1, None);
        let mut got = vec![];
        for _ in 0..4 {
            let l = q.pop().await.unwrap();
            got.push(l.entry.header.id);
            q.finish(l);
        }
        assert_eq!(got, vec![2, 4, 1, 3]);
    }

    #[tokio::test]
    async fn lifo_queue_hands_out_newest_first() {
        let q = Queue::new("t", QueueType::Lifo, 0);
        for id in 1..=3 {
            push(&q, id, 6, None);
        }
        let l = q.pop().await.unwrap();
        assert_eq!(l.entry.header.id, 3);
    }

    #[tokio::test]
    async fn requeued_entry_returns_to_the_head() {
        let q = Queue::new("t", QueueType::Fifo, 0);
        for id in 1..=3 {
            push(&q, id, 6, None);
        }
        let l = q.pop().await.unwrap();
        assert_eq!(l.entry.header.id, 1);
        q.requeue(l);
        assert_eq!(q.snapshot_ids(10), vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn same_ordering_key_is_never_in_flight_twice() {
        let q = Queue::new("t", QueueType::Fifo, 0);
        push(&q, 1, 6, Some("A"));
        push(&q, 2, 6, Some("A"));
        push(&q, 3, 6, Some("B"));
        let a1 = q.pop().await.unwrap();
        let b = q.pop().await.unwrap();
        assert_eq!((a1.entry.header.id, b.entry.header.id), (1, 3));
        // A's second entry must wait for the first.
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), q.pop()).await;
        assert!(waited.is_err());
        q.finish(a1);
        let a2 = q.pop().await.unwrap();
        assert_eq!(a2.entry.header.id, 2);
    }

    #[tokio::test]
    async fn a_full_fifo_window_spills_and_a_refill_excludes_every_entry_held() {
        let q = Queue::new("t", QueueType::Fifo, 0);
        let asked: Arc<Mutex<Option<HashSet<u64>>>> = Arc::new(Mutex::new(None));
        let a = asked.clone();
        q.set_window(4, Arc::new(move |_q, resident, _want| *a.lock().unwrap() = Some(resident)));
        for id in 1..=6 {
            push(&q, id, 6, None);
        }
        assert_eq!(q.depth(), 6);
        assert_eq!(q.spilled(), 2, "two entries beyond the window stay in the journal");
        let l1 = q.pop().await.unwrap();
        let l2 = q.pop().await.unwrap();
        let resident = asked.lock().unwrap().clone().expect("running low triggers a refill");
        // Both taken entries (the second taken by the very pop that started the refill)
        // must be excluded, or the refill would read them back as still queued.
        assert!(resident.contains(&l1.entry.header.id) && resident.contains(&l2.entry.header.id), "{resident:?}");
        assert!(resident.contains(&3) && resident.contains(&4));
        // The refill brings the spilled ones back, in order.
        q.refill(
            vec![
                Entry { header: header(5, 6, None), body: None, crashes: 0 },
                Entry { header: header(6, 6, None), body: None, crashes: 0 },
            ],
            true,
        );
        assert_eq!(q.spilled(), 0);
        assert_eq!(q.snapshot_ids(10), vec![3, 4, 5, 6]);
    }

    #[tokio::test]
    async fn a_withdrawn_spilled_entry_is_never_loaded_back_until_it_is_queued_again() {
        let ids: Vec<(u64, u8)> = (1..=12).map(|i| (i, 3)).collect();
        let (q, journal) = windowed(QueueType::Fifo, &ids);
        assert!(!q.withdraw_spilled(2), "held in memory: not a spilled entry");
        assert!(q.withdraw_spilled(9));
        assert!(!q.withdraw_spilled(9), "only once");
        assert_eq!(q.depth(), 11);
        // The stand-in journal still lists 9 as queued, as a refill racing with the
        // operator's commit would read it.
        let got = drain_in_order(&q, &journal, 11).await;
        assert_eq!(got, vec![1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12]);
        // Resent under its own id, it is waiting again and is handed out.
        q.force_reserve().push(Entry { header: header(9, 3, None), body: None, crashes: 0 });
        assert_eq!(drain_in_order(&q, &journal, 1).await, vec![9]);
    }

    #[tokio::test]
    async fn bounded_queue_refuses_beyond_capacity_until_space_frees() {
        let q = Queue::new("t", QueueType::Fifo, 2);
        let r1 = q.try_reserve().unwrap();
        let _r2 = q.try_reserve().unwrap();
        assert!(q.try_reserve().is_none());
        drop(r1);
        assert!(q.try_reserve().is_some());
    }
}
