//! TLS configuration of the API server (and of clients that talk to it, for tests and
//! components that do not bring their own TLS stack).
//!
//! The crypto provider is always `ring`, passed explicitly: nothing here depends on a
//! process-wide default provider having been installed (or not) by someone else.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::pki::Pki;

/// ALPN protocols the API server speaks, preferred first (kubectl and client-go use h2).
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Errors building a TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM input holds no usable certificate or key.
    #[error("{what}: {reason}")]
    Pem { what: &'static str, reason: String },
    /// rustls refused the certificate, key or settings.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The CA cannot be used to verify peers.
    #[error("TLS certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The API server's TLS configuration: the PKI's serving certificate, ALPN `h2` and
/// `http/1.1`, TLS 1.2 and 1.3.
///
/// # Guarantees
/// Client certificates are optional: a client without one completes the handshake (and is
/// anonymous to the authenticators). A client certificate that *is* presented must chain
/// to the cluster CA and carry the `clientAuth` usage, or the handshake fails; so a peer
/// certificate seen on an accepted connection has been verified, which
/// [`crate::authn::X509Authenticator`] relies on.
///
/// # Errors
/// Only if the PKI's PEM does not parse, which [`Pki`] already guarantees against.
pub fn server_config(pki: &Pki) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let roots = Arc::new(root_store(pki.ca_cert_pem())?);
    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(roots, provider.clone()).allow_unauthenticated().build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(certs(pki.serving_cert_pem(), "serving certificate")?, key(pki.serving_key_pem())?)?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration trusting only the cluster CA (`ca_cert_pem`), presenting
/// `identity` (`(cert_pem, key_pem)`) when given. ALPN offers `h2` and `http/1.1`; callers
/// may change `alpn_protocols` before wrapping it in an `Arc`.
///
/// # Errors
/// When a PEM input does not parse or the key does not fit the certificate.
pub fn client_config(ca_cert_pem: &str, identity: Option<(&str, &str)>) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let roots = Arc::new(root_store(ca_cert_pem)?);
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsError::Pem { what: "CA certificate", reason: e.to_string() })?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_webpki_verifier(verifier);
    let mut config = match identity {
        Some((cert_pem, key_pem)) => {
            builder.with_client_auth_cert(certs(cert_pem, "client certificate")?, key(key_pem)?)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

fn root_store(ca_cert_pem: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca_cert_pem, "CA certificate")? {
        roots.add(cert)?;
    }
    Ok(roots)
}

pub(crate) fn certs(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem { what, reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::Pem { what, reason: "no CERTIFICATE block".into() });
    }
    Ok(certs)
}

fn key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    match rustls_pemfile::private_key(&mut pem.as_bytes()) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(TlsError::Pem { what: "private key", reason: "no PRIVATE KEY block".into() }),
        Err(e) => Err(TlsError::Pem { what: "private key", reason: e.to_string() }),
    }
}

#[cfg(test)]
mod tests;
