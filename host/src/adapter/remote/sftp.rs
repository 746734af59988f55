//! SFTP sessions for the FTP adapters: SSH through `russh` (ring as the crypto backend, as
//! the host's TLS), the SFTP subsystem through `russh-sftp`.
//!
//! A session is made in this order: read the `SFTPKnownHosts` file (and the private key,
//! if any), connect, run the key exchange, check the server's host key against the file,
//! authenticate (the private key, then the password of `Credentials` if the key alone is
//! not enough), open a session channel and start the `sftp` subsystem on it.
//!
//! # Invariants
//! - No byte of a log-in leaves before the server's host key is found in the
//!   `SFTPKnownHosts` file for this host and port (`host` for port 22, `[host]:port`
//!   otherwise, as `ssh-keyscan -p PORT` writes them; hashed `|1|` names too) and is not
//!   marked `@revoked`. An unknown, changed or revoked key, or a file that cannot be read,
//!   ends the connection with an error naming the file and the key's SHA256 fingerprint.
//!   Nothing is ever added to the file: trust is the operator's decision.
//! - Host certificates are not offered nor accepted (only plain host keys are pinned).
//! - Errors are `String`s `SFTP host:port: verb: detail`. No password or passphrase is
//!   ever formatted into one (russh's and russh-sftp's errors do not carry them either).
//! - A listing keeps regular files only: `.`/`..`, directories, links to directories,
//!   dangling links and special files are left out; names come back sorted.
//! - `put` closes its handle before it returns, so a success means the server has
//!   acknowledged every write and the close.

use super::Endpoint;
use russh::client;
use russh::keys::{Algorithm, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession as Sftp;
use russh_sftp::protocol::FileType;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// A logged-in SFTP session.
pub struct SftpSession {
    /// The SFTP client over the session channel's `sftp` subsystem.
    sftp: Sftp,
    /// The SSH connection, kept to disconnect cleanly in [`SftpSession::quit`] (dropping
    /// it alone would cut the TCP connection without a word).
    ssh: client::Handle<HostKeyCheck>,
    /// `host:port`, for messages.
    address: String,
}

impl SftpSession {
    /// Connects, checks the host key against `SFTPKnownHosts` and authenticates.
    pub async fn connect(endpoint: &Endpoint) -> Result<SftpSession, String> {
        let address = endpoint.address();
        let fail = |verb: &str, e: &dyn std::fmt::Display| format!("SFTP {address}: {verb}: {e}");
        let known_hosts = endpoint.sftp.known_hosts.clone().ok_or_else(|| {
            format!("SFTP {address}: connecting: no SFTPKnownHosts file: the server's host key cannot be checked")
        })?;
        let user = match (&endpoint.credentials, &endpoint.sftp.private_key) {
            (Some(c), _) => c.user.clone(),
            (None, Some(_)) => {
                return Err(format!(
                    "SFTP {address}: logging in: SFTPPrivateKeyFile needs Credentials for the user name"
                ));
            }
            (None, None) => {
                return Err(format!("SFTP {address}: logging in: SFTP needs Credentials or SFTPPrivateKeyFile"));
            }
        };

        let (host, port) = (endpoint.host.clone(), endpoint.port);
        let key_file = endpoint.sftp.private_key.clone();
        let passphrase = endpoint.sftp.passphrase.clone();
        // File reads block: off the runtime's threads.
        let (entries, private_key) = tokio::task::spawn_blocking(move || {
            let entries = read_known_hosts(&known_hosts, &host, port)?;
            let key = match key_file {
                Some(k) => Some(load_private_key(&k, passphrase.as_deref())?),
                None => None,
            };
            Ok::<_, String>((entries, key))
        })
        .await
        .map_err(|e| fail("reading SFTPKnownHosts and SFTPPrivateKeyFile", &e))?
        .map_err(|e| format!("SFTP {address}: {e}"))?;

        let config = client::Config {
            preferred: russh::Preferred { key: Cow::Owned(host_key_order(&entries.keys)), ..Default::default() },
            ..Default::default()
        };
        let check = HostKeyCheck { entries, address: address.clone() };
        let mut ssh = client::connect(Arc::new(config), (endpoint.host.as_str(), endpoint.port), check).await.map_err(
            |e| match e {
                HandlerError::HostKey(m) => format!("SFTP {address}: checking the host key: {m}"),
                HandlerError::Ssh(e) => fail("connecting", &e),
            },
        )?;

        // With a key, Credentials may carry only the user name: an empty password is none.
        let with_key = private_key.is_some();
        let password =
            endpoint.credentials.as_ref().map(|c| c.password.as_str()).filter(|p| !(with_key && p.is_empty()));
        authenticate(&mut ssh, &address, &user, private_key, password).await?;

        let channel = ssh.channel_open_session().await.map_err(|e| fail("opening a session channel", &e))?;
        channel.request_subsystem(true, "sftp").await.map_err(|e| fail("starting the sftp subsystem", &e))?;
        let sftp = Sftp::new(channel.into_stream()).await.map_err(|e| fail("starting SFTP", &e))?;
        // russh-sftp's own per-request limit (10 s) would cut a slow server short of the
        // caller's bound on the whole verb.
        sftp.set_timeout(super::TRANSFER_TIMEOUT.as_secs());
        Ok(SftpSession { sftp, ssh, address })
    }

    /// `SFTP host:port: verb: e`.
    fn fail(&self, verb: &str, e: impl std::fmt::Display) -> String {
        format!("SFTP {}: {verb}: {e}", self.address)
    }

    /// Plain files in `dir` (the log-in directory when empty), sorted; links are followed
    /// to see whether they end at a plain file.
    pub async fn list(&mut self, dir: &str) -> Result<Vec<String>, String> {
        let at = if dir.is_empty() { "." } else { dir };
        let entries = self.sftp.read_dir(at).await.map_err(|e| self.fail(&format!("listing {at}"), e))?;
        let mut names = Vec::new();
        for entry in entries {
            let name = entry.file_name();
            if name.is_empty() || name == "." || name == ".." || name.contains('/') {
                continue;
            }
            let plain = match entry.metadata() {
                m if m.permissions.is_none() => self.is_plain_file(&super::join(dir, &name)).await,
                m => match m.file_type() {
                    FileType::File => true,
                    FileType::Symlink => self.is_plain_file(&super::join(dir, &name)).await,
                    FileType::Dir | FileType::Other => false,
                },
            };
            if plain {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Whether `path`, links followed, is a plain file (a dangling link is not).
    async fn is_plain_file(&self, path: &str) -> bool {
        self.sftp.metadata(path).await.is_ok_and(|m| m.file_type() == FileType::File)
    }

    /// The content of `path`.
    pub async fn get(&mut self, path: &str) -> Result<Vec<u8>, String> {
        self.sftp.read(path).await.map_err(|e| self.fail(&format!("reading {path}"), e))
    }

    /// Writes `path`, created or truncated; the handle is closed before success.
    pub async fn put(&mut self, path: &str, body: &[u8]) -> Result<(), String> {
        let mut file = self.sftp.create(path).await.map_err(|e| self.fail(&format!("creating {path}"), e))?;
        file.write_all(body).await.map_err(|e| self.fail(&format!("writing {path}"), e))?;
        file.close().await.map_err(|e| self.fail(&format!("closing {path}"), e))
    }

    /// Renames `from` to `to` (SFTP v3: refused when `to` exists).
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        self.sftp.rename(from, to).await.map_err(|e| self.fail(&format!("renaming {from} to {to}"), e))
    }

    /// Deletes the file `path`.
    pub async fn delete(&mut self, path: &str) -> Result<(), String> {
        self.sftp.remove_file(path).await.map_err(|e| self.fail(&format!("deleting {path}"), e))
    }

    /// Ends the SFTP session and disconnects (best effort: errors are dropped).
    pub async fn quit(self) {
        let _ = self.sftp.close().await;
        let _ = self.ssh.disconnect(russh::Disconnect::ByApplication, "", "en").await;
    }
}

/// Authenticates as `user`: with the private key when there is one, then with the
/// password when there is one and the server still asks for more (key refused, or
/// accepted as a first factor).
async fn authenticate(
    ssh: &mut client::Handle<HostKeyCheck>,
    address: &str,
    user: &str,
    key: Option<PrivateKey>,
    password: Option<&str>,
) -> Result<(), String> {
    let mut refused = Vec::new();
    if let Some(key) = key {
        let algorithm = key.algorithm().to_string();
        // RSA signs with the hash the server says it takes (rsa-sha2-512/256); other keys
        // have one signature algorithm.
        let hash = if key.algorithm().is_rsa() {
            ssh.best_supported_rsa_hash()
                .await
                .map_err(|e| format!("SFTP {address}: logging in as {user}: {e}"))?
                .flatten()
        } else {
            None
        };
        let result = ssh
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| format!("SFTP {address}: logging in as {user} with the {algorithm} key: {e}"))?;
        match result {
            client::AuthResult::Success => return Ok(()),
            client::AuthResult::Failure { partial_success: true, .. } => {}
            client::AuthResult::Failure { remaining_methods, .. } => {
                refused.push(format!("the {algorithm} key of SFTPPrivateKeyFile"));
                if password.is_none() {
                    return Err(auth_refused(address, user, &refused, &remaining_methods));
                }
            }
        }
    }
    let Some(password) = password else {
        return Err(format!(
            "SFTP {address}: logging in as {user}: the server wants a password after the key, and Credentials has none"
        ));
    };
    // The error is russh's (connection, protocol), which never holds the password.
    let result = ssh
        .authenticate_password(user, password)
        .await
        .map_err(|e| format!("SFTP {address}: logging in as {user} with a password: {e}"))?;
    match result {
        client::AuthResult::Success => Ok(()),
        client::AuthResult::Failure { remaining_methods, .. } => {
            refused.push("the password of Credentials".into());
            Err(auth_refused(address, user, &refused, &remaining_methods))
        }
    }
}

/// The error for a refused log-in: what was tried, and what the server would take.
fn auth_refused(address: &str, user: &str, refused: &[String], remaining: &russh::MethodSet) -> String {
    let methods: Vec<&str> = remaining.iter().map(<&str>::from).collect();
    format!(
        "SFTP {address}: logging in as {user}: authentication refused ({} refused; the server accepts: {})",
        refused.join(", "),
        if methods.is_empty() { "nothing more".to_string() } else { methods.join(", ") }
    )
}

/// Reads an OpenSSH private key (or PuTTY key) file, decrypted with `passphrase`.
fn load_private_key(path: &Path, passphrase: Option<&str>) -> Result<PrivateKey, String> {
    // russh's error describes the format or the decryption, never the passphrase.
    russh::keys::load_secret_key(path, passphrase).map_err(|e| {
        let hint = match (&e, passphrase) {
            (russh::keys::Error::KeyIsEncrypted, _) => " (the key is encrypted: SFTPPassphraseCredentials is needed)",
            (_, Some(_)) => " (a wrong SFTPPassphraseCredentials, or a damaged key)",
            _ => "",
        };
        format!("reading SFTPPrivateKeyFile {}: {e}{hint}", path.display())
    })
}

/// The russh client handler: its only work is checking the host key.
struct HostKeyCheck {
    /// What `SFTPKnownHosts` says about this host and port.
    entries: KnownHostKeys,
    /// `host:port`, for messages.
    address: String,
}

/// Why the SSH connection failed: russh's reasons, or the host key check's.
#[derive(Debug)]
enum HandlerError {
    /// The connection, key exchange or protocol failed.
    Ssh(russh::Error),
    /// The host key is not the pinned one: the reason, with file and fingerprint.
    HostKey(String),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Ssh(e)
    }
}

impl client::Handler for HostKeyCheck {
    type Error = HandlerError;

    async fn check_server_key(&mut self, server_key: &PublicKeyOrCertificate) -> Result<bool, HandlerError> {
        match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                self.entries.verify(key).map(|()| true).map_err(HandlerError::HostKey)
            }
            PublicKeyOrCertificate::Certificate(_) => Err(HandlerError::HostKey(format!(
                "{} offered a host certificate; only host keys pinned in {} are accepted",
                self.address,
                self.entries.file.display()
            ))),
        }
    }
}

/// One key of a known_hosts file that names the host and port looked up.
#[derive(Debug, Clone)]
struct KnownKey {
    /// The line of the file (from 1), for messages.
    line: usize,
    /// `@revoked`: this key must be refused.
    revoked: bool,
    /// The key.
    key: PublicKey,
}

/// What a known_hosts file says about one host and port.
#[derive(Debug, Clone)]
struct KnownHostKeys {
    /// The file, for messages.
    file: PathBuf,
    /// The name looked up: `host`, or `[host]:port` when the port is not 22.
    name: String,
    /// The file's keys for that name, in file order.
    keys: Vec<KnownKey>,
}

impl KnownHostKeys {
    /// Accepts `key` only if a line for this host holds it and no `@revoked` line does;
    /// the error says whether the key is unknown, changed or revoked, with its
    /// fingerprint and the file.
    fn verify(&self, key: &PublicKey) -> Result<(), String> {
        let same = |k: &KnownKey| k.key.key_data() == key.key_data();
        let fingerprint = format!("{} key {}", key.algorithm(), key.fingerprint(HashAlg::Sha256));
        let file = self.file.display();
        let name = &self.name;
        if let Some(k) = self.keys.iter().find(|k| k.revoked && same(k)) {
            return Err(format!(
                "the server's {fingerprint} is marked @revoked for {name} in the known_hosts file {file} (line {})",
                k.line
            ));
        }
        if self.keys.iter().any(|k| !k.revoked && same(k)) {
            return Ok(());
        }
        let pinned: Vec<String> = self
            .keys
            .iter()
            .filter(|k| !k.revoked)
            .map(|k| format!("line {}: {} {}", k.line, k.key.algorithm(), k.key.fingerprint(HashAlg::Sha256)))
            .collect();
        if pinned.is_empty() {
            Err(format!(
                "host key unknown: the server's {fingerprint} is not in the known_hosts file {file}, which has no key for {name} (add the key with ssh-keyscan once its fingerprint is confirmed with the server's administrator)"
            ))
        } else {
            Err(format!(
                "host key mismatch: the server's {fingerprint} is not the one the known_hosts file {file} holds for {name} ({}): the server's key has changed, or another machine answers",
                pinned.join("; ")
            ))
        }
    }
}

/// Reads `file` and picks the keys it holds for `host` and `port`; a file that cannot be
/// read is an error (never "no keys", which would read as an unknown host).
fn read_known_hosts(file: &Path, host: &str, port: u16) -> Result<KnownHostKeys, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("reading the known_hosts file {} (SFTPKnownHosts): {e}", file.display()))?;
    // Hashed names (`|1|salt|hash`, HMAC-SHA1) are matched by russh: it returns the keys
    // of the lines whose name matches, hashed or plain. An error leaves hashed lines
    // unmatched: the check fails closed.
    // OpenSSH hashes the lower-case name.
    let hashed: Vec<PublicKey> = russh::keys::known_hosts::known_host_keys_path(&host.to_ascii_lowercase(), port, file)
        .map(|keys| keys.into_iter().map(|(_, k)| k).collect())
        .unwrap_or_default();
    Ok(KnownHostKeys {
        file: file.to_path_buf(),
        name: lookup_name(host, port),
        keys: keys_for(&text, host, port, &hashed),
    })
}

/// The name known_hosts files hold for `host` at `port`, as OpenSSH writes it.
fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 { host.to_ascii_lowercase() } else { format!("[{}]:{port}", host.to_ascii_lowercase()) }
}

/// The keys the known_hosts text `text` holds for `host` and `port`. `hashed` holds the
/// keys of hashed lines already found to name the host. Comments, blank lines,
/// `@cert-authority` lines (certificates are not accepted) and lines whose key does not
/// parse are skipped, as OpenSSH skips them. A `@revoked` line with a hashed name is taken
/// to name every host.
fn keys_for(text: &str, host: &str, port: u16, hashed: &[PublicKey]) -> Vec<KnownKey> {
    let name = lookup_name(host, port);
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let Some(mut first) = fields.next() else { continue };
        let mut revoked = false;
        if first.starts_with('@') {
            match first {
                "@revoked" => revoked = true,
                _ => continue,
            }
            let Some(next) = fields.next() else { continue };
            first = next;
        }
        let (Some(_algorithm), Some(base64)) = (fields.next(), fields.next()) else { continue };
        let Ok(key) = russh::keys::parse_public_key_base64(base64) else { continue };
        // russh reads no markers, so it never vouches for a hashed `@revoked` line: such a
        // line revokes its key whatever host it names (failing closed).
        let in_hashed = revoked || hashed.iter().any(|h| h.key_data() == key.key_data());
        if names_host(first, &name, in_hashed) {
            keys.push(KnownKey { line: index + 1, revoked, key });
        }
    }
    keys
}

/// Whether the comma-separated patterns `patterns` name `name` (OpenSSH's rules: `*` and
/// `?` wildcards, a `!pattern` that matches excludes the line, case does not matter). A
/// hashed pattern matches when `hashed` (russh found the line's key under this name).
fn names_host(patterns: &str, name: &str, hashed: bool) -> bool {
    let name = name.to_ascii_lowercase();
    let mut named = false;
    for pattern in patterns.split(',') {
        if pattern.starts_with("|1|") {
            named |= hashed;
        } else if let Some(negated) = pattern.strip_prefix('!') {
            if crate::adapter::pattern::glob_match(&negated.to_ascii_lowercase(), &name) {
                return false;
            }
        } else if crate::adapter::pattern::glob_match(&pattern.to_ascii_lowercase(), &name) {
            named = true;
        }
    }
    named
}

/// russh's host key algorithms, those of the pinned keys first, so a server with several
/// host keys shows the one the file holds (as OpenSSH orders them).
fn host_key_order(pinned: &[KnownKey]) -> Vec<Algorithm> {
    let kind =
        |a: &Algorithm| if matches!(a, Algorithm::Rsa { .. }) { Algorithm::Rsa { hash: None } } else { a.clone() };
    let known: Vec<Algorithm> = pinned.iter().filter(|k| !k.revoked).map(|k| kind(&k.key.algorithm())).collect();
    let all = russh::Preferred::DEFAULT.key.to_vec();
    let (mut first, rest): (Vec<Algorithm>, Vec<Algorithm>) = all.into_iter().partition(|a| known.contains(&kind(a)));
    first.extend(rest);
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two fixed ed25519 public keys (the one of russh's documentation, and another).
    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJ3T+Ac1QfJU/fYXJ1PFnXA1qlMb2BuQGz7gYtZ0v8Bm";

    /// The public key of a base64 blob.
    fn key(base64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(base64).unwrap()
    }

    /// What `text`, as the file /etc/hie/known_hosts, says about `host` at `port`.
    fn known(text: &str, host: &str, port: u16, hashed: &[PublicKey]) -> KnownHostKeys {
        KnownHostKeys {
            file: PathBuf::from("/etc/hie/known_hosts"),
            name: lookup_name(host, port),
            keys: keys_for(text, host, port, hashed),
        }
    }

    #[test]
    fn keyscan_lines_with_a_port_name_the_host_only_at_that_port_and_port_22_is_the_bare_name() {
        let text = format!(
            "# ssh-keyscan -p 2222 127.0.0.1\n[127.0.0.1]:2222 ssh-ed25519 {KEY_A}\npacs ssh-ed25519 {KEY_B}\n"
        );
        assert_eq!(keys_for(&text, "127.0.0.1", 2222, &[]).len(), 1);
        assert_eq!(keys_for(&text, "127.0.0.1", 2222, &[])[0].line, 2);
        assert!(keys_for(&text, "127.0.0.1", 22, &[]).is_empty());
        assert!(keys_for(&text, "127.0.0.1", 2223, &[]).is_empty());
        assert_eq!(keys_for(&text, "PACS", 22, &[]).len(), 1);
        assert!(keys_for(&text, "pacs", 2222, &[]).is_empty());
    }

    #[test]
    fn the_pinned_key_passes_and_others_fail_as_unknown_or_changed_naming_file_and_fingerprint() {
        let text = format!("[127.0.0.1]:2222\tssh-ed25519   {KEY_A} root@pacs\n");
        let entries = known(&text, "127.0.0.1", 2222, &[]);
        assert_eq!(entries.verify(&key(KEY_A)), Ok(()));
        let fingerprint = key(KEY_B).fingerprint(HashAlg::Sha256).to_string();
        let e = entries.verify(&key(KEY_B)).unwrap_err();
        assert!(
            e.contains("host key mismatch") && e.contains("/etc/hie/known_hosts") && e.contains(&fingerprint),
            "{e}"
        );
        assert!(e.contains("[127.0.0.1]:2222") && e.contains("line 1"), "{e}");
        let e = known(&text, "127.0.0.1", 2200, &[]).verify(&key(KEY_A)).unwrap_err();
        assert!(e.contains("host key unknown") && e.contains("/etc/hie/known_hosts"), "{e}");
        assert!(e.contains(&key(KEY_A).fingerprint(HashAlg::Sha256).to_string()), "{e}");
    }

    #[test]
    fn a_revoked_key_is_refused_even_when_another_line_pins_it_and_ca_lines_pin_nothing() {
        let text = format!(
            "pacs ssh-ed25519 {KEY_A}\n@revoked pacs ssh-ed25519 {KEY_A}\n@cert-authority pacs ssh-ed25519 {KEY_B}\n"
        );
        let entries = known(&text, "pacs", 22, &[]);
        let e = entries.verify(&key(KEY_A)).unwrap_err();
        assert!(e.contains("@revoked") && e.contains("line 2"), "{e}");
        let e = entries.verify(&key(KEY_B)).unwrap_err();
        assert!(e.contains("host key mismatch"), "{e}");
    }

    #[test]
    fn patterns_follow_openssh_wildcards_lists_and_negation() {
        let text = format!("*.lab.example,!bad.lab.example,10.0.0.? ssh-ed25519 {KEY_A}\n");
        assert_eq!(keys_for(&text, "pacs.lab.example", 22, &[]).len(), 1);
        assert!(keys_for(&text, "bad.lab.example", 22, &[]).is_empty());
        assert_eq!(keys_for(&text, "10.0.0.7", 22, &[]).len(), 1);
        assert!(keys_for(&text, "10.0.0.17", 22, &[]).is_empty());
        assert!(keys_for(&text, "lab.example", 22, &[]).is_empty());
    }

    #[test]
    fn hashed_names_match_through_russh_and_fail_closed_without_it() {
        let text = format!("|1|c2FsdA==|aGFzaA== ssh-ed25519 {KEY_A}\n");
        assert!(keys_for(&text, "pacs", 22, &[]).is_empty());
        let revoked = format!("pacs ssh-ed25519 {KEY_A}\n@revoked |1|c2FsdA==|aGFzaA== ssh-ed25519 {KEY_A}\n");
        assert!(known(&revoked, "pacs", 22, &[]).verify(&key(KEY_A)).unwrap_err().contains("@revoked"));
        assert_eq!(keys_for(&text, "pacs", 22, &[key(KEY_A)]).len(), 1);
        assert!(keys_for(&text, "pacs", 22, &[key(KEY_B)]).is_empty());
    }

    /// `[127.0.0.1]:2222` hashed as `ssh-keygen -H` writes it: salt 0x00..0x13,
    /// HMAC-SHA1 of the name under it.
    const HASHED_127_0_0_1_2222: &str = "|1|AAECAwQFBgcICQoLDA0ODxAREhM=|zKYaAqmSav3Qxr2sffNqWFIcbe4=";

    #[test]
    fn hashed_names_in_a_real_file_are_found_and_an_unreadable_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("hie-sftp-kh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("known_hosts");
        std::fs::write(&file, format!("# hashed\n{HASHED_127_0_0_1_2222} ssh-ed25519 {KEY_A}\n")).unwrap();
        let entries = read_known_hosts(&file, "127.0.0.1", 2222).unwrap();
        assert_eq!(entries.verify(&key(KEY_A)), Ok(()));
        assert_eq!(entries.keys[0].line, 2);
        assert!(read_known_hosts(&file, "127.0.0.1", 2223).unwrap().verify(&key(KEY_A)).is_err());
        let e = read_known_hosts(&dir.join("missing"), "127.0.0.1", 2222).unwrap_err();
        assert!(e.contains("reading the known_hosts file") && e.contains("missing"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_pinned_key_kind_is_offered_first() {
        let text = format!("pacs ssh-ed25519 {KEY_A}\n");
        let order = host_key_order(&keys_for(&text, "pacs", 22, &[]));
        assert_eq!(order[0], Algorithm::Ed25519);
        assert_eq!(order.len(), russh::Preferred::DEFAULT.key.len());
    }

    /// The test SFTP server (asyncssh), shared with the engine-level tests in
    /// tests/tests/ftp.rs; its header says what it takes and prints.
    const SERVER: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/sftp_server.py"));

    /// The running server: its port, host key line and root; killed on drop.
    struct TestServer {
        /// The Python process (its stdin held open: closing it stops the server).
        child: std::process::Child,
        /// The port it listens on (127.0.0.1).
        port: u16,
        /// `ssh-ed25519 AAAA...`.
        key_line: String,
        /// Whether `host_key.client` is encrypted with `k3y-pass` (Python has bcrypt).
        client_key_encrypted: bool,
        /// The temporary directory: script, host key, known_hosts, `root/`.
        dir: PathBuf,
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Says on the process's stderr (not the test harness's captured one, so it shows
    /// even when the test passes) that part of a test did not run.
    fn skipped(message: &str) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{message}");
    }

    /// Starts the asyncssh server, or says loudly why not and returns `None`.
    fn start_server(test: &str) -> Option<TestServer> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let importable = Command::new("python3").args(["-c", "import asyncssh"]).stderr(Stdio::null()).status();
        if !importable.is_ok_and(|s| s.success()) {
            skipped(&format!("SKIPPED {test}: python3 with asyncssh is needed (python3 -m pip install asyncssh)"));
            return None;
        }
        let dir = std::env::temp_dir().join(format!("hie-sftp-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root").join("in")).unwrap();
        std::fs::write(dir.join("server.py"), SERVER).unwrap();
        let mut child = Command::new("python3")
            .arg("-W")
            .arg("ignore")
            .arg(dir.join("server.py"))
            .arg("0")
            .arg(dir.join("root"))
            .arg(dir.join("host_key"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut key_line = String::new();
        let mut client_key_encrypted = false;
        let mut port = 0;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(k) = line.strip_prefix("key ") {
                key_line = k.to_string();
            } else if let Some(form) = line.strip_prefix("clientkey ") {
                client_key_encrypted = form.trim() == "encrypted";
            } else if let Some(p) = line.strip_prefix("ready ") {
                port = p.trim().parse().unwrap();
                break;
            }
        }
        assert!(port != 0 && !key_line.is_empty(), "the SFTP test server did not start");
        Some(TestServer { child, port, key_line, client_key_encrypted, dir })
    }

    /// An SFTP endpoint for `server` as `hie` with `password`, its known_hosts file
    /// written with `known_hosts`.
    fn endpoint(server: &TestServer, known_hosts: &str, password: &str) -> Endpoint {
        let file = server.dir.join("known_hosts");
        std::fs::write(&file, known_hosts).unwrap();
        Endpoint {
            protocol: super::super::Protocol::Sftp,
            host: "127.0.0.1".into(),
            port: server.port,
            credentials: Some(hie_plugin_api::credentials::Credentials {
                user: "hie".into(),
                password: password.into(),
            }),
            connect_timeout: std::time::Duration::from_secs(5),
            passive: true,
            tls: None,
            sftp: super::super::SftpKeys { private_key: None, passphrase: None, known_hosts: Some(file) },
        }
    }

    #[tokio::test]
    async fn a_session_puts_lists_gets_renames_and_deletes_on_a_real_sftp_server() {
        let Some(server) = start_server("a_session_puts_lists_gets_renames_and_deletes_on_a_real_sftp_server") else {
            return;
        };
        let pinned = format!("[127.0.0.1]:{} {}\n", server.port, server.key_line);
        let endpoint = endpoint(&server, &pinned, "s3cret");
        let mut s = SftpSession::connect(&endpoint).await.unwrap();
        std::fs::create_dir(server.dir.join("root").join("in").join("archive")).unwrap();
        let body = b"MSH|^~\\&|A|B\rPID|1\r".repeat(5000);
        s.put("in/a.hl7", &body).await.unwrap();
        assert_eq!(std::fs::read(server.dir.join("root/in/a.hl7")).unwrap(), body);
        assert_eq!(s.list("in").await.unwrap(), ["a.hl7"]);
        let inbox = server.dir.join("root").join("in");
        std::os::unix::fs::symlink("archive", inbox.join("to-dir")).unwrap();
        std::os::unix::fs::symlink("a.hl7", inbox.join("to-file")).unwrap();
        std::os::unix::fs::symlink("nowhere", inbox.join("dangling")).unwrap();
        assert_eq!(s.list("in").await.unwrap(), ["a.hl7", "to-file"]);
        for link in ["to-dir", "to-file", "dangling"] {
            std::fs::remove_file(inbox.join(link)).unwrap();
        }
        assert_eq!(s.list("").await.unwrap(), Vec::<String>::new());
        assert_eq!(s.get("in/a.hl7").await.unwrap(), body);
        s.rename("in/a.hl7", "in/b.hl7").await.unwrap();
        assert_eq!(s.list("in/").await.unwrap(), ["b.hl7"]);
        s.put("in/b.hl7", b"short").await.unwrap();
        assert_eq!(s.get("in/b.hl7").await.unwrap(), b"short");
        s.delete("in/b.hl7").await.unwrap();
        assert!(s.list("in").await.unwrap().is_empty());
        let e = s.get("in/b.hl7").await.unwrap_err();
        assert!(e.contains(&format!("SFTP 127.0.0.1:{}", server.port)) && e.contains("reading in/b.hl7"), "{e}");
        s.quit().await;
    }

    #[tokio::test]
    async fn a_different_pinned_key_or_a_wrong_password_refuses_the_session() {
        let Some(server) = start_server("a_different_pinned_key_or_a_wrong_password_refuses_the_session") else {
            return;
        };
        let other = format!("[127.0.0.1]:{} ssh-ed25519 {KEY_A}\n", server.port);
        let e = SftpSession::connect(&endpoint(&server, &other, "s3cret")).await.err().unwrap();
        assert!(e.contains("host key mismatch") && e.contains("known_hosts") && e.contains("SHA256:"), "{e}");
        let e = SftpSession::connect(&endpoint(&server, "", "s3cret")).await.err().unwrap();
        assert!(e.contains("host key unknown"), "{e}");
        let pinned = format!("[127.0.0.1]:{} {}\n", server.port, server.key_line);
        let e = SftpSession::connect(&endpoint(&server, &pinned, "wrong-pass")).await.err().unwrap();
        assert!(e.contains("authentication refused") && e.contains("as hie"), "{e}");
        assert!(!e.contains("wrong-pass"), "{e}");
        let mut no_credentials = endpoint(&server, &pinned, "");
        no_credentials.credentials = None;
        let e = SftpSession::connect(&no_credentials).await.err().unwrap();
        assert!(e.contains("SFTP needs Credentials or SFTPPrivateKeyFile"), "{e}");
    }

    #[tokio::test]
    async fn a_private_key_decrypted_with_its_passphrase_logs_in_and_a_wrong_passphrase_is_named_not_shown() {
        let Some(server) = start_server(
            "a_private_key_decrypted_with_its_passphrase_logs_in_and_a_wrong_passphrase_is_named_not_shown",
        ) else {
            return;
        };
        let pinned = format!("[127.0.0.1]:{} {}\n", server.port, server.key_line);
        let mut with_key = endpoint(&server, &pinned, "");
        with_key.sftp.private_key = Some(server.dir.join("host_key.client"));
        with_key.sftp.passphrase = server.client_key_encrypted.then(|| "k3y-pass".to_string());
        let mut s = SftpSession::connect(&with_key).await.unwrap();
        s.put("in/k.hl7", b"MSH|").await.unwrap();
        assert_eq!(s.list("in").await.unwrap(), ["k.hl7"]);
        s.quit().await;
        if server.client_key_encrypted {
            with_key.sftp.passphrase = Some("not-the-pass".into());
            let e = SftpSession::connect(&with_key).await.err().unwrap();
            assert!(e.contains("SFTPPrivateKeyFile") && e.contains("host_key.client"), "{e}");
            assert!(e.contains("wrong SFTPPassphraseCredentials") && !e.contains("not-the-pass"), "{e}");
            with_key.sftp.passphrase = None;
            let e = SftpSession::connect(&with_key).await.err().unwrap();
            assert!(e.contains("SFTPPassphraseCredentials"), "{e}");
        } else {
            skipped(
                "SKIPPED the passphrase part of the key test: Python's bcrypt is needed to encrypt an OpenSSH key (python3 -m pip install bcrypt)",
            );
        }
        with_key.credentials = None;
        let e = SftpSession::connect(&with_key).await.err().unwrap();
        assert!(e.contains("needs Credentials for the user name"), "{e}");
    }
}
