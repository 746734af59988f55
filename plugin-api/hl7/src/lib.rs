//! HIE's HL7 v2 codec: zero-copy parser, byte-exact serializer, path access, escapes,
//! charsets, batches, ACK/NACK building and the MLLP framer.
//!
//! # Invariants
//!
//! - **Zero-copy.** [`parse`] borrows the input; it builds one small index of segment
//!   positions and nothing else. Fields, repetitions, components and subcomponents are found on
//!   demand by scanning one segment; a lookup ([`Message::get`]) never allocates. Decoding
//!   ([`Message::value`]) borrows unless escapes or a non-UTF-8 charset force a copy.
//! - **Byte-exact.** [`Message::as_bytes`] is the input. [`MessageBuf`] keeps every segment's
//!   bytes and terminator, so an unedited buffer serializes to the input byte for byte
//!   (UTF-8 BOM, CR/LF/CRLF terminators, blank lines and trailing whitespace included), and an
//!   edit changes only the segment it touches.
//! - **Never panics.** No input, path or MLLP byte stream makes any function here panic; there
//!   is no `unwrap` on input-derived data. Malformed escapes are kept literally, invalid text in
//!   the declared charset is decoded lossily, and structural problems are reported as
//!   [`ParseError`] with a location.
//!
//! # What the parser accepts
//!
//! Segment terminators CR, LF or CRLF (mixed too), blank lines, leading/trailing whitespace, a
//! UTF-8 BOM before `MSH`, any ASCII punctuation as delimiters (field separator from the byte
//! after `MSH`, encoding characters from MSH-2), a 4- or 5-character MSH-2 (the 5th is the
//! v2.7 truncation character and does not shift field numbers), Z-segments and empty fields.
//!
//! # Field numbering
//!
//! MSH-1 is the field separator itself, MSH-2 the encoding characters, MSH-3 the first field
//! after them (FHS and BHS likewise). In other segments, field 1 is the first field after the
//! segment name. See [`Path`] for the path syntax (`PID-3(2).1.2`, `OBX(2)-5`, `PID:3.1`).
//!
//! # Example
//!
//! ```
//! let bytes = b"MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240101||ORU^R01|MSG1|P|2.5\rPID|1||123^^^MRN||Doe^John\r";
//! let msg = hie_hl7::parse(bytes).unwrap();
//! assert_eq!(msg.message_type().as_deref(), Some("ORU^R01"));
//! assert_eq!(msg.value_str("PID-5.2").unwrap().as_deref(), Some("John"));
//!
//! let ack = hie_hl7::ack::AckBuilder::new(&msg, hie_hl7::ack::AckCode::AA, "20240101120000").build();
//! assert!(ack.starts_with(b"MSH|^~\\&|EHR|HOSP|LAB|HOSP|20240101120000||ACK^R01^ACK|ACKMSG1|P|2.5\r"));
//! ```

#![warn(missing_docs)]

pub mod ack;
pub mod batch;
pub mod buf;
pub mod charset;
pub mod delimiters;
pub mod error;
pub mod escape;
pub mod framing;
pub mod message;
pub mod mllp;
pub mod output;
pub mod path;

pub use batch::{Batch, Unit, split_messages, split_units};
pub use buf::{EditError, MessageBuf};
pub use charset::{Charset, DEF_CHAR_ENCODING, DefCharEncoding, DefCharEncodingError, parse_as};
pub use delimiters::{DelimiterProblem, Delimiters};
pub use error::ParseError;
pub use escape::{escape, unescape, unescape_bytes};
pub use message::{Component, Field, Message, NULL_VALUE, Pieces, Repetition, Segment, UTF8_BOM, parse};
pub use output::{OutputForm, SeparatorsError};
pub use path::{Path, PathError};
