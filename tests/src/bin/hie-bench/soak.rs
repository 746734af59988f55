//! The soak's sender: messages at a fixed rate for a time, through kills and outages.
//!
//! Each connection sends `SOAK-<conn>-<n>` in order, one at a time, waiting for its ACK
//! (as an HL7 sender does). A connection that breaks, or an answer other than an accept
//! (AA, or CA: HIE's services send commit codes for v2.3+ messages under IRIS's default
//! UseAckCommitCodes=1), is retried with the same message after a pause (at-least-once,
//! as real senders resend), so the engine's restarts cost duplicates downstream, never
//! gaps. Every accepted id is appended to `--acked-file`: what the engine promised to
//! deliver.

use super::*;

/// `soak-send --port P --rate R --seconds S --acked-file F [--connections N]`: prints
/// `{"sent", "acked", "retries", "seconds"}`.
pub fn send(opts: &Opts) -> Result<(), String> {
    let port: u16 = opts.num("port", None)?;
    let rate: f64 = opts.num("rate", None)?;
    let seconds: f64 = opts.num("seconds", None)?;
    let conns: usize = opts.num("connections", Some(4))?;
    let acked_file = opts.req("acked-file")?.to_string();
    let out = Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&acked_file)
            .map_err(|e| format!("{acked_file}: {e}"))?,
    ));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let per_conn = Duration::from_secs_f64(conns as f64 / rate);
    let (sent, acked, retries) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let handles: Vec<_> = (0..conns)
        .map(|ci| {
            let (out, sent, acked, retries) = (out.clone(), sent.clone(), acked.clone(), retries.clone());
            std::thread::spawn(move || {
                let mut client: Option<Client> = None;
                let mut next = Instant::now() + per_conn.mul_f64(ci as f64 / conns as f64);
                let mut n = 0u64;
                while Instant::now() < until {
                    let now = Instant::now();
                    if now < next {
                        std::thread::sleep(next - now);
                    }
                    next += per_conn;
                    let id = format!("SOAK-{ci}-{n}");
                    let msg = load::adt_a01(&id, n, 800);
                    // The same message until it is acknowledged.
                    loop {
                        if Instant::now() > until + Duration::from_secs(120) {
                            return;
                        }
                        let c = match client.as_mut() {
                            Some(c) => c,
                            None => match load::connect(port, Duration::from_secs(30)) {
                                Ok(c) => client.insert(c),
                                Err(_) => {
                                    std::thread::sleep(Duration::from_millis(200));
                                    continue;
                                }
                            },
                        };
                        sent.fetch_add(1, Ordering::Relaxed);
                        match c.send(&msg).ok().and_then(|r| load::msa(&r)) {
                            Some((code, _)) if hie_tests::hl7::is_accept_code(&code) => {
                                acked.fetch_add(1, Ordering::Relaxed);
                                if let Ok(mut f) = out.lock() {
                                    let _ = writeln!(f, "{id}");
                                }
                                break;
                            }
                            Some(_) => {
                                retries.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(200));
                            }
                            None => {
                                retries.fetch_add(1, Ordering::Relaxed);
                                client = None;
                                std::thread::sleep(Duration::from_millis(200));
                            }
                        }
                    }
                    n += 1;
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    println!(
        "{{\"sent\": {}, \"acked\": {}, \"retries\": {}, \"seconds\": {:.1}}}",
        sent.load(Ordering::Relaxed),
        acked.load(Ordering::Relaxed),
        retries.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
