//! Issue 17 item 7: HL7 batches (FHS/BHS ... BTS/FTS) over MLLP and from files, handled
//! as IRIS's `BatchHandling` says, answered with one batch of ACKs mirroring the input
//! (docs/iris-settings.md §9.5).

use hie_tests::engine::Engine;
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, finished_files, free_port, hl7, wait_for};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// An FHS/BHS batch of `ids`' ADT messages (v2.4), with correct trailer counts.
fn batch(ids: &[&str]) -> Vec<u8> {
    let mut b = b"FHS|^~\\&|PAS|RXX|||20260101120000\rBHS|^~\\&|PAS|RXX|||20260101120000\r".to_vec();
    for id in ids {
        b.extend_from_slice(&hl7::adt(id, &format!("M{id}")));
    }
    b.extend_from_slice(format!("BTS|{}\rFTS|1\r", ids.len()).as_bytes());
    b
}

/// An MLLP service with `batch_handling` sending to an MLLP operation on `out_port`.
fn production(dir: &TempDir, in_port: u16, out_port: u16, batch_handling: &str) -> std::path::PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: Batches\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.TCPService\n    adapter_settings: {{Port: {in_port}}}\n    host_settings: {{TargetConfigNames: Out, BatchHandling: {batch_handling}}}\n  - id: Out\n    class: EnsLib.HL7.Operation.TCPOperation\n    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}\n"
        ),
    )
    .unwrap();
    config
}

/// The segments of a reply, split at CR.
fn segments(reply: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(reply).split('\r').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The MSA segments of a batch reply.
fn msas(reply: &[u8]) -> Vec<String> {
    segments(reply).into_iter().filter(|s| s.starts_with("MSA|")).collect()
}

#[test]
fn an_mllp_batch_in_one_frame_is_forwarded_message_by_message_and_answered_with_one_batch_of_acks() {
    for mode in ["1Session", "Indiv", "Batch"] {
        let dir = TempDir::new(&format!("batch-mllp-{mode}"));
        let (in_port, out_port) = (free_port(), free_port());
        let receiver = Receiver::start(out_port);
        let _engine = Engine::start(&production(&dir, in_port, out_port, mode), &dir.join("data"), &[]);
        let mut client = Client::connect_retry(in_port);
        let reply = client.send(&batch(&["B1", "B2", "B3"])).unwrap();
        let segs = segments(&reply);
        assert_eq!(segs.first().map(String::as_str), Some("FHS|^~\\&"), "{mode}: {segs:?}");
        assert_eq!(segs.get(1).map(String::as_str), Some("BHS|^~\\&"), "{mode}: {segs:?}");
        assert_eq!(segs[segs.len() - 2..], ["BTS|3", "FTS|1"], "{mode}: {segs:?}");
        assert_eq!(msas(&reply), ["MSA|CA|B1", "MSA|CA|B2", "MSA|CA|B3"], "{mode}: one ACK per message, in order");
        receiver.wait_for_count(3, T);
        assert_eq!(receiver.control_ids(), ["B1", "B2", "B3"], "{mode}: each message on its own, in order");
    }
}

#[test]
fn a_bad_message_in_a_batch_is_nacked_inside_the_batch_reply_and_only_the_good_ones_are_forwarded() {
    let dir = TempDir::new("batch-bad");
    let (in_port, out_port) = (free_port(), free_port());
    let receiver = Receiver::start(out_port);
    let _engine = Engine::start(&production(&dir, in_port, out_port, "1Session"), &dir.join("data"), &[]);
    let mut body = batch(&["G1", "X2", "G3"]);
    // X2 loses its MSH-9: a content error (AE, or CE with commit codes).
    let text = String::from_utf8(body).unwrap().replace("||ADT^A01^ADT_A01|X2|", "|||X2|");
    body = text.into_bytes();
    let mut client = Client::connect_retry(in_port);
    let reply = client.send(&body).unwrap();
    let m = msas(&reply);
    assert_eq!(m.len(), 3, "{:?}", segments(&reply));
    assert_eq!((m[0].as_str(), m[2].as_str()), ("MSA|CA|G1", "MSA|CA|G3"));
    assert!(m[1].starts_with("MSA|CE|X2"), "the bad message's NACK in its place: {m:?}");
    assert!(segments(&reply).iter().any(|s| s.starts_with("ERR|")), "with its ERR segment");
    receiver.wait_for_count(2, T);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.control_ids(), ["G1", "G3"], "the rejected message is not forwarded");
}

#[test]
fn whole_batch_forwards_the_batch_as_one_document() {
    let dir = TempDir::new("batch-whole");
    let (in_port, out_port) = (free_port(), free_port());
    let receiver = Receiver::start(out_port);
    let _engine = Engine::start(&production(&dir, in_port, out_port, "Whole"), &dir.join("data"), &[]);
    let sent = batch(&["W1", "W2"]);
    let mut client = Client::connect_retry(in_port);
    let reply = client.send(&sent).unwrap();
    assert_eq!(msas(&reply), ["MSA|CA|W1", "MSA|CA|W2"]);
    receiver.wait_for_count(1, T);
    let got = receiver.messages();
    assert_eq!(got.len(), 1, "one document");
    assert!(got[0].starts_with(b"FHS|") && got[0].ends_with(b"FTS|1\r"), "{}", String::from_utf8_lossy(&got[0]));
    assert_eq!(segments(&got[0]).iter().filter(|s| s.starts_with("MSH|")).count(), 2);
}

#[test]
fn a_batch_file_is_split_by_batch_handling_and_its_batch_of_acks_goes_to_ack_target_config_names() {
    let dir = TempDir::new("batch-file");
    let (inbox, out, acks) = (dir.join("in"), dir.join("out"), dir.join("acks"));
    for d in [&inbox, &out, &acks] {
        std::fs::create_dir_all(d).unwrap();
    }
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            "name: BatchFiles\nitems:\n  - id: In\n    class: EnsLib.HL7.Service.FileService\n    adapter_settings: {{FilePath: {}, CallInterval: 1}}\n    host_settings: {{TargetConfigNames: Out, BatchHandling: Indiv, AckMode: Immed, AckTargetConfigNames: Acks}}\n  - id: Out\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n    host_settings: {{Filename: \"%f_%Q%!+(_a).hl7\"}}\n  - id: Acks\n    class: EnsLib.HL7.Operation.FileOperation\n    adapter_settings: {{FilePath: {}}}\n    host_settings: {{Filename: \"ack_%Q%!+(_a).hl7\"}}\n",
            inbox.display(),
            out.display(),
            acks.display()
        ),
    )
    .unwrap();
    let _engine = Engine::start(&config, &dir.join("data"), &[]);
    std::fs::write(inbox.join(".b.tmp"), batch(&["F1", "F2"])).unwrap();
    std::fs::rename(inbox.join(".b.tmp"), inbox.join("batch.hl7")).unwrap();
    let written = wait_for(T, "two message files", || finished_files(&out).filter(|f| f.len() == 2));
    let mut ids: Vec<String> = written.iter().map(|f| hl7::control_id(&std::fs::read(f).unwrap())).collect();
    ids.sort();
    assert_eq!(ids, ["F1", "F2"]);
    let ack_files = wait_for(T, "one batch ACK file", || finished_files(&acks).filter(|f| f.len() == 1));
    let ack = std::fs::read(&ack_files[0]).unwrap();
    assert_eq!(msas(&ack), ["MSA|CA|F1", "MSA|CA|F2"], "{}", String::from_utf8_lossy(&ack));
    assert!(ack.starts_with(b"FHS|") && segments(&ack).contains(&"BTS|2".to_string()));
}
