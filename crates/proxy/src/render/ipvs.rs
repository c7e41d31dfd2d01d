//! The plan as an IPVS configuration: virtual servers with their real servers
//! (`ipvsadm-restore` input) and the ipsets upstream's ipvs proxier matches on
//! (`ipset restore` input).
//!
//! One virtual server per cluster IP, external IP, load-balancer IP and — for
//! NodePorts — per node address; masquerading (NAT) forwarding, round robin,
//! `-p timeout` for ClientIP affinity. Cluster IPs take the internal policy's
//! endpoints; external addresses the external policy's.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::model::{Endpoint, NodeContext, Protocol, ServicePortPlan};

/// The rendered configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsConfig {
    /// `ipvsadm-restore` input (after `ipvsadm -C`).
    pub ipvsadm: String,
    /// `ipset restore` input.
    pub ipset: String,
}

impl IpvsConfig {
    /// Both parts, for golden files and logs.
    pub fn text(&self) -> String {
        format!("# ipvsadm-restore\n{}# ipset restore\n{}", self.ipvsadm, self.ipset)
    }
}

fn flag(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
        Protocol::Sctp => "--sctp-service",
    }
}

/// Renders the virtual servers and ipsets for `node`.
pub fn render(plan: &[ServicePortPlan], node: &NodeContext) -> IpvsConfig {
    let mut ipvs = String::new();
    let mut sets: [(&str, &str, BTreeSet<String>); 7] = [
        ("KUBE-CLUSTER-IP", "hash:ip,port", BTreeSet::new()),
        ("KUBE-EXTERNAL-IP", "hash:ip,port", BTreeSet::new()),
        ("KUBE-LOAD-BALANCER", "hash:ip,port", BTreeSet::new()),
        ("KUBE-LOOP-BACK", "hash:ip,port,ip", BTreeSet::new()),
        ("KUBE-NODE-PORT-TCP", "bitmap:port range 0-65535", BTreeSet::new()),
        ("KUBE-NODE-PORT-UDP", "bitmap:port range 0-65535", BTreeSet::new()),
        ("KUBE-NODE-PORT-LOCAL-TCP", "bitmap:port range 0-65535", BTreeSet::new()),
    ];
    let mut vs = |addr: Ipv4Addr, port: u16, sp: &ServicePortPlan, eps: &[Endpoint]| {
        let f = flag(sp.protocol);
        let persist = sp.affinity_timeout.map(|t| format!(" -p {t}")).unwrap_or_default();
        let _ = writeln!(ipvs, "-A {f} {addr}:{port} -s rr{persist}");
        for ep in eps {
            let _ = writeln!(ipvs, "-a {f} {addr}:{port} -r {ep} -m -w 1");
        }
    };
    for sp in plan {
        let proto = sp.protocol.lower();
        vs(sp.cluster_ip, sp.port, sp, &sp.cluster_endpoints);
        sets[0].2.insert(format!("{},{proto}:{}", sp.cluster_ip, sp.port));
        for ip in &sp.external_ips {
            vs(*ip, sp.port, sp, sp.external_endpoints());
            sets[1].2.insert(format!("{ip},{proto}:{}", sp.port));
        }
        for ip in &sp.load_balancer_ips {
            vs(*ip, sp.port, sp, sp.external_endpoints());
            sets[2].2.insert(format!("{ip},{proto}:{}", sp.port));
        }
        let all: BTreeSet<&Endpoint> = sp.cluster_endpoints.iter().chain(sp.external_endpoints()).collect();
        for ep in all {
            sets[3].2.insert(format!("{},{proto}:{},{}", ep.ip, ep.port, ep.ip));
        }
        if let Some(np) = sp.node_port {
            for addr in &node.addresses {
                vs(*addr, np, sp, sp.external_endpoints());
            }
            match (sp.protocol, sp.external_local) {
                (Protocol::Tcp, false) => sets[4].2.insert(np.to_string()),
                (Protocol::Tcp, true) => sets[6].2.insert(np.to_string()),
                (Protocol::Udp, _) => sets[5].2.insert(np.to_string()),
                (Protocol::Sctp, _) => false,
            };
        }
    }
    let mut ipset = String::new();
    for (name, kind, members) in &sets {
        let _ = writeln!(ipset, "create {name} {kind} -exist");
        let _ = writeln!(ipset, "flush {name}");
        for m in members {
            let _ = writeln!(ipset, "add {name} {m}");
        }
    }
    IpvsConfig { ipvsadm: ipvs, ipset }
}
