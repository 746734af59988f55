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
pub use hie_plugin_api::credentials::Credentials;

/// Reads `Credentials` ([`hie_plugin_api::credentials::read`]): `user:password`, or the
/// path of a file holding it; empty means no SMTP AUTH.
pub fn credentials(value: &str) -> Result<Option<Credentials>, ConfigError> {
    hie_plugin_api::credentials::read(value).map_err(|e| ConfigError::Credentials(e.0))
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
    fn credentials_errors_name_the_setting_once() {
        let e = credentials("SMTPRelayCreds").unwrap_err().to_string();
        assert!(
            e.starts_with("setting Credentials: ")
                && !e["setting Credentials: ".len()..].contains("setting Credentials"),
            "{e}"
        );
    }
}
