//! Following the commit log: the indexer's reader.
//!
//! The warehouse is built from the records as the log holds them on disk, read back
//! behind the writer, rather than from copies handed over in memory. So the writer never
//! waits for the warehouse (there is no queue to fill), the warehouse's lag is bounded by
//! the disk, not by memory, and a warehouse that falls behind only costs log segments.
//!
//! # Invariants
//! - Only records with an LSN at most the published written position are read: every
//!   such record was whole on disk before the position was published, so a record being
//!   written (or one a failed write left behind, which the writer overwrites) is never
//!   taken for a commit.
//! - Records are read in log order, each with an LSN above the last one read.
//! - Memory is bounded by the log, not by what its bytes claim: a header read where the
//!   records end (a recycled segment's stale bytes, a record being written) is taken at
//!   its word only for a record already published, and never for more bytes than the
//!   segment file holds; the buffer shrinks back to [`CHUNK`] once a long record is read.
//! - In the segment being written nothing past the writer's end ([`LogEnd`]) is read: a
//!   reader that has caught up reads the new records' bytes alone, never a chunk of the
//!   preallocated rest.

use super::log::{self, LogEnd, Parsed, Segments};
use super::writer::Op;
use crate::lock::LockExt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// How much of a segment one read takes.
const CHUNK: usize = 1 << 20;

/// A position in the log and the means to read on from it.
pub struct LogReader {
    segments: Segments,
    /// Where the writer's records end: no read goes past it in that segment.
    end: Arc<LogEnd>,
    /// First LSN (name) of the segment being read.
    first_lsn: u64,
    path: PathBuf,
    file: Option<File>,
    /// Offset in that segment of `buf[0]`.
    offset: u64,
    /// LSN of the last record read.
    last: u64,
    /// Bytes read from `offset` on.
    buf: Vec<u8>,
    /// Where the next record starts in `buf`.
    pos: usize,
    /// Whether a gap has been reported (a corrupt segment), so it is logged once.
    reported: bool,
}

/// Why a read stopped short of what it was asked for.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The segment could not be read.
    #[error("cannot read the commit log segment {0}: {1}")]
    Io(String, std::io::Error),
    /// Records up to the written position are missing from the segments.
    #[error("the commit log has no record after LSN {0} although LSN {1} was written")]
    Missing(u64, u64),
}

impl LogReader {
    /// A reader at `offset` of the segment `first_lsn` (`path`), the last record read
    /// before it having LSN `last`.
    pub fn at(
        segments: Segments,
        end: Arc<LogEnd>,
        first_lsn: u64,
        path: PathBuf,
        offset: u64,
        last: u64,
    ) -> LogReader {
        LogReader { segments, end, first_lsn, path, file: None, offset, last, buf: Vec::new(), pos: 0, reported: false }
    }

    /// The LSN of the last record read.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Reads records with LSNs up to `upto` (the published written position) into `out`,
    /// at most `max` of them. Returns how many were read.
    pub fn read(&mut self, upto: u64, max: usize, out: &mut Vec<(u64, Vec<Op>)>) -> Result<usize, TailError> {
        let mut n = 0;
        while n < max && self.last < upto {
            match self.next_record(upto)? {
                Some((lsn, ops)) => {
                    self.last = lsn;
                    out.push((lsn, ops));
                    n += 1;
                }
                None => {
                    // The records up to `upto` are whole on disk, so they are in a later
                    // segment: the writer moved on.
                    if !self.next_segment() {
                        if !self.reported {
                            self.reported = true;
                            tracing::error!(after = self.last, written = upto, segment = %self.path.display(), "the commit log has a gap the warehouse cannot read past");
                        }
                        return Err(TailError::Missing(self.last, upto));
                    }
                }
            }
        }
        Ok(n)
    }

    /// The record at the current position, if it is one with an LSN in (last, upto].
    /// Bytes buffered by an earlier read may predate the record: before answering "none"
    /// it reads the position again.
    fn next_record(&mut self, upto: u64) -> Result<Option<(u64, Vec<Op>)>, TailError> {
        let mut fresh = false;
        loop {
            match log::parse_record(&self.buf, self.pos, self.last) {
                Parsed::Record(lsn, ops, next) if lsn <= upto => {
                    self.pos = next;
                    return Ok(Some((lsn, ops)));
                }
                // Only a published record is surely whole on disk: past the published
                // position the "length" may be any four stale bytes (up to 512 MiB).
                Parsed::Short(need)
                    if log::record_lsn(&self.buf, self.pos).is_none_or(|l| l <= upto) && self.fill(need)? =>
                {
                    fresh = true
                }
                // Beyond what was published, or not a record (yet): read once more from disk.
                _ if !fresh => {
                    self.discard();
                    fresh = true;
                    if !self.fill(log::HEADER)? {
                        return Ok(None);
                    }
                }
                _ => {
                    self.discard();
                    return Ok(None);
                }
            }
        }
    }

    /// Forgets the buffered bytes from the current position on (they may be stale).
    fn discard(&mut self) {
        self.offset += self.pos as u64;
        self.buf.clear();
        self.pos = 0;
        if self.buf.capacity() > 2 * CHUNK {
            self.buf.shrink_to(CHUNK);
        }
    }

    /// Makes `buf` hold at least `need` bytes from the current position, reading more of
    /// the segment if the file has them; `false` when it does not.
    fn fill(&mut self, need: usize) -> Result<bool, TailError> {
        if self.buf.len() - self.pos >= need {
            return Ok(true);
        }
        if self.file.is_none() {
            self.file = Some(File::open(&self.path).map_err(|e| TailError::Io(self.path.display().to_string(), e))?);
        }
        let Some(file) = &self.file else { return Ok(false) };
        // Keep only the unread bytes, then read on after them.
        self.buf.drain(..self.pos);
        self.offset += self.pos as u64;
        self.pos = 0;
        let have = self.buf.len();
        let on_disk = file.metadata().map_err(|e| TailError::Io(self.path.display().to_string(), e))?.len();
        // In the segment being written, nothing past the records' end is worth reading.
        let end = match self.end.get() {
            (segment, written) if segment == self.first_lsn => written.min(on_disk),
            _ => on_disk,
        };
        let left = usize::try_from(end.saturating_sub(self.offset)).unwrap_or(usize::MAX);
        if left < need {
            // The segment cannot hold it: not a record (yet), and nothing to allocate for.
            return Ok(false);
        }
        let want = need.max(CHUNK).min(left);
        self.buf.resize(want, 0);
        let mut got = have;
        while got < want {
            match file.read_at(&mut self.buf[got..], self.offset + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(have);
                    return Err(TailError::Io(self.path.display().to_string(), e));
                }
            }
        }
        self.buf.truncate(got);
        Ok(got >= need)
    }

    /// Moves to the segment after the current one; `false` if there is none.
    fn next_segment(&mut self) -> bool {
        let next = {
            let set = self.segments.lock_unpoisoned();
            set.live.iter().find(|(first, _)| *first > self.first_lsn).cloned()
        };
        match next {
            Some((first, path)) => {
                self.first_lsn = first;
                self.path = path;
                self.file = None;
                self.offset = 0;
                self.buf.clear();
                self.pos = 0;
                // Records of a segment start at its name.
                self.last = self.last.max(first.saturating_sub(1));
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::log::{Log, encode_record, parse_segment};
    use super::*;
    use bytes::Bytes;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hie-tail-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn body(id: u64, size: usize) -> Vec<Op> {
        vec![Op::Body { id, data: Bytes::from(vec![b'x'; size]), created_us: id as i64 }]
    }

    fn body_id(ops: &[Op]) -> u64 {
        match ops.first() {
            Some(Op::Body { id, .. }) => *id,
            other => panic!("not a body: {other:?}"),
        }
    }

    /// Appends one record per id, as the writer does; returns the LSNs.
    fn write(log: &mut Log, ids: std::ops::Range<u64>, size: usize) -> Vec<u64> {
        let mut lsns = Vec::new();
        for id in ids {
            let lsn = log.next_lsn();
            let mut buf = Vec::new();
            encode_record(&mut buf, lsn, &body(id, size)).expect("encode");
            log.append(&buf, lsn).expect("append");
            lsns.push(lsn);
        }
        lsns
    }

    #[test]
    fn a_record_cut_at_any_byte_or_followed_by_garbage_or_stale_records_ends_the_log_after_the_whole_ones() {
        let mut bytes = Vec::new();
        for lsn in 1..=3 {
            encode_record(&mut bytes, lsn, &body(lsn, 50)).expect("encode");
        }
        let whole = bytes.len();
        let mut last = Vec::new();
        encode_record(&mut last, 4, &body(4, 50)).expect("encode");
        for cut in 0..last.len() {
            let mut torn = bytes.clone();
            torn.extend_from_slice(&last[..cut]);
            let (records, end, dirty) = parse_segment(&torn, 0);
            assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3], "cut at {cut}");
            assert_eq!(end as usize, whole, "cut at {cut}");
            assert_eq!(dirty, torn[whole..].iter().any(|b| *b != 0), "cut at {cut}");
        }
        // Garbage after the whole records, and a recycled segment's older record.
        let mut garbage = bytes.clone();
        garbage.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        assert_eq!(parse_segment(&garbage, 0).0.len(), 3);
        let mut stale = bytes.clone();
        encode_record(&mut stale, 2, &body(99, 50)).expect("encode");
        let (records, end, dirty) = parse_segment(&stale, 0);
        assert_eq!((records.len(), end as usize, dirty), (3, whole, true), "an older LSN is not a continuation");
    }

    #[test]
    fn a_log_cut_mid_record_reopens_with_every_whole_record_and_writes_on_after_them() {
        let dir = temp_dir("reopen");
        let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
        write(&mut log, 1..101, 300);
        log.sync().expect("sync");
        let (_, path, end) = log.end();
        drop(log);
        // Tear the last record: keep its header and half its payload.
        let f = std::fs::OpenOptions::new().write(true).open(&path).expect("segment");
        let record = 16 + postcard::to_allocvec(&body(100, 300)).expect("encode").len() as u64;
        f.write_all_at(&vec![0u8; (record / 2) as usize], end - record / 2).expect("tear");
        drop(f);
        let mut seen = Vec::new();
        let mut log = Log::open(&dir, 0, |lsn, ops| seen.push((lsn, body_id(&ops)))).expect("reopen");
        assert_eq!(seen.len(), 99, "every whole record, none of the torn one");
        assert!(seen.iter().enumerate().all(|(i, (lsn, id))| *lsn == i as u64 + 1 && *id == i as u64 + 1));
        write(&mut log, 200..210, 300);
        log.sync().expect("sync");
        drop(log);
        let mut again = Vec::new();
        Log::open(&dir, 0, |_, ops| again.push(body_id(&ops))).expect("reopen again");
        assert_eq!(again.len(), 109);
        assert_eq!(&again[99..], &(200..210).collect::<Vec<_>>()[..], "written on after the whole records");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_reader_follows_the_writer_across_rotations_and_never_reads_past_the_published_position() {
        let dir = temp_dir("follow");
        let mut log = Log::open(&dir, 0, |_, _| {}).expect("open");
        let (first, path, offset) = log.end();
        let mut reader = LogReader::at(log.segments(), log.end_mark(), first, path, offset, 0);
        let mut out = Vec::new();
        // 3,000 records of 4 KiB: more than one 8 MiB segment.
        let lsns = write(&mut log, 0..3000, 4096);
        let published = lsns[1499];
        assert_eq!(reader.read(published, usize::MAX, &mut out).expect("read"), 1500);
        assert_eq!(reader.last(), published, "stops at the published position though more is on disk");
        assert!(log.segments().lock().expect("segments").live.len() >= 2, "the writer rotated");
        out.clear();
        assert_eq!(reader.read(lsns[2999], 1000, &mut out).expect("read"), 1000, "at most what was asked");
        assert_eq!(reader.read(lsns[2999], usize::MAX, &mut out).expect("read"), 500);
        assert_eq!(out.iter().map(|(_, ops)| body_id(ops)).collect::<Vec<_>>(), (1500..3000).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_reader_that_has_caught_up_reads_only_the_new_records_not_a_chunk_of_the_segment() {
        // Before the writer's end bounded it, every poll with a new record zero-filled and
        // read a whole 1 MiB chunk of the preallocated segment: 20-45 µs of CPU a message.
        let dir = temp_dir("caught-up");
        let mut log = Log::open(&dir, 0, |_, _| {}).expect("open");
        let (first, path, offset) = log.end();
        let mut reader = LogReader::at(log.segments(), log.end_mark(), first, path, offset, 0);
        let mut out = Vec::new();
        let lsns = write(&mut log, 0..10, 100);
        assert_eq!(reader.read(lsns[9], usize::MAX, &mut out).expect("read"), 10);
        for i in 10..20 {
            let lsn = write(&mut log, i..i + 1, 100)[0];
            assert_eq!(reader.read(lsn, usize::MAX, &mut out).expect("read"), 1);
            assert!(reader.buf.len() < 1024, "read {} bytes for one 100-byte record", reader.buf.len());
        }
        assert_eq!(out.iter().map(|(_, ops)| body_id(ops)).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_of_a_write_whose_sync_failed_are_overwritten_and_never_read() {
        let dir = temp_dir("rewind");
        let mut log = Log::open(&dir, 0, |_, _| {}).expect("open");
        let (first, path, offset) = log.end();
        let mut reader = LogReader::at(log.segments(), log.end_mark(), first, path, offset, 0);
        let kept = write(&mut log, 0..10, 100);
        // A batch written and then refused (its sync failed): the writer rewinds over it.
        let lsn = log.next_lsn();
        let mut buf = Vec::new();
        encode_record(&mut buf, lsn, &body(666, 5000)).expect("encode");
        let at = log.append(&buf, lsn).expect("append");
        log.rewind(at);
        let after = write(&mut log, 10..12, 100);
        let mut out = Vec::new();
        reader.read(after[1], usize::MAX, &mut out).expect("read");
        let ids: Vec<u64> = out.iter().map(|(_, ops)| body_id(ops)).collect();
        assert_eq!(ids, (0..12).collect::<Vec<_>>(), "the refused record is gone: {ids:?}");
        assert_eq!(out[9].0, kept[9]);
        drop(log);
        let mut replayed = Vec::new();
        Log::open(&dir, 0, |_, ops| replayed.push(body_id(&ops))).expect("reopen");
        assert_eq!(replayed, (0..12).collect::<Vec<_>>(), "nor is it replayed, though a longer one was on disk");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stale_bytes_that_claim_a_huge_record_past_the_published_position_allocate_nothing() {
        // A recycled segment's old payload after the new records can read as a header of
        // a 200 MiB record ("...\r" makes a length near 0x0D000000): the reader must not
        // size its buffer by it (the soak saw 220 MiB held for good, zeroed on every poll).
        let dir = temp_dir("stale-length");
        let mut log = Log::open(&dir, 0, |_, _| {}).expect("open");
        let (first, path, offset) = log.end();
        let mut reader = LogReader::at(log.segments(), log.end_mark(), first, path.clone(), offset, 0);
        let lsns = write(&mut log, 0..10, 100);
        let (_, _, end) = log.end();
        let mut fake = Vec::new();
        fake.extend_from_slice(&(200u32 << 20).to_le_bytes());
        fake.extend_from_slice(&0xdead_beefu32.to_le_bytes());
        fake.extend_from_slice(&(u64::MAX / 3).to_le_bytes());
        std::fs::OpenOptions::new().write(true).open(&path).expect("segment").write_all_at(&fake, end).expect("stale");
        let mut out = Vec::new();
        let next = lsns[9] + 1;
        assert!(matches!(reader.read(next, usize::MAX, &mut out), Err(TailError::Missing(..))));
        assert_eq!(out.len(), 10, "every record before the stale bytes");
        assert!(reader.buf.capacity() <= 2 * CHUNK, "buffer of {} bytes", reader.buf.capacity());
        // A published record that says it is longer than the segment is not read either.
        reader.last = lsns[9];
        let mut big = fake.clone();
        big[8..16].copy_from_slice(&next.to_le_bytes());
        std::fs::OpenOptions::new().write(true).open(&path).expect("segment").write_all_at(&big, end).expect("stale");
        assert!(reader.read(next, usize::MAX, &mut out).is_err());
        assert!(reader.buf.capacity() <= 2 * CHUNK, "buffer of {} bytes", reader.buf.capacity());
        // The writer writes over the stale bytes; the reader goes on.
        let more = write(&mut log, 10..12, 100);
        reader.read(more[1], usize::MAX, &mut out).expect("read on");
        assert_eq!(out.iter().map(|(_, ops)| body_id(ops)).collect::<Vec<_>>(), (0..12).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
