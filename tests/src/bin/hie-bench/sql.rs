//! The bare SELECT loop: the bound of the SQL inbound adapter on the same database.
//!
//! It runs the adapter's kind of query (rows after the last key, in key order) again and
//! again, reading every column of every row as text as the adapter does, until it has
//! read the rows asked for. No message is stored or sent: what it reaches is what any
//! polling adapter could reach on this database.

use super::Opts;
use std::time::Instant;

/// `sql-select --dsn D --query Q --rows N`: prints `{"rows", "seconds", "rows_per_s", "queries"}`.
pub fn select(opts: &Opts) -> Result<(), String> {
    let dsn = opts.req("dsn")?;
    let query = opts.req("query")?;
    let want: u64 = opts.num("rows", None)?;
    let mut client = postgres::Client::connect(dsn, postgres::NoTls).map_err(|e| format!("connect: {e}"))?;
    let statement = client.prepare(query).map_err(|e| format!("prepare: {e}"))?;
    let started = Instant::now();
    let (mut rows, mut queries, mut last_key) = (0u64, 0u64, 0i64);
    let mut bytes = 0usize;
    while rows < want {
        let batch = client.query(&statement, &[&last_key]).map_err(|e| format!("query: {e}"))?;
        queries += 1;
        if batch.is_empty() {
            return Err(format!("the query ran dry after {rows} rows (wanted {want})"));
        }
        for row in &batch {
            last_key = row.try_get(0).map_err(|e| format!("the first column must be the bigint key: {e}"))?;
            for i in 1..row.len() {
                let text: Option<String> = row.try_get(i).map_err(|e| format!("column {i}: {e}"))?;
                bytes += text.map_or(0, |t| t.len());
            }
        }
        rows += batch.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"rows\": {rows}, \"seconds\": {seconds:.3}, \"rows_per_s\": {:.1}, \"queries\": {queries}, \"bytes\": {bytes}}}",
        rows as f64 / seconds
    );
    Ok(())
}

/// `sql-exec --dsn D --sql S`: runs S (one or more statements) and prints nothing; the
/// benchmarks' table set-up, so they need no psql.
pub fn exec(opts: &Opts) -> Result<(), String> {
    let dsn = opts.req("dsn")?;
    let sql = opts.req("sql")?;
    let mut client = postgres::Client::connect(dsn, postgres::NoTls).map_err(|e| format!("connect: {e}"))?;
    client.batch_execute(sql).map_err(|e| format!("{e}"))
}
