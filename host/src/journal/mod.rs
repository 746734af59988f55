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
//! # Why SQLite (rusqlite, bundled)
//! See ARCHITECTURE.md: WAL mode maps the two durability levels onto `synchronous=NORMAL`
//! and `FULL`; batched commits reach ~120k rows/s on this class of machine; secondary
//! indexes make the message search fast at millions of rows; incremental vacuum gives
//! disk space back after purge. One writer thread owns the write connection and does the
//! group commit; readers use their own connections (WAL readers never block the writer).

mod query;
mod schema;
mod writer;

pub use query::{HeaderRow, JournalStats, PurgeReport, Search};
pub use writer::{Done, Op};

use crate::message::MessageId;
use crossbeam_channel::Sender;
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
    /// Channel to the writer thread.
    writer: Sender<writer::Job>,
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
}

impl Journal {
    /// Opens (or creates) the journal in `dir`.
    pub fn open(dir: &Path, durability: Durability) -> Result<Arc<Journal>, JournalError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| JournalError::Store(format!("cannot create data directory {}: {e}", dir.display())))?;
        let path = dir.join("journal.db");
        let conn = Connection::open(&path)
            .map_err(|e| JournalError::Store(format!("cannot open {}: {e}", path.display())))?;
        schema::configure(&conn)?;
        schema::initialise(&conn)?;
        let max_header: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM headers", [], |r| r.get(0))?;
        let max_body: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM bodies", [], |r| r.get(0))?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let healthy = Arc::new(AtomicBool::new(true));
        let writer_healthy = healthy.clone();
        std::thread::Builder::new()
            .name("hie-journal".into())
            .spawn(move || writer::run(conn, rx, durability, writer_healthy))
            .map_err(|e| JournalError::Store(format!("cannot start journal writer: {e}")))?;
        Ok(Arc::new(Journal {
            dir: dir.to_path_buf(),
            writer: tx,
            readers: Mutex::new(Vec::new()),
            next_header: AtomicU64::new(max_header as u64 + 1),
            next_body: AtomicU64::new(max_body as u64 + 1),
            durability,
            healthy,
        }))
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

    /// Commits `ops` and calls `done` on the writer thread once they are durable to the
    /// level `sync` asks for (`sync` = someone outside waits on it, e.g. an ACK).
    pub fn commit_then(&self, ops: Vec<Op>, sync: bool, done: Done) {
        if let Err(e) = self.writer.send(writer::Job::Commit { ops, sync, done: Some(done) }) {
            if let writer::Job::Commit { done: Some(done), .. } = e.into_inner() {
                done(Err(JournalError::Closed));
            }
        }
    }

    /// Commits `ops` and waits for it.
    pub async fn commit(&self, ops: Vec<Op>, sync: bool) -> Result<(), JournalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commit_then(
            ops,
            sync,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.await.unwrap_or(Err(JournalError::Closed))
    }

    /// Commits `ops` without waiting (fire and forget, errors are logged by the writer).
    pub fn commit_detached(&self, ops: Vec<Op>) {
        let _ = self.writer.send(writer::Job::Commit { ops, sync: false, done: None });
    }

    /// Runs `f` on the write connection between batches (purge, maintenance) and waits.
    pub async fn exec<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> T + Send + 'static,
    ) -> Result<T, JournalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send(writer::Job::Exec(Box::new(move |c| {
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
                c
            }
        };
        let result = f(&conn);
        if let Ok(mut r) = self.readers.lock() {
            if r.len() < 8 {
                r.push(conn);
            }
        }
        result.map_err(JournalError::from)
    }

    /// Loads a body.
    pub fn load_body(&self, id: MessageId) -> Result<bytes::Bytes, JournalError> {
        self.read(|c| {
            c.prepare_cached("SELECT data FROM bodies WHERE id = ?1")?
                .query_row([id as i64], |r| r.get::<_, Vec<u8>>(0))
                .map(bytes::Bytes::from)
        })
    }
}
