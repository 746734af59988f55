//! FTP and explicit FTPS sessions through `suppaftp` (tokio; rustls with ring, the host's
//! TLS). FTPS upgrades the control connection with `AUTH TLS` before the log-in, so the
//! password never crosses in clear, and protects the data connections (`PROT P`); the
//! server's certificate is verified against the `.ca` of `SSLConfig` and its name against
//! `FTPServer`.
//!
//! # Invariants
//! - Transfers are binary (`TYPE I`): bytes arrive and leave as they are, never with
//!   line endings rewritten (HL7 segment terminators are CRs).
//! - A listing keeps plain files only: directories and links are never taken as files.

use super::{Endpoint, Protocol};
use suppaftp::list::File;
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use suppaftp::types::FileType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A logged-in FTP or FTPS session.
pub struct FtpSession {
    /// The control connection (TLS after `AUTH TLS` for FTPS).
    stream: AsyncRustlsFtpStream,
    /// `host:port`, for messages.
    address: String,
}

/// How long a server may take to close a data connection after the last byte of a file.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long an active-mode data connection may take to arrive.
const ACTIVE_ACCEPT: std::time::Duration = std::time::Duration::from_secs(30);

impl FtpSession {
    /// Connects, upgrades to TLS for FTPS, logs in and sets binary transfers.
    pub async fn connect(endpoint: &Endpoint) -> Result<FtpSession, String> {
        let address = endpoint.address();
        let fail = |verb: &str, e: suppaftp::FtpError| format!("FTP {address}: {verb}: {e}");
        let mut stream = AsyncRustlsFtpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| fail("cannot connect", e))?;
        if !endpoint.passive {
            stream = stream.active_mode(ACTIVE_ACCEPT);
        }
        if endpoint.protocol == Protocol::Ftps {
            let config = endpoint.tls.clone().ok_or_else(|| format!("FTPS {address}: no SSLConfig"))?;
            let connector = AsyncRustlsConnector::from(tokio_rustls::TlsConnector::from(config));
            stream = stream.into_secure(connector, &endpoint.host).await.map_err(|e| fail("AUTH TLS", e))?;
        }
        let (user, password) = endpoint.login();
        // The error is the server's reply to PASS, which never echoes the password.
        stream.login(user.as_str(), password.as_str()).await.map_err(|e| fail(&format!("log-in as {user}"), e))?;
        stream.transfer_type(FileType::Binary).await.map_err(|e| fail("TYPE I", e))?;
        Ok(FtpSession { stream, address })
    }

    fn fail(&self, verb: &str, e: suppaftp::FtpError) -> String {
        format!("FTP {}: {verb}: {e}", self.address)
    }

    /// Plain files in `dir`, from `LIST` (POSIX and DOS listings both read).
    pub async fn list(&mut self, dir: &str) -> Result<Vec<String>, String> {
        let at = if dir.is_empty() { None } else { Some(dir) };
        let lines = self.stream.list(at).await.map_err(|e| self.fail(&format!("LIST {dir}"), e))?;
        Ok(plain_files(&lines))
    }

    /// The content of `path` (`RETR`).
    pub async fn get(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let mut data = self.stream.retr_as_stream(path).await.map_err(|e| self.fail(&format!("RETR {path}"), e))?;
        let mut body = Vec::new();
        let read = data.read_to_end(&mut body).await;
        let finished = self.stream.finalize_retr_stream(data).await;
        read.map_err(|e| format!("FTP {}: RETR {path}: {e}", self.address))?;
        finished.map_err(|e| self.fail(&format!("RETR {path}"), e))?;
        Ok(body)
    }

    /// Writes `body` to `path` (`STOR`). After the last byte the data connection is shut
    /// down (TLS `close_notify`, then FIN) and read until the server closes its side:
    /// closing a socket that still holds the server's `close_notify` unread would send a
    /// reset, and a reset makes the server drop whatever of the file it has not read yet.
    pub async fn put(&mut self, path: &str, body: &[u8]) -> Result<(), String> {
        let mut data = self.stream.put_with_stream(path).await.map_err(|e| self.fail(&format!("STOR {path}"), e))?;
        let io = |e: std::io::Error| format!("FTP {}: STOR {path}: {e}", self.address);
        data.write_all(body).await.map_err(io)?;
        data.shutdown().await.map_err(io)?;
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            let mut rest = [0u8; 256];
            while matches!(data.read(&mut rest).await, Ok(n) if n > 0) {}
        })
        .await;
        self.stream.finalize_put_stream(data).await.map_err(|e| self.fail(&format!("STOR {path}"), e))
    }

    /// `RNFR from`, `RNTO to`.
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), String> {
        self.stream.rename(from, to).await.map_err(|e| self.fail(&format!("RNFR {from} RNTO {to}"), e))
    }

    /// `DELE path`.
    pub async fn delete(&mut self, path: &str) -> Result<(), String> {
        self.stream.rm(path).await.map_err(|e| self.fail(&format!("DELE {path}"), e))
    }

    /// `QUIT`.
    pub async fn quit(mut self) {
        let _ = self.stream.quit().await;
    }
}

/// The names of the plain files in a `LIST` reply; lines that do not parse (a `total`
/// line, a server's own format) are left out.
fn plain_files(lines: &[String]) -> Vec<String> {
    let mut names: Vec<String> = lines
        .iter()
        .filter(|l| !l.starts_with("total "))
        .filter_map(|l| l.parse::<File>().ok())
        .filter(|f| f.is_file())
        .map(|f| f.name().to_string())
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::plain_files;

    #[test]
    fn a_listing_keeps_plain_files_and_drops_directories_links_and_noise() {
        let lines: Vec<String> = [
            "total 12",
            "-rw-r--r--   1 ftp ftp   1024 Dec 07 10:00 adt_2.hl7",
            "drwxr-xr-x   2 ftp ftp   4096 Dec 07 10:00 archive",
            "lrwxrwxrwx   1 ftp ftp      7 Dec 07 10:00 latest -> archive",
            "-rw-r--r--   1 ftp ftp     99 Dec 07 10:00 adt_1.hl7",
            "12-07-26  10:00AM                 2048 lab.hl7",
            "12-07-26  10:00AM       <DIR>          old",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(plain_files(&lines), ["adt_1.hl7", "adt_2.hl7", "lab.hl7"]);
    }
}
