//! The journal: HIE's embedded message warehouse and the backing store of every queue.
//!
//! # Invariants
//! - A message is acknowledged to its sender only after the commit that stores it has
//!   returned: written to the OS (`Durability::Process`, survives kill -9 of the engine) or
//!   synced to disk (`Durability::Fsync`, survives power loss).
//! - Every state change of a message is one transaction: a message is never both
//!   completed and re-queued; what an item sends on is committed with its completion.
//! - Queued bodies live on disk; the in-memory queues hold ids.
//!
//! # Two layers
//! - The **commit log** ([`log`]): append-only segment files, one record per commit. A
//!   commit is durable when its record is written (`process`: to the OS) or
//!   `fdatasync`ed (`fsync`). One writer thread does the group commit. This is the only
//!   thing on the ACK path: one write and at most one sync per batch of commits.
//! - The **warehouse** (SQLite, rusqlite bundled): headers, bodies, replies and indexed
//!   HL7 fields, built from the log by the indexer thread in large transactions, with
//!   secondary indexes for search and incremental vacuum for purge. It is derived state:
//!   after a crash, log records after its last indexed LSN are replayed into it.
//!
//! Reads go to the warehouse; [`Journal::read_barrier`] waits until everything committed
//! before the call is indexed, so an operator never misses their own last change.

mod fields;
mod gather;
mod handoff;
mod indexer;
mod log;
mod query;
mod recent;
mod schema;
mod tail;
#[cfg(test)]
mod test_dirs;
mod writer;

pub use fields::FieldsSync;
pub use gather::gather_on_this_thread;
pub use query::{HeaderRow, JournalStats, PurgeReport, Search};
pub use writer::{Done, Op};

/// Fuzzing hook (tests/fuzz/): parses `bytes` as one commit-log segment, as recovery does, and
/// returns how many intact records it holds. Not an API.
#[doc(hidden)]
pub fn fuzz_parse_log_segment(bytes: &[u8]) -> usize {
    log::parse_segment(bytes, 0).0.len()
}

use crate::lock::LockExt;
use crate::message::MessageId;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How far a commit must get before the sender is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Durability {
    /// Synced to disk before the ACK: survives power loss.
    Fsync,
    /// Written to the OS before the ACK: survives kill -9 of the engine, not power loss.
    Process,
}

impl Durability {
    /// Parses the production setting `Durability`.
    pub fn parse(s: &str) -> Option<Durability> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fsync" | "" => Some(Durability::Fsync),
            "process" => Some(Durability::Process),
            _ => None,
        }
    }
}

/// Journal failures. Cloneable: one failed group commit is reported to every waiter.
#[derive(Clone, Debug, thiserror::Error)]
pub enum JournalError {
    /// The store refused the write or read (disk full, unwritable, corrupt).
    #[error("journal store error: {0}")]
    Store(String),
    /// The writer thread is gone (engine shutting down).
    #[error("journal is closed")]
    Closed,
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        JournalError::Store(e.to_string())
    }
}

/// The journal handle, shared by the whole engine.
pub struct Journal {
    /// The data directory (holds `journal.db` and its WAL).
    dir: PathBuf,
    /// The writer thread's queue.
    writer: Arc<handoff::Handoff<writer::Job>>,
    /// The commit log, for the writer thread and for intake threads that write the
    /// commits they gathered themselves ([`Journal::write_gathered`]).
    log_writer: Arc<Mutex<writer::LogWriter>>,
    /// Idle read connections (readers are cheap to keep; opening one costs a few ms).
    readers: Mutex<Vec<Connection>>,
    /// Next header id; ids are handed out before commit, so a crash can leave gaps.
    next_header: AtomicU64,
    /// Next body id.
    next_body: AtomicU64,
    /// Durability level of this engine run.
    durability: Durability,
    /// False while commits fail, for the API and the log.
    healthy: Arc<AtomicBool>,
    /// How far the commit log is written and the warehouse has caught up.
    progress: Arc<indexer::Progress>,
    /// The log's segments, for reading records back ([`Journal::load_body`]).
    segments: log::Segments,
    /// `SearchFields` paths every stored body has index rows for ([`fields`]): search
    /// uses the index only for these.
    complete_paths: std::sync::RwLock<std::collections::HashSet<String>>,
    /// Held by the one [`Journal::sync_search_fields`] running.
    fields_sync: tokio::sync::Mutex<()>,
    /// The production's `SearchFields` (and the schemas they read with) as last set
    /// ([`Journal::want_search_fields`]); also what a scanning search reads paths with.
    wanted_paths: Mutex<Arc<crate::value_paths::ValuePaths>>,
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, replaying into the warehouse whatever the
    /// commit log holds beyond it.
    pub fn open(dir: &Path, durability: Durability) -> Result<Arc<Journal>, JournalError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| JournalError::Store(format!("cannot create data directory {}: {e}", dir.display())))?;
        let path = dir.join("journal.db");
        let mut conn =
            Connection::open(&path).map_err(|e| JournalError::Store(format!("cannot open {}: {e}", path.display())))?;
        schema::configure(&conn)?;
        schema::initialise(&conn)?;
        let indexed: i64 =
            conn.query_row("SELECT COALESCE((SELECT value FROM meta WHERE key = 'indexed_lsn'), 0)", [], |r| r.get(0))?;
        let mut replay: Vec<(u64, Vec<Op>)> = Vec::new();
        let mut replayed = 0usize;
        let mut replay_error = None;
        let log_dir = dir.join("log");
        let log = log::Log::open(&log_dir, indexed as u64, |lsn, ops| {
            replay.push((lsn, ops));
            if replay.len() >= 2000 {
                if let Err(e) = indexer::apply(&mut conn, &replay) {
                    replay_error.get_or_insert(e);
                }
                replayed += replay.len();
                replay.clear();
            }
        })
        .map_err(|e| JournalError::Store(format!("cannot open the commit log in {}: {e}", log_dir.display())))?;
        if let Some(e) = replay_error {
            return Err(e.into());
        }
        replayed += replay.len();
        indexer::apply(&mut conn, &replay)?;
        let last = replay.last().map(|r| r.0).unwrap_or(indexed as u64).max(indexed as u64);
        if replayed > 0 {
            tracing::info!(records = replayed, "replayed the commit log into the warehouse");
        }
        let complete_paths = fields::load_complete(&conn)?;
        let max_header: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM headers", [], |r| r.get(0))?;
        let max_body: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM bodies", [], |r| r.get(0))?;
        let progress = indexer::Progress::new(last);
        let segments = log.segments();
        let (first_lsn, path, offset) = log.end();
        // The indexer reads on from where the log ends now: everything before is replayed.
        let reader =
            tail::LogReader::at(segments.clone(), log.end_mark(), first_lsn, path, offset, last.max(log.last_lsn()));
        let journal_segments = segments.clone();
        let tx = Arc::new(handoff::Handoff::new());
        let rx = tx.clone();
        let healthy = Arc::new(AtomicBool::new(true));
        let log_writer =
            Arc::new(Mutex::new(writer::LogWriter::new(log, progress.clone(), durability, healthy.clone())));
        let thread_writer = log_writer.clone();
        let writer_progress = progress.clone();
        std::thread::Builder::new()
            .name("hie-journal".into())
            .spawn(move || writer::run(thread_writer, rx, writer_progress))
            .map_err(|e| JournalError::Store(format!("cannot start journal writer: {e}")))?;
        let indexer_progress = progress.clone();
        std::thread::Builder::new()
            .name("hie-indexer".into())
            .spawn(move || indexer::run(conn, indexer_progress, reader, segments))
            .map_err(|e| JournalError::Store(format!("cannot start journal indexer: {e}")))?;
        Ok(Arc::new(Journal {
            dir: dir.to_path_buf(),
            writer: tx,
            log_writer,
            readers: Mutex::new(Vec::new()),
            next_header: AtomicU64::new(max_header as u64 + 1),
            next_body: AtomicU64::new(max_body as u64 + 1),
            durability,
            healthy,
            progress,
            segments: journal_segments,
            complete_paths: std::sync::RwLock::new(complete_paths),
            fields_sync: tokio::sync::Mutex::new(()),
            wanted_paths: Mutex::new(Arc::default()),
        }))
    }

    /// Stops taking commits; the writer drains what it has and ends (so does the indexer).
    pub fn close(&self) {
        self.writer.close();
    }

    /// Waits (up to 10 s) until everything committed before this call is in the warehouse,
    /// so a read sees it. `false` if the warehouse is that far behind.
    pub fn read_barrier(&self) -> bool {
        self.read_barrier_for(std::time::Duration::from_secs(10))
    }

    /// Like [`Journal::read_barrier`], waiting at most `wait`.
    pub fn read_barrier_for(&self, wait: std::time::Duration) -> bool {
        let target = self.progress.written.load(Ordering::SeqCst);
        self.progress.wait_for(target, wait)
    }

    /// How far the warehouse trails the commit log.
    pub fn index_lag(&self) -> IndexLag {
        let (records, us) = self.progress.lag();
        IndexLag {
            records,
            ms: us / 1000,
            written_lsn: self.progress.written.load(Ordering::SeqCst),
            indexed_lsn: self.progress.indexed.load(Ordering::SeqCst),
            boosted: self.progress.boosted.load(Ordering::Relaxed),
        }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This run's durability level.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Whether the last commit succeeded.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// A fresh header id.
    pub fn next_header_id(&self) -> MessageId {
        self.next_header.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh body id.
    pub fn next_body_id(&self) -> MessageId {
        self.next_body.fetch_add(1, Ordering::Relaxed)
    }

    /// Commits `ops` and calls `done` once they are durable to the level `sync` asks for
    /// (`sync` = someone outside waits on it, e.g. an ACK). A commit that needs no sync is
    /// written by the calling thread when the log is free and nothing is queued ahead of
    /// it (`done` then runs before this returns); otherwise the writer thread writes it
    /// and runs `done`.
    pub fn commit_then(&self, ops: Vec<Op>, sync: bool, done: Done) {
        let mut pending = (ops, sync, Some(done));
        // try_lock: never wait behind another thread's write and sync.
        if let Some(mut w) = self.log_writer.try_lock_unpoisoned() {
            match w.try_write_now(&self.writer, pending) {
                None => return,
                Some(p) => pending = p,
            }
        }
        let (ops, sync, done) = pending;
        if let Err(writer::Job::Commit { done: Some(done), .. }) =
            self.writer.push(writer::Job::Commit { ops, sync, done })
        {
            done(Err(JournalError::Closed));
        }
    }

    /// Commits `ops` and waits for it. On an intake thread ([`gather_on_this_thread`]) the
    /// commit is gathered and written by that thread when it next goes idle; elsewhere the
    /// writer thread writes it.
    pub async fn commit(&self, ops: Vec<Op>, sync: bool) -> Result<(), JournalError> {
        let (done, rx) = completion();
        if let Some((ops, sync, Some(done))) = gather::offer((ops, sync, Some(done))) {
            self.commit_then(ops, sync, done);
        }
        rx.await.unwrap_or(Err(JournalError::Closed))
    }

    /// Writes the commits this thread gathered, as one batch (one write, at most one
    /// sync), and reports to their waiters. Called by an intake thread's runtime just
    /// before it would park: every connection it serves is then waiting for its commit.
    ///
    /// When another thread holds the log (another intake thread's sync), the commits go
    /// to the writer thread's queue instead, and whoever writes next takes them along:
    /// this thread goes on serving its connections rather than waiting for the lock, and
    /// the commits share that next write and sync.
    pub fn write_gathered(&self) {
        let mut gathered = gather::take();
        if gathered.is_empty() {
            return;
        }
        let mut w = match self.log_writer.try_lock_unpoisoned() {
            Some(w) => w,
            None => {
                for (ops, sync, done) in gathered {
                    if let Err(writer::Job::Commit { done: Some(done), .. }) =
                        self.writer.push(writer::Job::Commit { ops, sync, done })
                    {
                        done(Err(JournalError::Closed));
                    }
                }
                return;
            }
        };
        // What the writer thread has not taken yet was handed in first, and shares the write.
        let mut batch = Vec::new();
        w.take_queued(&self.writer, &mut batch);
        batch.append(&mut gathered);
        w.flush(&mut batch);
    }

    /// Waits until every commit handed in before this call is written (and synced in
    /// fsync mode): used on shutdown so nothing finished is redone after a restart.
    /// Always through the writer thread, whose queue it is a barrier for.
    pub async fn flush(&self) -> Result<(), JournalError> {
        let (done, rx) = completion();
        self.commit_then(Vec::new(), true, done);
        rx.await.unwrap_or(Err(JournalError::Closed))
    }

    /// Commits `ops` without waiting (fire and forget, errors are logged by the writer).
    pub fn commit_detached(&self, ops: Vec<Op>) {
        let _ = self.writer.push(writer::Job::Commit { ops, sync: false, done: None });
    }

    /// Runs `f` on the warehouse's write connection (the indexer's), after every commit
    /// handed in before it is indexed (purge, maintenance), and waits.
    pub async fn exec<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> T + Send + 'static,
    ) -> Result<T, JournalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer
            .push(writer::Job::Exec(Box::new(move |c| {
                let _ = tx.send(f(c));
            })))
            .map_err(|_| JournalError::Closed)?;
        rx.await.map_err(|_| JournalError::Closed)
    }

    /// Runs `f` with a read connection (blocking; call from a blocking context).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, JournalError> {
        let conn = match self.readers.lock().ok().and_then(|mut r| r.pop()) {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    self.dir.join("journal.db"),
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                schema::configure(&c)?;
                // Readers share the OS page cache; a small private cache each is enough.
                c.pragma_update(None, "cache_size", -4000)?;
                c
            }
        };
        let result = f(&conn);
        if let Ok(mut r) = self.readers.lock()
            && r.len() < 8
        {
            r.push(conn);
        }
        result.map_err(JournalError::from)
    }

    /// Loads a body: from its log record while the warehouse does not have it yet (so a
    /// consumer never waits for the indexer), else from the warehouse.
    pub fn load_body(&self, id: MessageId) -> Result<bytes::Bytes, JournalError> {
        if let Some(pos) = self.progress.recent.find(id)
            && let Some(ops) = log::read_record_at(&self.segments, pos.segment, pos.offset, pos.lsn)
            && let Some(data) = ops.into_iter().find_map(|op| match op {
                Op::Body { id: b, data, .. } if b == id => Some(data),
                _ => None,
            })
        {
            return Ok(data);
        }
        let load = || {
            self.read(|c| {
                c.prepare_cached("SELECT data FROM bodies WHERE id = ?1")?
                    .query_row([id as i64], |r| r.get::<_, Vec<u8>>(0))
                    .map(bytes::Bytes::from)
            })
        };
        match load() {
            Ok(b) => Ok(b),
            Err(_) => {
                self.read_barrier();
                load()
            }
        }
    }
}

/// How far the warehouse (search, sessions, body reads of deep queues) trails the commit
/// log (what ACKs wait for).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct IndexLag {
    /// Commits written but not indexed yet.
    pub records: u64,
    /// Milliseconds since the oldest of them was written (0 when caught up).
    pub ms: i64,
    /// Highest LSN written.
    pub written_lsn: u64,
    /// Highest LSN indexed.
    pub indexed_lsn: u64,
    /// Whether the indexer runs at normal priority to catch up.
    pub boosted: bool,
}

/// A commit's completion and the receiver its waiter awaits.
fn completion() -> (Done, tokio::sync::oneshot::Receiver<Result<(), JournalError>>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done: Done = Box::new(move |r| {
        let _ = tx.send(r);
    });
    (done, rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hie-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn body(id: MessageId, text: &str) -> Op {
        Op::Body { id, data: bytes::Bytes::from(text.to_string()), created_us: 0 }
    }

    #[test]
    fn a_gathered_commit_is_written_by_its_own_thread_when_that_thread_goes_idle_after_what_the_writer_had_queued() {
        let dir = temp_dir("gather");
        let journal = Journal::open(&dir, Durability::Fsync).expect("journal");
        let j = journal.clone();
        let (early_id, gathered_id) = (journal.next_body_id(), journal.next_body_id());
        std::thread::spawn(move || {
            gather_on_this_thread();
            let hook = j.clone();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .on_thread_park(move || hook.write_gathered())
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let before = j.progress.written.load(Ordering::SeqCst);
                let mut commit = Box::pin(j.commit(vec![body(gathered_id, "gathered")], true));
                assert!(futures::poll!(commit.as_mut()).is_pending(), "nothing is written before the thread idles");
                // The writer thread would have written it by now had it been handed over.
                std::thread::sleep(Duration::from_millis(50));
                assert_eq!(
                    j.progress.written.load(Ordering::SeqCst),
                    before,
                    "the gathered commit waits for its thread"
                );
                // A commit handed to the writer thread meanwhile is written first, or with it.
                j.commit_detached(vec![body(early_id, "handed over")]);
                commit.await.expect("written when the runtime would park");
            });
        })
        .join()
        .expect("intake thread");
        assert!(journal.read_barrier());
        assert_eq!(journal.load_body(gathered_id).expect("gathered body").as_ref(), b"gathered");
        assert_eq!(journal.load_body(early_id).expect("early body").as_ref(), b"handed over");
        journal.close();
        // The log's own order: a copy of it, replayed from the start.
        let copy = temp_dir("gather-copy");
        std::fs::create_dir_all(copy.join("log")).expect("copy dir");
        for f in std::fs::read_dir(dir.join("log")).expect("log dir").flatten() {
            if f.file_name().to_string_lossy().ends_with(".log") && !f.file_name().to_string_lossy().starts_with('.') {
                std::fs::copy(f.path(), copy.join("log").join(f.file_name())).expect("copy segment");
            }
        }
        let mut lsn_of_body = std::collections::HashMap::new();
        let _log = log::Log::open(&copy.join("log"), 0, |lsn, ops| {
            for op in ops {
                if let Op::Body { id, .. } = op {
                    lsn_of_body.insert(id, lsn);
                }
            }
        })
        .expect("replay");
        assert!(
            lsn_of_body[&early_id] < lsn_of_body[&gathered_id],
            "what the writer had queued is written first: {lsn_of_body:?}"
        );
        let _ = std::fs::remove_dir_all(&copy);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn nice_of_threads_named(name: &str) -> Vec<i64> {
        let mut nice = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim() != name {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // Fields after the parenthesised name start at field 3; nice is field 19.
            if let Some(n) = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(16)) {
                nice.push(n.parse().unwrap_or(0));
            }
        }
        nice
    }

    /// Commits `ops` through `commit_then`; returns the thread that ran its completion and
    /// whether that had happened by the time `commit_then` returned.
    fn commit_and_see_who_wrote(journal: &Journal, ops: Vec<Op>, sync: bool) -> (std::thread::ThreadId, bool) {
        let (tx, rx) = std::sync::mpsc::channel();
        journal.commit_then(
            ops,
            sync,
            Box::new(move |r| {
                r.expect("commit");
                let _ = tx.send(std::thread::current().id());
            }),
        );
        let done_before_return = rx.try_recv().ok();
        let writer = done_before_return.or_else(|| rx.recv_timeout(Duration::from_secs(5)).ok()).expect("completion");
        (writer, done_before_return.is_some())
    }

    #[test]
    fn a_commit_nobody_syncs_is_written_by_the_committing_thread_and_one_awaiting_a_sync_by_the_writer() {
        let dir = temp_dir("inline");
        let journal = Journal::open(&dir, Durability::Fsync).expect("journal");
        let me = std::thread::current().id();
        assert_eq!(commit_and_see_who_wrote(&journal, vec![body(1, "internal hop")], false), (me, true));
        let (writer, at_once) = commit_and_see_who_wrote(&journal, vec![body(2, "acknowledged")], true);
        assert!(writer != me && !at_once, "a sync is the writer thread's (group commit), never the caller's");

        // Never ahead of a commit still queued for the writer thread: order is kept.
        let mut held = journal.log_writer.lock().expect("log writer");
        let (tx, rx) = std::sync::mpsc::channel();
        // The log is taken (by us), so this one is queued.
        journal.commit_then(
            vec![body(3, "queued")],
            false,
            Box::new(move |_| {
                let _ = tx.send(3);
            }),
        );
        let back = held.try_write_now(&journal.writer, (vec![body(4, "after")], false, None));
        let Some((ops, sync, _)) = back else { panic!("written ahead of the queued commit") };
        drop(held);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(3));
        journal.commit_then(ops, sync, Box::new(|r| r.expect("commit")));
        assert!(journal.read_barrier());
        for (id, text) in [(1, "internal hop"), (2, "acknowledged"), (3, "queued"), (4, "after")] {
            assert_eq!(journal.load_body(id).expect("body").as_ref(), text.as_bytes());
        }
        journal.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn synced_commits_complete_while_the_warehouse_is_held_up_and_it_catches_up_from_the_log_after() {
        let dir = temp_dir("held-up");
        let journal = Journal::open(&dir, Durability::Fsync).expect("journal");
        // Hold the indexer in a maintenance job, as a starved or slow warehouse would be.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
        let j = journal.clone();
        let hold = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(j.exec(move |_| {
                let _ = entered_tx.send(());
                let _ = held.recv();
            }))
        });
        entered.recv_timeout(Duration::from_secs(10)).expect("the indexer runs the job");
        // 64 MiB of synced commits: four times what the old in-memory bound let through
        // before the ACK path waited for the warehouse.
        let (tx, rx) = std::sync::mpsc::channel();
        let body = bytes::Bytes::from(vec![b'm'; 16 * 1024]);
        let ids: Vec<MessageId> = (0..4096).map(|_| journal.next_body_id()).collect();
        for id in &ids {
            let tx = tx.clone();
            let op = Op::Body { id: *id, data: body.clone(), created_us: 0 };
            journal.commit_then(
                vec![op],
                true,
                Box::new(move |r| {
                    let _ = tx.send(r.is_ok());
                }),
            );
        }
        for _ in &ids {
            assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(true), "a synced commit waited for the warehouse");
        }
        let lag = journal.index_lag();
        assert!(lag.records >= ids.len() as u64, "the warehouse trails the log by every commit: {lag:?}");
        assert!(!journal.read_barrier_for(Duration::from_millis(50)), "a bounded read barrier gives up");
        // A consumer reading a body the warehouse lacks gets it from the log (the
        // warehouse would not have it within the read's 10 s barrier).
        assert_eq!(journal.load_body(ids[10]).expect("body from the log").len(), body.len());
        release.send(()).expect("release");
        hold.join().expect("hold").expect("job");
        assert!(journal.read_barrier(), "the warehouse catches up by reading the log back");
        assert_eq!(journal.index_lag().records, 0);
        assert_eq!(journal.load_body(ids[4095]).expect("last body").len(), body.len());
        journal.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_indexer_runs_at_the_lowest_cpu_priority() {
        let dir = temp_dir("nice");
        let journal = Journal::open(&dir, Durability::Process).expect("journal");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let nice = nice_of_threads_named("hie-indexer");
            if !nice.is_empty() && nice.iter().all(|n| *n == 19) {
                break;
            }
            assert!(Instant::now() < deadline, "hie-indexer threads at nice {nice:?}, want 19");
            std::thread::sleep(Duration::from_millis(10));
        }
        journal.close();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
