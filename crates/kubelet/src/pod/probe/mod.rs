//! Liveness, readiness and startup probes. [`Tracker`] is the pure part: when a
//! probe is due (initialDelaySeconds, periodSeconds) and what its results add up
//! to (successThreshold, failureThreshold). [`run_probe`] performs one probe:
//! exec through CRI; httpGet, tcpSocket and grpc through a [`Prober`] (from
//! the agent to the pod IP, or nowhere on hollow nodes).

pub mod grpc;
pub mod net;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub use net::{HollowProber, NetProber, Prober, ServingStatus};

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

/// Runs one probe. `Err` is a probe failure, with what the probe saw in
/// upstream's words where it has them (the command's output, the HTTP status);
/// anything that goes wrong counts as failure, as upstream.
pub async fn run_probe(
    rt: &dyn RuntimeService,
    net: &dyn Prober,
    container_id: &str,
    c: &Container,
    probe: &Probe,
    pod_ip: &str,
) -> Result<(), String> {
    let timeout = Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(e) = &probe.exec {
        let cmd = e.command.clone().unwrap_or_default();
        return match rt.exec_sync(container_id, cmd.clone(), timeout.as_secs() as i64).await {
            Ok(r) if r.exit_code == 0 => Ok(()),
            // Upstream reports the command's output (stdout, then stderr).
            Ok(r) => Err(format!("{}{}", String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr))),
            Err(e) => Err(format!("command {:?}: {e}", cmd.join(" "))),
        };
    }
    let no_port = |port: &IntOrString| format!("port {port:?} is not a container port of {}", c.name);
    if let Some(t) = &probe.tcp_socket {
        let host = t.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let port = port_of(&t.port, c).ok_or_else(|| no_port(&t.port))?;
        return net.tcp(&host, port, timeout).await;
    }
    if let Some(h) = &probe.http_get {
        let host = h.host.clone().unwrap_or_else(|| pod_ip.to_string());
        let port = port_of(&h.port, c).ok_or_else(|| no_port(&h.port))?;
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        let headers: Vec<(&str, &str)> =
            h.http_headers.iter().flatten().map(|hh| (hh.name.as_str(), hh.value.as_str())).collect();
        let request = http_request(&host, port, &path, &headers);
        // As upstream: Go's client error names the URL it tried.
        let url = format!("http://{}{path}", net::join_host_port(&host, port));
        return match net.http(&host, port, &request, timeout).await {
            Ok(code) if (200..400).contains(&code) => Ok(()),
            Ok(code) => Err(format!("HTTP probe failed with statuscode: {code}")),
            Err(e) => Err(format!("Get {url:?}: {e}")),
        };
    }
    if let Some(g) = &probe.grpc {
        // Upstream dials the pod IP only; a port outside u16 fails the probe.
        let port = u16::try_from(g.port).map_err(|_| format!("port {} is out of range", g.port))?;
        let service = g.service.clone().unwrap_or_default();
        return match net.grpc(pod_ip, port, &service, timeout).await {
            Ok(ServingStatus::Serving) => Ok(()),
            Ok(other) => Err(format!("service unhealthy (responded with {:?})", other.as_str_name())),
            Err(e) => Err(e),
        };
    }
    Err("the probe has no handler".into())
}

/// The HTTP/1.1 request of an httpGet probe or hook, with upstream's headers.
pub fn http_request(host: &str, port: u16, path: &str, headers: &[(&str, &str)]) -> String {
    let mut extra = String::new();
    for (name, value) in headers {
        extra.push_str(&format!("{name}: {value}\r\n"));
    }
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n{extra}\r\n"
    )
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

    fn container(probe: serde_json::Value) -> (Container, Probe) {
        let p: Probe = serde_json::from_value(probe).unwrap();
        let c = Container { name: "c".into(), readiness_probe: Some(p.clone()), ..Default::default() };
        (c, p)
    }

    #[tokio::test]
    async fn grpc_probes_pass_only_on_serving() {
        let rt = crate::runtime::FakeRuntime::new(Default::default());
        let stop = tokio_util::sync::CancellationToken::new();
        let addr = grpc::test_server::serve(Duration::ZERO, &stop).await;
        let port = addr.port() as i32;
        let run = |probe: serde_json::Value| {
            let (c, p) = container(probe);
            let rt = &rt;
            async move { run_probe(rt, &NetProber, "id", &c, &p, "127.0.0.1").await.is_ok() }
        };
        assert!(run(serde_json::json!({"grpc": {"port": port}})).await, "the server's own health");
        assert!(!run(serde_json::json!({"grpc": {"port": port, "service": "db"}})).await, "NOT_SERVING");
        assert!(!run(serde_json::json!({"grpc": {"port": port, "service": "nope"}})).await, "unknown service");
        assert!(!run(serde_json::json!({"grpc": {"port": 70000}})).await, "no such port");
        stop.cancel();
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port() as i32;
        assert!(!run(serde_json::json!({"grpc": {"port": free}, "timeoutSeconds": 1})).await, "nothing listening");
    }

    #[tokio::test]
    async fn hollow_nodes_network_probes_pass_without_a_packet() {
        let rt = crate::runtime::FakeRuntime::new(Default::default());
        // 192.0.2.0/24 is TEST-NET-1: a real prober would have to leave the
        // machine; the hollow one must not try.
        for probe in [
            serde_json::json!({"grpc": {"port": 9000}}),
            serde_json::json!({"httpGet": {"port": 80, "path": "/healthz"}}),
            serde_json::json!({"tcpSocket": {"port": 5432}}),
        ] {
            let (c, p) = container(probe);
            assert_eq!(run_probe(&rt, &HollowProber, "id", &c, &p, "192.0.2.10").await, Ok(()));
        }
    }

    #[test]
    fn http_requests_carry_upstreams_headers() {
        let r = http_request("10.42.0.5", 8080, "/ready", &[("X-A", "b")]);
        assert!(r.starts_with("GET /ready HTTP/1.1\r\nHost: 10.42.0.5:8080\r\nUser-Agent: kube-probe/1.32\r\n"), "{r}");
        assert!(r.ends_with("X-A: b\r\n\r\n"), "{r}");
    }
}
