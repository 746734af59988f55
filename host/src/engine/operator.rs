//! What operators do to messages: resend, suspend, resend suspended, purge.

use super::dispatch::store_body;
use super::{Engine, EngineInner, dispatch::Outgoing};
use crate::journal::{HeaderRow, Op, PurgeReport};
use crate::message::{BodyRef, MessageId, Status, now_us};
use crate::queue::Entry;
use bytes::Bytes;
use std::sync::Arc;

/// Why an operator action was refused.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// No such message.
    #[error("no message {0}")]
    NotFound(MessageId),
    /// The message is not in a state that allows the action.
    #[error("{0}")]
    Conflict(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

async fn header_row(engine: &Arc<EngineInner>, id: MessageId) -> Result<HeaderRow, OperatorError> {
    let journal = engine.journal.clone();
    tokio::task::spawn_blocking(move || journal.header(id))
        .await
        .map_err(|e| OperatorError::Conflict(e.to_string()))??
        .ok_or(OperatorError::NotFound(id))
}

impl Engine {
    /// Sends a copy of message `id` to its target again, or to `to` when given (IRIS's
    /// resend to a new target), with `body` instead of the original when given: a new
    /// header in the same session, caused by the original.
    pub async fn resend(
        &self,
        id: MessageId,
        body: Option<Vec<u8>>,
        to: Option<&str>,
    ) -> Result<MessageId, OperatorError> {
        let engine = &self.inner;
        let row = header_row(engine, id).await?;
        let target = to.map(str::to_string).unwrap_or_else(|| row.header.target.to_string());
        let Some(dest) = engine.target(&target) else {
            return Err(OperatorError::Conflict(format!("target {target} is not an item of the running production")));
        };
        let mut out = Outgoing::default();
        let (stored, body_bytes) = match body {
            Some(b) => {
                let b = Bytes::from(b);
                (store_body(engine, &b, &row.header.attributes, &mut out), Some(b))
            }
            None => (BodyRef::of(&row.header), None),
        };
        // The resend keeps its original key while the target still orders by one.
        let ordering_key = dest.settings().ordering_key.as_ref().and(row.header.ordering_key.clone());
        let header = Arc::new(
            row.header
                .resend(engine.journal.next_header_id(), stored)
                .to_target(Arc::from(target.as_str()))
                .with_ordering_key(ordering_key),
        );
        let new_id = header.id;
        out.ops.push(Op::Header {
            header: header.clone(),
            status: Status::Queued,
            note: Some(format!("resent from message {id}")),
            reply: None,
        });
        let reservation = dest.queue.force_reserve();
        engine.journal.commit(out.ops, true).await?;
        reservation.push(Entry { header, body: body_bytes, crashes: 0 });
        tracing::info!(message = id, new_message = new_id, target = %target, "message resent");
        Ok(new_id)
    }

    /// Takes a queued message out of its queue and marks it Suspended.
    pub async fn suspend(&self, id: MessageId) -> Result<(), OperatorError> {
        let engine = &self.inner;
        let row = header_row(engine, id).await?;
        if row.status != Status::Queued {
            return Err(OperatorError::Conflict(format!(
                "message {id} is {}, only Queued messages can be suspended",
                row.status
            )));
        }
        let queue = engine.queue_for(&row.header.target, None);
        // In memory, or deep in the queue and only in the journal.
        let spilled = if queue.remove(id) {
            false
        } else if queue.withdraw_spilled(id) {
            true
        } else {
            return Err(OperatorError::Conflict(format!("message {id} is being processed; try again")));
        };
        let committed = engine
            .journal
            .commit(
                vec![Op::Finish {
                    id,
                    status: Status::Suspended,
                    note: Some("suspended by operator".into()),
                    reply: None,
                    at_us: now_us(),
                }],
                false,
            )
            .await;
        if committed.is_err() && spilled {
            queue.restore_spilled(id);
        }
        committed?;
        Ok(())
    }

    /// Puts every Suspended message addressed to `item` back in its queue (the same
    /// headers, so each keeps its id and session). Returns how many.
    pub async fn resend_suspended(&self, item: &str) -> Result<usize, OperatorError> {
        let engine = &self.inner;
        if engine.target(item).is_none() {
            return Err(OperatorError::Conflict(format!("{item} is not an item of the running production")));
        }
        let journal = engine.journal.clone();
        let name = item.to_string();
        let rows = tokio::task::spawn_blocking(move || journal.by_target_status(&name, Status::Suspended))
            .await
            .map_err(|e| OperatorError::Conflict(e.to_string()))??;
        let queue = engine.queue_for(item, None);
        let ops: Vec<Op> = rows
            .iter()
            .map(|r| Op::Finish {
                id: r.header.id,
                status: Status::Queued,
                note: Some("resent by operator".into()),
                reply: None,
                at_us: now_us(),
            })
            .collect();
        let reservations: Vec<_> = rows.iter().map(|_| queue.force_reserve()).collect();
        engine.journal.commit(ops, true).await?;
        let n = rows.len();
        for (r, row) in reservations.into_iter().zip(rows) {
            r.push(Entry { header: Arc::new(row.header), body: None, crashes: 0 });
        }
        tracing::info!(item, messages = n, "suspended messages resent");
        Ok(n)
    }

    /// Purges messages older than `keep_days` (see [`crate::journal::Journal::purge`]).
    pub async fn purge(
        &self,
        keep_days: u32,
        include_suspended: bool,
        include_incomplete: bool,
    ) -> Result<PurgeReport, OperatorError> {
        let before = now_us() - keep_days as i64 * 86_400_000_000;
        let report = self.inner.journal.purge(before, include_suspended, include_incomplete).await?;
        tracing::info!(
            headers = report.headers,
            bodies = report.bodies,
            bytes_before = report.bytes_before,
            bytes_after = report.bytes_after,
            "purge done"
        );
        Ok(report)
    }
}
