//! The delimiter set of a message: MSH-1 (field separator) and MSH-2 (encoding characters).

use std::fmt;

/// The six delimiter characters of an HL7 v2 message.
///
/// Taken from the header segment: the field separator is the byte right after `MSH`, the
/// encoding characters are MSH-2 in the order component, repetition, escape, subcomponent and
/// (v2.7+, optional) truncation. Nothing in this crate assumes the standard `|^~\&` set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delimiters {
    /// Field separator (MSH-1), normally `|`.
    pub field: u8,
    /// Component separator (MSH-2 character 1), normally `^`.
    pub component: u8,
    /// Repetition separator (MSH-2 character 2), normally `~`.
    pub repetition: u8,
    /// Escape character (MSH-2 character 3), normally `\`.
    pub escape: u8,
    /// Subcomponent separator (MSH-2 character 4), normally `&`.
    pub subcomponent: u8,
    /// Truncation character (MSH-2 character 5, HL7 v2.7+), normally `#` when present.
    pub truncation: Option<u8>,
}

impl Default for Delimiters {
    /// The standard set `|^~\&` without a truncation character.
    fn default() -> Self {
        Delimiters {
            field: b'|',
            component: b'^',
            repetition: b'~',
            escape: b'\\',
            subcomponent: b'&',
            truncation: None,
        }
    }
}

/// Why a delimiter set was refused. Used inside [`crate::ParseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelimiterProblem {
    /// MSH-2 has fewer than 4 characters.
    TooShort,
    /// MSH-2 has more than 5 characters (or the field separator after it is missing).
    TooLong,
    /// A delimiter is a letter, digit, space, control character or non-ASCII byte.
    NotPunctuation,
    /// Two delimiters are the same character.
    Duplicate,
}

impl fmt::Display for DelimiterProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DelimiterProblem::TooShort => "fewer than 4 encoding characters",
            DelimiterProblem::TooLong => "more than 5 encoding characters (or no field separator after MSH-2)",
            DelimiterProblem::NotPunctuation => "a delimiter is a letter, digit, space, control or non-ASCII character",
            DelimiterProblem::Duplicate => "the same character is used for two delimiters",
        })
    }
}

/// True for bytes we accept as delimiters: printable ASCII punctuation.
///
/// HL7 allows "any" character, but letters, digits, whitespace and controls would make the
/// segment names and line structure ambiguous, and non-ASCII bytes would depend on the charset.
pub fn is_valid_delimiter(b: u8) -> bool {
    b.is_ascii_punctuation()
}

impl Delimiters {
    /// Builds a delimiter set from the field separator and the MSH-2 encoding characters
    /// (4 or 5 bytes), checking that every character is ASCII punctuation and all are distinct.
    pub fn from_parts(field: u8, encoding: &[u8]) -> Result<Delimiters, DelimiterProblem> {
        if encoding.len() < 4 {
            return Err(DelimiterProblem::TooShort);
        }
        if encoding.len() > 5 {
            return Err(DelimiterProblem::TooLong);
        }
        let all = std::iter::once(field).chain(encoding.iter().copied());
        let mut seen = [false; 128];
        for b in all {
            if !is_valid_delimiter(b) {
                return Err(DelimiterProblem::NotPunctuation);
            }
            let slot = &mut seen[usize::from(b & 0x7f)];
            if *slot {
                return Err(DelimiterProblem::Duplicate);
            }
            *slot = true;
        }
        Ok(Delimiters {
            field,
            component: encoding[0],
            repetition: encoding[1],
            escape: encoding[2],
            subcomponent: encoding[3],
            truncation: encoding.get(4).copied(),
        })
    }

    /// The MSH-2 text of this set (4 or 5 bytes), e.g. `^~\&` or `^~\&#`.
    pub fn encoding_characters(&self) -> Vec<u8> {
        let mut v = vec![self.component, self.repetition, self.escape, self.subcomponent];
        if let Some(t) = self.truncation {
            v.push(t);
        }
        v
    }

    /// True when `b` is one of the delimiter characters (including the truncation character).
    pub fn is_delimiter(&self, b: u8) -> bool {
        b == self.field
            || b == self.component
            || b == self.repetition
            || b == self.escape
            || b == self.subcomponent
            || Some(b) == self.truncation
    }
}

impl fmt::Display for Delimiters {
    /// Writes MSH-1 followed by MSH-2, e.g. `|^~\&`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(6);
        s.push(char::from(self.field));
        for b in self.encoding_characters() {
            s.push(char::from(b));
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_set_is_default_and_displays_as_msh1_msh2() {
        let d = Delimiters::from_parts(b'|', b"^~\\&").unwrap();
        assert_eq!(d, Delimiters::default());
        assert_eq!(d.to_string(), "|^~\\&");
    }

    #[test]
    fn five_characters_give_a_truncation_character() {
        let d = Delimiters::from_parts(b'|', b"^~\\&#").unwrap();
        assert_eq!(d.truncation, Some(b'#'));
        assert_eq!(d.encoding_characters(), b"^~\\&#");
    }

    #[test]
    fn bad_sets_are_refused_with_a_reason() {
        assert_eq!(Delimiters::from_parts(b'|', b"^~\\"), Err(DelimiterProblem::TooShort));
        assert_eq!(Delimiters::from_parts(b'|', b"^~\\&#!"), Err(DelimiterProblem::TooLong));
        assert_eq!(Delimiters::from_parts(b'|', b"^~\\|"), Err(DelimiterProblem::Duplicate));
        assert_eq!(Delimiters::from_parts(b'|', b"^~\\A"), Err(DelimiterProblem::NotPunctuation));
    }
}
