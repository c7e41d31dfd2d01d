//! The proxy's metrics, in the Prometheus text format under upstream's names, and a
//! tiny HTTP endpoint (`/metrics`, `/healthz`) like kube-proxy's on 127.0.0.1:10249.

use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Histogram buckets in seconds (upstream's sync-duration buckets, trimmed).
const BUCKETS: &[f64] =
    &[0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += s;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", self.counts.get(i).copied().unwrap_or(0));
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}",
            self.count, self.sum, self.count
        );
    }
}

#[derive(Debug, Default)]
struct Inner {
    sync_duration: Histogram,
    full_sync_duration: Histogram,
    partial_sync_duration: Histogram,
    programming: Histogram,
    last_sync_unix: f64,
    sync_errors: u64,
    rules: u64,
}

/// Shared between the sync loop and the endpoint.
#[derive(Debug, Default)]
pub struct Metrics(Mutex<Inner>);

impl Metrics {
    /// One successful sync: how long the apply took, how long since the oldest
    /// change it carries was seen, how many service ports it programmed, and
    /// whether it rewrote every rule (full) or only what changed (partial).
    pub fn synced(&self, apply: Duration, since_change: Option<Duration>, service_ports: usize, full: bool) {
        let mut m = self.0.lock().unwrap();
        m.sync_duration.observe(apply);
        if full {
            m.full_sync_duration.observe(apply);
        } else {
            m.partial_sync_duration.observe(apply);
        }
        if let Some(d) = since_change {
            m.programming.observe(d);
        }
        m.last_sync_unix =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        m.rules = service_ports as u64;
    }

    pub fn sync_failed(&self) {
        self.0.lock().unwrap().sync_errors += 1;
    }

    /// (successful syncs, failed syncs)
    pub fn sync_counts(&self) -> (u64, u64) {
        let m = self.0.lock().unwrap();
        (m.sync_duration.count, m.sync_errors)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let m = self.0.lock().unwrap();
        let mut s = String::new();
        m.sync_duration.write(
            &mut s,
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
        );
        m.full_sync_duration.write(
            &mut s,
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
        );
        m.partial_sync_duration.write(
            &mut s,
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
        );
        m.programming.write(
            &mut s,
            "kubeproxy_network_programming_duration_seconds",
            "From a Service or EndpointSlice change seen by the proxy to its rules in place, in seconds",
        );
        let _ = writeln!(s, "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\nkubeproxy_sync_proxy_rules_last_timestamp_seconds {}", m.last_sync_unix);
        let _ = writeln!(
            s,
            "# TYPE kubeproxy_sync_proxy_rules_errors_total counter\nkubeproxy_sync_proxy_rules_errors_total {}",
            m.sync_errors
        );
        let _ = writeln!(s, "# TYPE skiff_proxy_service_ports gauge\nskiff_proxy_service_ports {}", m.rules);
        s
    }
}

/// Serves `/metrics` and `/healthz` over plain HTTP/1.0-style responses until
/// `shutdown`. Bind to loopback: the numbers are not secret, but the port is not
/// meant for the network.
pub async fn serve(listener: tokio::net::TcpListener, metrics: std::sync::Arc<Metrics>, shutdown: CancellationToken) {
    loop {
        let (mut conn, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let req = String::from_utf8_lossy(&buf[..n]);
            let path = req.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path {
                "/metrics" => ("200 OK", metrics.render()),
                "/healthz" | "/livez" => ("200 OK", "ok".to_string()),
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_into_every_bucket_at_or_above() {
        let m = Metrics::default();
        m.synced(Duration::from_millis(3), Some(Duration::from_millis(100)), 7, false);
        let text = m.render();
        assert!(text.contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.002\"} 0"));
        assert!(text.contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.004\"} 1"));
        assert!(text.contains("kubeproxy_network_programming_duration_seconds_bucket{le=\"0.128\"} 1"));
        assert!(text.contains("kubeproxy_network_programming_duration_seconds_count 1"));
        assert!(text.contains("skiff_proxy_service_ports 7"));
        assert!(text.contains("kubeproxy_sync_partial_proxy_rules_duration_seconds_count 1"));
        assert!(text.contains("kubeproxy_sync_full_proxy_rules_duration_seconds_count 0"));
    }
}
