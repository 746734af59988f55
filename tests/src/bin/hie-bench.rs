//! `hie-bench`: the load tool behind `tests/bench/run.sh`.
//!
//! Benchmarks print figures and ratios against a bare baseline measured in the same run;
//! nothing here asserts on time. Subcommands (arguments parsed by hand):
//!
//! ```text
//! hie-bench echo  --port P                       bare MLLP ACK server: the transport bound
//! hie-bench sink  --port P [--count-file F]      the same, counting messages (downstream of engine runs)
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
//! hie-bench free-port
//! hie-bench now-ms
//! ```
//!
//! `load` is send-and-wait per connection (one frame out, wait for its ACK). Without
//! `--rate` it is closed-loop (as fast as the peer answers). With `--rate` every message has
//! a scheduled send time on a fixed aggregate schedule and its latency is measured from that
//! time, so a slow reply shows up in the latency of the messages queued behind it
//! (no coordinated omission).

use hie_hl7::mllp::{self, MllpDecoder, MllpItem};
use hie_tests::mllp::Client;
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
  hie-bench sink --port P [--count-file F]
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

// ---------------------------------------------------------------------------------------
// echo / sink

fn serve(opts: &Opts, counting: bool) -> Result<(), String> {
    let port: u16 = opts.num("port", None)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
    let count = Arc::new(AtomicU64::new(0));
    let count_file = opts.str("count-file").map(std::path::PathBuf::from);
    if counting {
        // Report the count: to the count file (atomically replaced) every 20 ms, and to
        // stdout once a second when it changed.
        let (count, file) = (count.clone(), count_file.clone());
        std::thread::spawn(move || {
            let mut last_file = u64::MAX;
            let mut last_print = 0u64;
            let mut last_print_at = Instant::now();
            loop {
                let n = count.load(Ordering::Relaxed);
                if let Some(f) = file.as_ref().filter(|_| n != last_file) {
                    let tmp = f.with_extension("tmp");
                    if std::fs::write(&tmp, format!("{n}\n")).is_ok() && std::fs::rename(&tmp, f).is_ok() {
                        last_file = n;
                    }
                }
                if n != last_print && last_print_at.elapsed() >= Duration::from_secs(1) {
                    println!("received {n}");
                    let _ = std::io::stdout().flush();
                    last_print = n;
                    last_print_at = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        if let Some(f) = &count_file {
            let _ = std::fs::write(f, "0\n");
        }
    }
    eprintln!("hie-bench {}: listening on 127.0.0.1:{port}", if counting { "sink" } else { "echo" });
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let count = count.clone();
        std::thread::spawn(move || serve_conn(stream, &count));
    }
    Ok(())
}

fn serve_conn(mut stream: TcpStream, count: &AtomicU64) {
    let _ = stream.set_nodelay(true);
    let mut decoder = MllpDecoder::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(4096);
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        out.clear();
        for item in decoder.decode(&mut buf) {
            let MllpItem::Frame(msg) = item else { continue };
            count.fetch_add(1, Ordering::Relaxed);
            let ack = match hie_hl7::parse(&msg) {
                Ok(parsed) => {
                    hie_hl7::ack::build_ack(&parsed, hie_hl7::ack::AckCode::AA, None, None, None, &hl7_timestamp())
                }
                Err(e) => {
                    let err =
                        hie_hl7::ack::AckError::new(hie_hl7::ack::err_code::APPLICATION_INTERNAL_ERROR, e.to_string());
                    hie_hl7::ack::nack_for_unparseable(&msg, hie_hl7::ack::AckCode::AR, &err, &hl7_timestamp(), None)
                }
            };
            mllp::encode_into(&mut out, &ack);
        }
        if !out.is_empty() && stream.write_all(&out).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// relay

/// The cheapest thing that moves a message from a sender to the sink: a thread per
/// inbound connection with its own blocking connection to the sink, writing each frame
/// on and relaying the sink's ACK back. Nothing is stored, parsed or queued, so its
/// throughput bounds any engine's on the same in → out path (four socket operations per
/// message in the middle instead of the echo's two).
fn relay(opts: &Opts) -> Result<(), String> {
    let port: u16 = opts.num("port", None)?;
    let to: u16 = opts.num("to", None)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
    eprintln!("hie-bench relay: listening on 127.0.0.1:{port}, relaying to 127.0.0.1:{to}");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            if let Err(e) = relay_conn(stream, to) {
                eprintln!("hie-bench relay: connection ended: {e}");
            }
        });
    }
    Ok(())
}

fn relay_conn(mut inbound: TcpStream, to: u16) -> std::io::Result<()> {
    let mut outbound = TcpStream::connect(("127.0.0.1", to))?;
    inbound.set_nodelay(true)?;
    outbound.set_nodelay(true)?;
    let (mut from_client, mut from_sink) = (MllpDecoder::default(), MllpDecoder::default());
    let (mut client_buf, mut sink_buf) = (Vec::with_capacity(64 * 1024), Vec::with_capacity(4096));
    let mut chunk = vec![0u8; 64 * 1024];
    let mut frame = Vec::with_capacity(4096);
    loop {
        let n = inbound.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        client_buf.extend_from_slice(&chunk[..n]);
        for item in from_client.decode(&mut client_buf) {
            let MllpItem::Frame(msg) = item else { continue };
            frame.clear();
            mllp::encode_into(&mut frame, &msg);
            outbound.write_all(&frame)?;
            // Wait for the sink's ACK, then hand it back as it came.
            let ack = loop {
                if let Some(MllpItem::Frame(ack)) =
                    from_sink.decode(&mut sink_buf).into_iter().find(|i| matches!(i, MllpItem::Frame(_)))
                {
                    break ack;
                }
                let n = outbound.read(&mut chunk)?;
                if n == 0 {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the sink closed"));
                }
                sink_buf.extend_from_slice(&chunk[..n]);
            };
            frame.clear();
            mllp::encode_into(&mut frame, &ack);
            inbound.write_all(&frame)?;
        }
    }
}

// ---------------------------------------------------------------------------------------
// load

/// A realistic ADT^A01 (MSH, EVN, PID, PD1, NK1, PV1, PV2, AL1, DG1, OBX, ZPI) padded with
/// an NTE to `size` bytes. PID-3.1 varies so ordering keys spread.
fn adt_a01(control_id: &str, seq: u64, size: usize) -> Vec<u8> {
    let mrn = format!("{:08}", 10_000_000 + seq % 50_000);
    let nhs = format!("9{:09}", seq % 1_000_000_000);
    let mut m = format!(
        "MSH|^~\\&|PAS|RXX01|EPR|RXX01|20260101120000||ADT^A01^ADT_A01|{control_id}|P|2.4||||||GBR|UNICODE UTF-8\r\
EVN|A01|20260101120000|||C123456^Jones^Sarah^^^Dr^^^RXX01|20260101115500\r\
PID|1||{mrn}^^^RXX01^MR~{nhs}^^^NHS^NH||SMITH^ALICE^MARY^^MRS||19800101|F|||1 HIGH STREET^^LEEDS^WEST YORKSHIRE^LS1 1AA^GBR^H||01130000000^PRN^PH~07700900000^ORN^CP|||M|C|||||A|||||||N\r\
PD1|||LEEDS MEDICAL PRACTICE^^B86001|G1234567^DOE^JOHN^^^DR\r\
NK1|1|SMITH^JOHN|SPO^Spouse|1 HIGH STREET^^LEEDS^WEST YORKSHIRE^LS1 1AA^GBR|01130000001\r\
PV1|1|I|WARD12^BED04^ROOM2^RXX01||||C123456^JONES^SARAH^^^DR|||GEN||||19|||C123456^JONES^SARAH^^^DR|IP|V{seq:09}^^^RXX01^VN|||||||||||||||||||||||RXX01||||||20260101115500\r\
PV2|||CHEST PAIN^Chest pain on exertion\r\
AL1|1|DA|PENICILLIN^Penicillin^L|SV|RASH\r\
DG1|1|I10|R07.4^Chest pain, unspecified^I10|||A\r\
OBX|1|NM|8867-4^Heart rate^LN||88|/min|60-100|N|||F\r\
ZPI|1|Bench load message|{seq}\r"
    )
    .into_bytes();
    if m.len() + 9 <= size {
        let pad = size - m.len() - 8; // "NTE|1||" + text + "\r"
        m.extend_from_slice(b"NTE|1||");
        let filler = b"Patient admitted via A&E for observation and further investigation. ";
        m.extend(filler.iter().cycle().take(pad).map(|&b| if b == b'&' { b'+' } else { b }));
        m.push(b'\r');
    }
    m
}

/// A load connection: the test kit's MLLP client with the run's reply timeout.
fn connect(port: u16, timeout: Duration) -> std::io::Result<Client> {
    let c = Client::connect(port)?;
    c.stream.set_read_timeout(Some(timeout))?;
    Ok(c)
}

/// MSA-1 and MSA-2 of a reply, without a full parse.
fn msa(reply: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(reply).ok()?;
    let seg = text.split(['\r', '\n']).find(|s| s.starts_with("MSA"))?;
    let sep = seg.chars().nth(3)?;
    let mut f = seg.split(sep).skip(1);
    Some((f.next()?.to_string(), f.next().unwrap_or("").to_string()))
}

#[derive(Default)]
struct ConnResult {
    /// Latencies in microseconds.
    latencies: Vec<u64>,
    /// (send time since start in µs, latency in µs, connection) for --latency-log.
    samples: Vec<(u64, u64, usize)>,
    errors: u64,
    nacks: u64,
    first_error: Option<String>,
    last_done: Option<Instant>,
}

fn load(opts: &Opts) -> Result<(), String> {
    let port: u16 = opts.num("port", None)?;
    let conns: usize = opts.num("connections", Some(1))?;
    let total: u64 = opts.num("messages", None)?;
    let rate: Option<f64> =
        opts.str("rate").map(|r| r.parse().map_err(|_| format!("--rate: not a number: {r}"))).transpose()?;
    let size: usize = opts.num("size", Some(1024))?;
    // Frames written at once on a connection before its replies are read (closed loop only).
    let pipeline: usize = opts.num("pipeline", Some(1))?;
    let timeout = Duration::from_secs_f64(opts.num("timeout", Some(30.0))?);
    let run_id = opts.str("run-id").map(str::to_string).unwrap_or_else(|| format!("B{:x}", unix_ms() % 0xFFFF_FFFF));
    if conns == 0 || total == 0 {
        return Err("--connections and --messages must be positive".into());
    }
    if rate.is_some_and(|r| r <= 0.0) {
        return Err("--rate must be positive".into());
    }
    if pipeline == 0 || (pipeline > 1 && rate.is_some()) {
        return Err("--pipeline must be positive, and 1 with --rate".into());
    }
    let sent_bytes = adt_a01(&format!("{run_id}-0-0"), 0, size).len();
    let latency_log = opts.str("latency-log").map(std::path::PathBuf::from);
    let keep_samples = latency_log.is_some();

    // Connect everyone first so connection setup is not timed.
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        let deadline = Instant::now() + Duration::from_secs(10);
        let c = loop {
            match connect(port, timeout) {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => return Err(format!("connect 127.0.0.1:{port}: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        streams.push(c);
    }

    let barrier = Arc::new(std::sync::Barrier::new(conns + 1));
    let start_cell = Arc::new(std::sync::OnceLock::<Instant>::new());
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::with_capacity(conns);
    for (ci, mut conn) in streams.into_iter().enumerate() {
        let (barrier, start_cell, next, stop, run_id) =
            (barrier.clone(), start_cell.clone(), next.clone(), stop.clone(), run_id.clone());
        // Open loop: connection ci sends messages ci, ci+N, ci+2N, ... of the aggregate
        // schedule (message k at start + k/rate).
        let my_count = total / conns as u64 + u64::from((ci as u64) < total % conns as u64);
        handles.push(std::thread::spawn(move || {
            let mut r = ConnResult { latencies: Vec::with_capacity(my_count as usize), ..Default::default() };
            let mut frame = Vec::with_capacity(size + 16);
            barrier.wait();
            let start = *start_cell.get().expect("start time");
            let mut local = 0u64;
            let mut batch: Vec<(u64, String)> = Vec::with_capacity(pipeline);
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                batch.clear();
                let scheduled = match rate {
                    None => {
                        let first = next.fetch_add(pipeline as u64, Ordering::Relaxed);
                        for seq in first..(first + pipeline as u64).min(total) {
                            batch.push((seq, format!("{run_id}-{ci}-{seq}")));
                        }
                        if batch.is_empty() {
                            break;
                        }
                        None
                    }
                    Some(rate) => {
                        if local >= my_count {
                            break;
                        }
                        let seq = local * conns as u64 + ci as u64;
                        local += 1;
                        let at = start + Duration::from_secs_f64(seq as f64 / rate);
                        let now = Instant::now();
                        if at > now {
                            std::thread::sleep(at - now);
                        }
                        batch.push((seq, format!("{run_id}-{ci}-{seq}")));
                        Some(at)
                    }
                };
                frame.clear();
                for (seq, control_id) in &batch {
                    mllp::encode_into(&mut frame, &adt_a01(control_id, *seq, size));
                }
                let sent_at = scheduled.unwrap_or_else(Instant::now);
                // One write for the whole batch (pipelining), then its replies in order.
                let mut failed = conn.write_raw(&frame).err();
                for (_, control_id) in &batch {
                    if failed.is_some() {
                        break;
                    }
                    match conn.read_reply() {
                        Ok(reply) => {
                            let done = Instant::now();
                            let us = done.saturating_duration_since(sent_at).as_micros() as u64;
                            r.latencies.push(us);
                            if keep_samples {
                                r.samples.push((sent_at.saturating_duration_since(start).as_micros() as u64, us, ci));
                            }
                            r.last_done = Some(done);
                            match msa(&reply) {
                                // Original mode (MSH-15/16 empty): AA. CA would be a commit ACK.
                                Some((code, id)) if (code == "AA" || code == "CA") && id == *control_id => {}
                                other => {
                                    r.nacks += 1;
                                    r.errors += 1;
                                    if r.first_error.is_none() {
                                        r.first_error = Some(format!(
                                            "reply {:?} for {control_id}: {}",
                                            other,
                                            String::from_utf8_lossy(&reply).replace('\r', "\\r")
                                        ));
                                    }
                                }
                            }
                        }
                        Err(e) => failed = Some(e),
                    }
                }
                if let Some(e) = failed {
                    r.errors += 1;
                    if r.first_error.is_none() {
                        r.first_error = Some(format!("connection {ci}: {e}"));
                    }
                    // Reconnect once; give up on this connection if that fails.
                    match connect(port, timeout) {
                        Ok(c) => conn = c,
                        Err(_) => break,
                    }
                }
            }
            r
        }));
    }
    let start_unix_ms = unix_ms();
    let start = Instant::now();
    let _ = start_cell.set(start);
    barrier.wait();
    let mut all = ConnResult::default();
    for h in handles {
        let r = h.join().map_err(|_| "a load thread panicked".to_string())?;
        all.latencies.extend(r.latencies);
        all.samples.extend(r.samples);
        all.errors += r.errors;
        all.nacks += r.nacks;
        if all.first_error.is_none() {
            all.first_error = r.first_error;
        }
        all.last_done = match (all.last_done, r.last_done) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(path) = &latency_log {
        all.samples.sort_unstable();
        let mut text = String::from("send_ms\tlatency_ms\tconnection\n");
        for (at, us, ci) in &all.samples {
            text.push_str(&format!("{:.3}\t{:.3}\t{ci}\n", *at as f64 / 1000.0, *us as f64 / 1000.0));
        }
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let elapsed = all.last_done.unwrap_or_else(Instant::now).saturating_duration_since(start).as_secs_f64().max(1e-9);
    let acked = all.latencies.len() as u64;
    let mut lat = all.latencies;
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let idx = ((p / 100.0) * lat.len() as f64).ceil() as usize;
        lat[idx.clamp(1, lat.len()) - 1] as f64 / 1000.0
    };
    let mean = if lat.is_empty() { 0.0 } else { lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1000.0 };
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    let out = serde_json::json!({
        "mode": if rate.is_some() { "open-loop" } else { "closed-loop" },
        "port": port,
        "connections": conns,
        "pipeline": pipeline,
        "messages": total,
        "message_bytes": sent_bytes,
        "rate_target": rate,
        "run_id": run_id,
        "acked": acked,
        "errors": all.errors,
        "nacks": all.nacks,
        "first_error": all.first_error,
        "elapsed_s": round(elapsed),
        "throughput": round(acked as f64 / elapsed),
        // The load tool's own CPU (all threads, connecting included) per message: its share
        // of the machine, next to the engine's and the sink's in run.sh's CPU table.
        "cpu_us_per_msg": round(process_cpu_seconds() * 1e6 / acked.max(1) as f64),
        "start_unix_ms": start_unix_ms as u64,
        "end_unix_ms": start_unix_ms as u64 + (elapsed * 1000.0) as u64,
        "latency_ms": {
            "p50": round(pct(50.0)),
            "p90": round(pct(90.0)),
            "p99": round(pct(99.0)),
            "p999": round(pct(99.9)),
            "max": round(lat.last().copied().unwrap_or(0) as f64 / 1000.0),
            "mean": round(mean),
        },
    });
    println!("{out}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// fsync-rate

fn fsync_rate(opts: &Opts) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::AsRawFd;
    let dir = std::path::PathBuf::from(opts.req("dir")?);
    let seconds: f64 = opts.num("seconds", Some(5.0))?;
    // append: every sync also makes the file longer (size metadata to journal), the
    // brief's definition. overwrite: 1 KiB blocks rewritten in a preallocated 1 MiB file,
    // the way SQLite reuses its WAL after a checkpoint (data only). direct: 4 KiB blocks
    // of a preallocated file written with O_DIRECT, then fdatasync (a device cache flush
    // only), the way HIE's commit log writes in fsync mode.
    let mode = opts.str("mode").unwrap_or("append").to_string();
    if !["append", "overwrite", "direct"].contains(&mode.as_str()) {
        return Err(format!("--mode: append, overwrite or direct, not {mode}"));
    }
    let path = dir.join(format!(".hie-bench-fsync-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    const RING: u64 = 1024;
    // 4 KiB aligned blocks for O_DIRECT (an aligned window of an over-allocated buffer).
    let step: u64 = if mode == "direct" { 4096 } else { 1024 };
    if mode != "append" {
        f.write_all(&vec![0u8; (RING * step) as usize]).map_err(|e| format!("preallocate: {e}"))?;
        f.sync_all().map_err(|e| format!("fsync: {e}"))?;
    }
    if mode == "direct" {
        use std::os::unix::fs::OpenOptionsExt;
        f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .map_err(|e| format!("open {} with O_DIRECT: {e}", path.display()))?;
    }
    let mut staging = vec![b'x'; 2 * 4096];
    let at = staging.as_ptr().align_offset(4096);
    let block = &mut staging[at..at + step as usize];
    let mut lat = Vec::new();
    let start = Instant::now();
    let limit = Duration::from_secs_f64(seconds);
    let mut failure = None;
    let mut i = 0u64;
    while start.elapsed() < limit {
        let t = Instant::now();
        let written = if mode == "append" { f.write_all(block) } else { f.write_all_at(block, (i % RING) * step) };
        i += 1;
        if let Err(e) = written {
            failure = Some(format!("write: {e}"));
            break;
        }
        // SAFETY: fdatasync on a file descriptor we own and keep open.
        if unsafe { libc::fdatasync(f.as_raw_fd()) } != 0 {
            failure = Some(format!("fdatasync: {}", std::io::Error::last_os_error()));
            break;
        }
        lat.push(t.elapsed().as_micros() as u64);
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    if let Some(e) = failure {
        return Err(e);
    }
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        let idx = ((p / 100.0) * lat.len() as f64).ceil() as usize;
        lat[idx.clamp(1, lat.len()) - 1] as f64 / 1000.0
    };
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "dir": dir.display().to_string(),
            "mode": mode,
            "syncs": lat.len(),
            "seconds": round(elapsed),
            "syncs_per_s": round(lat.len() as f64 / elapsed),
            "latency_ms": {"p50": round(pct(50.0)), "p99": round(pct(99.0)), "p999": round(pct(99.9)), "max": round(pct(100.0))},
        })
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// rss, waits, helpers

fn proc_status_kb(pid: u32, key: &str) -> Result<u64, String> {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(key).and_then(|r| r.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        })
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}

fn rss(opts: &Opts) -> Result<(), String> {
    let pid: u32 = opts.num("pid", None)?;
    let kb = proc_status_kb(pid, "VmRSS")?;
    if opts.flag("json") {
        let hwm = proc_status_kb(pid, "VmHWM").unwrap_or(0);
        println!("{}", serde_json::json!({"pid": pid, "rss_bytes": kb * 1024, "hwm_bytes": hwm * 1024}));
    } else {
        println!("{}", kb * 1024);
    }
    Ok(())
}

/// Polls `GET /api/production` every 10 ms until `--item`'s queue_depth (+ in_flight with
/// `--in-flight`) reaches `--depth` (and the production is Running with `--running`).
/// Prints the elapsed seconds and the last figures as JSON.
fn wait_depth(opts: &Opts) -> Result<(), String> {
    let api = opts.req("api")?;
    let item = opts.req("item")?;
    let depth: u64 = opts.num("depth", None)?;
    let running = opts.flag("running");
    let in_flight = opts.flag("in-flight");
    let timeout = Duration::from_secs_f64(opts.num("timeout", Some(600.0))?);
    let start = Instant::now();
    let mut last = String::from("no answer yet");
    loop {
        let answer = hie_tests::api::request(api, "GET", "/api/production", None)
            .ok()
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok());
        if let Some(v) = answer {
            let state = v["state"].as_str().unwrap_or("").to_string();
            let it = v["items"].as_array().and_then(|a| a.iter().find(|i| i["name"] == item).cloned());
            if let Some(it) = it {
                let q = it["queue_depth"].as_u64().unwrap_or(0);
                let f = it["in_flight"].as_u64().unwrap_or(0);
                let have = q + if in_flight { f } else { 0 };
                last = format!("state {state}, {item} queue_depth {q}, in_flight {f}");
                if have >= depth && (!running || state == "Running") {
                    println!(
                        "{}",
                        serde_json::json!({"elapsed_s": start.elapsed().as_secs_f64(), "state": state, "queue_depth": q, "in_flight": f})
                    );
                    return Ok(());
                }
            } else {
                last = format!("state {state}, no item {item}");
            }
        }
        if start.elapsed() > timeout {
            return Err(format!("timed out after {timeout:?}: {last}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the number in `--file` (a sink's count file) reaches `--count`; prints the
/// wall-clock time it did (unix ms).
fn wait_count(opts: &Opts) -> Result<(), String> {
    let file = opts.req("file")?;
    let count: u64 = opts.num("count", None)?;
    let timeout = Duration::from_secs_f64(opts.num("timeout", Some(600.0))?);
    let start = Instant::now();
    let mut have = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(file) {
            have = s.trim().parse().unwrap_or(have);
            if have >= count {
                println!("{}", serde_json::json!({"count": have, "unix_ms": unix_ms() as u64}));
                return Ok(());
            }
        }
        if start.elapsed() > timeout {
            return Err(format!("timed out after {timeout:?}: {file} has {have} of {count}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn free_port() -> Result<(), String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    println!("{}", l.local_addr().map_err(|e| e.to_string())?.port());
    Ok(())
}

/// `json FILE PATH`: prints the value at a dotted path; strings without quotes, missing as `null`.
fn json_get(args: &[String]) -> Result<(), String> {
    let [file, path] = args else { return Err("usage: hie-bench json FILE PATH".into()) };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let mut v: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| format!("{file}: {e}"))?;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        v = match part.parse::<usize>() {
            Ok(i) if v.is_array() => v[i].take(),
            _ => v[part].take(),
        };
    }
    match v {
        serde_json::Value::String(s) => println!("{s}"),
        other => println!("{other}"),
    }
    Ok(())
}

/// `post --api ADDR --path P [--body JSON]`: fails unless the answer is 2xx.
fn post(opts: &Opts) -> Result<(), String> {
    let (api, path) = (opts.req("api")?, opts.req("path")?);
    let (status, body) =
        hie_tests::api::request(api, "POST", path, opts.str("body")).map_err(|e| format!("POST {path}: {e}"))?;
    if !(200..300).contains(&status) {
        return Err(format!("POST {path}: HTTP {status}: {body}"));
    }
    println!("{body}");
    Ok(())
}
