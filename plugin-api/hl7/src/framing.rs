//! IRIS `Framing` of HL7 over TCP: the setting's values, encoding a message and an
//! incremental decoder for each, without any I/O.
//!
//! | setting | bytes of one message `M` | [`Frame`] |
//! |---|---|---|
//! | `MLLP` | `0B M 1C 0D` | [`Frame::MLLP`] |
//! | `MLLPnn/mm` | `nn M mm 0D` | `Block { start: nn, end: mm, cr: true }` |
//! | `Asciinn/mm` | `nn M mm` | `Block { start: nn, end: mm, cr: false }` |
//! | `AsciiLF` | `M 0A` | `Suffix(0x0A)` |
//! | `AsciiCR` | `M 0D` (an extra CR after the last segment's) | `Suffix(0x0D)` |
//! | `Asciinn` | `M nn` | `Suffix(nn)` |
//! | `None` | `M`; a line starting `MSH` starts the next message | [`Frame::None`] |
//! | `Flexible`, `Flexible!` | any of the above, detected | [`Framing::Flexible`] |
//!
//! `LLP` and `MsgEnvelope` are refused by [`Framing::parse`] ("not available in HIE").
//!
//! # Invariants
//! - Never panics, whatever the bytes or their chunking; no frame payload is longer than
//!   the maximum frame size, for every framing.
//! - Block framings (MLLP and its variants) are [`MllpDecoder`]: standard MLLP takes exactly
//!   the path it took before `Framing` existed (no extra copy, no extra scan), also under
//!   `Flexible` once a `0B` has been seen.
//! - Decoding does not depend on how the bytes were split into reads: a decision that
//!   needs a byte not yet received waits for it. (One exception: `Flexible` that has not
//!   yet recognised the framing gives up at the maximum frame size, reporting an oversize
//!   frame and skipping to the next message start.)
//! - Between messages, bytes that cannot start a message are junk and are skipped:
//!   before a block framing's start byte; control characters and spaces before an
//!   unframed message; under `Flexible`, anything before a start byte followed by `MSH`,
//!   `FHS` or `BHS` or before such a header.
//! - A message that has no end marker (`None`, or `Flexible` still undecided on an
//!   unframed message) ends at the next `MSH` line, or when the caller says the input
//!   paused or ended ([`FrameDecoder::flush`]).
//! - Oversize, for the framings that are not block framings: reported as soon as the
//!   message passes the maximum; the rest of it, up to its end, is dropped.

use crate::mllp::{self, Decoded, MllpDecoder, MllpEvent, MllpItem};
use unframed::{End, UnframedDecoder};

mod unframed;

/// Which side of the connection: the default and the values allowed differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A service (listener): default `Flexible`.
    Inbound,
    /// An operation (client): default `MLLP`.
    Outbound,
}

/// How one message is framed on the wire. See the module table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// No framing (IRIS `None`).
    None,
    /// `start M end [CR]`.
    Block {
        /// Byte before the message.
        start: u8,
        /// Byte after the message.
        end: u8,
        /// Whether a CR follows the end byte.
        cr: bool,
    },
    /// `M sep`: the byte that separates each message from the next (`0x0D`: an extra CR).
    Suffix(u8),
}

impl Frame {
    /// Standard MLLP: `0B M 1C 0D`.
    pub const MLLP: Frame = Frame::Block { start: mllp::START_BLOCK, end: mllp::END_BLOCK, cr: true };

    /// Appends `payload` framed this way to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>, payload: &[u8]) {
        match *self {
            Frame::None => out.extend_from_slice(payload),
            Frame::Block { start, end, cr } => {
                out.reserve(payload.len() + 3);
                out.push(start);
                out.extend_from_slice(payload);
                out.push(end);
                if cr {
                    out.push(mllp::CR);
                }
            }
            Frame::Suffix(sep) => {
                out.reserve(payload.len() + 1);
                out.extend_from_slice(payload);
                out.push(sep);
            }
        }
    }

    /// `payload` framed this way.
    pub fn encode(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + 3);
        self.encode_into(&mut out, payload);
        out
    }
}

impl std::fmt::Display for Frame {
    /// The IRIS spelling (`MLLP`, `MLLP2/3`, `Ascii2/3`, `AsciiLF`, `AsciiCR`, `Ascii35`, `None`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Frame::MLLP => write!(f, "MLLP"),
            Frame::None => write!(f, "None"),
            Frame::Block { start, end, cr: true } => write!(f, "MLLP{start}/{end}"),
            Frame::Block { start, end, cr: false } => write!(f, "Ascii{start}/{end}"),
            Frame::Suffix(mllp::LF) => write!(f, "AsciiLF"),
            Frame::Suffix(mllp::CR) => write!(f, "AsciiCR"),
            Frame::Suffix(sep) => write!(f, "Ascii{sep}"),
        }
    }
}

/// A `Framing` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Detect the framing from the data. `strict` (`Flexible!`): detect it from the first
    /// message and hold the connection to it; otherwise every message is detected afresh.
    Flexible {
        /// `Flexible!`.
        strict: bool,
    },
    /// One framing.
    Fixed(Frame),
}

/// A `Framing` value that is not one, or that HIE does not provide.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FramingError(String);

impl Framing {
    /// The default of a side: `Flexible` inbound, `MLLP` outbound.
    pub fn default_for(direction: Direction) -> Framing {
        match direction {
            Direction::Inbound => Framing::Flexible { strict: false },
            Direction::Outbound => Framing::Fixed(Frame::MLLP),
        }
    }

    /// Reads the setting (any case; empty means the side's default). `Ascii13` is `AsciiCR`
    /// and `Ascii10` `AsciiLF`; codes are decimal, 0 to 255.
    pub fn parse(text: &str, direction: Direction) -> Result<Framing, FramingError> {
        let value = text.trim();
        let lower = value.to_ascii_lowercase();
        let fixed = |f: Frame| Ok(Framing::Fixed(f));
        match lower.as_str() {
            "" => return Ok(Framing::default_for(direction)),
            "flexible" => return Ok(Framing::Flexible { strict: false }),
            "flexible!" => return Ok(Framing::Flexible { strict: true }),
            "none" => return fixed(Frame::None),
            "mllp" => return fixed(Frame::MLLP),
            "asciilf" => return fixed(Frame::Suffix(mllp::LF)),
            "asciicr" => return fixed(Frame::Suffix(mllp::CR)),
            "llp" => {
                return Err(FramingError(format!(
                    "Framing {value:?} is not available in HIE: LLP (the obsolete block-check Lower Layer Protocol) is not implemented; use MLLP"
                )));
            }
            "msgenvelope" => {
                return Err(FramingError(format!(
                    "Framing {value:?} is not available in HIE: messages carry no Envelope property; use MLLP or None"
                )));
            }
            _ => {}
        }
        let invalid = || {
            FramingError(format!(
                "invalid value {value:?}: expected Flexible, Flexible!, None, MLLP, MLLPnn/mm, AsciiLF, AsciiCR, Asciinn or Asciinn/mm (nn, mm: decimal character codes 0-255)"
            ))
        };
        let code = |s: &str| -> Result<u8, FramingError> {
            if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            s.parse::<u8>().map_err(|_| invalid())
        };
        let pair = |s: &str| -> Result<(u8, u8), FramingError> {
            let (a, b) = s.split_once('/').ok_or_else(invalid)?;
            Ok((code(a)?, code(b)?))
        };
        if let Some(rest) = lower.strip_prefix("mllp") {
            let (start, end) = pair(rest)?;
            return fixed(Frame::Block { start, end, cr: true });
        }
        if let Some(rest) = lower.strip_prefix("ascii") {
            if rest.contains('/') {
                let (start, end) = pair(rest)?;
                return fixed(Frame::Block { start, end, cr: false });
            }
            return fixed(Frame::Suffix(code(rest)?));
        }
        Err(invalid())
    }

    /// How messages are sent: the framing itself, or MLLP for `Flexible` (an operation set
    /// to `Flexible` sends MLLP and reads the reply in whatever framing it comes).
    pub fn send_frame(&self) -> Frame {
        match *self {
            Framing::Fixed(f) => f,
            Framing::Flexible { .. } => Frame::MLLP,
        }
    }

    /// A decoder for this framing, accepting payloads of at most `max_frame_size` bytes.
    pub fn decoder(&self, max_frame_size: usize) -> FrameDecoder {
        FrameDecoder::new(*self, max_frame_size)
    }
}

impl std::fmt::Display for Framing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Framing::Flexible { strict: false } => write!(f, "Flexible"),
            Framing::Flexible { strict: true } => write!(f, "Flexible!"),
            Framing::Fixed(frame) => frame.fmt(f),
        }
    }
}

/// The decoder of one framing.
#[derive(Debug, Clone)]
enum Inner {
    /// Block framings.
    Block(MllpDecoder),
    /// Suffix and unframed framings (and `Flexible` reading an unframed message).
    Unframed(UnframedDecoder),
}

/// Incremental decoder of a [`Framing`], with the contract of [`MllpDecoder::next_frame`]:
/// between calls the caller removes exactly `consumed` bytes from the front of its buffer
/// and may only append to the rest. Breaking it cannot cause a panic, only mis-framing.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    framing: Framing,
    max_frame_size: usize,
    inner: Inner,
    /// The framing of the message being read or last read; `None` before the first under
    /// `Flexible`.
    frame: Option<Frame>,
    /// `Flexible`: the framing of the next message is to be detected once the decoder is
    /// at rest.
    detect_next: bool,
}

impl FrameDecoder {
    /// A decoder for `framing`, accepting payloads of at most `max_frame_size` bytes.
    pub fn new(framing: Framing, max_frame_size: usize) -> FrameDecoder {
        let (frame, detect_next) = match framing {
            Framing::Flexible { .. } => (None, true),
            Framing::Fixed(f) => (Some(f), false),
        };
        let inner = inner_for(frame.unwrap_or(Frame::MLLP), max_frame_size);
        FrameDecoder { framing, max_frame_size, inner, frame, detect_next }
    }

    /// The setting this decoder reads.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The framing of the message being read or last read (what a reply to it is framed
    /// in); `None` while `Flexible` has placed no message yet.
    pub fn frame(&self) -> Option<Frame> {
        self.frame
    }

    /// True while a message has started and not ended.
    pub fn in_frame(&self) -> bool {
        match &self.inner {
            Inner::Block(d) => d.in_frame(),
            Inner::Unframed(d) => d.in_frame(),
        }
    }

    /// True while the message in progress has no end marker, so only the next message, or
    /// a pause or the end of the input ([`FrameDecoder::flush`]), ends it: `None`, or an
    /// unframed message `Flexible` has not placed yet.
    pub fn ends_on_pause(&self) -> bool {
        match &self.inner {
            Inner::Block(_) => false,
            Inner::Unframed(d) => d.ends_on_pause(),
        }
    }

    /// Looks for the next event at the front of `buf`. See [`Decoded`].
    pub fn next_frame(&mut self, buf: &[u8]) -> Decoded {
        // Flexible after an MLLP frame that ended `FS CR` at the end of a read: its LF
        // may still come, and belongs to that frame, not to the next message.
        let mut base = 0;
        if self.detect_next
            && let Inner::Block(d) = &mut self.inner
            && !buf.is_empty()
            && d.clear_pending_lf()
            && buf.first() == Some(&mllp::LF)
        {
            base = 1;
        }
        let mut d = self.step(buf.get(base..).unwrap_or_default());
        d.consumed += base;
        if let MllpEvent::Frame(r) = &mut d.event {
            *r = r.start + base..r.end + base;
        }
        d
    }

    fn step(&mut self, buf: &[u8]) -> Decoded {
        if self.detect_next && self.at_rest() {
            match unframed::detect(buf, self.max_frame_size) {
                Detected::Frame(f) => {
                    self.detect_next = false;
                    if self.frame != Some(f) || self.is_detecting() {
                        self.inner = match f {
                            // Whether a CR follows the end byte is not always known yet:
                            // read without one (a CR after the end is then junk).
                            Frame::Block { start, end, .. } if f != Frame::MLLP => {
                                Inner::Block(MllpDecoder::with_blocks(start, end, false, self.max_frame_size))
                            }
                            _ => inner_for(f, self.max_frame_size),
                        };
                    }
                    self.frame = Some(f);
                }
                Detected::Pending => {
                    self.detect_next = false;
                    self.inner = Inner::Unframed(UnframedDecoder::new(End::Any, self.max_frame_size));
                }
                Detected::Junk(n) => return Decoded { consumed: n, event: MllpEvent::JunkSkipped(n) },
                Detected::Oversize(n) => return Decoded { consumed: n, event: MllpEvent::Oversize { discarded: n } },
                Detected::NeedMore => return Decoded { consumed: 0, event: MllpEvent::NeedMore },
            }
        }
        let d = match &mut self.inner {
            Inner::Block(d) => d.next_frame(buf),
            Inner::Unframed(d) => d.next_frame(buf),
        };
        self.after(&d);
        d
    }

    /// The input paused (nothing within the read timeout) or ended: a message that ends
    /// on a pause ([`FrameDecoder::ends_on_pause`]) is complete. Any other partial message
    /// is left as it is.
    pub fn flush(&mut self, buf: &[u8]) -> Decoded {
        let d = match &mut self.inner {
            Inner::Unframed(d) => d.flush(buf),
            Inner::Block(_) => Decoded { consumed: 0, event: MllpEvent::NeedMore },
        };
        self.after(&d);
        d
    }

    /// Decodes everything complete in `buf`, removes the consumed bytes from it and returns
    /// the events in order, each with the framing its message came in (a reply to it goes
    /// back in that framing).
    pub fn decode(&mut self, buf: &mut Vec<u8>) -> Vec<(MllpItem, Frame)> {
        let mut items = Vec::new();
        let mut off = 0;
        loop {
            let rest = &buf[off..];
            let d = self.next_frame(rest);
            let done = d.event == MllpEvent::NeedMore;
            if let Some(item) = self.item(rest, &d) {
                items.push(item);
            }
            off += d.consumed.min(rest.len());
            if done {
                break;
            }
        }
        buf.drain(..off);
        items
    }

    /// [`FrameDecoder::flush`], then [`FrameDecoder::decode`] of what follows, removing the
    /// consumed bytes from `buf`.
    pub fn flush_decode(&mut self, buf: &mut Vec<u8>) -> Vec<(MllpItem, Frame)> {
        let d = self.flush(buf);
        let mut items: Vec<(MllpItem, Frame)> = self.item(buf, &d).into_iter().collect();
        buf.drain(..d.consumed.min(buf.len()));
        items.extend(self.decode(buf));
        items
    }

    /// The owned item for one event.
    fn item(&self, buf: &[u8], d: &Decoded) -> Option<(MllpItem, Frame)> {
        let frame = self.frame.unwrap_or(Frame::MLLP);
        let item = match &d.event {
            MllpEvent::Frame(r) => MllpItem::Frame(buf.get(r.clone()).unwrap_or_default().to_vec()),
            MllpEvent::Oversize { discarded } => MllpItem::Oversize { discarded: *discarded },
            MllpEvent::JunkSkipped(n) => MllpItem::JunkSkipped(*n),
            MllpEvent::NeedMore => return None,
        };
        Some((item, frame))
    }

    fn at_rest(&self) -> bool {
        match &self.inner {
            Inner::Block(d) => d.at_rest(),
            Inner::Unframed(d) => !d.in_frame(),
        }
    }

    fn is_detecting(&self) -> bool {
        matches!(&self.inner, Inner::Unframed(u) if u.is_detecting())
    }

    /// Records what a step found: the framing `Flexible` detected, and whether the next
    /// message is detected afresh (`Flexible`) or held to it (`Flexible!`).
    fn after(&mut self, d: &Decoded) {
        if !matches!(d.event, MllpEvent::Frame(_) | MllpEvent::Oversize { .. }) {
            return;
        }
        if let Inner::Unframed(u) = &self.inner
            && let Some(f) = u.detected()
        {
            self.frame = Some(f);
        }
        match self.framing {
            Framing::Fixed(_) => {}
            Framing::Flexible { strict: false } => self.detect_next = true,
            Framing::Flexible { strict: true } => {
                if self.is_detecting()
                    && let Some(f) = self.frame
                {
                    self.inner = inner_for(f, self.max_frame_size);
                }
            }
        }
    }
}

/// The decoder of a known framing.
fn inner_for(frame: Frame, max: usize) -> Inner {
    match frame {
        Frame::Block { start, end, cr } => Inner::Block(MllpDecoder::with_blocks(start, end, cr, max)),
        Frame::None => Inner::Unframed(UnframedDecoder::new(End::Lines, max)),
        Frame::Suffix(sep) => Inner::Unframed(UnframedDecoder::new(End::Suffix(sep), max)),
    }
}

/// What `Flexible` made of the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detected {
    /// The next message is framed so (nothing consumed).
    Frame(Frame),
    /// This many bytes cannot start a message.
    Junk(usize),
    /// No decision within the maximum frame size: drop this many bytes.
    Oversize(usize),
    /// An unframed message starts here; its end will tell its framing.
    Pending,
    /// Too few bytes to decide.
    NeedMore,
}
