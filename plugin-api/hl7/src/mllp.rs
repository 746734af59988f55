//! MLLP framing (`0x0B` payload `0x1C 0x0D`), without any I/O.
//!
//! [`MllpDecoder`] works on the caller's receive buffer: the caller appends what it reads,
//! calls [`MllpDecoder::next_frame`] and removes the reported number of bytes from the front.
//! Or [`MllpDecoder::decode`] does all of that for a `Vec<u8>` buffer.
//!
//! Decoding rules:
//! - Bytes before a start byte `0x0B` are junk: reported as [`MllpEvent::JunkSkipped`].
//! - A frame ends at `0x1C 0x0D`; a following `0x0A` (senders ending `FS CR LF`) is consumed,
//!   even when it arrives in the next read.
//! - `0x1C` followed directly by `0x0B` also ends the frame (senders that omit the CR), the
//!   `0x0B` starting the next frame. `0x1C` followed by any other byte is payload; a buffer
//!   ending in `0x1C` waits for the next byte.
//! - A `0x0B` inside an unfinished frame means the sender gave up on it: the partial frame is
//!   reported as junk (as [`MllpEvent::Oversize`] when its payload is over the maximum) and
//!   decoding restarts at the new start byte.
//! - A payload longer than `max_frame_size` is never buffered: its bytes are consumed as they
//!   arrive and [`MllpEvent::Oversize`] is reported once its end (or the next start byte)
//!   is seen.
//! - Scanning is incremental: bytes already scanned are not scanned again on the next call.
//!
//! [`MllpDecoder::with_blocks`] decodes the same way with other start and end bytes (IRIS
//! `MLLPnn/mm`), or with no CR after the end byte (IRIS `Asciinn/mm`: the end byte alone
//! ends a frame, and no LF is consumed after it). When the start and end bytes are the same
//! byte, it is read as an end. [`MllpDecoder::new`] is standard MLLP (`0B` / `1C 0D`); the
//! other framings of IRIS `Framing` are in [`crate::framing`].

use std::ops::Range;

/// Start of a frame (VT).
pub const START_BLOCK: u8 = 0x0B;
/// First byte of the end of a frame (FS).
pub const END_BLOCK: u8 = 0x1C;
/// Second byte of the end of a frame.
pub const CR: u8 = 0x0D;
/// Line feed some senders add after the end of a frame.
pub const LF: u8 = 0x0A;
/// MLLP release 2 commit acknowledgement block: the receiver has stored the message.
pub const COMMIT_ACK_BLOCK: [u8; 4] = [START_BLOCK, 0x06, END_BLOCK, CR];
/// MLLP release 2 negative commit acknowledgement block: the receiver could not store it.
pub const COMMIT_NAK_BLOCK: [u8; 4] = [START_BLOCK, 0x15, END_BLOCK, CR];
/// Default largest payload accepted by [`MllpDecoder::default`]: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 * 1024 * 1024;

/// Wraps a payload in an MLLP frame.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 3);
    encode_into(&mut out, payload);
    out
}

/// Appends an MLLP frame holding `payload` to `out`.
pub fn encode_into(out: &mut Vec<u8>, payload: &[u8]) {
    out.reserve(payload.len() + 3);
    out.push(START_BLOCK);
    out.extend_from_slice(payload);
    out.push(END_BLOCK);
    out.push(CR);
}

/// What one call of [`MllpDecoder::next_frame`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MllpEvent {
    /// A complete frame; the range is the payload's position in the buffer passed in (valid
    /// until the caller removes the consumed bytes).
    Frame(Range<usize>),
    /// A frame longer than the maximum was dropped; `discarded` is its size in bytes
    /// (framing included).
    Oversize {
        /// Bytes dropped for this frame.
        discarded: usize,
    },
    /// This many bytes that were not inside a frame were dropped.
    JunkSkipped(usize),
    /// No complete event yet: append more bytes and call again. `consumed` may still be
    /// non-zero (a pending LF, or bytes of an oversized frame being dropped).
    NeedMore,
}

/// Result of [`MllpDecoder::next_frame`]: remove `consumed` bytes from the front of the buffer
/// after handling `event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// How many bytes at the front of the buffer are finished with.
    pub consumed: usize,
    /// What was found.
    pub event: MllpEvent,
}

impl Decoded {
    /// The frame payload inside `buf` (the same buffer passed to `next_frame`), if this is a
    /// frame.
    pub fn payload<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        match &self.event {
            MllpEvent::Frame(r) => buf.get(r.clone()),
            _ => None,
        }
    }
}

/// Owned results of [`MllpDecoder::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MllpItem {
    /// A frame's payload.
    Frame(Vec<u8>),
    /// An oversized frame was dropped (see [`MllpEvent::Oversize`]).
    Oversize {
        /// Bytes dropped for this frame.
        discarded: usize,
    },
    /// Bytes outside any frame were dropped.
    JunkSkipped(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a start byte.
    Idle,
    /// The buffer starts with a start byte; looking for the end.
    InFrame,
    /// Dropping the rest of an oversized frame.
    Discarding,
}

/// Incremental MLLP frame decoder with a frame size bound. See the module documentation.
///
/// Contract for [`MllpDecoder::next_frame`]: between calls the caller removes exactly
/// `consumed` bytes from the front of its buffer and may only append to the rest. Breaking it
/// cannot cause a panic, only mis-framing.
#[derive(Debug, Clone)]
pub struct MllpDecoder {
    max_frame_size: usize,
    /// Start byte (`0x0B` for MLLP).
    start: u8,
    /// End byte (`0x1C` for MLLP).
    end: u8,
    /// Whether a CR follows the end byte (MLLP) or the end byte alone ends a frame.
    cr: bool,
    state: State,
    /// InFrame: bytes from the buffer start already scanned without finding the end.
    scanned: usize,
    /// Discarding: bytes dropped so far for the current oversized frame.
    discarded: usize,
    /// The last frame ended exactly at the end of a buffer: a leading LF belongs to it.
    skip_lf: bool,
}

impl Default for MllpDecoder {
    /// A decoder with [`DEFAULT_MAX_FRAME_SIZE`].
    fn default() -> Self {
        MllpDecoder::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl MllpDecoder {
    /// A decoder accepting payloads of at most `max_frame_size` bytes.
    pub fn new(max_frame_size: usize) -> MllpDecoder {
        MllpDecoder::with_blocks(START_BLOCK, END_BLOCK, true, max_frame_size)
    }

    /// A decoder of frames `start payload end CR` (`cr` true, IRIS `MLLPnn/mm`) or
    /// `start payload end` (`cr` false, IRIS `Asciinn/mm`), payloads of at most
    /// `max_frame_size` bytes.
    pub fn with_blocks(start: u8, end: u8, cr: bool, max_frame_size: usize) -> MllpDecoder {
        MllpDecoder { max_frame_size, start, end, cr, state: State::Idle, scanned: 0, discarded: 0, skip_lf: false }
    }

    /// True when no frame is in progress and no LF of the last frame is pending: the next
    /// byte starts afresh.
    pub fn at_rest(&self) -> bool {
        self.state == State::Idle && !self.skip_lf
    }

    /// The largest payload accepted.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Forgets an LF expected after the last frame's `FS CR` (the caller consumed it, or
    /// knows it will not come); true when one was expected.
    pub fn clear_pending_lf(&mut self) -> bool {
        std::mem::take(&mut self.skip_lf)
    }

    /// True while inside a frame whose end has not arrived.
    pub fn in_frame(&self) -> bool {
        self.state != State::Idle
    }

    /// True while the rest of an oversized frame is being dropped.
    pub fn is_discarding(&self) -> bool {
        self.state == State::Discarding
    }

    /// Forgets any partial frame (e.g. after the connection was reset).
    pub fn reset(&mut self) {
        *self = MllpDecoder::with_blocks(self.start, self.end, self.cr, self.max_frame_size);
    }

    /// Looks for the next event at the front of `buf`. See [`Decoded`] and the type contract.
    pub fn next_frame(&mut self, buf: &[u8]) -> Decoded {
        let mut base = 0;
        if self.skip_lf && !buf.is_empty() {
            self.skip_lf = false;
            if buf[0] == LF {
                base = 1;
            }
        }
        let b = &buf[base..];
        let (used, event) = match self.state {
            State::Idle => self.idle(b),
            State::InFrame => self.in_frame_scan(b),
            State::Discarding => self.discard(b),
        };
        let event = match event {
            MllpEvent::Frame(r) => MllpEvent::Frame(r.start + base..r.end + base),
            other => other,
        };
        Decoded { consumed: base + used, event }
    }

    /// Decodes everything complete in `buf`, removes the consumed bytes from it and returns the
    /// events in order (an empty list when more bytes are needed).
    pub fn decode(&mut self, buf: &mut Vec<u8>) -> Vec<MllpItem> {
        let mut items = Vec::new();
        let mut off = 0;
        loop {
            let rest = &buf[off..];
            let d = self.next_frame(rest);
            let done = match &d.event {
                MllpEvent::Frame(r) => {
                    items.push(MllpItem::Frame(rest[r.clone()].to_vec()));
                    false
                }
                MllpEvent::Oversize { discarded } => {
                    items.push(MllpItem::Oversize { discarded: *discarded });
                    false
                }
                MllpEvent::JunkSkipped(n) => {
                    items.push(MllpItem::JunkSkipped(*n));
                    false
                }
                MllpEvent::NeedMore => true,
            };
            off += d.consumed.min(rest.len());
            if done {
                break;
            }
        }
        buf.drain(..off);
        items
    }

    fn idle(&mut self, b: &[u8]) -> (usize, MllpEvent) {
        let start = self.start;
        match b.iter().position(|&x| x == start) {
            None if b.is_empty() => (0, MllpEvent::NeedMore),
            None => (b.len(), MllpEvent::JunkSkipped(b.len())),
            Some(0) => {
                self.state = State::InFrame;
                self.scanned = 1;
                self.in_frame_scan(b)
            }
            Some(k) => (k, MllpEvent::JunkSkipped(k)),
        }
    }

    fn in_frame_scan(&mut self, b: &[u8]) -> (usize, MllpEvent) {
        let (start, end) = (self.start, self.end);
        if b.first() != Some(&start) {
            // The caller broke the contract; start over rather than mis-slice.
            self.state = State::Idle;
            self.scanned = 0;
            return self.idle(b);
        }
        let mut i = self.scanned.clamp(1, b.len());
        while let Some(p) = b[i..].iter().position(|&x| x == end || x == start) {
            let at = i + p;
            if b[at] != end {
                // A new frame starts before this one ended: drop the partial frame. One whose
                // payload is already over the maximum is an oversize frame, as it is when its
                // bytes arrived in smaller reads (and were being discarded).
                self.state = State::Idle;
                self.scanned = 0;
                if at - 1 > self.max_frame_size {
                    return (at, MllpEvent::Oversize { discarded: at });
                }
                return (at, MllpEvent::JunkSkipped(at));
            }
            if !self.cr {
                return self.finish(b, at, at + 1);
            }
            match b.get(at + 1) {
                None => {
                    // FS is the last byte: wait to see what follows it.
                    self.scanned = at;
                    return self.check_size(b);
                }
                Some(&CR) => return self.finish(b, at, at + 2),
                Some(&x) if x == start => return self.finish(b, at, at + 1),
                Some(_) => i = at + 1,
            }
        }
        self.scanned = b.len();
        self.check_size(b)
    }

    /// Ends the frame whose FS is at `fs_at`; `end` is just after the terminator.
    fn finish(&mut self, b: &[u8], fs_at: usize, mut end: usize) -> (usize, MllpEvent) {
        if self.cr && end == fs_at + 2 {
            match b.get(end) {
                Some(&LF) => end += 1,
                None => self.skip_lf = true,
                Some(_) => {}
            }
        }
        self.state = State::Idle;
        self.scanned = 0;
        if fs_at - 1 > self.max_frame_size {
            return (end, MllpEvent::Oversize { discarded: end });
        }
        (end, MllpEvent::Frame(1..fs_at))
    }

    /// No end yet: switch to discarding when the partial payload is already too big.
    fn check_size(&mut self, b: &[u8]) -> (usize, MllpEvent) {
        // A trailing FS may be the start of the end marker: it is not payload (yet), and it
        // is kept.
        // (Not the start byte itself, when start and end are the same byte.)
        let keep = usize::from(self.cr && b.len() > 1 && b.last() == Some(&self.end));
        if b.len() - 1 - keep <= self.max_frame_size {
            return (0, MllpEvent::NeedMore);
        }
        let used = b.len() - keep;
        self.state = State::Discarding;
        self.scanned = 0;
        self.discarded = used;
        (used, MllpEvent::NeedMore)
    }

    fn discard(&mut self, b: &[u8]) -> (usize, MllpEvent) {
        let (start, end) = (self.start, self.end);
        let mut i = 0;
        while let Some(p) = b[i..].iter().position(|&x| x == end || x == start) {
            let at = i + p;
            if b[at] != end {
                return self.end_discard(at);
            }
            if !self.cr {
                return self.end_discard(at + 1);
            }
            match b.get(at + 1) {
                None => {
                    self.discarded += at;
                    return (at, MllpEvent::NeedMore);
                }
                Some(&CR) => {
                    let mut end = at + 2;
                    match b.get(end) {
                        Some(&LF) => end += 1,
                        None => self.skip_lf = true,
                        Some(_) => {}
                    }
                    return self.end_discard(end);
                }
                Some(&x) if x == start => return self.end_discard(at + 1),
                Some(_) => i = at + 1,
            }
        }
        self.discarded += b.len();
        (b.len(), MllpEvent::NeedMore)
    }

    fn end_discard(&mut self, used: usize) -> (usize, MllpEvent) {
        let discarded = self.discarded + used;
        self.state = State::Idle;
        self.discarded = 0;
        (used, MllpEvent::Oversize { discarded })
    }
}
