//! TLS for the MLLP adapters, named the IRIS way: the adapter setting `SSLConfig` names a
//! TLS configuration.
//!
//! IRIS keeps its SSL/TLS configurations in the instance, outside the production, and a
//! production only names one. HIE keeps them as PEM files in the production's TLS
//! directory (production setting `TLSDir`, by default `tls/` beside the production
//! file): the configuration `PAS` is
//!
//! - `PAS.crt`: the certificate chain HIE presents (a service's server certificate, an
//!   operation's client certificate for mutual TLS);
//! - `PAS.key`: its private key;
//! - `PAS.ca`: the certificates HIE trusts. An operation verifies the receiver's
//!   certificate against them (and its `IPAddress` against the certificate's names); a
//!   service that has them requires and verifies a client certificate (mutual TLS).
//!
//! A service needs `.crt` and `.key`; an operation needs `.ca`. Validation loads the files,
//! so a missing or unreadable one is an error naming the file, line, item and setting.

use super::SettingsSource;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The TLS directory of a production file when `TLSDir` does not say.
pub fn default_dir(production_file: &Path) -> PathBuf {
    production_file.parent().unwrap_or_else(|| Path::new(".")).join("tls")
}

/// The files of configuration `name` in `dir`.
struct Files {
    crt: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

fn files(dir: &Path, name: &str) -> Result<Files, String> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    if !ok {
        return Err(format!(
            "SSLConfig {name:?} is not a TLS configuration name (letters, digits, '-', '_', '.'; HIE reads {}/<name>.crt, .key, .ca)",
            dir.display()
        ));
    }
    Ok(Files {
        crt: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
        ca: dir.join(format!("{name}.ca")),
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("cannot read a private key from {}: {e}", path.display()))
}

fn trust_roots(path: &Path) -> Result<Arc<rustls::RootCertStore>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(path)? {
        roots.add(cert).map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
    }
    Ok(Arc::new(roots))
}

/// The server side of configuration `name`, for a service's listener.
pub fn server_config(dir: &Path, name: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let f = files(dir, name)?;
    let (certs, key) = (certificates(&f.crt)?, private_key(&f.key)?);
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if f.ca.exists() {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(trust_roots(&f.ca)?, provider())
            .build()
            .map_err(|e| format!("{}: {e}", f.ca.display()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{} with {}: {e}", f.crt.display(), f.key.display()))?;
    Ok(Arc::new(config))
}

/// The client side of configuration `name`, for an operation's connections.
pub fn client_config(dir: &Path, name: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let f = files(dir, name)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(trust_roots(&f.ca)?);
    let config = if f.crt.exists() {
        builder
            .with_client_auth_cert(certificates(&f.crt)?, private_key(&f.key)?)
            .map_err(|e| format!("{} with {}: {e}", f.crt.display(), f.key.display()))?
    } else {
        builder.with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The name an operation expects in the receiver's certificate: its `IPAddress`.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("IPAddress {host:?} cannot be checked against a certificate: {e}"))
}

/// A byte stream to a peer: plain TCP, or TLS over it.
pub trait ByteStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> ByteStream for S {}

/// How an operation's adapter opens TLS to `host`: the client configuration and the name
/// the peer's certificate must carry, or why it cannot (validation refuses that first,
/// so this only reports it at connect time).
pub type Connector = Result<(tokio_rustls::TlsConnector, ServerName<'static>), String>;

/// The operation's TLS, from its `SSLConfig` and `TLSDir` settings; `None` for plain TCP.
pub fn connector(settings: &super::AdapterSettings, host: &str) -> Option<Connector> {
    let name = settings.text("SSLConfig");
    if name.is_empty() {
        return None;
    }
    let dir = PathBuf::from(settings.text("TLSDir"));
    Some(client_config(&dir, &name).and_then(|c| Ok((tokio_rustls::TlsConnector::from(c), server_name(host)?))))
}

/// `tcp` as is, or after a TLS handshake when `connector` says so.
pub async fn over(tcp: tokio::net::TcpStream, connector: Option<&Connector>) -> std::io::Result<Box<dyn ByteStream>> {
    match connector {
        None => Ok(Box::new(tcp)),
        Some(Err(e)) => Err(std::io::Error::other(e.clone())),
        Some(Ok((connector, name))) => Ok(Box::new(connector.connect(name.clone(), tcp).await?)),
    }
}

/// Checks `SSLConfig` for validation: loads what the adapter will load (`inbound`: a
/// service's listener; otherwise an operation's client).
pub fn check(dir: &Path, name: &str, inbound: bool) -> Result<(), String> {
    if inbound { server_config(dir, name).map(|_| ()) } else { client_config(dir, name).map(|_| ()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A CA, and a certificate it signs for `names`, as (ca pem, cert pem, key pem).
    fn pki(names: &[&str]) -> (String, String, String) {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(names).expect("params").signed_by(&key, &ca, &ca_key).expect("cert");
        (ca.pem(), cert.pem(), key.serialize_pem())
    }

    /// One TLS round trip between a client and a server configuration; `Ok` when the
    /// server read the client's bytes.
    async fn round_trip(server: Arc<rustls::ServerConfig>, client: Arc<rustls::ClientConfig>) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let serve = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let mut tls = tokio_rustls::TlsAcceptor::from(server).accept(tcp).await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(buf)
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = server_name("127.0.0.1")?;
        if let Ok(mut tls) = tokio_rustls::TlsConnector::from(client).connect(name, tcp).await {
            let _ = tls.write_all(b"hello").await;
            let _ = tls.flush().await;
        }
        let got = serve.await.map_err(|e| e.to_string())??;
        if &got == b"hello" { Ok(()) } else { Err("wrong bytes".into()) }
    }

    #[tokio::test]
    async fn a_service_with_a_ca_file_requires_a_client_certificate_it_trusts() {
        let dir = std::env::temp_dir().join(format!("hie-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (ca, cert, key) = pki(&["127.0.0.1"]);
        let (client_ca, client_cert, client_key) = pki(&["hie-client"]);
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
        write("server.crt", &cert);
        write("server.key", &key);
        write("plain-client.ca", &ca);
        assert!(
            round_trip(server_config(&dir, "server").unwrap(), client_config(&dir, "plain-client").unwrap())
                .await
                .is_ok()
        );

        // Mutual TLS: the service trusts client certificates signed by client_ca.
        write("mutual.crt", &cert);
        write("mutual.key", &key);
        write("mutual.ca", &client_ca);
        let mutual = server_config(&dir, "mutual").unwrap();
        let refused = round_trip(mutual.clone(), client_config(&dir, "plain-client").unwrap()).await;
        assert!(refused.is_err(), "a client without a certificate is refused");
        write("with-cert.ca", &ca);
        write("with-cert.crt", &client_cert);
        write("with-cert.key", &client_key);
        assert_eq!(round_trip(mutual, client_config(&dir, "with-cert").unwrap()).await, Ok(()));

        // What validation reports.
        assert!(check(&dir, "missing", true).unwrap_err().contains("missing.crt"));
        assert!(check(&dir, "missing", false).unwrap_err().contains("missing.ca"));
        assert!(check(&dir, "../etc/x", true).unwrap_err().contains("not a TLS configuration name"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
