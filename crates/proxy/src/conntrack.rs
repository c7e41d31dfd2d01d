//! Stale UDP conntrack entries. UDP has no connection close, so a flow DNATed to an
//! endpoint that went away keeps going there until its conntrack entry expires;
//! and a flow that started while a service had no endpoints keeps missing the new
//! DNAT. After each sync the proxy deletes exactly those entries (upstream does the
//! same). `stale_entries` is the pure part; `Conntrack` is the boundary.

use std::net::Ipv4Addr;

use async_trait::async_trait;

use crate::model::{Protocol, ServicePortPlan};

/// One `conntrack -D -p udp …` deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConntrackDelete {
    /// Every UDP flow to a service address (it had no endpoints before).
    ToServiceIp(Ipv4Addr),
    /// Flows to `service_ip` that were DNATed to `endpoint`.
    Nat { service_ip: Ipv4Addr, endpoint: Ipv4Addr },
    /// Flows to a NodePort that were DNATed to `endpoint`.
    NodePortNat { node_port: u16, endpoint: Ipv4Addr },
}

impl ConntrackDelete {
    /// The `conntrack` arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = ["-D", "-p", "udp"].map(String::from).to_vec();
        match self {
            ConntrackDelete::ToServiceIp(ip) => a.extend(["--orig-dst".into(), ip.to_string()]),
            ConntrackDelete::Nat { service_ip, endpoint } => {
                a.extend(["--orig-dst".into(), service_ip.to_string(), "--dst-nat".into(), endpoint.to_string()])
            }
            ConntrackDelete::NodePortNat { node_port, endpoint } => {
                a.extend(["--orig-port-dst".into(), node_port.to_string(), "--dst-nat".into(), endpoint.to_string()])
            }
        }
        a
    }
}

/// What to delete after the rules changed from `old` to `new`.
pub fn stale_entries(old: &[ServicePortPlan], new: &[ServicePortPlan]) -> Vec<ConntrackDelete> {
    let key = |sp: &ServicePortPlan| (sp.namespace.clone(), sp.name.clone(), sp.port_name.clone(), sp.protocol);
    let old_by_key: std::collections::BTreeMap<_, _> = old.iter().map(|sp| (key(sp), sp)).collect();
    let new_by_key: std::collections::BTreeMap<_, _> = new.iter().map(|sp| (key(sp), sp)).collect();
    let mut out = std::collections::BTreeSet::new();
    for (k, o) in &old_by_key {
        if o.protocol != Protocol::Udp {
            continue;
        }
        let n = new_by_key.get(k);
        let still = |ip: Ipv4Addr| n.is_some_and(|n| n.all_endpoints.iter().any(|e| e.ip == ip));
        for ep in &o.all_endpoints {
            if still(ep.ip) {
                continue;
            }
            for service_ip in std::iter::once(&o.cluster_ip).chain(&o.external_ips).chain(&o.load_balancer_ips) {
                out.insert(ConntrackDelete::Nat { service_ip: *service_ip, endpoint: ep.ip });
            }
            if let Some(node_port) = o.node_port {
                out.insert(ConntrackDelete::NodePortNat { node_port, endpoint: ep.ip });
            }
        }
    }
    for (k, n) in &new_by_key {
        if n.protocol != Protocol::Udp || n.all_endpoints.is_empty() {
            continue;
        }
        if old_by_key.get(k).is_none_or(|o| o.all_endpoints.is_empty()) {
            out.insert(ConntrackDelete::ToServiceIp(n.cluster_ip));
        }
    }
    out.into_iter().collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ConntrackError {
    #[error("cannot run conntrack (install the conntrack package): {0}")]
    Spawn(#[source] std::io::Error),
    #[error("conntrack {args}: {stderr}")]
    Failed { args: String, stderr: String },
}

/// Deletes conntrack entries.
#[async_trait]
pub trait Conntrack: Send {
    /// # Errors
    /// When the tool cannot run or fails; finding nothing to delete is not an error.
    async fn delete(&mut self, d: &ConntrackDelete) -> Result<(), ConntrackError>;
}

/// The `conntrack` tool (conntrack-tools), in this process's network namespace
/// or (tests) in the one at `netns`.
#[derive(Debug, Default)]
pub struct ConntrackTool {
    pub netns: Option<std::path::PathBuf>,
}

#[async_trait]
impl Conntrack for ConntrackTool {
    async fn delete(&mut self, d: &ConntrackDelete) -> Result<(), ConntrackError> {
        let args = d.args();
        let mut command = match &self.netns {
            None => tokio::process::Command::new("conntrack"),
            Some(ns) => {
                let mut c = tokio::process::Command::new("nsenter");
                c.arg(format!("--net={}", ns.display())).args(["--", "conntrack"]);
                c
            }
        };
        let out = command.args(&args).output().await.map_err(ConntrackError::Spawn)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // conntrack exits 1 when no entry matched ("0 flow entries have been deleted").
        if out.status.success() || stderr.contains("0 flow entries") {
            Ok(())
        } else {
            Err(ConntrackError::Failed { args: args.join(" "), stderr: stderr.trim().to_string() })
        }
    }
}

/// Records deletions.
#[derive(Debug, Default, Clone)]
pub struct FakeConntrack {
    pub deleted: std::sync::Arc<std::sync::Mutex<Vec<ConntrackDelete>>>,
}

#[async_trait]
impl Conntrack for FakeConntrack {
    async fn delete(&mut self, d: &ConntrackDelete) -> Result<(), ConntrackError> {
        self.deleted.lock().unwrap().push(*d);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{endpoint, service, slice};
    use crate::model::NodeContext;
    use crate::plan::plan;

    fn dns(ips: &[&str]) -> Vec<ServicePortPlan> {
        let svc = service("kube-system", "kube-dns", "10.43.0.10", &[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]);
        let eps = ips.iter().map(|ip| endpoint(ip, "n", Some(true), None, None)).collect();
        let s = slice("kube-system", "kube-dns", &[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")], eps);
        plan(&[svc], &[s], &NodeContext::default())
    }

    #[test]
    fn a_removed_udp_endpoint_has_its_flows_deleted_and_tcp_is_left_alone() {
        let d = stale_entries(&dns(&["10.42.0.5", "10.42.0.6"]), &dns(&["10.42.0.5"]));
        let ip = |s: &str| s.parse().unwrap();
        assert_eq!(d, [ConntrackDelete::Nat { service_ip: ip("10.43.0.10"), endpoint: ip("10.42.0.6") }]);
        assert_eq!(d[0].args().join(" "), "-D -p udp --orig-dst 10.43.0.10 --dst-nat 10.42.0.6");
    }

    #[test]
    fn a_udp_service_that_gains_its_first_endpoint_drops_flows_cached_without_dnat() {
        let d = stale_entries(&dns(&[]), &dns(&["10.42.0.5"]));
        assert_eq!(d, [ConntrackDelete::ToServiceIp("10.43.0.10".parse().unwrap())]);
        assert!(stale_entries(&dns(&["10.42.0.5"]), &dns(&["10.42.0.5"])).is_empty());
    }
}
