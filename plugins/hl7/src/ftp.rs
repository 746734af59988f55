//! HL7 v2 over FTP, FTPS and SFTP: `EnsLib.HL7.Service.FTPService` on the host's
//! `ftp-inbound` adapter and `EnsLib.HL7.Operation.FTPOperation` on its `ftp-outbound`
//! adapter (docs/iris-settings.md §4.5, §5.5). `Protocol` picks FTP, FTPS or SFTP, as
//! in IRIS, where one adapter speaks all three.
//!
//! # Invariants
//! - The service is the file service's class on the FTP poller, the operation the file
//!   operation's on the FTP writer: the same parse, `BatchHandling`, `AckMode`,
//!   `Separators` and `Filename`, not a copy. Only the class name, the adapter and the
//!   adapter settings differ (the adapter's own come from the host's registry).

use crate::{operations, services};
use hie_plugin_api::{ClassDef, adapters};

/// `EnsLib.HL7.Service.FTPService`.
pub fn ftp_service() -> ClassDef {
    services::file_service()
        .on_adapter("EnsLib.HL7.Service.FTPService", adapters::FTP_INBOUND)
        .doc("takes HL7 v2 messages (single, many or FHS/BHS batches) from files on an FTP, FTPS or SFTP server")
        .settings(adapters::ftp_unsupported_settings(true))
}

/// `EnsLib.HL7.Operation.FTPOperation`.
pub fn ftp_operation() -> ClassDef {
    operations::file_operation()
        .on_adapter("EnsLib.HL7.Operation.FTPOperation", adapters::FTP_OUTBOUND)
        .doc("writes each HL7 v2 message as a file on an FTP, FTPS or SFTP server (temporary name, then rename)")
        .settings(adapters::ftp_unsupported_settings(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ftp_classes_are_the_file_classes_on_the_ftp_adapters_without_file_adapter_settings() {
        let s = ftp_service();
        assert_eq!((s.name, s.adapter), ("EnsLib.HL7.Service.FTPService", adapters::FTP_INBOUND));
        let has = |c: &ClassDef, n: &str| c.settings.iter().any(|d| d.name == n);
        assert!(has(&s, "BatchHandling") && has(&s, "AckMode") && has(&s, "TargetConfigNames"));
        assert!(!has(&s, "FilePath"), "the adapter's own settings come from the host's registry");
        let o = ftp_operation();
        assert_eq!(o.adapter, adapters::FTP_OUTBOUND);
        assert!(has(&o, "Filename") && has(&o, "Separators") && !has(&o, "Overwrite"));
        for c in [&s, &o] {
            let mut names: Vec<_> = c.settings.iter().map(|d| d.name).collect();
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(n, names.len(), "each setting declared once in {}", c.name);
        }
    }
}
