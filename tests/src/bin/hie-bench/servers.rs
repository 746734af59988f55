//! The bare baselines: MLLP echo, counting sink and relay.

use super::*;

// ---------------------------------------------------------------------------------------
// echo / sink

pub fn serve(opts: &Opts, counting: bool) -> Result<(), String> {
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
    // With --ids-file every message's MSH-10 is appended (after its ACK is written).
    let ids: Option<Arc<std::sync::Mutex<std::fs::File>>> = match opts.str("ids-file") {
        Some(f) => Some(Arc::new(std::sync::Mutex::new(
            std::fs::OpenOptions::new().create(true).append(true).open(f).map_err(|e| format!("{f}: {e}"))?,
        ))),
        None => None,
    };
    eprintln!("hie-bench {}: listening on 127.0.0.1:{port}", if counting { "sink" } else { "echo" });
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (count, ids) = (count.clone(), ids.clone());
        std::thread::spawn(move || serve_conn(stream, &count, ids.as_deref()));
    }
    Ok(())
}

pub fn serve_conn(mut stream: TcpStream, count: &AtomicU64, ids: Option<&std::sync::Mutex<std::fs::File>>) {
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
            // Logged before the ACK is written: an id the engine saw acknowledged is in
            // the file even if this sink is killed right after.
            if let Some(f) = ids
                && let Some((_, id)) = load::msa(&ack)
                && let Ok(mut f) = f.lock()
            {
                let _ = writeln!(f, "{id}");
            }
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
pub fn relay(opts: &Opts) -> Result<(), String> {
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

pub fn relay_conn(mut inbound: TcpStream, to: u16) -> std::io::Result<()> {
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
