//! Conversion errors and the places they point at.
//!
//! # Invariants
//!
//! - Every error says what is wrong and where: a line and column in the JSON or XML text,
//!   or a [`Location`] in the HL7 message being built (1-based segment number, segment name,
//!   and field, repetition, component, subcomponent as far as known).
//! - Messages are complete sentences without a trailing period, so callers can add context.

use std::fmt;

/// A place in a JSON or XML text: 1-based line and column (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Position {
    /// The position of byte offset `offset` in `text` (clamped to its length).
    pub fn of_offset(text: &str, offset: usize) -> Position {
        let mut at = offset.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let before = &text[..at];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position { line, column: before[line_start..].chars().count() + 1 }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} column {}", self.line, self.column)
    }
}

/// A place in the HL7 message being built, e.g. `segment 3 (PID), PID-5(2).1`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// 1-based segment number (MSH is 1).
    pub segment: usize,
    /// The segment name, when known.
    pub name: Option<String>,
    /// 1-based field number.
    pub field: Option<u32>,
    /// 1-based repetition.
    pub repetition: Option<u32>,
    /// 1-based component.
    pub component: Option<u32>,
    /// 1-based subcomponent.
    pub subcomponent: Option<u32>,
}

impl Location {
    /// The location of segment `segment` (1-based) called `name`, and the item inside it
    /// (numbers that do not fit `u32` are left out).
    pub(crate) fn new(segment: usize, name: Option<&str>, item: [Option<usize>; 4]) -> Location {
        let n = |x: Option<usize>| x.and_then(|v| u32::try_from(v).ok());
        Location {
            segment,
            name: name.map(str::to_owned),
            field: n(item[0]),
            repetition: n(item[1]),
            component: n(item[2]),
            subcomponent: n(item[3]),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {}", self.segment)?;
        if let Some(n) = &self.name {
            write!(f, " ({n})")?;
        }
        let Some(field) = self.field else { return Ok(()) };
        match &self.name {
            Some(n) => write!(f, ", {n}-{field}")?,
            None => write!(f, ", field {field}")?,
        }
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

/// Why JSON or XML could not be turned into HL7 v2 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The JSON is malformed or not in the documented shape. `position` is `None` for
    /// [`super::from_json_value`].
    #[error("invalid JSON{}: {message}", at_position(.position))]
    Json {
        /// What is wrong, with the HL7 location when known.
        message: String,
        /// Where in the text.
        position: Option<Position>,
    },
    /// The XML is malformed or not in the documented shape.
    #[error("invalid XML at {position}: {message}")]
    Xml {
        /// What is wrong, naming the element.
        message: String,
        /// Where in the text.
        position: Position,
    },
    /// There is no segment at all.
    #[error("the message has no segments (it needs at least MSH)")]
    NoSegments,
    /// The first segment is not MSH.
    #[error("segment 1 is {found:?}, but a message starts with MSH")]
    FirstNotMsh {
        /// The name found.
        found: String,
    },
    /// A segment name is not three upper-case ASCII letters or digits.
    #[error("segment {segment}: {name:?} is not a segment name (three upper-case letters or digits)")]
    SegmentName {
        /// 1-based segment number.
        segment: usize,
        /// The name found.
        name: String,
    },
    /// MSH-1 / MSH-2 (or FHS/BHS-1) do not give a usable delimiter set.
    #[error("{at}: {message}")]
    Delimiters {
        /// Where.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// A value holds a separator of its own level or above (it would change the structure).
    #[error("{at}: the value contains the {what} {separator:?}; write it as the escape sequence {escape}")]
    Separator {
        /// Where.
        at: Location,
        /// Which separator (`field separator`, `component separator`, ...).
        what: &'static str,
        /// The separator character.
        separator: char,
        /// The escape sequence that stands for it (`\F\`).
        escape: String,
    },
    /// An escape element (`<escape V="..."/>` in XML) does not hold an escape sequence that
    /// can be written into the message: HL7 does not define it, or it contains a delimiter.
    #[error("{at}: the escape sequence {sequence:?} {problem}")]
    Escape {
        /// Where.
        at: Location,
        /// The text between the escape characters, as given (`V`).
        sequence: String,
        /// What is wrong (`is not one HL7 defines (...)`, `contains the field separator '|'`).
        problem: String,
    },
    /// A value holds CR or LF, which would end the segment.
    #[error(
        "{at}: the value contains a line break (CR or LF), which would end the segment; write it as \\X0D\\ or \\X0A\\"
    )]
    LineBreak {
        /// Where.
        at: Location,
    },
    /// A value's shape does not fit its level (e.g. repetitions inside a repetition).
    #[error("{at}: {message}")]
    Shape {
        /// Where.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// A character cannot be written in the message's byte encoding.
    #[error("{at}: the character {ch:?} cannot be written in {encoding}")]
    Unencodable {
        /// Where.
        at: Location,
        /// The character.
        ch: char,
        /// The encoding's name (`iso-8859-1`).
        encoding: &'static str,
    },
    /// The numbers ask for more empty fields or components than the input could mean
    /// (more than 1 MiB plus the input's length in gap filler).
    #[error("the item numbers ask for more than {limit} empty fields or components to fill gaps")]
    TooLarge {
        /// The limit that was reached.
        limit: usize,
    },
}

fn at_position(p: &Option<Position>) -> String {
    p.map(|p| format!(" at {p}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_like_hl7_paths() {
        let mut l = Location { segment: 3, name: Some("PID".into()), ..Location::default() };
        assert_eq!(l.to_string(), "segment 3 (PID)");
        l.field = Some(5);
        l.repetition = Some(2);
        l.component = Some(1);
        assert_eq!(l.to_string(), "segment 3 (PID), PID-5(2).1");
        l.name = None;
        l.subcomponent = Some(4);
        assert_eq!(l.to_string(), "segment 3, field 5(2).1.4");
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let t = "ab\ncdé\nf";
        assert_eq!(Position::of_offset(t, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::of_offset(t, 3), Position { line: 2, column: 1 });
        assert_eq!(Position::of_offset(t, 7), Position { line: 2, column: 4 });
        assert_eq!(Position::of_offset(t, 99), Position { line: 3, column: 2 });
        // Inside a multi-byte character: the character's start.
        assert_eq!(Position::of_offset(t, 6), Position { line: 2, column: 3 });
    }
}
