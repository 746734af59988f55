//! The router's `RuleLogging` flags (IRIS: what the rule log records per message):
//! `e` errors evaluating the rules (the default), `r` the reasons (which rules fired),
//! `d` the rules' `<debug>` entries, `c` the conditions that decided (HIE records the
//! clause that fired, as for `r`), `a` all of them. HIE's rule log is the item's log.
//!
//! # Invariants
//! - An unknown flag is a start error naming it, never ignored; an empty value logs
//!   nothing (errors still reach the item's log at debug level).

/// What the rule log records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleLogging {
    /// `e`: evaluation errors as warnings.
    pub errors: bool,
    /// `r` (or `c`): the rules that fired, per message.
    pub reasons: bool,
    /// `d`: `<debug>` entries.
    pub debug: bool,
}

impl RuleLogging {
    /// Parses the setting's value.
    pub fn parse(value: &str) -> Result<RuleLogging, String> {
        let mut l = RuleLogging::default();
        for c in value.trim().chars() {
            match c.to_ascii_lowercase() {
                'e' => l.errors = true,
                'r' | 'c' => l.reasons = true,
                'd' => l.debug = true,
                'a' => l = RuleLogging { errors: true, reasons: true, debug: true },
                ' ' | ',' => {}
                other => {
                    return Err(format!(
                        "RuleLogging: unknown flag {other:?} in {value:?} (e errors, r reasons, d debug, c conditions, a all)"
                    ));
                }
            }
        }
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flag_turns_on_its_part_and_a_turns_on_all() {
        let t = |v: &str| RuleLogging::parse(v).unwrap();
        assert_eq!(t("e"), RuleLogging { errors: true, ..RuleLogging::default() });
        assert_eq!(t(""), RuleLogging::default());
        assert_eq!(t("rd"), RuleLogging { errors: false, reasons: true, debug: true });
        assert_eq!(t("c"), RuleLogging { reasons: true, ..RuleLogging::default() });
        assert_eq!(t("A"), RuleLogging { errors: true, reasons: true, debug: true });
        let e = RuleLogging::parse("ex").unwrap_err();
        assert!(e.contains("'x'"), "{e}");
    }
}
