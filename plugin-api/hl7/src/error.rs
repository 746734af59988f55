//! Errors for input that is not an HL7 v2 message.

use crate::delimiters::DelimiterProblem;

/// Why bytes could not be parsed as an HL7 v2 message (or split into messages).
///
/// The message texts name the problem and where it is; [`ParseError::segment_index`],
/// [`ParseError::byte_offset`], [`ParseError::erl_location`] and
/// [`ParseError::ack_error_code`] give the pieces an ACK/NACK `ERR` segment needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace (and possibly a BOM).
    #[error("empty input: no HL7 message (only whitespace)")]
    Empty,
    /// The first segment is not `MSH`.
    #[error(
        "no MSH segment at start: the message begins with {found:?} at byte {offset} \
         (batch files with FHS/BHS must be split with split_messages first)"
    )]
    NoMshAtStart {
        /// Byte offset of the first non-whitespace content.
        offset: usize,
        /// The first bytes found there (lossy text, at most 20 characters).
        found: String,
    },
    /// MSH-1 (the byte after `MSH`) is missing or not ASCII punctuation.
    #[error(
        "MSH-1 field separator missing or invalid: found {found:?} at byte {offset} \
         (must be an ASCII punctuation character such as '|')"
    )]
    InvalidFieldSeparator {
        /// Byte offset where the field separator should be.
        offset: usize,
        /// What is there (empty when the input ends).
        found: String,
    },
    /// MSH-2 is missing, too short/long, repeats a character or uses letters/controls.
    #[error("MSH-2 encoding characters missing or invalid: {problem} (found {found:?})")]
    InvalidEncodingCharacters {
        /// The MSH-2 text found (lossy).
        found: String,
        /// What is wrong with it.
        problem: DelimiterProblem,
    },
    /// A segment line does not start with a 3-character name followed by the field separator.
    #[error(
        "segment {index} has an invalid name {name:?} at byte {offset} (a segment starts with \
         3 upper-case letters or digits followed by the field separator; a stray line break \
         inside a field also causes this)"
    )]
    InvalidSegmentName {
        /// 1-based position of the segment in the message (MSH is 1).
        index: usize,
        /// Byte offset of the start of the line.
        offset: usize,
        /// The start of the line (lossy text, at most 20 characters).
        name: String,
    },
    /// A file holds content that is neither an MSH message nor a batch header/trailer.
    #[error(
        "unexpected content {found:?} at byte {offset}: expected an MSH segment \
         or a batch segment (FHS, BHS, BTS, FTS)"
    )]
    UnexpectedContent {
        /// Byte offset of the offending line.
        offset: usize,
        /// The start of the line (lossy text, at most 20 characters).
        found: String,
    },
}

impl ParseError {
    /// The 1-based index of the offending segment, when the error is about one segment.
    pub fn segment_index(&self) -> Option<usize> {
        match self {
            ParseError::NoMshAtStart { .. }
            | ParseError::InvalidFieldSeparator { .. }
            | ParseError::InvalidEncodingCharacters { .. } => Some(1),
            ParseError::InvalidSegmentName { index, .. } => Some(*index),
            ParseError::Empty | ParseError::UnexpectedContent { .. } => None,
        }
    }

    /// The byte offset in the input where the problem was found, when known.
    pub fn byte_offset(&self) -> Option<usize> {
        match self {
            ParseError::NoMshAtStart { offset, .. }
            | ParseError::InvalidFieldSeparator { offset, .. }
            | ParseError::InvalidSegmentName { offset, .. }
            | ParseError::UnexpectedContent { offset, .. } => Some(*offset),
            ParseError::Empty | ParseError::InvalidEncodingCharacters { .. } => None,
        }
    }

    /// The error location in ERR-2 (ERL) form with `^` separators, e.g. `MSH^1^2`, when the
    /// problem is in a field that can be named.
    pub fn erl_location(&self) -> Option<String> {
        match self {
            ParseError::NoMshAtStart { .. } => Some("MSH^1".to_owned()),
            ParseError::InvalidFieldSeparator { .. } => Some("MSH^1^1".to_owned()),
            ParseError::InvalidEncodingCharacters { .. } => Some("MSH^1^2".to_owned()),
            _ => None,
        }
    }

    /// The HL7 table 0357 code that fits this error: 102 (data type error) for bad delimiters,
    /// 100 (segment sequence error) for everything else.
    pub fn ack_error_code(&self) -> u16 {
        match self {
            ParseError::InvalidFieldSeparator { .. } | ParseError::InvalidEncodingCharacters { .. } => 102,
            _ => 100,
        }
    }
}

/// Short lossy preview of input bytes for error messages.
pub(crate) fn preview(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(80)];
    String::from_utf8_lossy(bytes).chars().take(20).collect()
}
