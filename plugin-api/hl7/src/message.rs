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

/// Splits a slice on a separator without allocating; `sep: None` yields the slice once
/// (used for MSH-1/MSH-2, which have no inner structure).
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    rest: Option<&'a [u8]>,
    sep: Option<u8>,
}

impl<'a> Pieces<'a> {
    fn new(s: &'a [u8], sep: Option<u8>) -> Pieces<'a> {
        Pieces { rest: Some(s), sep }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let r = self.rest?;
        let cut = self.sep.and_then(|sep| r.iter().position(|&b| b == sep));
        match cut {
            Some(i) => {
                self.rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                self.rest = None;
                Some(r)
            }
        }
    }
}

/// One segment of a [`Message`].
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    raw: &'a [u8],
    terminator: &'a [u8],
    delims: Delimiters,
    charset: Charset,
    index: usize,
}

impl<'a> Segment<'a> {
    /// The segment name, e.g. `"PID"` (validated at parse time, so always 3 ASCII characters).
    pub fn name(&self) -> &'a str {
        std::str::from_utf8(self.name_bytes()).unwrap_or("")
    }

    fn name_bytes(&self) -> &'a [u8] {
        &self.raw[..self.raw.len().min(3)]
    }

    /// The segment's bytes without its terminator.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The bytes after the segment up to the next one: its CR/LF/CRLF, blank lines, and for the
    /// last segment any trailing whitespace. Empty when the input ends right after it.
    pub fn terminator(&self) -> &'a [u8] {
        self.terminator
    }

    /// 0-based position in the message (MSH is 0).
    pub fn index(&self) -> usize {
        self.index
    }

    /// True for MSH, FHS and BHS, whose field 1 is the field separator itself.
    pub fn is_header(&self) -> bool {
        is_header_name(self.name_bytes())
    }

    /// Number of fields present (for MSH this counts MSH-1 and MSH-2).
    pub fn field_count(&self) -> usize {
        self.fields().count()
    }

    /// Field `n` (1-based, HL7 numbering), or `None` when the segment has fewer fields.
    pub fn field(&self, n: usize) -> Option<Field<'a>> {
        let raw = field_of(self.raw, self.delims.field, n)?;
        Some(self.make_field(raw, self.is_header() && n <= 2))
    }

    fn make_field(&self, raw: &'a [u8], atomic: bool) -> Field<'a> {
        Field { raw, ctx: Ctx { delims: self.delims, charset: self.charset, atomic } }
    }

    /// The fields in order, starting with field 1.
    pub fn fields(&self) -> Fields<'a> {
        let seg = *self;
        let (header_left, rest) = if self.raw.len() < 4 {
            (0, None)
        } else if self.is_header() {
            (1, Some(Pieces::new(&self.raw[4..], Some(self.delims.field))))
        } else {
            (0, Some(Pieces::new(&self.raw[4..], Some(self.delims.field))))
        };
        Fields { seg, header_left, rest }
    }
}

/// Iterator over the fields of a [`Segment`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    seg: Segment<'a>,
    /// 1 while MSH-1 is still to be yielded.
    header_left: u8,
    rest: Option<Pieces<'a>>,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        if self.header_left == 1 {
            self.header_left = 2;
            return Some(self.seg.make_field(&self.seg.raw[3..4], true));
        }
        let raw = self.rest.as_mut()?.next()?;
        let atomic = self.header_left == 2;
        self.header_left = 0;
        Some(self.seg.make_field(raw, atomic))
    }
}

/// Shared decoding context of fields, repetitions and components.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    delims: Delimiters,
    charset: Charset,
    /// MSH-1/MSH-2: never split further.
    atomic: bool,
}

impl Ctx {
    fn sep(&self, sep: u8) -> Option<u8> {
        (!self.atomic).then_some(sep)
    }

    fn value<'a>(&self, raw: &'a [u8]) -> Cow<'a, str> {
        if self.atomic {
            return self.charset.decode(raw);
        }
        if raw == NULL_VALUE {
            return Cow::Borrowed("");
        }
        unescape(raw, &self.delims, self.charset)
    }
}

/// One field of a segment (all its repetitions).
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    raw: &'a [u8],
    ctx: Ctx,
}

impl<'a> Field<'a> {
    /// The raw (escaped) bytes of the whole field.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// True when the field is empty (not present in the sense of HL7: no value).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// True when the field is the explicit null `""`.
    pub fn is_null(&self) -> bool {
        self.raw == NULL_VALUE
    }

    /// The decoded value of the whole field (escapes resolved, charset applied; `""` gives
    /// an empty string).
    pub fn value(&self) -> Cow<'a, str> {
        self.ctx.value(self.raw)
    }

    /// The repetitions of the field (at least one, possibly empty).
    pub fn repetitions(&self) -> Repetitions<'a> {
        Repetitions { inner: Pieces::new(self.raw, self.ctx.sep(self.ctx.delims.repetition)), ctx: self.ctx }
    }

    /// Repetition `n` (1-based).
    pub fn repetition(&self, n: usize) -> Option<Repetition<'a>> {
        self.repetitions().nth(n.checked_sub(1)?)
    }

    /// Component `n` (1-based) of the first repetition.
    pub fn component(&self, n: usize) -> Option<Component<'a>> {
        self.repetition(1)?.component(n)
    }
}

/// Iterator over the repetitions of a [`Field`].
#[derive(Debug, Clone)]
pub struct Repetitions<'a> {
    inner: Pieces<'a>,
    ctx: Ctx,
}

impl<'a> Iterator for Repetitions<'a> {
    type Item = Repetition<'a>;

    fn next(&mut self) -> Option<Repetition<'a>> {
        let raw = self.inner.next()?;
        Some(Repetition { raw, ctx: self.ctx })
    }
}

/// One repetition of a field.
#[derive(Debug, Clone, Copy)]
pub struct Repetition<'a> {
    raw: &'a [u8],
    ctx: Ctx,
}

impl<'a> Repetition<'a> {
    /// The raw (escaped) bytes of this repetition.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The decoded value of this repetition.
    pub fn value(&self) -> Cow<'a, str> {
        self.ctx.value(self.raw)
    }

    /// The components (at least one).
    pub fn components(&self) -> Components<'a> {
        Components { inner: Pieces::new(self.raw, self.ctx.sep(self.ctx.delims.component)), ctx: self.ctx }
    }

    /// Component `n` (1-based).
    pub fn component(&self, n: usize) -> Option<Component<'a>> {
        self.components().nth(n.checked_sub(1)?)
    }
}

/// Iterator over the components of a [`Repetition`].
#[derive(Debug, Clone)]
pub struct Components<'a> {
    inner: Pieces<'a>,
    ctx: Ctx,
}

impl<'a> Iterator for Components<'a> {
    type Item = Component<'a>;

    fn next(&mut self) -> Option<Component<'a>> {
        let raw = self.inner.next()?;
        Some(Component { raw, ctx: self.ctx })
    }
}

/// One component of a repetition.
#[derive(Debug, Clone, Copy)]
pub struct Component<'a> {
    raw: &'a [u8],
    ctx: Ctx,
}

impl<'a> Component<'a> {
    /// The raw (escaped) bytes of this component.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The decoded value of this component.
    pub fn value(&self) -> Cow<'a, str> {
        self.ctx.value(self.raw)
    }

    /// The raw subcomponents (at least one).
    pub fn subcomponents(&self) -> Pieces<'a> {
        Pieces::new(self.raw, self.ctx.sep(self.ctx.delims.subcomponent))
    }

    /// Subcomponent `n` (1-based), raw.
    pub fn subcomponent(&self, n: usize) -> Option<&'a [u8]> {
        self.subcomponents().nth(n.checked_sub(1)?)
    }

    /// Subcomponent `n` (1-based), decoded.
    pub fn subcomponent_value(&self, n: usize) -> Option<Cow<'a, str>> {
        Some(self.ctx.value(self.subcomponent(n)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &[u8] = b"MSH|^~\\&|APP|FAC|RAPP|RFAC|20240101||ADT^A01^ADT_A01|CTRL1|P|2.5.1\r\
PID|1||123^^^MRN~456^^^NHS||Doe^John&Jr||19700101|M\r\
OBX|1|TX|||first\r\
OBX|2|TX|||second\\F\\part\r";

    fn get<'a>(m: &Message<'a>, p: &str) -> Option<&'a str> {
        m.get_str(p).unwrap().map(|b| std::str::from_utf8(b).unwrap())
    }

    #[test]
    fn msh_numbering_is_standard() {
        let m = parse(ADT).unwrap();
        assert_eq!(get(&m, "MSH-1"), Some("|"));
        assert_eq!(get(&m, "MSH-2"), Some("^~\\&"));
        assert_eq!(get(&m, "MSH-3"), Some("APP"));
        assert_eq!(get(&m, "MSH-9.2"), Some("A01"));
        assert_eq!(get(&m, "MSH-2.2"), None);
        assert_eq!(m.message_type().as_deref(), Some("ADT^A01"));
        assert!(matches!(m.message_type(), Some(Cow::Borrowed(_))));
        assert_eq!(m.control_id(), Some("CTRL1"));
        assert_eq!(m.version(), Some("2.5.1"));
    }

    #[test]
    fn repetitions_components_subcomponents_and_occurrences() {
        let m = parse(ADT).unwrap();
        assert_eq!(get(&m, "PID-3"), Some("123^^^MRN~456^^^NHS"));
        assert_eq!(get(&m, "PID-3.1"), Some("123"));
        assert_eq!(get(&m, "PID-3(2).4"), Some("NHS"));
        assert_eq!(get(&m, "PID-3(3)"), None);
        assert_eq!(get(&m, "PID-5.2.2"), Some("Jr"));
        assert_eq!(get(&m, "PID-1.1"), Some("1"));
        assert_eq!(get(&m, "PID-1.1.1"), Some("1"));
        assert_eq!(get(&m, "PID-1.2"), None);
        assert_eq!(get(&m, "PID-2"), Some(""));
        assert_eq!(get(&m, "PID-99"), None);
        assert_eq!(get(&m, "OBX(2)-5"), Some("second\\F\\part"));
        assert_eq!(m.value_str("OBX(2)-5").unwrap().as_deref(), Some("second|part"));
        assert_eq!(get(&m, "OBX(3)-5"), None);
        assert_eq!(get(&m, "ZZZ-1"), None);
    }

    #[test]
    fn segment_field_iteration() {
        let m = parse(ADT).unwrap();
        let msh = m.segment(0).unwrap();
        let fields: Vec<&[u8]> = msh.fields().map(|f| f.raw()).collect();
        assert_eq!(fields[0], b"|");
        assert_eq!(fields[1], b"^~\\&");
        assert_eq!(fields[2], b"APP");
        assert_eq!(msh.field_count(), 12);
        // MSH-2 is not split on its own delimiter characters.
        assert_eq!(msh.field(2).unwrap().repetitions().count(), 1);
        let pid = m.find_segment("PID", 1).unwrap();
        let reps: Vec<_> = pid.field(3).unwrap().repetitions().map(|r| r.raw()).collect();
        assert_eq!(reps, vec![&b"123^^^MRN"[..], b"456^^^NHS"]);
        let name = pid.field(5).unwrap().component(2).unwrap();
        assert_eq!(name.subcomponent(2), Some(&b"Jr"[..]));
        assert_eq!(m.segments_named("OBX").count(), 2);
        assert_eq!(m.segments().map(|s| s.name()).collect::<Vec<_>>(), ["MSH", "PID", "OBX", "OBX"]);
    }

    #[test]
    fn parse_errors_name_the_problem() {
        assert_eq!(parse(b"  \r\n").unwrap_err(), ParseError::Empty);
        assert!(matches!(parse(b"PID|1\r").unwrap_err(), ParseError::NoMshAtStart { .. }));
        assert!(matches!(parse(b"MSH").unwrap_err(), ParseError::InvalidFieldSeparator { .. }));
        assert!(matches!(parse(b"MSH|^~|x").unwrap_err(), ParseError::InvalidEncodingCharacters { .. }));
        let e = parse(b"MSH|^~\\&|A\rPID|1\rpid|2\r").unwrap_err();
        assert_eq!(e, ParseError::InvalidSegmentName { index: 3, offset: 17, name: "pid|2".into() });
        assert!(e.to_string().contains("segment 3 has an invalid name"));
    }

    #[test]
    fn blank_lines_and_trailing_whitespace_belong_to_terminators() {
        let input = b"MSH|^~\\&|A\r\n\r\n  \nPID|1\n\n \t\n";
        let m = parse(input).unwrap();
        assert_eq!(m.segment_count(), 2);
        assert_eq!(m.segment(0).unwrap().terminator(), b"\r\n\r\n  \n");
        assert_eq!(m.segment(1).unwrap().terminator(), b"\n\n \t\n");
        assert_eq!(m.as_bytes(), input);
    }
}
