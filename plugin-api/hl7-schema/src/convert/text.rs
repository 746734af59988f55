//! How a message's bytes become the text of JSON strings and XML content, and back.
//!
//! # Invariants
//!
//! - Every mapping is a bijection between byte strings and the texts it produces:
//!   `encode(decode(b)) == b` for every `b`, so values round-trip byte for byte whatever the
//!   message's charset, even when its bytes are not valid in the charset it declares.
//! - ASCII maps to itself in every encoding, so delimiters, segment names and numbers never
//!   depend on the encoding.

use std::borrow::Cow;

use hie_hl7::{Charset, Message};

/// How the text of a converted message maps to the HL7 bytes.
///
/// Written as `"encoding"` in JSON and as the `encoding` attribute of the XML root element
/// when it is not [`TextEncoding::Utf8`] (absent means UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TextEncoding {
    /// The bytes are UTF-8 and the text is exactly them (`"utf-8"`).
    #[default]
    Utf8,
    /// Each byte is one character U+0000 to U+00FF (`"iso-8859-1"`).
    Latin1,
    /// Each byte is one ISO-8859-15 character (`"iso-8859-15"`; `€` is byte 0xA4).
    Latin9,
}

impl TextEncoding {
    /// The encoding used for `msg`: UTF-8 when the message is ASCII; Latin-1 or Latin-9 when
    /// MSH-18 declares it; otherwise UTF-8 when the bytes are valid UTF-8, and Latin-1 (which
    /// can carry any byte) when they are not.
    pub fn of(msg: &Message<'_>) -> TextEncoding {
        let body = msg.body();
        if body.is_ascii() {
            return TextEncoding::Utf8;
        }
        match msg.charset_kind() {
            Charset::Latin1 => TextEncoding::Latin1,
            Charset::Latin9 => TextEncoding::Latin9,
            _ if std::str::from_utf8(body).is_ok() => TextEncoding::Utf8,
            _ => TextEncoding::Latin1,
        }
    }

    /// The name written in JSON and XML: `utf-8`, `iso-8859-1` or `iso-8859-15`.
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Latin1 => "iso-8859-1",
            TextEncoding::Latin9 => "iso-8859-15",
        }
    }

    /// The encoding called `name` (ASCII case-insensitive), as [`TextEncoding::name`] spells it.
    pub fn from_name(name: &str) -> Option<TextEncoding> {
        [TextEncoding::Utf8, TextEncoding::Latin1, TextEncoding::Latin9]
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The text of raw message bytes. For [`TextEncoding::Utf8`] the bytes must be valid
    /// UTF-8 (guaranteed by [`TextEncoding::of`] for pieces of the message).
    pub(crate) fn decode(self, raw: &[u8]) -> Cow<'_, str> {
        match self {
            TextEncoding::Utf8 => String::from_utf8_lossy(raw),
            TextEncoding::Latin1 => Charset::Latin1.decode(raw),
            TextEncoding::Latin9 => Charset::Latin9.decode(raw),
        }
    }

    /// Appends the bytes of one non-ASCII character; false when the encoding has no byte
    /// for it.
    pub(crate) fn encode_non_ascii(self, c: char, out: &mut Vec<u8>) -> bool {
        match self {
            TextEncoding::Utf8 => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                true
            }
            TextEncoding::Latin1 => match u8::try_from(u32::from(c)) {
                Ok(b) => {
                    out.push(b);
                    true
                }
                Err(_) => false,
            },
            TextEncoding::Latin9 => {
                let mut buf = [0u8; 4];
                let bytes = Charset::Latin9.encode(c.encode_utf8(&mut buf));
                // Charset::encode writes `?` for characters the set does not have.
                match bytes.as_ref() {
                    [b] if *b != b'?' => {
                        out.push(*b);
                        true
                    }
                    _ => false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(enc: TextEncoding, bytes: &[u8]) {
        let text = enc.decode(bytes);
        let mut out = Vec::new();
        for c in text.chars() {
            if c.is_ascii() {
                out.push(c as u8);
            } else {
                assert!(enc.encode_non_ascii(c, &mut out), "{c:?}");
            }
        }
        assert_eq!(out, bytes, "{enc:?}");
    }

    #[test]
    fn single_byte_encodings_are_bijective() {
        let all: Vec<u8> = (0..=255).collect();
        round_trip(TextEncoding::Latin1, &all);
        round_trip(TextEncoding::Latin9, &all);
        round_trip(TextEncoding::Utf8, "Müller € 𝄞".as_bytes());
    }

    #[test]
    fn characters_outside_the_set_are_refused() {
        let mut out = Vec::new();
        assert!(!TextEncoding::Latin1.encode_non_ascii('€', &mut out));
        // Latin-9 replaced ¤ (U+00A4) by € at byte 0xA4.
        assert!(!TextEncoding::Latin9.encode_non_ascii('\u{A4}', &mut out));
        assert!(TextEncoding::Latin9.encode_non_ascii('€', &mut out));
        assert_eq!(out, [0xA4]);
    }

    #[test]
    fn detection_follows_msh18_and_validity() {
        let of = |b: &[u8]| TextEncoding::of(&hie_hl7::parse(b).unwrap());
        assert_eq!(of(b"MSH|^~\\&|A\rPID|1\r"), TextEncoding::Utf8);
        assert_eq!(of("MSH|^~\\&|A\rPID|1||Müller\r".as_bytes()), TextEncoding::Utf8);
        assert_eq!(of(b"MSH|^~\\&|A\rPID|1||M\xfcller\r"), TextEncoding::Latin1);
        // MSH-18 is the 16th field after MSH-2.
        let msh = format!("MSH|^~\\&{}", "|".repeat(16));
        assert_eq!(of(&[msh.as_bytes(), b"8859/15\rPID|1||\xa4\r"].concat()), TextEncoding::Latin9);
        assert_eq!(of(format!("{msh}8859/1\rPID|1||é\r").as_bytes()), TextEncoding::Latin1);
        assert_eq!(TextEncoding::from_name("ISO-8859-1"), Some(TextEncoding::Latin1));
        assert_eq!(TextEncoding::from_name("latin1"), None);
    }
}
