//! Files holding several messages: plain concatenations and FHS/BHS ... BTS/FTS batches.

use crate::error::{ParseError, preview};
use crate::message::{UTF8_BOM, field_of, skip_prefix, skip_terminator};

/// One piece of a multi-message file, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit<'a> {
    /// An `FHS` segment (file header), without terminator.
    FileHeader(&'a [u8]),
    /// A `BHS` segment (batch header), without terminator.
    BatchHeader(&'a [u8]),
    /// One message: from its `MSH` (or a BOM right before it) up to the next message or batch
    /// segment, terminators included. Ready for [`crate::parse`].
    Message(&'a [u8]),
    /// A `BTS` segment (batch trailer), without terminator.
    BatchTrailer(&'a [u8]),
    /// An `FTS` segment (file trailer), without terminator.
    FileTrailer(&'a [u8]),
}

/// What a line starts with.
enum LineKind {
    Msh,
    Fhs,
    Bhs,
    Bts,
    Fts,
    Other,
}

fn classify(line: &[u8]) -> LineKind {
    let line = line.strip_prefix(UTF8_BOM).unwrap_or(line);
    let delimited = line.len() == 3 || line.get(3).is_some_and(u8::is_ascii_punctuation);
    if !delimited {
        return LineKind::Other;
    }
    match line.get(..3) {
        Some(b"MSH") => LineKind::Msh,
        Some(b"FHS") => LineKind::Fhs,
        Some(b"BHS") => LineKind::Bhs,
        Some(b"BTS") => LineKind::Bts,
        Some(b"FTS") => LineKind::Fts,
        _ => LineKind::Other,
    }
}

/// Splits a file into batch segments and messages, in order.
///
/// Segment terminators may be CR, LF or CRLF; a BOM and whitespace at the start are skipped.
/// A file of only whitespace gives an empty list. Content before the first `MSH` that is not
/// a batch segment is an error ([`ParseError::UnexpectedContent`]).
pub fn split_units(bytes: &[u8]) -> Result<Vec<Unit<'_>>, ParseError> {
    let (mut pos, _) = skip_prefix(bytes);
    let mut units = Vec::new();
    let mut msg_start: Option<usize> = None;
    while pos < bytes.len() {
        let end = bytes[pos..].iter().position(|&b| b == b'\r' || b == b'\n').map_or(bytes.len(), |p| pos + p);
        let next = skip_terminator(bytes, end);
        let line = &bytes[pos..end];
        let kind = classify(line);
        // A message runs until the next MSH or batch segment.
        if let (false, Some(s)) = (matches!(kind, LineKind::Other), msg_start) {
            msg_start = None;
            units.push(Unit::Message(&bytes[s..pos]));
        }
        match kind {
            LineKind::Msh => msg_start = Some(pos),
            LineKind::Fhs => units.push(Unit::FileHeader(line)),
            LineKind::Bhs => units.push(Unit::BatchHeader(line)),
            LineKind::Bts => units.push(Unit::BatchTrailer(line)),
            LineKind::Fts => units.push(Unit::FileTrailer(line)),
            LineKind::Other if msg_start.is_some() => {}
            LineKind::Other => {
                return Err(ParseError::UnexpectedContent { offset: pos, found: preview(line) });
            }
        }
        pos = next;
    }
    if let Some(s) = msg_start {
        units.push(Unit::Message(&bytes[s..]));
    }
    Ok(units)
}

/// The bytes of each message in a file holding one message, several concatenated messages,
/// or an FHS/BHS ... BTS/FTS batch (whose header and trailer segments are left out).
pub fn split_messages(bytes: &[u8]) -> Result<Vec<&[u8]>, ParseError> {
    Ok(split_units(bytes)?
        .into_iter()
        .filter_map(|u| match u {
            Unit::Message(m) => Some(m),
            _ => None,
        })
        .collect())
}

/// A whole file read as a batch: headers, trailers and the messages between them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch<'a> {
    /// The `FHS` segment, if any.
    pub file_header: Option<&'a [u8]>,
    /// Every `BHS` segment, in order.
    pub batch_headers: Vec<&'a [u8]>,
    /// Every message, in order (see [`Unit::Message`]).
    pub messages: Vec<&'a [u8]>,
    /// Every `BTS` segment, in order.
    pub batch_trailers: Vec<&'a [u8]>,
    /// The `FTS` segment, if any.
    pub file_trailer: Option<&'a [u8]>,
}

impl<'a> Batch<'a> {
    /// Reads a file; see [`split_units`].
    pub fn parse(bytes: &'a [u8]) -> Result<Batch<'a>, ParseError> {
        let mut b = Batch::default();
        for unit in split_units(bytes)? {
            match unit {
                Unit::FileHeader(s) => b.file_header = Some(s),
                Unit::BatchHeader(s) => b.batch_headers.push(s),
                Unit::Message(m) => b.messages.push(m),
                Unit::BatchTrailer(s) => b.batch_trailers.push(s),
                Unit::FileTrailer(s) => b.file_trailer = Some(s),
            }
        }
        Ok(b)
    }

    /// True when the file has any FHS/BHS/BTS/FTS segment.
    pub fn is_batch(&self) -> bool {
        self.file_header.is_some()
            || self.file_trailer.is_some()
            || !self.batch_headers.is_empty()
            || !self.batch_trailers.is_empty()
    }

    /// Field `n` of the FHS segment (FHS-1 is the field separator, as for MSH), raw.
    pub fn file_header_field(&self, n: usize) -> Option<&'a [u8]> {
        let h = self.file_header?;
        field_of(h, *h.get(3)?, n)
    }

    /// Field `n` of the first BHS segment, raw.
    pub fn batch_header_field(&self, n: usize) -> Option<&'a [u8]> {
        let h = *self.batch_headers.first()?;
        field_of(h, *h.get(3)?, n)
    }

    /// The message count the batch trailers declare (sum of BTS-1), if any BTS gives one.
    pub fn declared_message_count(&self) -> Option<u64> {
        let counts: Vec<u64> = self.batch_trailers.iter().filter_map(|t| trailer_count(t)).collect();
        (!counts.is_empty()).then(|| counts.iter().fold(0u64, |a, &c| a.saturating_add(c)))
    }

    /// The batch count the file trailer declares (FTS-1), if given.
    pub fn declared_batch_count(&self) -> Option<u64> {
        trailer_count(self.file_trailer?)
    }

    /// False when a trailer declares a count that differs from what the file holds.
    pub fn counts_match(&self) -> bool {
        let msgs_ok = self.declared_message_count().is_none_or(|n| n == self.messages.len() as u64);
        let batches_ok = self.declared_batch_count().is_none_or(|n| n == self.batch_headers.len().max(1) as u64);
        msgs_ok && batches_ok
    }
}

/// Field 1 of a BTS/FTS segment as a number.
fn trailer_count(seg: &[u8]) -> Option<u64> {
    let sep = *seg.get(3)?;
    let f = field_of(seg, sep, 1)?;
    std::str::from_utf8(f).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_messages_split_at_each_msh() {
        let file = b"\xEF\xBB\xBFMSH|^~\\&|A\nPID|1\n\nMSH|^~\\&|B\rPID|2\r";
        let msgs = split_messages(file).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], b"MSH|^~\\&|A\nPID|1\n\n");
        assert_eq!(msgs[1], b"MSH|^~\\&|B\rPID|2\r");
    }

    #[test]
    fn concatenated_files_with_a_bom_each_split_cleanly() {
        let file = b"\xEF\xBB\xBFMSH|^~\\&|A\r\n\xEF\xBB\xBFMSH|^~\\&|B\r\n";
        let msgs = split_messages(file).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], b"MSH|^~\\&|A\r\n");
        assert_eq!(msgs[1], b"\xEF\xBB\xBFMSH|^~\\&|B\r\n");
        assert!(crate::parse(msgs[1]).unwrap().has_bom());
    }

    #[test]
    fn batch_segments_are_not_messages() {
        let file = b"FHS|^~\\&|X\rBHS|^~\\&\rMSH|^~\\&|A\rPID|1\rMSH|^~\\&|B\rBTS|2\rFTS|1\r";
        let b = Batch::parse(file).unwrap();
        assert!(b.is_batch());
        assert_eq!(b.messages, vec![&b"MSH|^~\\&|A\rPID|1\r"[..], b"MSH|^~\\&|B\r"]);
        assert_eq!(b.declared_message_count(), Some(2));
        assert_eq!(b.declared_batch_count(), Some(1));
        assert!(b.counts_match());
        assert_eq!(b.file_header_field(3), Some(&b"X"[..]));
    }

    #[test]
    fn junk_before_first_message_is_an_error_and_blank_file_is_empty() {
        assert!(matches!(split_messages(b"hello\rMSH|^~\\&\r"), Err(ParseError::UnexpectedContent { offset: 0, .. })));
        assert_eq!(split_messages(b" \r\n ").unwrap().len(), 0);
    }
}
