//! Liveness, readiness and startup probes. [`Tracker`] is the pure part: when a
//! probe is due (initialDelaySeconds, periodSeconds) and what its results add up
//! to (successThreshold, failureThreshold). [`run_probe`] performs one probe:
//! exec through CRI, httpGet and tcpSocket from the agent to the pod IP.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::runtime::RuntimeService;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

/// The state of one probe of one container instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracker {
    successes: i32,
    failures: i32,
    /// The settled result: `None` until a threshold is reached.
    pub result: Option<bool>,
    last_run: Option<i64>,
}

const SEC: i64 = 1_000_000_000;

fn secs(v: Option<i32>, default: i32) -> i64 {
    v.unwrap_or(default).max(0) as i64 * SEC
}

impl Tracker {
    /// Whether the probe should run at `now` for a container started at `started_at`.
    pub fn due(&self, probe: &Probe, started_at: i64, now: i64) -> bool {
        if now < started_at + secs(probe.initial_delay_seconds, 0) {
            return false;
        }
        match self.last_run {
            None => true,
            Some(t) => now >= t + secs(probe.period_seconds, 10).max(SEC),
        }
    }

    /// Records one result; returns the settled result once a threshold is met.
    pub fn record(&mut self, probe: &Probe, ok: bool, now: i64) -> Option<bool> {
        self.last_run = Some(now);
        if ok {
            self.successes += 1;
            self.failures = 0;
            if self.successes >= probe.success_threshold.unwrap_or(1).max(1) {
                self.result = Some(true);
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= probe.failure_threshold.unwrap_or(3).max(1) {
                self.result = Some(false);
            }
        }
        self.result
    }
}

/// The probes of one running container instance.
#[derive(Debug, Clone, Default)]
pub struct ContainerProbes {
    pub startup: Tracker,
    pub liveness: Tracker,
    pub readiness: Tracker,
}

impl ContainerProbes {
    /// Started: no startup probe, or it has succeeded.
    pub fn started(&self, c: &Container) -> bool {
        c.startup_probe.is_none() || self.startup.result == Some(true)
    }

    /// Ready: started, and no readiness probe or its last settled result is success.
    pub fn ready(&self, c: &Container) -> bool {
        self.started(c) && (c.readiness_probe.is_none() || self.readiness.result == Some(true))
    }

    /// Whether the container must be killed (liveness or startup failed).
    pub fn failed(&self) -> bool {
        self.liveness.result == Some(false) || self.startup.result == Some(false)
    }
}

/// The probes to run now, in upstream's order: startup first and alone until it
/// succeeds, then liveness and readiness.
pub fn due_probes<'a>(c: &'a Container, p: &ContainerProbes, started_at: i64, now: i64) -> Vec<(Kind, &'a Probe)> {
    let mut out = Vec::new();
    if let Some(sp) = &c.startup_probe {
        if p.startup.result != Some(true) {
            if p.startup.due(sp, started_at, now) {
                out.push((Kind::Startup, sp));
            }
            return out;
        }
    }
    if let Some(lp) = c.liveness_probe.as_ref().filter(|lp| p.liveness.due(lp, started_at, now)) {
        out.push((Kind::Liveness, lp));
    }
    if let Some(rp) = c.readiness_probe.as_ref().filter(|rp| p.readiness.due(rp, started_at, now)) {
        out.push((Kind::Readiness, rp));
    }
    out
}

fn port_of(port: &IntOrString, c: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).ok(),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// Runs one probe. `Ok(false)` is a probe failure; there is no `Err`: anything
/// that goes wrong counts as failure, as upstream.
pub async fn run_probe(
    rt: &dyn RuntimeService,
    container_id: &str,
    c: &Container,
    probe: &Probe,
    pod_ip: &str,
) -> bool {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(e) = &probe.exec {
        let cmd = e.command.clone().unwrap_or_default();
        return matches!(rt.exec_sync(container_id, cmd, timeout.as_secs() as i64).await, Ok(r) if r.exit_code == 0);
    }
    if let Some(t) = &probe.tcp_socket {
        let host = t.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let Some(port) = port_of(&t.port, c) else { return false };
        return matches!(
            tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host.as_str(), port))).await,
            Ok(Ok(_))
        );
    }
    if let Some(h) = &probe.http_get {
        let host = h.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let Some(port) = port_of(&h.port, c) else { return false };
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        let mut headers = String::new();
        for hh in h.http_headers.iter().flatten() {
            headers.push_str(&format!("{}: {}\r\n", hh.name, hh.value));
        }
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n{headers}\r\n"
        );
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect((host.as_str(), port)).await.ok()?;
            s.write_all(request.as_bytes()).await.ok()?;
            let mut buf = vec![0u8; 64];
            let n = s.read(&mut buf).await.ok()?;
            http_status(&buf[..n])
        };
        return matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(code)) if (200..400).contains(&code));
    }
    // gRPC probes are not implemented yet: report failure rather than pretend.
    false
}

/// The status code of an HTTP/1.x response's first line.
pub fn http_status(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(v: serde_json::Value) -> Probe {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn probes_wait_for_initial_delay_then_run_each_period() {
        let p = probe(serde_json::json!({"initialDelaySeconds": 5, "periodSeconds": 2, "exec": {"command": ["true"]}}));
        let mut t = Tracker::default();
        assert!(!t.due(&p, 0, 4 * SEC));
        assert!(t.due(&p, 0, 5 * SEC));
        t.record(&p, true, 5 * SEC);
        assert!(!t.due(&p, 0, 6 * SEC));
        assert!(t.due(&p, 0, 7 * SEC));
    }

    #[test]
    fn thresholds_settle_results() {
        let p = probe(serde_json::json!({"failureThreshold": 2, "successThreshold": 2}));
        let mut t = Tracker::default();
        assert_eq!(t.record(&p, false, 0), None);
        assert_eq!(t.record(&p, false, 1), Some(false));
        assert_eq!(t.record(&p, true, 2), Some(false), "one success is not enough");
        assert_eq!(t.record(&p, true, 3), Some(true));
    }

    #[test]
    fn startup_probe_holds_the_others_back() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "a",
            "startupProbe": {"exec": {"command": ["true"]}},
            "livenessProbe": {"exec": {"command": ["true"]}},
            "readinessProbe": {"exec": {"command": ["true"]}}
        }))
        .unwrap();
        let mut p = ContainerProbes::default();
        let due: Vec<_> = due_probes(&c, &p, 0, SEC).into_iter().map(|(k, _)| k).collect();
        assert_eq!(due, vec![Kind::Startup]);
        assert!(!p.started(&c) && !p.ready(&c));
        p.startup.result = Some(true);
        let due: Vec<_> = due_probes(&c, &p, 0, SEC).into_iter().map(|(k, _)| k).collect();
        assert_eq!(due, vec![Kind::Liveness, Kind::Readiness]);
        assert!(p.started(&c) && !p.ready(&c));
        p.readiness.result = Some(true);
        assert!(p.ready(&c));
        p.liveness.result = Some(false);
        assert!(p.failed());
    }

    #[test]
    fn http_status_line() {
        assert_eq!(http_status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(http_status(b"HTTP/1.0 500 x\r\n"), Some(500));
        assert_eq!(http_status(b"SSH-2.0"), None);
    }
}
