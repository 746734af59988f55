//! The commit log: segment files holding every journal commit, in order.
//!
//! This is what makes a message durable. An ACK waits for its commit's record to be
//! written here (and, in fsync mode, `fdatasync`ed), and for nothing else: the SQLite
//! warehouse is built from these records behind it, by a reader that follows the log
//! ([`super::tail`]), and can always be rebuilt from them.
//!
//! # Invariants
//! - Records of a segment have strictly increasing LSNs, each at least the LSN its file
//!   is named after. The log ends at the first record that breaks that, at the first
//!   all-zero header, or at the first record cut short or failing its CRC: a crash can only
//!   tear the last write, and that commit was never acknowledged. Because the end is found
//!   that way, a segment may be a recycled file whose old records follow the new ones.
//! - A write that fails, or whose sync fails, leaves the log ending where it did: the next
//!   write goes to the same place ([`Log::rewind`]).
//! - Nothing on the writing side ever waits for another thread. A rotation takes a
//!   recycled segment, or the spare the background thread made, or (when neither is
//!   ready) sizes a new file on the spot.
//!
//! Segments are preallocated: recycled ones (fully indexed segments renamed for reuse,
//! as PostgreSQL recycles its WAL) or zero-filled ahead of need. Writing into blocks that
//! already exist means `fdatasync` has no file-size or extent metadata to commit, which is
//! markedly cheaper than syncing an append on ext4 (docs/benchmarks.md).
//!
//! Record layout: `len: u32 | crc32(payload): u32 | lsn: u64 | payload` (little endian),
//! payload = postcard-encoded `Vec<Op>`.

use super::writer::Op;
use crate::lock::LockExt;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Size of a segment.
pub(super) const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Record header size.
pub(super) const HEADER: usize = 16;
/// Refuse records claiming to be larger than this (corruption guard).
pub(super) const MAX_RECORD: usize = 512 * 1024 * 1024;
/// Fully indexed segments kept for reuse at most.
const RECYCLED_KEPT: usize = 2;

/// The segment files, shared by the writer (which adds them), the reader that follows
/// the log and the indexer (which retires them once their records are durable in SQLite).
#[derive(Default)]
pub struct SegmentSet {
    /// First LSN (the file name) and path of every live segment, oldest first.
    pub live: Vec<(u64, PathBuf)>,
    /// Retired segments waiting to be reused by a rotation (full size, old contents).
    recycled: Vec<PathBuf>,
    /// Counter for recycled file names.
    retired: u64,
}

/// The segments, behind one lock.
pub type Segments = Arc<Mutex<SegmentSet>>;

/// Where the records end: the current segment's first LSN and the bytes written to it.
/// Set after every write, so before its records are published; the reader that follows
/// the log reads no further in that segment (the rest of a preallocated segment is zeros,
/// or a recycled segment's stale records), so a reader that has caught up reads only new
/// records, not a chunk of the segment, per poll.
#[derive(Debug, Default)]
pub struct LogEnd(Mutex<(u64, u64)>);

impl LogEnd {
    /// (segment's first LSN, bytes of records in it).
    pub fn get(&self) -> (u64, u64) {
        *self.0.lock_unpoisoned()
    }

    fn set(&self, segment: u64, len: u64) {
        *self.0.lock_unpoisoned() = (segment, len);
    }
}

/// The log, as its single writer holds it.
pub struct Log {
    dir: PathBuf,
    file: File,
    /// Bytes of records in the current segment.
    len: u64,
    /// Size of the current segment file.
    capacity: u64,
    /// First LSN of the current segment (its name).
    first_lsn: u64,
    next_lsn: u64,
    segments: Segments,
    /// Where the records end, for the reader ([`LogEnd`]).
    end_mark: Arc<LogEnd>,
    /// The next segment, being zero-filled in the background (at normal priority: it is
    /// disk work, and a rotation never waits for it).
    spare: Option<JoinHandle<std::io::Result<PathBuf>>>,
    /// Counter for spare file names.
    spares_made: u64,
}

fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.log"))
}

/// Creates a zero-filled file of `size` bytes at `path`, synced.
fn create_zeroed(path: &Path, size: u64) -> std::io::Result<PathBuf> {
    let f = OpenOptions::new().create(true).truncate(true).write(true).open(path)?;
    zero_range(&f, 0, size)?;
    f.sync_all()?;
    Ok(path.to_path_buf())
}

fn zero_range(f: &File, from: u64, to: u64) -> std::io::Result<()> {
    let zeros = vec![0u8; 1 << 20];
    let mut at = from;
    while at < to {
        let n = zeros.len().min((to - at) as usize);
        f.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Encodes one record into `out`.
pub fn encode_record(out: &mut Vec<u8>, lsn: u64, ops: &[Op]) -> Result<(), String> {
    let payload = postcard::to_allocvec(ops).map_err(|e| format!("cannot encode a commit: {e}"))?;
    if payload.len() > MAX_RECORD {
        return Err(format!("a commit of {} bytes is larger than the log takes", payload.len()));
    }
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// What one position of a segment holds.
#[derive(Debug)]
pub enum Parsed {
    /// A whole record: its LSN, its ops and the position after it.
    Record(u64, Vec<Op>, usize),
    /// The header says the record is longer than `bytes` holds from here (read more).
    Short(usize),
    /// Not a record: the log ends here (zeros, a torn or corrupt record, or one that does
    /// not follow `after`).
    End,
}

/// The LSN the header at `pos` of `bytes` claims, when `bytes` holds a whole header there
/// (unverified: the payload's checksum is what makes it a record).
pub fn record_lsn(bytes: &[u8], pos: usize) -> Option<u64> {
    let head = bytes.get(pos.checked_add(8)?..pos.checked_add(HEADER)?)?;
    Some(head.iter().rev().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
}

/// Reads the record at `pos` of `bytes`, which must have an LSN above `after`.
pub fn parse_record(bytes: &[u8], pos: usize, after: u64) -> Parsed {
    let Some(head) = bytes.get(pos..pos + HEADER) else {
        return if bytes.len() - pos.min(bytes.len()) == 0 { Parsed::End } else { Parsed::Short(HEADER) };
    };
    let word = |at: usize, n: usize| head[at..at + n].iter().rev().fold(0u64, |v, b| (v << 8) | u64::from(*b));
    let (len, crc, lsn) = (word(0, 4) as usize, word(4, 4) as u32, word(8, 8));
    if lsn == 0 || lsn <= after || len > MAX_RECORD {
        return Parsed::End;
    }
    let Some(payload) = bytes.get(pos + HEADER..pos + HEADER + len) else {
        return Parsed::Short(HEADER + len);
    };
    if crc32fast::hash(payload) != crc {
        return Parsed::End;
    }
    match postcard::from_bytes::<Vec<Op>>(payload) {
        Ok(ops) => Parsed::Record(lsn, ops, pos + HEADER + len),
        Err(_) => Parsed::End,
    }
}

/// What reading a whole segment gives: its intact records, where they end, and whether
/// anything but zeros follows.
pub type SegmentContents = (Vec<(u64, Vec<Op>)>, u64, bool);

/// Reads every intact record of one segment whose records must have LSNs above `after`.
pub fn read_segment(path: &Path, after: u64) -> std::io::Result<SegmentContents> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    Ok(parse_segment(&bytes, after))
}

/// Every intact record of a segment's bytes (see [`read_segment`]).
pub fn parse_segment(bytes: &[u8], after: u64) -> SegmentContents {
    let mut records = Vec::new();
    let mut pos = 0usize;
    let mut last = after;
    while let Parsed::Record(lsn, ops, next) = parse_record(bytes, pos, last) {
        records.push((lsn, ops));
        last = lsn;
        pos = next;
    }
    let dirty = bytes[pos..].iter().any(|b| *b != 0);
    (records, pos as u64, dirty)
}

impl Log {
    /// Opens the log in `dir`, calling `replay` for every intact record with an LSN above
    /// `after` (oldest first). Whatever follows the last intact record is zeroed.
    pub fn open(dir: &Path, after: u64, mut replay: impl FnMut(u64, Vec<Op>)) -> std::io::Result<Log> {
        std::fs::create_dir_all(dir)?;
        // Spares and recycled segments left by a previous run: start afresh.
        for e in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
            if e.file_name().to_string_lossy().starts_with(".spare") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let lsn = name.strip_suffix(".log")?.parse::<u64>().ok()?;
                Some((lsn, e.path()))
            })
            .collect();
        found.sort();
        let mut next_lsn = after + 1;
        let mut tail = 0;
        // The last LSN read so far: a segment's records follow everything before them,
        // and start at its name.
        let mut last_read = 0u64;
        for (i, (first, path)) in found.iter().enumerate() {
            // A segment's records start at its name, so the next LSN does too, even where
            // it holds none (its first write failed): written below its name, a record
            // would be taken for a stale one at the next open, and dropped.
            next_lsn = next_lsn.max(*first);
            let (records, intact, dirty) = read_segment(path, last_read.max(first.saturating_sub(1)))?;
            for (lsn, ops) in records {
                last_read = lsn;
                next_lsn = next_lsn.max(lsn + 1);
                if lsn > after {
                    replay(lsn, ops);
                }
            }
            if i + 1 == found.len() {
                tail = intact;
                if dirty {
                    tracing::warn!(segment = %path.display(), at = intact, "the commit log ends in a torn or stale record (an unacknowledged commit, or an old one of a recycled segment): zeroing from there");
                    let f = OpenOptions::new().write(true).open(path)?;
                    let size = f.metadata()?.len();
                    zero_range(&f, intact, size)?;
                    f.sync_all()?;
                }
            }
        }
        let (file, len, capacity, first_lsn) = match found.last() {
            Some((first, path)) => {
                let f = OpenOptions::new().read(true).write(true).open(path)?;
                let cap = f.metadata()?.len().max(tail);
                (f, tail, cap, *first)
            }
            None => {
                let path = segment_path(dir, next_lsn);
                create_zeroed(&path, SEGMENT_BYTES)?;
                let f = OpenOptions::new().read(true).write(true).open(&path)?;
                found.push((next_lsn, path));
                sync_dir(dir);
                (f, 0, SEGMENT_BYTES, next_lsn)
            }
        };
        let mut log = Log {
            dir: dir.to_path_buf(),
            file,
            len,
            capacity,
            first_lsn,
            next_lsn,
            segments: Arc::new(Mutex::new(SegmentSet { live: found, ..SegmentSet::default() })),
            end_mark: Arc::new(LogEnd(Mutex::new((first_lsn, len)))),
            spare: None,
            spares_made: 0,
        };
        log.prepare_spare();
        Ok(log)
    }

    fn prepare_spare(&mut self) {
        if self.spare.is_some() {
            return;
        }
        self.spares_made += 1;
        let path = self.dir.join(format!(".spare-{}-{}.log", std::process::id(), self.spares_made));
        self.spare = std::thread::Builder::new()
            .name("hie-log-spare".into())
            .spawn(move || create_zeroed(&path, SEGMENT_BYTES))
            .ok();
    }

    /// The next LSN to hand out.
    pub fn next_lsn(&mut self) -> u64 {
        let l = self.next_lsn;
        self.next_lsn += 1;
        l
    }

    /// The last LSN handed out (written or not).
    pub fn last_lsn(&self) -> u64 {
        self.next_lsn - 1
    }

    /// The segment set (shared with the reader and the indexer).
    pub fn segments(&self) -> Segments {
        self.segments.clone()
    }

    /// Where the records end, as the reader sees it.
    pub fn end_mark(&self) -> Arc<LogEnd> {
        self.end_mark.clone()
    }

    /// The current segment's first LSN (its name).
    pub fn first_lsn(&self) -> u64 {
        self.first_lsn
    }

    /// Where the next record goes: the current segment's first LSN and path, and the offset.
    pub fn end(&self) -> (u64, PathBuf, u64) {
        (self.first_lsn, segment_path(&self.dir, self.first_lsn), self.len)
    }

    /// Writes prebuilt records (one `pwrite`) and returns the offset they start at in the
    /// current segment (for [`Log::rewind`]). A failed write leaves the log ending where
    /// it did (the next write goes to the same place).
    pub fn append(&mut self, records: &[u8], first_lsn: u64) -> std::io::Result<u64> {
        let need = records.len() as u64;
        if self.len == 0 && need > self.capacity {
            // An empty segment grows to hold the commit instead of rotating: a rotation
            // names the new segment after `first_lsn`, which may be this one's own name.
            zero_range(&self.file, self.capacity, need)?;
            self.file.sync_all()?;
            self.capacity = need;
        } else if self.len + need > self.capacity {
            self.rotate(first_lsn, need)?;
        }
        let at = self.len;
        if let Err(e) = self.file.write_all_at(records, at) {
            // Refused commits: whole records a short write left must not be replayed.
            let _ = zero_range(&self.file, at, at + need);
            return Err(e);
        }
        self.len += need;
        self.end_mark.set(self.first_lsn, self.len);
        Ok(at)
    }

    /// Forgets what was written from `offset` of the current segment on (its sync failed,
    /// so its commits were refused): the next write overwrites it, and it is zeroed now so
    /// that an open before that write does not replay it.
    pub fn rewind(&mut self, offset: u64) {
        if offset < self.len {
            let _ = zero_range(&self.file, offset, self.len);
        }
        self.len = self.len.min(offset);
        self.end_mark.set(self.first_lsn, self.len);
    }

    /// Bytes left in the current segment before a rotation (which syncs).
    pub fn room(&self) -> u64 {
        self.capacity.saturating_sub(self.len)
    }

    /// Makes everything written so far durable (`fdatasync`).
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    fn rotate(&mut self, first_lsn: u64, need: u64) -> std::io::Result<()> {
        self.file.sync_data()?;
        let path = segment_path(&self.dir, first_lsn);
        let capacity = if need <= SEGMENT_BYTES {
            let recycled = self.segments.lock_unpoisoned().recycled.pop();
            let spare = match &self.spare {
                Some(h) if h.is_finished() => self.spare.take().and_then(|h| h.join().ok()).and_then(|r| r.ok()),
                _ => None,
            };
            match (recycled, spare) {
                (Some(old), spare) => {
                    std::fs::rename(&old, &path)?;
                    // A finished spare not needed now goes to the pool.
                    if let Some(s) = spare {
                        self.segments.lock_unpoisoned().recycled.push(s);
                    }
                }
                (None, Some(s)) => std::fs::rename(&s, &path)?,
                (None, None) => {
                    // Nothing ready: size the file here rather than wait. Its first syncs
                    // commit block allocations, which costs a little until it is full.
                    tracing::debug!(segment = %path.display(), "no preallocated log segment ready; creating one");
                    let f = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
                    f.set_len(SEGMENT_BYTES)?;
                }
            }
            SEGMENT_BYTES
        } else {
            // A commit bigger than a segment gets a segment of its own size.
            create_zeroed(&path, need)?;
            need
        };
        sync_dir(&self.dir);
        self.file = OpenOptions::new().read(true).write(true).open(&path)?;
        self.len = 0;
        self.capacity = capacity;
        self.first_lsn = first_lsn;
        self.segments.lock_unpoisoned().live.push((first_lsn, path));
        if self.segments.lock_unpoisoned().recycled.is_empty() {
            self.prepare_spare();
        }
        Ok(())
    }
}

/// Reads the one record at `offset` of the live segment `segment`, which must have LSN
/// `lsn`. `None` when the segment is gone (retired: the record is in the warehouse) or
/// does not hold that record there.
pub fn read_record_at(segments: &Segments, segment: u64, offset: u64, lsn: u64) -> Option<Vec<Op>> {
    let path = {
        let set = segments.lock_unpoisoned();
        set.live.iter().find(|(first, _)| *first == segment).map(|(_, p)| p.clone())?
    };
    let file = File::open(path).ok()?;
    let mut head = [0u8; HEADER];
    file.read_exact_at(&mut head, offset).ok()?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > MAX_RECORD {
        return None;
    }
    let mut bytes = vec![0u8; HEADER + len];
    file.read_exact_at(&mut bytes, offset).ok()?;
    match parse_record(&bytes, 0, lsn.saturating_sub(1)) {
        Parsed::Record(l, ops, _) if l == lsn => Some(ops),
        _ => None,
    }
}

/// Retires segments all of whose records have LSN ≤ `durable` (never the newest one):
/// up to [`RECYCLED_KEPT`] are kept for reuse, the rest deleted.
pub fn retire_through(segments: &Segments, durable: u64) {
    let mut set = segments.lock_unpoisoned();
    while set.live.len() > 1 && set.live[1].0 <= durable + 1 {
        let (_, path) = set.live.remove(0);
        let full_size = std::fs::metadata(&path).map(|m| m.len() == SEGMENT_BYTES).unwrap_or(false);
        if set.recycled.len() < RECYCLED_KEPT && full_size {
            set.retired += 1;
            let to = path.with_file_name(format!(".spare-recycled-{}-{}.log", std::process::id(), set.retired));
            match std::fs::rename(&path, &to) {
                Ok(()) => {
                    set.recycled.push(to);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(segment = %path.display(), error = %e, "cannot recycle an indexed log segment")
                }
            }
        }
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(segment = %path.display(), error = %e, "cannot delete an indexed log segment");
        }
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests;
