//! Decoders of the framings with no start byte (`None`, `AsciiLF`, `AsciiCR`, `Asciinn`),
//! and `Flexible`'s look at the front of a buffer.
//!
//! # Invariants
//! - Same contract and chunking independence as [`crate::mllp::MllpDecoder`]: a decision
//!   that needs a byte not yet received waits for it (a trailing CR under `AsciiCR`, the
//!   first bytes of a line that may be `MSH`).
//! - No payload over the maximum: a message that passes it is reported as oversize at once
//!   (everything buffered is consumed) and the rest of it is dropped up to its end.
//! - Nothing here indexes past a slice end: every access is `get` or within a checked range.

use super::{Detected, Frame};
use crate::mllp::{CR, Decoded, LF, MllpEvent, START_BLOCK};

/// Where an unframed message ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// `None`: before the next line starting `MSH` (or at a pause).
    Lines,
    /// At this byte; `CR` means an extra CR after the last segment's CR.
    Suffix(u8),
    /// `Flexible` on an unframed message: at whichever end comes first, which names the
    /// framing (CR CR: AsciiCR; CR LF or a bare LF: AsciiLF; CR or a segment followed by
    /// another control character c: Ascii c; a line starting `MSH`: None).
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    InMessage,
    /// Dropping the rest of an oversized message.
    Discarding,
}

/// Decoder of one unframed framing. See the module documentation.
#[derive(Debug, Clone)]
pub(super) struct UnframedDecoder {
    end: End,
    max: usize,
    state: State,
    /// InMessage: bytes from the buffer start already scanned without finding the end.
    scanned: usize,
    /// Discarding: the last byte dropped (a CR CR or line end split across reads).
    prev: u8,
    /// `End::Any`: the framing the last message ended in.
    detected: Option<Frame>,
}

/// Whether `b` starts an HL7 message header (`MSH`, `FHS`, `BHS`); `None` when `b` is too
/// short to tell.
fn header(b: &[u8], batch_headers: bool) -> Option<bool> {
    let names: &[&[u8]] = if batch_headers { &[b"MSH", b"FHS", b"BHS"] } else { &[b"MSH"] };
    if b.len() >= 3 {
        return Some(names.iter().any(|n| b.starts_with(n)));
    }
    if names.iter().any(|n| n.starts_with(b)) { None } else { Some(false) }
}

fn is_eol(x: u8) -> bool {
    x == CR || x == LF
}

/// A control character that may end (or, under `Flexible`, start) a message: not TAB,
/// CR or LF.
fn is_marker(x: u8) -> bool {
    x < 0x20 && x != b'\t' && x != CR && x != LF
}

impl UnframedDecoder {
    pub(super) fn new(end: End, max: usize) -> UnframedDecoder {
        UnframedDecoder { end, max, state: State::Idle, scanned: 0, prev: 0, detected: None }
    }

    pub(super) fn in_frame(&self) -> bool {
        self.state != State::Idle
    }

    pub(super) fn ends_on_pause(&self) -> bool {
        self.state == State::InMessage && matches!(self.end, End::Lines | End::Any)
    }

    pub(super) fn is_detecting(&self) -> bool {
        self.end == End::Any
    }

    /// The framing of the last message (`End::Any`: as its end showed).
    pub(super) fn detected(&self) -> Option<Frame> {
        match self.end {
            End::Lines => Some(Frame::None),
            End::Suffix(sep) => Some(Frame::Suffix(sep)),
            End::Any => self.detected,
        }
    }

    pub(super) fn next_frame(&mut self, b: &[u8]) -> Decoded {
        let (consumed, event) = match self.state {
            State::Idle => self.idle(b),
            State::InMessage => self.scan(b),
            State::Discarding => self.discard(b),
        };
        Decoded { consumed, event }
    }

    pub(super) fn flush(&mut self, b: &[u8]) -> Decoded {
        let (consumed, event) = match self.state {
            State::InMessage if self.ends_on_pause() => {
                if self.end == End::Any {
                    self.detected = Some(Frame::None);
                }
                self.done(b.len(), b.len())
            }
            State::Discarding if matches!(self.end, End::Lines | End::Any) => {
                self.state = State::Idle;
                (b.len(), if b.is_empty() { MllpEvent::NeedMore } else { MllpEvent::JunkSkipped(b.len()) })
            }
            _ => (0, MllpEvent::NeedMore),
        };
        Decoded { consumed, event }
    }

    fn idle(&mut self, b: &[u8]) -> (usize, MllpEvent) {
        let junk = |x: u8| x <= b' ' || self.end == End::Suffix(x);
        match b.iter().position(|&x| !junk(x)) {
            None if b.is_empty() => (0, MllpEvent::NeedMore),
            None => (b.len(), MllpEvent::JunkSkipped(b.len())),
            Some(0) => {
                self.state = State::InMessage;
                self.scanned = 0;
                self.scan(b)
            }
            Some(k) => (k, MllpEvent::JunkSkipped(k)),
        }
    }

    /// The message is `b[..payload]`, and `consumed` bytes are finished with.
    fn done(&mut self, payload: usize, consumed: usize) -> (usize, MllpEvent) {
        self.state = State::Idle;
        self.scanned = 0;
        if payload > self.max {
            return (consumed, MllpEvent::Oversize { discarded: consumed });
        }
        (consumed, MllpEvent::Frame(0..payload))
    }

    /// No end yet; `least` is the smallest the payload can still turn out to be. Past
    /// the maximum, the message is dropped up to `least` (the bytes after it may start the
    /// next message) and the rest of it is discarded as it comes.
    fn wait(&mut self, b: &[u8], scanned: usize, least: usize) -> (usize, MllpEvent) {
        self.scanned = scanned;
        if least <= self.max {
            return (0, MllpEvent::NeedMore);
        }
        let used = least.min(b.len());
        self.state = State::Discarding;
        self.scanned = 0;
        self.prev = used.checked_sub(1).and_then(|i| b.get(i)).copied().unwrap_or(0);
        (used, MllpEvent::Oversize { discarded: used })
    }

    fn scan(&mut self, b: &[u8]) -> (usize, MllpEvent) {
        let from = self.scanned.min(b.len());
        match self.end {
            End::Suffix(CR) => {
                let mut i = from;
                while let Some(p) = b[i..].iter().position(|&x| x == CR) {
                    let at = i + p;
                    match b.get(at + 1) {
                        None => return self.wait(b, at, at + 1),
                        Some(&CR) => return self.done(at + 1, at + 2),
                        Some(_) => i = at + 1,
                    }
                }
                self.wait(b, b.len(), b.len())
            }
            End::Suffix(sep) => match b[from..].iter().position(|&x| x == sep) {
                Some(p) => self.done(from + p, from + p + 1),
                None => self.wait(b, b.len(), b.len()),
            },
            End::Lines => {
                let mut i = from;
                while let Some(p) = b[i..].iter().position(|&x| is_eol(x)) {
                    let at = i + p;
                    match header(b.get(at + 1..).unwrap_or_default(), false) {
                        Some(true) => return self.done(at + 1, at + 1),
                        None => return self.wait(b, at, at + 1),
                        Some(false) => i = at + 1,
                    }
                }
                self.wait(b, b.len(), b.len())
            }
            End::Any => self.scan_any(b, from),
        }
    }

    fn scan_any(&mut self, b: &[u8], from: usize) -> (usize, MllpEvent) {
        let mut i = from;
        while let Some(p) = b[i..].iter().position(|&x| x == CR || x == LF || is_marker(x)) {
            let at = i + p;
            let x = b[at];
            if x != CR {
                self.detected = Some(Frame::Suffix(x));
                return self.done(at, at + 1);
            }
            let Some(&y) = b.get(at + 1) else { return self.wait(b, at, at + 1) };
            if y == CR || y == LF || is_marker(y) {
                self.detected = Some(Frame::Suffix(y));
                return self.done(at + 1, at + 2);
            }
            match header(b.get(at + 1..).unwrap_or_default(), false) {
                Some(true) => {
                    self.detected = Some(Frame::None);
                    return self.done(at + 1, at + 1);
                }
                None => return self.wait(b, at, at + 1),
                Some(false) => i = at + 1,
            }
        }
        self.wait(b, b.len(), b.len())
    }

    fn discard(&mut self, b: &[u8]) -> (usize, MllpEvent) {
        let resync = |used: usize, this: &mut UnframedDecoder| {
            this.state = State::Idle;
            (used, if used == 0 { MllpEvent::NeedMore } else { MllpEvent::JunkSkipped(used) })
        };
        match self.end {
            End::Suffix(CR) => {
                for (j, &x) in b.iter().enumerate() {
                    let prev = if j == 0 { self.prev } else { b[j - 1] };
                    if x == CR && prev == CR {
                        return resync(j + 1, self);
                    }
                }
            }
            End::Suffix(sep) => {
                if let Some(p) = b.iter().position(|&x| x == sep) {
                    return resync(p + 1, self);
                }
            }
            End::Lines | End::Any => {
                for j in 0..b.len() {
                    let prev = if j == 0 { self.prev } else { b[j - 1] };
                    if !is_eol(prev) {
                        continue;
                    }
                    match header(&b[j..], false) {
                        Some(true) if j == 0 => {
                            self.state = State::Idle;
                            return self.idle(b);
                        }
                        Some(true) => return resync(j, self),
                        // Keep the start of what may be `MSH` for the next read.
                        None => {
                            if j > 0 {
                                self.prev = b[j - 1];
                            }
                            return (j, MllpEvent::NeedMore);
                        }
                        Some(false) => {}
                    }
                }
            }
        }
        if let Some(&last) = b.last() {
            self.prev = last;
        }
        (b.len(), MllpEvent::NeedMore)
    }
}

/// `Flexible`'s look at the front of `b` when a message is due: a start byte `0B` is
/// MLLP; another control character followed by a header starts a block framing whose end
/// byte is the first control character after it (followed by CR, or by nothing yet:
/// `MLLPnn/mm`, otherwise `Asciinn/mm`; either is decoded without needing the CR, so that
/// choice only decides the reply's framing); a header starts an unframed message; anything else is junk.
pub(super) fn detect(b: &[u8], max: usize) -> Detected {
    let junk_or = |k: usize, d: Detected| if k > 0 { Detected::Junk(k) } else { d };
    for (k, &x) in b.iter().enumerate() {
        if x == START_BLOCK {
            return junk_or(k, Detected::Frame(Frame::MLLP));
        }
        let rest = b.get(k..).unwrap_or_default();
        match header(rest, true) {
            Some(true) => return junk_or(k, Detected::Pending),
            None => return junk_or(k, Detected::NeedMore),
            Some(false) => {}
        }
        if is_marker(x) {
            match header(rest.get(1..).unwrap_or_default(), true) {
                Some(true) => return junk_or(k, block_end(rest, max)),
                None => return junk_or(k, Detected::NeedMore),
                Some(false) => {}
            }
        }
    }
    if b.is_empty() { Detected::NeedMore } else { Detected::Junk(b.len()) }
}

/// `b` starts with a start byte and a header: finds the end byte.
fn block_end(b: &[u8], max: usize) -> Detected {
    let Some(&start) = b.first() else { return Detected::NeedMore };
    let body = b.get(4..).unwrap_or_default();
    match body.iter().position(|&x| is_marker(x)) {
        Some(p) => {
            let at = 4 + p;
            if at - 1 > max {
                return Detected::Oversize(at + 1);
            }
            // The reply carries a CR after the end byte when the message did, and when that
            // byte has not arrived yet (MLLPnn/mm is the usual form).
            let cr = b.get(at + 1).is_none_or(|&next| next == CR);
            Detected::Frame(Frame::Block { start, end: b[at], cr })
        }
        None if b.len().saturating_sub(1) > max => Detected::Oversize(b.len()),
        None => Detected::NeedMore,
    }
}
