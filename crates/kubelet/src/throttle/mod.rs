//! The kubelet's API client as upstream's: a client-side rate limit
//! ([`bucket`], `--kube-api-qps` 50 / `--kube-api-burst` 100 per kubelet) and
//! 429 answers retried after their `Retry-After`, as client-go does. One
//! process of hollow nodes shares one connection pool, but each hollow node
//! gets a limit of its own, as each upstream kubelet has.
//!
//! Node heartbeats (the Lease, the Node status) go through a client without
//! the rate limit, as upstream's kubelet uses a separate heartbeat client with
//! none: a node busy starting pods must not miss its lease.

pub mod bucket;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use kube::client::Body;

pub use bucket::{Limits, TokenBucket};

/// How often one request is sent again after 429 (client-go's maximum).
pub const MAX_RETRIES: u32 = 10;
/// The longest `Retry-After` honoured; longer ones are cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A client sending through `shared`'s connections, limited by `limits`
/// (none: no rate limit, 429s still retried).
pub fn client(shared: &kube::Client, limits: Option<Limits>) -> kube::Client {
    let bucket = limits.map(|l| Arc::new(Mutex::new(TokenBucket::new(l, std::time::Instant::now()))));
    let ns = shared.default_namespace().to_string();
    kube::Client::new(Throttled { inner: shared.clone(), bucket }, ns)
}

/// How long a 429 asks to wait (`Retry-After` in seconds; 1 s when absent or
/// unreadable, as the API server always sends one).
pub fn retry_after(headers: &http::HeaderMap) -> Duration {
    let secs = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(secs).min(MAX_RETRY_AFTER)
}

/// The tower service behind a throttled client.
#[derive(Clone)]
struct Throttled {
    inner: kube::Client,
    bucket: Option<Arc<Mutex<TokenBucket>>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Request<Body>> for Throttled {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.send(req).await })
    }
}

impl Throttled {
    async fn wait_turn(&self) {
        let wait = match &self.bucket {
            Some(b) => b.lock().unwrap_or_else(|e| e.into_inner()).take(std::time::Instant::now()),
            None => Duration::ZERO,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    async fn send(&self, req: Request<Body>) -> Result<Response<Body>, BoxError> {
        let (parts, body) = req.into_parts();
        // Kept to send again after a 429 (bodies here are single objects).
        let body = body.collect_bytes().await?;
        let mut tries = 0;
        loop {
            self.wait_turn().await;
            let mut req = Request::new(Body::from(body.clone()));
            *req.method_mut() = parts.method.clone();
            *req.uri_mut() = parts.uri.clone();
            *req.version_mut() = parts.version;
            *req.headers_mut() = parts.headers.clone();
            let resp = self.inner.send(req).await?;
            if resp.status() != StatusCode::TOO_MANY_REQUESTS || tries >= MAX_RETRIES {
                return Ok(resp);
            }
            tries += 1;
            let wait = retry_after(resp.headers());
            // Read to its end, the answer frees its HTTP/1.1 connection for
            // reuse; dropped unread, the connection is closed and the next
            // try costs a new TLS handshake (at 1,000 hollow nodes, a flood
            // of them).
            let _ = resp.into_body().collect_bytes().await;
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_caps_them() {
        let mut h = http::HeaderMap::new();
        assert_eq!(retry_after(&h), Duration::from_secs(1));
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Duration::from_secs(3));
        h.insert(http::header::RETRY_AFTER, "3600".parse().unwrap());
        assert_eq!(retry_after(&h), MAX_RETRY_AFTER);
        h.insert(http::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Duration::from_secs(1));
    }
}

#[cfg(test)]
mod service_tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A kube client over an in-memory service answering 429 `fails` times, then 200.
    fn fake(fails: u32, calls: Arc<AtomicU32>) -> kube::Client {
        let svc = tower::service_fn(move |req: Request<Body>| {
            let calls = calls.clone();
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let body = req.into_body().collect_bytes().await.unwrap();
                assert_eq!(&body[..], b"{}", "the body is sent again in full");
                let status = if n < fails { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::OK };
                let resp =
                    Response::builder().status(status).header("retry-after", "2").body(Body::from(b"{}".to_vec()));
                Ok::<_, std::convert::Infallible>(resp.unwrap())
            }
        });
        kube::Client::new(svc, "default")
    }

    fn request() -> Request<Body> {
        Request::builder()
            .method("POST")
            .uri("/api/v1/namespaces/default/configmaps")
            .body(Body::from(b"{}".to_vec()))
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_is_sent_again_after_its_retry_after() {
        let calls = Arc::new(AtomicU32::new(0));
        let client = client(&fake(2, calls.clone()), None);
        let t0 = tokio::time::Instant::now();
        let resp = client.send(request()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(t0.elapsed() >= Duration::from_secs(4), "waited {:?}", t0.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_after_the_maximum() {
        let calls = Arc::new(AtomicU32::new(0));
        let client = client(&fake(u32::MAX, calls.clone()), None);
        let resp = client.send(request()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(calls.load(Ordering::SeqCst), MAX_RETRIES + 1);
    }
}
