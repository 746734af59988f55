//! The journal's single writer thread and its group commit.
//!
//! Every change goes through the commit log, held by one writer at a time: the writer
//! thread, an intake thread writing what it gathered ([`super::gather`]), or a committing
//! thread writing an unsynced commit itself. The holder takes everything waiting in the
//! writer thread's queue, appends it as one write (one record per commit) and, when
//! someone waits for durability in fsync mode, syncs once. While a sync runs, new commits
//! pile up and share the next one: the group commit. Then it publishes the written
//! position, which the indexer follows by reading the log back ([`super::tail`]).
//!
//! # Invariants
//! - Whoever holds the log does only the log's own I/O (write, sync, rotate) and runs the
//!   completions: it never waits for another thread, and in particular never for the
//!   warehouse. An ACK depends on the commit log alone.
//! - Completions run in log order (under the log), so what a consumer sends keeps its order.

use super::handoff::Handoff;
use super::indexer::Progress;
use super::log::{self, Log};
use super::recent::RecordPos;
use super::{Durability, JournalError};
use crate::lock::LockExt;
use crate::message::{Header, MessageId, Status};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Record an inbound adapter's durable state for an item (e.g. the last row key an SQL
    /// poller processed), committed with the messages it took in. (New variants go last:
    /// the log encodes variants by position.)
    State {
        /// The item.
        item: String,
        /// The state's name.
        key: String,
        /// Its value.
        value: String,
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
                    Op::State { item, key, value } => item.len() + key.len() + value.len(),
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
    /// Where the written position is published, for the indexer and read barriers; it
    /// also takes the maintenance jobs the indexer runs in order with the records.
    progress: Arc<Progress>,
    /// Whether a batch that someone waits on is synced.
    durability: Durability,
    /// False while writes fail (intake NACKs, consumers pause).
    healthy: Arc<AtomicBool>,
}

impl LogWriter {
    /// A writer of `log` that publishes what it wrote to `progress`.
    pub fn new(log: Log, progress: Arc<Progress>, durability: Durability, healthy: Arc<AtomicBool>) -> LogWriter {
        LogWriter { log, buf: Vec::with_capacity(1 << 20), progress, durability, healthy }
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
                    self.progress.push_exec(f);
                }
            }
        }
    }
}

impl LogWriter {
    /// Writes one commit that needs no sync right here, if that cannot make the caller
    /// wait: the caller holds the writer (not waiting behind someone's sync), nothing is
    /// queued ahead of it (order kept) and it fits the current segment (no rotation, which
    /// syncs). Returns the commit when it must go the usual way. Saves the writer thread's
    /// two wake-ups for an internal hop.
    pub fn try_write_now(&mut self, queue: &Handoff<Job>, pending: Pending) -> Option<Pending> {
        let (ops, sync, _) = &pending;
        let needs_sync = *sync && self.durability == Durability::Fsync;
        if needs_sync || !queue.is_empty() || self.log.room() < ops_bytes(ops) as u64 + INLINE_MARGIN {
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
/// taken it along with its own commits. Returns when the queue is closed and drained,
/// and then tells the indexer no more records will come.
pub fn run(writer: Arc<std::sync::Mutex<LogWriter>>, queue: Arc<Handoff<Job>>, progress: Arc<Progress>) {
    let mut batch: Vec<Pending> = Vec::new();
    while queue.wait_for_items() {
        let mut w = writer.lock_unpoisoned();
        w.take_queued(&queue, &mut batch);
        w.flush(&mut batch);
    }
    progress.close();
}

impl LogWriter {
    /// Appends the batch, syncs if needed, publishes the written position and reports to
    /// each waiter.
    pub fn flush(&mut self, batch: &mut Vec<Pending>) {
        if batch.is_empty() {
            return;
        }
        let LogWriter { log, buf, progress, durability, healthy } = self;
        buf.clear();
        let mut encoded: Vec<Result<u64, JournalError>> = Vec::with_capacity(batch.len());
        let mut first_lsn = None;
        // Each written record's offset in `buf` and the bodies it holds.
        let mut bodies: Vec<(u64, RecordPos, Vec<MessageId>)> = Vec::new();
        for (ops, _, _) in batch.iter() {
            let lsn = log.next_lsn();
            let before = buf.len();
            match log::encode_record(buf, lsn, ops) {
                Ok(()) => {
                    first_lsn.get_or_insert(lsn);
                    encoded.push(Ok(lsn));
                    let ids: Vec<MessageId> = ops
                        .iter()
                        .filter_map(|op| if let Op::Body { id, .. } = op { Some(*id) } else { None })
                        .collect();
                    bodies.push((before as u64, RecordPos { lsn, segment: 0, offset: 0 }, ids));
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
            Some(first) => log.append(buf, first).and_then(|at| {
                let segment = log.first_lsn();
                for (offset, pos, _) in &mut bodies {
                    (pos.segment, pos.offset) = (segment, at + *offset);
                }
                if !want_sync {
                    return Ok(());
                }
                // A failed sync refuses these commits: the next write goes where they were,
                // so they never count as written (and are never indexed or replayed).
                log.sync().inspect_err(|_| log.rewind(at))
            }),
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
        let mut last_written = None;
        let mut dones = Vec::with_capacity(batch.len());
        for ((_, _, done), lsn) in batch.drain(..).zip(encoded) {
            let result = match (&written_ok, lsn) {
                (Ok(()), Ok(lsn)) => {
                    last_written = Some(lsn);
                    Ok(())
                }
                (Err(e), _) => Err(JournalError::Store(format!("cannot write the commit log: {e}"))),
                (_, Err(e)) => Err(e),
            };
            dones.push((done, result));
        }
        // Publish the written position before anyone hears of these commits: a reader that
        // learns of one (a queue refill, an API call) then waits for it to be indexed. The
        // indexer reads the records back from the log; it is woken only if it sleeps.
        if let Some(last) = last_written {
            let noted: Vec<(RecordPos, Vec<MessageId>)> = bodies.into_iter().map(|(_, pos, ids)| (pos, ids)).collect();
            progress.recent.note(&noted);
            progress.publish(last);
        }
        for (done, result) in dones {
            if let Some(done) = done {
                done(result);
            }
        }
    }
}
