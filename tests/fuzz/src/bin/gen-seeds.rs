//! Writes the seed inputs of every fuzz target into `<out>/<target>/` (default
//! `tests/fuzz/seeds`): the repository's real data (HL7 samples, IRIS fixtures, config files)
//! in each target's input format, plus MLLP streams, worker protocol frames and commit-log
//! segments encoded here with the host's own types. `tests/fuzz/seed.sh` runs it; the minimised
//! result is what is committed under `tests/fuzz/corpus/`.
//!
//! Usage: gen-seeds [OUT_DIR] [EXTRA_HL7_DIR...]

// Linked for its coverage runtime: the binary is built with the fuzz targets' flags.
extern crate libfuzzer_sys;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use hie_host::engine::call::{Action, CallResult, Disposition, FailureData, FailureKind, OutcomeData, SendData};
use hie_host::journal::Op;
use hie_host::message::{Header, Status};
use hie_host::worker::protocol::{Init, StagedPack, ToEngine, ToWorker, encode};

struct Out {
    root: PathBuf,
    n: usize,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("create seed dir");
        let safe: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
        std::fs::write(dir.join(format!("{safe}")), bytes).expect("write seed");
        self.n += 1;
    }
}

fn files(dir: &Path, ext: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return v };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            v.extend(files(&p, ext));
        } else if p.extension().and_then(|x| x.to_str()).is_some_and(|x| ext.contains(&x)) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            v.push((name, std::fs::read(&p).expect("read")));
        }
    }
    v.sort();
    v
}

fn header(id: u64) -> Header {
    Header {
        id,
        session_id: id,
        correlation_id: 0,
        causation_id: 0,
        source: Arc::from("ADT_In"),
        target: Arc::from("Router"),
        priority: 6,
        created_us: 1_717_243_200_000_000,
        doc_type: "ADT^A01".into(),
        control_id: "CTRL1".into(),
        body_id: id,
        attributes: vec![("RemoteAddress".into(), "127.0.0.1:50000".into())],
        ordering_key: Some("12345".into()),
    }
}

/// `len u32 | crc32 u32 | lsn u64 | payload` (host/src/journal/log.rs `encode_record`).
fn record(out: &mut Vec<u8>, lsn: u64, ops: &[Op]) {
    let payload = postcard::to_allocvec(ops).expect("encode ops");
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(&payload);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let repo = here.join("../..");
    let root = args.get(1).map(PathBuf::from).unwrap_or_else(|| here.join("seeds"));
    let mut out = Out { root, n: 0 };
    let fixtures = repo.join("tests/fixtures/iris");

    let mut hl7 = files(&repo.join("plugin-api/hl7/tests/samples"), &["hl7"]);
    hl7.extend(files(&fixtures.join("messages"), &["hl7"]));
    hl7.extend(files(&fixtures.join("dtl/expected"), &["hl7"]));
    for extra in args.iter().skip(2) {
        hl7.extend(files(Path::new(extra), &["hl7"]));
    }

    // hl7_message: each message alone, and with path lines / edits after a NUL.
    const LINES: &str = "PID-3(2).1=943 476 5919\nPID:5.1=O'Brien^Mary|x\\y~z&w\nOBX(2)-5\nMSH-9.2=A08\n\
                         PID-5(2).1.2!\nPID-13#555^PRN~666\nPV1-50=\u{e9}t\u{e9}\nMSH-18=UNICODE UTF-8\n+ZPI|1|x\n-1\nEVN.2\nZZZ-99=\\X0D\\";
    for (name, bytes) in &hl7 {
        out.put("hl7_message", name, bytes);
        let mut v = bytes.clone();
        v.push(0);
        v.extend_from_slice(LINES.as_bytes());
        out.put("hl7_message", &format!("{name}.paths"), &v);
    }

    // mllp_framer: [max] [seed x4] stream. Pipelined frames, FS CR LF endings, junk between
    // frames, a frame without CR, an abandoned frame, an oversize frame.
    for (i, (name, bytes)) in hl7.iter().enumerate().take(8) {
        let mut s = vec![255u8, 7, 1, 3, 9];
        s.extend(hie_hl7::mllp::encode(bytes));
        out.put("mllp_framer", name, &s);
        let mut p = vec![if i % 2 == 0 { 0 } else { 200 }, 1, 2, 3, 4];
        p.extend_from_slice(b"junk\r\n");
        p.extend(hie_hl7::mllp::encode(bytes));
        p.extend_from_slice(b"\n");
        p.extend(hie_hl7::mllp::encode(b"MSH|^~\\&|A|B\r"));
        p.extend_from_slice(&[0x0B, b'x', 0x1C, 0x0B, b'y', 0x0B]);
        p.extend(hie_hl7::mllp::encode(&bytes[..bytes.len() / 2]));
        p.extend_from_slice(&[0x0B, b'a', 0x1C, b'b', 0x1C, 0x0D, 0x0A]);
        out.put("mllp_framer", &format!("{name}.pipelined"), &p);
    }
    out.put("mllp_framer", "commit-ack", &[8, 0, 0, 0, 1, 0x0B, 0x06, 0x1C, 0x0D, 0x0B, 0x15, 0x1C, 0x0D]);

    // framing: [framing] [max] [seed x4] stream, one seed per IRIS framing (the target's
    // FRAMINGS order): each message framed as that framing writes it, two per stream.
    let framed: [(&str, &[u8], &[u8]); 12] = [
        ("mllp", &[0x0B], &[0x1C, 0x0D]),
        ("mllp2-3", &[2], &[3, 0x0D]),
        ("mllp28-28", &[28], &[28, 0x0D]),
        ("ascii2-3", &[2], &[3]),
        ("ascii28-28", &[28], &[28]),
        ("asciilf", &[], &[0x0A]),
        ("asciicr", &[], &[0x0D]),
        ("ascii28", &[], &[28]),
        ("ascii77", &[], &[77]),
        ("none", &[], &[]),
        ("flexible", &[0x0B], &[0x1C, 0x0D]),
        ("flexible-bang", &[], &[0x0D]),
    ];
    for (i, (name, start, end)) in framed.iter().enumerate() {
        for (j, (msg_name, bytes)) in hl7.iter().enumerate().take(2) {
            let mut s = vec![i as u8, if j == 0 { 255 } else { 16 }, 1, 3, 9, 2];
            for _ in 0..2 {
                s.extend_from_slice(start);
                s.extend_from_slice(bytes);
                s.extend_from_slice(end);
            }
            out.put("framing", &format!("{name}.{msg_name}"), &s);
        }
    }

    // schema_paths: path lines, alone (fixture messages) and with a message.
    const PATHS: &str = "PID:5(1).1\nPID:PatientName(1).FamilyName\nPIDgrpgrp(1).ORCgrp(1).OBXgrp(2).OBX:5\n\
                         OBX(*)\nPID:3()\nPID-3.1\nPIDgrp.ZPI:2.1\nOBXgrp(k1).OBX:ObservationValue\nMSH:9.2\n\
                         3.1\nPatientName(1).GivenName\n[OBX:3.1]\nOBX(\"*\")\nROL2:4";
    out.put("schema_paths", "paths", PATHS.as_bytes());
    for (name, bytes) in hl7.iter().take(10) {
        let mut v = PATHS.as_bytes().to_vec();
        v.push(0);
        v.extend_from_slice(bytes);
        out.put("schema_paths", name, &v);
    }

    // schema_xml: the fixture category and the lookup exports (also XML).
    for (name, bytes) in files(&fixtures.join("schema"), &["xml"]) {
        out.put("schema_xml", &name, &bytes);
    }

    // production_iris / production_yaml: [selector] text.
    let mut prods = files(&fixtures.join("productions"), &["xml", "cls"]);
    prods.extend(files(&fixtures.join("production"), &["cls"]));
    prods.extend(files(&fixtures.join("settings"), &["xml"]));
    prods.extend(files(&repo.join("config/samples"), &["cls", "xml"]));
    for (name, bytes) in &prods {
        let sel = if name.ends_with(".cls") { 1 } else { 0 };
        let mut v = vec![sel];
        v.extend_from_slice(bytes);
        out.put("production_iris", name, &v);
    }
    for (name, bytes) in files(&repo.join("config"), &["yaml", "yml", "json"]) {
        if name.contains("demo") && bytes.starts_with(b"# Routing rules") {
            continue; // config/rules/demo.yaml is a rules file (routing_rules)
        }
        let mut v = vec![0u8];
        v.extend_from_slice(&bytes);
        out.put("production_yaml", &name, &v);
    }
    const YAML: &str = "production: Every Key\ndescription: the loader's documented keys\ndurability: process\n\
                        plugin_dirs: [../packs, /opt/hie/packs]\nsettings: {PurgeKeepDays: 7, SearchFields: [PID-3.1, MSH-10]}\n\
                        items:\n  - name: In\n    class: EnsLib.HL7.Service.TCPService\n    enabled: false\n\
                        execution_mode: thread_pool\n    queue_type: priority\n    queue_size: 100\n    queue_window: 50\n\
                        queue_overflow: redirect\n    overflow_target: Out\n    worker_threads: 2\n    ordering_key: PID-3.1\n\
                        pool_size: 3\n    comment: \"quoted: text\"\n    category: ADT\n\
                        adapter_settings: {Port: 2575, LocalInterface: ~}\n\
                        host_settings:\n      TargetConfigNames:\n        - Out\n        - Audit\n  - id: Out\n\
                        class: EnsLib.HL7.Operation.FileOperation\n    concurrency: 1\n";
    let mut v = vec![0u8];
    v.extend_from_slice(YAML.as_bytes());
    out.put("production_yaml", "every-key.yaml", &v);
    let json = br#"{"name": "Demo", "durability": "fsync", "settings": {"PurgeKeepDays": 3}, "items": [{"id": "ADT_In", "class": "EnsLib.HL7.Service.TCPService", "concurrency": 1, "adapter_settings": {"Port": 2575}, "host_settings": {"TargetConfigNames": ["Router", "Audit"]}}, {"id": "Router", "class": "EnsLib.HL7.MsgRouter.RoutingEngine", "enabled": false, "host_settings": {"BusinessRuleName": "rules/demo.yaml"}}]}"#;
    let mut v = vec![1u8];
    v.extend_from_slice(json);
    out.put("production_yaml", "demo.json", &v);
    let mut v = vec![1u8];
    v.extend_from_slice(br#"{"name": "Bad", "items": [{"name": "X", "class": "Y", "settings": {"Port": 1}}]}"#);
    out.put("production_yaml", "unknown-key.json", &v);

    // routing_rules: HIE's YAML rules files.
    let mut rules = files(&repo.join("config/rules"), &["yaml"]);
    rules.extend(files(&fixtures.join("productions/rules"), &["yaml"]));
    for (name, bytes) in &rules {
        out.put("routing_rules", name, bytes);
    }

    // iris_classes: rules, DTLs (supported and not), lookup tables.
    for sub in ["rules", "dtl", "lookup"] {
        for (name, bytes) in files(&fixtures.join(sub), &["xml", "cls"]) {
            out.put("iris_classes", &name, &bytes);
        }
    }

    // worker_protocol: one frame payload of every variant.
    let mut settings = BTreeMap::new();
    settings.insert("Port".to_string(), "2575".to_string());
    let pack = StagedPack { path: "/d/packs/hl7-00.so".into(), source: "/p/hl7.so".into(), sha256: "ab".into(), generation: 1 };
    let init = Init {
        item: "EPR_Out".into(),
        class: "EnsLib.HL7.Operation.TCPOperation".into(),
        pack_path: "/d/packs/hl7-0123456789abcdef.so".into(),
        pack_source: "/p/hie_pack_hl7.so".into(),
        pack_sha256: "0123456789abcdef".into(),
        pack_generation: 3,
        adapter: "EnsLib.TCP.OutboundAdapter".into(),
        settings,
        threads: 2,
        host_values: BTreeMap::new(),
        items: vec!["ADT_In".into(), "EPR_Out".into()],
        adapter_pack: Some(pack),
        run_inbound: false,
    };
    let body = hl7.first().map(|(_, b)| b.clone()).unwrap_or_default();
    let worker = [
        ToWorker::Init(Box::new(init)),
        ToWorker::Call { id: 7, header: header(7), body: body.clone() },
        ToWorker::Answer { id: 1, result: Ok(b"MSA|AA|1".to_vec()) },
        ToWorker::Answer { id: 2, result: Err((3, "timeout".into())) },
        ToWorker::Shutdown,
        ToWorker::Gate { accepting: true },
    ];
    for (i, m) in worker.iter().enumerate() {
        out.put("worker_protocol", &format!("to-worker-{i}"), &encode(m).expect("encode"));
    }
    let send = SendData { target: "EPR_Out".into(), body: Some(b"MSH|x".to_vec()), transform: "T".into(), priority: 2 };
    let ok = CallResult {
        outcome: Ok(OutcomeData {
            disposition: Disposition::Completed,
            retry_after_ms: 0,
            reason: String::new(),
            sends: vec![send.clone()],
            reply: Some(b"MSA|AA".to_vec()),
            warnings: vec!["w".into()],
        }),
        sends: vec![send.clone()],
        deferred: Some("tok".into()),
        hooks: vec!["on_message".into()],
    };
    let mut fail = FailureData::new(FailureKind::Timeout, "on_message", "too slow");
    fail.action = Action::RouteTo;
    fail.action_target = "Errors".into();
    let failed = CallResult { outcome: Err(fail), sends: vec![], deferred: None, hooks: vec![] };
    let engine = [
        ToEngine::Ready { pid: 4242 },
        ToEngine::InitFailed { reason: "no such class".into() },
        ToEngine::CallDone { id: 7, result: Box::new(ok) },
        ToEngine::CallDone { id: 8, result: Box::new(failed) },
        ToEngine::Log { level: 2, message: "hello".into() },
        ToEngine::Count { metric: "sent".into(), delta: 3 },
        ToEngine::SendSync { id: 9, caller: Some((header(7), body.clone())), send, timeout_ms: -1 },
        ToEngine::Submit {
            id: 10,
            batch: vec![(body.clone(), "file.hl7".into(), vec![("OriginalFilename".into(), "a.hl7".into())])],
            state: vec![("LastKey".into(), "42".into())],
        },
        ToEngine::State { id: 11, key: "LastKey".into() },
        ToEngine::AdapterProblem { problem: Some("connection refused".into()) },
        ToEngine::AdapterProblem { problem: None },
        ToEngine::DeferredReply { id: 12, token: "tok".into(), body: b"MSA|AA".to_vec() },
    ];
    for (i, m) in engine.iter().enumerate() {
        out.put("worker_protocol", &format!("to-engine-{i}"), &encode(m).expect("encode"));
    }

    // journal_log: [mode] segment: every Op variant, several records, then zeros; a torn
    // record; a record whose LSN does not follow.
    let h = Arc::new(header(1));
    let ops = vec![
        Op::Body { id: 1, data: Bytes::from(body.clone()), created_us: 1 },
        Op::Header { header: Arc::clone(&h), status: Status::Queued, note: None, reply: Some(Bytes::from_static(b"MSA|AA")) },
        Op::Fields { body_id: 1, fields: vec![("PID-3.1".into(), "12345".into())] },
        Op::State { item: "SQL_In".into(), key: "LastKey".into(), value: "42".into() },
    ];
    let ops2 = vec![
        Op::Finish { id: 1, status: Status::Completed, note: Some("ok".into()), reply: None, at_us: 2 },
        Op::Note { id: 1, note: "late response".into() },
        Op::SuspendQueued { target: "Gone".into(), note: "removed".into(), at_us: 3 },
    ];
    let mut seg = Vec::new();
    record(&mut seg, 1, &ops);
    record(&mut seg, 2, &ops2);
    record(&mut seg, 5, &[]);
    let mut full = seg.clone();
    full.extend_from_slice(&[0u8; 64]);
    for mode in [0u8, 1] {
        let mut v = vec![mode];
        v.extend_from_slice(&full);
        out.put("journal_log", &format!("segment-{mode}"), &v);
    }
    let mut torn = vec![0u8];
    torn.extend_from_slice(&seg[..seg.len() - 3]);
    out.put("journal_log", "torn", &torn);
    let mut stale = vec![0u8];
    stale.extend_from_slice(&seg);
    record(&mut stale, 2, &ops2);
    out.put("journal_log", "stale-lsn", &stale);
    for (i, op) in ops.iter().chain(ops2.iter()).enumerate() {
        let mut v = vec![1u8];
        record(&mut v, 1 + i as u64, std::slice::from_ref(op));
        out.put("journal_log", &format!("op-{i}"), &v);
    }

    eprintln!("gen-seeds: wrote {} seeds under {}", out.n, out.root.display());
}
