//! Certificates for TLS tests, made at test time with rcgen: a CA and a certificate it
//! signs for 127.0.0.1 and localhost, written as HIE's TLS configuration files.

use std::path::Path;

/// A test CA and one server certificate it signed, as PEM.
pub struct TestPki {
    /// The CA certificate (what clients trust).
    pub ca_pem: String,
    /// The server certificate (for 127.0.0.1 and localhost).
    pub server_pem: String,
    /// Its private key.
    pub server_key_pem: String,
}

impl TestPki {
    /// A fresh CA and server certificate.
    pub fn new() -> TestPki {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "HIE test CA");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("params");
        let key = rcgen::KeyPair::generate().expect("server key");
        let server = params.signed_by(&key, &ca, &ca_key).expect("server certificate");
        TestPki { ca_pem: ca.pem(), server_pem: server.pem(), server_key_pem: key.serialize_pem() }
    }

    /// Writes the TLS configuration `name` a service presents: `name.crt`, `name.key`.
    pub fn write_server_config(&self, dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).expect("tls dir");
        std::fs::write(dir.join(format!("{name}.crt")), &self.server_pem).expect("crt");
        std::fs::write(dir.join(format!("{name}.key")), &self.server_key_pem).expect("key");
    }

    /// Writes the TLS configuration `name` an operation verifies receivers with: `name.ca`.
    pub fn write_client_config(&self, dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).expect("tls dir");
        std::fs::write(dir.join(format!("{name}.ca")), &self.ca_pem).expect("ca");
    }
}

impl TestPki {
    /// A rustls server configuration presenting the server certificate (for fake peers).
    pub fn rustls_server(&self) -> std::sync::Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = vec![CertificateDer::from_pem_slice(self.server_pem.as_bytes()).expect("certificate")];
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).expect("key");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config");
        std::sync::Arc::new(config)
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}
