//! Process and engine helpers for the scripts: RSS, waits, API posts, JSON values, ports.

use super::*;

// rss, waits, helpers

pub fn proc_status_kb(pid: u32, key: &str) -> Result<u64, String> {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(key).and_then(|r| r.trim_start_matches(':').split_whitespace().next()?.parse().ok())
        })
        .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
}

pub fn rss(opts: &Opts) -> Result<(), String> {
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
pub fn wait_depth(opts: &Opts) -> Result<(), String> {
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
pub fn wait_count(opts: &Opts) -> Result<(), String> {
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

pub fn free_port() -> Result<(), String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    println!("{}", l.local_addr().map_err(|e| e.to_string())?.port());
    Ok(())
}

/// `json FILE PATH`: prints the value at a dotted path; strings without quotes, missing as `null`.
pub fn json_get(args: &[String]) -> Result<(), String> {
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
pub fn post(opts: &Opts) -> Result<(), String> {
    let (api, path) = (opts.req("api")?, opts.req("path")?);
    let (status, body) =
        hie_tests::api::request(api, "POST", path, opts.str("body")).map_err(|e| format!("POST {path}: {e}"))?;
    if !(200..300).contains(&status) {
        return Err(format!("POST {path}: HTTP {status}: {body}"));
    }
    println!("{body}");
    Ok(())
}
