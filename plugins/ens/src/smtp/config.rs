//! Reading the settings of `EnsLib.EMail.OutboundAdapter`: address lists, credentials
//! and the TLS mode named by `SSLConfig`.
//!
//! # Invariants
//! - Nothing here touches the network; every function is pure but for
//!   [`credentials`], which may read the file a setting names.
//! - A value that does not read is an error naming the setting and quoting the value;
//!   none is skipped (a skipped recipient would be an alert nobody gets).
//! - A password never appears in an error message.

use lettre::message::Mailbox;
use std::path::Path;

/// A setting of the e-mail adapter that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An address in `Recipient`, `Cc`, `Bcc` or `From` is not an e-mail address.
    #[error("setting {setting}: {value:?} is not an e-mail address ({reason})")]
    Address {
        /// The setting (or call parameter) it came from.
        setting: String,
        /// The entry as written.
        value: String,
        /// Why it does not read.
        reason: String,
    },
    /// `Credentials` names neither `user:password` nor a readable file holding it.
    #[error("setting Credentials: {0}")]
    Credentials(String),
    /// `SSLConfig` is not a TLS configuration name.
    #[error("setting SSLConfig: {0}")]
    SslConfig(String),
}

/// How the SMTP session is secured, from `SSLConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Empty `SSLConfig`: plain SMTP, never upgraded (IRIS sends in clear too).
    Plain,
    /// `SSLConfig=name`: TLS from the first byte (SMTPS, usually port 465).
    Implicit(String),
    /// `SSLConfig=name*`: plain connection upgraded with STARTTLS before anything is
    /// sent (usually port 587 or 25); a server that does not offer STARTTLS is an error.
    StartTls(String),
}

impl TlsMode {
    /// The TLS configuration name, if any.
    pub fn config_name(&self) -> Option<&str> {
        match self {
            TlsMode::Plain => None,
            TlsMode::Implicit(n) | TlsMode::StartTls(n) => Some(n),
        }
    }
}

/// Reads `SSLConfig`: empty is plain, `name` implicit TLS, `name*` STARTTLS (IRIS's
/// trailing-asterisk convention). The name must be a configuration name HIE can find
/// files for (letters, digits, `-`, `_`, `.`; not starting with `.`).
pub fn tls_mode(value: &str) -> Result<TlsMode, ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(TlsMode::Plain);
    }
    let (name, starttls) = match value.strip_suffix('*') {
        Some(name) => (name.trim(), true),
        None => (value, false),
    };
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !ok {
        return Err(ConfigError::SslConfig(format!(
            "{value:?} is not a TLS configuration name (letters, digits, '-', '_', '.'; a trailing * means STARTTLS)"
        )));
    }
    Ok(if starttls { TlsMode::StartTls(name.to_string()) } else { TlsMode::Implicit(name.to_string()) })
}

/// Reads an address list: entries separated by commas and/or semicolons (IRIS), each
/// `user@host` or `Name <user@host>`; empty entries are dropped.
pub fn address_list(setting: &str, value: &str) -> Result<Vec<Mailbox>, ConfigError> {
    value.split([',', ';']).map(str::trim).filter(|e| !e.is_empty()).map(|e| mailbox(setting, e)).collect()
}

/// Reads one address (`From`); `None` when empty.
pub fn single_address(setting: &str, value: &str) -> Result<Option<Mailbox>, ConfigError> {
    let value = value.trim();
    if value.is_empty() { Ok(None) } else { mailbox(setting, value).map(Some) }
}

fn mailbox(setting: &str, entry: &str) -> Result<Mailbox, ConfigError> {
    entry.parse::<Mailbox>().map_err(|e| ConfigError::Address {
        setting: setting.to_string(),
        value: entry.to_string(),
        reason: e.to_string(),
    })
}

/// An SMTP AUTH user and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"***").finish()
    }
}

/// Reads `Credentials`. IRIS names an entry of its credentials store here; HIE has no
/// such store yet, so the value is either the path of a file whose first line is
/// `user:password` (or whose first two lines are the user and the password), or
/// `user:password` itself. A value naming an existing file is always read as a file.
/// Empty means no SMTP AUTH.
pub fn credentials(value: &str) -> Result<Option<Credentials>, ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let path = Path::new(value);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Credentials(format!("cannot read {}: {e}", path.display())))?;
        return credentials_file(&text).map(Some).ok_or_else(|| {
            ConfigError::Credentials(format!(
                "{} holds no credentials: its first line must be user:password (or the user, then the password on the next line)",
                path.display()
            ))
        });
    }
    match value.split_once(':') {
        Some((user, password)) if !user.trim().is_empty() => {
            Ok(Some(Credentials { user: user.trim().to_string(), password: password.to_string() }))
        }
        _ if value.contains('/') => Err(ConfigError::Credentials(format!("the file {value} does not exist"))),
        _ => Err(ConfigError::Credentials(format!(
            "{value:?} looks like an IRIS credentials name, but HIE has no credentials store: give user:password, or the path of a file holding it"
        ))),
    }
}

/// The credentials a file holds: `user:password` on the first line, or the user on the
/// first line and the password on the second.
fn credentials_file(text: &str) -> Option<Credentials> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.trim().is_empty());
    let first = lines.next()?;
    if let Some((user, password)) = first.split_once(':')
        && !user.trim().is_empty()
    {
        return Some(Credentials { user: user.trim().to_string(), password: password.to_string() });
    }
    let password = lines.next()?;
    Some(Credentials { user: first.trim().to_string(), password: password.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_config_empty_is_plain_a_name_is_implicit_tls_and_a_trailing_star_is_starttls() {
        assert_eq!(tls_mode(""), Ok(TlsMode::Plain));
        assert_eq!(tls_mode(" relay "), Ok(TlsMode::Implicit("relay".into())));
        assert_eq!(tls_mode("NHSmail*"), Ok(TlsMode::StartTls("NHSmail".into())));
        assert_eq!(tls_mode("NHSmail*").ok().as_ref().and_then(TlsMode::config_name), Some("NHSmail"));
        for bad in ["*", "../etc/x", ".hidden", "a b"] {
            assert!(matches!(tls_mode(bad), Err(ConfigError::SslConfig(_))), "{bad}");
        }
    }

    #[test]
    fn recipient_lists_split_on_commas_and_semicolons_and_keep_display_names() {
        let list = address_list("Recipient", "ops@trust.nhs.uk; On Call <oncall@trust.nhs.uk>,, ,x@y.org").unwrap();
        let shown: Vec<String> = list.iter().map(|m| m.to_string()).collect();
        assert_eq!(shown, ["ops@trust.nhs.uk", "On Call <oncall@trust.nhs.uk>", "x@y.org"]);
        assert!(address_list("Cc", " ").unwrap().is_empty());
    }

    #[test]
    fn a_malformed_address_is_an_error_naming_the_setting_and_the_entry() {
        let e = address_list("Cc", "ok@trust.nhs.uk, not-an-address").unwrap_err();
        assert!(e.to_string().starts_with("setting Cc: \"not-an-address\" is not an e-mail address"), "{e}");
        assert_eq!(single_address("From", "").unwrap(), None);
        assert!(single_address("From", "hie@").is_err());
    }

    #[test]
    fn credentials_read_inline_or_from_a_file_and_never_show_the_password() {
        assert_eq!(credentials("").unwrap(), None);
        let c = credentials("alerts@trust.nhs.uk:pa:ss").unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("alerts@trust.nhs.uk", "pa:ss"));
        assert!(!format!("{c:?}").contains("pa:ss"));

        let dir = std::env::temp_dir().join(format!("hie-ens-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let one = dir.join("one");
        std::fs::write(&one, "relay-user:s3cret\n").unwrap();
        let c = credentials(one.to_str().unwrap()).unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("relay-user", "s3cret"));
        let two = dir.join("two");
        std::fs::write(&two, "relay-user\r\nno colon here\r\n").unwrap();
        let c = credentials(two.to_str().unwrap()).unwrap().unwrap();
        assert_eq!(c.password, "no colon here");
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(credentials(empty.to_str().unwrap()).unwrap_err().to_string().contains("holds no credentials"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_iris_credentials_name_or_a_missing_file_is_an_error_saying_what_hie_accepts() {
        let e = credentials("SMTPRelayCreds").unwrap_err().to_string();
        assert!(e.contains("no credentials store") && e.contains("user:password"), "{e}");
        let e = credentials("/etc/hie/missing-creds").unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
