//! Issue 15: a full disk. The data directory lives on a small tmpfs the test mounts;
//! filling it gets NACKs, never an accept (CA) for a message not committed; the API shows the
//! journal unwritable and an alert fires; when space comes back the engine takes
//! messages again by itself; every message it acknowledged is delivered, and the journal
//! opens cleanly after a restart.

use hie_tests::engine::Engine;
use hie_tests::mllp::{Client, Receiver};
use hie_tests::{TempDir, free_port, hl7, wait_for};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// A tmpfs of `mib` MiB at `at`, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, mib: u32) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros to `path` until the filesystem is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![0u8; 256 * 1024];
    let mut written = 0;
    while f.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    let _ = f.sync_all();
    written
}

fn production(dir: &TempDir, in_port: u16, out_port: u16) -> PathBuf {
    let config = dir.join("production.yaml");
    std::fs::write(
        &config,
        format!(
            r#"name: DiskFull
durability: fsync
items:
  - id: In
    class: EnsLib.HL7.Service.TCPService
    adapter_settings: {{Port: {in_port}}}
    host_settings: {{TargetConfigNames: Out}}
  - id: Out
    class: EnsLib.HL7.Operation.TCPOperation
    adapter_settings: {{IPAddress: 127.0.0.1, Port: {out_port}}}
    host_settings: {{RetryInterval: 1}}
"#
        ),
    )
    .expect("production");
    config
}

#[test]
fn a_full_disk_gets_nacks_never_an_aa_shows_and_alerts_and_the_engine_resumes_when_space_comes_back() {
    let dir = TempDir::new("disk-full");
    // The engine stages copies of its packs in the data directory (debug builds are
    // large): room for them twice, and 48 MiB for the journal and the warehouse.
    let packs: u64 = std::fs::read_dir(hie_tests::target_dir().join("debug"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("libhie_pack_"))
                .filter_map(|e| e.metadata().ok().map(|m| m.len()))
                .sum()
        })
        .unwrap_or(0);
    let mib = u32::try_from(packs * 2 / (1024 * 1024)).unwrap_or(4096) + 48;
    let Some(disk) = SmallDisk::mount(&dir.join("fs"), mib) else {
        eprintln!("SKIPPED a_full_disk...: cannot mount a tmpfs here (needs root and mount(8))");
        return;
    };
    let (in_port, out_port) = (free_port(), free_port());
    let receiver = Receiver::start(out_port);
    let config = production(&dir, in_port, out_port);
    let data = disk.0.join("data");
    let mut engine = Engine::start(&config, &data, &[]);
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("FIRST", "M")).expect("ack")), "CA");

    // Fill what is left; the journal still has the room it set aside (its current and
    // spare segments), so big messages use that up until commits fail.
    let filler = disk.0.join("filler");
    let filled = fill(&filler);
    eprintln!("disk full: {filled} bytes of filler");
    let note = "X".repeat(60_000);
    let (mut acked, mut refused) = (vec!["FIRST".to_string()], None);
    for i in 0..2_000 {
        let id = format!("BIG{i}");
        let reply = client.send(&hl7::with_note(hl7::adt(&id, "M"), &note)).expect("a reply, not a dropped connection");
        match hl7::ack_code(&reply).as_str() {
            code if hl7::is_accept_code(code) => acked.push(id),
            code => {
                refused = Some((id, code.to_string(), String::from_utf8_lossy(&reply).into_owned()));
                break;
            }
        }
    }
    let (refused_id, code, text) = refused.expect("a NACK once the disk is full");
    eprintln!("disk full: {} messages acknowledged, then {code} for {refused_id}", acked.len());
    // A commit that failed is a system error: CR for the v2.4 message (docs/iris-settings.md §9.1.4).
    assert_eq!(code, "CR", "{text}");
    assert!(text.contains("ERR"), "the NACK carries an ERR segment: {text}");
    // More senders keep getting NACKs, never an accept, while the disk is full.
    for i in 0..5 {
        let reply = client.send(&hl7::adt(&format!("FULL{i}"), "M")).expect("reply");
        assert!(
            hl7::is_nack(&reply),
            "a NACK for a message that cannot be committed: {}",
            String::from_utf8_lossy(&reply)
        );
    }
    assert_eq!(engine.production()["journal_writable"], false, "the API shows the journal unwritable");
    wait_for(T, "the journal alert", || {
        let alerts = engine.get("/api/alerts");
        alerts["alerts"].as_array().is_some_and(|a| a.iter().any(|x| x["kind"] == "journal_unwritable")).then_some(())
    });

    // Space comes back: intake resumes by itself.
    std::fs::remove_file(&filler).expect("remove the filler");
    let ack = wait_for(T, "an accept once there is space", || {
        client.send(&hl7::adt("AFTER", "M")).ok().filter(|a| hl7::accepted(a))
    });
    assert_eq!(hl7::ack_code(&ack), "CA");
    acked.push("AFTER".into());
    wait_for(T, "the journal writable again", || (engine.production()["journal_writable"] == true).then_some(()));

    // Everything acknowledged is delivered; nothing refused is.
    wait_for(T, "every acknowledged message delivered", || {
        let got: std::collections::HashSet<String> = receiver.control_ids().into_iter().collect();
        acked.iter().all(|id| got.contains(id)).then_some(())
    });
    let got = receiver.control_ids();
    assert!(!got.contains(&refused_id) && !got.iter().any(|id| id.starts_with("FULL")), "a refused message went on");

    // Nothing is corrupted: the engine opens its journal again and takes messages.
    engine.terminate();
    engine.restart();
    let mut client = Client::connect_retry(in_port);
    assert_eq!(hl7::ack_code(&client.send(&hl7::adt("RESTARTED", "M")).expect("ack")), "CA");
    receiver.wait_for_count(acked.len() + 1, T);
    drop(engine);
}
