//! Typed setting values: the one place booleans, integers, seconds, numbers, choices and
//! lists are read, for packs (the SDK), the host's adapters and validation alike.
//!
//! # Invariants
//! - A value is either read exactly as its kind says or refused with a message that
//!   quotes it and says what was expected; nothing here falls back to a default for a
//!   value that is present but malformed (`HTTPPort=abc` is an error, never port 80).
//! - An empty value means "not set" to every reader here: the caller's default applies.
//! - Spellings follow IRIS and common configuration files: booleans are
//!   `1/0/true/false/yes/no/on/off` in any case; seconds may have fractions, and a
//!   negative number means "for ever" where the setting allows it (IRIS
//!   `FailureTimeout=-1`, `StayConnected=-1`); lists are comma-separated.

use std::time::Duration;

/// What kind of value a setting holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingKind {
    /// Any text.
    Text,
    /// A boolean.
    Bool,
    /// A whole number in `min..=max`.
    Int {
        /// Smallest value accepted.
        min: i64,
        /// Largest value accepted.
        max: i64,
    },
    /// A TCP or UDP port, 1–65535.
    Port,
    /// Seconds, fractions allowed; negative means "for ever" when `forever` is true,
    /// and is refused otherwise.
    Seconds {
        /// Whether a negative value (for ever) is accepted.
        forever: bool,
    },
    /// Any number, fractions allowed (rates, ratios).
    Number,
    /// One of a fixed set of words (matched without regard to case).
    Choice(Vec<String>),
    /// A comma-separated list of words.
    List,
}

impl SettingKind {
    /// A whole number of at least `min`.
    pub fn at_least(min: i64) -> SettingKind {
        SettingKind::Int { min, max: i64::MAX }
    }

    /// One of `choices`.
    pub fn choice(choices: &[&str]) -> SettingKind {
        SettingKind::Choice(choices.iter().map(|c| c.to_string()).collect())
    }

    /// Checks `value` (empty is always accepted: it means "not set").
    pub fn check(&self, value: &str) -> Result<(), SettingError> {
        if value.trim().is_empty() {
            return Ok(());
        }
        match self {
            SettingKind::Text | SettingKind::List => Ok(()),
            SettingKind::Bool => parse_bool(value).map(|_| ()),
            SettingKind::Int { min, max } => parse_int_in(value, *min, *max).map(|_| ()),
            SettingKind::Port => parse_port(value).map(|_| ()),
            SettingKind::Seconds { forever } => {
                let s = parse_seconds(value)?;
                if s.is_none() && !forever {
                    return Err(SettingError::new(value, "a number of seconds, 0 or more"));
                }
                Ok(())
            }
            SettingKind::Number => parse_number(value).map(|_| ()),
            SettingKind::Choice(choices) => parse_choice(value, choices).map(|_| ()),
        }
    }

    /// How `hie plugins` and error messages describe the kind.
    pub fn describe(&self) -> String {
        match self {
            SettingKind::Text => "text".into(),
            SettingKind::Bool => "boolean (1/0, true/false, yes/no, on/off)".into(),
            SettingKind::Int { min, max } if *max == i64::MAX => format!("whole number, at least {min}"),
            SettingKind::Int { min, max } => format!("whole number, {min} to {max}"),
            SettingKind::Port => "port, 1 to 65535".into(),
            SettingKind::Seconds { forever: true } => "seconds (-1 = for ever)".into(),
            SettingKind::Seconds { forever: false } => "seconds".into(),
            SettingKind::Number => "number".into(),
            SettingKind::Choice(c) => format!("one of {}", c.join(", ")),
            SettingKind::List => "comma-separated list".into(),
        }
    }
}

/// A setting value that does not read as its kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?}: expected {expected}")]
pub struct SettingError {
    /// The value as written.
    pub value: String,
    /// What was expected instead.
    pub expected: String,
}

impl SettingError {
    /// `value` is not `expected`.
    pub fn new(value: &str, expected: impl Into<String>) -> SettingError {
        SettingError { value: value.to_string(), expected: expected.into() }
    }
}

/// Reads a boolean: `1/0/true/false/yes/no/on/off`, any case.
pub fn parse_bool(value: &str) -> Result<bool, SettingError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(SettingError::new(value, "a boolean (1/0, true/false, yes/no, on/off)")),
    }
}

/// Reads a whole number.
pub fn parse_int(value: &str) -> Result<i64, SettingError> {
    value.trim().parse::<i64>().map_err(|_| SettingError::new(value, "a whole number"))
}

/// Reads a whole number in `min..=max`.
pub fn parse_int_in(value: &str, min: i64, max: i64) -> Result<i64, SettingError> {
    let expected = || {
        if max == i64::MAX {
            format!("a whole number, at least {min}")
        } else {
            format!("a whole number, {min} to {max}")
        }
    };
    match value.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(SettingError::new(value, expected())),
    }
}

/// Reads a port, 1–65535.
pub fn parse_port(value: &str) -> Result<u16, SettingError> {
    parse_int_in(value, 1, 65535).map(|p| p as u16).map_err(|_| SettingError::new(value, "a port, 1 to 65535"))
}

/// Reads seconds (fractions allowed); a negative value means "for ever" (`None`).
pub fn parse_seconds(value: &str) -> Result<Option<Duration>, SettingError> {
    match value.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s < 0.0 => Ok(None),
        Ok(s) if s.is_finite() && s < 1e12 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(SettingError::new(value, "a number of seconds")),
    }
}

/// Reads a number (fractions allowed).
pub fn parse_number(value: &str) -> Result<f64, SettingError> {
    match value.trim().parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        _ => Err(SettingError::new(value, "a number")),
    }
}

/// Reads one of `choices` (without regard to case); returns the choice as declared.
pub fn parse_choice<'c>(value: &str, choices: &'c [String]) -> Result<&'c str, SettingError> {
    let v = value.trim();
    choices
        .iter()
        .find(|c| c.eq_ignore_ascii_case(v))
        .map(|c| c.as_str())
        .ok_or_else(|| SettingError::new(value, format!("one of {}", choices.join(", "))))
}

/// Splits a comma-separated list, trimming each entry and dropping empty ones.
pub fn parse_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Typed reads of a set of settings by name, each absent or empty one giving the
/// caller's default and each malformed one an error naming the setting.
pub trait SettingsSource {
    /// The raw value of `name`, if set.
    fn raw(&self, name: &str) -> Option<String>;

    /// A text setting, trimmed; empty when absent.
    fn text(&self, name: &str) -> String {
        self.raw(name).map(|v| v.trim().to_string()).unwrap_or_default()
    }

    /// The raw value when it is set and not empty.
    fn present(&self, name: &str) -> Option<String> {
        self.raw(name).filter(|v| !v.trim().is_empty())
    }

    /// A boolean, `default` when not set.
    fn bool_or(&self, name: &str, default: bool) -> Result<bool, NamedSettingError> {
        self.present(name).map_or(Ok(default), |v| parse_bool(&v).map_err(|e| e.named(name)))
    }

    /// A whole number, `default` when not set.
    fn int_or(&self, name: &str, default: i64) -> Result<i64, NamedSettingError> {
        self.present(name).map_or(Ok(default), |v| parse_int(&v).map_err(|e| e.named(name)))
    }

    /// Seconds (`None` = for ever), `default` when not set.
    fn seconds_or(&self, name: &str, default: Option<Duration>) -> Result<Option<Duration>, NamedSettingError> {
        self.present(name).map_or(Ok(default), |v| parse_seconds(&v).map_err(|e| e.named(name)))
    }

    /// A number, `default` when not set.
    fn number_or(&self, name: &str, default: f64) -> Result<f64, NamedSettingError> {
        self.present(name).map_or(Ok(default), |v| parse_number(&v).map_err(|e| e.named(name)))
    }

    /// A list (empty when not set).
    fn list(&self, name: &str) -> Vec<String> {
        self.raw(name).map(|v| parse_list(&v)).unwrap_or_default()
    }
}

/// A [`SettingError`] with the setting's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("setting {setting}: {error}")]
pub struct NamedSettingError {
    /// The setting.
    pub setting: String,
    /// What is wrong with its value.
    pub error: SettingError,
}

impl SettingError {
    /// This error, for the setting `name`.
    pub fn named(self, name: &str) -> NamedSettingError {
        NamedSettingError { setting: name.to_string(), error: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_read_every_common_spelling_in_any_case_and_refuse_anything_else() {
        for t in ["1", "true", "TRUE", " yes ", "On"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "false", "No", "OFF"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        for bad in ["2", "y", "enabled", "truee"] {
            assert!(parse_bool(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_malformed_number_is_an_error_quoting_it_never_a_default() {
        let e = parse_port("abc").expect_err("abc is not a port");
        assert_eq!(e.to_string(), "invalid value \"abc\": expected a port, 1 to 65535");
        assert!(parse_port("0").is_err() && parse_port("65536").is_err());
        assert_eq!(parse_port(" 2575 "), Ok(2575));
        assert_eq!(parse_int_in("5", 1, 10), Ok(5));
        assert!(parse_int_in("11", 1, 10).is_err());
        assert!(parse_int("1.5").is_err());
    }

    #[test]
    fn seconds_take_fractions_and_negative_means_for_ever_where_allowed() {
        assert_eq!(parse_seconds("2.5"), Ok(Some(Duration::from_millis(2500))));
        assert_eq!(parse_seconds("-1"), Ok(None));
        assert!(parse_seconds("soon").is_err());
        assert!(SettingKind::Seconds { forever: false }.check("-1").is_err());
        assert!(SettingKind::Seconds { forever: true }.check("-1").is_ok());
    }

    #[test]
    fn choices_match_without_case_and_lists_drop_empty_entries() {
        let c = vec!["Never".to_string(), "Immed".to_string()];
        assert_eq!(parse_choice("immed", &c), Ok("Immed"));
        assert!(parse_choice("App", &c).is_err());
        assert_eq!(parse_list(" a, ,b ,"), vec!["a", "b"]);
    }

    #[test]
    fn an_empty_value_is_not_set_for_every_kind() {
        for kind in [SettingKind::Bool, SettingKind::Port, SettingKind::Number, SettingKind::choice(&["x"])] {
            assert!(kind.check("  ").is_ok());
        }
        struct Map;
        impl SettingsSource for Map {
            fn raw(&self, name: &str) -> Option<String> {
                (name == "Empty").then(String::new).or_else(|| (name == "Bad").then(|| "x".into()))
            }
        }
        assert_eq!(Map.bool_or("Empty", true), Ok(true));
        assert_eq!(Map.int_or("Missing", 7), Ok(7));
        let e = Map.int_or("Bad", 7).expect_err("x is not a number");
        assert_eq!(e.to_string(), "setting Bad: invalid value \"x\": expected a whole number");
    }
}
