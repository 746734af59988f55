//! The PostgreSQL server the SQL tests talk to: its address comes from
//! `HIE_TEST_POSTGRES` (set by `.ci/run`); a test skips loudly when it is unset.

/// The DSN and a connected client, or `None` (after saying SKIPPED) when
/// `HIE_TEST_POSTGRES` is unset. A set but unreachable server fails the test.
pub fn postgres(test: &str) -> Option<(String, postgres::Client)> {
    let Some(dsn) = std::env::var("HIE_TEST_POSTGRES").ok().filter(|d| !d.trim().is_empty()) else {
        eprintln!("SKIPPED {test}: HIE_TEST_POSTGRES is not set (e.g. \"host=127.0.0.1 user=postgres dbname=test\")");
        return None;
    };
    let client = postgres::Client::connect(&dsn, postgres::NoTls)
        .unwrap_or_else(|e| panic!("HIE_TEST_POSTGRES={dsn:?} is set but the server refuses: {e}"));
    Some((dsn, client))
}
