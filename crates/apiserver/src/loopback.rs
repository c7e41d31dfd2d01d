//! Requests from inside the process: the components `skiff server` runs (scheduler,
//! controllers, node IPAM, DNS, ServiceLB, the local agent) hand their HTTP requests
//! straight to the request pipeline, with no TCP, TLS or HTTP/2 framing between
//! them and it.
//!
//! Nothing else is skipped: a request is authenticated (as the admin certificate of
//! the kubeconfig those components would otherwise use, through the same x509
//! authenticator), authorized, admitted, and handled exactly as one from the wire,
//! and its answer, a watch's stream included, is the same response. Components stay
//! ordinary API clients (kube-rs `Client`s); only their transport differs.
//!
//! Why: with every component a TLS client of its own server, each watch event was
//! encrypted by the server and decrypted again by the component, in the same
//! process, and every request paid HTTP/2 framing twice. During a burst of
//! ConfigMap creates, the controllers' ConfigMap watch alone cost ~8 % of the
//! server's CPU that way.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::Request;

use crate::response::HttpResponse;
use crate::server::{read_and_handle, Context, Peer};

/// Sends requests to the server's pipeline in-process, as the holder of one client
/// certificate. Cheap to clone; a `tower::Service`, so a kube-rs `Client` can be
/// built on it. Connection upgrades (exec, attach, port-forward) are not available
/// this way; the built-in components make none.
#[derive(Clone)]
pub struct Loopback {
    ctx: Arc<Context>,
    /// A connection that presented the certificate: its user is worked out once.
    peer: Arc<Peer>,
}

impl Loopback {
    /// Requests will be made as the holder of `certificate` (DER), which must be one
    /// the cluster CA issued (the admin certificate): the TLS handshake that would
    /// have checked it does not happen here.
    pub(crate) fn new(ctx: Arc<Context>, certificate: rustls::pki_types::CertificateDer<'static>) -> Loopback {
        Loopback { ctx, peer: Arc::new(Peer::new(None, vec![certificate])) }
    }

    /// Handles one request as the wire would.
    pub async fn handle<B>(&self, req: Request<B>) -> HttpResponse
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        read_and_handle(&self.ctx, req, &self.peer).await
    }
}

impl<B> tower_service::Service<Request<B>> for Loopback
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    /// Each request is handled on a task of its own, as a connection's stream is: a
    /// panicking handler fails that request (500) instead of unwinding the component
    /// that sent it, and a component that drops its request (shutting down, timing
    /// out) does not cancel a write halfway.
    fn call(&mut self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        // Boxed for the reason `server::serve_connection` boxes: a small task to move.
        let handled = tokio::spawn(async move { Box::pin(this.handle(req)).await });
        Box::pin(async move {
            Ok(handled.await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "an in-process request's handler failed");
                crate::response::error(&skiff_api::ApiError::Internal("the request's handler failed".into()))
            }))
        })
    }
}
