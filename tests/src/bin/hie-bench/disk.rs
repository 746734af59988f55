//! The disk's fdatasync rate, the bound of a committed message.

use super::*;

// ---------------------------------------------------------------------------------------
// fsync-rate

pub fn fsync_rate(opts: &Opts) -> Result<(), String> {
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
