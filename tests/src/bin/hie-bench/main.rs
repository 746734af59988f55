//! `hie-bench`: the load tool behind `tests/bench/run.sh`.
//!
//! Benchmarks print figures and ratios against a bare baseline measured in the same run;
//! nothing here asserts on time. Subcommands (arguments parsed by hand):
//!
//! ```text
//! hie-bench echo  --port P                       bare MLLP ACK server: the transport bound
//! hie-bench sink  --port P [--count-file F] [--ids-file F]  the same, counting messages (and logging MSH-10s)
//! hie-bench relay --port P --to SINK_PORT        bare MLLP relay: each connection forwards to its own
//!                                                connection to the sink and relays the sink's ACK; the
//!                                                bound of any engine on the in → out path (no store)
//! hie-bench load  --port P --connections N --messages M [--rate R] [--size BYTES] [--run-id ID]
//!                 [--pipeline K]                  K frames in one write per connection, then their K ACKs
//! hie-bench fsync-rate --dir D [--seconds S] [--mode append|overwrite|direct]
//!                                                fdatasync rate of a 1 KiB append (or overwrite,
//!                                                or 4 KiB O_DIRECT overwrite) per sync
//! hie-bench rss   --pid PID                      VmRSS of a process, in bytes
//! hie-bench wait-depth --api ADDR --item NAME --depth N [--running] [--timeout S]
//! hie-bench wait-count --file F --count N [--timeout S]
//! hie-bench post --api ADDR --path P           POST to the management API (fails unless 2xx)
//! hie-bench json FILE a.b.c                    a value out of a JSON file (no jq needed)
//! hie-bench sql-select --dsn D --query Q --rows N  bare SELECT loop: Q (one `$1`, the last key
//!                                                read) again and again until N rows are read;
//!                                                the bound of the SQL inbound adapter
//! hie-bench soak-send --port P --rate R --seconds S --acked-file F [--connections N]
//!                                                the soak's sender: resends until AA or CA,
//!                                                logs the accepted ids
//! hie-bench sql-exec --dsn D --sql S             runs statements (benchmark set-up, no psql needed)
//! hie-bench routing --fixtures DIR [--iterations N]  per-message cost of IRIS rules, their YAML
//!                                                twin, a DTL and Validation, against parsing alone
//! hie-bench free-port
//! hie-bench now-ms
//! ```
//!
//! `load` is send-and-wait per connection (one frame out, wait for its ACK). Without
//! `--rate` it is closed-loop (as fast as the peer answers). With `--rate` every message has
//! a scheduled send time on a fixed aggregate schedule and its latency is measured from that
//! time, so a slow reply shows up in the latency of the messages queued behind it
//! (no coordinated omission).

mod disk;
mod host;
mod load;
mod routing;
mod servers;
mod soak;
mod sql;

use disk::fsync_rate;
use hie_hl7::mllp::{self, MllpDecoder, MllpItem};
use hie_tests::mllp::Client;
use host::{free_port, json_get, post, rss, wait_count, wait_depth};
use load::load;
use servers::{relay, serve};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first().cloned() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let opts = match if cmd == "json" { Ok(Opts(HashMap::new())) } else { Opts::parse(&args[1..]) } {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hie-bench {cmd}: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd.as_str() {
        "echo" => serve(&opts, false),
        "sink" => serve(&opts, true),
        "relay" => relay(&opts),
        "load" => load(&opts),
        "fsync-rate" => fsync_rate(&opts),
        "rss" => rss(&opts),
        "wait-depth" => wait_depth(&opts),
        "wait-count" => wait_count(&opts),
        "post" => post(&opts),
        "sql-select" => sql::select(&opts),
        "sql-exec" => sql::exec(&opts),
        "soak-send" => soak::send(&opts),
        "routing" => routing::routing(&opts),
        "free-port" => free_port(),
        "json" => json_get(&args[1..]),
        "now-ms" => {
            println!("{}", unix_ms());
            Ok(())
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown subcommand {other}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hie-bench {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage:
  hie-bench echo --port P
  hie-bench sink --port P [--count-file F] [--ids-file F]
  hie-bench relay --port P --to SINK_PORT
  hie-bench load --port P --connections N --messages M [--rate R] [--size BYTES] [--run-id ID] [--timeout S]
                 [--pipeline K]         (K frames per write on each connection, closed loop)
                 [--latency-log FILE]   (per message: send time, latency, connection; TSV)
  hie-bench fsync-rate --dir D [--seconds S] [--mode append|overwrite|direct]
  hie-bench rss --pid PID
  hie-bench wait-depth --api ADDR --item NAME --depth N [--running] [--timeout S]
  hie-bench wait-count --file F --count N [--timeout S]
  hie-bench post --api ADDR --path /api/items/NAME/pause
  hie-bench json FILE PATH                       print the value at a dotted path (a.b.0.c) of a JSON file
  hie-bench sql-select --dsn DSN --query 'SELECT id, body FROM t WHERE id > $1 ORDER BY id LIMIT 500' --rows N
  hie-bench soak-send --port P --rate R --seconds S --acked-file F [--connections N]
  hie-bench sql-exec --dsn DSN --sql 'CREATE TABLE ...'
  hie-bench routing --fixtures tests/fixtures/iris [--iterations N]
  hie-bench free-port | now-ms";

/// `--key value` pairs and bare `--flag`s.
struct Opts(HashMap<String, Option<String>>);

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut map = HashMap::new();
        let mut i = 0;
        while i < args.len() {
            let Some(key) = args[i].strip_prefix("--") else {
                return Err(format!("unexpected argument {}", args[i]));
            };
            let value = args.get(i + 1).filter(|v| !v.starts_with("--")).cloned();
            i += if value.is_some() { 2 } else { 1 };
            map.insert(key.to_string(), value);
        }
        Ok(Opts(map))
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.as_deref())
    }

    fn req(&self, key: &str) -> Result<&str, String> {
        self.str(key).ok_or_else(|| format!("--{key} is required"))
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: Option<T>) -> Result<T, String> {
        match self.str(key) {
            Some(v) => v.parse().map_err(|_| format!("--{key}: not a number: {v}")),
            None => default.ok_or_else(|| format!("--{key} is required")),
        }
    }

    fn flag(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

/// User plus system CPU time this process has used, in seconds.
fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and keeps no reference to it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn unix_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

fn hl7_timestamp() -> String {
    // Fixed-width, good enough for MSH-7 of an ACK (no time zone arithmetic needed).
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}
