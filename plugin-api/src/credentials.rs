//! Reading IRIS's `Credentials` setting, shared by every adapter that logs in (the host's
//! FTP and SFTP adapters, the e-mail pack's SMTP adapter).
//!
//! IRIS names an entry of its credentials store there; HIE has no such store yet, so the
//! value is either the path of a file whose first line is `user:password` (or whose
//! first two lines are the user and the password), or `user:password` itself. A value
//! naming an existing file is always read as a file. Empty means no credentials.
//!
//! # Invariants
//! - A password never appears in an error message or in `Debug` output.
//! - Pure but for reading the file the value names.

use std::path::Path;

/// A user and a password.
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

/// Why a `Credentials` value does not read (the text names no password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting Credentials: {0}")]
pub struct CredentialsError(pub String);

/// Reads a `Credentials` value: `Ok(None)` when empty.
pub fn read(value: &str) -> Result<Option<Credentials>, CredentialsError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let path = Path::new(value);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CredentialsError(format!("cannot read {}: {e}", path.display())))?;
        return from_file_text(&text).map(Some).ok_or_else(|| {
            CredentialsError(format!(
                "{} holds no credentials: its first line must be user:password (or the user, then the password on the next line)",
                path.display()
            ))
        });
    }
    match value.split_once(':') {
        Some((user, password)) if !user.trim().is_empty() => {
            Ok(Some(Credentials { user: user.trim().to_string(), password: password.to_string() }))
        }
        _ if value.contains('/') => Err(CredentialsError(format!("the file {value} does not exist"))),
        _ => Err(CredentialsError(format!(
            "{value:?} looks like an IRIS credentials name, but HIE has no credentials store: give user:password, or the path of a file holding it"
        ))),
    }
}

/// The credentials a file holds: `user:password` on the first line, or the user on the
/// first line and the password on the second.
fn from_file_text(text: &str) -> Option<Credentials> {
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
    fn credentials_read_inline_or_from_a_file_and_never_show_the_password() {
        assert_eq!(read("").unwrap(), None);
        let c = read("alerts@trust.nhs.uk:pa:ss").unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("alerts@trust.nhs.uk", "pa:ss"));
        assert!(!format!("{c:?}").contains("pa:ss"));

        let dir = std::env::temp_dir().join(format!("hie-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let one = dir.join("one");
        std::fs::write(&one, "relay-user:s3cret\n").unwrap();
        let c = read(one.to_str().unwrap()).unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("relay-user", "s3cret"));
        let two = dir.join("two");
        std::fs::write(&two, "relay-user\r\nno colon here\r\n").unwrap();
        let c = read(two.to_str().unwrap()).unwrap().unwrap();
        assert_eq!(c.password, "no colon here");
        let empty = dir.join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(read(empty.to_str().unwrap()).unwrap_err().to_string().contains("holds no credentials"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_iris_credentials_name_or_a_missing_file_is_an_error_saying_what_hie_accepts() {
        let e = read("SMTPRelayCreds").unwrap_err().to_string();
        assert!(e.contains("no credentials store") && e.contains("user:password"), "{e}");
        let e = read("/etc/hie/missing-creds").unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
