//! Character sets named in MSH-18 and their decoding to UTF-8.

use std::borrow::Cow;

/// The character set of a message, from MSH-18 (first repetition).
///
/// Decoding never fails: bytes that are not valid in the declared set are replaced or
/// reinterpreted as documented on [`Charset::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Charset {
    /// MSH-18 empty or `ASCII` (the HL7 default).
    #[default]
    Ascii,
    /// `8859/1` (ISO-8859-1, Latin-1).
    Latin1,
    /// `8859/15` (ISO-8859-15, Latin-9).
    Latin9,
    /// `UNICODE UTF-8` (also accepted: `UTF-8`, `UTF8`).
    Utf8,
    /// Any other value of MSH-18; decoded like [`Charset::Ascii`].
    Unknown,
}

impl Charset {
    /// Maps an MSH-18 value (raw bytes of its first component) to a charset.
    ///
    /// Matching ignores ASCII case and surrounding spaces. Unrecognised names give
    /// [`Charset::Unknown`].
    pub fn from_msh18(value: &[u8]) -> Charset {
        let v = value.trim_ascii();
        let eq = |s: &str| v.eq_ignore_ascii_case(s.as_bytes());
        if v.is_empty() || eq("ASCII") || eq("ISO IR6") || eq("US-ASCII") {
            Charset::Ascii
        } else if eq("8859/1") || eq("ISO IR100") || eq("ISO-8859-1") || eq("LATIN1") {
            Charset::Latin1
        } else if eq("8859/15") || eq("ISO-8859-15") {
            Charset::Latin9
        } else if eq("UNICODE UTF-8") || eq("UTF-8") || eq("UTF8") {
            Charset::Utf8
        } else {
            Charset::Unknown
        }
    }

    /// The canonical MSH-18 spelling of this charset (`""` for ASCII/unknown).
    pub fn msh18_name(&self) -> &'static str {
        match self {
            Charset::Ascii | Charset::Unknown => "",
            Charset::Latin1 => "8859/1",
            Charset::Latin9 => "8859/15",
            Charset::Utf8 => "UNICODE UTF-8",
        }
    }

    /// Decodes bytes of this charset to text, borrowing whenever the bytes are already UTF-8.
    ///
    /// - `Utf8`: invalid sequences become U+FFFD (lossy, never fails).
    /// - `Latin1` / `Latin9`: every byte maps to one character.
    /// - `Ascii` / `Unknown`: bytes are taken as UTF-8 when valid (many "ASCII" senders really
    ///   send UTF-8); if they are not valid UTF-8 they are decoded as Latin-1, which is lossless
    ///   and is what a mislabelled Western-European sender most likely meant.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Cow<'a, str> {
        if bytes.is_ascii() {
            // ASCII is the same in every supported charset.
            return Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default());
        }
        match self {
            Charset::Utf8 => String::from_utf8_lossy(bytes),
            Charset::Latin1 => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
            Charset::Latin9 => Cow::Owned(bytes.iter().map(|&b| latin9_char(b)).collect()),
            Charset::Ascii | Charset::Unknown => match std::str::from_utf8(bytes) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
            },
        }
    }

    /// Encodes text into this charset for writing into a message.
    ///
    /// `Utf8`, `Ascii` and `Unknown` write UTF-8 bytes unchanged (ASCII messages with non-ASCII
    /// text are thus UTF-8, which [`Charset::decode`] reads back losslessly). `Latin1`/`Latin9`
    /// map characters outside the set to `?`.
    pub fn encode<'a>(&self, text: &'a str) -> Cow<'a, [u8]> {
        if text.is_ascii() {
            return Cow::Borrowed(text.as_bytes());
        }
        match self {
            Charset::Utf8 | Charset::Ascii | Charset::Unknown => Cow::Borrowed(text.as_bytes()),
            Charset::Latin1 => Cow::Owned(text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()),
            Charset::Latin9 => Cow::Owned(text.chars().map(latin9_byte).collect()),
        }
    }
}

/// The attribute under which a session carries its service's `DefCharEncoding`, so every
/// later hop decodes the message as that service did.
pub const DEF_CHAR_ENCODING: &str = "DefCharEncoding";

/// IRIS's `DefCharEncoding` setting: the charset of messages whose MSH-18 is empty or names
/// no charset HIE knows, or, with a `!` prefix, of every message whatever MSH-18 says (for
/// senders that mislabel their bytes). On a service it says how the bytes that came in are
/// read; on an operation, in which charset the message is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefCharEncoding {
    /// The charset named.
    pub charset: Charset,
    /// `!`: it applies even where MSH-18 names a charset.
    pub forced: bool,
}

/// Why a `DefCharEncoding` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "DefCharEncoding {value:?}: not an encoding HIE knows (Latin1, Latin9, UTF-8, ASCII, or an MSH-18 name such as 8859/1; `!` in front forces it)"
)]
pub struct DefCharEncodingError {
    /// The setting's value.
    pub value: String,
}

impl DefCharEncoding {
    /// Reads the setting: empty is `None` (bytes as received, decoded by MSH-18). IRIS's
    /// names (`Latin1`, `UTF-8`, `@<table>` naming a charset) and MSH-18's are accepted,
    /// ignoring case; `Binary` and `RAW` (no translation) read as Latin-1, one byte one
    /// character.
    pub fn parse(value: &str) -> Result<Option<DefCharEncoding>, DefCharEncodingError> {
        let v = value.trim();
        if v.is_empty() {
            return Ok(None);
        }
        let (forced, name) = match v.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, v),
        };
        let name = name.strip_prefix('@').unwrap_or(name);
        let eq = |s: &str| name.eq_ignore_ascii_case(s);
        // IRIS's own names; the rest are MSH-18's (Latin1, UTF-8, 8859/1, ...).
        let charset = if eq("Binary") || eq("RAW") {
            Charset::Latin1
        } else if eq("Latin9") {
            Charset::Latin9
        } else if eq("Unicode") {
            Charset::Utf8
        } else {
            match Charset::from_msh18(name.as_bytes()) {
                Charset::Unknown => return Err(DefCharEncodingError { value: value.to_string() }),
                c => c,
            }
        };
        Ok(Some(DefCharEncoding { charset, forced }))
    }

    /// The charset a message is read (or written) in when MSH-18 gives `declared`.
    pub fn resolve(&self, declared: Charset) -> Charset {
        match declared {
            Charset::Ascii | Charset::Unknown => self.charset,
            _ if self.forced => self.charset,
            other => other,
        }
    }
}

/// Parses `bytes` read as a service with `encoding` (its `DefCharEncoding`) reads them:
/// the charset the setting resolves to against MSH-18, or MSH-18's alone when `None`.
/// Every reader of a stored message (items, search, the index) parses it this way, so a
/// value found in one is the value found in the others.
pub fn parse_as(bytes: &[u8], encoding: Option<DefCharEncoding>) -> Result<crate::Message<'_>, crate::ParseError> {
    let msg = crate::parse(bytes)?;
    Ok(match encoding {
        Some(enc) => {
            let charset = enc.resolve(msg.charset_kind());
            msg.with_charset(charset)
        }
        None => msg,
    })
}

/// The eight positions where ISO-8859-15 differs from ISO-8859-1.
const LATIN9_DIFF: [(u8, char); 8] = [
    (0xA4, '\u{20AC}'),
    (0xA6, '\u{0160}'),
    (0xA8, '\u{0161}'),
    (0xB4, '\u{017D}'),
    (0xB8, '\u{017E}'),
    (0xBC, '\u{0152}'),
    (0xBD, '\u{0153}'),
    (0xBE, '\u{0178}'),
];

fn latin9_char(b: u8) -> char {
    LATIN9_DIFF.iter().find(|(byte, _)| *byte == b).map(|(_, c)| *c).unwrap_or(char::from(b))
}

fn latin9_byte(c: char) -> u8 {
    if let Some((b, _)) = LATIN9_DIFF.iter().find(|(_, ch)| *ch == c) {
        return *b;
    }
    match u8::try_from(u32::from(c)) {
        // Positions replaced in Latin-9 cannot carry their Latin-1 characters.
        Ok(b) if LATIN9_DIFF.iter().any(|(byte, _)| *byte == b) => b'?',
        Ok(b) => b,
        Err(_) => b'?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msh18_names_map_to_charsets() {
        assert_eq!(Charset::from_msh18(b""), Charset::Ascii);
        assert_eq!(Charset::from_msh18(b"ASCII"), Charset::Ascii);
        assert_eq!(Charset::from_msh18(b"8859/1"), Charset::Latin1);
        assert_eq!(Charset::from_msh18(b"8859/15"), Charset::Latin9);
        assert_eq!(Charset::from_msh18(b"UNICODE UTF-8"), Charset::Utf8);
        assert_eq!(Charset::from_msh18(b"utf-8"), Charset::Utf8);
        assert_eq!(Charset::from_msh18(b"ISO IR87"), Charset::Unknown);
    }

    #[test]
    fn latin1_bytes_decode_to_utf8() {
        assert_eq!(Charset::Latin1.decode(b"M\xfcller"), "Müller");
        assert_eq!(Charset::Latin1.encode("Müller").as_ref(), b"M\xfcller");
        assert_eq!(Charset::Latin1.encode("€").as_ref(), b"?");
        assert_eq!(Charset::Latin9.decode(b"\xa4"), "€");
        assert_eq!(Charset::Latin9.encode("€").as_ref(), b"\xa4");
    }

    #[test]
    fn def_char_encoding_applies_where_msh18_is_silent_or_when_forced() {
        let latin1 = DefCharEncoding::parse("Latin1").expect("valid").expect("set");
        assert_eq!(latin1.resolve(Charset::Ascii), Charset::Latin1);
        assert_eq!(latin1.resolve(Charset::Utf8), Charset::Utf8);
        let forced = DefCharEncoding::parse("!latin1").expect("valid").expect("set");
        assert_eq!(forced.resolve(Charset::Utf8), Charset::Latin1);
        assert_eq!(DefCharEncoding::parse("@UTF-8").expect("valid").map(|d| d.charset), Some(Charset::Utf8));
        assert_eq!(DefCharEncoding::parse("8859/15").expect("valid").map(|d| d.charset), Some(Charset::Latin9));
        assert_eq!(DefCharEncoding::parse(" ").expect("empty"), None);
        assert!(DefCharEncoding::parse("EBCDIC").is_err());
    }

    #[test]
    fn invalid_utf8_never_fails() {
        assert_eq!(Charset::Utf8.decode(b"a\xffb"), "a\u{FFFD}b");
        // Declared ASCII but really Latin-1: read losslessly as Latin-1.
        assert_eq!(Charset::Ascii.decode(b"M\xfcller"), "Müller");
        assert!(matches!(Charset::Ascii.decode("Müller".as_bytes()), Cow::Borrowed(_)));
    }
}
