//! HL7 escape sequences (`\F\`, `\S\`, `\Xhh\`, `\.br\` ...) in both directions.
//!
//! Sequences are written with the message's own escape character; `\` is used in the
//! documentation for readability.

use std::borrow::Cow;

use crate::charset::Charset;
use crate::delimiters::Delimiters;

/// Largest repeat count honoured in `\.sp n\` and `\.sk n\`, so hostile input cannot make
/// decoding allocate without bound.
const MAX_FORMAT_REPEAT: usize = 100;

/// Decodes a raw (escaped) value to text: resolves escape sequences, then applies `charset`.
///
/// Handled sequences:
/// - `\F\` `\S\` `\T\` `\R\` `\E\`: field, component, subcomponent, repetition separator and
///   escape character; `\P\`: truncation character (only when the message defines one).
/// - `\Xhhhh..\`: the hex bytes (any number of pairs, e.g. `\X0D0A\`), decoded with `charset`
///   together with the surrounding bytes.
/// - `\.br\` and `\.sp\` / `\.sp n\`: line break(s), written as `"\n"` (LF, never CR, so a
///   decoded value never looks like a segment terminator); `\.sk n\`: n spaces.
/// - `\H\`, `\N\` (highlight on/off) and the display hints `\.fi\ \.nf\ \.ce\ \.in n\ \.ti n\`:
///   dropped.
///
/// Anything else (unknown sequences such as `\Zxx\`, `\Cxxyy\`, malformed hex, a lone or
/// unterminated escape character) is kept literally. Never panics.
pub fn unescape<'a>(raw: &'a [u8], delims: &Delimiters, charset: Charset) -> Cow<'a, str> {
    match unescape_bytes(raw, delims) {
        Cow::Borrowed(b) => charset.decode(b),
        Cow::Owned(v) => Cow::Owned(charset.decode(&v).into_owned()),
    }
}

/// Resolves escape sequences but leaves the bytes in the message charset.
///
/// Borrows when `raw` contains no escape character. See [`unescape`] for the rules.
pub fn unescape_bytes<'a>(raw: &'a [u8], delims: &Delimiters) -> Cow<'a, [u8]> {
    let esc = delims.escape;
    if !raw.contains(&esc) {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != esc {
            out.push(b);
            i += 1;
            continue;
        }
        let rest = &raw[i + 1..];
        match rest.iter().position(|&c| c == esc) {
            Some(len) if resolve(&rest[..len], delims, &mut out) => i += len + 2,
            // Unknown or unterminated: keep the escape character literally and rescan from the
            // next byte, so a stray escape character cannot swallow a following real sequence.
            _ => {
                out.push(esc);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// Appends the meaning of one escape sequence body; false when the body is not understood.
fn resolve(body: &[u8], d: &Delimiters, out: &mut Vec<u8>) -> bool {
    match body {
        b"F" => out.push(d.field),
        b"S" => out.push(d.component),
        b"T" => out.push(d.subcomponent),
        b"R" => out.push(d.repetition),
        b"E" => out.push(d.escape),
        b"P" => match d.truncation {
            Some(t) => out.push(t),
            None => return false,
        },
        b"H" | b"N" => {}
        [b'X' | b'x', hex @ ..] => {
            if hex.is_empty() || hex.len() % 2 != 0 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            out.extend(hex.chunks_exact(2).map(|p| (hex_val(p[0]) << 4) | hex_val(p[1])));
        }
        [b'.', cmd @ ..] => return formatting(cmd, out),
        _ => return false,
    }
    true
}

/// Formatted-text commands (FT data type) after the leading dot.
fn formatting(cmd: &[u8], out: &mut Vec<u8>) -> bool {
    let (name, arg) = cmd.split_at(cmd.len().min(2));
    match name {
        b"br" if arg.is_empty() => out.push(b'\n'),
        b"sp" => match repeat_count(arg) {
            Some(n) => out.extend(std::iter::repeat_n(b'\n', n)),
            None => return false,
        },
        b"sk" => match repeat_count(arg) {
            Some(n) => out.extend(std::iter::repeat_n(b' ', n)),
            None => return false,
        },
        b"fi" | b"nf" | b"ce" if arg.is_empty() => {}
        b"in" | b"ti" => {}
        _ => return false,
    }
    true
}

/// Parses the optional count of `.sp`/`.sk` (`""`, `" 2"`, `"+2"`); default 1, capped.
fn repeat_count(arg: &[u8]) -> Option<usize> {
    let digits = arg.trim_ascii();
    let digits = digits.strip_prefix(b"+").unwrap_or(digits);
    if digits.is_empty() {
        return Some(1);
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().take(4).fold(0usize, |acc, &c| acc * 10 + usize::from(c - b'0'));
    Some(if digits.len() > 4 { MAX_FORMAT_REPEAT } else { n.min(MAX_FORMAT_REPEAT) })
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Escapes text for use as a field value: the delimiter characters become `\F\ \S\ \T\ \R\ \E\`
/// (and `\P\` for the truncation character when defined), CR and LF become `\X0D\` / `\X0A\`.
///
/// The result is still text; encode it with [`Charset::encode`] before writing it into a
/// message whose charset is not UTF-8.
pub fn escape(value: &str, delims: &Delimiters) -> String {
    let needs = value.bytes().any(|b| delims.is_delimiter(b) || b == b'\r' || b == b'\n');
    if !needs {
        return value.to_owned();
    }
    let esc = char::from(delims.escape);
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        let seq: Option<&str> = match u8::try_from(u32::from(c)) {
            Ok(b) if b == delims.field => Some("F"),
            Ok(b) if b == delims.component => Some("S"),
            Ok(b) if b == delims.subcomponent => Some("T"),
            Ok(b) if b == delims.repetition => Some("R"),
            Ok(b) if b == delims.escape => Some("E"),
            Ok(b) if Some(b) == delims.truncation => Some("P"),
            Ok(b'\r') => Some("X0D"),
            Ok(b'\n') => Some("X0A"),
            _ => None,
        };
        match seq {
            Some(s) => {
                out.push(esc);
                out.push_str(s);
                out.push(esc);
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn un(s: &str) -> String {
        unescape(s.as_bytes(), &Delimiters::default(), Charset::Utf8).into_owned()
    }

    #[test]
    fn delimiter_escapes_resolve() {
        assert_eq!(un(r"a\F\b\S\c\T\d\R\e\E\f"), r"a|b^c&d~e\f");
    }

    #[test]
    fn hex_escape_with_several_pairs_resolves_crlf() {
        assert_eq!(un(r"line1\X0D0A\line2"), "line1\r\nline2");
        assert_eq!(un(r"\X41\"), "A");
        // Hex bytes are decoded with the charset, together with their neighbours.
        assert_eq!(un(r"\XC3A9\"), "é");
    }

    #[test]
    fn formatting_escapes() {
        assert_eq!(un(r"a\.br\b"), "a\nb");
        assert_eq!(un(r"a\.sp 2\b"), "a\n\nb");
        assert_eq!(un(r"a\.sk 3\b"), "a   b");
        assert_eq!(un(r"\H\bold\N\"), "bold");
        assert_eq!(un(r"\.ce\x"), "x");
    }

    #[test]
    fn unknown_malformed_and_unterminated_escapes_stay_literal() {
        assert_eq!(un(r"\Zabc\"), r"\Zabc\");
        assert_eq!(un(r"\X0\"), r"\X0\");
        assert_eq!(un(r"\XZZ\"), r"\XZZ\");
        assert_eq!(un(r"abc\F"), r"abc\F");
        assert_eq!(un(r"\"), r"\");
        assert_eq!(un(r"\\"), r"\\");
        assert_eq!(un(r"C:\temp\F\x"), r"C:\temp|x");
        assert_eq!(un(r"\P\"), r"\P\");
        assert_eq!(un(r"\.sp 99999999999999999999\"), "\n".repeat(100));
    }

    #[test]
    fn truncation_escape_only_when_defined() {
        let d = Delimiters::from_parts(b'|', b"^~\\&#").unwrap();
        assert_eq!(unescape(br"a\P\b", &d, Charset::Ascii), "a#b");
    }

    #[test]
    fn escape_round_trips_through_unescape() {
        let d = Delimiters::from_parts(b'|', b"^~\\&#").unwrap();
        let text = "a|b^c~d\\e&f#g\r\nh é";
        let e = escape(text, &d);
        assert_eq!(e, r"a\F\b\S\c\R\d\E\e\T\f\P\g\X0D\\X0A\h é");
        assert_eq!(unescape(e.as_bytes(), &d, Charset::Utf8), text);
    }

    #[test]
    fn custom_escape_character_is_used() {
        let d = Delimiters::from_parts(b'#', b"$*@!").unwrap();
        assert_eq!(escape("a#b", &d), "a@F@b");
        assert_eq!(unescape(b"a@F@b@S@c", &d, Charset::Ascii), "a#b$c");
    }
}
