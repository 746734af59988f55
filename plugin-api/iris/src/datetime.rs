//! Date/time format codes of `CurrentDateTime` and `ConvertDateTime` (Ens.Util.Time).
//!
//! Supported codes: `%Y` `%y` `%m` `%d` `%H` `%I` `%p` `%M` `%S` `%j` `%b` `%B` `%a` `%A`
//! `%Q` (ODBC `YYYY-MM-DD HH:MM:SS.sss`) `%q` (ODBC without the fraction) `%%` and, in an
//! output format, `%f` (the file name argument). Any other code is refused by
//! [`check_format`], which the rule and DTL compilers call on literal formats.
//!
//! # Invariants
//!
//! - Parsing checks field ranges (month 1-12, day 1-31, hour 0-23, ...) but not the calendar
//!   (`31/02` passes), as IRIS does; formatting a day that does not exist leaves weekday and
//!   day-of-year codes empty.
//! - Nothing here panics on any input.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// A date and time as read from a formatted string (fields range-checked, calendar not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stamp {
    /// Year.
    pub year: i32,
    /// Month 1-12.
    pub month: u32,
    /// Day 1-31.
    pub day: u32,
    /// Hour 0-23.
    pub hour: u32,
    /// Minute 0-59.
    pub minute: u32,
    /// Second 0-59.
    pub second: u32,
    /// Milliseconds 0-999.
    pub millis: u32,
}

impl From<NaiveDateTime> for Stamp {
    fn from(t: NaiveDateTime) -> Stamp {
        Stamp {
            year: t.year(),
            month: t.month(),
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            millis: t.and_utc().timestamp_subsec_millis().min(999),
        }
    }
}

/// Checks that `fmt` uses only supported codes; `allow_file` permits `%f`.
pub fn check_format(fmt: &str, allow_file: bool) -> Result<(), String> {
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            continue;
        }
        match it.next() {
            Some(
                'Y' | 'y' | 'm' | 'd' | 'H' | 'I' | 'p' | 'M' | 'S' | 'j' | 'b' | 'B' | 'a' | 'A' | 'Q' | 'q' | '%',
            ) => {}
            Some('f') if allow_file => {}
            Some(other) => return Err(format!("unsupported date/time format code %{other} in {fmt:?}")),
            None => return Err(format!("date/time format {fmt:?} ends with a lone %")),
        }
    }
    Ok(())
}

/// Formats `t` with `fmt`; `%f` becomes `file`.
pub fn format(t: &Stamp, fmt: &str, file: &str) -> String {
    let date = NaiveDate::from_ymd_opt(t.year, t.month, t.day);
    let mut out = String::new();
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(code) = it.next() else {
            out.push('%');
            break;
        };
        let month = MONTHS.get(t.month.wrapping_sub(1) as usize).copied().unwrap_or("");
        let weekday = date.map(|d| DAYS[d.weekday().num_days_from_monday() as usize]).unwrap_or("");
        match code {
            'Y' => out.push_str(&format!("{:04}", t.year)),
            'y' => out.push_str(&format!("{:02}", t.year.rem_euclid(100))),
            'm' => out.push_str(&format!("{:02}", t.month)),
            'd' => out.push_str(&format!("{:02}", t.day)),
            'H' => out.push_str(&format!("{:02}", t.hour)),
            'I' => out.push_str(&format!("{:02}", if t.hour.is_multiple_of(12) { 12 } else { t.hour % 12 })),
            'p' => out.push_str(if t.hour < 12 { "AM" } else { "PM" }),
            'M' => out.push_str(&format!("{:02}", t.minute)),
            'S' => out.push_str(&format!("{:02}", t.second)),
            'j' => {
                if let Some(d) = date {
                    out.push_str(&format!("{:03}", d.ordinal()));
                }
            }
            'b' => out.push_str(month.get(..3).unwrap_or("")),
            'B' => out.push_str(month),
            'a' => out.push_str(weekday.get(..3).unwrap_or("")),
            'A' => out.push_str(weekday),
            'Q' => out.push_str(&format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
                t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
            )),
            'q' => out.push_str(&format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year, t.month, t.day, t.hour, t.minute, t.second
            )),
            'f' => out.push_str(file),
            '%' => out.push('%'),
            other => {
                out.push('%');
                out.push(other);
            }
        }
    }
    out
}

struct Reader<'s> {
    s: &'s [char],
    pos: usize,
}

impl Reader<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let part = self.s.get(self.pos..self.pos + n)?;
        if !part.iter().all(char::is_ascii_digit) {
            return None;
        }
        self.pos += n;
        part.iter().try_fold(0u32, |acc, c| Some(acc * 10 + c.to_digit(10)?))
    }

    fn literal(&mut self, c: char) -> Option<()> {
        (self.s.get(self.pos) == Some(&c)).then(|| self.pos += 1)
    }

    /// One of `names` (case-insensitive), whole or abbreviated to 3 letters; its index.
    fn name(&mut self, names: &[&str], abbreviated: bool) -> Option<usize> {
        for (i, n) in names.iter().enumerate() {
            let want: Vec<char> = if abbreviated { n.chars().take(3).collect() } else { n.chars().collect() };
            let got = self.s.get(self.pos..self.pos + want.len())?;
            if got.iter().zip(&want).all(|(a, b)| a.eq_ignore_ascii_case(b)) {
                self.pos += want.len();
                return Some(i);
            }
        }
        None
    }
}

fn in_range(v: u32, lo: u32, hi: u32) -> Option<u32> {
    (lo..=hi).contains(&v).then_some(v)
}

/// Parses `s` with `fmt`; `None` when it does not match (then `ConvertDateTime` returns the
/// value unchanged).
pub fn parse(s: &str, fmt: &str) -> Option<Stamp> {
    let chars: Vec<char> = s.chars().collect();
    let mut r = Reader { s: &chars, pos: 0 };
    let mut t = Stamp { year: 1900, month: 1, day: 1, ..Stamp::default() };
    let mut pm: Option<bool> = None;
    let mut hour12: Option<u32> = None;
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            r.literal(c)?;
            continue;
        }
        match it.next()? {
            'Y' => t.year = r.digits(4)? as i32,
            'y' => {
                let y = r.digits(2)? as i32;
                t.year = if y < 50 { 2000 + y } else { 1900 + y };
            }
            'm' => t.month = in_range(r.digits(2)?, 1, 12)?,
            'd' => t.day = in_range(r.digits(2)?, 1, 31)?,
            'H' => t.hour = in_range(r.digits(2)?, 0, 23)?,
            'I' => hour12 = Some(in_range(r.digits(2)?, 1, 12)?),
            'p' => pm = Some(r.name(&["AM", "PM"], false)? == 1),
            'M' => t.minute = in_range(r.digits(2)?, 0, 59)?,
            'S' => t.second = in_range(r.digits(2)?, 0, 59)?,
            'j' => {
                let doy = in_range(r.digits(3)?, 1, 366)?;
                let d = NaiveDate::from_yo_opt(t.year, doy)?;
                t.month = d.month();
                t.day = d.day();
            }
            'b' => t.month = r.name(&MONTHS, true)? as u32 + 1,
            'B' => t.month = r.name(&MONTHS, false)? as u32 + 1,
            'a' => {
                r.name(&DAYS, true)?;
            }
            'A' => {
                r.name(&DAYS, false)?;
            }
            'Q' | 'q' => {
                t.year = r.digits(4)? as i32;
                r.literal('-')?;
                t.month = in_range(r.digits(2)?, 1, 12)?;
                r.literal('-')?;
                t.day = in_range(r.digits(2)?, 1, 31)?;
                if r.literal(' ').is_some() {
                    t.hour = in_range(r.digits(2)?, 0, 23)?;
                    r.literal(':')?;
                    t.minute = in_range(r.digits(2)?, 0, 59)?;
                    r.literal(':')?;
                    t.second = in_range(r.digits(2)?, 0, 59)?;
                    if r.literal('.').is_some() {
                        let start = r.pos;
                        let mut millis = 0u32;
                        let mut n = 0;
                        while let Some(d) = r.s.get(r.pos).and_then(|c| c.to_digit(10)) {
                            if n < 3 {
                                millis = millis * 10 + d;
                            }
                            n += 1;
                            r.pos += 1;
                        }
                        if r.pos == start {
                            return None;
                        }
                        for _ in n..3 {
                            millis *= 10;
                        }
                        t.millis = millis;
                    }
                }
            }
            '%' => r.literal('%')?,
            _ => return None,
        }
    }
    if r.pos != chars.len() {
        return None;
    }
    if let Some(h) = hour12 {
        t.hour = match pm {
            Some(true) => h % 12 + 12,
            _ => h % 12,
        };
    }
    Some(t)
}

/// `ConvertDateTime(value, in, out, file)`: `value` re-formatted, or unchanged when it does
/// not match `in`.
pub fn convert(value: &str, input: &str, output: &str, file: &str) -> String {
    match parse(value, input) {
        Some(t) => format(&t, output, file),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reformats_like_iris() {
        assert_eq!(convert("19750620", "%Y%m%d", "%d/%m/%Y", ""), "20/06/1975");
        assert_eq!(convert("20240302090000", "%Y%m%d%H%M%S", "%Y%m%d%H%M", ""), "202403020900");
        assert_eq!(convert("22/07/1958", "%d/%m/%Y", "%Q", ""), "1958-07-22 00:00:00.000");
        assert_eq!(convert("not a date", "%Y%m%d", "%d/%m/%Y", ""), "not a date");
        assert_eq!(convert("31/02/2024", "%d/%m/%Y", "%Y%m%d", ""), "20240231");
        assert_eq!(convert("13/13/2024", "%d/%m/%Y", "%Y%m%d", ""), "13/13/2024");
        assert_eq!(convert("2024-06-01 12:00:00.5", "%Q", "%H%M%S.%j", ""), "120000.153");
        assert_eq!(convert("01 Jun 2024 03 PM", "%d %b %Y %I %p", "%H %A %B", ""), "15 Saturday June");
        assert_eq!(convert("20240601", "%Y%m%d", "%f_%Y", "x.hl7"), "x.hl7_2024");
    }

    #[test]
    fn unsupported_codes_are_reported() {
        assert!(check_format("%Y%m%d", false).is_ok());
        assert!(check_format("%f", false).is_err());
        assert!(check_format("%f", true).is_ok());
        assert!(check_format("%Z", true).is_err());
        assert!(check_format("50%", true).is_err());
    }
}
