//! The parts of a parsed message: segments, fields, repetitions, components and
//! subcomponents, each a borrowed slice found on demand.

use std::borrow::Cow;

use super::{NULL_VALUE, field_of, is_header_name};
use crate::charset::Charset;
use crate::delimiters::Delimiters;
use crate::escape::unescape;

/// Splits a slice on a separator without allocating; `sep: None` yields the slice once
/// (used for MSH-1/MSH-2, which have no inner structure).
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    rest: Option<&'a [u8]>,
    sep: Option<u8>,
}

impl<'a> Pieces<'a> {
    pub(super) fn new(s: &'a [u8], sep: Option<u8>) -> Pieces<'a> {
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
    pub(super) raw: &'a [u8],
    pub(super) terminator: &'a [u8],
    pub(super) delims: Delimiters,
    pub(super) charset: Charset,
    pub(super) index: usize,
}

impl<'a> Segment<'a> {
    /// The segment name, e.g. `"PID"` (validated at parse time, so always 3 ASCII characters).
    pub fn name(&self) -> &'a str {
        std::str::from_utf8(self.name_bytes()).unwrap_or("")
    }

    pub(super) fn name_bytes(&self) -> &'a [u8] {
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
