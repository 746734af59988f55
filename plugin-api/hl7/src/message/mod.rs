//! Zero-copy parsing of one HL7 v2 message and read access to it.

use std::borrow::Cow;
use std::fmt;

use crate::charset::Charset;
use crate::delimiters::{Delimiters, is_valid_delimiter};
use crate::error::{ParseError, preview};
use crate::escape::unescape;
use crate::path::{Path, PathError};

/// The UTF-8 byte order mark some senders put before `MSH`.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Byte ranges of one segment inside the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    /// First byte of the segment (its name).
    pub(crate) start: usize,
    /// End of the segment content (exclusive): the first CR/LF or the end of input.
    pub(crate) end: usize,
    /// Start of the next segment, or the end of input: `end..next` is the terminator
    /// (CR, LF, CRLF, blank lines, trailing whitespace).
    pub(crate) next: usize,
}

/// A parsed HL7 v2 message borrowing the input bytes.
///
/// Parsing builds only a small index of segment positions; fields, repetitions and components
/// are found on demand by scanning the segment, without allocating. The input is kept whole, so
/// [`Message::as_bytes`] gives back exactly the bytes that were parsed (BOM, segment
/// terminators and trailing whitespace included).
#[derive(Clone)]
pub struct Message<'a> {
    bytes: &'a [u8],
    body_start: usize,
    has_bom: bool,
    delims: Delimiters,
    charset: Charset,
    spans: Vec<Span>,
}

/// Parses one HL7 v2 message. See [`Message`] and the crate documentation for what is accepted.
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, ParseError> {
    Message::parse(bytes)
}

/// True for bytes that may fill an otherwise blank line (folded into the previous terminator).
fn is_filler(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | 0x0C | 0x00)
}

fn is_eol(b: u8) -> bool {
    b == b'\r' || b == b'\n'
}

/// True for the segment names whose field 1 is the field separator itself.
pub(crate) fn is_header_name(name: &[u8]) -> bool {
    matches!(name, b"MSH" | b"FHS" | b"BHS")
}

/// True for a valid segment name: three upper-case ASCII letters or digits.
pub(crate) fn is_segment_name(name: &[u8]) -> bool {
    name.len() == 3 && name.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Skips leading whitespace, an optional UTF-8 BOM and more whitespace; returns
/// (offset of the content, whether a BOM was seen).
pub(crate) fn skip_prefix(bytes: &[u8]) -> (usize, bool) {
    let mut i = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let mut bom = false;
    if bytes[i..].starts_with(UTF8_BOM) {
        bom = true;
        i += UTF8_BOM.len();
        i += bytes[i..].iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len() - i);
    }
    (i, bom)
}

/// Reads the delimiters from an MSH (or FHS/BHS) line starting at `start`.
pub(crate) fn read_delimiters(bytes: &[u8], start: usize) -> Result<Delimiters, ParseError> {
    let fs_at = start + 3;
    let fs = match bytes.get(fs_at) {
        Some(&b) if is_valid_delimiter(b) => b,
        other => {
            return Err(ParseError::InvalidFieldSeparator {
                offset: fs_at,
                found: other.map(|b| preview(&[*b])).unwrap_or_default(),
            });
        }
    };
    let enc_start = fs_at + 1;
    let rest = bytes.get(enc_start..).unwrap_or_default();
    let enc_len = rest.iter().position(|&b| b == fs || is_eol(b)).unwrap_or(rest.len());
    let enc = &rest[..enc_len];
    Delimiters::from_parts(fs, enc)
        .map_err(|problem| ParseError::InvalidEncodingCharacters { found: preview(enc), problem })
}

/// Splits `content` on `sep` and returns the `k`-th (0-based) piece.
fn nth_piece(content: &[u8], sep: u8, k: usize) -> Option<&[u8]> {
    content.split(|&b| b == sep).nth(k)
}

/// Field `n` (1-based) of a segment's content, raw. For header segments field 1 is the
/// field separator and field 2 the encoding characters.
pub(crate) fn field_of(content: &[u8], fs: u8, n: usize) -> Option<&[u8]> {
    if n == 0 || content.len() < 4 {
        return None;
    }
    let after_name = &content[4..];
    if is_header_name(&content[..3]) {
        match n {
            1 => Some(&content[3..4]),
            _ => nth_piece(after_name, fs, n - 2),
        }
    } else {
        nth_piece(after_name, fs, n - 1)
    }
}

/// Resolves the field/repetition/component/subcomponent part of `path` inside one segment's
/// content (the segment itself is already chosen).
pub(crate) fn lookup<'a>(content: &'a [u8], d: &Delimiters, path: &Path) -> Option<&'a [u8]> {
    let field = field_of(content, d.field, path.field())?;
    if path.field() <= 2 && content.len() >= 3 && is_header_name(&content[..3]) {
        // MSH-1 and MSH-2 hold delimiter characters: they have no inner structure.
        let whole = [path.repetition(), path.component(), path.subcomponent()].iter().all(|x| x.is_none_or(|n| n == 1));
        return whole.then_some(field);
    }
    let rep = match (path.repetition(), path.component()) {
        (Some(r), _) => nth_piece(field, d.repetition, r - 1)?,
        (None, Some(_)) => nth_piece(field, d.repetition, 0)?,
        (None, None) => return Some(field),
    };
    let Some(c) = path.component() else {
        return Some(rep);
    };
    let comp = nth_piece(rep, d.component, c - 1)?;
    match path.subcomponent() {
        Some(s) => nth_piece(comp, d.subcomponent, s - 1),
        None => Some(comp),
    }
}

/// The explicit HL7 null value `""`.
pub const NULL_VALUE: &[u8] = b"\"\"";

impl<'a> Message<'a> {
    /// Parses one HL7 v2 message; same as the free function [`parse`].
    ///
    /// Accepted: CR, LF or CRLF segment terminators (mixed too), blank lines between segments,
    /// leading/trailing whitespace, a UTF-8 BOM before `MSH`, any punctuation delimiters,
    /// 4- or 5-character MSH-2, Z-segments, empty fields. Segment names must be 3 upper-case
    /// letters/digits followed by the field separator or the end of the line.
    ///
    /// The input is taken as one message: a later `MSH` line is kept as an ordinary segment.
    /// Use [`crate::split_messages`] for files that may hold several messages or a batch.
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, ParseError> {
        let (start, has_bom) = skip_prefix(bytes);
        if start >= bytes.len() {
            return Err(ParseError::Empty);
        }
        if !bytes[start..].starts_with(b"MSH") {
            let line_end = bytes[start..].iter().position(|&b| is_eol(b)).map_or(bytes.len(), |p| start + p);
            return Err(ParseError::NoMshAtStart { offset: start, found: preview(&bytes[start..line_end]) });
        }
        let delims = read_delimiters(bytes, start)?;
        let spans = index_segments(bytes, start, delims.field)?;
        let mut msg = Message { bytes, body_start: start, has_bom, delims, charset: Charset::Ascii, spans };
        msg.charset = Charset::from_msh18(msg.msh(18, 1).unwrap_or_default());
        Ok(msg)
    }

    /// The complete input, byte for byte (BOM, terminators and trailing bytes included).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// A copy of [`Message::as_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.to_vec()
    }

    /// Bytes before `MSH`: leading whitespace and/or the UTF-8 BOM (usually empty).
    pub fn prefix(&self) -> &'a [u8] {
        &self.bytes[..self.body_start]
    }

    /// The input from `MSH` to the end (without BOM / leading whitespace).
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[self.body_start..]
    }

    /// True when the input started with a UTF-8 byte order mark.
    pub fn has_bom(&self) -> bool {
        self.has_bom
    }

    /// The message's delimiter set (from MSH-1 and MSH-2).
    pub fn delimiters(&self) -> Delimiters {
        self.delims
    }

    /// The character set named in MSH-18 (ASCII when empty).
    pub fn charset_kind(&self) -> Charset {
        self.charset
    }

    /// This message read in charset `charset` instead of MSH-18's: what a service's
    /// `DefCharEncoding` decided ([`crate::DefCharEncoding::resolve`]). Bytes are unchanged;
    /// only decoded values differ.
    pub fn with_charset(mut self, charset: Charset) -> Self {
        self.charset = charset;
        self
    }

    /// Number of segments (MSH included).
    pub fn segment_count(&self) -> usize {
        self.spans.len()
    }

    /// The segment at 0-based position `index` (0 is MSH).
    pub fn segment(&self, index: usize) -> Option<Segment<'a>> {
        let s = self.spans.get(index)?;
        Some(Segment {
            raw: &self.bytes[s.start..s.end],
            terminator: &self.bytes[s.end..s.next],
            delims: self.delims,
            charset: self.charset,
            index,
        })
    }

    /// All segments in order.
    pub fn segments(&self) -> Segments<'_, 'a> {
        Segments { msg: self, next: 0 }
    }

    /// The segments called `name` (e.g. `"OBX"`), in order.
    pub fn segments_named<'m>(&'m self, name: &'m str) -> impl Iterator<Item = Segment<'a>> + 'm {
        self.segments().filter(move |s| s.name_bytes() == name.as_bytes())
    }

    /// The `occurrence`-th (1-based) segment called `name`.
    pub fn find_segment(&self, name: &str, occurrence: usize) -> Option<Segment<'a>> {
        self.segments_named(name).nth(occurrence.checked_sub(1)?)
    }

    /// True when at least one segment is called `name`.
    pub fn has_segment(&self, name: &str) -> bool {
        self.segments_named(name).next().is_some()
    }

    /// Raw content (without terminator) of the segment a path points at.
    fn segment_for(&self, path: &Path) -> Option<&'a [u8]> {
        let name = path.segment_bytes();
        self.spans
            .iter()
            .map(|s| &self.bytes[s.start..s.end])
            .filter(|c| c.get(..3) == Some(&name[..]))
            .nth(path.occurrence() - 1)
    }

    /// The raw (still escaped) bytes at `path`, or `None` when the segment, field, repetition,
    /// component or subcomponent is not present. A present but empty field gives `Some(b"")`.
    ///
    /// Without a repetition or component (`PID-3`) the whole field is returned, all
    /// repetitions included. With a component but no repetition (`PID-3.1`) the first
    /// repetition is used. Asking for component 1 of a field without components returns the
    /// whole field (likewise repetition 1 and subcomponent 1).
    pub fn get(&self, path: &Path) -> Option<&'a [u8]> {
        lookup(self.segment_for(path)?, &self.delims, path)
    }

    /// [`Message::get`] with a path given as text.
    pub fn get_str(&self, path: &str) -> Result<Option<&'a [u8]>, PathError> {
        Ok(self.get(&path.parse()?))
    }

    /// The decoded value at `path`: escapes resolved and the MSH-18 charset applied.
    ///
    /// The explicit null `""` is returned as `Some("")`; use [`Message::is_null`] to tell it
    /// apart from an empty field. Borrows from the input when nothing needs decoding.
    pub fn value(&self, path: &Path) -> Option<Cow<'a, str>> {
        let raw = self.get(path)?;
        if path.field() <= 2 && is_header_name(&path.segment_bytes()) {
            // MSH-1/MSH-2 are the delimiters themselves, never escaped.
            return Some(self.charset.decode(raw));
        }
        if raw == NULL_VALUE {
            return Some(Cow::Borrowed(""));
        }
        Some(unescape(raw, &self.delims, self.charset))
    }

    /// [`Message::value`] with a path given as text.
    pub fn value_str(&self, path: &str) -> Result<Option<Cow<'a, str>>, PathError> {
        Ok(self.value(&path.parse()?))
    }

    /// True when the value at `path` is the explicit HL7 null `""` ("delete this value").
    pub fn is_null(&self, path: &Path) -> bool {
        self.get(path) == Some(NULL_VALUE)
    }

    /// MSH-`field`.`component` as raw bytes (internal shortcut without a `Path`).
    fn msh(&self, field: usize, component: usize) -> Option<&'a [u8]> {
        let s = self.spans.first()?;
        let content = &self.bytes[s.start..s.end];
        let f = field_of(content, self.delims.field, field)?;
        let rep = nth_piece(f, self.delims.repetition, 0)?;
        nth_piece(rep, self.delims.component, component - 1)
    }

    /// MSH field (first repetition, all components) as text; `None` when empty or not UTF-8.
    fn msh_field_str(&self, field: usize) -> Option<&'a str> {
        let s = self.spans.first()?;
        let content = &self.bytes[s.start..s.end];
        let f = field_of(content, self.delims.field, field)?;
        non_empty_str(nth_piece(f, self.delims.repetition, 0)?)
    }

    fn msh_str(&self, field: usize, component: usize) -> Option<&'a str> {
        non_empty_str(self.msh(field, component)?)
    }

    /// The message type as `code^event` (MSH-9.1 and MSH-9.2 joined by `^`, e.g.
    /// `"ADT^A01"`), or just the code when there is no event. Borrowed from the input when
    /// the message uses `^` as component separator.
    pub fn message_type(&self) -> Option<Cow<'a, str>> {
        let code = self.message_code()?;
        let Some(event) = self.trigger_event() else {
            return Some(Cow::Borrowed(code));
        };
        if self.delims.component == b'^' {
            // code and event are adjacent in MSH-9 ("ADT^A01"): borrow that span.
            let f = self.msh(9, 1)?;
            let len = code.len() + 1 + event.len();
            let base = f.as_ptr() as usize - self.bytes.as_ptr() as usize;
            if let Some(s) = self.bytes.get(base..base + len).and_then(non_empty_str) {
                return Some(Cow::Borrowed(s));
            }
        }
        Some(Cow::Owned(format!("{code}^{event}")))
    }

    /// MSH-9.1, the message code (e.g. `ADT`).
    pub fn message_code(&self) -> Option<&'a str> {
        self.msh_str(9, 1)
    }

    /// MSH-9.2, the trigger event (e.g. `A01`).
    pub fn trigger_event(&self) -> Option<&'a str> {
        self.msh_str(9, 2)
    }

    /// MSH-9.3, the message structure (e.g. `ADT_A01`).
    pub fn message_structure(&self) -> Option<&'a str> {
        self.msh_str(9, 3)
    }

    /// MSH-10, the message control id.
    pub fn control_id(&self) -> Option<&'a str> {
        self.msh_field_str(10)
    }

    /// MSH-11.1, the processing id (`P`, `T`, `D`).
    pub fn processing_id(&self) -> Option<&'a str> {
        self.msh_str(11, 1)
    }

    /// MSH-12.1, the version id (e.g. `2.5.1`).
    pub fn version(&self) -> Option<&'a str> {
        self.msh_str(12, 1)
    }

    /// MSH-3, the sending application (whole field, e.g. `APP^1.2.3^ISO`; raw text).
    pub fn sending_application(&self) -> Option<&'a str> {
        self.msh_field_str(3)
    }

    /// MSH-4, the sending facility (whole field, raw text).
    pub fn sending_facility(&self) -> Option<&'a str> {
        self.msh_field_str(4)
    }

    /// MSH-5, the receiving application (whole field, raw text).
    pub fn receiving_application(&self) -> Option<&'a str> {
        self.msh_field_str(5)
    }

    /// MSH-6, the receiving facility (whole field, raw text).
    pub fn receiving_facility(&self) -> Option<&'a str> {
        self.msh_field_str(6)
    }

    /// MSH-15, the accept acknowledgment type (`AL`, `NE`, `ER`, `SU`).
    pub fn accept_ack_type(&self) -> Option<&'a str> {
        self.msh_field_str(15)
    }

    /// MSH-16, the application acknowledgment type (`AL`, `NE`, `ER`, `SU`).
    pub fn application_ack_type(&self) -> Option<&'a str> {
        self.msh_field_str(16)
    }

    /// MSH-18 (first repetition), the character set name as written (e.g. `8859/1`).
    pub fn charset(&self) -> Option<&'a str> {
        self.msh_field_str(18)
    }

    /// The segment terminator used most often (`\r`, `\n` or `\r\n`); `\r` when the message
    /// has a single unterminated segment. New segments written by [`crate::MessageBuf`] use it.
    pub fn dominant_terminator(&self) -> &'static [u8] {
        let mut counts = [0usize; 3];
        for s in &self.spans {
            if let Some(i) = classify_terminator(&self.bytes[s.end..s.next]) {
                counts[i] += 1;
            }
        }
        let best = (0..3).max_by_key(|&i| (counts[i], usize::from(i == 0))).unwrap_or(0);
        if counts[best] == 0 {
            return TERMINATORS[0];
        }
        TERMINATORS[best]
    }
}

/// The three segment terminators in preference order.
pub(crate) const TERMINATORS: [&[u8]; 3] = [b"\r", b"\n", b"\r\n"];

/// Which of [`TERMINATORS`] a terminator starts with.
pub(crate) fn classify_terminator(t: &[u8]) -> Option<usize> {
    match t {
        [b'\r', b'\n', ..] => Some(2),
        [b'\r', ..] => Some(0),
        [b'\n', ..] => Some(1),
        _ => None,
    }
}

fn non_empty_str(b: &[u8]) -> Option<&str> {
    match std::str::from_utf8(b) {
        Ok(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Builds the segment index from the MSH line at `start`; validates every later segment name.
fn index_segments(bytes: &[u8], start: usize, fs: u8) -> Result<Vec<Span>, ParseError> {
    let mut spans = Vec::with_capacity(32);
    let mut pos = start;
    while pos < bytes.len() {
        let end = bytes[pos..].iter().position(|&b| is_eol(b)).map_or(bytes.len(), |p| pos + p);
        if !spans.is_empty() {
            let content = &bytes[pos..end];
            let name_ok =
                content.len() >= 3 && is_segment_name(&content[..3]) && (content.len() == 3 || content[3] == fs);
            if !name_ok {
                return Err(ParseError::InvalidSegmentName {
                    index: spans.len() + 1,
                    offset: pos,
                    name: preview(&content[..content.len().min(20)]),
                });
            }
        }
        let next = skip_terminator(bytes, end);
        spans.push(Span { start: pos, end, next });
        pos = next;
    }
    Ok(spans)
}

/// From the end of a segment's content, skips line breaks and blank (whitespace-only) lines;
/// returns where the next segment starts (or the input length).
pub(crate) fn skip_terminator(bytes: &[u8], mut i: usize) -> usize {
    loop {
        while i < bytes.len() && is_eol(bytes[i]) {
            i += 1;
        }
        // A following line made only of filler bytes belongs to this terminator too.
        let mut j = i;
        while j < bytes.len() && is_filler(bytes[j]) {
            j += 1;
        }
        if j == i {
            return i;
        }
        if j < bytes.len() && !is_eol(bytes[j]) {
            return i;
        }
        i = j;
        if i >= bytes.len() {
            return i;
        }
    }
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.segments().map(|s| s.name()).collect();
        f.debug_struct("Message")
            .field("len", &self.bytes.len())
            .field("bom", &self.has_bom)
            .field("delimiters", &self.delims.to_string())
            .field("charset", &self.charset)
            .field("segments", &names)
            .finish()
    }
}

/// Iterator over the segments of a [`Message`].
#[derive(Debug, Clone)]
pub struct Segments<'m, 'a> {
    msg: &'m Message<'a>,
    next: usize,
}

impl<'a> Iterator for Segments<'_, 'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        let s = self.msg.segment(self.next)?;
        self.next += 1;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.msg.spans.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Segments<'_, '_> {}

mod parts;
pub use parts::{Component, Components, Field, Fields, Pieces, Repetition, Repetitions, Segment};

#[cfg(test)]
mod tests;
