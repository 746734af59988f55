//! The commit log's records, segments, rotation, recycling and reopening, on real files.

use super::*;
use crate::message::{Header, Status};
use bytes::Bytes;
use std::os::unix::fs::MetadataExt;

fn temp_dir(name: &str) -> PathBuf {
    crate::journal::test_dirs::temp_dir("log", name)
}

use crate::journal::test_dirs::remove;

fn body(id: u64, size: usize) -> Vec<Op> {
    vec![Op::Body { id, data: Bytes::from(vec![b'x'; size]), created_us: id as i64 }]
}

fn body_id(ops: &[Op]) -> u64 {
    match ops.first() {
        Some(Op::Body { id, .. }) => *id,
        other => panic!("not a body: {other:?}"),
    }
}

/// Appends one record per id, each of `size` body bytes, as the writer does (the LSN
/// is the body id's place in the log); returns `(lsn, offset)` of each.
fn write(log: &mut Log, ids: std::ops::Range<u64>, size: usize) -> Vec<(u64, u64)> {
    ids.map(|id| {
        let lsn = log.next_lsn();
        let mut buf = Vec::new();
        encode_record(&mut buf, lsn, &body(id, size)).expect("encode");
        (lsn, log.append(&buf, lsn).expect("append"))
    })
    .collect()
}

/// Opens the log in `dir` from the start; returns it and `(lsn, body id)` of every record replayed.
fn reopen(dir: &Path, after: u64) -> (Log, Vec<(u64, u64)>) {
    let mut seen = Vec::new();
    let log = Log::open(dir, after, |lsn, ops| seen.push((lsn, body_id(&ops)))).expect("open");
    (log, seen)
}

/// Names of the entries of `dir` whose name starts with `prefix`, sorted.
fn names(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

fn wait_for_spare(log: &Log) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !log.spare.as_ref().is_some_and(|h| h.is_finished()) {
        assert!(std::time::Instant::now() < deadline, "the spare segment is never ready");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn every_kind_of_op() -> Vec<Op> {
    let header = Header {
        id: 7,
        session_id: 7,
        correlation_id: 0,
        causation_id: 3,
        source: "HL7In".into(),
        target: "HL7Out".into(),
        priority: 6,
        created_us: 1_700_000_000_000_000,
        doc_type: "ADT^A01".into(),
        control_id: "MSG0001".into(),
        body_id: 1,
        attributes: vec![("RemoteAddress".into(), "10.0.0.1".into())],
        ordering_key: Some("MRN1".into()),
    };
    vec![
        Op::Body { id: 1, data: Bytes::from_static(b"MSH|^~\\&|A|B\rPID|||MRN1\r"), created_us: -5 },
        Op::Header {
            header: Arc::new(header),
            status: Status::Queued,
            note: None,
            reply: Some(Bytes::from_static(b"MSA|AA")),
        },
        Op::Note { id: 7, note: "caller timed out".into() },
        Op::Finish { id: 7, status: Status::Completed, note: Some("done".into()), reply: None, at_us: 9 },
        Op::SuspendQueued { target: "HL7Out".into(), note: "removed".into(), at_us: 10 },
        Op::Fields { body_id: 1, fields: vec![("PID-3".into(), "MRN1".into())] },
        Op::State { item: "Poller".into(), key: "last_row".into(), value: "42".into() },
    ]
}

#[test]
fn a_record_is_length_checksum_lsn_and_payload_and_decodes_back_to_the_same_ops() {
    let ops = every_kind_of_op();
    // Records append to what the buffer holds (the writer encodes a batch into one).
    let mut out = b"earlier".to_vec();
    encode_record(&mut out, 0x0102_0304_0506_0708, &ops).expect("encode");
    let record = &out[7..];
    let payload = postcard::to_allocvec(&ops).expect("postcard");
    assert_eq!(&record[0..4], &(payload.len() as u32).to_le_bytes(), "len: u32 little endian");
    assert_eq!(&record[4..8], &crc32fast::hash(&payload).to_le_bytes(), "crc32 of the payload");
    assert_eq!(&record[8..16], &[8, 7, 6, 5, 4, 3, 2, 1], "lsn: u64 little endian");
    assert_eq!(&record[HEADER..], &payload[..]);
    match parse_record(&out, 7, 0x0102_0304_0506_0707) {
        Parsed::Record(lsn, back, next) => {
            assert_eq!((lsn, next), (0x0102_0304_0506_0708, out.len()));
            assert_eq!(format!("{back:?}"), format!("{ops:?}"), "every op decodes to what was encoded");
        }
        other => panic!("not read back: {other:?}"),
    }
    assert!(matches!(parse_record(&out, 7, 0x0102_0304_0506_0708), Parsed::End), "only above `after`");
}

#[test]
fn a_cut_record_asks_for_its_length_but_zeros_an_lsn_of_0_and_a_length_past_the_guard_end_the_log() {
    let mut bytes = Vec::new();
    encode_record(&mut bytes, 5, &body(5, 100)).expect("encode");
    let len = bytes.len() - HEADER;
    assert!(matches!(parse_record(&bytes[..HEADER - 1], 0, 0), Parsed::Short(HEADER)), "a cut header");
    assert!(
        matches!(parse_record(&bytes[..HEADER + 10], 0, 0), Parsed::Short(n) if n == HEADER + len),
        "a cut payload: the whole record's size, to read that much"
    );
    assert!(matches!(parse_record(&bytes, bytes.len(), 0), Parsed::End), "nothing left");
    assert!(matches!(parse_record(&[0u8; 64], 0, 0), Parsed::End), "a zero header");
    let mut lsn_zero = bytes.clone();
    lsn_zero[8..16].fill(0);
    assert!(matches!(parse_record(&lsn_zero, 0, 0), Parsed::End), "LSN 0 is never a record");
    // A corrupt length is not a reason to read half a gigabyte more.
    let mut huge = bytes.clone();
    huge[0..4].copy_from_slice(&(MAX_RECORD as u32 + 1).to_le_bytes());
    assert!(matches!(parse_record(&huge, 0, 0), Parsed::End), "a length past MAX_RECORD");
}

#[test]
fn a_checksum_mismatch_ends_the_log_at_the_corrupt_record_though_whole_records_follow_it() {
    let mut bytes = Vec::new();
    let mut starts = Vec::new();
    for lsn in 1..=4 {
        starts.push(bytes.len());
        encode_record(&mut bytes, lsn, &body(lsn, 50)).expect("encode");
    }
    for (what, at) in [("payload", starts[1] + HEADER + 3), ("crc", starts[1] + 5)] {
        let mut corrupt = bytes.clone();
        corrupt[at] ^= 0x40;
        let (records, end, dirty) = parse_segment(&corrupt, 0);
        assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1], "{what}");
        assert_eq!((end as usize, dirty), (starts[1], true), "{what}");
    }
    // On disk: reopening stops there, zeroes the rest and writes on in its place.
    let dir = temp_dir("crc");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    let at = write(&mut log, 1..5, 50);
    let (_, path, _) = log.end();
    drop(log);
    let f = OpenOptions::new().write(true).open(&path).expect("segment");
    f.write_all_at(b"\xff", at[1].1 + HEADER as u64 + 3).expect("corrupt");
    drop(f);
    let (mut log, seen) = reopen(&dir, 0);
    assert_eq!(seen, vec![(1, 1)], "nothing from the corrupt record on");
    assert_eq!(log.end().2, at[1].1, "the log ends where the corrupt record starts");
    assert_eq!(write(&mut log, 20..21, 50), vec![(2, at[1].1)]);
    drop(log);
    assert_eq!(reopen(&dir, 0).1, vec![(1, 1), (2, 20)]);
    remove(&dir);
}

#[test]
fn reopening_zeroes_a_torn_last_record_keeps_the_segment_preallocated_and_replays_only_records_above_after() {
    let dir = temp_dir("torn");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    write(&mut log, 1..11, 200);
    let (_, path, intact) = log.end();
    // A torn write: the header and part of the payload of record 11.
    let mut torn = Vec::new();
    encode_record(&mut torn, 11, &body(11, 200)).expect("encode");
    log.file.write_all_at(&torn[..torn.len() / 2], intact).expect("torn write");
    drop(log);
    let (mut log, seen) = reopen(&dir, 4);
    assert_eq!(seen, (5..=10).map(|i| (i, i)).collect::<Vec<_>>(), "records above `after`, oldest first");
    assert_eq!((log.end().2, log.last_lsn()), (intact, 10));
    let bytes = std::fs::read(&path).expect("segment");
    assert_eq!(bytes.len() as u64, SEGMENT_BYTES, "still preallocated");
    assert!(bytes[intact as usize..].iter().all(|b| *b == 0), "the torn record is zeroed");
    assert_eq!(write(&mut log, 11..12, 200), vec![(11, intact)], "the next record goes where the torn one was");
    remove(&dir);
}

#[test]
fn a_full_segment_rotates_into_one_named_after_the_first_lsn_that_did_not_fit_and_lsns_run_on_across_segments() {
    let dir = temp_dir("rotate");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    assert_eq!(log.first_lsn(), 1, "a new log's first segment is named after LSN 1");
    let mut rotated_at = Vec::new();
    for id in 0..200 {
        let lsn = log.next_lsn();
        let mut record = Vec::new();
        encode_record(&mut record, lsn, &body(id, 100_000)).expect("encode");
        let (did_not_fit, before) = (log.room() < record.len() as u64, log.end().2);
        let at = log.append(&record, lsn).expect("append");
        if did_not_fit {
            rotated_at.push(lsn);
            assert_eq!((log.first_lsn(), at, log.end().2), (lsn, 0, record.len() as u64), "a new segment");
        } else {
            assert_eq!(at, before, "after the last record");
            assert_eq!(log.segments().lock_unpoisoned().live.len(), rotated_at.len() + 1, "no rotation while it fits");
        }
    }
    assert_eq!(rotated_at.len(), 2, "200 records of 100 kB fill two 8 MiB segments: {rotated_at:?}");
    let live = log.segments().lock_unpoisoned().live.clone();
    assert_eq!(live.iter().map(|s| s.0).collect::<Vec<_>>(), [vec![1], rotated_at.clone()].concat());
    for (i, (first, path)) in live.iter().enumerate() {
        assert_eq!(path, &segment_path(&dir, *first));
        assert_eq!(std::fs::metadata(path).expect("segment").len(), SEGMENT_BYTES);
        let next = live.get(i + 1).map_or(201, |s| s.0);
        let (records, _, _) = read_segment(path, first - 1).expect("read");
        assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), (*first..next).collect::<Vec<_>>());
    }
    drop(log);
    let (log, seen) = reopen(&dir, 0);
    assert_eq!(seen, (1..=200).map(|lsn| (lsn, lsn - 1)).collect::<Vec<_>>(), "in LSN order across segments");
    assert_eq!((log.first_lsn(), log.last_lsn()), (rotated_at[1], 200), "writes on in the newest segment");
    remove(&dir);
}

#[test]
fn a_commit_larger_than_a_segment_gets_a_segment_of_its_own_size_which_is_deleted_not_recycled() {
    let dir = temp_dir("large");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    write(&mut log, 1..2, 10);
    let big = SEGMENT_BYTES as usize + 1024 * 1024;
    write(&mut log, 2..3, big);
    let (first, path, len) = log.end();
    assert_eq!((first, std::fs::metadata(&path).expect("segment").len()), (2, len));
    assert_eq!(log.room(), 0, "exactly its own size");
    write(&mut log, 3..4, 10);
    assert_eq!(log.first_lsn(), 3, "the next commit needs a new segment");
    let segments = log.segments();
    drop(log);
    assert_eq!(reopen(&dir, 0).1, vec![(1, 1), (2, 2), (3, 3)]);
    retire_through(&segments, 2);
    let set = segments.lock_unpoisoned();
    assert_eq!(set.live.iter().map(|s| s.0).collect::<Vec<_>>(), vec![3]);
    assert_eq!(set.recycled.len(), 1, "only the full-size segment is kept for reuse");
    assert!(!path.exists(), "the oversized one is deleted");
    drop(set);
    remove(&dir);
}

#[test]
fn retiring_keeps_the_newest_segment_and_every_one_with_a_record_above_the_durable_lsn_and_recycles_at_most_two() {
    let dir = temp_dir("retire");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    // Records of about 1 MB: 8 to a segment, so segments 1, 9, 17, 25 and 33.
    write(&mut log, 1..41, 1_000_000);
    let segments = log.segments();
    let firsts = || segments.lock_unpoisoned().live.iter().map(|s| s.0).collect::<Vec<_>>();
    assert_eq!(firsts(), vec![1, 9, 17, 25, 33]);
    retire_through(&segments, 15);
    assert_eq!(firsts(), vec![9, 17, 25, 33], "segment 9 holds LSN 16, which is not durable");
    retire_through(&segments, 16);
    assert_eq!(firsts(), vec![17, 25, 33]);
    assert_eq!(names(&dir, ".spare-recycled").len(), 2, "both kept for reuse");
    retire_through(&segments, u64::MAX - 1);
    assert_eq!(firsts(), vec![33], "never the newest, which the writer writes into");
    assert_eq!(names(&dir, ".spare-recycled").len(), 2, "at most two kept");
    assert_eq!(names(&dir, "0"), vec![format!("{:020}.log", 33)], "the others are deleted");
    remove(&dir);
}

#[test]
fn a_rotation_reuses_a_recycled_segment_whose_old_records_after_the_new_ones_are_never_read() {
    let dir = temp_dir("recycle");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    write(&mut log, 1..17, 1_000_000);
    let segments = log.segments();
    retire_through(&segments, 8);
    let recycled = segments.lock_unpoisoned().recycled.clone();
    assert_eq!(recycled.len(), 1);
    let inode = std::fs::metadata(&recycled[0]).expect("recycled").ino();
    // The spare is ready too: the recycled segment goes first and the spare to the pool.
    wait_for_spare(&log);
    let spare = dir.join(format!(".spare-{}-{}.log", std::process::id(), log.spares_made));
    write(&mut log, 17..18, 1_000_000);
    let (first, path, end) = log.end();
    assert_eq!(first, 17);
    assert_eq!(std::fs::metadata(&path).expect("segment").ino(), inode, "the recycled file, renamed");
    assert_eq!(segments.lock_unpoisoned().recycled, vec![spare], "the unused spare is kept for the next rotation");
    assert!(log.spare.is_none(), "no new spare while one is in the pool");
    let bytes = std::fs::read(&path).expect("segment");
    assert!(bytes[end as usize..].iter().any(|b| *b != 0), "the old records are still there after the new one");
    assert_eq!(parse_segment(&bytes, 16).0.len(), 1, "and are not read");
    drop(log);
    let (_log, seen) = reopen(&dir, 0);
    assert_eq!(seen, (9..=17).map(|i| (i, i)).collect::<Vec<_>>());
    assert!(names(&dir, ".spare-recycled").is_empty(), "reopening starts without leftover spares");
    assert!(
        std::fs::read(&path).expect("segment")[end as usize..].iter().all(|b| *b == 0),
        "the old records are zeroed"
    );
    remove(&dir);
}

#[test]
fn a_rotation_takes_the_zero_filled_spare_when_it_is_ready_and_starts_the_next_one() {
    let dir = temp_dir("spare");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    wait_for_spare(&log);
    let spare = dir.join(format!(".spare-{}-1.log", std::process::id()));
    let meta = std::fs::metadata(&spare).expect("spare");
    assert_eq!(meta.len(), SEGMENT_BYTES, "made ahead of need at full size");
    write(&mut log, 1..10, 1_000_000);
    let (first, path, _) = log.end();
    assert_eq!(first, 9);
    assert_eq!(std::fs::metadata(&path).expect("segment").ino(), meta.ino(), "the spare, renamed");
    assert!(!spare.exists());
    assert_eq!((log.spares_made, log.spare.is_some()), (2, true), "the next spare is on its way");
    remove(&dir);
}

#[test]
fn a_record_is_read_back_only_at_its_own_segment_offset_and_lsn() {
    let dir = temp_dir("read-at");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    let at = write(&mut log, 100..103, 300);
    let segments = log.segments();
    let read = |segment, offset, lsn| read_record_at(&segments, segment, offset, lsn).map(|ops| body_id(&ops));
    assert_eq!(read(1, at[1].1, at[1].0), Some(101));
    assert_eq!(read(1, at[2].1, at[2].0), Some(102));
    assert_eq!(read(1, at[2].1, at[1].0), None, "another record's place");
    assert_eq!(read(1, at[1].1 + 1, at[1].0), None, "not a record's start");
    assert_eq!(read(2, at[1].1, at[1].0), None, "no such segment");
    assert_eq!(read(1, log.end().2, 4), None, "past the end");
    segments.lock_unpoisoned().live.clear();
    assert_eq!(read(1, at[1].1, at[1].0), None, "a retired segment");
    remove(&dir);
}

#[test]
fn a_first_commit_larger_than_a_segment_grows_the_empty_segment_which_is_listed_once_and_retired_alone() {
    let dir = temp_dir("big-first");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    let segments = log.segments();
    let firsts = || segments.lock_unpoisoned().live.iter().map(|s| s.0).collect::<Vec<_>>();
    write(&mut log, 1..2, SEGMENT_BYTES as usize + 1024 * 1024);
    assert_eq!(firsts(), vec![1], "the empty segment 1 grew; a rotation would have named a second one 1 too");
    write(&mut log, 2..3, 10);
    assert_eq!(firsts(), vec![1, 2]);
    retire_through(&segments, 1);
    assert_eq!(firsts(), vec![2]);
    let (_, path, _) = log.end();
    assert!(path.exists(), "the segment being written is never the one retired");
    drop(log);
    assert_eq!(reopen(&dir, 1).1, vec![(2, 2)]);
    remove(&dir);
}

#[test]
fn after_a_segment_whose_first_write_failed_the_next_lsn_starts_at_its_name_so_what_is_written_there_replays() {
    let dir = temp_dir("lsn-floor");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    write(&mut log, 1..3, 3_000_000);
    // A batch whose write failed used LSN 3; the next one rotated into segment 4 and its
    // sync failed, so it was refused and segment 4 is left empty.
    let _failed = log.next_lsn();
    let lsn = log.next_lsn();
    let mut buf = Vec::new();
    encode_record(&mut buf, lsn, &body(99, 3_000_000)).expect("encode");
    let at = log.append(&buf, lsn).expect("append");
    assert_eq!((log.first_lsn(), at), (4, 0), "rotated into segment 4");
    log.rewind(at);
    drop(log);

    let (mut log, seen) = reopen(&dir, 0);
    assert_eq!(seen, vec![(1, 1), (2, 2)]);
    let written = write(&mut log, 5..6, 10);
    assert!(written[0].0 >= 4, "LSN {} is below segment 4's name", written[0].0);
    log.sync().expect("sync");
    drop(log);
    assert_eq!(reopen(&dir, 0).1, vec![(1, 1), (2, 2), (written[0].0, 5)], "an acknowledged commit replays");
    remove(&dir);
}

#[test]
fn a_rewound_commit_is_zeroed_so_an_open_before_the_next_write_does_not_replay_it() {
    let dir = temp_dir("rewind-zero");
    let mut log = Log::open(&dir, 0, |_, _| panic!("empty")).expect("open");
    write(&mut log, 1..3, 100);
    let refused = write(&mut log, 3..4, 100);
    log.rewind(refused[0].1);
    assert_eq!(log.end().2, refused[0].1, "the next write goes where the refused one was");
    drop(log);
    assert_eq!(reopen(&dir, 0).1, vec![(1, 1), (2, 2)], "a refused commit is never replayed");
    remove(&dir);
}
