//! The journal's SQLite schema and connection settings.

use rusqlite::Connection;

/// Schema version stored in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

/// Tables and indexes. Indexes exist for what the message search filters on and no more
/// (each one costs on every insert): item (target), status (partial: unfinished only),
/// type, control id, session, indexed HL7 fields, and body_id for purge. Queue refills
/// read waiting headers through two partial indexes in queue order (FIFO/LIFO by id,
/// priority by priority then id); a hop finished within one indexer batch is written
/// finished and never touches them. Time ranges use
/// the primary key: ids are handed out in creation order, so a time bound maps to an id
/// bound found by binary search.
const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS bodies (
    id          INTEGER PRIMARY KEY,
    created_us  INTEGER NOT NULL,
    data        BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS headers (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL,
    correlation_id  INTEGER NOT NULL DEFAULT 0,
    causation_id    INTEGER NOT NULL DEFAULT 0,
    source          TEXT NOT NULL,
    target          TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    status          INTEGER NOT NULL,
    created_us      INTEGER NOT NULL,
    processed_us    INTEGER,
    doc_type        TEXT NOT NULL DEFAULT '',
    control_id      TEXT NOT NULL DEFAULT '',
    body_id         INTEGER NOT NULL,
    attributes      TEXT,
    ordering_key    TEXT,
    note            TEXT,
    reply           BLOB,
    reply_us        INTEGER
);
CREATE INDEX IF NOT EXISTS headers_session ON headers(session_id);
CREATE INDEX IF NOT EXISTS headers_target ON headers(target, id);
CREATE INDEX IF NOT EXISTS headers_control ON headers(control_id) WHERE control_id <> '';
CREATE INDEX IF NOT EXISTS headers_doc ON headers(doc_type, id);
CREATE INDEX IF NOT EXISTS headers_unfinished ON headers(status, id) WHERE status NOT IN (3, 6, 8);
CREATE INDEX IF NOT EXISTS headers_body ON headers(body_id);
CREATE INDEX IF NOT EXISTS headers_waiting ON headers(target, id) WHERE status IN (1, 2);
CREATE INDEX IF NOT EXISTS headers_waiting_priority ON headers(target, priority, id) WHERE status IN (1, 2);
CREATE TABLE IF NOT EXISTS adapter_state (
    item   TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (item, key)
);
CREATE TABLE IF NOT EXISTS fields (
    body_id  INTEGER NOT NULL,
    path     TEXT NOT NULL,
    value    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fields_path_value ON fields(path, value);
CREATE INDEX IF NOT EXISTS fields_body ON fields(body_id);
CREATE TABLE IF NOT EXISTS indexed_paths (
    path  TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS meta (
    key    TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
"#;

/// Applies connection settings every connection needs.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    Ok(())
}

/// Creates the schema on a new database and checks the version of an existing one.
pub fn initialise(conn: &Connection) -> rusqlite::Result<()> {
    // auto_vacuum must be chosen before the first table exists; INCREMENTAL lets purge give
    // disk space back without a full VACUUM (the incumbents' databases never shrink).
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(DDL)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    // The warehouse is rebuilt from the commit log after a crash, so its own commits need
    // not be synced; checkpoints still sync before log segments are dropped.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}
