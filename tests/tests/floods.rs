//! Issue 15: floods. Too many senders, slow senders, thousands of idle connections and a
//! flooded management API each get a bounded, logged answer, and the senders that behave
//! keep being served.

use hie_hl7::mllp;
use hie_tests::engine::Engine;
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, free_port, hl7, wait_for};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The longest a real sender waits for an ACK before it resends.
const SENDER_TIMEOUT: Duration = Duration::from_secs(10);

fn production(dir: &TempDir, in_port: u16, out_port: u16, adapter: &str) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: Floods
durability: process
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}{adapter}}}
    host_settings: {{TargetConfigNames: Out}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
    host_settings: {{RetryInterval: 1}}
"#
        ),
    )
    .expect("production");
    config
}

/// Whether the peer has closed `s`: a read returns end of file (or a reset) within `wait`.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let _ = s.set_read_timeout(Some(wait));
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// Sends an ADT with control id `id`; the service's reply. The floods are about being
/// answered at all, so the tests check it with [`hl7::accepted`] (AA or CA), not one code.
fn ack_of(client: &mut Client, id: &str) -> Vec<u8> {
    client.send(&hl7::adt(id, "MRN")).expect("an ACK")
}

/// Sends an ADT with control id `id` and checks the service accepted it.
fn assert_accepted(client: &mut Client, id: &str) {
    let ack = ack_of(client, id);
    assert!(hl7::accepted(&ack), "{id} accepted: {}", String::from_utf8_lossy(&ack));
}

#[test]
fn at_max_connections_another_sender_is_closed_at_once_logged_with_its_peer_and_the_others_are_served() {
    let dir = TempDir::new("floods-maxconn");
    let rx = Receiver::start(free_port());
    let port = free_port();
    let config = production(&dir, port, rx.port, ", MaxConnections: 3");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut held: Vec<Client> = (0..3).map(|_| Client::connect_retry(port)).collect();
    for (i, c) in held.iter_mut().enumerate() {
        assert_accepted(c, &format!("HELD{i}"));
    }
    let mut extra = TcpStream::connect(("127.0.0.1", port)).expect("the TCP handshake still completes");
    let extra_port = extra.local_addr().expect("addr").port();
    assert!(closed_within(&mut extra, SENDER_TIMEOUT), "the fourth connection is closed, not queued");
    wait_for(Duration::from_secs(10), "the refusal in the log with the peer", || {
        let log = engine.log_text();
        (log.contains("MaxConnections reached") && log.contains(&format!(":{extra_port}"))).then_some(())
    });
    // The three keep being served, and a place freed is taken by the next sender.
    for (i, c) in held.iter_mut().enumerate() {
        assert_accepted(c, &format!("AGAIN{i}"));
    }
    drop(held.pop());
    let mut next = wait_for(Duration::from_secs(10), "a connection in the freed place", || {
        let mut c = Client::connect(port).ok()?;
        hl7::accepted(&c.send(&hl7::adt("NEXT", "MRN")).ok()?).then_some(c)
    });
    assert_accepted(&mut next, "NEXT2");
    rx.wait_for_count(8, Duration::from_secs(20));
}

#[test]
fn a_sender_trickling_one_byte_at_a_time_is_cut_off_at_read_timeout_and_never_delays_another() {
    let dir = TempDir::new("floods-slow");
    let rx = Receiver::start(free_port());
    let port = free_port();
    let config = production(&dir, port, rx.port, ", ReadTimeout: 1");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    // The slow sender: a frame of a few hundred bytes, one byte every 100 ms (it would
    // take half a minute to finish).
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let frame = mllp::encode(&hl7::adt("SLOW", "MRN"));
        let started = Instant::now();
        for b in &frame {
            if s.write_all(&[*b]).is_err() {
                return (false, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
            let _ = s.set_nonblocking(true);
            let mut buf = [0u8; 64];
            let gone = match s.read(&mut buf) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            };
            let _ = s.set_nonblocking(false);
            if gone {
                return (false, started.elapsed());
            }
        }
        (true, started.elapsed())
    });
    // Meanwhile another sender is answered message after message.
    let mut fast = Client::connect_retry(port);
    for i in 0..30 {
        assert_accepted(&mut fast, &format!("FAST{i}"));
        std::thread::sleep(Duration::from_millis(50));
    }
    let (finished, took) = slow.join().expect("slow sender");
    assert!(!finished, "the slow frame was never taken in (it ran {took:?})");
    wait_for(Duration::from_secs(10), "the cut-off in the log", || {
        engine.log_text().contains("did not arrive in full within ReadTimeout").then_some(())
    });
    rx.wait_for_count(30, Duration::from_secs(20));
    assert!(!rx.control_ids().iter().any(|id| id == "SLOW"), "no part of the slow frame went on");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The soft limit on open files of this process (the engine inherits it and raises its
/// own soft limit to the hard one).
fn nofile_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or("");
    let mut n = line.split_whitespace().skip(3).map(|v| v.parse::<u64>().unwrap_or(1024));
    (n.next().unwrap_or(1024), n.next().unwrap_or(1024))
}

#[test]
fn ten_thousand_idle_connections_cost_bounded_memory_and_the_service_still_answers() {
    let (soft, hard) = nofile_limits();
    // This process holds one end of each connection; leave room for everything else.
    let want = 10_000usize;
    let n = want.min(soft.saturating_sub(200) as usize);
    if n < want {
        eprintln!(
            "!!! idle connections: this process may open {soft} files (hard limit {hard}): testing {n} connections, not {want}"
        );
    }
    let dir = TempDir::new("floods-idle");
    let rx = Receiver::start(free_port());
    let port = free_port();
    let config = production(&dir, port, rx.port, ", MaxConnections: 20000");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let mut warm = Client::connect_retry(port);
    for i in 0..50 {
        assert_accepted(&mut warm, &format!("WARM{i}"));
    }
    let before = rss_kib(engine.pid());
    let opening = Instant::now();
    let idle: Vec<TcpStream> =
        (0..n).map(|_| TcpStream::connect(("127.0.0.1", port)).expect("idle connection")).collect();
    eprintln!("idle connections: {n} opened in {:?}", opening.elapsed());
    // Every one is accepted and held: the engine's connection count is what the service
    // reports once they are in.
    let probing = Instant::now();
    let mut probe = Client::connect_retry(port);
    assert!(hl7::accepted(&ack_of(&mut probe, "WITH-IDLE")), "the service answers beside {n} idle connections");
    eprintln!("idle connections: a new sender answered after {:?}", probing.elapsed());
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(engine.pid());
    let per_conn = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    eprintln!("idle connections: {n}, engine RSS {before} KiB → {after} KiB, {per_conn:.0} bytes per connection");
    // Bounded: no per-connection buffer kept while idle (a 64 KiB read buffer each would
    // be 640 MB for 10,000).
    assert!(per_conn < 32.0 * 1024.0, "{per_conn:.0} bytes per idle connection");
    for (i, mut s) in idle.into_iter().enumerate().step_by(n.max(10) / 10) {
        let _ = s.set_read_timeout(Some(Duration::from_millis(10)));
        let mut b = [0u8; 1];
        assert!(
            matches!(s.read(&mut b), Err(ref e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
            "idle connection {i} is still open"
        );
    }
    assert_accepted(&mut warm, "AFTER");
}

/// One raw HTTP/1.1 exchange: writes `head` (and nothing more), returns what came back
/// before the server closed or `wait` passed.
fn raw_http(api: &str, head: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(api).expect("connect to the API");
    let _ = s.write_all(head);
    let _ = s.set_read_timeout(Some(wait));
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    while let Ok(n) = s.read(&mut b) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[..n]);
        if out.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_management_api_refuses_oversized_requests_slow_heads_and_connection_floods_and_keeps_answering() {
    let dir = TempDir::new("floods-api");
    let rx = Receiver::start(free_port());
    let config = production(&dir, free_port(), rx.port, "");
    let engine = Engine::start(&config, &dir.join("data"), &[]);
    let api = engine.api.clone();
    let healthy = || hie_tests::api::request(&api, "GET", "/api/production", None).map(|r| r.0).unwrap_or(0);

    // A body over 16 MiB, declared: 413 before any of it is read.
    let big = raw_http(
        &api,
        b"POST /api/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 17000000\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(big.starts_with("HTTP/1.1 413"), "{big}");
    // A head over 64 KiB: refused (431) or the connection closed, never served.
    let mut head = b"GET /api/production HTTP/1.1\r\nHost: x\r\n".to_vec();
    head.extend(format!("X-Filler: {}\r\n\r\n", "a".repeat(100 * 1024)).as_bytes());
    let huge = raw_http(&api, &head, Duration::from_secs(10));
    assert!(huge.is_empty() || huge.starts_with("HTTP/1.1 431"), "{}", &huge[..huge.len().min(300)]);

    // A slow head holds only its own connection, and not for ever.
    let mut slow = TcpStream::connect(&api).expect("connect");
    slow.write_all(b"GET /api/production HTTP/1.1\r\n").expect("write");
    assert_eq!(healthy(), 200, "another client is served while a head trickles in");
    assert!(
        closed_within(&mut slow, Duration::from_secs(30)),
        "a head not finished within the header timeout is closed"
    );

    // A connection flood: past 128 open connections the next are closed at once.
    let mut flood: Vec<TcpStream> = (0..128).map(|_| TcpStream::connect(&api).expect("connect")).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&api).expect("the handshake completes");
    assert!(closed_within(&mut extra, Duration::from_secs(5)), "connection 129 is closed at once");
    for s in &mut flood[..4] {
        assert!(!closed_within(s, Duration::from_millis(50)), "the first 128 stay open");
    }
    wait_for(Duration::from_secs(10), "the refusal in the log", || {
        engine.log_text().contains("management API: connection refused, too many open").then_some(())
    });
    drop(flood);
    wait_for(Duration::from_secs(10), "the API answering again", || (healthy() == 200).then_some(()));
}
