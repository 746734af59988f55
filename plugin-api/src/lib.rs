//! # hie-plugin-api: the HIE plugin ABI and SDK
//!
//! HIE item classes live in shared-library *packs* (`.so`) that the `hie` host loads at run
//! time. This crate is both sides of that boundary:
//!
//! - [`abi`]: the FFI-safe types the host and packs exchange (abi_stable checks their
//!   layout at load time). This is a compatibility promise: see the rules in [`abi`].
//! - the SDK: the plain-Rust [`Item`] trait a plugin author implements, the [`Context`]
//!   it receives, [`Message`], [`Outcome`], [`ClassDef`] and the [`export_pack!`] macro.
//!   The SDK converts between plain Rust and the ABI and catches every panic at the
//!   boundary, turning it into an error the host handles (a panic crossing an
//!   `extern "C"` function would abort the whole engine).
//! - [`hl7`]: HIE's HL7 v2 codec, re-exported so packs parse messages the way the host does.
//!
//! ## Invariants
//! - Plugin code never needs its own async runtime or logger: the host provides logging,
//!   metrics, messaging and adapter I/O through [`Context`].
//! - One item instance is called from one thread at a time (`&mut self`); concurrency
//!   comes from the host running several instances.
//! - Message bodies cross the boundary as borrowed byte slices in and owned `RVec<u8>` out.
//!
//! See `plugins/example` for a complete pack and its README for a walkthrough.

pub mod abi;
pub mod adapter;
mod class;
mod context;
pub mod credentials;
mod error;
mod export;
mod item;
mod message;
mod outcome;
pub mod settings;

pub use class::{ClassDef, SettingDef};
pub use context::{AdapterResponse, Context, LogLevel, send_deferred_reply};
pub use error::{Error, ErrorKind};
pub use item::Item;
pub use message::Message;
pub use outcome::{ErrorAction, Outcome, Send};

pub use abi::ItemKind;
/// HIE's HL7 v2 codec.
pub use hie_hl7 as hl7;

/// The ABI generation this crate implements. Hosts refuse packs built for a different one.
pub const ABI_VERSION: u32 = 1;

/// The ABI minor this crate implements within [`ABI_VERSION`]: 1 (adapters in packs). A
/// host refuses a pack that needs a higher minor than its own; every lower minor loads.
pub const ABI_MINOR: u32 = 1;

/// Names of the host adapters a class can be paired with ([`ClassDef::adapter`]).
pub mod adapters {
    /// MLLP over TCP, inbound: a listener that frames HL7 messages and returns ACKs.
    pub const TCP_MLLP_INBOUND: &str = "tcp-mllp-inbound";
    /// MLLP over TCP, outbound: a client that sends a frame and reads the reply.
    pub const TCP_MLLP_OUTBOUND: &str = "tcp-mllp-outbound";
    /// Polls a directory for files and takes in the messages they hold.
    pub const FILE_INBOUND: &str = "file-inbound";
    /// Writes files atomically (temporary name, then rename).
    pub const FILE_OUTBOUND: &str = "file-outbound";
    /// Calls an HTTP service (IRIS EnsLib.HTTP.OutboundAdapter settings).
    pub const HTTP_OUTBOUND: &str = "http-outbound";
    /// Listens for HTTP requests; each POST body is a message, the reply the response
    /// (IRIS EnsLib.HTTP.InboundAdapter settings).
    pub const HTTP_INBOUND: &str = "http-inbound";
    /// Polls a directory on an FTP, FTPS or SFTP server (IRIS `EnsLib.FTP.InboundAdapter`
    /// settings; `Protocol` picks the protocol).
    pub const FTP_INBOUND: &str = "ftp-inbound";
    /// Writes files to an FTP, FTPS or SFTP server under a temporary name, then renames
    /// them (IRIS `EnsLib.FTP.OutboundAdapter` settings).
    pub const FTP_OUTBOUND: &str = "ftp-outbound";

    /// The IRIS settings of the FTP adapters that HIE accepts without effect, for the
    /// classes on [`FTP_INBOUND`] (`inbound`) or [`FTP_OUTBOUND`] to declare, so a
    /// genuine IRIS setting is never "unknown". The settings the adapters read are the
    /// host's adapter registry's.
    pub fn ftp_unsupported_settings(inbound: bool) -> Vec<crate::SettingDef> {
        use crate::SettingDef;
        let mut v = vec![
            SettingDef::adapter("SSLCheckServerIdentity", "1", "FTPS: check the server's name (HIE always does)")
                .unsupported(),
            SettingDef::adapter("SFTPPublicKeyFile", "", "SFTP: public half of the key (HIE reads the private key)")
                .unsupported(),
            SettingDef::adapter(
                "SFTPAuthenticationMethods",
                "",
                "SFTP: the order of methods (HIE: key, else password)",
            )
            .unsupported(),
            SettingDef::adapter("CommandTranslateTable", "RAW", "charset of FTP commands").unsupported(),
            SettingDef::adapter("Charset", "Binary", "character set of the files (HIE moves bytes)").unsupported(),
            SettingDef::adapter("ServerListStyle", "UNIX", "listing format (HIE reads UNIX and MS-DOS)").unsupported(),
        ];
        if inbound {
            v.extend([
                SettingDef::adapter("StayConnected", "-1", "keep the session between polls (HIE: one per poll)")
                    .unsupported(),
                SettingDef::adapter(
                    "AppendTimestamp",
                    "1",
                    "timestamp archived names (HIE: only when the name is taken)",
                )
                .unsupported(),
                SettingDef::adapter("ConfirmComplete", "0", "how to be sure a file is complete").unsupported(),
                SettingDef::adapter("FileAccessTimeout", "2", "seconds a file must go unmodified").unsupported(),
                SettingDef::adapter("SemaphoreSpec", "", "semaphore files").unsupported(),
                SettingDef::adapter("SubdirectoryLevels", "0", "poll subdirectories").unsupported(),
                SettingDef::adapter("WorkPath", "", "local directory for files being processed").unsupported(),
            ]);
        }
        v
    }
}

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{
        PackExtras, create_inbound_adapter, create_item, create_outbound_adapter, manifest, manifest_ext,
    };
    pub use abi_stable;
}
