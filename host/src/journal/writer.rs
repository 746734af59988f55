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
            // A batch none of which encoded wrote nothing: it tells nothing of the disk.
            Ok(()) if first_lsn.is_none() => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::sync::mpsc;
    use std::time::Duration;

    fn temp_dir(name: &str) -> PathBuf {
        crate::journal::test_dirs::temp_dir("writer", name)
    }

    use crate::journal::test_dirs::remove;

    fn body(id: MessageId, size: usize) -> Vec<Op> {
        vec![Op::Body { id, data: Bytes::from(vec![b'b'; size]), created_us: 0 }]
    }

    fn body_ids(ops: &[Op]) -> Vec<MessageId> {
        ops.iter().filter_map(|op| if let Op::Body { id, .. } = op { Some(*id) } else { None }).collect()
    }

    /// A writer of a new log in `dir`, with its progress, health flag and writer queue.
    struct Rig {
        w: LogWriter,
        progress: Arc<Progress>,
        healthy: Arc<AtomicBool>,
        queue: Handoff<Job>,
    }

    fn rig(dir: &Path, durability: Durability) -> Rig {
        let log = Log::open(dir, 0, |_, _| panic!("a new log")).expect("open");
        let progress = Progress::new(0);
        let healthy = Arc::new(AtomicBool::new(true));
        Rig {
            w: LogWriter::new(log, progress.clone(), durability, healthy.clone()),
            progress,
            healthy,
            queue: Handoff::new(),
        }
    }

    /// What a completion heard: its tag, its result, and the written position when it ran.
    type Heard = (u64, Result<(), String>, u64);

    fn tell(tag: u64, progress: &Arc<Progress>, tx: &mpsc::Sender<Heard>) -> Option<Done> {
        let (progress, tx) = (progress.clone(), tx.clone());
        Some(Box::new(move |r: Result<(), JournalError>| {
            let _ = tx.send((tag, r.map_err(|e| e.to_string()), progress.written.load(Ordering::SeqCst)));
        }))
    }

    fn heard(rx: &mpsc::Receiver<Heard>) -> Vec<Heard> {
        rx.try_iter().collect()
    }

    fn written(progress: &Progress) -> u64 {
        progress.written.load(Ordering::SeqCst)
    }

    fn commit(ops: Vec<Op>, sync: bool, done: Option<Done>) -> Job {
        Job::Commit { ops, sync, done }
    }

    /// `(lsn, body ids)` of every record of the log in `dir`, read back from the start.
    fn replay(dir: &Path) -> Vec<(u64, Vec<MessageId>)> {
        let mut seen = Vec::new();
        let _log = Log::open(dir, 0, |lsn, ops| seen.push((lsn, body_ids(&ops)))).expect("reopen");
        seen
    }

    /// Writes one body record sized to leave exactly `room` bytes in the current segment.
    fn fill_leaving(w: &mut LogWriter, room: u64) {
        let target = (w.log.room() - room) as usize;
        let mut size = target - 64;
        let ops = loop {
            let ops = body(900, size);
            let mut record = Vec::new();
            log::encode_record(&mut record, 1, &ops).expect("encode");
            if record.len() == target {
                break ops;
            }
            size = size + target - record.len();
        };
        w.flush(&mut vec![(ops, false, None)]);
        assert_eq!(w.log.room(), room);
    }

    #[test]
    fn a_batch_is_written_as_consecutive_records_and_each_waiter_hears_once_in_log_order_after_the_position_is_published()
     {
        let dir = temp_dir("batch");
        let mut r = rig(&dir, Durability::Fsync);
        let (tx, rx) = mpsc::channel();
        let mut batch: Vec<Pending> =
            (0..5).map(|i| (body(10 + i, 100 * (i as usize + 1)), i % 2 == 1, tell(i, &r.progress, &tx))).collect();
        batch.push((body(15, 10), false, None));
        let mut expected_end = 0;
        for (i, (ops, _, _)) in batch.iter().enumerate() {
            let mut record = Vec::new();
            log::encode_record(&mut record, i as u64 + 1, ops).expect("encode");
            expected_end += record.len() as u64;
        }
        r.w.flush(&mut batch);
        assert!(batch.is_empty(), "the batch is consumed");
        assert_eq!(heard(&rx), (0..5).map(|i| (i, Ok(()), 6)).collect::<Vec<_>>(), "the last LSN is published first");
        assert_eq!(r.w.log.end().2, expected_end, "one record per commit, back to back");
        let segments = r.w.log.segments();
        let mut offset = 0;
        for id in 10..16 {
            let pos = r.progress.recent.find(id).expect("noted for reads before indexing");
            assert_eq!((pos.lsn, pos.segment, pos.offset), (id - 9, 1, offset));
            let ops = log::read_record_at(&segments, pos.segment, pos.offset, pos.lsn).expect("record");
            assert_eq!(body_ids(&ops), vec![id]);
            let mut record = Vec::new();
            log::encode_record(&mut record, pos.lsn, &ops).expect("encode");
            offset += record.len() as u64;
        }
        drop(r);
        assert_eq!(replay(&dir), (1..=6).map(|lsn| (lsn, vec![lsn + 9])).collect::<Vec<_>>());
        remove(&dir);
    }

    #[test]
    fn a_commit_nobody_syncs_is_written_at_once_but_one_awaiting_a_sync_in_fsync_mode_is_handed_back_untouched() {
        let dir = temp_dir("inline-fsync");
        let mut r = rig(&dir, Durability::Fsync);
        let (tx, rx) = mpsc::channel();
        assert!(r.w.try_write_now(&r.queue, (body(1, 100), false, tell(1, &r.progress, &tx))).is_none());
        assert_eq!(heard(&rx), vec![(1, Ok(()), 1)], "written and reported before it returns");
        let end = r.w.log.end().2;
        let back = r.w.try_write_now(&r.queue, (body(2, 100), true, tell(2, &r.progress, &tx)));
        let (ops, sync, done) = back.expect("a sync is shared by the writer, never paid inline");
        assert_eq!((body_ids(&ops), sync, done.is_some()), (vec![2], true, true));
        assert!(heard(&rx).is_empty(), "not reported");
        assert_eq!((written(&r.progress), r.w.log.end().2, r.w.log.last_lsn()), (1, end, 1), "nor written");
        remove(&dir);
    }

    #[test]
    fn in_process_mode_a_commit_asking_for_a_sync_is_written_at_once_too() {
        let dir = temp_dir("inline-process");
        let mut r = rig(&dir, Durability::Process);
        let (tx, rx) = mpsc::channel();
        assert!(r.w.try_write_now(&r.queue, (body(1, 100), true, tell(1, &r.progress, &tx))).is_none());
        assert_eq!(heard(&rx), vec![(1, Ok(()), 1)]);
        drop(r);
        assert_eq!(replay(&dir), vec![(1, vec![1])]);
        remove(&dir);
    }

    #[test]
    fn a_commit_is_not_written_at_once_ahead_of_one_queued_before_it_nor_into_a_rotation() {
        let dir = temp_dir("inline-refused");
        let mut r = rig(&dir, Durability::Process);
        let (tx, rx) = mpsc::channel();
        assert!(r.queue.push(commit(body(1, 10), false, tell(1, &r.progress, &tx))).is_ok());
        let back = r.w.try_write_now(&r.queue, (body(2, 10), false, tell(2, &r.progress, &tx)));
        let back = back.expect("handed back: order is kept");
        assert_eq!((heard(&rx), written(&r.progress)), (vec![], 0));
        let mut batch = Vec::new();
        r.w.take_queued(&r.queue, &mut batch);
        batch.push(back);
        r.w.flush(&mut batch);
        assert_eq!(heard(&rx), vec![(1, Ok(()), 2), (2, Ok(()), 2)]);

        // Exactly the room an inline write keeps free: written; then less: handed back.
        let need = ops_bytes(&body(3, 10)) as u64 + INLINE_MARGIN;
        fill_leaving(&mut r.w, need);
        assert!(r.w.try_write_now(&r.queue, (body(3, 10), false, tell(3, &r.progress, &tx))).is_none());
        assert_eq!(heard(&rx), vec![(3, Ok(()), 4)]);
        assert!(r.w.log.room() < need);
        let back = r.w.try_write_now(&r.queue, (body(4, 10), false, tell(4, &r.progress, &tx)));
        assert!(back.is_some(), "a rotation syncs: not for the caller to wait on");
        assert_eq!((heard(&rx), written(&r.progress), r.w.log.first_lsn()), (vec![], 4, 1), "nothing written");
        remove(&dir);
    }

    #[test]
    fn take_queued_takes_the_queue_in_order_and_writes_what_came_before_a_maintenance_job_first() {
        let dir = temp_dir("take");
        let mut r = rig(&dir, Durability::Fsync);
        let (tx, rx) = mpsc::channel();
        let ran = Arc::new(AtomicBool::new(false));
        let job_ran = ran.clone();
        assert!(r.queue.push(commit(body(1, 10), true, tell(1, &r.progress, &tx))).is_ok());
        assert!(r.queue.push(commit(body(2, 10), false, tell(2, &r.progress, &tx))).is_ok());
        assert!(r.queue.push(Job::Exec(Box::new(move |_| job_ran.store(true, Ordering::SeqCst)))).is_ok());
        assert!(r.queue.push(commit(body(3, 10), false, tell(3, &r.progress, &tx))).is_ok());
        let mut batch = Vec::new();
        r.w.take_queued(&r.queue, &mut batch);
        assert!(r.queue.is_empty());
        assert_eq!(
            heard(&rx),
            vec![(1, Ok(()), 2), (2, Ok(()), 2)],
            "written before the job is handed on, as one batch"
        );
        assert_eq!(batch.iter().map(|(ops, _, _)| body_ids(ops)).collect::<Vec<_>>(), vec![vec![3]], "the rest waits");
        assert!(!ran.load(Ordering::SeqCst), "maintenance is the indexer's, never run under the log");
        r.w.flush(&mut batch);
        assert_eq!(heard(&rx), vec![(3, Ok(()), 3)]);
        remove(&dir);
    }

    #[test]
    fn take_queued_writes_a_batch_every_2048_commits() {
        let dir = temp_dir("max-batch");
        let mut r = rig(&dir, Durability::Process);
        let (tx, rx) = mpsc::channel();
        for i in 0..MAX_COMMITS_PER_BATCH as u64 + 2 {
            assert!(r.queue.push(commit(body(i, 8), false, tell(i, &r.progress, &tx))).is_ok());
        }
        let mut batch = Vec::new();
        r.w.take_queued(&r.queue, &mut batch);
        let n = MAX_COMMITS_PER_BATCH as u64;
        assert_eq!(heard(&rx), (0..n).map(|i| (i, Ok(()), n)).collect::<Vec<_>>(), "one batch of 2048");
        assert_eq!(batch.iter().map(|(ops, _, _)| body_ids(ops)).collect::<Vec<_>>(), vec![vec![n], vec![n + 1]]);
        remove(&dir);
    }

    #[test]
    fn a_batch_that_cannot_be_written_fails_every_waiter_publishes_nothing_and_marks_the_log_unhealthy_until_a_write_succeeds()
     {
        let dir = temp_dir("failed");
        let mut r = rig(&dir, Durability::Fsync);
        let (tx, rx) = mpsc::channel();
        // The next batch needs a new segment, and a directory is where that segment goes.
        fill_leaving(&mut r.w, 100);
        let blocker = dir.join(format!("{:020}.log", r.w.log.last_lsn() + 1));
        std::fs::create_dir(&blocker).expect("in the way");
        let mut batch: Vec<Pending> = (10..13).map(|i| (body(i, 500), i != 11, tell(i, &r.progress, &tx))).collect();
        r.w.flush(&mut batch);
        let failed = heard(&rx);
        assert_eq!(
            failed.iter().map(|h| (h.0, h.2)).collect::<Vec<_>>(),
            vec![(10, 1), (11, 1), (12, 1)],
            "nothing published"
        );
        for (tag, result, _) in &failed {
            let e = result.as_ref().expect_err("refused");
            assert!(e.contains("cannot write the commit log"), "{tag}: {e}");
        }
        assert!(!r.healthy.load(Ordering::SeqCst), "unhealthy: intake NACKs, consumers pause");
        assert!((10..13).all(|id| r.progress.recent.find(id).is_none()), "no position noted for a body not written");
        r.w.flush(&mut vec![(body(13, 500), true, tell(13, &r.progress, &tx))]);
        // LSNs 2 to 4 went to the refused commits and are never handed out again.
        assert_eq!(heard(&rx), vec![(13, Ok(()), 5)]);
        assert!(r.healthy.load(Ordering::SeqCst), "healthy again after a good write");
        drop(r);
        std::fs::remove_dir(&blocker).expect("blocker");
        assert_eq!(replay(&dir), vec![(1, vec![900]), (5, vec![13])]);
        remove(&dir);
    }

    #[test]
    fn commits_handed_in_while_the_log_is_held_share_the_writer_threads_next_write_and_it_drains_the_queue_on_close() {
        let dir = temp_dir("run");
        let Rig { w, progress, queue, .. } = rig(&dir, Durability::Fsync);
        let (writer, queue) = (Arc::new(std::sync::Mutex::new(w)), Arc::new(queue));
        let (tx, rx) = mpsc::channel();
        let held = writer.lock_unpoisoned();
        let (ended_tx, ended) = mpsc::channel();
        let (w, q, p) = (writer.clone(), queue.clone(), progress.clone());
        let thread = std::thread::spawn(move || {
            run(w, q, p);
            let _ = ended_tx.send(());
        });
        for i in 0..10 {
            assert!(queue.push(commit(body(i, 100), i == 0, tell(i, &progress, &tx))).is_ok());
        }
        std::thread::sleep(Duration::from_millis(20));
        assert!(heard(&rx).is_empty(), "nothing is written while another holds the log");
        drop(held);
        let first: Vec<Heard> =
            (0..10).map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("completion")).collect();
        assert_eq!(first, (0..10).map(|i| (i, Ok(()), 10)).collect::<Vec<_>>(), "one write for all ten, in order");
        for i in 10..20 {
            assert!(queue.push(commit(body(i, 100), true, tell(i, &progress, &tx))).is_ok());
        }
        queue.close();
        assert!(queue.push(commit(Vec::new(), true, None)).is_err(), "closed");
        ended.recv_timeout(Duration::from_secs(10)).expect("the writer thread ends once the queue is drained");
        thread.join().expect("writer thread");
        let rest = heard(&rx);
        assert_eq!(
            rest.iter().map(|h| (h.0, h.1.clone())).collect::<Vec<_>>(),
            (10..20).map(|i| (i, Ok(()))).collect::<Vec<_>>()
        );
        assert_eq!(written(&progress), 20);
        drop(writer);
        assert_eq!(replay(&dir).len(), 20);
        remove(&dir);
    }
}
