//! gRPC probes: one `grpc.health.v1.Health/Check` call over plaintext HTTP/2,
//! as upstream's prober makes it. The probe succeeds only when the answer is
//! `SERVING`; no answer, an RPC error (e.g. `NOT_FOUND` for an unknown
//! service, `UNIMPLEMENTED` without a health service) or a timeout fail it.

use std::time::Duration;

use tonic::transport::Endpoint;

/// The messages and the client (and server, for tests) of `grpc.health.v1`,
/// generated from the vendored `proto/health.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod health {
    tonic::include_proto!("grpc.health.v1");
}

pub use health::health_check_response::ServingStatus;

/// Asks `host:port` whether `service` ("" = the whole server) is serving.
///
/// # Errors
/// Why there was no answer within `timeout`: the connection or the RPC status.
pub async fn check(host: &str, port: u16, service: &str, timeout: Duration) -> Result<ServingStatus, String> {
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
    let endpoint = Endpoint::from_shared(format!("http://{host}:{port}"))
        .map_err(|e| format!("bad address {host}:{port}: {e}"))?
        .connect_timeout(timeout)
        .timeout(timeout);
    let call = async {
        let channel = endpoint.connect().await.map_err(|e| format!("failed to connect service {host}:{port}: {e}"))?;
        let mut client = health::health_client::HealthClient::new(channel);
        let request = health::HealthCheckRequest { service: service.to_string() };
        let response =
            client.check(request).await.map_err(|s| format!("health rpc failed: {}: {}", s.code(), s.message()))?;
        Ok(ServingStatus::try_from(response.into_inner().status).unwrap_or(ServingStatus::Unknown))
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(r) => r,
        Err(_) => Err(format!("timeout: health rpc did not complete within {timeout:?}")),
    }
}

/// An in-process health server for tests: a status per service, an optional delay.
#[cfg(test)]
pub(crate) mod test_server {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;
    use tonic::{Request, Response, Status};

    use super::health::health_server::{Health, HealthServer};
    use super::health::{HealthCheckRequest, HealthCheckResponse};
    use super::ServingStatus;

    struct Server {
        statuses: HashMap<String, ServingStatus>,
        delay: Duration,
    }

    #[tonic::async_trait]
    impl Health for Server {
        async fn check(&self, req: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
            tokio::time::sleep(self.delay).await;
            match self.statuses.get(&req.get_ref().service) {
                Some(s) => Ok(Response::new(HealthCheckResponse { status: *s as i32 })),
                None => Err(Status::not_found("unknown service")),
            }
        }
    }

    /// Serves on a free loopback port until `stop`: "" is SERVING, "db" NOT_SERVING,
    /// any other service NOT_FOUND; every answer after `delay`.
    pub async fn serve(delay: Duration, stop: &CancellationToken) -> SocketAddr {
        let statuses =
            HashMap::from([(String::new(), ServingStatus::Serving), ("db".to_string(), ServingStatus::NotServing)]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let incoming = futures::stream::unfold(listener, |l| async move {
            let r = l.accept().await.map(|(s, _)| s);
            Some((r, l))
        });
        let stop = stop.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(HealthServer::new(Server { statuses, delay }))
                .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                .await
        });
        addr
    }
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::test_server::serve;
    use super::*;

    #[tokio::test]
    async fn check_reports_the_servers_answer_per_service() {
        let stop = CancellationToken::new();
        let addr = serve(Duration::ZERO, &stop).await;
        let t = Duration::from_secs(5);
        assert_eq!(check("127.0.0.1", addr.port(), "", t).await, Ok(ServingStatus::Serving));
        assert_eq!(check("127.0.0.1", addr.port(), "db", t).await, Ok(ServingStatus::NotServing));
        let err = check("127.0.0.1", addr.port(), "nope", t).await.unwrap_err();
        assert!(err.contains("NotFound") || err.contains("not found"), "{err}");
        stop.cancel();
    }

    #[tokio::test]
    async fn no_server_or_a_slow_one_is_an_error() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = check("127.0.0.1", free, "", Duration::from_secs(2)).await.unwrap_err();
        assert!(err.contains("failed to connect"), "{err}");
        let stop = CancellationToken::new();
        let addr = serve(Duration::from_secs(30), &stop).await;
        let err = check("127.0.0.1", addr.port(), "", Duration::from_millis(300)).await.unwrap_err();
        assert!(!err.is_empty());
        stop.cancel();
    }
}
