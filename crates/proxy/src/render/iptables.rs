//! The plan as `iptables-restore` input, in upstream kube-proxy's chain layout:
//!
//! - nat `KUBE-SERVICES`: one rule per cluster IP (→ `KUBE-SVC-*` or `KUBE-SVL-*`),
//!   external IP and load-balancer IP (→ `KUBE-EXT-*`), then `KUBE-NODEPORTS` for
//!   destinations local to the node (every node address);
//! - `KUBE-SVC-*` (cluster-wide endpoints) and `KUBE-SVL-*` (this node's) pick a
//!   `KUBE-SEP-*` with `statistic` probabilities 1/n, 1/(n-1), …, after `recent`
//!   checks for session affinity; `KUBE-SEP-*` marks hairpin traffic for masquerade
//!   and DNATs;
//! - `KUBE-EXT-*` marks external traffic for masquerade (policy Cluster) or keeps the
//!   client address and sends it to local endpoints only (policy Local);
//! - `KUBE-POSTROUTING` masquerades what `KUBE-MARK-MASQ` marked;
//! - filter `KUBE-SERVICES` / `KUBE-EXTERNAL-SERVICES` REJECT connections to service
//!   ports that have no endpoints, so clients fail at once instead of hanging.
//!
//! The jumps from the built-in chains are not part of the restore text (a restore
//! with `--noflush` would duplicate them); the sink ensures them (`JUMPS`).

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{hash, probability, DROP_MARK, MASQ_MARK};
use crate::model::{Endpoint, Options, ServicePortPlan};

/// A jump from a built-in chain into ours: (table, built-in chain, rule arguments).
pub type Jump = (&'static str, &'static str, &'static [&'static str]);

/// Every jump from a built-in chain, as upstream installs them.
pub const JUMPS: &[Jump] = &[
    ("nat", "PREROUTING", &["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
    ("nat", "OUTPUT", &["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
    ("nat", "POSTROUTING", &["-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"]),
    ("filter", "INPUT", &NEW_EXTERNAL),
    ("filter", "FORWARD", &NEW_EXTERNAL),
    ("filter", "FORWARD", &NEW_SERVICES),
    ("filter", "OUTPUT", &NEW_SERVICES),
    ("filter", "FORWARD", &["-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD"]),
    ("filter", "INPUT", &["-j", "KUBE-FIREWALL"]),
    ("filter", "OUTPUT", &["-j", "KUBE-FIREWALL"]),
];
const NEW_EXTERNAL: [&str; 10] = [
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-m",
    "comment",
    "--comment",
    "kubernetes externally-visible service portals",
    "-j",
    "KUBE-EXTERNAL-SERVICES",
];
const NEW_SERVICES: [&str; 10] = [
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-m",
    "comment",
    "--comment",
    "kubernetes service portals",
    "-j",
    "KUBE-SERVICES",
];

/// The rendered rules of both tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IptablesRules {
    pub nat_chains: Vec<String>,
    pub nat_rules: Vec<String>,
    pub filter_chains: Vec<String>,
    pub filter_rules: Vec<String>,
}

impl IptablesRules {
    /// The `iptables-restore --noflush` input: every chain declared (which flushes
    /// it), its rules, and `-X` for `stale` chains (ours from an earlier sync that
    /// no longer exist). One COMMIT per table, so each table changes atomically.
    pub fn restore_text(&self, stale_nat: &BTreeSet<String>, stale_filter: &BTreeSet<String>) -> String {
        let mut s = String::with_capacity(self.nat_rules.len() * 120 + 1024);
        for (table, chains, rules, stale) in [
            ("filter", &self.filter_chains, &self.filter_rules, stale_filter),
            ("nat", &self.nat_chains, &self.nat_rules, stale_nat),
        ] {
            let _ = writeln!(s, "*{table}");
            for c in chains.iter().chain(stale.iter()) {
                let _ = writeln!(s, ":{c} - [0:0]");
            }
            for r in rules {
                s.push_str(r);
                s.push('\n');
            }
            for c in stale {
                let _ = writeln!(s, "-X {c}");
            }
            s.push_str("COMMIT\n");
        }
        s
    }
}

/// Chain names of one service port (upstream's hashes of "ns/name:port" + protocol).
struct Chains {
    svc: String,
    svl: String,
    ext: String,
}

fn chains(sp: &ServicePortPlan) -> Chains {
    let h = hash(&[&sp.port_id(), sp.protocol.lower()], 16);
    Chains { svc: format!("KUBE-SVC-{h}"), svl: format!("KUBE-SVL-{h}"), ext: format!("KUBE-EXT-{h}") }
}

fn sep_chain(sp: &ServicePortPlan, ep: &Endpoint) -> String {
    format!("KUBE-SEP-{}", hash(&[&sp.port_id(), sp.protocol.lower(), &ep.to_string()], 16))
}

/// Renders the whole rule set for `plan`.
pub fn render(plan: &[ServicePortPlan], options: &Options) -> IptablesRules {
    let mut r = IptablesRules {
        nat_chains: ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", "KUBE-MARK-DROP"]
            .map(String::from)
            .to_vec(),
        filter_chains: ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-FIREWALL"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    };
    let m = MASQ_MARK;
    r.nat_rules.extend([
        format!("-A KUBE-POSTROUTING -m mark ! --mark {m:#x}/{m:#x} -j RETURN"),
        format!("-A KUBE-POSTROUTING -j MARK --xor-mark {m:#x}"),
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully".into(),
        format!("-A KUBE-MARK-MASQ -j MARK --or-mark {m:#x}"),
        format!("-A KUBE-MARK-DROP -j MARK --or-mark {DROP_MARK:#x}"),
    ]);
    r.filter_rules.extend([
        format!("-A KUBE-FIREWALL -m comment --comment \"kubernetes firewall for dropping marked packets\" -m mark --mark {DROP_MARK:#x}/{DROP_MARK:#x} -j DROP"),
        format!("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {m:#x}/{m:#x} -j ACCEPT"),
        "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".into(),
    ]);
    let mut nodeport_rules = Vec::new();
    for sp in plan {
        service_port(&mut r, &mut nodeport_rules, sp, options);
    }
    // NodePorts last: any destination address of this node (every node address).
    r.nat_rules.extend(nodeport_rules);
    r.nat_rules.push(
        "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"
            .into(),
    );
    r
}

fn service_port(r: &mut IptablesRules, nodeports: &mut Vec<String>, sp: &ServicePortPlan, options: &Options) {
    let id = sp.port_id();
    let proto = sp.protocol.lower();
    let c = chains(sp);
    let dst = |ip: &std::net::Ipv4Addr| format!("-m {proto} -p {proto} -d {ip}/32 --dport {}", sp.port);
    let cluster_ip = dst(&sp.cluster_ip);

    let internal_has_endpoints = !sp.cluster_endpoints.is_empty();
    let external_has_endpoints = sp.has_external() && !sp.all_endpoints.is_empty();
    let uses_svc = (!sp.internal_local && internal_has_endpoints) || external_has_endpoints;
    let uses_svl = !sp.local_endpoints.is_empty()
        && ((sp.internal_local && internal_has_endpoints) || (external_has_endpoints && sp.external_local));
    let internal_chain = if sp.internal_local { &c.svl } else { &c.svc };

    // Traffic to the cluster IP.
    if internal_has_endpoints {
        r.nat_rules.push(format!(
            "-A KUBE-SERVICES -m comment --comment \"{id} cluster IP\" {cluster_ip} -j {internal_chain}"
        ));
    } else {
        r.filter_rules
            .push(format!("-A KUBE-SERVICES -m comment --comment \"{id} has no endpoints\" {cluster_ip} -j REJECT"));
    }

    // Traffic to external IPs, load-balancer IPs and the NodePort.
    let externals = sp
        .external_ips
        .iter()
        .map(|ip| (ip, "external IP"))
        .chain(sp.load_balancer_ips.iter().map(|ip| (ip, "loadbalancer IP")));
    if external_has_endpoints {
        for (ip, what) in externals {
            r.nat_rules.push(format!("-A KUBE-SERVICES -m comment --comment \"{id} {what}\" {} -j {}", dst(ip), c.ext));
        }
        if let Some(np) = sp.node_port {
            nodeports.push(format!(
                "-A KUBE-NODEPORTS -m comment --comment \"{id}\" -m {proto} -p {proto} --dport {np} -j {}",
                c.ext
            ));
        }
    } else if sp.has_external() {
        for (ip, _) in externals {
            r.filter_rules.push(format!(
                "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"{id} has no endpoints\" {} -j REJECT",
                dst(ip)
            ));
        }
        if let Some(np) = sp.node_port {
            r.filter_rules.push(format!(
                "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"{id} has no endpoints\" -m addrtype --dst-type LOCAL -m {proto} -p {proto} --dport {np} -j REJECT"
            ));
        }
    }

    if uses_svc {
        r.nat_chains.push(c.svc.clone());
    }
    if uses_svl {
        r.nat_chains.push(c.svl.clone());
    }
    if external_has_endpoints {
        r.nat_chains.push(c.ext.clone());
        let ext = &c.ext;
        if sp.external_local {
            // Policy Local keeps the client address, but pods and the node itself
            // still reach the service through every endpoint (upstream's short-circuit).
            if let Some(cidr) = options.cluster_cidr {
                r.nat_rules.push(format!(
                    "-A {ext} -m comment --comment \"pod traffic for {id} external destinations\" -s {cidr} -j {}",
                    c.svc
                ));
            }
            r.nat_rules.push(format!("-A {ext} -m comment --comment \"masquerade LOCAL traffic for {id} external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"));
            r.nat_rules.push(format!("-A {ext} -m comment --comment \"route LOCAL traffic for {id} external destinations\" -m addrtype --src-type LOCAL -j {}", c.svc));
            if sp.local_endpoints.is_empty() {
                r.nat_rules
                    .push(format!("-A {ext} -m comment --comment \"{id} has no local endpoints\" -j KUBE-MARK-DROP"));
            } else {
                r.nat_rules.push(format!("-A {ext} -j {}", c.svl));
            }
        } else {
            r.nat_rules.push(format!(
                "-A {ext} -m comment --comment \"masquerade traffic for {id} external destinations\" -j KUBE-MARK-MASQ"
            ));
            r.nat_rules.push(format!("-A {ext} -j {}", c.svc));
        }
    }

    // Masquerade cluster-IP traffic from outside the pod network (off-node clients
    // and the node itself), so replies come back through this node.
    let masq = if options.masquerade_all {
        Some(format!("-A {internal_chain} -m comment --comment \"{id} cluster IP\" {cluster_ip} -j KUBE-MARK-MASQ"))
    } else {
        options.cluster_cidr.map(|cidr| {
            format!("-A {internal_chain} -m comment --comment \"{id} cluster IP\" {cluster_ip} ! -s {cidr} -j KUBE-MARK-MASQ")
        })
    };
    let mut seps = BTreeSet::new();
    for (used, chain, endpoints) in [(uses_svc, &c.svc, &sp.all_endpoints), (uses_svl, &c.svl, &sp.local_endpoints)] {
        if !used {
            continue;
        }
        if chain == internal_chain {
            r.nat_rules.extend(masq.clone());
        }
        endpoint_jumps(r, sp, &id, chain, endpoints);
        seps.extend(endpoints.iter().copied());
    }
    for ep in &seps {
        let sep = sep_chain(sp, ep);
        r.nat_chains.push(sep.clone());
        // Hairpin: a pod reaching itself through the service must see the node as
        // the source, or its reply would skip the DNAT.
        r.nat_rules.push(format!("-A {sep} -m comment --comment \"{id}\" -s {}/32 -j KUBE-MARK-MASQ", ep.ip));
        let recent =
            if sp.affinity_timeout.is_some() { format!(" -m recent --name {sep} --set") } else { String::new() };
        r.nat_rules.push(format!(
            "-A {sep} -m comment --comment \"{id}\" -m {proto} -p {proto}{recent} -j DNAT --to-destination {ep}"
        ));
    }
}

/// The rules of a KUBE-SVC/KUBE-SVL chain: affinity checks first, then a random pick.
fn endpoint_jumps(r: &mut IptablesRules, sp: &ServicePortPlan, id: &str, chain: &str, endpoints: &[Endpoint]) {
    if let Some(timeout) = sp.affinity_timeout {
        for ep in endpoints {
            let sep = sep_chain(sp, ep);
            r.nat_rules.push(format!(
                "-A {chain} -m comment --comment \"{id} -> {ep}\" -m recent --name {sep} --rcheck --seconds {timeout} --reap -j {sep}"
            ));
        }
    }
    let n = endpoints.len();
    for (i, ep) in endpoints.iter().enumerate() {
        let sep = sep_chain(sp, ep);
        let stat = if i + 1 < n {
            format!(" -m statistic --mode random --probability {}", probability(i, n))
        } else {
            String::new()
        };
        r.nat_rules.push(format!("-A {chain} -m comment --comment \"{id} -> {ep}\"{stat} -j {sep}"));
    }
}
