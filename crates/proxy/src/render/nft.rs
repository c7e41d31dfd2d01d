//! The plan as one `nft -f` script that replaces table `ip skiff-proxy` atomically
//! (`add table` + `delete table` + the new table, one transaction), laid out like
//! upstream's nftables proxier:
//!
//! - verdict maps from (address, protocol, port) to the service's chain:
//!   `service-ips` (cluster, external and load-balancer IPs) and `service-nodeports`
//!   (protocol, port; matched for destinations local to the node);
//! - `service-*` / `local-*` chains choose an `endpoint-*` chain with
//!   `numgen random mod n`, after affinity sets (`ip saddr @affinity-*`);
//! - `external-*` chains do what KUBE-EXT does in iptables mode;
//! - `no-endpoint-services` / `no-endpoint-nodeports` maps send new connections to
//!   ports without endpoints to a chain that rejects them;
//! - `mark-for-masquerade` + `masquerading` do what KUBE-MARK-MASQ/KUBE-POSTROUTING do.
//!
//! Replacing the table drops the affinity sets' contents; established connections
//! keep their NAT in conntrack and are not affected.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{hash, DROP_MARK, MASQ_MARK};
use crate::model::{Endpoint, Options, ServicePortPlan};

/// The table skiff owns.
pub const TABLE: &str = "skiff-proxy";

fn base(sp: &ServicePortPlan) -> String {
    let port = if sp.port_name.is_empty() { sp.port.to_string() } else { sp.port_name.clone() };
    let h = hash(&[&sp.port_id(), sp.protocol.lower()], 8);
    format!("{h}-{}/{}/{}/{port}", sp.namespace, sp.name, sp.protocol.lower())
}

fn endpoint_chain(sp: &ServicePortPlan, ep: &Endpoint) -> String {
    let port = if sp.port_name.is_empty() { sp.port.to_string() } else { sp.port_name.clone() };
    let h = hash(&[&sp.port_id(), sp.protocol.lower(), &ep.to_string()], 8);
    format!("endpoint-{h}-{}/{}/{}/{port}__{}/{}", sp.namespace, sp.name, sp.protocol.lower(), ep.ip, ep.port)
}

fn affinity_set(sp: &ServicePortPlan, ep: &Endpoint) -> String {
    format!("affinity-{}", &endpoint_chain(sp, ep)["endpoint-".len()..])
}

/// Renders the whole script.
pub fn render(plan: &[ServicePortPlan], options: &Options) -> String {
    let mut s = String::with_capacity(plan.len() * 600 + 4096);
    let _ = writeln!(s, "add table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{");
    let mut service_ips = Vec::new();
    let mut nodeports = Vec::new();
    let mut no_endpoint_ips = Vec::new();
    let mut no_endpoint_nodeports = Vec::new();
    let mut chains = String::new();
    let mut sets = String::new();
    for sp in plan {
        service_port(
            sp,
            options,
            &mut Out {
                service_ips: &mut service_ips,
                nodeports: &mut nodeports,
                no_endpoint_ips: &mut no_endpoint_ips,
                no_endpoint_nodeports: &mut no_endpoint_nodeports,
                chains: &mut chains,
                sets: &mut sets,
            },
        );
    }
    let m = MASQ_MARK;
    let _ = write!(
        s,
        "\tchain nat-prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tjump services\n\t}}\n\
         \tchain nat-output {{\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump services\n\t}}\n\
         \tchain nat-postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tjump masquerading\n\t}}\n\
         \tchain filter-input {{\n\t\ttype filter hook input priority filter; policy accept;\n\t\tct state new jump service-endpoints-check\n\t\tmeta mark & {DROP_MARK:#x} == {DROP_MARK:#x} drop\n\t}}\n\
         \tchain filter-forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tct state new jump service-endpoints-check\n\t}}\n\
         \tchain filter-output {{\n\t\ttype filter hook output priority filter; policy accept;\n\t\tct state new jump service-endpoints-check\n\t\tmeta mark & {DROP_MARK:#x} == {DROP_MARK:#x} drop\n\t}}\n\
         \tchain mark-for-masquerade {{\n\t\tmeta mark set meta mark | {m:#x}\n\t}}\n\
         \tchain mark-for-drop {{\n\t\tmeta mark set meta mark | {DROP_MARK:#x}\n\t}}\n\
         \tchain masquerading {{\n\t\tmeta mark & {m:#x} == 0 return\n\t\tmeta mark set meta mark ^ {m:#x}\n\t\tmasquerade fully-random\n\t}}\n\
         \tchain reject-chain {{\n\t\treject\n\t}}\n\
         \tchain services {{\n\t\tip daddr . meta l4proto . th dport vmap @service-ips\n\t\tfib daddr type local meta l4proto . th dport vmap @service-nodeports\n\t}}\n\
         \tchain service-endpoints-check {{\n\t\tip daddr . meta l4proto . th dport vmap @no-endpoint-services\n\t\tfib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports\n\t}}\n"
    );
    map(&mut s, "service-ips", "ipv4_addr . inet_proto . inet_service", &service_ips);
    map(&mut s, "service-nodeports", "inet_proto . inet_service", &nodeports);
    map(&mut s, "no-endpoint-services", "ipv4_addr . inet_proto . inet_service", &no_endpoint_ips);
    map(&mut s, "no-endpoint-nodeports", "inet_proto . inet_service", &no_endpoint_nodeports);
    s.push_str(&sets);
    s.push_str(&chains);
    s.push_str("}\n");
    s
}

fn map(s: &mut String, name: &str, key: &str, elements: &[String]) {
    let _ = writeln!(s, "\tmap {name} {{\n\t\ttype {key} : verdict");
    if !elements.is_empty() {
        let _ = writeln!(s, "\t\telements = {{\n\t\t\t{}\n\t\t}}", elements.join(",\n\t\t\t"));
    }
    s.push_str("\t}\n");
}

struct Out<'a> {
    service_ips: &'a mut Vec<String>,
    nodeports: &'a mut Vec<String>,
    no_endpoint_ips: &'a mut Vec<String>,
    no_endpoint_nodeports: &'a mut Vec<String>,
    chains: &'a mut String,
    sets: &'a mut String,
}

fn service_port(sp: &ServicePortPlan, options: &Options, out: &mut Out<'_>) {
    let proto = sp.protocol.lower();
    let b = base(sp);
    let (svc, svl, ext) = (format!("service-{b}"), format!("local-{b}"), format!("external-{b}"));
    let internal_has_endpoints = !sp.cluster_endpoints.is_empty();
    let external_has_endpoints = sp.has_external() && !sp.all_endpoints.is_empty();
    let uses_svc = (!sp.internal_local && internal_has_endpoints) || external_has_endpoints;
    let uses_svl = !sp.local_endpoints.is_empty()
        && ((sp.internal_local && internal_has_endpoints) || (external_has_endpoints && sp.external_local));
    let internal_chain = if sp.internal_local { &svl } else { &svc };
    let key = |ip: &std::net::Ipv4Addr| format!("{ip} . {proto} . {}", sp.port);
    let externals: Vec<_> = sp.external_ips.iter().chain(&sp.load_balancer_ips).collect();

    if internal_has_endpoints {
        out.service_ips.push(format!("{} : goto {internal_chain}", key(&sp.cluster_ip)));
    } else {
        out.no_endpoint_ips.push(format!("{} : goto reject-chain", key(&sp.cluster_ip)));
    }
    if external_has_endpoints {
        for ip in &externals {
            out.service_ips.push(format!("{} : goto {ext}", key(ip)));
        }
        if let Some(np) = sp.node_port {
            out.nodeports.push(format!("{proto} . {np} : goto {ext}"));
        }
    } else if sp.has_external() {
        for ip in &externals {
            out.no_endpoint_ips.push(format!("{} : goto reject-chain", key(ip)));
        }
        if let Some(np) = sp.node_port {
            out.no_endpoint_nodeports.push(format!("{proto} . {np} : goto reject-chain"));
        }
    }

    let c = &mut *out.chains;
    if external_has_endpoints {
        let _ = writeln!(c, "\tchain {ext} {{");
        if sp.external_local {
            if let Some(cidr) = options.cluster_cidr {
                let _ = writeln!(c, "\t\tip saddr {cidr} goto {svc}");
            }
            let _ = writeln!(c, "\t\tfib saddr type local jump mark-for-masquerade");
            let _ = writeln!(c, "\t\tfib saddr type local goto {svc}");
            if sp.local_endpoints.is_empty() {
                let _ = writeln!(c, "\t\tgoto mark-for-drop");
            } else {
                let _ = writeln!(c, "\t\tgoto {svl}");
            }
        } else {
            let _ = writeln!(c, "\t\tjump mark-for-masquerade\n\t\tgoto {svc}");
        }
        c.push_str("\t}\n");
    }
    let cluster_ip_match = format!("ip daddr {} {proto} dport {}", sp.cluster_ip, sp.port);
    let masq = if options.masquerade_all {
        Some(format!("\t\t{cluster_ip_match} jump mark-for-masquerade\n"))
    } else {
        options.cluster_cidr.map(|cidr| format!("\t\t{cluster_ip_match} ip saddr != {cidr} jump mark-for-masquerade\n"))
    };
    let mut endpoints = BTreeSet::new();
    for (used, chain, eps) in [(uses_svc, &svc, &sp.all_endpoints), (uses_svl, &svl, &sp.local_endpoints)] {
        if !used {
            continue;
        }
        let _ = writeln!(c, "\tchain {chain} {{");
        if chain == internal_chain {
            c.push_str(masq.as_deref().unwrap_or(""));
        }
        if sp.affinity_timeout.is_some() {
            for ep in eps {
                let _ = writeln!(c, "\t\tip saddr @{} goto {}", affinity_set(sp, ep), endpoint_chain(sp, ep));
            }
        }
        let targets: Vec<String> =
            eps.iter().enumerate().map(|(i, ep)| format!("{i} : goto {}", endpoint_chain(sp, ep))).collect();
        let _ = writeln!(c, "\t\tnumgen random mod {} vmap {{ {} }}", eps.len(), targets.join(", "));
        c.push_str("\t}\n");
        endpoints.extend(eps.iter().copied());
    }
    for ep in &endpoints {
        let _ = writeln!(c, "\tchain {} {{", endpoint_chain(sp, ep));
        let _ = writeln!(c, "\t\tip saddr {} jump mark-for-masquerade", ep.ip);
        if let Some(timeout) = sp.affinity_timeout {
            let set = affinity_set(sp, ep);
            let _ = writeln!(
                out.sets,
                "\tset {set} {{\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout {timeout}s\n\t}}"
            );
            let _ = writeln!(c, "\t\tupdate @{set} {{ ip saddr }}");
        }
        let _ = writeln!(c, "\t\tmeta l4proto {proto} dnat to {ep}\n\t}}");
    }
}
