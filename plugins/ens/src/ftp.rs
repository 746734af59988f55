//! `EnsLib.FTP.PassthroughService` and `EnsLib.FTP.PassthroughOperation`: files of any
//! content moved as they are, to and from an FTP, FTPS or SFTP server.
//!
//! # Invariants
//! - They are the file passthrough classes ([`crate::file`]) on the host's `ftp-inbound`
//!   and `ftp-outbound` adapters: the same constructors and host settings; the service
//!   takes every file whole (`FileFraming=Whole`), bytes never decoded or split.

use crate::file;
use hie_plugin_api::{ClassDef, SettingDef, adapters};

/// `EnsLib.FTP.PassthroughService`.
pub fn service_class() -> ClassDef {
    file::service_class()
        .on_adapter("EnsLib.FTP.PassthroughService", adapters::FTP_INBOUND)
        .doc("takes each file in a directory on an FTP, FTPS or SFTP server whole, any content, and forwards it unchanged")
        .settings(adapters::ftp_unsupported_settings(true))
        .settings([SettingDef::adapter(
            "FileFraming",
            "Whole",
            "Whole: each file is one message, its bytes as they are (HIE; HL7 would split HL7 files)",
        )])
}

/// `EnsLib.FTP.PassthroughOperation`.
pub fn operation_class() -> ClassDef {
    file::operation_class()
        .on_adapter("EnsLib.FTP.PassthroughOperation", adapters::FTP_OUTBOUND)
        .doc("writes each message's body unchanged as a file on an FTP, FTPS or SFTP server (temporary name, then rename)")
        .settings(adapters::ftp_unsupported_settings(false))
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
