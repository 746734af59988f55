//! The adapter registry: every adapter the host and the loaded packs provide, with its
//! direction, typed settings and the resources it claims. Validation consults it, so a
//! class that names an adapter nobody provides, a malformed or missing adapter setting,
//! and two items claiming one port or one directory are errors before anything runs.
//!
//! # Invariants
//! - One name, one provider: a second provider of a name is refused, naming both.
//! - Every setting an adapter reads is declared here with its kind; the adapter reads
//!   it with [`hie_plugin_api::settings`], the same reader validation checked it with.

use hie_plugin_api::adapters;
use hie_plugin_api::settings::SettingKind;
use std::collections::BTreeMap;

/// Which way an adapter moves messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Takes messages in (a service's adapter).
    Inbound,
    /// Sends messages out (an operation's adapter).
    Outbound,
}

/// One setting an adapter reads.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterSetting {
    /// Name as IRIS spells it.
    pub name: String,
    /// What kind of value it holds.
    #[serde(serialize_with = "describe_kind")]
    pub kind: SettingKind,
    /// Default when neither the item nor its class sets it; empty for none.
    pub default: String,
    /// Whether the adapter cannot start without a value.
    pub required: bool,
    /// One line for `hie plugins`.
    pub doc: String,
}

fn describe_kind<S: serde::Serializer>(k: &SettingKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&k.describe())
}

/// A resource an adapter takes for itself: two enabled items may not claim the same one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    /// A listening TCP port: the setting holding the port, and the one holding the local
    /// address (empty = every interface, which overlaps any address).
    ListenPort {
        /// Setting with the port.
        port: String,
        /// Setting with the local interface, if the adapter has one.
        interface: Option<String>,
    },
    /// A directory the adapter polls and empties.
    Directory {
        /// Setting with the path.
        setting: String,
    },
}

/// Who provides an adapter.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Built into the host.
    Host,
    /// A pack: its name and version.
    Pack {
        /// Pack name.
        name: String,
        /// Pack version.
        version: String,
    },
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provider::Host => write!(f, "the host"),
            Provider::Pack { name, version } => write!(f, "pack {name} {version}"),
        }
    }
}

/// An adapter as the registry knows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterSpec {
    /// The name classes pair with (e.g. `tcp-mllp-inbound`).
    pub name: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// One line for `hie plugins`.
    pub doc: String,
    /// The settings it reads.
    pub settings: Vec<AdapterSetting>,
    /// What it claims.
    pub claims: Vec<Claim>,
    /// Who provides it.
    pub provider: Provider,
}

impl AdapterSpec {
    /// The declared setting called `name`.
    pub fn setting(&self, name: &str) -> Option<&AdapterSetting> {
        self.settings.iter().find(|s| s.name == name)
    }
}

/// Every adapter the engine can pair a class with.
#[derive(Clone, Debug, Default)]
pub struct AdapterRegistry {
    specs: BTreeMap<String, AdapterSpec>,
}

impl AdapterRegistry {
    /// The host's own adapters.
    pub fn with_host_adapters() -> AdapterRegistry {
        let mut r = AdapterRegistry::default();
        for spec in host_adapters() {
            r.specs.insert(spec.name.clone(), spec);
        }
        r
    }

    /// Adds an adapter; a name that is already provided is refused, naming both providers.
    pub fn register(&mut self, spec: AdapterSpec) -> Result<(), String> {
        if let Some(first) = self.specs.get(&spec.name) {
            return Err(format!(
                "adapter {} is provided by {} and again by {}: the second is refused",
                spec.name, first.provider, spec.provider
            ));
        }
        self.specs.insert(spec.name.clone(), spec);
        Ok(())
    }

    /// The adapter called `name`.
    pub fn get(&self, name: &str) -> Option<&AdapterSpec> {
        self.specs.get(name)
    }

    /// Forgets every adapter `provider` registered (its pack is being replaced).
    pub fn remove_provider(&mut self, provider: &Provider) {
        self.specs.retain(|_, spec| &spec.provider != provider);
    }

    /// Every adapter, by name.
    pub fn all(&self) -> impl Iterator<Item = &AdapterSpec> {
        self.specs.values()
    }
}

fn setting(name: &str, kind: SettingKind, default: &str, doc: &str) -> AdapterSetting {
    AdapterSetting { name: name.into(), kind, default: default.into(), required: false, doc: doc.into() }
}

fn required(name: &str, kind: SettingKind, doc: &str) -> AdapterSetting {
    AdapterSetting { required: true, ..setting(name, kind, "", doc) }
}

fn seconds(name: &str, default: &str, doc: &str) -> AdapterSetting {
    setting(name, SettingKind::Seconds { forever: false }, default, doc)
}

fn host(name: &str, direction: Direction, doc: &str, settings: Vec<AdapterSetting>, claims: Vec<Claim>) -> AdapterSpec {
    AdapterSpec { name: name.into(), direction, doc: doc.into(), settings, claims, provider: Provider::Host }
}

/// What the file and FTP pollers read besides their directory; `archive` says where
/// `ArchivePath` is.
fn polling(archive: &str) -> Vec<AdapterSetting> {
    vec![
        setting("FileSpec", SettingKind::Text, "*", "file name patterns (* and ?), separated by ;"),
        setting("ArchivePath", SettingKind::Text, "", archive),
        setting("DeleteFromServer", SettingKind::Bool, "1", "delete files once committed when there is no ArchivePath"),
        seconds("CallInterval", "5", "seconds between polls"),
        setting(
            "FileFraming",
            SettingKind::choice(&["HL7", "Whole"]),
            "HL7",
            "HL7: split each file into its HL7 messages (an FHS/BHS batch, or a file that is not HL7, goes in whole: the HL7 service applies BatchHandling); Whole: each file is one message, any content (HIE)",
        ),
    ]
}

/// The server settings both FTP adapters read (IRIS `EnsLib.FTP.*Adapter`).
fn ftp_server() -> Vec<AdapterSetting> {
    vec![
        required("FTPServer", SettingKind::Text, "host name or address of the server"),
        setting("FTPPort", SettingKind::Port, "", "TCP port of the server; empty = 21 (22 for SFTP)"),
        setting(
            "Protocol",
            SettingKind::choice(&["FTP", "FTPS", "SFTP"]),
            "FTP",
            "FTP, FTPS (explicit: AUTH TLS) or SFTP",
        ),
        setting(
            "Credentials",
            SettingKind::Text,
            "",
            "user:password, or the path of a file holding it; empty = anonymous",
        ),
        setting("SSLConfig", SettingKind::Text, "", "FTPS: TLS configuration whose .ca verifies the server"),
        setting("UsePASV", SettingKind::Bool, "1", "passive data connections (0: active)"),
        seconds("ConnectTimeout", "5", "seconds to connect and log in"),
        setting("SFTPPrivateKeyFile", SettingKind::Text, "", "SFTP: OpenSSH private key to log in with"),
        setting("SFTPPassphraseCredentials", SettingKind::Text, "", "SFTP: the key's passphrase, as Credentials"),
        setting(
            "SFTPKnownHosts",
            SettingKind::Text,
            "",
            "SFTP: known_hosts file holding the server's host key (required for SFTP) (HIE)",
        ),
    ]
}

/// The adapters built into the host and the settings each reads.
fn host_adapters() -> Vec<AdapterSpec> {
    let tls = || setting("SSLConfig", SettingKind::Text, "", "TLS configuration name (PEM files in TLSDir)");
    let frame = || {
        setting("MaxFrameSize", SettingKind::at_least(1024), "16777216", "largest MLLP frame accepted, in bytes (HIE)")
    };
    let local = || setting("LocalInterface", SettingKind::Text, "", "local address to listen on or connect from");
    vec![
        host(
            adapters::TCP_MLLP_INBOUND,
            Direction::Inbound,
            "MLLP over TCP: a listener that frames HL7 messages and returns ACKs after the commit",
            vec![
                required("Port", SettingKind::Port, "TCP port to listen on"),
                local(),
                setting("AllowedIPAddresses", SettingKind::Text, "", "peers allowed to connect (empty: any)"),
                seconds("ReadTimeout", "5", "seconds a started frame may take to arrive in full"),
                setting(
                    "StayConnected",
                    SettingKind::at_least(-1),
                    "-1",
                    "seconds an idle connection is kept; -1 = for ever",
                ),
                setting(
                    "MaxConnections",
                    SettingKind::at_least(1),
                    "1024",
                    "connections served at once; more are refused (HIE)",
                ),
                tls(),
                frame(),
            ],
            vec![Claim::ListenPort { port: "Port".into(), interface: Some("LocalInterface".into()) }],
        ),
        host(
            adapters::TCP_MLLP_OUTBOUND,
            Direction::Outbound,
            "MLLP over TCP: a client that sends a frame and reads the reply",
            vec![
                required("IPAddress", SettingKind::Text, "host name or address of the receiver"),
                required("Port", SettingKind::Port, "TCP port of the receiver"),
                setting(
                    "StayConnected",
                    SettingKind::at_least(-1),
                    "-1",
                    "seconds an idle connection is kept; -1 = for ever, 0 = close after each message",
                ),
                seconds("ConnectTimeout", "5", "seconds to wait for a connection"),
                setting(
                    "ResponseTimeout",
                    SettingKind::Seconds { forever: true },
                    "30",
                    "seconds to wait for the reply; -1 = for ever",
                ),
                local(),
                tls(),
                frame(),
            ],
            vec![],
        ),
        host(
            adapters::FILE_INBOUND,
            Direction::Inbound,
            "polls a directory and takes in the messages each file holds",
            vec![required("FilePath", SettingKind::Text, "directory polled")]
                .into_iter()
                .chain(polling("directory files are moved to once committed"))
                .collect(),
            vec![Claim::Directory { setting: "FilePath".into() }],
        ),
        host(
            adapters::FILE_OUTBOUND,
            Direction::Outbound,
            "writes files atomically (temporary name, sync, rename)",
            vec![
                required("FilePath", SettingKind::Text, "directory files are written to"),
                setting("Overwrite", SettingKind::Bool, "0", "replace an existing file instead of appending"),
            ],
            vec![],
        ),
        host(
            adapters::HTTP_INBOUND,
            Direction::Inbound,
            "HTTP listener: each POST body is a message, answered after the commit with the reply",
            vec![
                required("Port", SettingKind::Port, "TCP port to listen on"),
                local(),
                setting("AllowedIPAddresses", SettingKind::Text, "", "peers allowed to connect (empty: any)"),
                seconds("ReadTimeout", "30", "seconds a request's head, then its body, may take to arrive"),
                setting(
                    "MaxConnections",
                    SettingKind::at_least(1),
                    "1024",
                    "connections served at once; more are refused (HIE)",
                ),
                setting(
                    "MaxBodySize",
                    SettingKind::at_least(1),
                    "16777216",
                    "largest request body accepted, in bytes; larger is answered 413 (HIE)",
                ),
                tls(),
            ],
            vec![Claim::ListenPort { port: "Port".into(), interface: Some("LocalInterface".into()) }],
        ),
        host(
            adapters::FTP_INBOUND,
            Direction::Inbound,
            "polls a directory on an FTP, FTPS or SFTP server and takes in the messages each file holds",
            [
                ftp_server(),
                vec![setting(
                    "FilePath",
                    SettingKind::Text,
                    "",
                    "remote directory polled; empty = the log-in directory",
                )],
                polling("remote directory files are moved to once committed"),
            ]
            .concat(),
            vec![],
        ),
        host(
            adapters::FTP_OUTBOUND,
            Direction::Outbound,
            "writes files to an FTP, FTPS or SFTP server (temporary name, then rename)",
            [
                ftp_server(),
                vec![
                    setting(
                        "FilePath",
                        SettingKind::Text,
                        "",
                        "remote directory written to; empty = the log-in directory",
                    ),
                    setting(
                        "StayConnected",
                        SettingKind::at_least(-1),
                        "-1",
                        "-1 keeps the session between files; 0 logs out after each",
                    ),
                ],
            ]
            .concat(),
            vec![],
        ),
        host(
            adapters::HTTP_OUTBOUND,
            Direction::Outbound,
            "calls an HTTP service (HTTPS with SSLConfig)",
            vec![
                required("HTTPServer", SettingKind::Text, "host name or address of the server"),
                setting("HTTPPort", SettingKind::Port, "80", "TCP port of the server"),
                setting("URL", SettingKind::Text, "/", "path of the request"),
                seconds("ConnectTimeout", "5", "seconds to wait for a connection"),
                setting(
                    "ResponseTimeout",
                    SettingKind::Seconds { forever: true },
                    "30",
                    "seconds to wait for the response; -1 = for ever",
                ),
                tls(),
            ],
            vec![],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_provider_of_an_adapter_name_is_refused_naming_both() {
        let mut r = AdapterRegistry::with_host_adapters();
        let mut spec = r.get(adapters::FILE_INBOUND).cloned().expect("host adapter");
        spec.provider = Provider::Pack { name: "vendor-files".into(), version: "2.0.0".into() };
        let e = r.register(spec).expect_err("duplicate");
        assert!(e.contains("the host") && e.contains("pack vendor-files 2.0.0"), "{e}");
    }

    #[test]
    fn every_host_adapter_declares_its_required_settings_and_claims() {
        let r = AdapterRegistry::with_host_adapters();
        let mllp = r.get(adapters::TCP_MLLP_INBOUND).expect("mllp");
        assert!(mllp.setting("Port").is_some_and(|s| s.required && s.kind == SettingKind::Port));
        assert_eq!(mllp.claims.len(), 1);
        let files = r.get(adapters::FILE_INBOUND).expect("files");
        assert_eq!(files.claims, vec![Claim::Directory { setting: "FilePath".into() }]);
        let framing = files.setting("FileFraming").expect("FileFraming");
        assert_eq!((framing.default.as_str(), framing.kind.check("Whole").is_ok()), ("HL7", true));
        assert!(framing.kind.check("None").is_err());
        assert!(r.get("sftp-inbound").is_none());
    }
}
