//! The journal's single writer thread and its group commit.
//!
//! Every change to the journal goes through one thread that owns the write connection.
//! It takes everything waiting in its channel, applies it in one transaction (each
//! commit in its own savepoint, so one bad commit fails alone) and syncs once. While a
//! sync is in progress new commits pile up and share the next one: that is the group
//! commit that makes durable throughput scale with connections.

use super::{Durability, JournalError};
use crate::message::{Header, MessageId, Status};
use bytes::Bytes;
use crossbeam_channel::{Receiver, TryRecvError};
use rusqlite::{Connection, params};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One change to the journal.
#[derive(Debug)]
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
    /// Apply these ops atomically.
    Commit {
        /// The changes.
        ops: Vec<Op>,
        /// Whether the caller needs the commit synced to disk before `done` (fsync mode).
        sync: bool,
        /// Completion.
        done: Option<Done>,
    },
    /// Run arbitrary maintenance (purge, vacuum) on the write connection.
    Exec(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// Ops per transaction at most, so one huge backlog doesn't make one huge transaction.
const MAX_OPS_PER_BATCH: usize = 4096;

/// The writer loop. Returns when every sender is dropped.
pub fn run(mut conn: Connection, rx: Receiver<Job>, durability: Durability, healthy: Arc<AtomicBool>) {
    let mut current_sync: Option<bool> = None;
    let mut batch: Vec<(Vec<Op>, bool, Option<Done>)> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut pending = Some(first);
        let mut ops_in_batch = 0usize;
        loop {
            match pending.take() {
                Some(Job::Commit { ops, sync, done }) => {
                    ops_in_batch += ops.len();
                    batch.push((ops, sync, done));
                }
                Some(Job::Exec(f)) => {
                    // Maintenance runs between batches, never inside one.
                    flush(&mut conn, &mut batch, durability, &mut current_sync, &healthy);
                    f(&mut conn);
                    ops_in_batch = 0;
                }
                None => {}
            }
            if ops_in_batch >= MAX_OPS_PER_BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(job) => pending = Some(job),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
            }
        }
        flush(&mut conn, &mut batch, durability, &mut current_sync, &healthy);
    }
}

/// Commits the accumulated batch and reports to each waiter.
fn flush(
    conn: &mut Connection,
    batch: &mut Vec<(Vec<Op>, bool, Option<Done>)>,
    durability: Durability,
    current_sync: &mut Option<bool>,
    healthy: &AtomicBool,
) {
    if batch.is_empty() {
        return;
    }
    // In fsync mode only commits someone waits on (an ACK) pay for a sync; internal
    // state changes ride along or wait for the next synced commit. Rolling back to the
    // last synced state after power loss only ever re-runs work (at-least-once delivery),
    // never loses an acknowledged message.
    let want_full = durability == Durability::Fsync && batch.iter().any(|(_, sync, _)| *sync);
    if *current_sync != Some(want_full) {
        let mode = if want_full { "FULL" } else { "NORMAL" };
        if conn.pragma_update(None, "synchronous", mode).is_ok() {
            *current_sync = Some(want_full);
        }
    }
    let results = apply_batch(conn, batch);
    match &results {
        Ok(_) => {
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
    for (i, (_, _, done)) in batch.drain(..).enumerate() {
        let result = match &results {
            Ok(per_commit) => per_commit[i].clone(),
            Err(e) => Err(e.clone()),
        };
        if let Some(done) = done {
            done(result);
        }
    }
}

/// Applies every commit of the batch in one transaction, each in a savepoint.
/// Outer `Err`: the transaction itself failed (nothing is committed).
fn apply_batch(
    conn: &mut Connection,
    batch: &[(Vec<Op>, bool, Option<Done>)],
) -> Result<Vec<Result<(), JournalError>>, JournalError> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(batch.len());
    for (ops, _, _) in batch {
        let mut sp = tx.savepoint()?;
        let r = ops.iter().try_for_each(|op| apply(&sp, op));
        match r {
            Ok(()) => {
                sp.commit()?;
                results.push(Ok(()));
            }
            Err(e) => {
                sp.rollback()?;
                drop(sp);
                results.push(Err(JournalError::from(e)));
            }
        }
    }
    tx.commit()?;
    Ok(results)
}

/// Applies one op.
fn apply(conn: &Connection, op: &Op) -> rusqlite::Result<()> {
    match op {
        Op::Body { id, data, created_us } => {
            conn.prepare_cached("INSERT OR IGNORE INTO bodies (id, created_us, data) VALUES (?1, ?2, ?3)")?
                .execute(params![*id as i64, created_us, data.as_ref()])?;
        }
        Op::Header { header: h, status, note, reply } => {
            let attributes = if h.attributes.is_empty() {
                None
            } else {
                serde_json::to_string(&h.attributes).ok()
            };
            conn.prepare_cached(
                "INSERT INTO headers (id, session_id, correlation_id, causation_id, source, target, priority, status, \
                 created_us, doc_type, control_id, body_id, attributes, ordering_key, note, reply, reply_us, processed_us) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                 CASE WHEN ?16 IS NULL THEN NULL ELSE ?9 END, CASE WHEN ?8 IN (1, 2) THEN NULL ELSE ?9 END)",
            )?
            .execute(params![
                h.id as i64,
                h.session_id as i64,
                h.correlation_id as i64,
                h.causation_id as i64,
                h.source.as_ref(),
                h.target.as_ref(),
                h.priority,
                status.code(),
                h.created_us,
                h.doc_type,
                h.control_id,
                h.body_id as i64,
                attributes,
                h.ordering_key,
                note,
                reply.as_deref(),
            ])?;
        }
        Op::Finish { id, status, note, reply, at_us } => {
            conn.prepare_cached(
                "UPDATE headers SET status = ?2, processed_us = ?3, note = COALESCE(?4, note), \
                 reply = COALESCE(?5, reply), reply_us = CASE WHEN ?5 IS NULL THEN reply_us ELSE ?3 END \
                 WHERE id = ?1",
            )?
            .execute(params![*id as i64, status.code(), at_us, note, reply.as_deref()])?;
        }
        Op::Note { id, note } => {
            conn.prepare_cached("UPDATE headers SET note = ?2 WHERE id = ?1")?.execute(params![*id as i64, note])?;
        }
        Op::Fields { body_id, fields } => {
            let mut stmt = conn.prepare_cached("INSERT INTO fields (body_id, path, value) VALUES (?1, ?2, ?3)")?;
            for (path, value) in fields {
                stmt.execute(params![*body_id as i64, path, value])?;
            }
        }
    }
    Ok(())
}
