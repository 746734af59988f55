//! HL7 escape sequences as HL7 v2.xml writes them: which sequences are well formed, how a
//! raw value splits into text, delimiter characters and escape elements, and the bytes a
//! round trip through XML gives back ([`super::normalise_xml`]).
//!
//! Sequences are written with the message's own escape character; `\` stands for it here.
//!
//! # Invariants
//!
//! - [`tokens`] splits a raw value into [`Token`]s that say exactly what `to_xml` writes:
//!   text, one delimiter character (`\F\ \S\ \T\ \R\ \E\` and a lone escape character), or
//!   the body of any other well-formed sequence ([`is_sequence`]). It never fails and never
//!   panics; every byte of the value is in exactly one token.
//! - [`is_sequence`] accepts what HL7 v2 chapter 2 defines: `H N P`, `Xhh..` (an even,
//!   non-zero number of hex digits), `Zxx..` (one or more printable ASCII characters),
//!   `Cxxyy`, `Mxxyy`, `Mxxyyzz`, and the formatting commands `.br .fi .nf .ce` and
//!   `.sp .sk` (optional `+N`), `.in .ti` (optional `±N`), the number optionally after
//!   spaces. Letter codes are upper case, as HL7 writes them; hex digits are either case.
//!   Every accepted body is printable ASCII without the escape character.
//! - A lone escape character, and the first escape character of an unknown or unterminated
//!   sequence, is a [`Token::Char`] of the escape character itself; the scan goes on with
//!   the next byte, so a stray escape character never swallows a real sequence after it.
//! - Text tokens never hold the escape character nor a character XML 1.0 cannot carry (C0
//!   controls but TAB, and U+FFFE / U+FFFF in UTF-8): such a character is an
//!   [`Token::Escape`] of its hex bytes (`X01`), which an HL7 reader decodes to the same bytes.
//! - [`normalise_value`] writes the tokens back as `from_xml` does, so it is idempotent and
//!   `tokens(normalise_value(v)) == tokens(v)`: the XML of a normalised value is the XML of
//!   the value.

use std::borrow::Cow;

use hie_hl7::Delimiters;

use super::text::TextEncoding;

/// One piece of a raw value, as the XML writer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// Bytes that stand for themselves: no escape character, nothing XML cannot carry.
    Text(&'a [u8]),
    /// One delimiter character: what a delimiter escape stands for (`\T\` is `&`), or the
    /// escape character for a lone one or an unknown or unterminated sequence.
    Char(u8),
    /// Any other well-formed sequence: the text between its escape characters (`.br`,
    /// `X0D`); also the hex escape of a character XML cannot carry.
    Escape(Cow<'a, str>),
}

/// The delimiter a delimiter escape body (`F S T R E`) stands for.
pub(crate) fn delimiter_of(body: &[u8], d: &Delimiters) -> Option<u8> {
    match body {
        b"F" => Some(d.field),
        b"S" => Some(d.component),
        b"T" => Some(d.subcomponent),
        b"R" => Some(d.repetition),
        b"E" => Some(d.escape),
        _ => None,
    }
}

/// The delimiter escape code (`F`, `S`, `T`, `R`, `E`) of a delimiter character, with the
/// delimiter's name; `None` for any other character (the truncation character included).
pub(crate) fn code_of(c: u8, d: &Delimiters) -> Option<(&'static str, &'static str)> {
    match c {
        _ if c == d.field => Some(("F", "field separator")),
        _ if c == d.component => Some(("S", "component separator")),
        _ if c == d.subcomponent => Some(("T", "subcomponent separator")),
        _ if c == d.repetition => Some(("R", "repetition separator")),
        _ if c == d.escape => Some(("E", "escape character")),
        _ => None,
    }
}

/// True when `body` (the text between two escape characters) is an escape sequence HL7 v2
/// defines other than the five delimiter escapes (see the module invariants).
pub(crate) fn is_sequence(body: &[u8]) -> bool {
    let hex = |h: &[u8]| h.iter().all(u8::is_ascii_hexdigit);
    match body {
        b"H" | b"N" | b"P" => true,
        [b'X', h @ ..] => !h.is_empty() && h.len() % 2 == 0 && hex(h),
        [b'C', h @ ..] => h.len() == 4 && hex(h),
        [b'M', h @ ..] => (h.len() == 4 || h.len() == 6) && hex(h),
        [b'Z', rest @ ..] => !rest.is_empty() && rest.iter().all(|b| (b' '..=b'~').contains(b)),
        [b'.', cmd @ ..] => is_formatting(cmd),
        _ => false,
    }
}

/// The formatted-text commands (FT) after the leading dot.
fn is_formatting(cmd: &[u8]) -> bool {
    match cmd {
        b"br" | b"fi" | b"nf" | b"ce" => true,
        [b's', b'p', arg @ ..] | [b's', b'k', arg @ ..] => is_count(arg, false),
        [b'i', b'n', arg @ ..] | [b't', b'i', arg @ ..] => is_count(arg, true),
        _ => false,
    }
}

/// An optional number after a formatting command: nothing, or spaces, a sign (`+`, and `-`
/// when `signed`) and at least one digit.
fn is_count(arg: &[u8], signed: bool) -> bool {
    if arg.is_empty() {
        return true;
    }
    let digits = arg.trim_ascii_start();
    let digits = match digits.first() {
        Some(b'+') => &digits[1..],
        Some(b'-') if signed => &digits[1..],
        _ => digits,
    };
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// The length of the character at `raw[i]` when XML 1.0 cannot carry it, else 0.
fn forbidden_len(raw: &[u8], i: usize, enc: TextEncoding) -> usize {
    match raw[i] {
        b if b < b' ' && b != b'\t' => 1,
        // U+FFFE and U+FFFF; in Latin-1 and Latin-9 these bytes are ordinary letters.
        0xEF if enc == TextEncoding::Utf8 && matches!(raw.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => 3,
        _ => 0,
    }
}

/// The hex escape body of `bytes` (`X01`).
fn hex_body(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(1 + 2 * bytes.len());
    s.push('X');
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// Calls `f` with the tokens of the raw value `raw` in order (see the module invariants).
pub(crate) fn tokens<'a>(raw: &'a [u8], d: &Delimiters, enc: TextEncoding, mut f: impl FnMut(Token<'a>)) {
    let esc = d.escape;
    let mut text_start = 0;
    let mut i = 0;
    while i < raw.len() {
        let (token, len) = if raw[i] == esc {
            let rest = &raw[i + 1..];
            match rest.iter().position(|&c| c == esc).map(|len| (&rest[..len], len)) {
                Some((body, len)) => match delimiter_of(body, d) {
                    Some(c) => (Token::Char(c), len + 2),
                    None => match std::str::from_utf8(body) {
                        Ok(s) if is_sequence(body) => (Token::Escape(Cow::Borrowed(s)), len + 2),
                        _ => (Token::Char(esc), 1),
                    },
                },
                None => (Token::Char(esc), 1),
            }
        } else {
            match forbidden_len(raw, i, enc) {
                0 => {
                    i += 1;
                    continue;
                }
                n => (Token::Escape(Cow::Owned(hex_body(&raw[i..i + n]))), n),
            }
        };
        if text_start < i {
            f(Token::Text(&raw[text_start..i]));
        }
        f(token);
        i += len;
        text_start = i;
    }
    if text_start < raw.len() {
        f(Token::Text(&raw[text_start..]));
    }
}

/// True when [`tokens`] gives `raw` as one text token (or none): nothing to rewrite.
pub(crate) fn is_plain(raw: &[u8], d: &Delimiters, enc: TextEncoding) -> bool {
    !raw.contains(&d.escape) && (0..raw.len()).all(|i| forbidden_len(raw, i, enc) == 0)
}

/// Appends `\body\` with the escape character `esc`.
pub(crate) fn push_sequence(out: &mut Vec<u8>, esc: u8, body: &[u8]) {
    out.push(esc);
    out.extend_from_slice(body);
    out.push(esc);
}

/// Appends the bytes `from_xml` writes for the XML of the raw value `raw`: text as it is,
/// each delimiter character as its escape (`\E\` for a lone escape character), and the
/// other sequences as they are.
pub(crate) fn normalise_value(raw: &[u8], d: &Delimiters, enc: TextEncoding, out: &mut Vec<u8>) {
    if is_plain(raw, d, enc) {
        out.extend_from_slice(raw);
        return;
    }
    tokens(raw, d, enc, |t| match t {
        Token::Text(b) => out.extend_from_slice(b),
        Token::Char(c) => {
            let code = code_of(c, d).map_or("E", |(code, _)| code);
            push_sequence(out, d.escape, code.as_bytes());
        }
        Token::Escape(body) => push_sequence(out, d.escape, body.as_bytes()),
    });
}

/// Appends the bytes a round trip through XML gives for one segment's raw bytes: the name,
/// the header fields 1 and 2 of MSH, FHS and BHS, and every separator as they are; every
/// value between separators through [`normalise_value`].
pub(crate) fn normalise_segment(raw: &[u8], header: bool, d: &Delimiters, enc: TextEncoding, out: &mut Vec<u8>) {
    // The name and the field separator after it (for a header, MSH-1).
    let mut start = raw.len().min(4);
    out.extend_from_slice(&raw[..start]);
    if header && start == 4 {
        // MSH-2: the encoding characters, never split or escaped.
        let end = raw[4..].iter().position(|&b| b == d.field).map_or(raw.len(), |p| p + 4);
        out.extend_from_slice(&raw[4..end]);
        start = end;
    }
    let is_sep = |b: u8| b == d.field || b == d.component || b == d.repetition || b == d.subcomponent;
    let mut value_start = start;
    for (i, &b) in raw.iter().enumerate().skip(start) {
        if is_sep(b) {
            normalise_value(&raw[value_start..i], d, enc, out);
            out.push(b);
            value_start = i + 1;
        }
    }
    if value_start < raw.len() {
        normalise_value(&raw[value_start..], d, enc, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(raw: &str) -> Vec<Token<'_>> {
        let mut v = Vec::new();
        tokens(raw.as_bytes(), &Delimiters::default(), TextEncoding::Utf8, |t| v.push(t));
        v
    }

    fn esc(s: &str) -> Token<'_> {
        Token::Escape(Cow::Borrowed(s))
    }

    fn norm(raw: &str) -> String {
        let mut out = Vec::new();
        normalise_value(raw.as_bytes(), &Delimiters::default(), TextEncoding::Utf8, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn delimiter_escapes_are_characters_and_other_sequences_are_escapes() {
        use Token::{Char, Text};
        assert_eq!(
            toks(r"a\F\b\S\\T\\R\\E\\H\x\N\\.br\\X0D0A\"),
            vec![
                Text(b"a"),
                Char(b'|'),
                Text(b"b"),
                Char(b'^'),
                Char(b'&'),
                Char(b'~'),
                Char(b'\\'),
                esc("H"),
                Text(b"x"),
                esc("N"),
                esc(".br"),
                esc("X0D0A"),
            ]
        );
        assert_eq!(toks("plain"), vec![Text(b"plain")]);
        assert!(toks("").is_empty());
    }

    #[test]
    fn the_sequences_hl7_defines_are_accepted_and_nothing_else() {
        let good = [
            "H", "N", "P", "X41", "XC3A9", "X0d", "Zfoo", "Z1 2", "C2842", "M2442", "M244233", ".br", ".fi", ".nf",
            ".ce", ".sp", ".sp2", ".sp 2", ".sp+2", ".sk", ".sk 3", ".in", ".in+4", ".in -4", ".ti-2", ".ti 10",
        ];
        for g in good {
            assert!(is_sequence(g.as_bytes()), "{g:?}");
        }
        let bad = [
            "", "F", "Q", "h", "X", "X0", "XZZ", "x0D", "Z", "Z\u{1}", "C284", "C28421", "M24", "M24423", "M2442334",
            ".", ".BR", ".br2", ".sp-2", ".sp ", ".sp x", ".sk -1", ".in+", ".ti--1", ".xx",
        ];
        for b in bad {
            assert!(!is_sequence(b.as_bytes()), "{b:?}");
        }
    }

    #[test]
    fn lone_unknown_and_unterminated_escape_characters_are_the_character_itself() {
        use Token::{Char, Text};
        assert_eq!(toks(r"C:\temp"), vec![Text(b"C:"), Char(b'\\'), Text(b"temp")]);
        // The stray one does not swallow the real sequence after it.
        assert_eq!(toks(r"\temp\F\x"), vec![Char(b'\\'), Text(b"temp"), Char(b'|'), Text(b"x")]);
        assert_eq!(toks(r"\\"), vec![Char(b'\\'), Char(b'\\')]);
        assert_eq!(toks(r"\Q\"), vec![Char(b'\\'), Text(b"Q"), Char(b'\\')]);
        assert_eq!(norm(r"C:\temp\F\x \Q\"), r"C:\E\temp\F\x \E\Q\E\");
        assert_eq!(norm(r"\.br\\H\\Zfoo\"), r"\.br\\H\\Zfoo\");
    }

    #[test]
    fn characters_xml_cannot_carry_become_hex_escapes() {
        use Token::{Char, Text};
        assert_eq!(toks("a\u{1}b\tc"), vec![Text(b"a"), Token::Escape("X01".into()), Text(b"b\tc")]);
        assert_eq!(toks("\u{FFFE}\\"), vec![Token::Escape("XEFBFBE".into()), Char(b'\\')]);
        // In Latin-1 the bytes EF BF BE are three letters.
        let mut v = Vec::new();
        tokens(b"\xEF\xBF\xBE", &Delimiters::default(), TextEncoding::Latin1, |t| v.push(t));
        assert_eq!(v, vec![Text(b"\xEF\xBF\xBE")]);
        assert_eq!(norm("a\u{1f}\\Z\u{1}\\"), r"a\X1F\\E\Z\X01\\E\");
    }

    #[test]
    fn normalisation_is_idempotent_and_keeps_header_fields_and_separators() {
        for v in [r"C:\temp\F\x", r"\\F\", "\\Z\u{1}\\", r"\X0\a\.sp-1\", r"\E\\T\"] {
            let once = norm(v);
            assert_eq!(norm(&once), once, "{v:?}");
            assert_eq!(toks(&once), toks(v), "{v:?}");
        }
        let d = Delimiters::default();
        let mut out = Vec::new();
        normalise_segment(br"MSH|^~\&|C:\x^\T\&y\~|", true, &d, TextEncoding::Utf8, &mut out);
        assert_eq!(out, br"MSH|^~\&|C:\E\x^\T\&y\E\~|");
        out.clear();
        normalise_segment(br"NTE|1|a\", false, &d, TextEncoding::Utf8, &mut out);
        assert_eq!(out, br"NTE|1|a\E\");
        out.clear();
        normalise_segment(b"PV1", false, &d, TextEncoding::Utf8, &mut out);
        assert_eq!(out, b"PV1");
    }
}
