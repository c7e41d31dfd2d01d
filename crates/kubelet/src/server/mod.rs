//! The kubelet's HTTPS server on port 10250: `/containerLogs/{ns}/{pod}/{container}`,
//! `/exec/{ns}/{pod}/{container}`, `/attach/{ns}/{pod}/{container}`,
//! `/portForward/{ns}/{pod}` (see [`stream`]) and `/healthz`. Callers must
//! present a client certificate issued by the
//! cluster CA with the group `system:masters` (the API server's
//! `kube-apiserver-kubelet-client`); anything else is 401/403. The serving
//! certificate is self-signed, made at start (the API server does not verify it,
//! as upstream without `--kubelet-certificate-authority`).

pub mod logs;
pub mod stream;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_util::sync::CancellationToken;

use crate::cri;
use crate::pod::observed::{LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE};
use crate::runtime::Runtime;
use logs::LogOptions;

pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// The group a caller needs.
pub const REQUIRED_GROUP: &str = "system:masters";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the cluster CA is not a usable PEM certificate: {0}")]
    Ca(String),
    #[error("making the kubelet serving certificate: {0}")]
    Cert(String),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

pub struct KubeletServer {
    tls: Arc<rustls::ServerConfig>,
    listener: tokio::net::TcpListener,
    runtime: Arc<dyn Runtime>,
}

impl KubeletServer {
    /// Binds `addr` and prepares TLS: clients verified against `client_ca_pem`.
    ///
    /// # Errors
    /// A bad CA, certificate generation failure, or the port is taken.
    pub async fn bind(
        addr: SocketAddr,
        client_ca_pem: &str,
        names: Vec<String>,
        runtime: Arc<dyn Runtime>,
    ) -> Result<KubeletServer, Error> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut client_ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| Error::Ca(e.to_string()))?;
            roots.add(cert).map_err(|e| Error::Ca(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| Error::Ca(e.to_string()))?;
        let key = rcgen::KeyPair::generate().map_err(|e| Error::Cert(e.to_string()))?;
        let cert = rcgen::CertificateParams::new(names)
            .and_then(|p| p.self_signed(&key))
            .map_err(|e| Error::Cert(e.to_string()))?;
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Cert(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .map_err(|e| Error::Cert(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| Error::Listen { addr, source })?;
        Ok(KubeletServer { tls: Arc::new(tls), listener, runtime })
    }

    /// Serves until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls);
        loop {
            let (tcp, _) = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.listener.accept() => match r { Ok(c) => c, Err(_) => continue },
            };
            let acceptor = acceptor.clone();
            let runtime = self.runtime.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await else {
                    return;
                };
                let allowed = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).is_some_and(|c| in_group(c));
                let service = hyper::service::service_fn(move |req| {
                    let runtime = runtime.clone();
                    let shutdown = shutdown.clone();
                    async move { Ok::<_, Infallible>(route(req, allowed, runtime, shutdown).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .with_upgrades()
                    .await;
            });
        }
    }
}

/// Whether the (already CA-verified) client certificate names `system:masters`
/// among its organizations.
fn in_group(cert: &CertificateDer<'_>) -> bool {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else { return false };
    let is_member = parsed.subject().iter_organization().any(|o| o.as_str().is_ok_and(|o| o == REQUIRED_GROUP));
    is_member
}

pub(crate) fn text(code: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())).boxed_unsync());
    *r.status_mut() = code;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    r
}

async fn route(
    req: Request<Incoming>,
    allowed: bool,
    rt: Arc<dyn Runtime>,
    shutdown: CancellationToken,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return text(StatusCode::OK, "ok");
    }
    if !allowed {
        return text(
            StatusCode::FORBIDDEN,
            format!("Forbidden (the client certificate is not in group {REQUIRED_GROUP})"),
        );
    }
    let parts: Vec<String> = path.trim_start_matches('/').split('/').map(percent_decode).collect();
    match (req.method(), parts.as_slice()) {
        (&http::Method::GET, [root, ns, pod, container]) if root == "containerLogs" => {
            let opts = LogOptions::from_query(req.uri().query().unwrap_or(""));
            container_logs(rt, ns, pod, container, opts, shutdown).await
        }
        (&http::Method::GET | &http::Method::POST, [root, ns, pod, container])
            if root == "exec" || root == "attach" =>
        {
            let (ns, pod, container) = (ns.clone(), pod.clone(), container.clone());
            let target = if root == "exec" {
                stream::Target::Exec { ns, pod, container }
            } else {
                stream::Target::Attach { ns, pod, container }
            };
            stream::serve(req, target, rt).await
        }
        (&http::Method::GET | &http::Method::POST, [root, ns, pod]) if root == "portForward" => {
            let target = stream::Target::PortForward { ns: ns.clone(), pod: pod.clone() };
            stream::serve(req, target, rt).await
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Finds the container instance (latest, or the one before with `previous`).
pub(crate) async fn find_container(
    rt: &dyn Runtime,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
) -> Result<cri::ContainerStatus, Response<Body>> {
    let selector = std::collections::HashMap::from([
        (LABEL_POD_NAMESPACE.to_string(), ns.to_string()),
        (LABEL_POD_NAME.to_string(), pod.to_string()),
        (LABEL_CONTAINER_NAME.to_string(), container.to_string()),
    ]);
    let filter = cri::ContainerFilter { label_selector: selector, ..Default::default() };
    let mut list =
        rt.list_containers(Some(filter)).await.map_err(|e| text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    list.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    let pick = if previous { list.get(1) } else { list.first() };
    let Some(c) = pick else {
        let msg = if previous {
            format!("previous terminated container \"{container}\" in pod \"{pod}\" not found")
        } else {
            format!("container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating")
        };
        return Err(text(StatusCode::BAD_REQUEST, msg));
    };
    rt.container_status(&c.id).await.map_err(|e| text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn container_logs(
    rt: Arc<dyn Runtime>,
    ns: &str,
    pod: &str,
    container: &str,
    opts: LogOptions,
    shutdown: CancellationToken,
) -> Response<Body> {
    let status = match find_container(rt.as_ref(), ns, pod, container, opts.previous).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let path = PathBuf::from(&status.log_path);
    let now = chrono::Utc::now().timestamp();
    let text_now = std::fs::read_to_string(&path).unwrap_or_default();
    // Only whole lines; a partly written last line is picked up when following.
    let cut = text_now.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let first = logs::render(&text_now[..cut], &opts, now);
    if !opts.follow {
        let mut r = text(StatusCode::OK, first);
        r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
        return r;
    }
    // Follow: poll the file for new whole lines until the container exits.
    let id = status.id.clone();
    let follow_opts = LogOptions { tail_lines: None, since_seconds: None, limit_bytes: None, ..opts };
    let state = (Some(Bytes::from(first)), cut, path, rt, id, follow_opts, shutdown, false);
    let stream = futures::stream::unfold(state, |(first, mut offset, path, rt, id, opts, shutdown, done)| async move {
        if let Some(f) = first {
            return Some((Ok::<_, Infallible>(Frame::data(f)), (None, offset, path, rt, id, opts, shutdown, done)));
        }
        if done {
            return None;
        }
        loop {
            let data = std::fs::read(&path).unwrap_or_default();
            if data.len() > offset {
                let chunk = &data[offset..];
                if let Some(end) = chunk.iter().rposition(|b| *b == b'\n') {
                    let whole = String::from_utf8_lossy(&chunk[..=end]).into_owned();
                    offset += end + 1;
                    let out = logs::render(&whole, &opts, 0);
                    return Some((
                        Ok(Frame::data(Bytes::from(out))),
                        (None, offset, path, rt, id, opts, shutdown, false),
                    ));
                }
            }
            let running = matches!(rt.container_status(&id).await, Ok(s) if s.state == cri::ContainerState::ContainerRunning as i32);
            if !running {
                return None;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    });
    let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    r
}
