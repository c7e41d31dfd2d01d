//! How network probes and hooks (tcpSocket, httpGet, grpc) reach a pod: the
//! [`Prober`] boundary. [`NetProber`] opens real connections from the agent to
//! the pod's address; [`HollowProber`] is for hollow nodes, whose pod addresses
//! exist nowhere: it answers healthy without sending a packet, as the fake
//! runtime's exec does for exec probes.

use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::grpc;

/// The answer of a gRPC health check (`grpc.health.v1.HealthCheckResponse.ServingStatus`).
pub use grpc::ServingStatus;

/// Reaches pods over the network for probes and hooks.
#[async_trait]
pub trait Prober: Send + Sync {
    /// Whether a TCP connection to `host:port` opens within `timeout`.
    async fn tcp(&self, host: &str, port: u16, timeout: Duration) -> bool;
    /// Sends `request` (a complete HTTP/1.1 request) to `host:port`; the
    /// response's status code, or `None` when there is no HTTP answer in time.
    async fn http(&self, host: &str, port: u16, request: &str, timeout: Duration) -> Option<u16>;
    /// Calls `grpc.health.v1.Health/Check` for `service` on `host:port`
    /// (plaintext HTTP/2, as upstream's probe).
    ///
    /// # Errors
    /// What went wrong when there was no answer in time (connection, RPC status).
    async fn grpc(&self, host: &str, port: u16, service: &str, timeout: Duration) -> Result<ServingStatus, String>;
}

/// Real connections from the agent.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetProber;

#[async_trait]
impl Prober for NetProber {
    async fn tcp(&self, host: &str, port: u16, timeout: Duration) -> bool {
        matches!(tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await, Ok(Ok(_)))
    }

    async fn http(&self, host: &str, port: u16, request: &str, timeout: Duration) -> Option<u16> {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect((host, port)).await.ok()?;
            s.write_all(request.as_bytes()).await.ok()?;
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.ok()?;
            super::http_status(&buf[..n])
        };
        tokio::time::timeout(timeout, attempt).await.ok().flatten()
    }

    async fn grpc(&self, host: &str, port: u16, service: &str, timeout: Duration) -> Result<ServingStatus, String> {
        grpc::check(host, port, service, timeout).await
    }
}

/// Hollow nodes' prober: every pod answers healthy, and nothing is sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct HollowProber;

#[async_trait]
impl Prober for HollowProber {
    async fn tcp(&self, _host: &str, _port: u16, _timeout: Duration) -> bool {
        true
    }

    async fn http(&self, _host: &str, _port: u16, _request: &str, _timeout: Duration) -> Option<u16> {
        Some(200)
    }

    async fn grpc(&self, _host: &str, _port: u16, _service: &str, _timeout: Duration) -> Result<ServingStatus, String> {
        Ok(ServingStatus::Serving)
    }
}
