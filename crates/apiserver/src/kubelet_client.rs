//! The API server's client for kubelets (`pods/log` and, later, exec/attach/
//! port-forward): HTTPS to the node's InternalIP and kubelet port, presenting a
//! client certificate `kube-apiserver-kubelet-client` in `system:masters` issued
//! by the cluster CA, which the kubelet checks. Like upstream without
//! `--kubelet-certificate-authority`, the kubelet's own (self-signed) serving
//! certificate is not verified.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::pki::Pki;

/// The user the API server is to kubelets.
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";

pub struct KubeletClient {
    tls: Arc<rustls::ClientConfig>,
}

#[derive(Debug)]
struct AnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl KubeletClient {
    /// Issues the client certificate (in memory) and builds the TLS config.
    ///
    /// # Errors
    /// A message when the certificate cannot be issued or used.
    pub fn new(pki: &Pki) -> Result<KubeletClient, String> {
        let (cert_pem, key_pem) =
            pki.issue_client_cert(KUBELET_CLIENT_USER, &[crate::pki::ADMIN_GROUP]).map_err(|e| e.to_string())?;
        let certs: Vec<CertificateDer<'static>> =
            rustls_pemfile::certs(&mut cert_pem.as_bytes()).filter_map(Result::ok).collect();
        let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .ok()
            .flatten()
            .ok_or_else(|| "no kubelet client key".to_string())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
            .with_client_auth_cert(certs, key)
            .map_err(|e| e.to_string())?;
        Ok(KubeletClient { tls: Arc::new(tls) })
    }

    /// `GET https://host:port{path_and_query}`; the response body streams.
    ///
    /// # Errors
    /// A message saying what failed (connect, TLS, HTTP).
    pub async fn get(&self, host: &str, port: u16, path_and_query: &str) -> Result<Response<Incoming>, String> {
        let req = Request::get(path_and_query).body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
        self.send(host, port, req).await
    }

    /// Sends `req` (an upgrade handshake: exec, attach, port-forward) on a
    /// connection that can be taken over: when the kubelet answers 101,
    /// `hyper::upgrade::on(response)` yields the raw stream.
    ///
    /// # Errors
    /// A message saying what failed (connect, TLS, HTTP).
    pub async fn send(
        &self,
        host: &str,
        port: u16,
        mut req: Request<Empty<Bytes>>,
    ) -> Result<Response<Incoming>, String> {
        let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let tcp = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(&addr))
            .await
            .map_err(|_| format!("dial {addr}: timeout"))?
            .map_err(|e| format!("dial {addr}: {e}"))?;
        let name = ServerName::try_from(host.to_string()).map_err(|e| format!("bad kubelet address {host}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with the kubelet at {addr}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP with the kubelet at {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let host_header = http::HeaderValue::from_str(&addr).map_err(|e| e.to_string())?;
        req.headers_mut().insert(http::header::HOST, host_header);
        sender.send_request(req).await.map_err(|e| format!("request to the kubelet at {addr}: {e}"))
    }
}
