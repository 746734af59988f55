//! How operations write a message: clean HL7 whatever came in.
//!
//! A message is stored byte for byte as it arrived (a UTF-8 BOM, LF or CRLF terminators,
//! blank lines, another delimiter set). On the way out an [`OutputForm`] writes it as a
//! strict receiver expects: no BOM, no leading whitespace or blank lines, every segment
//! (the last too) followed by the terminator, and, when IRIS's `Separators` setting names a
//! delimiter set, re-serialised with it (MSH-1 and MSH-2 rewritten, data characters that
//! would now read as delimiters written as escapes).
//!
//! # Invariants
//! - The stored message is never changed: [`OutputForm::apply`] returns a new buffer, or the
//!   input itself when it is already in the output form (the common case, found by one scan
//!   with no allocation).
//! - Bytes that do not parse as HL7 go out unchanged (the operation decides what to do).
//! - Segment content is kept byte for byte apart from delimiter mapping, escape sequences
//!   as written (with the new escape character); only an operation's `DefCharEncoding`
//!   re-encodes text, and only when it names another charset than the message is read in.

use std::borrow::Cow;

use crate::charset::{Charset, DefCharEncoding};
use crate::delimiters::Delimiters;
use crate::message::parse;

/// Why a `Separators` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Separators {value:?}: {reason}")]
pub struct SeparatorsError {
    /// The setting's value.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

/// The form an operation writes messages in: a delimiter set (or the message's own) and a
/// segment terminator of 1 to 3 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputForm {
    /// `None`: keep each message's own delimiters.
    delimiters: Option<Delimiters>,
    terminator: Vec<u8>,
    /// The operation's `DefCharEncoding`: the charset written; `None` keeps the bytes.
    encoding: Option<DefCharEncoding>,
}

impl Default for OutputForm {
    /// The message's own delimiters, CR after every segment.
    fn default() -> Self {
        OutputForm { delimiters: None, terminator: vec![b'\r'], encoding: None }
    }
}

impl OutputForm {
    /// Reads IRIS's `Separators` setting: empty keeps the message's delimiters; otherwise
    /// five characters (field, component, repetition, escape, subcomponent), then optionally
    /// the segment terminator, up to three characters, each written `\r` or `\n` (or as the
    /// character itself). Without a terminator it is CR.
    pub fn from_separators(value: &str) -> Result<OutputForm, SeparatorsError> {
        let err = |reason: &str| SeparatorsError { value: value.to_string(), reason: reason.to_string() };
        if value.is_empty() {
            return Ok(OutputForm::default());
        }
        let bytes = value.as_bytes();
        if bytes.len() < 5 {
            return Err(err("give 5 characters (field, component, repetition, escape, subcomponent), e.g. |^~\\&"));
        }
        let delimiters = Delimiters::from_parts(bytes[0], &bytes[1..5]).map_err(|p| err(&p.to_string()))?;
        let mut terminator = Vec::new();
        let mut rest = &bytes[5..];
        while let Some((&b, tail)) = rest.split_first() {
            let (byte, tail) = match (b, tail.first()) {
                (b'\\', Some(b'r')) => (b'\r', &tail[1..]),
                (b'\\', Some(b'n')) => (b'\n', &tail[1..]),
                (b'\r' | b'\n', _) => (b, tail),
                _ => return Err(err("after the 5 separators only a segment terminator of \\r and \\n may follow")),
            };
            terminator.push(byte);
            rest = tail;
        }
        if terminator.len() > 3 {
            return Err(err("the segment terminator has at most 3 characters"));
        }
        if terminator.is_empty() {
            terminator.push(b'\r');
        }
        Ok(OutputForm { delimiters: Some(delimiters), terminator, encoding: None })
    }

    /// The segment terminator written after every segment.
    pub fn terminator(&self) -> &[u8] {
        &self.terminator
    }

    /// This form writing text in `encoding` (IRIS's `DefCharEncoding` on an operation).
    pub fn with_encoding(mut self, encoding: Option<DefCharEncoding>) -> OutputForm {
        self.encoding = encoding;
        self
    }

    /// `body` as it goes out (see the module documentation), its text read by MSH-18.
    pub fn apply<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        self.apply_from(body, None)
    }

    /// `body` as it goes out, its text read as `inbound` (the service's `DefCharEncoding`)
    /// says, and re-encoded when this form's encoding resolves to another charset.
    pub fn apply_from<'a>(&self, body: &'a [u8], inbound: Option<DefCharEncoding>) -> Cow<'a, [u8]> {
        let shaped = self.shape(body);
        let Some(encoding) = self.encoding else { return shaped };
        if shaped.is_ascii() {
            return shaped;
        }
        let Ok(msg) = parse(&shaped) else { return shaped };
        let declared = msg.charset_kind();
        let source = inbound.map_or(declared, |i| i.resolve(declared));
        let target = encoding.resolve(declared);
        if same_bytes(source, target) {
            return shaped;
        }
        let text = source.decode(&shaped).into_owned();
        Cow::Owned(target.encode(&text).into_owned())
    }

    /// `body` with this form's delimiters and terminators, its bytes otherwise unchanged.
    fn shape<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        let Ok(msg) = parse(body) else { return Cow::Borrowed(body) };
        let from = msg.delimiters();
        let to = match self.delimiters {
            // A 5-character MSH-2 keeps its truncation character unless it would collide.
            Some(d) => Delimiters { truncation: from.truncation.filter(|t| !d.is_delimiter(*t)), ..d },
            None => from,
        };
        if to == from && self.already(&msg) {
            return Cow::Borrowed(body);
        }
        let mut out = Vec::with_capacity(body.len() + msg.segment_count() * self.terminator.len());
        for seg in msg.segments() {
            let raw = seg.raw();
            if to == from {
                out.extend_from_slice(raw);
            } else {
                remap(raw, seg.is_header(), &from, &to, &mut out);
            }
            out.extend_from_slice(&self.terminator);
        }
        Cow::Owned(out)
    }

    /// Whether `msg` is written exactly as this form would write it (delimiters aside).
    fn already(&self, msg: &crate::Message<'_>) -> bool {
        let bytes = msg.as_bytes();
        if msg.has_bom() || !msg.prefix().is_empty() {
            return false;
        }
        let mut end = 0usize;
        for seg in msg.segments() {
            let raw = seg.raw();
            // Segments are contiguous slices of `bytes`: each must start where the last
            // terminator ended (no blank line or whitespace between them).
            let start = raw.as_ptr() as usize - bytes.as_ptr() as usize;
            if start != end || seg.terminator() != self.terminator.as_slice() {
                return false;
            }
            end = start + raw.len() + self.terminator.len();
        }
        end == bytes.len()
    }
}

/// Whether text read in `a` and written in `b` keeps its bytes.
fn same_bytes(a: Charset, b: Charset) -> bool {
    let utf8ish = |c: Charset| matches!(c, Charset::Utf8 | Charset::Ascii | Charset::Unknown);
    a == b || (utf8ish(a) && utf8ish(b) && a != Charset::Ascii && a != Charset::Unknown)
}

/// Writes segment `raw` (delimiters `from`) with delimiters `to`: delimiters map one to
/// one. A delimiter escape (`\F\ \S\ \R\ \T\ \E\`) stands for a character of the old set,
/// so it is written as that character, escaped again only if it is one of the new set's
/// delimiters; any other escape sequence keeps its text with the new escape character; a
/// data byte that is one of the new delimiters becomes its escape. A header segment (`MSH`,
/// `FHS`, `BHS`) gets the new MSH-1 and MSH-2.
fn remap(raw: &[u8], header: bool, from: &Delimiters, to: &Delimiters, out: &mut Vec<u8>) {
    let mut rest = raw;
    if header && raw.len() > 3 {
        // The name, then the field separator and the encoding characters as written.
        let enc_len = raw.get(4..).and_then(|r| r.iter().position(|b| *b == from.field)).unwrap_or(raw.len() - 4);
        out.extend_from_slice(&raw[..3]);
        out.push(to.field);
        out.extend_from_slice(&to.encoding_characters());
        rest = &raw[(4 + enc_len).min(raw.len())..];
    }
    let data = |b: u8, out: &mut Vec<u8>| match escape_code(b, to) {
        Some(code) => out.extend_from_slice(&[to.escape, code, to.escape]),
        None => out.push(b),
    };
    let mut i = 0;
    while let Some(&b) = rest.get(i) {
        i += 1;
        if b == from.escape {
            let Some(len) = rest[i..].iter().position(|c| *c == from.escape) else {
                // A lone escape character: kept in its role.
                out.push(to.escape);
                continue;
            };
            let content = &rest[i..i + len];
            i += len + 1;
            match content {
                b"F" => data(from.field, out),
                b"S" => data(from.component, out),
                b"R" => data(from.repetition, out),
                b"T" => data(from.subcomponent, out),
                b"E" => data(from.escape, out),
                _ => {
                    out.push(to.escape);
                    out.extend_from_slice(content);
                    out.push(to.escape);
                }
            }
        } else if b == from.field {
            out.push(to.field);
        } else if b == from.component {
            out.push(to.component);
        } else if b == from.repetition {
            out.push(to.repetition);
        } else if b == from.subcomponent {
            out.push(to.subcomponent);
        } else {
            data(b, out);
        }
    }
}

/// The escape letter of `b` when it is one of `d`'s delimiters (the truncation character
/// has no escape of its own and is kept).
fn escape_code(b: u8, d: &Delimiters) -> Option<u8> {
    match b {
        _ if b == d.field => Some(b'F'),
        _ if b == d.component => Some(b'S'),
        _ if b == d.repetition => Some(b'R'),
        _ if b == d.escape => Some(b'E'),
        _ if b == d.subcomponent => Some(b'T'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &[u8] = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.4\rPID|1||123||Doe^Jo\r";

    fn out(form: &OutputForm, body: &[u8]) -> Vec<u8> {
        form.apply(body).into_owned()
    }

    #[test]
    fn def_char_encoding_re_encodes_text_only_between_different_charsets() {
        let latin1_body = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.4||||||UNICODE UTF-8\rPID|1||123||M\xfcller\r";
        let to_utf8 = OutputForm::default().with_encoding(DefCharEncoding::parse("!UTF-8").expect("valid"));
        // MSH-18 says UTF-8 and nothing says otherwise: the bytes are kept.
        assert_eq!(to_utf8.apply(latin1_body).as_ref(), latin1_body.as_slice());
        // The service read it as Latin-1 (`!Latin1`): written out as UTF-8.
        let inbound = DefCharEncoding::parse("!Latin1").expect("valid");
        let out = to_utf8.apply_from(latin1_body, inbound);
        assert!(out.windows(7).any(|w| w == "Müller".as_bytes()), "{:?}", String::from_utf8_lossy(&out));
        // And back to Latin-1 from UTF-8.
        let utf8_body = String::from_utf8(out.into_owned()).expect("utf-8");
        let to_latin1 = OutputForm::default().with_encoding(DefCharEncoding::parse("!Latin1").expect("valid"));
        assert_eq!(to_latin1.apply(utf8_body.as_bytes()).as_ref(), latin1_body.as_slice());
        // Without DefCharEncoding nothing is re-encoded.
        assert_eq!(OutputForm::default().apply_from(latin1_body, inbound).as_ref(), latin1_body.as_slice());
    }

    #[test]
    fn a_clean_message_goes_out_as_it_is_without_a_copy() {
        assert!(matches!(OutputForm::default().apply(CLEAN), Cow::Borrowed(_)));
        assert!(matches!(OutputForm::from_separators("|^~\\&").expect("valid").apply(CLEAN), Cow::Borrowed(_)));
    }

    #[test]
    fn a_bom_lf_crlf_blank_lines_and_a_missing_last_terminator_are_cleaned() {
        let form = OutputForm::default();
        let lf = b"\xEF\xBB\xBFMSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.4\nPID|1||123||Doe^Jo\n";
        assert_eq!(out(&form, lf), CLEAN);
        let crlf = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.4\r\n\r\nPID|1||123||Doe^Jo";
        assert_eq!(out(&form, crlf), CLEAN);
        let leading = b"\r\n  MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.4\rPID|1||123||Doe^Jo\r";
        assert_eq!(out(&form, leading), CLEAN);
    }

    #[test]
    fn separators_with_crlf_write_that_terminator_after_every_segment() {
        let form = OutputForm::from_separators("|^~\\&\\r\\n").expect("valid");
        assert_eq!(form.terminator(), b"\r\n");
        let want = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.4\r\nPID|1||123||Doe^Jo\r\n";
        assert_eq!(out(&form, CLEAN), want);
    }

    #[test]
    fn other_separators_rewrite_msh_and_escape_data_that_would_read_as_a_delimiter() {
        let form = OutputForm::from_separators("#$%!*").expect("valid");
        let body = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.4\rNTE|1||50% off \\T\\ more^x~y&z# \\H\\\r";
        let want: &[u8] = b"MSH#$%!*#A#B#C#D#20240101##ADT$A01#1#P#2.4\rNTE#1##50!R! off & more$x%y*z!F! !H!\r";
        assert_eq!(out(&form, body), want);
        let back = OutputForm::from_separators("|^~\\&").expect("valid");
        assert_eq!(hie_unescaped(&out(&back, want)), hie_unescaped(body), "the values are the same either way");
    }

    fn hie_unescaped(body: &[u8]) -> String {
        let m = parse(body).expect("parses");
        m.value_str("NTE-3(1).1").expect("path").map(|v| v.into_owned()).unwrap_or_default()
    }

    #[test]
    fn bad_separators_are_refused_with_the_reason() {
        for bad in ["|^~", "|^~\\|", "|^~\\&\\t", "|^~\\&\\r\\n\\r\\n"] {
            let e = OutputForm::from_separators(bad).expect_err(bad);
            assert_eq!(e.value, bad);
        }
        assert_eq!(OutputForm::from_separators(""), Ok(OutputForm::default()));
    }

    #[test]
    fn bytes_that_are_not_hl7_go_out_unchanged() {
        assert!(matches!(OutputForm::default().apply(b"not hl7\n"), Cow::Borrowed(b"not hl7\n")));
    }
}
