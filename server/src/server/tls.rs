//! TLS with rustls (ring provider): a server acceptor from PEM files, a client
//! connector from PEM root certificates. Plain TCP when not configured.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no {what} found in the PEM file")]
    Missing {
        path: std::path::PathBuf,
        what: &'static str,
    },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut BufReader::new(pem))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::Missing {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// A server acceptor from a PEM certificate chain and a PEM private key.
pub fn acceptor(cert_path: &Path, key_path: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs = certificates(&read_pem(cert_path)?, cert_path)?;
    let key_pem = read_pem(key_path)?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut BufReader::new(key_pem.as_slice()))
        .map_err(|source| TlsError::Read {
            path: key_path.to_path_buf(),
            source,
        })?
        .ok_or_else(|| TlsError::Missing {
            path: key_path.to_path_buf(),
            what: "private key",
        })?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What a client needs to speak TLS to a server.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// PEM certificates the client trusts (the server's CA or self-signed cert).
    pub root_certificates_pem: Vec<u8>,
    /// The name the server's certificate must carry (DNS name or IP).
    pub server_name: String,
}

impl ClientTls {
    /// A connector that trusts the certificates of `root_certificates_pem`
    /// as CAs (webpki: chain, name, validity), and also a server that
    /// presents exactly one of them as its only certificate: a pinned
    /// self-signed certificate, including one with the CA flag that
    /// `openssl req -x509` makes (webpki refuses those as `CaUsedAsEndEntity`).
    /// A pinned certificate is trusted as is: the client holds that exact
    /// certificate, so its name and dates are not checked again.
    pub fn connector(&self) -> Result<(TlsConnector, ServerName<'static>), TlsError> {
        let pinned = certificates(&self.root_certificates_pem, Path::new("(root certificates)"))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in &pinned {
            roots.add(cert.clone())?;
        }
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
        let verifier = Arc::new(PinnedOrWebPki { pinned, webpki });
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let name = ServerName::try_from(self.server_name.clone())
            .map_err(|_| TlsError::ServerName(self.server_name.clone()))?;
        Ok((TlsConnector::from(Arc::new(config)), name))
    }
}

/// Server certificate check of [`ClientTls::connector`]: webpki against the
/// trusted certificates, or the exact pinned certificate presented alone.
#[derive(Debug)]
struct PinnedOrWebPki {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Ok(verified) => Ok(verified),
            Err(_) if intermediates.is_empty() && self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) => {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            Err(error) => Err(error),
        }
    }

    // The handshake signature is always checked against the presented
    // certificate's key: a pinned certificate is useless without its key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
