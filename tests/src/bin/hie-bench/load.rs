//! The load generator: closed loop, fixed rate or pipelined MLLP senders.

use super::*;

/// A realistic ADT^A01 (MSH, EVN, PID, PD1, NK1, PV1, PV2, AL1, DG1, OBX, ZPI) padded with
/// an NTE to `size` bytes. PID-3.1 varies so ordering keys spread.
pub fn adt_a01(control_id: &str, seq: u64, size: usize) -> Vec<u8> {
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
pub fn connect(port: u16, timeout: Duration) -> std::io::Result<Client> {
    let c = Client::connect(port)?;
    c.stream.set_read_timeout(Some(timeout))?;
    Ok(c)
}

/// MSA-1 and MSA-2 of a reply, without a full parse.
pub fn msa(reply: &[u8]) -> Option<(String, String)> {
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

pub fn load(opts: &Opts) -> Result<(), String> {
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
                                // An accept: AA, or CA (HIE's services answer a v2.3+ message
                                // with commit codes under IRIS's default UseAckCommitCodes=1).
                                Some((code, id)) if hie_tests::hl7::is_accept_code(&code) && id == *control_id => {}
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
