//! The indexer: builds the SQLite message warehouse from the commit log, behind the
//! writer, in large transactions.
//!
//! It follows the log on disk ([`super::tail`]): the writer only publishes how far it
//! wrote ([`Progress::publish`]) and never waits for the indexer, so an ACK never depends
//! on the warehouse. Off the ACK path it can batch: it waits a few milliseconds for more
//! records, coalesces a header's insert with the status changes that follow it in the
//! same batch (a hop created and finished within the batch is one row write), and commits
//! once per batch with `synchronous=NORMAL`. The last indexed LSN is stored in the same
//! transaction; after a checkpoint makes the database durable, log segments up to it are
//! retired. On open, records after the stored LSN are replayed.
//!
//! # Invariants
//! - The warehouse trails the log; how far (`Progress::lag`) is for the API, the metrics
//!   and an alert, and is bounded by the disk: records are read back, never held in memory.
//! - Maintenance jobs ([`super::Journal::exec`]) run after every record written before
//!   they were handed in, and before any written after.
//! - It runs at the lowest CPU priority while it keeps up, so on a busy machine it takes
//!   no CPU an ACK waits for; when it trails by more than [`BOOST_AT`] records it runs at
//!   normal priority until it is back within [`UNBOOST_AT`], so a shared CPU can slow it
//!   down but never starve it.

use super::log::{self, Segments};
use super::tail::LogReader;
use super::writer::Op;
use crate::lock::{CondvarExt, LockExt};
use crate::message::{Header, MessageId, Status};
use bytes::Bytes;
use rusqlite::{Connection, params};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Commits per warehouse transaction at most.
const MAX_RECORDS: u64 = 10_000;
/// How long a small batch waits for more records (more coalescing, fewer transactions).
/// Each transaction rewrites the hot index pages once, and a hop that finishes within
/// the gather is written once instead of inserted and then updated, so longer gathers
/// cost less per message (measured: 4 → 16 ms gave 10–25% more throughput, 16 → 64 ms
/// another 10–15% at 16 connections). A reader waiting for its own writes cuts the
/// gather short ([`Progress::wait_for`]), so it never waits this long.
const GATHER: Duration = Duration::from_millis(64);
/// One nap while gathering.
const GATHER_NAP: Duration = Duration::from_millis(1);
/// How often to checkpoint and retire indexed log segments.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);
/// Records of lag at which the indexer leaves the lowest priority.
pub const BOOST_AT: u64 = 20_000;
/// Records of lag at which it goes back to the lowest priority.
pub const UNBOOST_AT: u64 = 2_000;
/// How often the writer notes the time of its written position, for the lag in time.
const SAMPLE_EVERY_US: i64 = 10_000;
/// Time samples kept at most (100 s of lag at one sample per 10 ms; beyond that the lag
/// in time is measured from the oldest sample kept, an underestimate).
const MAX_SAMPLES: usize = 10_000;

/// A maintenance job on the warehouse's write connection (purge, vacuum, field sync).
pub type ExecFn = Box<dyn FnOnce(&mut Connection) + Send>;

/// What the writer hands the indexer besides the written position.
#[derive(Default)]
struct Feed {
    /// Maintenance jobs, each after the LSN written when it was handed in.
    execs: VecDeque<(u64, ExecFn)>,
    /// No more records will come (the writer stopped).
    closed: bool,
    /// `(written LSN, unix µs)` every [`SAMPLE_EVERY_US`] at most, oldest first: when the
    /// records the indexer has not reached yet were written.
    samples: VecDeque<(u64, i64)>,
}

/// How far the log is written and the warehouse has caught up, and the indexer's inbox.
pub struct Progress {
    /// Highest LSN written to the commit log (published after the write).
    pub written: AtomicU64,
    /// Highest LSN in the warehouse.
    pub indexed: AtomicU64,
    /// Highest LSN a reader is waiting for: while it is above `indexed`, the indexer
    /// stops gathering and writes what it has.
    wanted: AtomicU64,
    /// Woken at every indexed batch.
    lock: Mutex<()>,
    cond: Condvar,
    /// The indexer's inbox, and its wake-up while it sleeps.
    feed: Mutex<Feed>,
    wake: Condvar,
    /// The indexer sleeps on `wake`: only then does the writer pay for a notify.
    sleeping: AtomicBool,
    /// Unix µs of the last time sample.
    last_sample_us: AtomicU64,
    /// Whether the indexer runs at normal priority to catch up.
    pub boosted: AtomicBool,
    /// Where the bodies written but not indexed yet are in the log.
    pub recent: super::recent::RecentBodies,
}

impl Progress {
    /// Progress with everything up to `lsn` written and indexed.
    pub fn new(lsn: u64) -> Arc<Progress> {
        Arc::new(Progress {
            written: AtomicU64::new(lsn),
            indexed: AtomicU64::new(lsn),
            wanted: AtomicU64::new(lsn),
            lock: Mutex::new(()),
            cond: Condvar::new(),
            feed: Mutex::new(Feed::default()),
            wake: Condvar::new(),
            sleeping: AtomicBool::new(false),
            last_sample_us: AtomicU64::new(0),
            boosted: AtomicBool::new(false),
            recent: super::recent::RecentBodies::default(),
        })
    }

    fn feed(&self) -> std::sync::MutexGuard<'_, Feed> {
        self.feed.lock_unpoisoned()
    }

    /// The writer wrote everything up to `lsn`. Never waits: the indexer is woken only
    /// when it sleeps, and a time sample is taken at most every 10 ms.
    pub fn publish(&self, lsn: u64) {
        self.written.store(lsn, Ordering::SeqCst);
        let now = crate::message::now_us();
        let last = self.last_sample_us.load(Ordering::Relaxed) as i64;
        let sample = now - last >= SAMPLE_EVERY_US;
        if sample {
            self.last_sample_us.store(now as u64, Ordering::Relaxed);
        }
        if sample || self.sleeping.load(Ordering::SeqCst) {
            let mut feed = self.feed();
            if sample && feed.samples.len() < MAX_SAMPLES {
                feed.samples.push_back((lsn, now));
            }
            drop(feed);
            self.wake.notify_one();
        }
    }

    /// Hands in a maintenance job, to run after everything written so far.
    pub fn push_exec(&self, f: ExecFn) {
        let at = self.written.load(Ordering::SeqCst);
        self.feed().execs.push_back((at, f));
        self.wake.notify_one();
    }

    /// No more records will come: the indexer indexes what is written, runs what it was
    /// handed and ends.
    pub fn close(&self) {
        self.feed().closed = true;
        self.wake.notify_one();
    }

    /// How far the warehouse trails the log: records, and microseconds since the oldest
    /// record not indexed yet was written (0 when caught up).
    pub fn lag(&self) -> (u64, i64) {
        let indexed = self.indexed.load(Ordering::SeqCst);
        let records = self.written.load(Ordering::SeqCst).saturating_sub(indexed);
        if records == 0 {
            return (0, 0);
        }
        let since = self.feed().samples.iter().find(|(lsn, _)| *lsn > indexed).map(|(_, at)| *at);
        (records, since.map_or(0, |at| (crate::message::now_us() - at).max(0)))
    }

    /// Whether a reader waits for something not indexed yet.
    fn awaited(&self) -> bool {
        self.wanted.load(Ordering::SeqCst) > self.indexed.load(Ordering::SeqCst)
    }

    fn advance(&self, lsn: u64) {
        self.indexed.store(lsn, Ordering::SeqCst);
        self.recent.forget_through(lsn);
        {
            let mut feed = self.feed();
            while feed.samples.front().is_some_and(|(l, _)| *l <= lsn) {
                feed.samples.pop_front();
            }
        }
        let _g = self.lock.lock_unpoisoned();
        self.cond.notify_all();
    }

    /// Waits until `lsn` is in the warehouse; `false` on timeout.
    pub fn wait_for(&self, lsn: u64, timeout: Duration) -> bool {
        if self.indexed.load(Ordering::SeqCst) >= lsn {
            return true;
        }
        self.wanted.fetch_max(lsn, Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        let mut g = self.lock.lock_unpoisoned();
        while self.indexed.load(Ordering::SeqCst) < lsn {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self.cond.wait_timeout_unpoisoned(g, deadline - now);
        }
        true
    }

    /// Sleeps until there is something to index or run, or `timeout` passes. `false`
    /// once the writer is closed and everything is indexed and run.
    fn wait_for_work(&self, indexed: u64, timeout: Duration) -> bool {
        let mut feed = self.feed();
        let deadline = Instant::now() + timeout;
        loop {
            if self.written.load(Ordering::SeqCst) > indexed || !feed.execs.is_empty() {
                return true;
            }
            if feed.closed {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            // Set before the last look at `written`, under the feed lock the writer takes
            // to notify: a publish after that look finds it set and wakes us.
            self.sleeping.store(true, Ordering::SeqCst);
            if self.written.load(Ordering::SeqCst) > indexed {
                self.sleeping.store(false, Ordering::SeqCst);
                return true;
            }
            feed = self.wake.wait_timeout_unpoisoned(feed, deadline - now);
            self.sleeping.store(false, Ordering::SeqCst);
        }
    }

    /// The LSN the first waiting maintenance job runs after, if any.
    fn next_exec(&self) -> Option<u64> {
        self.feed().execs.front().map(|(at, _)| *at)
    }

    /// Takes the maintenance jobs due once everything up to `indexed` is in.
    fn due_execs(&self, indexed: u64) -> Vec<ExecFn> {
        let mut feed = self.feed();
        let mut due = Vec::new();
        while feed.execs.front().is_some_and(|(at, _)| *at <= indexed) {
            if let Some((_, f)) = feed.execs.pop_front() {
                due.push(f);
            }
        }
        due
    }

    fn is_closed(&self) -> bool {
        self.feed().closed
    }
}

/// A header as it will be written, with the changes that followed it in the batch.
struct PendingHeader {
    header: Arc<Header>,
    status: Status,
    note: Option<String>,
    reply: Option<Bytes>,
    processed_us: Option<i64>,
    reply_us: Option<i64>,
}

/// A status change for a header written in an earlier batch.
struct Update {
    id: MessageId,
    status: Status,
    note: Option<String>,
    reply: Option<Bytes>,
    at_us: i64,
}

/// Applies records to the warehouse in one transaction and records the last LSN.
pub fn apply(conn: &mut Connection, records: &[(u64, Vec<Op>)]) -> rusqlite::Result<()> {
    let Some(last) = records.last().map(|r| r.0) else { return Ok(()) };
    let mut headers: Vec<PendingHeader> = Vec::new();
    let mut by_id: HashMap<MessageId, usize> = HashMap::new();
    let mut updates: Vec<Update> = Vec::new();
    let mut notes: Vec<(MessageId, String)> = Vec::new();
    let mut suspensions: Vec<(String, String, i64)> = Vec::new();
    let tx = conn.transaction()?;
    {
        // Plain INSERTs: the log replays exactly what is not indexed yet, so there are no
        // conflicts to resolve, and SQLite needs no statement journal for them.
        let mut body_stmt = tx.prepare_cached("INSERT INTO bodies (id, created_us, data) VALUES (?1, ?2, ?3)")?;
        let mut field_stmt = tx.prepare_cached("INSERT INTO fields (body_id, path, value) VALUES (?1, ?2, ?3)")?;
        for (_, ops) in records {
            for op in ops {
                match op {
                    Op::Body { id, data, created_us } => {
                        body_stmt.execute(params![*id as i64, created_us, data.as_ref()])?;
                    }
                    Op::Fields { body_id, fields } => {
                        for (path, value) in fields {
                            field_stmt.execute(params![*body_id as i64, path, value])?;
                        }
                    }
                    Op::Header { header, status, note, reply } => {
                        let done = !status.is_pending();
                        by_id.insert(header.id, headers.len());
                        headers.push(PendingHeader {
                            header: header.clone(),
                            status: *status,
                            note: note.clone(),
                            reply: reply.clone(),
                            processed_us: done.then_some(header.created_us),
                            reply_us: reply.as_ref().map(|_| header.created_us),
                        });
                    }
                    Op::Finish { id, status, note, reply, at_us } => match by_id.get(id) {
                        Some(&i) => {
                            let h = &mut headers[i];
                            h.status = *status;
                            if note.is_some() {
                                h.note = note.clone();
                            }
                            if reply.is_some() {
                                h.reply = reply.clone();
                                h.reply_us = Some(*at_us);
                            }
                            h.processed_us = Some(*at_us);
                        }
                        None => updates.push(Update {
                            id: *id,
                            status: *status,
                            note: note.clone(),
                            reply: reply.clone(),
                            at_us: *at_us,
                        }),
                    },
                    Op::SuspendQueued { target, note, at_us } => {
                        for h in
                            headers.iter_mut().filter(|h| &*h.header.target == target && h.status == Status::Queued)
                        {
                            h.status = Status::Suspended;
                            h.note = Some(note.clone());
                            h.processed_us = Some(*at_us);
                        }
                        suspensions.push((target.clone(), note.clone(), *at_us));
                    }
                    Op::Note { id, note } => match by_id.get(id) {
                        Some(&i) => headers[i].note = Some(note.clone()),
                        None => notes.push((*id, note.clone())),
                    },
                    Op::State { item, key, value } => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO adapter_state (item, key, value) VALUES (?1, ?2, ?3)",
                        )?
                        .execute(params![item, key, value])?;
                    }
                }
            }
        }
        let mut header_stmt = tx.prepare_cached(
            "INSERT INTO headers (id, session_id, correlation_id, causation_id, source, target, priority, status, \
             created_us, processed_us, doc_type, control_id, body_id, attributes, ordering_key, note, reply, reply_us) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )?;
        for p in &headers {
            let h = &p.header;
            let attributes = if h.attributes.is_empty() { None } else { serde_json::to_string(&h.attributes).ok() };
            header_stmt.execute(params![
                h.id as i64,
                h.session_id as i64,
                h.correlation_id as i64,
                h.causation_id as i64,
                h.source.as_ref(),
                h.target.as_ref(),
                h.priority,
                p.status.code(),
                h.created_us,
                p.processed_us,
                h.doc_type,
                h.control_id,
                h.body_id as i64,
                attributes,
                h.ordering_key,
                p.note,
                p.reply.as_deref(),
                p.reply_us,
            ])?;
        }
        let mut update_stmt = tx.prepare_cached(
            "UPDATE headers SET status = ?2, processed_us = ?3, note = COALESCE(?4, note), \
             reply = COALESCE(?5, reply), reply_us = CASE WHEN ?5 IS NULL THEN reply_us ELSE ?3 END WHERE id = ?1",
        )?;
        for u in &updates {
            update_stmt.execute(params![u.id as i64, u.status.code(), u.at_us, u.note, u.reply.as_deref()])?;
        }
        let mut note_stmt = tx.prepare_cached("UPDATE headers SET note = ?2 WHERE id = ?1")?;
        for (id, note) in &notes {
            note_stmt.execute(params![*id as i64, note])?;
        }
        for (target, note, at) in &suspensions {
            tx.prepare_cached(
                "UPDATE headers SET status = 4, note = ?2, processed_us = ?3 WHERE target = ?1 AND status = 1",
            )?
            .execute(params![target, note, at])?;
        }
        tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('indexed_lsn', ?1)")?
            .execute([last as i64])?;
    }
    tx.commit()
}

/// The indexer loop: follows the log from `reader`'s position. Returns once the writer
/// is closed and everything it wrote is indexed.
pub fn run(mut conn: Connection, progress: Arc<Progress>, mut reader: LogReader, segments: Segments) {
    let mut priority = Priority::new();
    let mut last_checkpoint = Instant::now();
    let mut durable = progress.indexed.load(Ordering::SeqCst);
    let mut records: Vec<(u64, Vec<Op>)> = Vec::new();
    while progress.wait_for_work(reader.last(), CHECKPOINT_EVERY) {
        // A small batch waits a little for more: more coalescing, fewer transactions. It
        // naps rather than being woken, so the writer does not pay a wake-up per commit.
        let gather_until = Instant::now() + GATHER;
        while progress.written.load(Ordering::SeqCst) > reader.last()
            && progress.written.load(Ordering::SeqCst).saturating_sub(reader.last()) < MAX_RECORDS
            && Instant::now() < gather_until
            && !progress.awaited()
            && progress.next_exec().is_none()
            && !progress.is_closed()
        {
            std::thread::sleep(GATHER_NAP);
        }
        // Everything written by now, in transactions of at most MAX_RECORDS, stopping at
        // each maintenance job's place in the log.
        loop {
            let written = progress.written.load(Ordering::SeqCst);
            let upto = progress.next_exec().map_or(written, |at| at.min(written));
            if reader.last() < upto {
                if let Err(e) = reader.read(upto, MAX_RECORDS as usize, &mut records) {
                    tracing::debug!(error = %e, "the warehouse cannot follow the commit log; retrying");
                    index(&mut conn, &mut records, &progress);
                    std::thread::sleep(Duration::from_secs(1));
                    break;
                }
                index(&mut conn, &mut records, &progress);
            }
            for f in progress.due_execs(reader.last()) {
                f(&mut conn);
            }
            priority.follow(progress.written.load(Ordering::SeqCst).saturating_sub(reader.last()), &progress);
            if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                last_checkpoint = Instant::now();
                checkpoint(&conn, &progress, &segments, &mut durable);
            }
            if reader.last() >= progress.written.load(Ordering::SeqCst) && progress.next_exec().is_none() {
                break;
            }
        }
        if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
            last_checkpoint = Instant::now();
            checkpoint(&conn, &progress, &segments, &mut durable);
        }
    }
}

/// Runs a PASSIVE checkpoint; when it is complete, everything indexed so far is durable
/// in the database and the log segments holding only such records are retired.
fn checkpoint(conn: &Connection, progress: &Progress, segments: &Segments, durable: &mut u64) {
    let indexed = progress.indexed.load(Ordering::SeqCst);
    if indexed <= *durable {
        return;
    }
    let complete = conn
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })
        .map(|(busy, log, done)| busy == 0 && log == done)
        .unwrap_or(false);
    if complete {
        *durable = indexed;
        log::retire_through(segments, *durable);
    }
}

/// The indexer thread's CPU priority, following its lag (see the module's invariants).
struct Priority {
    boosted: bool,
}

impl Priority {
    fn new() -> Priority {
        set_nice(19);
        Priority { boosted: false }
    }

    fn follow(&mut self, lag: u64, progress: &Progress) {
        let boost = if self.boosted { lag > UNBOOST_AT } else { lag >= BOOST_AT };
        if boost != self.boosted {
            self.boosted = boost;
            progress.boosted.store(boost, Ordering::Relaxed);
            set_nice(if boost { 0 } else { 19 });
            tracing::debug!(lag, boosted = boost, "indexer priority follows its lag");
        }
    }
}

/// Sets the calling thread's nice value (Linux: per thread).
fn set_nice(nice: i32) {
    // SAFETY: a plain syscall on the calling thread.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), nice, "cannot set the indexer's priority");
    }
}

/// Applies the gathered records (retrying until the warehouse takes them: it is rebuilt
/// from the log, so failure only delays it) and advances the progress.
fn index(conn: &mut Connection, records: &mut Vec<(u64, Vec<Op>)>, progress: &Progress) {
    if records.is_empty() {
        return;
    }
    let mut delay = Duration::from_millis(100);
    while let Err(e) = apply(conn, records) {
        tracing::error!(error = %e, "cannot update the message warehouse; retrying");
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    if let Some((lsn, _)) = records.last() {
        progress.advance(*lsn);
    }
    records.clear();
}
