//! Services + EndpointSlices + node → one `ServicePortPlan` per service port. Pure.
//!
//! Follows upstream kube-proxy's endpoint categorisation: ready endpoints take the
//! traffic; when a policy's set has no ready endpoint, its serving-but-terminating
//! endpoints do (so a rolling update never drops connections it could serve);
//! endpoints that are neither receive nothing new.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::model::{Endpoint, NodeContext, Protocol, ServicePortPlan};

/// The label an EndpointSlice names its Service with.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Session affinity timeout when a Service asks for ClientIP without one (3 hours).
pub const DEFAULT_AFFINITY_SECONDS: u32 = 10800;

/// One address of a slice, with the conditions that decide whether it gets traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    endpoint: Endpoint,
    ready: bool,
    serving: bool,
    terminating: bool,
}

/// A Service's slice addresses per (port name, protocol).
type PortCandidates = BTreeMap<(String, Protocol), BTreeSet<Candidate>>;

/// The plan for `node`: every service port with a usable IPv4 cluster IP, sorted by
/// namespace, name, port name and protocol. Headless and ExternalName Services, and
/// ports with a protocol the proxy does not know, are left out.
pub fn plan(services: &[Service], slices: &[EndpointSlice], node: &NodeContext) -> Vec<ServicePortPlan> {
    // (namespace, service) → the slices' candidates per (port name, protocol).
    let mut by_service: BTreeMap<(&str, &str), PortCandidates> = BTreeMap::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        let ns = slice.metadata.namespace.as_deref().unwrap_or("");
        let Some(svc) = slice.metadata.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)) else { continue };
        let ports = by_service.entry((ns, svc.as_str())).or_default();
        for p in slice.ports.iter().flatten() {
            let (Some(port), Some(protocol)) = (p.port, Protocol::parse(p.protocol.as_deref())) else { continue };
            let Ok(port) = u16::try_from(port) else { continue };
            let set = ports.entry((p.name.clone().unwrap_or_default(), protocol)).or_default();
            for ep in &slice.endpoints {
                let c = ep.conditions.as_ref();
                // nil ready means ready; nil serving means "same as ready" (API docs).
                let ready = c.and_then(|c| c.ready).unwrap_or(true);
                let serving = c.and_then(|c| c.serving).unwrap_or(ready);
                let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
                let local = ep.node_name.as_deref() == Some(node.name.as_str());
                for a in &ep.addresses {
                    let Ok(ip) = a.parse::<Ipv4Addr>() else { continue };
                    set.insert(Candidate { endpoint: Endpoint { ip, port, local }, ready, serving, terminating });
                }
            }
        }
    }

    let mut out = Vec::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let Some(cluster_ip) = spec.cluster_ip.as_deref().and_then(|ip| ip.parse::<Ipv4Addr>().ok()) else {
            continue; // headless ("None"), unset, or IPv6: no rules
        };
        let ns = svc.metadata.namespace.as_deref().unwrap_or("");
        let name = svc.metadata.name.as_deref().unwrap_or("");
        let parse_ips =
            |ips: &mut dyn Iterator<Item = &String>| -> Vec<Ipv4Addr> { ips.filter_map(|s| s.parse().ok()).collect() };
        let external_ips = parse_ips(&mut spec.external_ips.iter().flatten());
        let load_balancer_ips = if spec.type_.as_deref() == Some("LoadBalancer") {
            let ingress = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|l| l.ingress.as_ref());
            parse_ips(&mut ingress.into_iter().flatten().filter_map(|i| i.ip.as_ref()))
        } else {
            Vec::new()
        };
        let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|t| u32::try_from(t).ok())
                .unwrap_or(DEFAULT_AFFINITY_SECONDS)
        });
        let node_port_type = matches!(spec.type_.as_deref(), Some("NodePort") | Some("LoadBalancer"));
        let external_local = spec.external_traffic_policy.as_deref() == Some("Local");
        let internal_local = spec.internal_traffic_policy.as_deref() == Some("Local");
        let slices = by_service.get(&(ns, name));
        for p in spec.ports.iter().flatten() {
            let Some(protocol) = Protocol::parse(p.protocol.as_deref()) else { continue };
            let Ok(port) = u16::try_from(p.port) else { continue };
            let port_name = p.name.clone().unwrap_or_default();
            let empty = BTreeSet::new();
            let candidates = slices.and_then(|s| s.get(&(port_name.clone(), protocol))).unwrap_or(&empty);
            let all_endpoints = usable(candidates.iter());
            let local_endpoints = usable(candidates.iter().filter(|c| c.endpoint.local));
            let cluster_endpoints = if internal_local { local_endpoints.clone() } else { all_endpoints.clone() };
            out.push(ServicePortPlan {
                namespace: ns.to_string(),
                name: name.to_string(),
                port_name,
                protocol,
                cluster_ip,
                port,
                node_port: p.node_port.filter(|_| node_port_type).and_then(|n| u16::try_from(n).ok()),
                external_ips: external_ips.clone(),
                load_balancer_ips: load_balancer_ips.clone(),
                affinity_timeout,
                external_local,
                internal_local,
                cluster_endpoints,
                local_endpoints,
                all_endpoints,
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.namespace, &a.name, &a.port_name, a.protocol).cmp(&(&b.namespace, &b.name, &b.port_name, b.protocol))
    });
    out
}

/// Ready endpoints; if there are none, serving terminating ones (upstream's fallback).
fn usable<'a>(candidates: impl Iterator<Item = &'a Candidate> + Clone) -> Vec<Endpoint> {
    let ready: BTreeSet<Endpoint> = candidates.clone().filter(|c| c.ready).map(|c| c.endpoint).collect();
    if !ready.is_empty() {
        return ready.into_iter().collect();
    }
    candidates.filter(|c| c.serving && c.terminating).map(|c| c.endpoint).collect::<BTreeSet<_>>().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{endpoint, service, slice};

    fn node() -> NodeContext {
        NodeContext { name: "node-a".into(), addresses: vec![Ipv4Addr::new(192, 168, 1, 10)], pod_cidr: None }
    }

    #[test]
    fn headless_and_external_name_services_get_no_plan() {
        let mut headless = service("ns", "h", "None", &[("", 80, "TCP")]);
        headless.spec.as_mut().unwrap().cluster_ip = Some("None".into());
        let mut ext = service("ns", "e", "10.43.0.9", &[("", 80, "TCP")]);
        ext.spec.as_mut().unwrap().type_ = Some("ExternalName".into());
        assert!(plan(&[headless, ext], &[], &node()).is_empty());
    }

    #[test]
    fn not_ready_endpoints_get_nothing_and_terminating_serve_only_as_fallback() {
        let svc = service("ns", "web", "10.43.0.5", &[("http", 80, "TCP")]);
        let s = slice(
            "ns",
            "web",
            &[("http", 8080, "TCP")],
            vec![
                endpoint("10.42.0.2", "node-a", Some(true), None, None),
                endpoint("10.42.0.3", "node-b", Some(false), Some(false), None),
                endpoint("10.42.0.4", "node-b", Some(false), Some(true), Some(true)),
            ],
        );
        let p = plan(std::slice::from_ref(&svc), &[s], &node());
        assert_eq!(p[0].cluster_endpoints.iter().map(|e| e.to_string()).collect::<Vec<_>>(), ["10.42.0.2:8080"]);
        // Without ready endpoints, the serving terminating one takes over.
        let s = slice(
            "ns",
            "web",
            &[("http", 8080, "TCP")],
            vec![
                endpoint("10.42.0.3", "node-b", Some(false), Some(false), None),
                endpoint("10.42.0.4", "node-b", Some(false), Some(true), Some(true)),
            ],
        );
        let p = plan(&[svc], &[s], &node());
        assert_eq!(p[0].cluster_endpoints.iter().map(|e| e.to_string()).collect::<Vec<_>>(), ["10.42.0.4:8080"]);
    }

    #[test]
    fn named_ports_match_slice_ports_by_name_and_protocol() {
        let svc = service("ns", "dns", "10.43.0.10", &[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]);
        let s = slice(
            "ns",
            "dns",
            &[("dns", 5353, "UDP"), ("dns-tcp", 5354, "TCP")],
            vec![endpoint("10.42.0.2", "node-a", None, None, None)],
        );
        let p = plan(&[svc], &[s], &node());
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].port_name.as_str(), p[0].cluster_endpoints[0].port), ("dns", 5353));
        assert_eq!((p[1].port_name.as_str(), p[1].cluster_endpoints[0].port), ("dns-tcp", 5354));
        assert!(p[0].cluster_endpoints[0].local);
    }

    #[test]
    fn internal_traffic_policy_local_keeps_only_this_nodes_endpoints() {
        let mut svc = service("ns", "web", "10.43.0.5", &[("", 80, "TCP")]);
        svc.spec.as_mut().unwrap().internal_traffic_policy = Some("Local".into());
        let s = slice(
            "ns",
            "web",
            &[("", 80, "TCP")],
            vec![endpoint("10.42.0.2", "node-a", None, None, None), endpoint("10.42.1.2", "node-b", None, None, None)],
        );
        let p = plan(&[svc], &[s], &node());
        assert_eq!(p[0].cluster_endpoints.len(), 1);
        assert_eq!(p[0].all_endpoints.len(), 2);
    }
}
