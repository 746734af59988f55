//! The schema-free message tree the JSON and XML readers build, and its encoding to HL7 bytes.
//!
//! # Invariants
//!
//! - A [`Node::Text`] (JSON) holds raw HL7 text, escape sequences untouched: the raw text of
//!   the item at its position, which may contain the separators of lower levels (a field's
//!   text may hold `~ ^ &`, a component's `&`), never those of its own level or above.
//! - A [`Node::Decoded`] (XML) holds HL7 v2.xml text: [`Piece::Text`] whose every character
//!   stands for itself, so the four separators and the escape character are written as their
//!   escapes (`\F\ \S\ \R\ \T\ \E\`, with the message's escape character), and
//!   [`Piece::Escape`] bodies, written between escape characters after checking that they are
//!   escape sequences HL7 defines without a delimiter inside. Header fields 1 and 2 (MSH-1,
//!   MSH-2) are the delimiters themselves: their text is written as it is, and an escape in
//!   them is an error.
//! - Numbered children ([`Node::Parts`]) are sorted by number, each number at most once;
//!   missing numbers are empty items. Readers build them sorted; [`encode`] checks again.
//! - [`encode`] either returns bytes that [`hie_hl7::parse`] accepts and whose items are
//!   exactly the tree's, or an error: every check that keeps that promise (segment names, delimiters,
//!   separators and line breaks inside values, escape sequences, characters the encoding
//!   lacks) is made here, once, for both readers. Each segment ends with `\r`.
//! - The filler written for gaps between numbers is bounded (see [`Budget`]).

use std::borrow::Cow;

use hie_hl7::Delimiters;

use super::error::{ConvertError, Location};
use super::escapes::{code_of, delimiter_of, is_sequence, push_sequence};
use super::text::TextEncoding;

/// Largest number accepted for a field, component or subcomponent.
pub(crate) const MAX_NUMBER: usize = 99_999_999;

/// A field, component or subcomponent number: ASCII digits (leading zeros allowed) giving
/// 1 to [`MAX_NUMBER`].
pub(crate) fn parse_number(digits: &str) -> Option<usize> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    if digits.len() > 8 {
        return None;
    }
    digits.parse::<usize>().ok().filter(|n| (1..=MAX_NUMBER).contains(n))
}

/// One field, repetition, component or subcomponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// The raw HL7 text of the item (JSON).
    Text(String),
    /// The item's text in the HL7 v2.xml sense (XML): literal text and escape sequences.
    Decoded(Vec<Piece>),
    /// A field's repetitions (at least one).
    List(Vec<Node>),
    /// Numbered children: a repetition's components or a component's subcomponents.
    Parts(Vec<(usize, Node)>),
}

/// One piece of a [`Node::Decoded`] value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Text whose every character stands for itself (a delimiter is written as its escape).
    Text(String),
    /// The body of an escape sequence (`.br`, `X0D`), written between escape characters.
    Escape(String),
}

impl Node {
    /// The text of a value without escape sequences: a [`Node::Text`], or a
    /// [`Node::Decoded`] of text pieces only (the empty value too).
    fn plain(&self) -> Option<Cow<'_, str>> {
        match self {
            Node::Text(t) => Some(Cow::Borrowed(t)),
            Node::Decoded(pieces) => match pieces.as_slice() {
                [] => Some(Cow::Borrowed("")),
                [Piece::Text(t)] => Some(Cow::Borrowed(t)),
                _ => {
                    let mut out = String::new();
                    for p in pieces {
                        match p {
                            Piece::Text(t) => out.push_str(t),
                            Piece::Escape(_) => return None,
                        }
                    }
                    Some(Cow::Owned(out))
                }
            },
            Node::List(_) | Node::Parts(_) => None,
        }
    }
}

/// One segment: its name and its numbered fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct SegmentNode {
    /// The segment name as given (checked by [`encode`]).
    pub(crate) name: String,
    /// Fields by number, sorted, each number once.
    pub(crate) fields: Vec<(usize, Node)>,
}

/// A whole message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    /// How the texts map to bytes.
    pub(crate) encoding: TextEncoding,
    /// The segments in order.
    pub(crate) segments: Vec<SegmentNode>,
}

/// How many empty items gap filling may write: 1 MiB plus the input's length. A legitimate
/// conversion never comes close (every gap item costs at least a byte of the original
/// message); a hostile `"99999999"` key cannot make a reader allocate gigabytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    left: usize,
    limit: usize,
}

impl Budget {
    /// The budget for an input of `input_len` bytes.
    pub(crate) fn for_input(input_len: usize) -> Budget {
        let limit = (1usize << 20).saturating_add(input_len);
        Budget { left: limit, limit }
    }

    fn spend(&mut self, n: usize) -> Result<(), ConvertError> {
        self.left = self.left.checked_sub(n).ok_or(ConvertError::TooLarge { limit: self.limit })?;
        Ok(())
    }
}

/// The level a value sits at: which separators it may not contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Field,
    Repetition,
    Component,
    Subcomponent,
}

/// Where the encoder is (for errors; turned into a [`Location`] only when one is needed).
#[derive(Debug, Clone, Copy, Default)]
struct At {
    field: Option<usize>,
    repetition: Option<usize>,
    component: Option<usize>,
    subcomponent: Option<usize>,
}

/// True for MSH, FHS and BHS, whose field 1 is the field separator.
pub(crate) fn is_header(name: &str) -> bool {
    matches!(name, "MSH" | "FHS" | "BHS")
}

/// True for three upper-case ASCII letters or digits.
pub(crate) fn is_segment_name(name: &str) -> bool {
    name.len() == 3 && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Encodes a tree to HL7 bytes; see the module invariants.
pub(crate) fn encode(tree: &Tree, mut budget: Budget) -> Result<Vec<u8>, ConvertError> {
    let first = tree.segments.first().ok_or(ConvertError::NoSegments)?;
    if first.name != "MSH" {
        return Err(ConvertError::FirstNotMsh { found: first.name.clone() });
    }
    let delims = delimiters(first)?;
    let size: usize = tree.segments.iter().map(|s| s.fields.len() * 8 + 4).sum();
    let mut enc = Encoder { out: Vec::with_capacity(size), d: delims, encoding: tree.encoding, budget: &mut budget };
    for (i, seg) in tree.segments.iter().enumerate() {
        enc.segment(i + 1, seg)?;
    }
    Ok(enc.out)
}

/// The text of field `n` of a header segment, which must be a plain string.
fn header_text(seg: &SegmentNode, n: usize) -> Result<Option<Cow<'_, str>>, ConvertError> {
    let Some((_, node)) = seg.fields.iter().find(|(k, _)| *k == n) else { return Ok(None) };
    let text = match node {
        Node::List(items) if items.len() == 1 => items[0].plain(),
        node => node.plain(),
    };
    text.map(Some).ok_or_else(|| atomic_error(seg, n))
}

fn atomic_error(seg: &SegmentNode, n: usize) -> ConvertError {
    ConvertError::Shape {
        at: Location::new(1, Some(&seg.name), [Some(n), None, None, None]),
        message: format!("{}-{n} holds delimiter characters and must be a plain string", seg.name),
    }
}

/// The delimiters from MSH-1 and MSH-2 of the first segment.
fn delimiters(msh: &SegmentNode) -> Result<Delimiters, ConvertError> {
    let at = |field| Location::new(1, Some("MSH"), [Some(field), None, None, None]);
    let bad = |field, message: String| ConvertError::Delimiters { at: at(field), message };
    let fs = header_text(msh, 1)?.ok_or_else(|| bad(1, "MSH-1 (the field separator) is missing".into()))?;
    let fs = match fs.as_bytes() {
        [b] => *b,
        _ => return Err(bad(1, format!("MSH-1 must be one character (the field separator), found {fs:?}"))),
    };
    let enc = header_text(msh, 2)?.ok_or_else(|| bad(2, "MSH-2 (the encoding characters) is missing".into()))?;
    Delimiters::from_parts(fs, enc.as_bytes())
        .map_err(|p| bad(2, format!("MSH-1/MSH-2 \"{}{enc}\" is not a delimiter set: {p}", char::from(fs))))
}

struct Encoder<'b> {
    out: Vec<u8>,
    d: Delimiters,
    encoding: TextEncoding,
    budget: &'b mut Budget,
}

/// The current segment, for errors.
#[derive(Clone, Copy)]
struct Seg<'s> {
    index: usize,
    name: &'s str,
}

impl Seg<'_> {
    fn location(&self, at: At) -> Location {
        Location::new(self.index, Some(self.name), [at.field, at.repetition, at.component, at.subcomponent])
    }

    fn shape(&self, at: At, message: impl Into<String>) -> ConvertError {
        ConvertError::Shape { at: self.location(at), message: message.into() }
    }
}

impl Encoder<'_> {
    fn segment(&mut self, index: usize, seg: &SegmentNode) -> Result<(), ConvertError> {
        if !is_segment_name(&seg.name) {
            return Err(ConvertError::SegmentName { segment: index, name: seg.name.clone() });
        }
        let s = Seg { index, name: &seg.name };
        check_sorted(&seg.fields).map_err(|n| s.shape(At::default(), format!("field {n} is given twice")))?;
        self.out.extend_from_slice(seg.name.as_bytes());
        let header = is_header(&seg.name);
        let mut next = 1;
        for (n, node) in &seg.fields {
            let at = At { field: Some(*n), ..At::default() };
            if header && *n <= 2 {
                if next == 1 && *n == 2 {
                    return Err(self.missing_separator(s));
                }
                self.header_field(s, *n, node)?;
                next = n.saturating_add(1);
                continue;
            }
            if header && next == 1 {
                return Err(self.missing_separator(s));
            }
            // Gap filler: the empty fields between `next` and `n`.
            let first_written = if header { next.max(3) } else { next };
            self.budget.spend(n.saturating_sub(first_written))?;
            self.out.extend(std::iter::repeat_n(self.d.field, n.saturating_sub(first_written) + 1));
            self.field(s, at, node)?;
            next = n.saturating_add(1);
        }
        self.out.push(b'\r');
        Ok(())
    }

    fn missing_separator(&self, s: Seg<'_>) -> ConvertError {
        let at = At { field: Some(1), ..At::default() };
        s.shape(at, format!("{}-1 (the field separator) is missing", s.name))
    }

    /// MSH-1 / MSH-2 (FHS, BHS likewise): written as they are, without a separator before.
    fn header_field(&mut self, s: Seg<'_>, n: usize, node: &Node) -> Result<(), ConvertError> {
        let at = At { field: Some(n), ..At::default() };
        let text = match node {
            Node::List(items) if items.len() == 1 => items[0].plain(),
            node => node.plain(),
        };
        let Some(text) = text else {
            return Err(s.shape(at, format!("{}-{n} must be a plain string", s.name)));
        };
        if n == 1 {
            if text.as_bytes() != [self.d.field] {
                return Err(ConvertError::Delimiters {
                    at: s.location(at),
                    message: format!(
                        "{}-1 must be the message's field separator {:?}, found {text:?}",
                        s.name,
                        char::from(self.d.field)
                    ),
                });
            }
            self.out.push(self.d.field);
            return Ok(());
        }
        // Field 2 is not split into repetitions or components: only the field separator
        // and line breaks are forbidden.
        self.text(s, at, &text, Level::Field)
    }

    fn field(&mut self, s: Seg<'_>, at: At, node: &Node) -> Result<(), ConvertError> {
        match node {
            Node::Text(t) => self.text(s, at, t, Level::Field),
            Node::Decoded(pieces) => self.decoded(s, at, pieces),
            Node::List(items) => {
                if items.is_empty() {
                    return Err(s.shape(at, "a field has at least one repetition (write \"\" for an empty field)"));
                }
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        self.out.push(self.d.repetition);
                    }
                    self.repetition(s, At { repetition: Some(k + 1), ..at }, item)?;
                }
                Ok(())
            }
            Node::Parts(parts) => self.components(s, at, parts),
        }
    }

    fn repetition(&mut self, s: Seg<'_>, at: At, node: &Node) -> Result<(), ConvertError> {
        match node {
            Node::Text(t) => self.text(s, at, t, Level::Repetition),
            Node::Decoded(pieces) => self.decoded(s, at, pieces),
            Node::List(_) => Err(s.shape(at, "a repetition cannot hold repetitions")),
            Node::Parts(parts) => self.components(s, at, parts),
        }
    }

    fn components(&mut self, s: Seg<'_>, at: At, parts: &[(usize, Node)]) -> Result<(), ConvertError> {
        check_sorted(parts).map_err(|n| s.shape(at, format!("component {n} is given twice")))?;
        if parts.is_empty() {
            return Err(s.shape(at, "no components (write \"\" for an empty value)"));
        }
        let mut next = 1;
        for (n, node) in parts {
            self.separators(self.d.component, next, *n)?;
            let at = At { component: Some(*n), ..at };
            match node {
                Node::Text(t) => self.text(s, at, t, Level::Component)?,
                Node::Decoded(pieces) => self.decoded(s, at, pieces)?,
                Node::List(_) => return Err(s.shape(at, "a component cannot hold repetitions")),
                Node::Parts(subs) => self.subcomponents(s, at, subs)?,
            }
            next = n.saturating_add(1);
        }
        Ok(())
    }

    fn subcomponents(&mut self, s: Seg<'_>, at: At, parts: &[(usize, Node)]) -> Result<(), ConvertError> {
        check_sorted(parts).map_err(|n| s.shape(at, format!("subcomponent {n} is given twice")))?;
        if parts.is_empty() {
            return Err(s.shape(at, "no subcomponents (write \"\" for an empty value)"));
        }
        let mut next = 1;
        for (n, node) in parts {
            self.separators(self.d.subcomponent, next, *n)?;
            let at = At { subcomponent: Some(*n), ..at };
            match node {
                Node::Text(t) => self.text(s, at, t, Level::Subcomponent)?,
                Node::Decoded(pieces) => self.decoded(s, at, pieces)?,
                _ => return Err(s.shape(at, "a subcomponent is a plain string; it cannot be split further")),
            }
            next = n.saturating_add(1);
        }
        Ok(())
    }

    /// Writes the separators before part `n` when the previous part was `next - 1` (none
    /// yet when `next` is 1): one per part boundary, the skipped parts left empty.
    fn separators(&mut self, sep: u8, next: usize, n: usize) -> Result<(), ConvertError> {
        self.budget.spend(n.saturating_sub(next))?;
        let count = if next == 1 { n.saturating_sub(1) } else { n.saturating_sub(next) + 1 };
        self.out.extend(std::iter::repeat_n(sep, count));
        Ok(())
    }

    /// Appends one value's bytes, refusing what would change the structure.
    fn text(&mut self, s: Seg<'_>, at: At, text: &str, level: Level) -> Result<(), ConvertError> {
        let d = self.d;
        let forbidden: &[(u8, &'static str, &'static str)] = &[
            (d.field, "field separator", "F"),
            (d.repetition, "repetition separator", "R"),
            (d.component, "component separator", "S"),
            (d.subcomponent, "subcomponent separator", "T"),
        ];
        let forbidden = match level {
            Level::Field => &forbidden[..1],
            Level::Repetition => &forbidden[..2],
            Level::Component => &forbidden[..3],
            Level::Subcomponent => forbidden,
        };
        for c in text.chars() {
            if c.is_ascii() {
                let b = c as u8;
                if b == b'\r' || b == b'\n' {
                    return Err(ConvertError::LineBreak { at: s.location(at) });
                }
                if let Some((sep, what, code)) = forbidden.iter().find(|(sep, _, _)| *sep == b) {
                    let esc = char::from(d.escape);
                    return Err(ConvertError::Separator {
                        at: s.location(at),
                        what,
                        separator: char::from(*sep),
                        escape: format!("{esc}{code}{esc}"),
                    });
                }
                self.out.push(b);
            } else if !self.encoding.encode_non_ascii(c, &mut self.out) {
                return Err(ConvertError::Unencodable { at: s.location(at), ch: c, encoding: self.encoding.name() });
            }
        }
        Ok(())
    }

    /// Appends an HL7 v2.xml value: delimiters in its text become their escapes, escape
    /// pieces are checked and written between escape characters.
    fn decoded(&mut self, s: Seg<'_>, at: At, pieces: &[Piece]) -> Result<(), ConvertError> {
        let d = self.d;
        for piece in pieces {
            match piece {
                Piece::Text(text) => {
                    for c in text.chars() {
                        if !c.is_ascii() {
                            if !self.encoding.encode_non_ascii(c, &mut self.out) {
                                let encoding = self.encoding.name();
                                return Err(ConvertError::Unencodable { at: s.location(at), ch: c, encoding });
                            }
                            continue;
                        }
                        let b = c as u8;
                        if b == b'\r' || b == b'\n' {
                            return Err(ConvertError::LineBreak { at: s.location(at) });
                        }
                        match code_of(b, &d) {
                            Some((code, _)) => push_sequence(&mut self.out, d.escape, code.as_bytes()),
                            None => self.out.push(b),
                        }
                    }
                }
                Piece::Escape(body) => {
                    if let Some(problem) = escape_problem(body, &d) {
                        return Err(ConvertError::Escape { at: s.location(at), sequence: body.clone(), problem });
                    }
                    push_sequence(&mut self.out, d.escape, body.as_bytes());
                }
            }
        }
        Ok(())
    }
}

/// Why `body` cannot be written as an escape sequence, if it cannot.
fn escape_problem(body: &str, d: &Delimiters) -> Option<String> {
    let bytes = body.as_bytes();
    if !is_sequence(bytes) && delimiter_of(bytes, d).is_none() {
        return Some(
            "is not one HL7 defines (H, N, F, S, T, R, E, P, Xhh.., Zxx.., Cxxyy, Mxxyy, Mxxyyzz, .br, .sp, .sk, \
.in, .ti, .fi, .nf, .ce)"
                .to_owned(),
        );
    }
    // Printable ASCII, but one of them may be a delimiter of this message (`.` as a separator).
    let (b, what) = bytes.iter().find_map(|&b| code_of(b, d).map(|(_, what)| (b, what)))?;
    Some(format!("contains the {what} {:?}", char::from(b)))
}

/// `Err(n)` when number `n` repeats or the numbers are not increasing.
fn check_sorted(items: &[(usize, Node)]) -> Result<(), usize> {
    match items.windows(2).find(|w| w[0].0 >= w[1].0) {
        Some(w) => Err(w[1].0),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Node {
        Node::Text(s.to_owned())
    }

    fn seg(name: &str, fields: Vec<(usize, Node)>) -> SegmentNode {
        SegmentNode { name: name.to_owned(), fields }
    }

    fn msh() -> SegmentNode {
        seg("MSH", vec![(1, text("|")), (2, text("^~\\&")), (3, text("A"))])
    }

    fn enc(segments: Vec<SegmentNode>) -> Result<String, ConvertError> {
        let tree = Tree { encoding: TextEncoding::Utf8, segments };
        encode(&tree, Budget::for_input(0)).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn gaps_become_empty_items_and_lists_repetitions() {
        let pid = seg(
            "PID",
            vec![
                (1, text("1")),
                (3, Node::List(vec![text("a"), text(""), Node::Parts(vec![(2, text("x")), (4, text(""))])])),
                (5, Node::Parts(vec![(1, Node::Parts(vec![(3, text("s"))]))])),
            ],
        );
        assert_eq!(enc(vec![msh(), pid]).unwrap(), "MSH|^~\\&|A\rPID|1||a~~^x^^||&&s\r");
    }

    #[test]
    fn header_segments_and_bare_segments() {
        let out = enc(vec![msh(), seg("ZZZ", vec![]), seg("BHS", vec![(1, text("|")), (4, text("x"))])]).unwrap();
        assert_eq!(out, "MSH|^~\\&|A\rZZZ\rBHS|||x\r");
        let e = enc(vec![msh(), seg("BHS", vec![(3, text("x"))])]).unwrap_err();
        assert!(e.to_string().contains("BHS-1 (the field separator) is missing"), "{e}");
        let e = enc(vec![msh(), seg("BHS", vec![(1, text("#"))])]).unwrap_err();
        assert!(e.to_string().contains("must be the message's field separator '|'"), "{e}");
    }

    #[test]
    fn separators_and_line_breaks_inside_values_are_refused() {
        let e = enc(vec![msh(), seg("PID", vec![(5, Node::Parts(vec![(2, text("a^b"))]))])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "segment 2 (PID), PID-5.2: the value contains the component separator '^'; write it as the escape sequence \\S\\"
        );
        // Lower-level separators are raw text of the level below and allowed.
        assert_eq!(enc(vec![msh(), seg("PID", vec![(5, text("a~b^c&d"))])]).unwrap(), "MSH|^~\\&|A\rPID|||||a~b^c&d\r");
        let e = enc(vec![msh(), seg("PID", vec![(1, text("a\rb"))])]).unwrap_err();
        assert!(matches!(e, ConvertError::LineBreak { .. }), "{e}");
        let e = enc(vec![msh(), seg("PID", vec![(1, text("a|b"))])]).unwrap_err();
        assert!(e.to_string().contains("\\F\\"), "{e}");
    }

    #[test]
    fn structural_errors() {
        assert_eq!(enc(vec![]).unwrap_err(), ConvertError::NoSegments);
        assert!(matches!(enc(vec![seg("PID", vec![])]).unwrap_err(), ConvertError::FirstNotMsh { .. }));
        assert!(matches!(enc(vec![msh(), seg("pid", vec![])]).unwrap_err(), ConvertError::SegmentName { .. }));
        let bad_msh2 = seg("MSH", vec![(1, text("|")), (2, text("^~"))]);
        assert!(matches!(enc(vec![bad_msh2]).unwrap_err(), ConvertError::Delimiters { .. }));
        let nested = Node::List(vec![Node::List(vec![text("a")])]);
        assert!(matches!(enc(vec![msh(), seg("PID", vec![(1, nested)])]).unwrap_err(), ConvertError::Shape { .. }));
        let deep = Node::Parts(vec![(1, Node::Parts(vec![(1, Node::Parts(vec![]))]))]);
        assert!(matches!(enc(vec![msh(), seg("PID", vec![(1, deep)])]).unwrap_err(), ConvertError::Shape { .. }));
        let dup = seg("PID", vec![(2, text("a")), (2, text("b"))]);
        assert!(enc(vec![msh(), dup]).unwrap_err().to_string().contains("field 2 is given twice"));
    }

    #[test]
    fn huge_gaps_are_refused_not_allocated() {
        let pid = seg("PID", vec![(MAX_NUMBER, text("x"))]);
        assert!(matches!(enc(vec![msh(), pid]).unwrap_err(), ConvertError::TooLarge { .. }));
    }

    #[test]
    fn latin1_text_is_written_as_single_bytes() {
        let tree =
            Tree { encoding: TextEncoding::Latin1, segments: vec![msh(), seg("PID", vec![(1, text("Müller"))])] };
        let out = encode(&tree, Budget::for_input(0)).unwrap();
        assert_eq!(out, b"MSH|^~\\&|A\rPID|M\xfcller\r");
        let tree = Tree { encoding: TextEncoding::Latin1, segments: vec![msh(), seg("PID", vec![(1, text("€"))])] };
        assert!(matches!(encode(&tree, Budget::for_input(0)).unwrap_err(), ConvertError::Unencodable { .. }));
    }
}
