//! The commit log: segment files holding every journal commit, in order.
//!
//! This is what makes a message durable. An ACK waits for its commit's record to be
//! written here (and, in fsync mode, `fdatasync`ed); the SQLite warehouse is built from
//! these records behind it and can always be rebuilt from them.
//!
//! Segments are created ahead of need, full size and zero-filled, by a background thread:
//! writing into blocks that already exist means `fdatasync` has no file-size metadata to
//! commit, which is markedly cheaper than syncing an append on ext4 (measured: see
//! docs/benchmarks.md).
//!
//! Record layout: `len: u32 | crc32(payload): u32 | lsn: u64 | payload` (little endian),
//! payload = postcard-encoded `Vec<Op>`. The log ends at the first all-zero header or the
//! first record that is cut short or fails its CRC: a crash can only tear the last write,
//! and that commit was never acknowledged. On open, anything after the end is zeroed so a
//! torn write can never be mistaken for a record later.

use super::writer::Op;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Size of a segment.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Record header size.
const HEADER: usize = 16;
/// Refuse records claiming to be larger than this (corruption guard).
const MAX_RECORD: usize = 512 * 1024 * 1024;

/// The segments on disk: first LSN and path, oldest first (shared with the indexer, which
/// deletes segments once their records are durable in SQLite).
pub type Segments = Arc<Mutex<Vec<(u64, PathBuf)>>>;

/// The log, as its single writer holds it.
pub struct Log {
    dir: PathBuf,
    file: File,
    /// Bytes of records in the current segment.
    len: u64,
    /// Size of the current segment file.
    capacity: u64,
    next_lsn: u64,
    segments: Segments,
    /// The next segment, being zero-filled in the background.
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
    let zeros = vec![0u8; 1 << 20];
    let mut written = 0;
    while written < size {
        let n = zeros.len().min((size - written) as usize);
        f.write_all_at(&zeros[..n], written)?;
        written += n as u64;
    }
    f.sync_all()?;
    Ok(path.to_path_buf())
}

/// Encodes one record into `out`.
pub fn encode_record(out: &mut Vec<u8>, lsn: u64, ops: &[Op]) -> Result<(), String> {
    let payload = postcard::to_allocvec(ops).map_err(|e| format!("cannot encode a commit: {e}"))?;
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// What reading a segment gives: its intact records, where they end, and whether
/// anything but zeros follows.
type SegmentContents = (Vec<(u64, Vec<Op>)>, u64, bool);

/// Reads every intact record of one segment.
fn read_segment(path: &Path) -> std::io::Result<SegmentContents> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut pos = 0usize;
    while pos + HEADER <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap_or_default());
        let lsn = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap_or_default());
        if lsn == 0 || len > MAX_RECORD || pos + HEADER + len > bytes.len() {
            break;
        }
        let payload = &bytes[pos + HEADER..pos + HEADER + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        match postcard::from_bytes::<Vec<Op>>(payload) {
            Ok(ops) => records.push((lsn, ops)),
            Err(_) => break,
        }
        pos += HEADER + len;
    }
    let dirty = bytes[pos..].iter().any(|b| *b != 0);
    Ok((records, pos as u64, dirty))
}

impl Log {
    /// Opens the log in `dir`, calling `replay` for every intact record with an LSN above
    /// `after` (oldest first). Whatever follows the last intact record is zeroed.
    pub fn open(dir: &Path, after: u64, mut replay: impl FnMut(u64, Vec<Op>)) -> std::io::Result<Log> {
        std::fs::create_dir_all(dir)?;
        // Spares left by a previous run are incomplete or unused: start afresh.
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
        for (i, (_, path)) in found.iter().enumerate() {
            let (records, intact, dirty) = read_segment(path)?;
            for (lsn, ops) in records {
                next_lsn = next_lsn.max(lsn + 1);
                if lsn > after {
                    replay(lsn, ops);
                }
            }
            if i + 1 == found.len() {
                tail = intact;
                if dirty {
                    tracing::warn!(segment = %path.display(), at = intact, "zeroing a torn log tail (an unacknowledged commit)");
                    let f = OpenOptions::new().write(true).open(path)?;
                    let size = f.metadata()?.len();
                    let zeros = vec![0u8; 1 << 20];
                    let mut at = intact;
                    while at < size {
                        let n = zeros.len().min((size - at) as usize);
                        f.write_all_at(&zeros[..n], at)?;
                        at += n as u64;
                    }
                    f.sync_all()?;
                }
            }
        }
        let (file, len, capacity) = match found.last() {
            Some((_, path)) => {
                let f = OpenOptions::new().read(true).write(true).open(path)?;
                let cap = f.metadata()?.len().max(tail);
                (f, tail, cap)
            }
            None => {
                let path = segment_path(dir, next_lsn);
                create_zeroed(&path, SEGMENT_BYTES)?;
                let f = OpenOptions::new().read(true).write(true).open(&path)?;
                found.push((next_lsn, path));
                sync_dir(dir);
                (f, 0, SEGMENT_BYTES)
            }
        };
        let mut log = Log {
            dir: dir.to_path_buf(),
            file,
            len,
            capacity,
            next_lsn,
            segments: Arc::new(Mutex::new(found)),
            spare: None,
            spares_made: 0,
        };
        log.prepare_spare();
        Ok(log)
    }

    fn prepare_spare(&mut self) {
        self.spares_made += 1;
        let path = self.dir.join(format!(".spare-{}-{}.log", std::process::id(), self.spares_made));
        self.spare = std::thread::Builder::new()
            .name("hie-log-spare".into())
            .spawn(move || {
                super::run_in_background();
                create_zeroed(&path, SEGMENT_BYTES)
            })
            .ok();
    }

    /// The next LSN to hand out.
    pub fn next_lsn(&mut self) -> u64 {
        let l = self.next_lsn;
        self.next_lsn += 1;
        l
    }

    /// The segment list (shared with the indexer).
    pub fn segments(&self) -> Segments {
        self.segments.clone()
    }

    /// Writes prebuilt records (one `pwrite`). A failed write leaves the log ending where
    /// it did (the next write goes to the same place).
    pub fn append(&mut self, records: &[u8], first_lsn: u64) -> std::io::Result<()> {
        if self.len + records.len() as u64 > self.capacity {
            self.rotate(first_lsn, records.len() as u64)?;
        }
        self.file.write_all_at(records, self.len)?;
        self.len += records.len() as u64;
        Ok(())
    }

    /// Bytes left in the current segment before a rotation (which syncs and may wait for
    /// the spare segment to be zero-filled).
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
        let spare = self.spare.take().and_then(|h| h.join().ok()).and_then(|r| r.ok());
        let capacity = if need <= SEGMENT_BYTES {
            match spare {
                Some(p) => std::fs::rename(&p, &path)?,
                None => {
                    create_zeroed(&path, SEGMENT_BYTES)?;
                }
            }
            SEGMENT_BYTES
        } else {
            // A commit bigger than a segment gets a segment of its own size.
            if let Some(p) = spare {
                let _ = std::fs::remove_file(p);
            }
            create_zeroed(&path, need)?;
            need
        };
        sync_dir(&self.dir);
        self.file = OpenOptions::new().read(true).write(true).open(&path)?;
        self.len = 0;
        self.capacity = capacity;
        self.segments.lock().unwrap_or_else(|e| e.into_inner()).push((first_lsn, path));
        self.prepare_spare();
        Ok(())
    }
}

/// Deletes segments all of whose records have LSN ≤ `durable` (never the newest segment).
pub fn delete_through(segments: &Segments, durable: u64) {
    let mut list = segments.lock().unwrap_or_else(|e| e.into_inner());
    while list.len() > 1 && list[1].0 <= durable + 1 {
        let (_, path) = list.remove(0);
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
