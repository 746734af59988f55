//! The journal's single writer thread and its group commit.
//!
//! Every change goes through one thread that owns the commit log. It takes everything
//! waiting in its channel, appends it as one write (one record per commit) and, when
//! someone waits for durability in fsync mode, syncs once. While a sync runs, new commits
//! pile up and share the next one: the group commit. Then it hands the records to the
//! indexer, which builds the SQLite warehouse behind it.

use super::handoff::Handoff;
use super::log::{self, Log};
use super::{Durability, JournalError};
use crate::message::{Header, MessageId, Status};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One change to the journal.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Op {
    /// Store a body.
    Body {
        /// Body id.
        id: MessageId,
        /// Bytes.
        data: Bytes,
        /// Creation time.
        created_us: i64,
    },
    /// Store a new header with its initial status.
    Header {
        /// The header.
        header: Arc<Header>,
        /// Initial status (usually Queued).
        status: Status,
        /// Why, when not Queued (e.g. overflow drop).
        note: Option<String>,
        /// Reply already known when the header is written (e.g. the ACK of an intake).
        reply: Option<Bytes>,
    },
    /// Add a note to a header without changing its status (e.g. a caller's timeout).
    Note {
        /// Header id.
        id: MessageId,
        /// The note (replaces any earlier one).
        note: String,
    },
    /// Change a header's status, optionally recording a note and the reply received or sent.
    Finish {
        /// Header id.
        id: MessageId,
        /// New status.
        status: Status,
        /// Note to record (reason), if any.
        note: Option<String>,
        /// Reply body to store on the header (ACK, response), if any.
        reply: Option<Bytes>,
        /// When.
        at_us: i64,
    },
    /// Mark every Queued message addressed to `target` Suspended (an item removed from
    /// the production; its queue may be deeper than what was in memory).
    SuspendQueued {
        /// The item.
        target: String,
        /// Why.
        note: String,
        /// When.
        at_us: i64,
    },
    /// Index HL7 field values of a body for search.
    Fields {
        /// Body id.
        body_id: MessageId,
        /// `(path, value)` pairs.
        fields: Vec<(String, String)>,
    },
}

/// What to do when a commit is durable (or failed). Runs on the writer thread: keep it short.
pub type Done = Box<dyn FnOnce(Result<(), JournalError>) + Send>;

/// A unit of work for the writer.
pub enum Job {
    /// Append these ops atomically.
    Commit {
        /// The changes.
        ops: Vec<Op>,
        /// Whether the caller needs the commit synced to disk before `done` (fsync mode).
        sync: bool,
        /// Completion.
        done: Option<Done>,
    },
    /// Run maintenance (purge, vacuum) on the warehouse, after everything before it.
    Exec(Box<dyn FnOnce(&mut rusqlite::Connection) + Send>),
}

/// What the writer hands the indexer.
pub enum IndexJob {
    /// Committed records, in LSN order.
    Records(Vec<(u64, Vec<Op>)>),
    /// Maintenance to run in order with the records.
    Exec(Box<dyn FnOnce(&mut rusqlite::Connection) + Send>),
}

impl IndexJob {
    /// Roughly how much memory the job holds (bodies and replies dominate).
    pub fn approx_bytes(&self) -> usize {
        match self {
            IndexJob::Exec(_) => OP_BYTES,
            IndexJob::Records(records) => records.iter().map(|(_, ops)| ops_bytes(ops)).sum(),
        }
    }
}

/// What an op costs beyond its variable parts (ids, times, header fields), roughly.
const OP_BYTES: usize = 256;

/// Roughly how many bytes `ops` hold, in memory or encoded (bodies and replies dominate).
fn ops_bytes(ops: &[Op]) -> usize {
    ops.iter()
        .map(|op| {
            OP_BYTES
                + match op {
                    Op::Body { data, .. } => data.len(),
                    Op::Header { reply, note, .. } | Op::Finish { reply, note, .. } => {
                        reply.as_ref().map_or(0, |r| r.len()) + note.as_ref().map_or(0, |n| n.len())
                    }
                    Op::Fields { fields, .. } => fields.iter().map(|(p, v)| p.len() + v.len()).sum(),
                    Op::Note { note, .. } | Op::SuspendQueued { note, .. } => note.len(),
                }
        })
        .sum()
}

/// Commits per log write at most.
const MAX_COMMITS_PER_BATCH: usize = 2048;

/// One commit waiting to be written: its ops, whether its waiter needs a sync, and who
/// to tell.
pub type Pending = (Vec<Op>, bool, Option<Done>);

/// The commit log and what a write of it updates. Shared under a mutex by the writer
/// thread and the intake threads that write their own gathered commits
/// ([`super::gather`]): whoever holds it appends one batch, syncs if asked, and reports.
pub struct LogWriter {
    /// The commit log.
    pub log: Log,
    /// Encoding buffer, reused across batches.
    buf: Vec<u8>,
    /// Where written records go next.
    index: Arc<Handoff<IndexJob>>,
    /// Whether a batch that someone waits on is synced.
    durability: Durability,
    /// False while writes fail (intake NACKs, consumers pause).
    healthy: Arc<AtomicBool>,
    /// Highest LSN written, for read barriers.
    written: Arc<AtomicU64>,
}

impl LogWriter {
    /// A writer of `log` that hands its records to `index`.
    pub fn new(
        log: Log,
        index: Arc<Handoff<IndexJob>>,
        durability: Durability,
        healthy: Arc<AtomicBool>,
        written: Arc<AtomicU64>,
    ) -> LogWriter {
        LogWriter { log, buf: Vec::with_capacity(1 << 20), index, durability, healthy, written }
    }

    /// Moves everything waiting in the writer thread's queue into `batch`, in order:
    /// maintenance first writes what came before it. Whoever writes takes the queue while
    /// holding this writer, so commits are written in the order they were handed in.
    pub fn take_queued(&mut self, queue: &Handoff<Job>, batch: &mut Vec<Pending>) {
        let mut jobs = Vec::new();
        queue.try_take_all(&mut jobs);
        for job in jobs {
            match job {
                Job::Commit { ops, sync, done } => {
                    batch.push((ops, sync, done));
                    if batch.len() >= MAX_COMMITS_PER_BATCH {
                        self.flush(batch);
                    }
                }
                Job::Exec(f) => {
                    self.flush(batch);
                    let _ = self.index.push(IndexJob::Exec(f));
                }
            }
        }
    }
}

impl LogWriter {
    /// Writes one commit that needs no sync right here, if that cannot make the caller
    /// wait: the caller holds the writer (not waiting behind someone's sync), nothing is
    /// queued ahead of it (order kept), it fits the current segment (no rotation, which
    /// syncs) and the indexer has room (no backpressure wait). Returns the commit when it
    /// must go the usual way. Saves the writer thread's two wake-ups for an internal hop.
    pub fn try_write_now(&mut self, queue: &Handoff<Job>, pending: Pending) -> Option<Pending> {
        let (ops, sync, _) = &pending;
        let needs_sync = *sync && self.durability == Durability::Fsync;
        if needs_sync
            || !queue.is_empty()
            || self.log.room() < ops_bytes(ops) as u64 + INLINE_MARGIN
            || !self.index.has_room()
        {
            return Some(pending);
        }
        self.flush(&mut vec![pending]);
        None
    }
}

/// Room kept free in a segment by inline writes, for the encoding's overhead over
/// [`ops_bytes`]'s estimate.
const INLINE_MARGIN: u64 = 64 * 1024;

/// The writer loop: writes whatever is queued whenever an intake thread has not already
/// taken it along with its own commits. Returns when the queue is closed and drained.
pub fn run(writer: Arc<std::sync::Mutex<LogWriter>>, queue: Arc<Handoff<Job>>, index: Arc<Handoff<IndexJob>>) {
    let mut batch: Vec<Pending> = Vec::new();
    while queue.wait_for_items() {
        let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
        w.take_queued(&queue, &mut batch);
        w.flush(&mut batch);
    }
    index.close();
}

impl LogWriter {
    /// Appends the batch, syncs if needed, reports to each waiter and passes the records
    /// on to the indexer.
    pub fn flush(&mut self, batch: &mut Vec<Pending>) {
        if batch.is_empty() {
            return;
        }
        let LogWriter { log, buf, index, durability, healthy, written } = self;
        buf.clear();
        let mut encoded: Vec<Result<u64, JournalError>> = Vec::with_capacity(batch.len());
        let mut first_lsn = None;
        for (ops, _, _) in batch.iter() {
            let lsn = log.next_lsn();
            let before = buf.len();
            match log::encode_record(buf, lsn, ops) {
                Ok(()) => {
                    first_lsn.get_or_insert(lsn);
                    encoded.push(Ok(lsn));
                }
                Err(e) => {
                    buf.truncate(before);
                    encoded.push(Err(JournalError::Store(e)));
                }
            }
        }
        // Only commits someone waits on pay for a sync; everything written before a sync is
        // covered by it, so internal hops are durable no later than the next ACK.
        let want_sync = *durability == Durability::Fsync && batch.iter().any(|(_, sync, _)| *sync);
        let written_ok = match first_lsn {
            None => Ok(()),
            Some(first) => log.append(buf, first).and_then(|_| if want_sync { log.sync() } else { Ok(()) }),
        };
        match &written_ok {
            Ok(()) => {
                if !healthy.swap(true, Ordering::SeqCst) {
                    tracing::info!("journal writable again; intake resumes");
                }
            }
            Err(e) => {
                if healthy.swap(false, Ordering::SeqCst) {
                    tracing::error!(error = %e, "journal commit failed: messages are being refused (NACK) until the data directory is writable");
                }
            }
        }
        let mut records = Vec::with_capacity(batch.len());
        let mut dones = Vec::with_capacity(batch.len());
        for ((ops, _, done), lsn) in batch.drain(..).zip(encoded) {
            let result = match (&written_ok, lsn) {
                (Ok(()), Ok(lsn)) => {
                    records.push((lsn, ops));
                    Ok(())
                }
                (Err(e), _) => Err(JournalError::Store(format!("cannot write the commit log: {e}"))),
                (_, Err(e)) => Err(e),
            };
            dones.push((done, result));
        }
        // Publish the written position before anyone hears of these commits: a reader that
        // learns of one (a queue refill, an API call) then waits for it to be indexed.
        if let Some((last, _)) = records.last() {
            written.store(*last, Ordering::SeqCst);
        }
        for (done, result) in dones {
            if let Some(done) = done {
                done(result);
            }
        }
        if !records.is_empty() {
            // Bounded: a warehouse that falls behind slows commits down instead of growing memory.
            let _ = index.push(IndexJob::Records(records));
        }
    }
}
