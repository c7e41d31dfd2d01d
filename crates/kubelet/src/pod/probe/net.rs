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
    /// Opens a TCP connection to `host:port` within `timeout`.
    ///
    /// # Errors
    /// Why not, as Go's dialer says it (`dial tcp 10.42.0.6:80: connect:
    /// connection refused`), which is what upstream's probe reports.
    async fn tcp(&self, host: &str, port: u16, timeout: Duration) -> Result<(), String>;
    /// Sends `request` (a complete HTTP/1.1 request) to `host:port`: the
    /// response's status code.
    ///
    /// # Errors
    /// Why there was no HTTP answer in time (the dial error, a timeout, an
    /// answer that is not HTTP).
    async fn http(&self, host: &str, port: u16, request: &str, timeout: Duration) -> Result<u16, String>;
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
    async fn tcp(&self, host: &str, port: u16, timeout: Duration) -> Result<(), String> {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(dial_error(host, port, &e)),
            Err(_) => Err(format!("dial tcp {}: i/o timeout", join_host_port(host, port))),
        }
    }

    async fn http(&self, host: &str, port: u16, request: &str, timeout: Duration) -> Result<u16, String> {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect((host, port)).await.map_err(|e| dial_error(host, port, &e))?;
            s.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
            super::http_status(&buf[..n]).ok_or_else(|| "malformed HTTP response".to_string())
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err("context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into()),
        }
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
    async fn tcp(&self, _host: &str, _port: u16, _timeout: Duration) -> Result<(), String> {
        Ok(())
    }

    async fn http(&self, _host: &str, _port: u16, _request: &str, _timeout: Duration) -> Result<u16, String> {
        Ok(200)
    }

    async fn grpc(&self, _host: &str, _port: u16, _service: &str, _timeout: Duration) -> Result<ServingStatus, String> {
        Ok(ServingStatus::Serving)
    }
}

/// `host:port`, with brackets around an IPv6 host, as Go joins them.
pub(super) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A failed connect as Go's dialer words it (without Rust's "(os error N)").
fn dial_error(host: &str, port: u16, e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    let why = match e.kind() {
        ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        ErrorKind::HostUnreachable => "connect: no route to host".to_string(),
        ErrorKind::NetworkUnreachable => "connect: network is unreachable".to_string(),
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_lowercase();
            format!("connect: {text}")
        }
    };
    format!("dial tcp {}: {why}", join_host_port(host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_read_as_gos_dialer() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let t = NetProber.tcp("127.0.0.1", free, Duration::from_secs(1)).await;
        assert_eq!(t, Err(format!("dial tcp 127.0.0.1:{free}: connect: connection refused")));
        let h = NetProber.http("127.0.0.1", free, "GET / HTTP/1.1\r\n\r\n", Duration::from_secs(1)).await;
        assert_eq!(h, Err(format!("dial tcp 127.0.0.1:{free}: connect: connection refused")));
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
    }
}
