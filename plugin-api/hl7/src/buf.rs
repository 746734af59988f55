//! An owned, editable message that writes back untouched segments byte for byte.

use std::borrow::Cow;

use crate::charset::Charset;
use crate::delimiters::Delimiters;
use crate::error::{ParseError, preview};
use crate::escape::{escape, unescape};
use crate::message::{Message, NULL_VALUE, field_of, is_header_name, is_segment_name, lookup};
use crate::path::{Path, PathError};

/// One segment of a [`MessageBuf`]: its content and the exact bytes that followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SegBuf {
    content: Vec<u8>,
    terminator: Vec<u8>,
}

/// Why an edit of a [`MessageBuf`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// MSH-1 / MSH-2 (and FHS/BHS-1/2) hold the delimiters and cannot be edited in place.
    #[error(
        "{path}: field 1 and 2 of a header segment hold the delimiters and cannot be set \
         (build a new message with other delimiters instead)"
    )]
    DelimiterField {
        /// The path that was given.
        path: String,
    },
    /// A raw value or segment contains CR or LF, which would end the segment.
    #[error("{what} contains a line break (CR or LF), which would end the segment")]
    LineBreak {
        /// What was being written (a path, or "segment").
        what: String,
    },
    /// A segment index is out of range.
    #[error("segment index {index} is out of range (the message has {count} segments)")]
    NoSuchSegment {
        /// The index given.
        index: usize,
        /// The number of segments.
        count: usize,
    },
    /// The MSH segment cannot be removed, and nothing can be inserted before it.
    #[error("the MSH segment (index 0) cannot be removed or preceded by another segment")]
    HeaderSegment,
    /// A segment to insert does not start with a valid name and the field separator.
    #[error(
        "invalid segment {found:?}: a segment starts with 3 upper-case letters or digits \
         followed by the field separator"
    )]
    InvalidSegment {
        /// The start of the refused segment (lossy text).
        found: String,
    },
    /// A path given as text did not parse.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// An owned HL7 message that can be edited.
///
/// Each segment keeps its original bytes and terminator, so [`MessageBuf::to_bytes`] of an
/// unedited buffer equals the parsed input exactly, and edits change only the segments they
/// touch. New segments get the message's dominant terminator (CR when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBuf {
    prefix: Vec<u8>,
    segs: Vec<SegBuf>,
    delims: Delimiters,
    charset: Charset,
    eol: &'static [u8],
}

impl From<&Message<'_>> for MessageBuf {
    fn from(m: &Message<'_>) -> MessageBuf {
        MessageBuf::from_message(m)
    }
}

impl MessageBuf {
    /// Copies a parsed message into an editable buffer.
    pub fn from_message(m: &Message<'_>) -> MessageBuf {
        MessageBuf {
            prefix: m.prefix().to_vec(),
            segs: m
                .segments()
                .map(|s| SegBuf { content: s.raw().to_vec(), terminator: s.terminator().to_vec() })
                .collect(),
            delims: m.delimiters(),
            charset: m.charset_kind(),
            eol: m.dominant_terminator(),
        }
    }

    /// Parses bytes into an editable buffer.
    pub fn parse(bytes: &[u8]) -> Result<MessageBuf, ParseError> {
        Ok(MessageBuf::from_message(&Message::parse(bytes)?))
    }

    /// A new message holding only `MSH` with the given delimiters (e.g. `MSH|^~\&`), using CR
    /// as segment terminator. Fill it with [`MessageBuf::set`] and [`MessageBuf::push_segment`].
    pub fn with_delimiters(delims: Delimiters) -> MessageBuf {
        let mut content = b"MSH".to_vec();
        content.push(delims.field);
        content.extend(delims.encoding_characters());
        MessageBuf {
            prefix: Vec::new(),
            segs: vec![SegBuf { content, terminator: b"\r".to_vec() }],
            delims,
            charset: Charset::Ascii,
            eol: b"\r",
        }
    }

    /// The delimiter set.
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// The charset from MSH-18 (kept up to date when MSH is edited).
    pub fn charset_kind(&self) -> Charset {
        self.charset
    }

    /// The terminator used for new segments.
    pub fn terminator(&self) -> &'static [u8] {
        self.eol
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segs.len()
    }

    /// The content (without terminator) of segment `index` (0 is MSH).
    pub fn segment_raw(&self, index: usize) -> Option<&[u8]> {
        self.segs.get(index).map(|s| s.content.as_slice())
    }

    /// The name of segment `index`.
    pub fn segment_name(&self, index: usize) -> Option<&str> {
        let c = self.segment_raw(index)?;
        std::str::from_utf8(c.get(..3)?).ok()
    }

    /// The contents of all segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.segs.iter().map(|s| s.content.as_slice())
    }

    fn find(&self, path: &Path) -> Option<usize> {
        let name = path.segment_bytes();
        self.segs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.content.get(..3) == Some(&name[..]))
            .nth(path.occurrence() - 1)
            .map(|(i, _)| i)
    }

    /// The raw bytes at `path`; same rules as [`Message::get`].
    pub fn get(&self, path: &Path) -> Option<&[u8]> {
        let i = self.find(path)?;
        lookup(&self.segs[i].content, &self.delims, path)
    }

    /// The decoded value at `path`; same rules as [`Message::value`].
    pub fn value(&self, path: &Path) -> Option<Cow<'_, str>> {
        let raw = self.get(path)?;
        if path.field() <= 2 && is_header_name(&path.segment_bytes()) {
            return Some(self.charset.decode(raw));
        }
        if raw == NULL_VALUE {
            return Some(Cow::Borrowed(""));
        }
        Some(unescape(raw, &self.delims, self.charset))
    }

    /// Sets the value at `path` to `value`, escaping delimiter characters and line breaks and
    /// encoding it in the message charset. Missing segments, fields, repetitions and components
    /// are created, padded with delimiters.
    ///
    /// `PID-3` replaces the whole field (all repetitions); `PID-3.1` changes component 1 of
    /// the first repetition; `OBX(3)-5` creates OBX segments up to the third when missing
    /// (after the last existing OBX, or at the end).
    pub fn set(&mut self, path: &Path, value: &str) -> Result<(), EditError> {
        let escaped = escape(value, &self.delims);
        let bytes = self.charset.encode(&escaped).into_owned();
        self.set_raw(path, &bytes)
    }

    /// [`MessageBuf::set`] with a path given as text.
    pub fn set_str(&mut self, path: &str, value: &str) -> Result<(), EditError> {
        self.set(&path.parse()?, value)
    }

    /// Sets the explicit null `""` at `path`.
    pub fn set_null(&mut self, path: &Path) -> Result<(), EditError> {
        self.set_raw(path, NULL_VALUE)
    }

    /// Writes `raw` at `path` unchanged (it may contain delimiters to create structure, e.g.
    /// `b"Doe^John"`). Refuses CR/LF and the delimiter fields MSH-1/MSH-2.
    pub fn set_raw(&mut self, path: &Path, raw: &[u8]) -> Result<(), EditError> {
        if raw.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(EditError::LineBreak { what: path.to_string() });
        }
        let header = is_header_name(&path.segment_bytes());
        if header && path.field() <= 2 {
            return Err(EditError::DelimiterField { path: path.to_string() });
        }
        let index = self.ensure_segment(path);
        let d = self.delims;
        let content = &self.segs[index].content;
        let field_index = if header { path.field() - 1 } else { path.field() };
        let updated = replace_piece(content, d.field, field_index, |field| {
            if path.repetition().is_none() && path.component().is_none() {
                return raw.to_vec();
            }
            let rep_index = path.repetition().unwrap_or(1) - 1;
            replace_piece(field, d.repetition, rep_index, |rep| {
                let Some(c) = path.component() else {
                    return raw.to_vec();
                };
                replace_piece(rep, d.component, c - 1, |comp| match path.subcomponent() {
                    None => raw.to_vec(),
                    Some(s) => replace_piece(comp, d.subcomponent, s - 1, |_| raw.to_vec()),
                })
            })
        });
        self.segs[index].content = updated;
        if index == 0 {
            self.refresh_charset();
        }
        Ok(())
    }

    fn refresh_charset(&mut self) {
        let Some(msh) = self.segs.first() else {
            return;
        };
        let d = self.delims;
        let value = field_of(&msh.content, d.field, 18)
            .and_then(|f| f.split(|&b| b == d.repetition).next())
            .and_then(|r| r.split(|&b| b == d.component).next())
            .unwrap_or_default();
        self.charset = Charset::from_msh18(value);
    }

    /// Returns the index of the segment `path` points at, creating it (and any missing
    /// earlier occurrences) when needed.
    fn ensure_segment(&mut self, path: &Path) -> usize {
        if let Some(i) = self.find(path) {
            return i;
        }
        let name = path.segment_bytes();
        let existing: Vec<usize> = self
            .segs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.content.get(..3) == Some(&name[..]))
            .map(|(i, _)| i)
            .collect();
        let mut at = existing.last().map_or(self.segs.len(), |i| i + 1);
        let mut content = name.to_vec();
        if is_header_name(&name) {
            content.push(self.delims.field);
            content.extend(self.delims.encoding_characters());
        }
        for _ in existing.len()..path.occurrence() {
            self.insert_unchecked(at, content.clone());
            at += 1;
        }
        at - 1
    }

    /// Inserts a segment (content without terminator, e.g. `b"ZPI|1|x"`) before position
    /// `index` (1..=segment_count). It gets the dominant terminator.
    pub fn insert_segment(&mut self, index: usize, content: &[u8]) -> Result<(), EditError> {
        if index == 0 {
            return Err(EditError::HeaderSegment);
        }
        if index > self.segs.len() {
            return Err(EditError::NoSuchSegment { index, count: self.segs.len() });
        }
        self.check_segment(content)?;
        self.insert_unchecked(index, content.to_vec());
        Ok(())
    }

    /// Appends a segment at the end of the message.
    pub fn push_segment(&mut self, content: &[u8]) -> Result<(), EditError> {
        self.insert_segment(self.segs.len(), content)
    }

    fn check_segment(&self, content: &[u8]) -> Result<(), EditError> {
        if content.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(EditError::LineBreak { what: "segment".to_owned() });
        }
        let ok = content.len() >= 3
            && is_segment_name(&content[..3])
            && (content.len() == 3 || content[3] == self.delims.field);
        if !ok {
            return Err(EditError::InvalidSegment { found: preview(content) });
        }
        Ok(())
    }

    fn insert_unchecked(&mut self, index: usize, content: Vec<u8>) {
        let index = index.min(self.segs.len());
        let mut seg = SegBuf { content, terminator: self.eol.to_vec() };
        if index == self.segs.len() {
            // The new last segment inherits the old end of the message (e.g. no final
            // newline, or trailing whitespace); the old last segment gets a normal terminator.
            if let Some(last) = self.segs.last_mut() {
                seg.terminator = std::mem::replace(&mut last.terminator, self.eol.to_vec());
            }
        }
        self.segs.insert(index, seg);
    }

    /// Removes segment `index` (not MSH) and returns its content.
    pub fn remove_segment(&mut self, index: usize) -> Result<Vec<u8>, EditError> {
        if index == 0 {
            return Err(EditError::HeaderSegment);
        }
        if index >= self.segs.len() {
            return Err(EditError::NoSuchSegment { index, count: self.segs.len() });
        }
        let removed = self.segs.remove(index);
        if index == self.segs.len() {
            // Keep the message's original ending on the new last segment.
            if let Some(last) = self.segs.last_mut() {
                last.terminator = removed.terminator;
            }
        }
        Ok(removed.content)
    }

    /// The message bytes: original prefix, then each segment and its terminator.
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = self.prefix.len() + self.segs.iter().map(|s| s.content.len() + s.terminator.len()).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        self.write_to(&mut out);
        out
    }

    /// Appends the message bytes to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prefix);
        for s in &self.segs {
            out.extend_from_slice(&s.content);
            out.extend_from_slice(&s.terminator);
        }
    }
}

/// Replaces the `idx`-th (0-based) `sep`-separated piece of `s` with `f(old_piece)`, appending
/// separators first when `s` has fewer pieces.
fn replace_piece(s: &[u8], sep: u8, idx: usize, f: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut start = 0;
    for k in 0..idx {
        match s[start..].iter().position(|&b| b == sep) {
            Some(p) => start += p + 1,
            None => {
                let mut out = Vec::with_capacity(s.len() + idx - k + 8);
                out.extend_from_slice(s);
                out.extend(std::iter::repeat_n(sep, idx - k));
                out.extend(f(b""));
                return out;
            }
        }
    }
    let end = s[start..].iter().position(|&b| b == sep).map_or(s.len(), |p| start + p);
    let new = f(&s[start..end]);
    let mut out = Vec::with_capacity(s.len() - (end - start) + new.len());
    out.extend_from_slice(&s[..start]);
    out.extend(new);
    out.extend_from_slice(&s[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        s.parse().unwrap()
    }

    #[test]
    fn replace_piece_pads_with_separators() {
        assert_eq!(replace_piece(b"a|b", b'|', 1, |_| b"X".to_vec()), b"a|X");
        assert_eq!(replace_piece(b"a|b", b'|', 3, |_| b"X".to_vec()), b"a|b||X");
        assert_eq!(replace_piece(b"", b'^', 0, |_| b"X".to_vec()), b"X");
        assert_eq!(replace_piece(b"a", b'^', 2, |_| b"X".to_vec()), b"a^^X");
    }

    #[test]
    fn set_creates_fields_components_and_repetitions() {
        let mut m = MessageBuf::parse(b"MSH|^~\\&|A\rPID|1\r").unwrap();
        m.set(&p("PID-5.2"), "John").unwrap();
        assert_eq!(m.segment_raw(1).unwrap(), b"PID|1||||^John");
        m.set(&p("PID-3(2).4.2"), "x&y").unwrap();
        assert_eq!(m.segment_raw(1).unwrap(), b"PID|1||~^^^&x\\T\\y||^John");
        m.set(&p("PID-1"), "2").unwrap();
        assert_eq!(m.segment_raw(1).unwrap(), b"PID|2||~^^^&x\\T\\y||^John");
        m.set(&p("MSH-10"), "C1").unwrap();
        assert_eq!(m.segment_raw(0).unwrap(), b"MSH|^~\\&|A|||||||C1");
        assert_eq!(m.value(&p("PID-3(2).4.2")).as_deref(), Some("x&y"));
        assert_eq!(m.to_bytes(), b"MSH|^~\\&|A|||||||C1\rPID|2||~^^^&x\\T\\y||^John\r");
    }

    #[test]
    fn set_creates_missing_segments_after_their_siblings() {
        let mut m = MessageBuf::parse(b"MSH|^~\\&|A\nOBX|1\nNTE|1").unwrap();
        m.set(&p("OBX(3)-1"), "3").unwrap();
        m.set(&p("ZPI-2"), "z").unwrap();
        assert_eq!(m.to_bytes(), b"MSH|^~\\&|A\nOBX|1\nOBX\nOBX|3\nNTE|1\nZPI||z");
    }

    #[test]
    fn delimiter_fields_and_line_breaks_are_refused() {
        let mut m = MessageBuf::parse(b"MSH|^~\\&|A\r").unwrap();
        assert!(matches!(m.set(&p("MSH-2"), "x"), Err(EditError::DelimiterField { .. })));
        assert!(matches!(m.set_raw(&p("PID-1"), b"a\rb"), Err(EditError::LineBreak { .. })));
        // set() escapes line breaks instead.
        m.set(&p("PID-1"), "a\rb").unwrap();
        assert_eq!(m.segment_raw(1).unwrap(), b"PID|a\\X0D\\b");
    }

    #[test]
    fn insert_and_remove_keep_the_original_ending() {
        let input = b"MSH|^~\\&|A\r\nPID|1\r\n\r\n";
        let mut m = MessageBuf::parse(input).unwrap();
        m.push_segment(b"ZPI|1").unwrap();
        assert_eq!(m.to_bytes(), b"MSH|^~\\&|A\r\nPID|1\r\nZPI|1\r\n\r\n");
        assert_eq!(m.remove_segment(2).unwrap(), b"ZPI|1");
        assert_eq!(m.to_bytes(), input);
        assert!(m.insert_segment(1, b"bad|x").is_err());
        assert!(m.remove_segment(0).is_err());
        m.insert_segment(1, b"EVN|A01").unwrap();
        assert_eq!(m.segment_name(1), Some("EVN"));
    }

    #[test]
    fn latin1_message_gets_latin1_bytes() {
        let input = format!("MSH|^~\\&|A{}8859/1\rPID|1\r", "|".repeat(15));
        let mut m = MessageBuf::parse(input.as_bytes()).unwrap();
        assert_eq!(m.charset_kind(), Charset::Latin1);
        m.set(&p("PID-5"), "Müller").unwrap();
        assert_eq!(m.segment_raw(1).unwrap(), b"PID|1||||M\xfcller");
        assert_eq!(m.value(&p("PID-5")).as_deref(), Some("Müller"));
    }

    #[test]
    fn new_message_from_delimiters() {
        let mut m = MessageBuf::with_delimiters(Delimiters::default());
        m.set_str("MSH-9", "ADT^A01").unwrap();
        m.set_raw(&p("MSH-9"), b"ADT^A01").unwrap();
        m.set_str("PID-3.1", "123").unwrap();
        assert_eq!(m.to_bytes(), b"MSH|^~\\&|||||||ADT^A01\rPID|||123\r");
        let parsed = Message::parse(&m.to_bytes()).unwrap().message_type().map(|c| c.into_owned());
        assert_eq!(parsed.as_deref(), Some("ADT^A01"));
    }
}
