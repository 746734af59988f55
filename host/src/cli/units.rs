//! Human units for tables: rates, ages, durations, sizes and times.

/// Microseconds since the Unix epoch, now.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// How long ago `at_us` was, e.g. `12s ago`, `3m ago`, `2h ago`, `4d ago`; `-` for 0.
pub fn ago(at_us: i64, now_us: i64) -> String {
    if at_us <= 0 {
        return "-".into();
    }
    let secs = (now_us - at_us) / 1_000_000;
    if secs < 0 {
        return "just now".into();
    }
    match secs {
        0 => "just now".into(),
        1..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// An elapsed time given in milliseconds: `850µs`, `12.3ms`, `1.2s`, `3m04s`, `2h05m`.
pub fn duration_ms(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "-".into();
    }
    if ms < 1.0 {
        format!("{:.0}µs", ms * 1000.0)
    } else if ms < 100.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else if ms < 60_000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else if ms < 3_600_000.0 {
        let s = (ms / 1000.0) as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = (ms / 60_000.0) as u64;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

/// A message rate: `0/s`, `0.4/s`, `12/s`, `1.2k/s`.
pub fn rate(per_s: f64) -> String {
    if !per_s.is_finite() || per_s <= 0.0 {
        "0/s".into()
    } else if per_s < 10.0 {
        format!("{per_s:.1}/s")
    } else if per_s < 10_000.0 {
        format!("{per_s:.0}/s")
    } else {
        format!("{:.1}k/s", per_s / 1000.0)
    }
}

/// A size in bytes: `512 B`, `1.2 KiB`, `3.4 MiB`, `1.0 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let head = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = digits[..head.min(digits.len())].to_string();
    let mut rest = &digits[head.min(digits.len())..];
    while !rest.is_empty() {
        out.push(',');
        out.push_str(&rest[..3]);
        rest = &rest[3..];
    }
    out
}

/// A time (µs since the epoch) in local time, `2026-01-01 12:00:00`; `-` for 0.
pub fn local_time(at_us: i64) -> String {
    local_time_fmt(at_us, "%Y-%m-%d %H:%M:%S")
}

/// A time (µs since the epoch) in local time with milliseconds, `12:00:00.123`.
pub fn clock_ms(at_us: i64) -> String {
    local_time_fmt(at_us, "%H:%M:%S%.3f")
}

fn local_time_fmt(at_us: i64, fmt: &str) -> String {
    if at_us <= 0 {
        return "-".into();
    }
    match chrono::DateTime::from_timestamp_micros(at_us) {
        Some(t) => t.with_timezone(&chrono::Local).format(fmt).to_string(),
        None => "-".into(),
    }
}

/// Parses a time the API gives: µs since the epoch (a number) or RFC 3339 text.
pub fn parse_us(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_micros()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_a_person_says_them() {
        let now = 10_000_000_000_000;
        assert_eq!(ago(now - 5_000_000, now), "5s ago");
        assert_eq!(ago(now - 180_000_000, now), "3m ago");
        assert_eq!(ago(now - 7_200_000_000, now), "2h ago");
        assert_eq!(ago(now - 3 * 86_400_000_000, now), "3d ago");
        assert_eq!(ago(0, now), "-");
    }

    #[test]
    fn sizes_rates_counts_and_durations_use_human_units() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(rate(0.0), "0/s");
        assert_eq!(rate(0.42), "0.4/s");
        assert_eq!(rate(1234.0), "1234/s");
        assert_eq!(rate(25_000.0), "25.0k/s");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(duration_ms(0.5), "500µs");
        assert_eq!(duration_ms(12.34), "12.3ms");
        assert_eq!(duration_ms(1500.0), "1.5s");
        assert_eq!(duration_ms(184_000.0), "3m04s");
    }
}
