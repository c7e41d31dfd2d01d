//! The request pipeline — authentication → authorization → handler (admission and
//! the resource strategy run inside the write handlers) — and the HTTPS listener.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use skiff_api::{registry, ApiError, ApiResult, Resource};
use skiff_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::authn::{Authenticator, UserInfo};
use crate::authz::{self, Attributes, Authorizer, Decision};
use crate::coalesce::{BatchFlushes, Coalesce};
use crate::handlers::{self, discovery, Call};
use crate::request::{self, negotiate, Query, RequestInfo, Verb};
use crate::response::{self, HttpResponse};
use crate::storage::cache::{Cacher, Caches};
use crate::storage::{self, Objects};

/// Bodies above this are refused with 413 before they are read in full.
pub const MAX_BODY_BYTES: usize = 3 << 20;

/// Everything handlers share.
pub struct Context {
    pub objects: Objects,
    pub caches: Caches,
    pub authenticator: Arc<dyn Authenticator>,
    pub authorizer: Arc<dyn Authorizer>,
    pub shutdown: CancellationToken,
    pub metrics: crate::metrics::Metrics,
    /// How `pods/log` reaches kubelets; set at start when the PKI allows.
    pub kubelet: std::sync::OnceLock<Arc<crate::kubelet_client::KubeletClient>>,
    /// Signs ServiceAccount tokens (TokenRequest); set at start.
    pub service_account_key: std::sync::OnceLock<Arc<crate::serviceaccount::SigningKey>>,
    in_flight: crate::flowcontrol::FlowControl,
}

impl Context {
    pub fn new(
        store: Arc<dyn Store>,
        authenticator: Arc<dyn Authenticator>,
        authorizer: Arc<dyn Authorizer>,
        shutdown: CancellationToken,
    ) -> Arc<Context> {
        Arc::new(Context {
            objects: Objects::new(store),
            caches: Caches::default(),
            authenticator,
            authorizer,
            shutdown,
            metrics: Default::default(),
            kubelet: std::sync::OnceLock::new(),
            service_account_key: std::sync::OnceLock::new(),
            in_flight: Default::default(),
        })
    }

    /// Starts the watch caches of all stored resources (see [`Caches::start_all`]).
    pub async fn start_caches(&self) -> ApiResult<()> {
        self.caches.start_all(self.objects.store(), &self.shutdown).await
    }

    /// The watch cache of a resource (started on first use).
    pub fn cache(&self, res: &'static Resource) -> Arc<Cacher> {
        self.caches.get(res, self.objects.store(), &self.shutdown)
    }

    /// Whether a namespace exists and is being deleted, from the cache.
    pub async fn namespace_state(&self, name: &str) -> ApiResult<Option<crate::admission::NamespaceState>> {
        use crate::admission::NamespaceState;
        static NAMESPACES: std::sync::LazyLock<&'static Resource> =
            std::sync::LazyLock::new(|| registry::find("", "v1", "namespaces").expect("namespaces are registered"));
        let res = *NAMESPACES;
        let cache = self.cache(res);
        cache.ready().await?;
        if let Some(ns) = cache.get(&storage::object_key(res, "", name)) {
            return NamespaceState::of(&ns.json)
                .map(Some)
                .ok_or_else(|| ApiError::Internal("cached namespace is not valid JSON".into()));
        }
        // Just created and not yet in the cache: ask the store.
        match self.objects.get(res, "", name).await {
            Ok(ns) => Ok(Some(NamespaceState::of_value(&ns))),
            Err(ApiError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// What the TLS layer learned about the client.
#[derive(Clone, Default)]
pub struct Peer {
    pub addr: Option<SocketAddr>,
    /// The client certificate chain, already verified against the cluster CA.
    pub certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Who the certificates say the client is, worked out by the first request without
    /// an `Authorization` header: the certificates cannot change on a connection, and
    /// parsing them again for every request cost ~4% of a create.
    certificate_user: std::sync::OnceLock<ApiResult<Option<UserInfo>>>,
}

impl Peer {
    pub fn new(addr: Option<SocketAddr>, certificates: Vec<rustls::pki_types::CertificateDer<'static>>) -> Peer {
        Peer { addr, certificates, certificate_user: std::sync::OnceLock::new() }
    }
}

/// Handles one request whose body has been read.
pub async fn handle(ctx: &Context, req: Request<Bytes>, peer: &Peer) -> HttpResponse {
    let started = std::time::Instant::now();
    let (mut parts, body) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    let path = parts.uri.path().to_string();
    let info = request::info::parse(&parts.method, &path, query.flag("watch"));
    let user = match authenticate(ctx, &parts.headers, peer).await {
        Ok(user) => user,
        Err(e) => return response::error(&e),
    };
    let result = match &info {
        RequestInfo::NonResource { path, verb } => {
            non_resource(ctx, user.as_ref(), path, verb, &parts.headers, &query).await
        }
        RequestInfo::Resource(req) if handlers::stream::is_stream(req) => {
            let Some(user) = user.as_ref() else {
                return response::error(&ApiError::Unauthorized("Unauthorized".into()));
            };
            let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
            stream(ctx, user, req, &query, &parts.method, &parts.headers, on_upgrade).await
        }
        RequestInfo::Resource(req) => {
            let Some(user) = user.as_ref() else {
                return response::error(&ApiError::Unauthorized("Unauthorized".into()));
            };
            resource(ctx, user, req, &query, &parts.method, &parts.headers, &body).await
        }
    };
    let mut resp = result.unwrap_or_else(|e| response::error(&e));
    if parts.method == Method::HEAD {
        *resp.body_mut() = response::empty();
    }
    ctx.metrics.observe(request_labels(&info, &parts.method, resp.status().as_u16()), started.elapsed());
    resp
}

/// The metric labels of a request, named as upstream names them.
fn request_labels(info: &RequestInfo, method: &Method, code: u16) -> crate::metrics::RequestLabels {
    match info {
        RequestInfo::Resource(r) => crate::metrics::RequestLabels {
            verb: match r.verb {
                Verb::Get => "GET",
                Verb::List => "LIST",
                Verb::Watch => "WATCH",
                Verb::Create => "POST",
                Verb::Update => "PUT",
                Verb::Patch => "PATCH",
                Verb::Delete | Verb::DeleteCollection => "DELETE",
            }
            .to_string(),
            group: r.group.clone(),
            version: r.version.clone(),
            resource: r.resource.clone(),
            subresource: r.subresource.clone(),
            scope: if !r.name.is_empty() {
                "resource"
            } else if !r.namespace.is_empty() {
                "namespace"
            } else {
                "cluster"
            }
            .to_string(),
            code,
        },
        RequestInfo::NonResource { .. } => crate::metrics::RequestLabels {
            verb: method.as_str().to_string(),
            group: String::new(),
            version: String::new(),
            resource: String::new(),
            subresource: String::new(),
            scope: String::new(),
            code,
        },
    }
}

/// Authenticates a request. Without an `Authorization` header the answer depends on
/// the connection's certificates alone, so it is computed once per connection.
async fn authenticate(ctx: &Context, headers: &http::HeaderMap, peer: &Peer) -> ApiResult<Option<UserInfo>> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let request = crate::authn::AuthnRequest { authorization, peer_certificates: &peer.certificates, audiences: &[] };
    if authorization.is_some() || headers.contains_key(header::AUTHORIZATION) {
        return ctx.authenticator.authenticate(&request).await;
    }
    if let Some(user) = peer.certificate_user.get() {
        return user.clone();
    }
    let user = ctx.authenticator.authenticate(&request).await;
    // Two requests racing here compute the same answer; either may be kept.
    let _ = peer.certificate_user.set(user.clone());
    user
}

async fn resource(
    ctx: &Context,
    user: &UserInfo,
    req: &request::ResourceRequest,
    query: &Query,
    method: &Method,
    headers: &http::HeaderMap,
    body: &Bytes,
) -> Result<HttpResponse, ApiError> {
    let attrs = Attributes {
        verb: req.verb.as_str().to_string(),
        group: req.group.clone(),
        version: req.version.clone(),
        resource: req.resource.clone(),
        subresource: req.subresource.clone(),
        namespace: req.namespace.clone(),
        name: req.name.clone(),
        path: None,
    };
    check_authorized(ctx, user, &attrs)?;
    let resource = handlers::resolve(req)?;
    let output = negotiate::output(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()))?;
    // Long-running requests do not count against the in-flight limit.
    let _permit = if req.verb == Verb::Watch {
        None
    } else {
        let level = crate::flowcontrol::classify(req);
        Some(ctx.in_flight.admit(level, crate::flowcontrol::QUEUE_WAIT).await.map_err(|_| {
            ApiError::TooManyRequests {
                message: "Too many requests, please try again later.".into(),
                retry_after_seconds: 1,
            }
        })?)
    };
    let gauge = match req.verb {
        Verb::Get | Verb::List | Verb::Watch => &ctx.metrics.in_flight_readonly,
        _ => &ctx.metrics.in_flight_mutating,
    };
    let _in_flight = GaugeGuard::new(gauge);
    let call = Call { ctx, req, resource, query, output, headers, body, method, user };
    handlers::dispatch(call).await
}

/// `pods/exec`, `pods/attach`, `pods/portforward`: authorized like any
/// resource request, then handed to the upgrade proxy (not counted in flight:
/// the stream outlives the handshake).
async fn stream(
    ctx: &Context,
    user: &UserInfo,
    req: &request::ResourceRequest,
    query: &Query,
    method: &Method,
    headers: &http::HeaderMap,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<HttpResponse, ApiError> {
    let attrs = Attributes {
        verb: req.verb.as_str().to_string(),
        group: req.group.clone(),
        version: req.version.clone(),
        resource: req.resource.clone(),
        subresource: req.subresource.clone(),
        namespace: req.namespace.clone(),
        name: req.name.clone(),
        path: None,
    };
    check_authorized(ctx, user, &attrs)?;
    handlers::stream::serve(ctx, req, query, method, headers, on_upgrade).await
}

/// Asks the authorizer; anything but Allow is a 403 with upstream's message.
fn check_authorized(ctx: &Context, user: &UserInfo, attrs: &Attributes) -> Result<(), ApiError> {
    let reason = match ctx.authorizer.authorize(user, attrs) {
        Decision::Allow => return Ok(()),
        Decision::Deny(reason) => reason,
        Decision::NoOpinion => String::new(),
    };
    Err(ApiError::Forbidden {
        target: skiff_api::Target::new(&attrs.group, &attrs.resource, &attrs.name),
        message: authz::forbidden_message(user, attrs, &reason),
    })
}

async fn non_resource(
    ctx: &Context,
    user: Option<&UserInfo>,
    path: &str,
    verb: &str,
    headers: &http::HeaderMap,
    query: &Query,
) -> Result<HttpResponse, ApiError> {
    let trimmed = path.trim_end_matches('/');
    // Health and version are open to anonymous clients, as upstream's defaults.
    match trimmed {
        "/healthz" | "/livez" | "/readyz" | "/healthz/ping" | "/livez/ping" | "/readyz/ping" => {
            return Ok(health(trimmed, query.get("verbose").is_some()))
        }
        "/version" => return Ok(response::json(StatusCode::OK, &discovery::version())),
        _ => {}
    }
    let Some(user) = user else {
        return Err(ApiError::Unauthorized("Unauthorized".into()));
    };
    let attrs = Attributes::non_resource(verb, path);
    check_authorized(ctx, user, &attrs)?;
    if trimmed == "/metrics" {
        let mut resp = response::text(StatusCode::OK, ctx.metrics.render());
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
        return Ok(resp);
    }
    let segments: Vec<&str> = trimmed.split('/').filter(|s| !s.is_empty()).collect();
    let not_found = || ApiError::NotFound(skiff_api::Target::default());
    match segments.as_slice() {
        ["api"] => Ok(discovery::root(true, headers)),
        ["apis"] => Ok(discovery::root(false, headers)),
        ["api", version] => discovery::resource_list("", version, headers).ok_or_else(not_found),
        ["apis", group] => discovery::group(group, headers).ok_or_else(not_found),
        ["apis", group, version] => discovery::resource_list(group, version, headers).ok_or_else(not_found),
        ["openapi", rest @ ..] => crate::openapi::serve(rest, query.get("hash"), headers),
        [] => Ok(response::json(
            StatusCode::OK,
            &serde_json::json!({"paths": [
                "/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/openapi/v3", "/readyz", "/version",
            ]}),
        )),
        _ => Err(not_found()),
    }
}

/// `/healthz`, `/livez`, `/readyz`: `ok`, or with `?verbose` one line per check.
fn health(path: &str, verbose: bool) -> HttpResponse {
    if !verbose {
        return response::text(StatusCode::OK, "ok");
    }
    let name = path.trim_start_matches('/').split('/').next().unwrap_or("healthz");
    let checks = ["ping", "log", "etcd", "poststarthook/start-apiextensions-informers"];
    let mut body: String = checks.iter().map(|c| format!("[+]{c} ok\n")).collect();
    body.push_str(&format!("{name} check passed\n"));
    response::text(StatusCode::OK, body)
}

/// Serves HTTPS (or plain HTTP when `tls` is `None`, for tests on loopback) until
/// `shutdown`.
pub async fn serve(
    ctx: Arc<Context>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, addr) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => match acceptor.accept(Coalesce::new(stream)).await {
                    Ok(mut tls) => {
                        let (socket, session) = tls.get_mut();
                        let certificates = session.peer_certificates().map(|c| c.to_vec()).unwrap_or_default();
                        let peer = Peer::new(Some(addr), certificates);
                        if session.alpn_protocol() == Some(b"h2") {
                            // BatchFlushes gathers a pass's frames above TLS: the
                            // socket below needs neither a yield nor a buffer.
                            socket.set_passthrough(true);
                            serve_connection(ctx, TokioIo::new(BatchFlushes::new(tls)), peer).await;
                        } else {
                            serve_connection(ctx, TokioIo::new(tls), peer).await;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, %addr, "TLS handshake failed"),
                },
                None => serve_connection(ctx, TokioIo::new(Coalesce::new(stream)), Peer::new(Some(addr), vec![])).await,
            }
        });
    }
}

async fn serve_connection<I>(ctx: Arc<Context>, io: I, peer: Peer)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let ctx = ctx.clone();
        let peer = peer.clone();
        // Boxed: the handler's state machine is ~5 KiB, and hyper moves the
        // service future into a task of its own per request (copied on spawn and
        // again as the task finishes); a box is one pointer to move.
        async move { Ok::<_, std::convert::Infallible>(Box::pin(read_and_handle(&ctx, req, &peer)).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder.serve_connection_with_upgrades(io, service).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Reads a request's body, then handles it: what every connection, and the
/// in-process [`crate::loopback::Loopback`], does with a request.
pub(crate) async fn read_and_handle<B>(ctx: &Context, req: Request<B>, peer: &Peer) -> HttpResponse
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body).await {
        Ok(bytes) => bytes,
        Err(e) => return response::error(&e),
    };
    let mut resp = handle(ctx, Request::from_parts(parts, bytes), peer).await;
    resp.headers_mut().insert("audit-id", audit_id_header());
    resp
}

/// The `Audit-Id` header of a response, marked never to be indexed in HPACK: each
/// value is new, and h2 indexed every one, so each response evicted an older id from
/// the connection's table after walking the chain of ~50 ids already there,
/// comparing values (~5% of a create's CPU).
fn audit_id_header() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let id = audit_id().hyphenated().encode_lower(&mut buf);
    let mut value = HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// A unique id per request: a random base drawn once plus a counter. A fresh random
/// UUID for each request cost a `getrandom` system call per request.
fn audit_id() -> uuid::Uuid {
    static BASE: std::sync::LazyLock<u128> = std::sync::LazyLock::new(|| uuid::Uuid::new_v4().as_u128());
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The low 48 bits (the node field) take the counter; version and variant stay.
    uuid::Uuid::from_u128(*BASE ^ u128::from(n & 0xffff_ffff_ffff))
}

/// Reads a request body of at most `MAX_BODY_BYTES`. A larger one is read to its
/// end and dropped (up to a bound), so that the client, still sending, receives
/// the 413 instead of a reset connection.
async fn read_body<B>(body: B) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    const MAX_DRAIN: usize = 64 << 20;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= MAX_BODY_BYTES {
                buf.extend_from_slice(&data);
            } else if seen > MAX_DRAIN {
                break;
            }
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(buf.freeze())
}

fn too_large() -> ApiError {
    ApiError::RequestEntityTooLarge(format!("the request body exceeds the limit of {MAX_BODY_BYTES} bytes"))
}

/// Counts a request in a gauge for as long as it is handled.
struct GaugeGuard<'a>(&'a std::sync::atomic::AtomicI64);

impl<'a> GaugeGuard<'a> {
    fn new(gauge: &'a std::sync::atomic::AtomicI64) -> Self {
        gauge.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_ids_are_unique_uuids_kept_out_of_the_hpack_table() {
        let (a, b) = (audit_id_header(), audit_id_header());
        assert_ne!(a, b);
        for v in [&a, &b] {
            assert!(v.is_sensitive(), "an audit id would churn the HPACK table");
            let id = uuid::Uuid::parse_str(v.to_str().unwrap()).unwrap();
            assert_eq!(id.get_version_num(), 4);
        }
    }
}
