//! Building ACK/NACK replies and reading them.
//!
//! Timestamps and control ids are supplied by the caller, so this crate needs no clock.

use std::fmt;
use std::str::FromStr;

use crate::charset::Charset;
use crate::delimiters::Delimiters;
use crate::error::ParseError;
use crate::escape::escape;
use crate::message::{Message, field_of, read_delimiters, skip_prefix};
use crate::path::Path;

/// HL7 table 0357 (message error condition codes) as constants.
pub mod err_code {
    /// 0: message accepted.
    pub const MESSAGE_ACCEPTED: u16 = 0;
    /// 100: segment sequence error.
    pub const SEGMENT_SEQUENCE_ERROR: u16 = 100;
    /// 101: required field missing.
    pub const REQUIRED_FIELD_MISSING: u16 = 101;
    /// 102: data type error.
    pub const DATA_TYPE_ERROR: u16 = 102;
    /// 103: table value not found.
    pub const TABLE_VALUE_NOT_FOUND: u16 = 103;
    /// 104: value too long (v2.7+).
    pub const VALUE_TOO_LONG: u16 = 104;
    /// 200: unsupported message type.
    pub const UNSUPPORTED_MESSAGE_TYPE: u16 = 200;
    /// 201: unsupported event code.
    pub const UNSUPPORTED_EVENT_CODE: u16 = 201;
    /// 202: unsupported processing id.
    pub const UNSUPPORTED_PROCESSING_ID: u16 = 202;
    /// 203: unsupported version id.
    pub const UNSUPPORTED_VERSION_ID: u16 = 203;
    /// 204: unknown key identifier.
    pub const UNKNOWN_KEY_IDENTIFIER: u16 = 204;
    /// 205: duplicate key identifier.
    pub const DUPLICATE_KEY_IDENTIFIER: u16 = 205;
    /// 206: application record locked.
    pub const APPLICATION_RECORD_LOCKED: u16 = 206;
    /// 207: application internal error.
    pub const APPLICATION_INTERNAL_ERROR: u16 = 207;
}

/// The table 0357 description of an error code (`""` for codes not in the table).
pub fn error_code_text(code: u16) -> &'static str {
    match code {
        0 => "Message accepted",
        100 => "Segment sequence error",
        101 => "Required field missing",
        102 => "Data type error",
        103 => "Table value not found",
        104 => "Value too long",
        200 => "Unsupported message type",
        201 => "Unsupported event code",
        202 => "Unsupported processing id",
        203 => "Unsupported version id",
        204 => "Unknown key identifier",
        205 => "Duplicate key identifier",
        206 => "Application record locked",
        207 => "Application internal error",
        _ => "",
    }
}

/// MSA-1 acknowledgment codes (HL7 table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckCode {
    /// Application accept (original mode accept / enhanced application ACK accept).
    AA,
    /// Application error: the content is wrong, resending the same message will not help.
    AE,
    /// Application reject: MSH-9/11/12 problem or a failure unrelated to the content.
    AR,
    /// Commit accept (enhanced mode accept ACK): the message is in safe storage.
    CA,
    /// Commit error (enhanced mode accept ACK).
    CE,
    /// Commit reject (enhanced mode accept ACK).
    CR,
}

impl AckCode {
    /// The code as written in MSA-1.
    pub fn as_str(&self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
            AckCode::CA => "CA",
            AckCode::CE => "CE",
            AckCode::CR => "CR",
        }
    }

    /// True for AA and CA.
    pub fn is_positive(&self) -> bool {
        matches!(self, AckCode::AA | AckCode::CA)
    }

    /// True for the enhanced-mode accept (commit) codes CA, CE, CR.
    pub fn is_commit(&self) -> bool {
        matches!(self, AckCode::CA | AckCode::CE | AckCode::CR)
    }
}

impl fmt::Display for AckCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AckCode {
    type Err = ();

    /// Parses `AA`, `AE`, `AR`, `CA`, `CE`, `CR` (ASCII case-insensitive, trimmed).
    fn from_str(s: &str) -> Result<AckCode, ()> {
        match s.trim().to_ascii_uppercase().as_str() {
            "AA" => Ok(AckCode::AA),
            "AE" => Ok(AckCode::AE),
            "AR" => Ok(AckCode::AR),
            "CA" => Ok(AckCode::CA),
            "CE" => Ok(AckCode::CE),
            "CR" => Ok(AckCode::CR),
            _ => Err(()),
        }
    }
}

/// MSH-15 / MSH-16 values (HL7 table 0155): when the sender wants an acknowledgment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckCondition {
    /// `AL`: always.
    AL,
    /// `NE`: never.
    NE,
    /// `ER`: only on error/reject.
    ER,
    /// `SU`: only on successful completion.
    SU,
}

impl AckCondition {
    /// Parses `AL`, `NE`, `ER`, `SU` (ASCII case-insensitive, trimmed); `None` otherwise.
    pub fn from_value(s: &str) -> Option<AckCondition> {
        match s.trim().to_ascii_uppercase().as_str() {
            "AL" => Some(AckCondition::AL),
            "NE" => Some(AckCondition::NE),
            "ER" => Some(AckCondition::ER),
            "SU" => Some(AckCondition::SU),
            _ => None,
        }
    }

    /// The code as written in MSH-15/16.
    pub fn as_str(&self) -> &'static str {
        match self {
            AckCondition::AL => "AL",
            AckCondition::NE => "NE",
            AckCondition::ER => "ER",
            AckCondition::SU => "SU",
        }
    }

    /// Whether an acknowledgment is wanted for an outcome (`success` = accepted).
    pub fn wants(&self, success: bool) -> bool {
        match self {
            AckCondition::AL => true,
            AckCondition::NE => false,
            AckCondition::ER => !success,
            AckCondition::SU => success,
        }
    }
}

/// The acknowledgment mode a message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckMode {
    /// MSH-15 and MSH-16 both empty: one application ACK (AA/AE/AR) per message.
    Original,
    /// MSH-15 or MSH-16 set: an accept ACK (CA/CE/CR) after safe storage and/or an
    /// application ACK, as the conditions say. `None` means the field was empty or held an
    /// unknown value; it is treated as `AL`.
    Enhanced {
        /// MSH-15, accept acknowledgment condition.
        accept: Option<AckCondition>,
        /// MSH-16, application acknowledgment condition.
        application: Option<AckCondition>,
    },
}

impl AckMode {
    /// Detects the mode from MSH-15 and MSH-16.
    pub fn of(msg: &Message<'_>) -> AckMode {
        let a = msg.accept_ack_type();
        let b = msg.application_ack_type();
        if a.is_none() && b.is_none() {
            return AckMode::Original;
        }
        AckMode::Enhanced {
            accept: a.and_then(AckCondition::from_value),
            application: b.and_then(AckCondition::from_value),
        }
    }

    /// Whether to send an accept (commit) ACK for this outcome. Never in original mode.
    pub fn wants_accept_ack(&self, success: bool) -> bool {
        match self {
            AckMode::Original => false,
            AckMode::Enhanced { accept, .. } => accept.unwrap_or(AckCondition::AL).wants(success),
        }
    }

    /// Whether to send an application ACK for this outcome. Always in original mode.
    pub fn wants_application_ack(&self, success: bool) -> bool {
        match self {
            AckMode::Original => true,
            AckMode::Enhanced { application, .. } => application.unwrap_or(AckCondition::AL).wants(success),
        }
    }
}

/// ERR-4 severity (HL7 table 0516).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Severity {
    /// `E`: error.
    #[default]
    Error,
    /// `W`: warning.
    Warning,
    /// `I`: information.
    Information,
}

impl Severity {
    /// The code as written in ERR-4.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Error => "E",
            Severity::Warning => "W",
            Severity::Information => "I",
        }
    }
}

/// One error to report in an ERR segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    /// HL7 table 0357 code, see [`err_code`].
    pub code: u16,
    /// Human-readable text (written to ERR and, unless overridden, MSA-3).
    pub text: String,
    /// Where, in ERL form with `^` separators (`PID^1^3`, see [`Path::to_erl`]).
    pub location: Option<String>,
    /// ERR-4 severity (v2.5+ only).
    pub severity: Severity,
}

impl AckError {
    /// An error with a code and text, severity `E`, no location.
    pub fn new(code: u16, text: impl Into<String>) -> AckError {
        AckError { code, text: text.into(), location: None, severity: Severity::Error }
    }

    /// Sets the location (ERL text such as `PID^1^3`).
    pub fn with_location(mut self, erl: impl Into<String>) -> AckError {
        self.location = Some(erl.into());
        self
    }

    /// Sets the location from a path.
    pub fn at(self, path: &Path) -> AckError {
        self.with_location(path.to_erl())
    }

    /// Sets the severity.
    pub fn with_severity(mut self, severity: Severity) -> AckError {
        self.severity = severity;
        self
    }

    /// The error to report for input that did not parse.
    pub fn from_parse_error(e: &ParseError) -> AckError {
        AckError {
            code: e.ack_error_code(),
            text: e.to_string(),
            location: e.erl_location(),
            severity: Severity::Error,
        }
    }
}

/// What an ACK is built from: the original header, raw (already escaped in `delims`).
struct Header<'x> {
    delims: Delimiters,
    charset: Charset,
    send_app: &'x [u8],
    send_fac: &'x [u8],
    recv_app: &'x [u8],
    recv_fac: &'x [u8],
    trigger: &'x [u8],
    control_id: &'x [u8],
    processing: &'x [u8],
    version: &'x [u8],
    charset_field: &'x [u8],
}

impl<'x> Header<'x> {
    fn empty(delims: Delimiters) -> Header<'x> {
        Header {
            delims,
            charset: Charset::Ascii,
            send_app: b"",
            send_fac: b"",
            recv_app: b"",
            recv_fac: b"",
            trigger: b"",
            control_id: b"",
            processing: b"",
            version: b"",
            charset_field: b"",
        }
    }

    /// Reads the fields from an MSH line (content only).
    fn from_msh_line(line: &'x [u8], delims: Delimiters) -> Header<'x> {
        let f = |n: usize| field_of(line, delims.field, n).unwrap_or_default();
        let first_rep = |b: &'x [u8]| b.split(|&c| c == delims.repetition).next().unwrap_or(b);
        let comp = |b: &'x [u8], i: usize| first_rep(b).split(|&c| c == delims.component).nth(i).unwrap_or_default();
        let charset_field = first_rep(f(18));
        Header {
            delims,
            charset: Charset::from_msh18(comp(f(18), 0)),
            send_app: f(3),
            send_fac: f(4),
            recv_app: f(5),
            recv_fac: f(6),
            trigger: comp(f(9), 1),
            control_id: f(10),
            processing: f(11),
            version: f(12),
            charset_field,
        }
    }

    fn from_message(m: &'x Message<'_>) -> Header<'x> {
        let msh = m.segment(0).map(|s| s.raw()).unwrap_or_default();
        Header::from_msh_line(msh, m.delimiters())
    }

    /// Major/minor of MSH-12.1; `None` when absent or unreadable.
    fn version_number(&self) -> Option<(u32, u32)> {
        let v = self.version.split(|&c| c == self.delims.component).next().unwrap_or_default();
        let v = std::str::from_utf8(v).ok()?.trim();
        let mut parts = v.split('.');
        let major = parts.next()?.trim_start_matches(['v', 'V']).parse().ok()?;
        let minor = parts.next().unwrap_or("0").parse().ok()?;
        Some((major, minor))
    }
}

/// Builds an ACK (or NACK) for a parsed message.
///
/// The reply has the original's delimiters, sender and receiver swapped (or the sender given by
/// [`AckBuilder::local_facility_application`]), MSH-7 = the supplied timestamp,
/// MSH-9 = `ACK^<trigger>^ACK`, a new MSH-10, MSH-11/12 (and MSH-18) copied, then
/// `MSA|<code>|<original MSH-10>[|<text>]` and one ERR per error. Segments end with CR.
#[derive(Debug, Clone)]
pub struct AckBuilder<'m, 'a> {
    original: &'m Message<'a>,
    code: AckCode,
    timestamp: String,
    errors: Vec<AckError>,
    text: Option<String>,
    local: Option<String>,
    control_id: Option<String>,
}

impl<'m, 'a> AckBuilder<'m, 'a> {
    /// Starts an ACK for `original` with MSA-1 = `code` and MSH-7 = `timestamp` (HL7 DTM,
    /// e.g. `20240101120000+0000`).
    pub fn new(original: &'m Message<'a>, code: AckCode, timestamp: &str) -> AckBuilder<'m, 'a> {
        AckBuilder {
            original,
            code,
            timestamp: timestamp.to_owned(),
            errors: Vec::new(),
            text: None,
            local: None,
            control_id: None,
        }
    }

    /// Adds an error (an ERR segment; for versions before 2.5 a repetition of ERR-1).
    pub fn error(mut self, e: AckError) -> Self {
        self.errors.push(e);
        self
    }

    /// Sets MSA-3 (text message). Default: the first error's text, else empty.
    pub fn text(mut self, text: &str) -> Self {
        self.text = Some(text.to_owned());
        self
    }

    /// Sets the ACK's own sender as IRIS `LocalFacilityApplication` does: `FACILITY:APPLICATION`
    /// (e.g. `ISC:EnsembleHL7` gives MSH-4 `ISC`, MSH-3 `EnsembleHL7`). A part that is `@` or
    /// empty keeps the original's receiving field; text without `:` sets only the application.
    /// The text is written raw (it may hold components).
    pub fn local_facility_application(mut self, value: &str) -> Self {
        self.local = Some(value.to_owned());
        self
    }

    /// Sets the ACK's MSH-10. Default: `ACK` followed by the original control id.
    pub fn control_id(mut self, id: &str) -> Self {
        self.control_id = Some(id.to_owned());
        self
    }

    /// The ACK bytes.
    pub fn build(&self) -> Vec<u8> {
        let h = Header::from_message(self.original);
        build(
            &h,
            self.code,
            &self.errors,
            self.text.as_deref(),
            self.local.as_deref(),
            self.control_id.as_deref(),
            &self.timestamp,
        )
    }
}

/// One-call form of [`AckBuilder`]: ACK for `original` with an optional error, optional
/// `FACILITY:APPLICATION` sender override and optional control id.
pub fn build_ack(
    original: &Message<'_>,
    code: AckCode,
    error: Option<&AckError>,
    local_facility_application: Option<&str>,
    control_id: Option<&str>,
    timestamp: &str,
) -> Vec<u8> {
    let h = Header::from_message(original);
    build(
        &h,
        code,
        error.map(std::slice::from_ref).unwrap_or_default(),
        None,
        local_facility_application,
        control_id,
        timestamp,
    )
}

/// A best-effort NACK for input that could not be parsed.
///
/// If an MSH line can be found (at the start, or at the start of any line) and its delimiters
/// are valid, its delimiters, sender/receiver, trigger, MSH-10, MSH-11 and MSH-12 are used;
/// otherwise the standard delimiters, empty fields and an empty MSA-2. MSH-11 defaults to `P`
/// and MSH-12 to `2.5`. Typical `code`: [`AckCode::AR`] (or `CR` in enhanced mode).
pub fn nack_for_unparseable(
    bytes: &[u8],
    code: AckCode,
    error: &AckError,
    timestamp: &str,
    control_id: Option<&str>,
) -> Vec<u8> {
    let header = find_msh_line(bytes).and_then(|start| {
        let delims = read_delimiters(bytes, start).ok()?;
        let end = bytes[start..].iter().position(|&b| b == b'\r' || b == b'\n').map_or(bytes.len(), |p| start + p);
        Some(Header::from_msh_line(&bytes[start..end], delims))
    });
    let h = header.unwrap_or_else(|| Header::empty(Delimiters::default()));
    build(&h, code, std::slice::from_ref(error), None, None, control_id, timestamp)
}

/// Offset of the first `MSH` at the start of the input or of a line.
fn find_msh_line(bytes: &[u8]) -> Option<usize> {
    let (start, _) = skip_prefix(bytes);
    if bytes[start..].starts_with(b"MSH") {
        return Some(start);
    }
    (1..bytes.len().saturating_sub(2))
        .find(|&i| bytes[i..].starts_with(b"MSH") && matches!(bytes[i - 1], b'\r' | b'\n' | 0x0B))
}

/// Escapes caller text and encodes it in the message charset.
fn text_bytes(text: &str, h: &Header<'_>) -> Vec<u8> {
    h.charset.encode(&escape(text, &h.delims)).into_owned()
}

/// Caller-supplied raw HL7 text with line breaks removed (they would end the segment).
fn raw_bytes(text: &str) -> Vec<u8> {
    text.bytes().filter(|&b| b != b'\r' && b != b'\n').collect()
}

/// ERL text with `^` separators rewritten to the message's component separator.
fn erl_bytes(erl: &str, h: &Header<'_>, max_parts: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in erl.split('^').take(max_parts).enumerate() {
        if i > 0 {
            out.push(h.delims.component);
        }
        out.extend(text_bytes(part, h));
    }
    out
}

fn build(
    h: &Header<'_>,
    code: AckCode,
    errors: &[AckError],
    text: Option<&str>,
    local: Option<&str>,
    control_id: Option<&str>,
    timestamp: &str,
) -> Vec<u8> {
    let d = h.delims;
    let fs = d.field;
    let (mut app, mut fac) = (h.recv_app.to_vec(), h.recv_fac.to_vec());
    if let Some(local) = local {
        let (f, a) = match local.split_once(':') {
            Some((f, a)) => (Some(f), a),
            None => (None, local),
        };
        if !a.is_empty() && a != "@" {
            app = raw_bytes(a);
        }
        if let Some(f) = f.filter(|f| !f.is_empty() && *f != "@") {
            fac = raw_bytes(f);
        }
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"MSH");
    out.push(fs);
    out.extend(d.encoding_characters());
    let field = |out: &mut Vec<u8>, v: &[u8]| {
        out.push(fs);
        out.extend_from_slice(v);
    };
    field(&mut out, &app); // MSH-3
    field(&mut out, &fac); // MSH-4
    field(&mut out, h.send_app); // MSH-5
    field(&mut out, h.send_fac); // MSH-6
    field(&mut out, &text_bytes(timestamp, h)); // MSH-7
    field(&mut out, b""); // MSH-8
    let mut msg_type = b"ACK".to_vec();
    if !h.trigger.is_empty() {
        msg_type.push(d.component);
        msg_type.extend_from_slice(h.trigger);
        msg_type.push(d.component);
        msg_type.extend_from_slice(b"ACK");
    }
    field(&mut out, &msg_type); // MSH-9
    let ctrl = match control_id {
        Some(c) => text_bytes(c, h),
        None => [b"ACK".as_slice(), h.control_id].concat(),
    };
    field(&mut out, &ctrl); // MSH-10
    field(&mut out, non_empty_or(h.processing, b"P")); // MSH-11
    field(&mut out, non_empty_or(h.version, b"2.5")); // MSH-12
    if !h.charset_field.is_empty() {
        for _ in 13..18 {
            field(&mut out, b"");
        }
        field(&mut out, h.charset_field); // MSH-18
    }
    out.push(b'\r');

    out.extend_from_slice(b"MSA");
    field(&mut out, code.as_str().as_bytes());
    field(&mut out, h.control_id);
    let msa_text = text.or_else(|| errors.first().map(|e| e.text.as_str()));
    if let Some(t) = msa_text.filter(|t| !t.is_empty()) {
        field(&mut out, &text_bytes(t, h));
    }
    out.push(b'\r');

    if errors.is_empty() {
        return out;
    }
    let modern = h.version_number().is_none_or(|v| v >= (2, 5));
    if modern {
        for e in errors {
            out.extend_from_slice(b"ERR");
            field(&mut out, b""); // ERR-1 (backward compatibility only)
            let loc = e.location.as_deref().map(|l| erl_bytes(l, h, 6)).unwrap_or_default();
            field(&mut out, &loc); // ERR-2
            let desc = if e.text.is_empty() { error_code_text(e.code) } else { e.text.as_str() };
            let mut cwe = e.code.to_string().into_bytes();
            cwe.push(d.component);
            cwe.extend(text_bytes(desc, h));
            cwe.push(d.component);
            cwe.extend_from_slice(b"HL70357");
            field(&mut out, &cwe); // ERR-3
            field(&mut out, e.severity.as_str().as_bytes()); // ERR-4
            out.push(b'\r');
        }
    } else {
        // Before v2.5: one ERR whose repeating ERR-1 (ELD) is
        // segment^sequence^field^code&text&HL70357.
        out.extend_from_slice(b"ERR");
        out.push(fs);
        for (i, e) in errors.iter().enumerate() {
            if i > 0 {
                out.push(d.repetition);
            }
            let loc = e.location.as_deref().unwrap_or_default();
            let mut eld = erl_bytes(loc, h, 3);
            let parts = loc.split('^').take(3).count().max(1);
            for _ in parts..3 {
                eld.push(d.component);
            }
            eld.push(d.component);
            eld.extend(e.code.to_string().into_bytes());
            eld.push(d.subcomponent);
            let desc = if e.text.is_empty() { error_code_text(e.code) } else { e.text.as_str() };
            eld.extend(text_bytes(desc, h));
            eld.push(d.subcomponent);
            eld.extend_from_slice(b"HL70357");
            out.extend(eld);
        }
        out.push(b'\r');
    }
    out
}

fn non_empty_or<'x>(v: &'x [u8], default: &'x [u8]) -> &'x [u8] {
    if v.is_empty() { default } else { v }
}

/// What a reply says, read from its MSA (and ERR) segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckInfo {
    /// MSA-1 as written (e.g. `AA`).
    pub code: String,
    /// MSA-1 parsed, when it is a known code.
    pub ack_code: Option<AckCode>,
    /// MSA-2, the control id of the message being acknowledged.
    pub control_id: String,
    /// MSA-3 text, when present.
    pub text: Option<String>,
    /// The error code: ERR-3.1 (v2.5+), else ERR-1.4.1 (older), else MSA-6.1.
    pub error_code: Option<String>,
    /// The error text: ERR-3.2, else ERR-8, else ERR-1.4.2, else MSA-6.2.
    pub error_text: Option<String>,
}

/// Reads MSA/ERR from a reply; `None` when it has no MSA segment or MSA-1 is empty.
pub fn parse_ack(reply: &Message<'_>) -> Option<AckInfo> {
    let v = |p: &str| -> Option<String> {
        let path: Path = p.parse().ok()?;
        reply.value(&path).map(|c| c.into_owned()).filter(|s| !s.is_empty())
    };
    let code = v("MSA-1")?;
    Some(AckInfo {
        ack_code: code.parse().ok(),
        control_id: v("MSA-2").unwrap_or_default(),
        text: v("MSA-3"),
        error_code: v("ERR-3.1").or_else(|| v("ERR-1.4.1")).or_else(|| v("MSA-6.1")),
        error_text: v("ERR-3.2").or_else(|| v("ERR-8")).or_else(|| v("ERR-1.4.2")).or_else(|| v("MSA-6.2")),
        code,
    })
}

/// IRIS `AckMode=Byte`'s whole answer to an accepted message (ASCII ACK; MLLP-framed, MLLP R2's commit block).
pub const ACK_BYTE: u8 = 0x06;
/// The byte `AckMode=Byte` answers a refused message with (ASCII NAK).
pub const NAK_BYTE: u8 = 0x15;

/// What a service's answer says, for choosing MSA-1 as IRIS does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckOutcome {
    /// The message was taken.
    Accepted,
    /// The message itself is wrong (unparseable, no MSH-9, invalid): a resend fails again.
    ContentError,
    /// The engine could not take a good message (not stored, queue full): a resend may work.
    SystemError,
}

/// IRIS `NackErrorCode`: the MSA-1 letter, `E` or `R`, of content and system errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NackErrorCode {
    /// `E` for content errors, `R` for system errors (IRIS's default).
    #[default]
    ContentE,
    /// `R` for content errors, `E` for system errors (early Ensemble).
    ContentR,
    /// `E` for every error.
    AllE,
    /// `R` for every error.
    AllR,
}

impl NackErrorCode {
    /// The values IRIS accepts, as IRIS spells them.
    pub const NAMES: [&'static str; 4] = ["ContentE", "ContentR", "AllE", "AllR"];

    /// Reads an IRIS value (ASCII case-insensitive, trimmed); `None` for anything else.
    pub fn from_name(value: &str) -> Option<NackErrorCode> {
        match value.trim().to_ascii_lowercase().as_str() {
            "contente" => Some(NackErrorCode::ContentE),
            "contentr" => Some(NackErrorCode::ContentR),
            "alle" => Some(NackErrorCode::AllE),
            "allr" => Some(NackErrorCode::AllR),
            _ => None,
        }
    }

    /// Whether `outcome` (an error) gets the letter `R` rather than `E`.
    fn rejects(self, o: AckOutcome) -> bool {
        let content = o == AckOutcome::ContentError;
        matches!(self, NackErrorCode::AllR)
            || (self == NackErrorCode::ContentE && !content)
            || (self == NackErrorCode::ContentR && content)
    }
}

/// Whether an MSH-12 value is 2.3 or later, the versions for which IRIS's
/// `UseAckCommitCodes` turns MSA-1 into the commit codes (CA/CE/CR). Only the first
/// component counts; an unreadable or empty version is not.
pub fn version_has_commit_codes(version: &str) -> bool {
    let v = version.split('^').next().unwrap_or_default().trim().trim_start_matches(['v', 'V']);
    let mut parts = v.split('.');
    let major = parts.next().and_then(|p| p.trim().parse::<u32>().ok());
    let minor = parts.next().map_or(Some(0), |p| p.trim().parse::<u32>().ok());
    matches!((major, minor), (Some(major), Some(minor)) if (major, minor) >= (2, 3))
}

/// MSA-1 as an IRIS service writes it (docs/iris-settings.md §9.1.3, §9.1.4): `A` or, with
/// `UseAckCommitCodes` and MSH-12 ≥ 2.3, `C`; then `A`, or `E`/`R` as `nack` says for the
/// error. IRIS does not look at MSH-15/16 for this.
pub fn iris_ack_code(outcome: AckOutcome, nack: NackErrorCode, commit_codes: bool, version: Option<&str>) -> AckCode {
    let commit = commit_codes && version.is_some_and(version_has_commit_codes);
    match (outcome, nack.rejects(outcome), commit) {
        (AckOutcome::Accepted, _, false) => AckCode::AA,
        (AckOutcome::Accepted, _, true) => AckCode::CA,
        (_, false, false) => AckCode::AE,
        (_, false, true) => AckCode::CE,
        (_, true, false) => AckCode::AR,
        (_, true, true) => AckCode::CR,
    }
}

/// MSH-12 of input that does not parse, from an MSH line as [`nack_for_unparseable`] finds it.
pub fn msh_version_of(bytes: &[u8]) -> Option<String> {
    let start = find_msh_line(bytes)?;
    let delims = read_delimiters(bytes, start).ok()?;
    let end = bytes[start..].iter().position(|&b| b == b'\r' || b == b'\n').map_or(bytes.len(), |p| start + p);
    let h = Header::from_msh_line(&bytes[start..end], delims);
    let first = h.version.split(|&c| c == delims.component).next().unwrap_or_default();
    std::str::from_utf8(first).ok().map(str::to_string).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod iris_code_tests {
    use super::*;

    #[test]
    fn commit_codes_follow_msh12_from_2_3_and_never_an_empty_or_unreadable_version() {
        for v in ["2.3", "2.3.1", "2.4", "2.5^ENG", "2.8.2", "v2.5"] {
            assert!(version_has_commit_codes(v), "{v}");
        }
        for v in ["2.2", "2.1", "", "x", "2.x"] {
            assert!(!version_has_commit_codes(v), "{v}");
        }
    }

    #[test]
    fn nack_error_code_picks_e_or_r_per_error_class_and_use_ack_commit_codes_the_c_prefix() {
        use AckOutcome::{Accepted, ContentError as C, SystemError as S};
        let code = |n, commit, o| iris_ack_code(o, n, commit, Some("2.4")).as_str();
        let table = [
            (NackErrorCode::ContentE, ["AA", "AE", "AR"], ["CA", "CE", "CR"]),
            (NackErrorCode::ContentR, ["AA", "AR", "AE"], ["CA", "CR", "CE"]),
            (NackErrorCode::AllE, ["AA", "AE", "AE"], ["CA", "CE", "CE"]),
            (NackErrorCode::AllR, ["AA", "AR", "AR"], ["CA", "CR", "CR"]),
        ];
        for (n, legacy, commit) in table {
            assert_eq!([code(n, false, Accepted), code(n, false, C), code(n, false, S)], legacy, "{n:?}");
            assert_eq!([code(n, true, Accepted), code(n, true, C), code(n, true, S)], commit, "{n:?}");
        }
        assert_eq!(iris_ack_code(Accepted, NackErrorCode::ContentE, true, Some("2.2")), AckCode::AA);
        assert_eq!(iris_ack_code(C, NackErrorCode::ContentE, true, None), AckCode::AE);
        assert_eq!(NackErrorCode::from_name(" allr "), Some(NackErrorCode::AllR));
        assert_eq!(NackErrorCode::from_name("E"), None);
    }

    #[test]
    fn the_version_of_unparseable_input_is_read_from_its_msh_line() {
        assert_eq!(msh_version_of(b"junk\rMSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.4^X\rPID|"), Some("2.4".into()));
        assert_eq!((msh_version_of(b"MSH|^~\\&|A|B"), msh_version_of(b"not HL7")), (None, None));
    }
}
