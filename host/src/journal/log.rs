//! The commit log: append-only segment files holding every journal commit, in order.
//!
//! This is what makes a message durable. An ACK waits for its commit's record to be
//! written here (and, in fsync mode, `fdatasync`ed); the SQLite warehouse is built from
//! these records behind it and can always be rebuilt from them.
//!
//! Record layout: `len: u32 | crc32(payload): u32 | lsn: u64 | payload` (little endian),
//! payload = postcard-encoded `Vec<Op>`. A record that is cut short or fails its CRC ends
//! the log: a crash can only tear the last write, and that commit was never acknowledged.

use super::writer::Op;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Start a new segment once the current one is this big.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
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
    len: u64,
    next_lsn: u64,
    segments: Segments,
}

fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.log"))
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

/// Reads every intact record of one segment; returns them and the length of the intact part.
fn read_segment(path: &Path) -> std::io::Result<(Vec<(u64, Vec<Op>)>, u64)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut pos = 0usize;
    while pos + HEADER <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap_or_default());
        let lsn = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap_or_default());
        if len > MAX_RECORD || pos + HEADER + len > bytes.len() {
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
    Ok((records, pos as u64))
}

impl Log {
    /// Opens the log in `dir`, calling `replay` for every intact record with an LSN above
    /// `after` (oldest first). A torn tail is cut off.
    pub fn open(dir: &Path, after: u64, mut replay: impl FnMut(u64, Vec<Op>)) -> std::io::Result<Log> {
        std::fs::create_dir_all(dir)?;
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
        let mut last_len = 0;
        for (i, (_, path)) in found.iter().enumerate() {
            let (records, intact) = read_segment(path)?;
            for (lsn, ops) in records {
                next_lsn = next_lsn.max(lsn + 1);
                if lsn > after {
                    replay(lsn, ops);
                }
            }
            if i + 1 == found.len() {
                last_len = intact;
                let actual = std::fs::metadata(path)?.len();
                if actual > intact {
                    tracing::warn!(segment = %path.display(), torn_bytes = actual - intact, "cutting off a torn log tail (an unacknowledged commit)");
                    OpenOptions::new().write(true).open(path)?.set_len(intact)?;
                }
            }
        }
        let (file, len) = match found.last() {
            Some((_, path)) if last_len < SEGMENT_BYTES => {
                let mut f = OpenOptions::new().append(true).open(path)?;
                f.seek(SeekFrom::End(0))?;
                (f, last_len)
            }
            _ => {
                let path = segment_path(dir, next_lsn);
                let f = OpenOptions::new().create(true).append(true).open(&path)?;
                found.push((next_lsn, path));
                sync_dir(dir);
                (f, 0)
            }
        };
        Ok(Log { dir: dir.to_path_buf(), file, len, next_lsn, segments: Arc::new(Mutex::new(found)) })
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

    /// Appends prebuilt records (one `write`). On failure the partial write is cut off so
    /// the log stays a sequence of whole records.
    pub fn append(&mut self, records: &[u8], first_lsn: u64) -> std::io::Result<()> {
        if self.len >= SEGMENT_BYTES {
            self.rotate(first_lsn)?;
        }
        match self.file.write_all(records) {
            Ok(()) => {
                self.len += records.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }

    /// Makes everything appended so far durable (`fdatasync`).
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    fn rotate(&mut self, first_lsn: u64) -> std::io::Result<()> {
        self.file.sync_data()?;
        let path = segment_path(&self.dir, first_lsn);
        let f = OpenOptions::new().create(true).append(true).open(&path)?;
        sync_dir(&self.dir);
        self.file = f;
        self.len = 0;
        self.segments.lock().unwrap_or_else(|e| e.into_inner()).push((first_lsn, path));
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
