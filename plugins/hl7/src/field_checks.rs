//! Field-level `Validation` flags (IRIS): each segment's fields against its definition in
//! the message's schema category.
//!
//! | flag | checks | HL7 table 0357 code |
//! |---|---|---|
//! | `n` | no field beyond those the segment defines carries a value | 102 |
//! | `r` | every required (`R`) field has a value | 101 |
//! | `l` | no repetition is longer than the field's maximum length | 104 |
//! | `a` | no field repeats more than it may (a non-repeating field once) | 102 |
//! | `t` | a coded field (`ID`, `IS`) whose table lists values holds one of them | 103 |
//! | `y` | values of the primitive types `NM`, `SI`, `DT`, `TM`, `DTM`/`TS` are well formed | 102 |
//!
//! # Invariants
//! - Segments the category does not define (Z segments, say) are not field-checked; `m`
//!   is what refuses unknown segments.
//! - Lengths count the value's characters after unescaping; MSH-1 and MSH-2 are never
//!   checked (they are the separators).
//! - The first problem in message order is reported, naming segment, position and field.

use hie_hl7_schema::{Category, FieldDef, Optionality};
use hie_plugin_api::hl7;
use hie_plugin_api::hl7::ack::err_code;

/// Which field checks are on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldChecks {
    /// `n`: no values beyond the defined fields.
    pub extra_fields: bool,
    /// `r`: required fields present.
    pub required: bool,
    /// `l`: maximum lengths.
    pub length: bool,
    /// `a`: maximum repetitions.
    pub repeats: bool,
    /// `t`: table values.
    pub tables: bool,
    /// `y`: primitive data types.
    pub types: bool,
}

/// A field that failed: `(code, segment name, 1-based segment position, field, text)`.
pub type FieldProblem = (u16, String, usize, usize, String);

impl FieldChecks {
    /// Sets the check of `flag`; `false` when it is no field flag.
    pub fn set(&mut self, flag: char) -> bool {
        match flag {
            'n' => self.extra_fields = true,
            'r' => self.required = true,
            'l' => self.length = true,
            'a' => self.repeats = true,
            't' => self.tables = true,
            'y' => self.types = true,
            _ => return false,
        }
        true
    }

    /// Whether any check is on.
    pub fn any(&self) -> bool {
        *self != FieldChecks::default()
    }

    /// Checks every field of every segment `category` defines.
    pub fn check(&self, msg: &hl7::Message<'_>, category: &Category) -> Result<(), FieldProblem> {
        for (i, seg) in msg.segments().enumerate() {
            let name = seg.name();
            let Some(def) = category.segment(name) else { continue };
            let present = seg.field_count();
            let first = if seg.is_header() { 3 } else { 1 };
            for n in first..=present.max(def.fields.len()) {
                let field = seg.field(n);
                let fail =
                    |code: u16, what: String| Err((code, name.to_string(), i + 1, n, format!("{name}-{n}: {what}")));
                let empty = field.as_ref().is_none_or(|f| f.is_empty());
                let Some(fd) = def.field(n) else {
                    if self.extra_fields && !empty {
                        return fail(err_code::DATA_TYPE_ERROR, format!("{name} defines {} fields", def.fields.len()));
                    }
                    continue;
                };
                if empty {
                    if self.required && fd.optionality == Optionality::Required {
                        return fail(err_code::REQUIRED_FIELD_MISSING, format!("required field {} is empty", fd.name));
                    }
                    continue;
                }
                let Some(field) = field else { continue };
                if let Err((code, what)) = self.check_field(&field, fd, category) {
                    return fail(code, what);
                }
            }
        }
        Ok(())
    }

    fn check_field(&self, field: &hl7::Field<'_>, fd: &FieldDef, category: &Category) -> Result<(), (u16, String)> {
        let reps: Vec<hl7::Repetition<'_>> = field.repetitions().collect();
        let allowed = if fd.is_repeating() { fd.max_repeats } else { Some(1) };
        if self.repeats
            && let Some(max) = allowed
            && max > 0
            && reps.len() > max as usize
        {
            return Err((
                err_code::DATA_TYPE_ERROR,
                format!("{} repeats {} times (at most {max})", fd.name, reps.len()),
            ));
        }
        for rep in &reps {
            let value = rep.value();
            if self.length
                && let Some(max) = fd.max_length
                && max > 0
                && value.chars().count() > max as usize
            {
                return Err((
                    err_code::VALUE_TOO_LONG,
                    format!("{} is {} characters long (at most {max})", fd.name, value.chars().count()),
                ));
            }
            let first = rep.component(1).map(|c| String::from_utf8_lossy(c.raw()).into_owned()).unwrap_or_default();
            if self.tables
                && ["ID", "IS"].contains(&fd.data_type.as_str())
                && !first.is_empty()
                && let Some(table) = fd.table.as_deref().and_then(|t| category.table(t))
                && !table.values.is_empty()
                && table.value(&first).is_none()
            {
                return Err((
                    err_code::TABLE_VALUE_NOT_FOUND,
                    format!("{} value {first:?} is not in table {}", fd.name, table.id),
                ));
            }
            if self.types && !first.is_empty() && !well_formed(&fd.data_type, &first) {
                return Err((
                    err_code::DATA_TYPE_ERROR,
                    format!("{} value {first:?} is not a valid {}", fd.name, fd.data_type),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `v` is a valid value of the primitive `data_type` (other types: always).
pub fn well_formed(data_type: &str, v: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match data_type {
        "NM" => {
            let s = v.strip_prefix(['+', '-']).unwrap_or(v);
            let (int, frac) = s.split_once('.').unwrap_or((s, ""));
            (!int.is_empty() || !frac.is_empty())
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        "SI" => digits(v),
        "DT" => digits(v) && [4, 6, 8].contains(&v.len()) && date_ok(v),
        "TM" => {
            let (t, zone) = split_zone(v);
            zone_ok(zone) && time_ok(t)
        }
        "DTM" | "TS" => {
            let (t, zone) = split_zone(v);
            let (date, time) = t.split_at(t.len().min(8));
            zone_ok(zone)
                && digits(date)
                && [4, 6, 8].contains(&date.len())
                && date_ok(date)
                && (time.is_empty() || (date.len() == 8 && time_ok(time)))
        }
        _ => true,
    }
}

fn split_zone(v: &str) -> (&str, Option<&str>) {
    match v.find(['+', '-']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    }
}

fn zone_ok(zone: Option<&str>) -> bool {
    zone.is_none_or(|z| z.len() == 4 && z.bytes().all(|b| b.is_ascii_digit()))
}

fn date_ok(d: &str) -> bool {
    let num = |r: std::ops::Range<usize>| d.get(r).and_then(|s| s.parse::<u32>().ok());
    let month_ok = num(4..6).is_none_or(|m| (1..=12).contains(&m));
    let day_ok = num(6..8).is_none_or(|x| (1..=31).contains(&x));
    month_ok && day_ok
}

fn time_ok(t: &str) -> bool {
    let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
    let num = |r: std::ops::Range<usize>| hms.get(r).and_then(|s| s.parse::<u32>().ok());
    hms.bytes().all(|b| b.is_ascii_digit())
        && [2, 4, 6].contains(&hms.len())
        && num(0..2).is_some_and(|h| h < 24)
        && num(2..4).is_none_or(|m| m < 60)
        && num(4..6).is_none_or(|s| s < 60)
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (frac.is_empty() || hms.len() == 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitive_values_are_checked_by_their_type() {
        for (t, ok) in [
            ("NM", "-12.5"),
            ("NM", ".5"),
            ("SI", "3"),
            ("DT", "20240301"),
            ("DT", "2024"),
            ("TM", "1015"),
            ("TM", "101500.25+0100"),
        ] {
            assert!(well_formed(t, ok), "{t} {ok}");
        }
        for (t, ok) in [("DTM", "20240301101500"), ("TS", "20240301101500.1234-0500"), ("DTM", "202403")] {
            assert!(well_formed(t, ok), "{t} {ok}");
        }
        for (t, bad) in [
            ("NM", "1.2.3"),
            ("NM", "abc"),
            ("SI", "-1"),
            ("DT", "20241301"),
            ("DT", "202403011"),
            ("TM", "2460"),
            ("DTM", "2024030110150"),
            ("TS", "20240301+01"),
        ] {
            assert!(!well_formed(t, bad), "{t} {bad}");
        }
        assert!(well_formed("XPN", "anything"), "composite types are not checked here");
    }
}
