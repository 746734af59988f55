//! `EnsLib.FTP.PassthroughService` and `EnsLib.FTP.PassthroughOperation`: files of any
//! content moved as they are, to and from an FTP, FTPS or SFTP server.
//!
//! # Invariants
//! - They are the file passthrough classes ([`crate::file`]) on the host's `ftp-inbound`
//!   and `ftp-outbound` adapters: the same constructors and host settings; the service
//!   takes every file whole (`FileFraming=Whole`), bytes never decoded or split.

use crate::file;
use hie_plugin_api::abi::SettingTarget;
use hie_plugin_api::{ClassDef, ItemKind, SettingDef, adapters};

/// `class` on `adapter`, keeping its host settings only.
fn on_ftp(class: ClassDef, name: &'static str, kind: ItemKind, adapter: &'static str, doc: &'static str) -> ClassDef {
    let host: Vec<SettingDef> = class.settings.iter().filter(|s| s.target == SettingTarget::Host).cloned().collect();
    ClassDef::new(name, kind, class.constructor)
        .adapter(adapter)
        .doc(doc)
        .settings(host)
        .settings(adapters::ftp_unsupported_settings(adapter == adapters::FTP_INBOUND))
}

/// `EnsLib.FTP.PassthroughService`.
pub fn service_class() -> ClassDef {
    on_ftp(
        file::service_class(),
        "EnsLib.FTP.PassthroughService",
        ItemKind::Service,
        adapters::FTP_INBOUND,
        "takes each file in a directory on an FTP, FTPS or SFTP server whole, any content, and forwards it unchanged",
    )
    .settings([SettingDef::adapter(
        "FileFraming",
        "Whole",
        "Whole: each file is one message, its bytes as they are (HIE; HL7 would split HL7 files)",
    )])
}

/// `EnsLib.FTP.PassthroughOperation`.
pub fn operation_class() -> ClassDef {
    on_ftp(
        file::operation_class(),
        "EnsLib.FTP.PassthroughOperation",
        ItemKind::Operation,
        adapters::FTP_OUTBOUND,
        "writes each message's body unchanged as a file on an FTP, FTPS or SFTP server (temporary name, then rename)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ftp_passthrough_classes_take_files_whole_on_the_ftp_adapters() {
        let s = service_class();
        assert_eq!((s.name, s.adapter), ("EnsLib.FTP.PassthroughService", adapters::FTP_INBOUND));
        let framing = s.settings.iter().find(|d| d.name == "FileFraming").map(|d| d.default);
        assert_eq!(framing, Some("Whole"));
        assert!(s.settings.iter().any(|d| d.name == "TargetConfigNames"));
        let o = operation_class();
        assert_eq!(o.adapter, adapters::FTP_OUTBOUND);
        assert!(o.settings.iter().any(|d| d.name == "Filename") && !o.settings.iter().any(|d| d.name == "Overwrite"));
    }
}
