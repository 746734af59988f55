//! Reading the journal: search, sessions, recovery and purge.

use super::{Journal, JournalError};
use crate::message::{Header, MessageId, Status};
use rusqlite::{Connection, Row, params_from_iter, types::Value};
use serde::Serialize;
use std::sync::Arc;

/// A stored header with its current state, as the API returns it.
#[derive(Clone, Debug, Serialize)]
pub struct HeaderRow {
    /// The header.
    #[serde(flatten)]
    pub header: Header,
    /// Current status.
    pub status: Status,
    /// When processing finished, if it has.
    pub processed_us: Option<i64>,
    /// Reason or remark recorded with the status.
    pub note: Option<String>,
    /// Whether a reply (ACK/response) is stored on this header.
    pub has_reply: bool,
    /// When the reply was recorded.
    pub reply_us: Option<i64>,
}

/// Columns every header query selects, in the order [`row_to_header`] reads them.
const HEADER_COLUMNS: &str = "id, session_id, correlation_id, causation_id, source, target, priority, status, \
    created_us, processed_us, doc_type, control_id, body_id, attributes, ordering_key, note, reply IS NOT NULL, reply_us";

fn row_to_header(r: &Row<'_>) -> rusqlite::Result<HeaderRow> {
    let attributes: Option<String> = r.get(13)?;
    let source: String = r.get(4)?;
    let target: String = r.get(5)?;
    Ok(HeaderRow {
        header: Header {
            id: r.get::<_, i64>(0)? as u64,
            session_id: r.get::<_, i64>(1)? as u64,
            correlation_id: r.get::<_, i64>(2)? as u64,
            causation_id: r.get::<_, i64>(3)? as u64,
            source: Arc::from(source),
            target: Arc::from(target),
            priority: r.get(6)?,
            created_us: r.get(8)?,
            doc_type: r.get(10)?,
            control_id: r.get(11)?,
            body_id: r.get::<_, i64>(12)? as u64,
            attributes: attributes.and_then(|a| serde_json::from_str(&a).ok()).unwrap_or_default(),
            ordering_key: r.get(14)?,
        },
        status: Status::from_code(r.get(7)?),
        processed_us: r.get(9)?,
        note: r.get(15)?,
        has_reply: r.get(16)?,
        reply_us: r.get(17)?,
    })
}

/// A message search. Every field is optional; all given ones must match.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// MSH-10 exact.
    pub control_id: Option<String>,
    /// Item name: messages addressed to the item (what it received or processed).
    pub item: Option<String>,
    /// Sending item or origin (unindexed: combine with other filters at volume).
    pub source: Option<String>,
    /// Status.
    pub status: Option<Status>,
    /// Document type: exact (`ADT^A01`) or message code prefix (`ADT`).
    pub doc_type: Option<String>,
    /// Created at or after (µs since epoch).
    pub since_us: Option<i64>,
    /// Created before (µs since epoch).
    pub until_us: Option<i64>,
    /// HL7 path and value (indexed paths use the fields index; others scan bodies).
    pub field: Option<(String, String)>,
    /// Only headers with id below this (paging backwards).
    pub before_id: Option<MessageId>,
    /// Maximum rows (default 100, at most 10,000).
    pub limit: Option<usize>,
}

/// What a purge removed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PurgeReport {
    /// Headers deleted.
    pub headers: u64,
    /// Bodies deleted (only bodies no remaining header uses).
    pub bodies: u64,
    /// Field index rows deleted.
    pub fields: u64,
    /// Database size before, bytes.
    pub bytes_before: u64,
    /// Database size after, bytes.
    pub bytes_after: u64,
}

/// Size and consistency figures of the journal.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JournalStats {
    /// Headers stored.
    pub headers: u64,
    /// Bodies stored.
    pub bodies: u64,
    /// Bodies no header refers to (should always be 0).
    pub orphan_bodies: u64,
    /// Headers waiting or in flight.
    pub pending: u64,
    /// Warehouse (database plus WAL) size in bytes.
    pub bytes: u64,
    /// Commit log size in bytes (preallocated segments).
    pub log_bytes: u64,
    /// `SearchFields` paths whose index covers every stored body (others are being
    /// indexed, or no longer named, and searches on them scan bodies).
    pub search_fields_indexed: Vec<String>,
}

/// How long a listing (search, session, dead letters, stats) waits for the newest
/// commits to reach the warehouse before it answers from what is there. It then says how
/// far the warehouse trails (`Journal::index_lag`), so a busy indexer never makes a
/// search slow; reads of one message (an operator's resend, suspend) still wait until it
/// is there.
pub const LISTING_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Journal {
    /// Counts rows and bytes (a full scan of the body ids: for operators, not hot paths).
    pub fn stats(&self) -> Result<JournalStats, JournalError> {
        self.read_barrier_for(LISTING_WAIT);
        let bytes = ["journal.db", "journal.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(self.dir().join(f)).ok())
            .map(|m| m.len())
            .sum();
        let log_bytes = std::fs::read_dir(self.dir().join("log"))
            .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0);
        self.read(|c| {
            let n = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|v| v as u64);
            Ok(JournalStats {
                headers: n("SELECT COUNT(*) FROM headers")?,
                bodies: n("SELECT COUNT(*) FROM bodies")?,
                orphan_bodies: n(
                    "SELECT COUNT(*) FROM bodies b WHERE NOT EXISTS (SELECT 1 FROM headers h WHERE h.body_id = b.id)",
                )?,
                pending: n("SELECT COUNT(*) FROM headers WHERE status IN (1, 2) AND status NOT IN (3, 6, 8)")?,
                bytes,
                log_bytes,
                search_fields_indexed: self.complete_field_paths(),
            })
        })
    }

    /// Finds headers matching `search`, newest first.
    pub fn search(&self, search: &Search, indexed_fields: &[String]) -> Result<Vec<HeaderRow>, JournalError> {
        self.read_barrier_for(LISTING_WAIT);
        let mut sql = format!("SELECT {HEADER_COLUMNS} FROM headers h WHERE 1=1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(c) = &search.control_id {
            // The extra condition lets SQLite use the partial index on control ids.
            sql.push_str(" AND control_id = ? AND control_id <> ''");
            args.push(Value::Text(c.clone()));
        }
        if let Some(item) = &search.item {
            sql.push_str(" AND target = ?");
            args.push(Value::Text(item.clone()));
        }
        if let Some(source) = &search.source {
            sql.push_str(" AND source = ?");
            args.push(Value::Text(source.clone()));
        }
        if let Some(s) = search.status {
            sql.push_str(" AND status = ?");
            args.push(Value::Integer(s.code()));
            if !matches!(s, Status::Completed | Status::Discarded | Status::Aborted) {
                // Unfinished and failed statuses are in a partial index; say so to SQLite.
                sql.push_str(" AND status NOT IN (3, 6, 8)");
            }
        }
        if let Some(t) = &search.doc_type {
            if t.contains('^') {
                sql.push_str(" AND doc_type = ?");
                args.push(Value::Text(t.clone()));
            } else {
                // Code only: `ADT` matches `ADT` and `ADT^...` (range keeps the index usable).
                sql.push_str(" AND (doc_type = ? OR (doc_type >= ? AND doc_type < ?))");
                args.push(Value::Text(t.clone()));
                args.push(Value::Text(format!("{t}^")));
                args.push(Value::Text(format!("{t}_")));
            }
        }
        // Time bounds become id bounds (ids follow creation order), so they use the
        // primary key instead of an index of their own.
        if let Some(s) = search.since_us {
            sql.push_str(" AND id >= ?");
            args.push(Value::Integer(self.first_id_at_or_after(s)? as i64));
        }
        if let Some(u) = search.until_us {
            sql.push_str(" AND id < ?");
            args.push(Value::Integer(self.first_id_at_or_after(u)? as i64));
        }
        if let Some(b) = search.before_id {
            sql.push_str(" AND id < ?");
            args.push(Value::Integer(b as i64));
        }
        let limit = search.limit.unwrap_or(100).clamp(1, 10_000);
        let scan_field = match &search.field {
            // The index answers only for a path every stored body was indexed for.
            Some((path, value)) if indexed_fields.iter().any(|p| p == path) && self.field_index_complete(path) => {
                sql.push_str(" AND body_id IN (SELECT body_id FROM fields WHERE path = ? AND value = ?)");
                args.push(Value::Text(path.clone()));
                args.push(Value::Text(value.clone()));
                None
            }
            Some((path, value)) => Some((path.clone(), value.clone())),
            None => None,
        };
        sql.push_str(" ORDER BY id DESC");
        match scan_field {
            None => {
                sql.push_str(&format!(" LIMIT {limit}"));
                self.read(|c| {
                    let mut stmt = c.prepare(&sql)?;
                    let rows = stmt.query_map(params_from_iter(args.iter()), row_to_header)?;
                    rows.collect()
                })
            }
            Some((path, value)) => {
                // Unindexed path: parse bodies of candidate rows, newest first, bounded.
                let Ok(parsed_path) = hie_hl7_schema::FieldPath::parse(&path) else {
                    return Err(JournalError::Store(format!("invalid HL7 path {path:?}")));
                };
                let paths = self.value_paths();
                sql.push_str(" LIMIT 200000");
                self.read(|c| {
                    let mut stmt = c.prepare(&sql)?;
                    let mut body_stmt = c.prepare_cached("SELECT data FROM bodies WHERE id = ?1")?;
                    let mut out = Vec::new();
                    let mut rows = stmt.query(params_from_iter(args.iter()))?;
                    while let Some(r) = rows.next()? {
                        let row = row_to_header(r)?;
                        let body: Vec<u8> =
                            body_stmt.query_row([row.header.body_id as i64], |r| r.get(0)).unwrap_or_default();
                        let category = crate::value_paths::category_of(&row.header.attributes);
                        let matches = crate::value_paths::parse_stored(&body, &row.header.attributes)
                            .ok()
                            .and_then(|m| {
                                parsed_path.value(&m, paths.registry(), category).map(|v| v == value.as_str())
                            })
                            .unwrap_or(false);
                        if matches {
                            out.push(row);
                            if out.len() >= limit {
                                break;
                            }
                        }
                    }
                    Ok(out)
                })
            }
        }
    }

    /// The smallest header id created at or after `t_us` (one past the last id if none):
    /// a binary search over the primary key, since ids follow creation order.
    fn first_id_at_or_after(&self, t_us: i64) -> Result<u64, JournalError> {
        self.read(|c| {
            let bounds: (i64, i64) = c.query_row(
                "SELECT COALESCE((SELECT MIN(id) FROM headers), 1), COALESCE((SELECT MAX(id) FROM headers), 0)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (mut lo, mut hi) = (bounds.0, bounds.1 + 1);
            let mut stmt = c.prepare_cached("SELECT id, created_us FROM headers WHERE id >= ?1 ORDER BY id LIMIT 1")?;
            // Invariant: rows with id < lo were created before t; rows with id >= hi at or after.
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                let found: Option<(i64, i64)> = stmt.query_row([mid], |r| Ok((r.get(0)?, r.get(1)?))).ok();
                match found {
                    Some((id, created)) if created < t_us => lo = id + 1,
                    _ => hi = mid,
                }
            }
            Ok(lo.max(0) as u64)
        })
    }

    /// An inbound adapter's durable state for `item` (see `Op::State`), as last committed.
    pub fn adapter_state(&self, item: &str, key: &str) -> Option<String> {
        self.read_barrier();
        self.read(|c| {
            c.prepare_cached("SELECT value FROM adapter_state WHERE item = ?1 AND key = ?2")?
                .query_row(rusqlite::params![item, key], |r| r.get::<_, String>(0))
                .map(Some)
                .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
        })
        .ok()
        .flatten()
    }

    /// One header by id.
    pub fn header(&self, id: MessageId) -> Result<Option<HeaderRow>, JournalError> {
        self.read_barrier();
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {HEADER_COLUMNS} FROM headers WHERE id = ?1"))?;
            let mut rows = stmt.query_map([id as i64], row_to_header)?;
            rows.next().transpose()
        })
    }

    /// The reply stored on a header, if any.
    pub fn reply(&self, id: MessageId) -> Result<Option<Vec<u8>>, JournalError> {
        self.read_barrier();
        self.read(|c| {
            c.prepare_cached("SELECT reply FROM headers WHERE id = ?1")?
                .query_row([id as i64], |r| r.get::<_, Option<Vec<u8>>>(0))
                .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
        })
    }

    /// Every header of a session, in id order.
    pub fn session(&self, session_id: MessageId) -> Result<Vec<HeaderRow>, JournalError> {
        self.read_barrier_for(LISTING_WAIT);
        self.read(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {HEADER_COLUMNS} FROM headers WHERE session_id = ?1 ORDER BY id"))?;
            let rows = stmt.query_map([session_id as i64], row_to_header)?;
            rows.collect()
        })
    }

    /// Every header still Queued or Delivered, in id order: what recovery puts back in queues.
    pub fn pending(&self) -> Result<Vec<HeaderRow>, JournalError> {
        self.read_barrier();
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {HEADER_COLUMNS} FROM headers WHERE status IN (1, 2) AND status NOT IN (3, 6, 8) ORDER BY id"
            ))?;
            let rows = stmt.query_map([], row_to_header)?;
            rows.collect()
        })
    }

    /// How many messages wait (Queued or Delivered) per target.
    pub fn pending_counts(&self) -> Result<Vec<(String, u64)>, JournalError> {
        self.read_barrier();
        self.read(|c| {
            let mut stmt = c.prepare("SELECT target, COUNT(*) FROM headers WHERE status IN (1, 2) AND status NOT IN (3, 6, 8) GROUP BY target")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
            rows.collect()
        })
    }

    /// The first waiting messages of `target` in queue order `order` (at most `limit`, none
    /// of `exclude`), and whether that was all of them.
    pub fn pending_for(
        &self,
        target: &str,
        order: crate::queue::QueueType,
        exclude: &std::collections::HashSet<u64>,
        limit: usize,
    ) -> Result<(Vec<HeaderRow>, bool), JournalError> {
        use crate::queue::QueueType;
        self.read_barrier();
        let target = target.to_string();
        let fetch = limit + exclude.len();
        // The partial indexes on waiting headers keep this cheap however long the item's
        // history is: only its waiting headers are read, already in the queue's order.
        let (index, order_by) = match order {
            QueueType::Fifo => ("headers_waiting", "id"),
            QueueType::Lifo => ("headers_waiting", "id DESC"),
            QueueType::Priority => ("headers_waiting_priority", "priority, id"),
        };
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {HEADER_COLUMNS} FROM headers INDEXED BY {index} WHERE target = ?1 AND status IN (1, 2) ORDER BY {order_by} LIMIT ?2"
            ))?;
            let rows: Vec<HeaderRow> =
                stmt.query_map(rusqlite::params![target, fetch as i64], row_to_header)?.collect::<Result<_, _>>()?;
            // Everything waiting was read, and all of it that is not excluded is returned
            // (excluded ids that are no longer waiting do not count against the limit).
            let all_read = rows.len() < fetch;
            let mut wanted: Vec<HeaderRow> = rows.into_iter().filter(|r| !exclude.contains(&r.header.id)).collect();
            let exhausted = all_read && wanted.len() <= limit;
            wanted.truncate(limit);
            Ok((wanted, exhausted))
        })
    }

    /// Headers with `status` addressed to `target`, oldest first.
    pub fn by_target_status(&self, target: &str, status: Status) -> Result<Vec<HeaderRow>, JournalError> {
        self.read_barrier();
        let target = target.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {HEADER_COLUMNS} FROM headers WHERE status = ?1 AND target = ?2 AND status NOT IN (3, 6, 8) ORDER BY id"
            ))?;
            let rows = stmt.query_map(rusqlite::params![status.code(), target], row_to_header)?;
            rows.collect()
        })
    }

    /// Headers in `statuses` (the dead-letter view), newest first.
    pub fn by_statuses(&self, statuses: &[Status], limit: usize) -> Result<Vec<HeaderRow>, JournalError> {
        self.read_barrier_for(LISTING_WAIT);
        let list = statuses.iter().map(|s| s.code().to_string()).collect::<Vec<_>>().join(",");
        self.read(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {HEADER_COLUMNS} FROM headers WHERE status IN ({list}) ORDER BY id DESC LIMIT {limit}"
            ))?;
            let rows = stmt.query_map([], row_to_header)?;
            rows.collect()
        })
    }

    /// Deletes headers created before `before_us` whose status is final (Completed,
    /// Discarded, Aborted, Error), plus Suspended when `include_suspended`, plus Queued
    /// and Delivered when `include_incomplete`; then every body and field row no
    /// remaining header uses, and gives the space back to the file system.
    pub async fn purge(
        &self,
        before_us: i64,
        include_suspended: bool,
        include_incomplete: bool,
    ) -> Result<PurgeReport, JournalError> {
        let mut statuses = vec![Status::Completed, Status::Discarded, Status::Aborted, Status::Error];
        if include_suspended {
            statuses.push(Status::Suspended);
        }
        if include_incomplete {
            statuses.extend([Status::Queued, Status::Delivered, Status::Deferred, Status::Created]);
        }
        let list = statuses.iter().map(|s| s.code().to_string()).collect::<Vec<_>>().join(",");
        let dir = self.dir().to_path_buf();
        let size = move || -> u64 {
            ["journal.db", "journal.db-wal"]
                .iter()
                .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
                .map(|m| m.len())
                .sum()
        };
        // Measured with the WAL folded in, so before and after count the same thing:
        // otherwise whatever the last checkpoint left in the WAL makes the figures noise.
        self.exec(checkpoint_truncate).await??;
        let before = size();
        let mut report = PurgeReport { bytes_before: before, ..Default::default() };
        // Chunks keep each transaction short so intake is never held up for long.
        loop {
            let list = list.clone();
            let chunk: Result<(u64, u64, u64), JournalError> =
                self.exec(move |c| purge_chunk(c, before_us, &list, 5000).map_err(JournalError::from)).await?;
            let (h, b, f) = chunk?;
            report.headers += h;
            report.bodies += b;
            report.fields += f;
            if h == 0 {
                break;
            }
        }
        self.exec(|c| -> Result<(), JournalError> {
            c.execute_batch("PRAGMA incremental_vacuum;")?;
            checkpoint_truncate(c)
        })
        .await??;
        report.bytes_after = size();
        Ok(report)
    }
}

/// Copies the WAL into the database and truncates it, which is also when pages freed by
/// `incremental_vacuum` leave the file. A reader in the middle of a query keeps the
/// checkpoint from finishing; it is retried for up to a second, then left to the next.
fn checkpoint_truncate(c: &mut Connection) -> Result<(), JournalError> {
    for _ in 0..20 {
        let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    tracing::warn!("purge: readers kept the WAL from being truncated; the next checkpoint gives the space back");
    Ok(())
}

/// Deletes up to `limit` purgeable headers and what they leave unused.
fn purge_chunk(c: &mut Connection, before_us: i64, statuses: &str, limit: usize) -> rusqlite::Result<(u64, u64, u64)> {
    let tx = c.transaction()?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS purge_ids (id INTEGER PRIMARY KEY, body_id INTEGER); DELETE FROM purge_ids;",
    )?;
    tx.execute(
        &format!(
            "INSERT INTO purge_ids (id, body_id) SELECT id, body_id FROM headers \
             WHERE created_us < ?1 AND status IN ({statuses}) ORDER BY id LIMIT {limit}"
        ),
        [before_us],
    )?;
    let headers = tx.execute("DELETE FROM headers WHERE id IN (SELECT id FROM purge_ids)", [])? as u64;
    let orphan = "SELECT DISTINCT p.body_id FROM purge_ids p WHERE NOT EXISTS (SELECT 1 FROM headers h WHERE h.body_id = p.body_id)";
    let fields = tx.execute(&format!("DELETE FROM fields WHERE body_id IN ({orphan})"), [])? as u64;
    let bodies = tx.execute(&format!("DELETE FROM bodies WHERE id IN ({orphan})"), [])? as u64;
    tx.execute("DELETE FROM purge_ids", [])?;
    tx.commit()?;
    Ok((headers, bodies, fields))
}
