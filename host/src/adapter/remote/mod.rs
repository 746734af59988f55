//! Remote file servers for the FTP adapters: one session type over FTP, FTPS (explicit,
//! `AUTH TLS`) and SFTP, picked by IRIS's `Protocol` setting, as IRIS's
//! `EnsLib.FTP.InboundAdapter` and `OutboundAdapter` speak all three.
//!
//! - [`Endpoint`]: the server and how to log in, read from the adapter's settings.
//! - [`Session`]: a logged-in session; the pollers and writers see only its six verbs
//!   (list, get, put, rename, delete, quit).
//! - [`ftp`]: FTP and FTPS through `suppaftp` (tokio, rustls with ring: the host's TLS).
//! - [`sftp`]: SFTP through `russh` and `russh-sftp`.
//!
//! # Invariants
//! - A session error is a `String` that names the server and the verb; it never holds a
//!   password.
//! - Nothing here knows about messages or the engine: the adapters decide when to delete
//!   or rename (only after a commit).
//! - Every network wait is bounded by `ConnectTimeout` (connect, log-in) or by
//!   [`TRANSFER_TIMEOUT`] (each verb), so a server that stops answering never hangs a
//!   poller or an operation.

pub mod ftp;
pub mod sftp;

use super::SettingsSource;
use hie_plugin_api::credentials::{self, Credentials};
use std::path::PathBuf;
use std::time::Duration;

/// The longest any one verb (a listing, a transfer, a rename) may take.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

/// IRIS's `Protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Plain FTP (passwords in clear: for trusted networks).
    Ftp,
    /// FTP upgraded with `AUTH TLS` before the log-in (explicit FTPS), data channels in TLS.
    Ftps,
    /// SFTP over SSH.
    Sftp,
}

impl Protocol {
    /// Reads `Protocol` (`FTP` when empty), without regard to case.
    pub fn parse(value: &str) -> Result<Protocol, String> {
        match value.trim().to_ascii_uppercase().as_str() {
            "" | "FTP" => Ok(Protocol::Ftp),
            "FTPS" => Ok(Protocol::Ftps),
            "SFTP" => Ok(Protocol::Sftp),
            _ => Err(format!("adapter setting Protocol: invalid value {value:?}: expected one of FTP, FTPS, SFTP")),
        }
    }
}

/// SFTP's key authentication and host-key pinning.
#[derive(Clone, Default)]
pub struct SftpKeys {
    /// `SFTPPrivateKeyFile`: an OpenSSH private key to authenticate with.
    pub private_key: Option<PathBuf>,
    /// `SFTPPassphraseCredentials`: the key's passphrase (the password of a `Credentials` value).
    pub passphrase: Option<String>,
    /// `SFTPKnownHosts` (HIE): a known_hosts file holding the server's host key. Without
    /// it no SFTP connection is made: a host key taken on trust would let anyone on the
    /// path read the messages.
    pub known_hosts: Option<PathBuf>,
}

impl std::fmt::Debug for SftpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpKeys")
            .field("private_key", &self.private_key)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "***"))
            .field("known_hosts", &self.known_hosts)
            .finish()
    }
}

/// A remote server and how to reach it, from the adapter's settings.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// FTP, FTPS or SFTP.
    pub protocol: Protocol,
    /// `FTPServer`.
    pub host: String,
    /// `FTPPort` (21; 22 for SFTP when not set).
    pub port: u16,
    /// `Credentials`; `None` logs in as `anonymous`.
    pub credentials: Option<Credentials>,
    /// `ConnectTimeout`: connect and log in within this.
    pub connect_timeout: Duration,
    /// `UsePASV` (FTP, FTPS): passive data connections (the client connects out).
    pub passive: bool,
    /// FTPS: the rustls client configuration of `SSLConfig`.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// SFTP's keys and host-key pinning.
    pub sftp: SftpKeys,
}

impl Endpoint {
    /// Reads the endpoint from an FTP adapter's settings.
    pub fn from_settings(settings: &impl SettingsSource) -> Result<Endpoint, String> {
        let protocol = Protocol::parse(&settings.text("Protocol"))?;
        let host = settings.text("FTPServer");
        if host.is_empty() {
            return Err("adapter setting FTPServer is required".into());
        }
        let port = match settings.text("FTPPort").trim() {
            "" if protocol == Protocol::Sftp => 22,
            "" => 21,
            v => hie_plugin_api::settings::parse_port(v).map_err(|e| format!("adapter setting FTPPort: {e}"))?,
        };
        let credentials = credentials::read(&settings.text("Credentials")).map_err(|e| e.to_string())?;
        let connect_timeout = settings
            .seconds_or("ConnectTimeout", Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?
            .unwrap_or(Duration::from_secs(5))
            .max(Duration::from_millis(100));
        let passive = settings.bool_or("UsePASV", true).map_err(|e| e.to_string())?;
        let tls = match protocol {
            Protocol::Ftps => {
                let name = settings.text("SSLConfig");
                if name.is_empty() {
                    return Err("adapter setting SSLConfig is required with Protocol=FTPS: it names the TLS configuration whose .ca verifies the server".into());
                }
                Some(super::tls::client_config(&PathBuf::from(settings.text("TLSDir")), &name)?)
            }
            _ => None,
        };
        let sftp = if protocol == Protocol::Sftp { sftp_keys(settings)? } else { SftpKeys::default() };
        Ok(Endpoint { protocol, host, port, credentials, connect_timeout, passive, tls, sftp })
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The user and password to log in with (`anonymous` when there are no credentials).
    pub fn login(&self) -> (String, String) {
        match &self.credentials {
            Some(c) => (c.user.clone(), c.password.clone()),
            None => ("anonymous".into(), "hie@".into()),
        }
    }
}

fn sftp_keys(settings: &impl SettingsSource) -> Result<SftpKeys, String> {
    let path = |name: &str| Some(settings.text(name)).filter(|v| !v.trim().is_empty()).map(PathBuf::from);
    let known_hosts = path("SFTPKnownHosts").ok_or(
        "adapter setting SFTPKnownHosts is required with Protocol=SFTP: a known_hosts file holding the server's host key (ssh-keyscan -p PORT HOST > FILE), so the server is the one meant",
    )?;
    if !known_hosts.is_file() {
        return Err(format!("adapter setting SFTPKnownHosts: the file {} does not exist", known_hosts.display()));
    }
    let private_key = path("SFTPPrivateKeyFile");
    if let Some(k) = &private_key
        && !k.is_file()
    {
        return Err(format!("adapter setting SFTPPrivateKeyFile: the file {} does not exist", k.display()));
    }
    let passphrase = credentials::read(&settings.text("SFTPPassphraseCredentials"))
        .map_err(|e| format!("adapter setting SFTPPassphraseCredentials: {e}"))?
        .map(|c| c.password);
    Ok(SftpKeys { private_key, passphrase, known_hosts: Some(known_hosts) })
}

/// A logged-in session with a remote server.
pub enum Session {
    /// FTP or FTPS.
    Ftp(ftp::FtpSession),
    /// SFTP.
    Sftp(sftp::SftpSession),
}

/// Runs `f` within [`TRANSFER_TIMEOUT`], naming `what` when it does not finish.
async fn bounded<T>(what: &str, f: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(TRANSFER_TIMEOUT, f)
        .await
        .map_err(|_| format!("{what}: no answer within {} s", TRANSFER_TIMEOUT.as_secs()))?
}

impl Session {
    /// Connects and logs in, within `ConnectTimeout`.
    pub async fn connect(endpoint: &Endpoint) -> Result<Session, String> {
        let what = format!("connecting to {} ({:?})", endpoint.address(), endpoint.protocol);
        let session = async {
            Ok::<Session, String>(match endpoint.protocol {
                Protocol::Ftp | Protocol::Ftps => Session::Ftp(ftp::FtpSession::connect(endpoint).await?),
                Protocol::Sftp => Session::Sftp(sftp::SftpSession::connect(endpoint).await?),
            })
        };
        tokio::time::timeout(endpoint.connect_timeout, session)
            .await
            .map_err(|_| format!("{what}: no answer within {:?}", endpoint.connect_timeout))?
    }

    /// The names of the plain files in `dir` (no directories, no links to directories).
    pub async fn list(&mut self, dir: &str) -> Result<Vec<String>, String> {
        bounded(&format!("listing {dir}"), async {
            match self {
                Session::Ftp(s) => s.list(dir).await,
                Session::Sftp(s) => s.list(dir).await,
            }
        })
        .await
    }

    /// The whole content of `path`.
    pub async fn get(&mut self, path: &str) -> Result<Vec<u8>, String> {
        bounded(&format!("reading {path}"), async {
            match self {
                Session::Ftp(s) => s.get(path).await,
                Session::Sftp(s) => s.get(path).await,
            }
        })
        .await
    }

    /// Writes `body` to `path`, replacing it.
    pub async fn put(&mut self, path: &str, body: &[u8]) -> Result<(), String> {
        bounded(&format!("writing {path}"), async {
            match self {
                Session::Ftp(s) => s.put(path, body).await,
                Session::Sftp(s) => s.put(path, body).await,
            }
        })
        .await
    }

    /// Renames `from` to `to` (`to` must not exist).
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        bounded(&format!("renaming {from} to {to}"), async {
            match self {
                Session::Ftp(s) => s.rename(from, to).await,
                Session::Sftp(s) => s.rename(from, to).await,
            }
        })
        .await
    }

    /// Deletes `path`.
    pub async fn delete(&mut self, path: &str) -> Result<(), String> {
        bounded(&format!("deleting {path}"), async {
            match self {
                Session::Ftp(s) => s.delete(path).await,
                Session::Sftp(s) => s.delete(path).await,
            }
        })
        .await
    }

    /// Logs out (best effort, bounded: a server that does not answer is left).
    pub async fn quit(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            match self {
                Session::Ftp(s) => s.quit().await,
                Session::Sftp(s) => s.quit().await,
            }
        })
        .await;
    }
}

/// `dir` joined with `name` the way FTP and SFTP paths join (always `/`); an empty
/// `dir` is the log-in directory.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        return name.to_string();
    }
    format!("{}/{name}", dir.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::AdapterSettings;

    fn settings(pairs: &[(&str, &str)]) -> AdapterSettings {
        AdapterSettings::from_map("Ftp", pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn protocol_reads_iris_names_in_any_case_and_refuses_others_naming_the_choices() {
        assert_eq!(Protocol::parse(""), Ok(Protocol::Ftp));
        assert_eq!(Protocol::parse("ftps"), Ok(Protocol::Ftps));
        assert_eq!(Protocol::parse(" SFTP "), Ok(Protocol::Sftp));
        assert!(Protocol::parse("SCP").unwrap_err().contains("expected one of FTP, FTPS, SFTP"));
    }

    #[test]
    fn an_endpoint_needs_a_server_defaults_its_port_by_protocol_and_sftp_needs_a_pinned_host_key() {
        assert!(Endpoint::from_settings(&settings(&[])).unwrap_err().contains("FTPServer is required"));
        let e = Endpoint::from_settings(&settings(&[("FTPServer", "pacs")])).unwrap();
        assert_eq!((e.port, e.passive, e.login().0.as_str()), (21, true, "anonymous"));
        let e = Endpoint::from_settings(&settings(&[("FTPServer", "pacs"), ("Protocol", "SFTP")])).unwrap_err();
        assert!(e.contains("SFTPKnownHosts is required"), "{e}");
        let e = Endpoint::from_settings(&settings(&[("FTPServer", "pacs"), ("Protocol", "FTPS")])).unwrap_err();
        assert!(e.contains("SSLConfig is required"), "{e}");
        let e =
            Endpoint::from_settings(&settings(&[("FTPServer", "pacs"), ("Credentials", "u:p"), ("FTPPort", "2121")]))
                .unwrap();
        assert_eq!((e.port, e.login()), (2121, ("u".to_string(), "p".to_string())));
    }

    #[test]
    fn remote_paths_join_with_a_slash_whatever_the_directory_ends_with() {
        assert_eq!(join("/in/", "a.hl7"), "/in/a.hl7");
        assert_eq!(join("in", "a.hl7"), "in/a.hl7");
        assert_eq!(join("/", "a.hl7"), "/a.hl7");
        assert_eq!(join("", "a.hl7"), "a.hl7");
    }
}
