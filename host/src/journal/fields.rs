//! Keeping the search index of HL7 field values complete for the production's
//! `SearchFields`.
//!
//! Field values are indexed as bodies are stored, for the paths the production names at
//! that moment. A path added later (a reload, a restart with an edited file) would find
//! only messages stored after it, and a path dropped would stop being indexed for new
//! ones. So the warehouse records which paths are *complete* (`indexed_paths`: every
//! stored body has its rows), search uses the index only for those and scans bodies
//! for the rest, and [`Journal::sync_search_fields`] brings a new path up to date by
//! indexing the stored bodies in the background, in short transactions on the
//! indexer's connection.

use super::{Journal, JournalError};
use crate::lock::{LockExt, RwLockExt};
use crate::value_paths::{ValuePaths, category_of};
use hie_hl7_schema::FieldPath;
use rusqlite::{Connection, params};
use std::collections::HashSet;
use std::sync::Arc;

/// Bodies indexed per transaction while bringing a path up to date: short enough that
/// the indexer, which runs them in order with everything else, is never held up long.
const BODIES_PER_CHUNK: usize = 500;

/// What [`Journal::sync_search_fields`] did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FieldsSync {
    /// Paths whose stored bodies were indexed now.
    pub added: Vec<String>,
    /// Paths no longer complete (the production stopped naming them).
    pub dropped: Vec<String>,
    /// Bodies read to index the added paths.
    pub bodies: u64,
    /// Field rows written for them.
    pub fields: u64,
}

/// The complete paths, as the warehouse records them.
pub(super) fn load_complete(conn: &Connection) -> rusqlite::Result<HashSet<String>> {
    let mut stmt = conn.prepare("SELECT path FROM indexed_paths")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.collect()
}

impl Journal {
    /// Whether every stored body has its index rows for `path`.
    pub fn field_index_complete(&self, path: &str) -> bool {
        self.complete_paths.read_unpoisoned().contains(path)
    }

    /// The paths whose index is complete, sorted.
    pub fn complete_field_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.complete_paths.read_unpoisoned().iter().cloned().collect();
        paths.sort();
        paths
    }

    /// Records the production's `SearchFields`, for the next [`Journal::sync_search_fields`].
    /// Call once the plan naming them is in force, so bodies stored from then on carry
    /// their rows.
    pub fn want_search_fields(&self, paths: Arc<ValuePaths>) {
        *self.wanted_paths.lock_unpoisoned() = paths;
    }

    /// The production's value paths as last set (empty before a plan is in force).
    pub fn value_paths(&self) -> Arc<ValuePaths> {
        self.wanted_paths.lock_unpoisoned().clone()
    }

    /// Makes the index complete for exactly the paths last wanted: paths no longer named
    /// stop counting as complete at once, and stored bodies are indexed for the new ones,
    /// which count as complete when that is done. One sync runs at a time, and each works
    /// towards the latest wish, so syncs that overlap end where the last one wanted.
    pub async fn sync_search_fields(&self) -> Result<FieldsSync, JournalError> {
        let _one_at_a_time = self.fields_sync.lock().await;
        let paths = self.value_paths();
        let wanted: HashSet<String> = paths.search().iter().map(|p| p.text().to_string()).collect();
        let complete = self.exec(|c| load_complete(c)).await??;
        let mut report = FieldsSync {
            dropped: complete.difference(&wanted).cloned().collect(),
            added: wanted.difference(&complete).cloned().collect(),
            ..FieldsSync::default()
        };
        report.dropped.sort();
        report.added.sort();
        if !report.dropped.is_empty() {
            let dropped = report.dropped.clone();
            self.set_complete(|set| set.retain(|p| !dropped.contains(p)));
            let dropped = report.dropped.clone();
            self.exec(move |c| execute_each(c, "DELETE FROM indexed_paths WHERE path = ?1", &dropped)).await??;
        }
        if report.added.is_empty() {
            return Ok(report);
        }
        let added: Arc<Vec<usize>> = Arc::new(
            paths
                .search()
                .iter()
                .enumerate()
                .filter(|(_, p)| report.added.iter().any(|a| a == p.text()))
                .map(|(i, _)| i)
                .collect(),
        );
        // Bodies handed in before now were stored under the previous paths: let them in first.
        self.flush().await?;
        let mut after = 0i64;
        loop {
            let (chunk, which) = (paths.clone(), added.clone());
            let (bodies, fields, last) = self.exec(move |c| index_chunk(c, &chunk, &which, after)).await??;
            if bodies == 0 {
                break;
            }
            report.bodies += bodies;
            report.fields += fields;
            after = last;
        }
        let added = report.added.clone();
        self.exec(move |c| execute_each(c, "INSERT OR IGNORE INTO indexed_paths (path) VALUES (?1)", &added)).await??;
        let added = report.added.clone();
        self.set_complete(|set| set.extend(added));
        Ok(report)
    }

    fn set_complete(&self, f: impl FnOnce(&mut HashSet<String>)) {
        f(&mut self.complete_paths.write_unpoisoned());
    }
}

/// Runs `sql` once for each of `paths` (its one parameter).
fn execute_each(c: &mut Connection, sql: &str, paths: &[String]) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached(sql)?;
    for p in paths {
        stmt.execute([p])?;
    }
    Ok(())
}

/// Indexes the search paths at positions `which` for up to [`BODIES_PER_CHUNK`] bodies
/// with ids above `after`, in one transaction, replacing rows a body may already have for
/// them. A body is read with the schema category of the session it first came in with.
/// Returns (bodies, field rows, last body id).
fn index_chunk(
    c: &mut Connection,
    paths: &ValuePaths,
    which: &[usize],
    after: i64,
) -> rusqlite::Result<(u64, u64, i64)> {
    let chosen: Vec<&FieldPath> = which.iter().filter_map(|i| paths.search().get(*i)).collect();
    let tx = c.transaction()?;
    let (mut bodies, mut fields, mut last) = (0u64, 0u64, after);
    {
        let mut read = tx.prepare_cached(
            "SELECT b.id, b.data, (SELECT attributes FROM headers h WHERE h.body_id = b.id ORDER BY h.id LIMIT 1) \
             FROM bodies b WHERE b.id > ?1 ORDER BY b.id LIMIT ?2",
        )?;
        let mut clear = tx.prepare_cached("DELETE FROM fields WHERE body_id = ?1 AND path = ?2")?;
        let mut insert = tx.prepare_cached("INSERT INTO fields (body_id, path, value) VALUES (?1, ?2, ?3)")?;
        let mut rows = read.query(params![after, BODIES_PER_CHUNK as i64])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let data: Vec<u8> = row.get(1)?;
            let attributes: Vec<(String, String)> =
                row.get::<_, Option<String>>(2)?.and_then(|a| serde_json::from_str(&a).ok()).unwrap_or_default();
            bodies += 1;
            last = id;
            for p in &chosen {
                clear.execute(params![id, p.text()])?;
            }
            // A body that is not HL7 has no field values.
            let Ok(msg) = crate::value_paths::parse_stored(&data, &attributes) else { continue };
            let category = category_of(&attributes);
            for p in &chosen {
                let Some(value) = p.value(&msg, paths.registry(), category).filter(|v| !v.is_empty()) else { continue };
                insert.execute(params![id, p.text(), value.as_ref()])?;
                fields += 1;
            }
        }
    }
    tx.commit()?;
    Ok((bodies, fields, last))
}
