//! Field paths such as `PID-3(2).1.2` or `OBX(2)-5`.

use std::fmt;
use std::str::FromStr;

/// Largest number accepted for any part of a path. Keeps a typo such as `PID-3000000000` from
/// making [`crate::MessageBuf::set`] pad a segment with billions of separators.
pub const MAX_INDEX: usize = 9999;

/// A location in a message: segment (and which occurrence of it), field, and optionally
/// repetition, component and subcomponent. All numbers are 1-based.
///
/// Text forms ([`Path::parse`] / [`FromStr`]):
///
/// | text | meaning |
/// |---|---|
/// | `PID-3` | whole field 3 of the first PID, all repetitions, raw |
/// | `PID-3(2)` | 2nd repetition of PID-3 |
/// | `PID-3.1` | component 1 of the first repetition |
/// | `PID-3(2).1.2` | subcomponent 2 of component 1 of repetition 2 |
/// | `OBX(2)-5` | field 5 of the 2nd OBX segment |
/// | `PID:3(2).1` | IRIS-style alias (`:` instead of `-`); `PID.3` is accepted too |
///
/// Segment names are case-insensitive in text and stored upper-case.
/// For MSH (and FHS/BHS), field 1 is the field separator and field 2 the encoding characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Path {
    segment: [u8; 3],
    occurrence: usize,
    field: usize,
    repetition: Option<usize>,
    component: Option<usize>,
    subcomponent: Option<usize>,
}

/// Why a path text was refused. Every variant carries the path text for the log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The text was empty or only whitespace.
    #[error("empty HL7 path (expected e.g. \"PID-3.1\")")]
    Empty,
    /// The segment name is not three letters/digits.
    #[error("HL7 path {path:?}: segment name must be 3 letters or digits (e.g. PID, OBX, ZPI)")]
    BadSegment {
        /// The path text.
        path: String,
    },
    /// No `-`, `:` or `.` between the segment and the field number.
    #[error(
        "HL7 path {path:?}: expected '-' (or ':') and a field number after the segment name, \
         e.g. \"PID-3\""
    )]
    MissingSeparator {
        /// The path text.
        path: String,
    },
    /// A part that must be a number is not one (symbolic field names are not supported).
    #[error("HL7 path {path:?}: {part} must be a number (found {found:?})")]
    NotANumber {
        /// The path text.
        path: String,
        /// Which part: "segment occurrence", "field", "repetition", "component", "subcomponent".
        part: &'static str,
        /// The offending text.
        found: String,
    },
    /// A number was 0; every part is 1-based.
    #[error("HL7 path {path:?}: {part} numbers start at 1, found 0")]
    Zero {
        /// The path text.
        path: String,
        /// Which part.
        part: &'static str,
    },
    /// A number exceeded [`MAX_INDEX`].
    #[error("HL7 path {path:?}: {part} number is larger than {max}", max = MAX_INDEX)]
    TooLarge {
        /// The path text.
        path: String,
        /// Which part.
        part: &'static str,
    },
    /// `(` without a matching `)`.
    #[error("HL7 path {path:?}: missing ')' after the {part} number")]
    UnclosedParen {
        /// The path text.
        path: String,
        /// Which part.
        part: &'static str,
    },
    /// Text left over after the deepest level (subcomponent).
    #[error(
        "HL7 path {path:?}: unexpected {rest:?} at the end \
         (a path goes at most to field(repetition).component.subcomponent)"
    )]
    Trailing {
        /// The path text.
        path: String,
        /// The unparsed remainder.
        rest: String,
    },
}

impl Path {
    /// A path to a whole field, e.g. `Path::new("PID", 3)` for `PID-3`.
    ///
    /// Fails when the segment name is not 3 letters/digits or the field is 0 or too large.
    pub fn new(segment: &str, field: usize) -> Result<Path, PathError> {
        let seg =
            parse_segment(segment.as_bytes()).ok_or_else(|| PathError::BadSegment { path: segment.to_owned() })?;
        let path = || format!("{segment}-{field}");
        check("field", field, &path)?;
        Ok(Path { segment: seg, occurrence: 1, field, repetition: None, component: None, subcomponent: None })
    }

    /// Parses a path text; see the type documentation for the accepted forms.
    pub fn parse(text: &str) -> Result<Path, PathError> {
        parse_path(text)
    }

    /// Selects the n-th occurrence of the segment (1-based; 0 is treated as 1, capped at
    /// [`MAX_INDEX`]).
    pub fn with_occurrence(mut self, n: usize) -> Path {
        self.occurrence = clamp(n);
        self
    }

    /// Selects the n-th repetition of the field (1-based; 0 is treated as 1).
    pub fn with_repetition(mut self, n: usize) -> Path {
        self.repetition = Some(clamp(n));
        self
    }

    /// Selects the n-th component (1-based; 0 is treated as 1).
    pub fn with_component(mut self, n: usize) -> Path {
        self.component = Some(clamp(n));
        self
    }

    /// Selects the n-th subcomponent (1-based; 0 is treated as 1). Implies component 1 when
    /// no component was chosen.
    pub fn with_subcomponent(mut self, n: usize) -> Path {
        self.component = Some(self.component.unwrap_or(1));
        self.subcomponent = Some(clamp(n));
        self
    }

    /// The segment name, e.g. `"PID"`.
    pub fn segment(&self) -> &str {
        std::str::from_utf8(&self.segment).unwrap_or("???")
    }

    /// The segment name as bytes.
    pub fn segment_bytes(&self) -> [u8; 3] {
        self.segment
    }

    /// Which occurrence of the segment (1-based).
    pub fn occurrence(&self) -> usize {
        self.occurrence
    }

    /// The field number (1-based).
    pub fn field(&self) -> usize {
        self.field
    }

    /// The repetition number if one was given.
    pub fn repetition(&self) -> Option<usize> {
        self.repetition
    }

    /// The component number if one was given.
    pub fn component(&self) -> Option<usize> {
        self.component
    }

    /// The subcomponent number if one was given.
    pub fn subcomponent(&self) -> Option<usize> {
        self.subcomponent
    }

    /// The location in HL7 ERL form for ERR-2 (v2.5+): `SEG^occurrence^field[^rep[^comp[^sub]]]`
    /// with `^` as separator (the ACK builder swaps in the message's component separator).
    pub fn to_erl(&self) -> String {
        let mut s = format!("{}^{}^{}", self.segment(), self.occurrence, self.field);
        let deep = self.repetition.is_some() || self.component.is_some();
        if deep {
            s.push_str(&format!("^{}", self.repetition.unwrap_or(1)));
        }
        if let Some(c) = self.component {
            s.push_str(&format!("^{c}"));
            if let Some(sc) = self.subcomponent {
                s.push_str(&format!("^{sc}"));
            }
        }
        s
    }
}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Path, PathError> {
        parse_path(s)
    }
}

impl fmt::Display for Path {
    /// Canonical text, e.g. `PID-3(2).1.2` or `OBX(2)-5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.segment())?;
        if self.occurrence != 1 {
            write!(f, "({})", self.occurrence)?;
        }
        write!(f, "-{}", self.field)?;
        if let Some(r) = self.repetition {
            write!(f, "({r})")?;
        }
        if let Some(c) = self.component {
            write!(f, ".{c}")?;
        }
        if let Some(s) = self.subcomponent {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

fn clamp(n: usize) -> usize {
    n.clamp(1, MAX_INDEX)
}

fn parse_segment(s: &[u8]) -> Option<[u8; 3]> {
    match s {
        [a, b, c] if s.iter().all(u8::is_ascii_alphanumeric) => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase(), c.to_ascii_uppercase()])
        }
        _ => None,
    }
}

fn check(part: &'static str, n: usize, path: &dyn Fn() -> String) -> Result<usize, PathError> {
    if n == 0 {
        Err(PathError::Zero { path: path(), part })
    } else if n > MAX_INDEX {
        Err(PathError::TooLarge { path: path(), part })
    } else {
        Ok(n)
    }
}

/// A tiny cursor over the path text.
struct Cursor<'s> {
    text: &'s str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn path(&self) -> String {
        self.text.to_owned()
    }

    /// Reads a decimal number for `part`.
    fn number(&mut self, part: &'static str) -> Result<usize, PathError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        while self.pos < bytes.len() && bytes[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        let digits = &self.text[start..self.pos];
        if digits.is_empty() {
            let found: String = self.text[start..].chars().take_while(|c| !matches!(c, '.' | '(' | ')')).collect();
            return Err(PathError::NotANumber { path: self.path(), part, found });
        }
        // More than 5 digits is always over MAX_INDEX; avoid overflow on absurd input.
        let n = if digits.len() > 5 { MAX_INDEX + 1 } else { digits.parse::<usize>().unwrap_or(MAX_INDEX + 1) };
        check(part, n, &|| self.path())
    }

    /// Reads an optional `(n)`.
    fn paren(&mut self, part: &'static str) -> Result<Option<usize>, PathError> {
        if self.peek() != Some(b'(') {
            return Ok(None);
        }
        self.pos += 1;
        let n = self.number(part)?;
        if self.peek() != Some(b')') {
            return Err(PathError::UnclosedParen { path: self.path(), part });
        }
        self.pos += 1;
        Ok(Some(n))
    }
}

fn parse_path(text: &str) -> Result<Path, PathError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(PathError::Empty);
    }
    let bytes = text.as_bytes();
    let seg_len = bytes.iter().position(|b| matches!(b, b'-' | b':' | b'.' | b'(')).unwrap_or(bytes.len());
    let segment = parse_segment(&bytes[..seg_len]).ok_or_else(|| PathError::BadSegment { path: text.to_owned() })?;
    let mut c = Cursor { text, pos: seg_len };
    let occurrence = c.paren("segment occurrence")?.unwrap_or(1);
    match c.peek() {
        Some(b'-' | b':' | b'.') => c.pos += 1,
        _ => {
            return Err(PathError::MissingSeparator { path: text.to_owned() });
        }
    }
    let field = c.number("field")?;
    let repetition = c.paren("repetition")?;
    let mut component = None;
    let mut subcomponent = None;
    if c.peek() == Some(b'.') {
        c.pos += 1;
        component = Some(c.number("component")?);
        if c.peek() == Some(b'.') {
            c.pos += 1;
            subcomponent = Some(c.number("subcomponent")?);
        }
    }
    if c.pos < text.len() {
        return Err(PathError::Trailing { path: text.to_owned(), rest: text[c.pos..].to_owned() });
    }
    Ok(Path { segment, occurrence, field, repetition, component, subcomponent })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        s.parse().unwrap()
    }

    #[test]
    fn all_documented_forms_parse() {
        let a = p("PID-3");
        assert_eq!((a.segment(), a.field(), a.component()), ("PID", 3, None));
        let b = p("PID-3.1.2");
        assert_eq!((b.component(), b.subcomponent()), (Some(1), Some(2)));
        let c = p("PID-3(2).1");
        assert_eq!((c.repetition(), c.component()), (Some(2), Some(1)));
        let d = p("OBX(2)-5");
        assert_eq!((d.occurrence(), d.field()), (2, 5));
        assert_eq!(p("PID:3(2).1"), c);
        assert_eq!(p("PID.3"), a);
        assert_eq!(p(" pid-3 "), a);
        assert_eq!(p("MSH-9.2").to_string(), "MSH-9.2");
        assert_eq!(p("OBX(2)-5(3).1.2").to_string(), "OBX(2)-5(3).1.2");
    }

    #[test]
    fn path_errors_are_descriptive() {
        let err = |s: &str| s.parse::<Path>().unwrap_err();
        assert_eq!(err(""), PathError::Empty);
        assert!(matches!(err("PI-3"), PathError::BadSegment { .. }));
        assert!(matches!(err("PID"), PathError::MissingSeparator { .. }));
        assert!(matches!(err("PID-x"), PathError::NotANumber { part: "field", .. }));
        assert!(matches!(err("PID-0"), PathError::Zero { part: "field", .. }));
        assert!(matches!(err("PID-3(0)"), PathError::Zero { part: "repetition", .. }));
        assert!(matches!(err("PID-3(2"), PathError::UnclosedParen { .. }));
        assert!(matches!(err("PID-99999999999999999999999"), PathError::TooLarge { .. }));
        assert!(matches!(err("PID-3.1.2.4"), PathError::Trailing { .. }));
        assert!(matches!(err("PID:PatientIdentifierList"), PathError::NotANumber { .. }));
        let msg = err("PID-x").to_string();
        assert!(msg.contains("PID-x") && msg.contains("field"), "{msg}");
    }

    #[test]
    fn erl_location_for_err_segment() {
        assert_eq!(p("PID-3").to_erl(), "PID^1^3");
        assert_eq!(p("OBX(2)-5.1").to_erl(), "OBX^2^5^1^1");
        assert_eq!(p("PID-3(2).4.2").to_erl(), "PID^1^3^2^4^2");
    }

    #[test]
    fn builder_matches_parsed_form() {
        let b = Path::new("pid", 3).unwrap().with_repetition(2).with_component(1);
        assert_eq!(b, p("PID-3(2).1"));
        assert!(Path::new("PIDX", 3).is_err());
        assert!(Path::new("PID", 0).is_err());
    }
}
