//! `EnsLib.File.PassthroughService` and `EnsLib.File.PassthroughOperation`: files of
//! any content, moved as they are.
//!
//! The service runs on the host's `file-inbound` adapter with `FileFraming=Whole` (its
//! class default), so each file, HL7 or not, is one message whose body is the file's
//! bytes, with the adapter's `OriginalFilename` attribute (IRIS's
//! `Ens.StreamContainer`). The operation runs on the host's `file-outbound` adapter and
//! writes the body unchanged under `Filename` (IRIS specifiers, `%f_%Q` by default; the
//! host expands them, `%f` from `OriginalFilename`).
//!
//! # Invariants
//! - Bytes are never decoded, re-encoded or split: what was read is what is written.
//! - The service replies nothing (a file has no sender to answer); the file is archived
//!   or deleted by the adapter only once its message is committed.

use crate::common::{operation_settings, retry_interval, service_settings};
use hie_plugin_api::{ClassDef, Context, Error, ErrorAction, Item, ItemKind, Message, Outcome, SettingDef, adapters};
use std::time::Duration;

/// The IRIS default of the operation's `Filename`.
pub const DEFAULT_FILENAME: &str = "%f_%Q";

/// `EnsLib.File.PassthroughService`.
pub fn service_class() -> ClassDef {
    ClassDef::new("EnsLib.File.PassthroughService", ItemKind::Service, |ctx| {
        Ok(Box::new(PassthroughService { targets: ctx.setting_list("TargetConfigNames") }))
    })
    .adapter(adapters::FILE_INBOUND)
    .doc("takes each file in a directory whole, any content, and forwards it unchanged")
    .settings([SettingDef::host("TargetConfigNames", "", "comma-separated items that receive every file")])
    .settings(service_settings())
    .settings([
        SettingDef::adapter("FilePath", "", "directory to poll (required)"),
        SettingDef::adapter("FileSpec", "*", "file name pattern(s), `;`-separated, with * and ?"),
        SettingDef::adapter("ArchivePath", "", "move files here once their message is committed"),
        SettingDef::adapter("DeleteFromServer", "1", "delete files once committed when there is no ArchivePath"),
        SettingDef::adapter("CallInterval", "5", "seconds between polls"),
        SettingDef::adapter(
            "FileFraming",
            "Whole",
            "Whole: each file is one message, its bytes as they are (HIE; HL7 would split HL7 files)",
        ),
        SettingDef::adapter("WorkPath", "", "directory for files being processed").unsupported(),
        SettingDef::adapter("Charset", "Default", "character set of the files (HIE never translates)").unsupported(),
        SettingDef::adapter("AppendTimestamp", "1", "append a timestamp to archived names").unsupported(),
        SettingDef::adapter("SemaphoreSpec", "", "semaphore files").unsupported(),
        SettingDef::adapter("SubdirectoryLevels", "0", "poll subdirectories").unsupported(),
        SettingDef::adapter(
            "ConfirmComplete",
            "1",
            "how to be sure a file is complete: 1 = its size has stopped changing for FileAccessTimeout (other bits: HIE's 200 ms settle)",
        ),
        SettingDef::adapter(
            "FileAccessTimeout",
            "2",
            "with ConfirmComplete 1: seconds a file must go unmodified before it is taken",
        ),
    ])
}

/// Forwards every file to `TargetConfigNames`.
struct PassthroughService {
    targets: Vec<String>,
}

impl Item for PassthroughService {
    fn on_init(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        if self.targets.is_empty() {
            ctx.warn("TargetConfigNames is empty: files are taken in but go nowhere");
        }
        Ok(())
    }

    fn process(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>) -> Result<Outcome, Error> {
        Ok(Outcome::completed().forward_to(self.targets.iter().cloned()))
    }
}

/// `EnsLib.File.PassthroughOperation`.
pub fn operation_class() -> ClassDef {
    ClassDef::new("EnsLib.File.PassthroughOperation", ItemKind::Operation, |ctx| {
        Ok(Box::new(PassthroughOperation {
            filename: ctx.setting_or("Filename", DEFAULT_FILENAME),
            retry: retry_interval(ctx),
        }))
    })
    .adapter(adapters::FILE_OUTBOUND)
    .doc("writes each message's body to a file unchanged (atomically: temporary name, then rename)")
    .settings(operation_settings("15"))
    .settings([
        SettingDef::host(
            "Filename",
            DEFAULT_FILENAME,
            "file name with specifiers: %f source file name, %Q timestamp, %!+(_a) unique suffix",
        ),
        SettingDef::adapter("FilePath", "", "directory to write to (required)"),
        SettingDef::adapter("Overwrite", "0", "1 replaces an existing file; 0 appends to it (atomically)"),
        SettingDef::adapter("Charset", "Default", "character set of the files (HIE never translates)").unsupported(),
        SettingDef::adapter("OpenTimeout", "5", "seconds to wait to open a file").unsupported(),
    ])
}

/// The file writer's call parameters for message `id` from `original` (the source
/// file's name, empty when the message did not come from a file): IRIS's `%f` is the
/// source file name, or `message<id>` when there is none.
pub fn write_params(filename: &str, original: &str, id: u64) -> Vec<(&'static str, String)> {
    vec![
        ("Filename", filename.to_string()),
        ("OriginalFilename", original.to_string()),
        ("DefaultName", format!("message{id}")),
    ]
}

/// Writes bodies as they are.
struct PassthroughOperation {
    filename: String,
    retry: Duration,
}

impl Item for PassthroughOperation {
    fn process(&mut self, ctx: &Context<'_>, msg: &Message<'_>) -> Result<Outcome, Error> {
        let params = write_params(&self.filename, msg.attribute("OriginalFilename").unwrap_or(""), msg.id());
        let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let written = ctx.adapter_call(msg.body(), &refs)?;
        if let Some((_, path)) = written.params.iter().find(|(k, _)| k == "Path") {
            ctx.debug(&format!("wrote {path}"));
        }
        Ok(Outcome::completed())
    }

    /// A file that cannot be written (a full disk, a missing mount) may be writable
    /// later: retried every `RetryInterval` until `FailureTimeout`.
    fn on_process_error(&mut self, _ctx: &Context<'_>, _msg: &Message<'_>, _error: &Error) -> ErrorAction {
        ErrorAction::Retry(self.retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_file_name_feeds_percent_f_and_a_message_without_one_gets_a_default_name() {
        let p = write_params("%f_%Q", "/in/report.pdf", 7);
        assert_eq!(p[0], ("Filename", "%f_%Q".to_string()));
        assert_eq!(p[1], ("OriginalFilename", "/in/report.pdf".to_string()));
        assert_eq!(p[2], ("DefaultName", "message7".to_string()));
    }

    #[test]
    fn the_service_takes_files_whole_and_the_operation_defaults_to_iris_filename() {
        let s = service_class();
        let framing = s.settings.iter().find(|d| d.name == "FileFraming").expect("FileFraming");
        assert_eq!(framing.default, "Whole");
        assert_eq!(s.adapter, adapters::FILE_INBOUND);
        let o = operation_class();
        let filename = o.settings.iter().find(|d| d.name == "Filename").expect("Filename");
        assert_eq!(filename.default, "%f_%Q");
        assert_eq!(o.adapter, adapters::FILE_OUTBOUND);
    }
}
