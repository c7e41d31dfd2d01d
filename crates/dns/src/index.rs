//! What the DNS server knows about the cluster: the parts of Services,
//! EndpointSlices and Pods that names are made of, kept up to date one watch
//! event at a time. Pure data; no I/O.
//!
//! Reverse maps (IP → names) are maintained on every change so that a PTR query
//! costs one hash lookup, like a forward query.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// `(namespace, name)`.
pub type Key = (String, String);

/// A Service port as DNS needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    /// Lowercase: `tcp`, `udp` or `sctp`, as in SRV names (`_http._tcp`).
    pub protocol: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// A virtual IP (or one per family).
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: names resolve to the endpoints.
    Headless,
    /// `type: ExternalName`: a CNAME.
    ExternalName(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub kind: ServiceKind,
    pub ports: Vec<Port>,
}

/// One endpoint address of a slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointEntry {
    pub ip: IpAddr,
    /// The endpoint's `hostname` (a pod's `spec.hostname` when its subdomain is
    /// the Service), else none: DNS then names it by its dashed IP.
    pub hostname: Option<String>,
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SliceEntry {
    service: String,
    endpoints: Vec<EndpointEntry>,
    ports: Vec<Port>,
}

/// A pod as its IP's PTR record needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEntry {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Default)]
pub struct Index {
    services: HashMap<Key, ServiceEntry>,
    /// Services per namespace, so `ns.svc.cluster.local` is known to exist.
    namespaces: HashMap<String, usize>,
    /// (namespace, service) → slice name → slice.
    slices: HashMap<Key, BTreeMap<String, SliceEntry>>,
    /// (namespace, slice name) → the service it belonged to when last seen.
    slice_owner: HashMap<Key, String>,
    cluster_ips: HashMap<IpAddr, Key>,
    /// Endpoint IP → (namespace, slice name) → (service, endpoint name).
    endpoint_ips: HashMap<IpAddr, BTreeMap<Key, (String, Option<String>)>>,
    pods: HashMap<Key, Vec<IpAddr>>,
    pod_ips: HashMap<IpAddr, PodEntry>,
}

/// The result of a reverse lookup of an IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner<'a> {
    Service { namespace: &'a str, name: &'a str },
    Endpoint { namespace: &'a str, service: &'a str, hostname: Option<&'a str> },
    Pod(&'a PodEntry),
}

fn key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Key {
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

fn protocol(p: Option<&str>) -> String {
    p.unwrap_or("TCP").to_ascii_lowercase()
}

impl ServiceEntry {
    pub fn from_service(svc: &Service) -> Option<ServiceEntry> {
        let spec = svc.spec.as_ref()?;
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            ServiceKind::ExternalName(spec.external_name.clone().unwrap_or_default())
        } else if spec.cluster_ip.as_deref() == Some("None") {
            ServiceKind::Headless
        } else {
            let mut ips: Vec<IpAddr> = spec.cluster_ips.iter().flatten().filter_map(|s| s.parse().ok()).collect();
            if ips.is_empty() {
                ips.extend(spec.cluster_ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok()));
            }
            ServiceKind::ClusterIp(ips)
        };
        let ports = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(Port {
                    name: p.name.clone().unwrap_or_default(),
                    protocol: protocol(p.protocol.as_deref()),
                    port: u16::try_from(p.port).ok()?,
                })
            })
            .collect();
        Some(ServiceEntry { kind, ports })
    }
}

fn slice_entry(slice: &EndpointSlice) -> Option<SliceEntry> {
    let service = slice.metadata.labels.as_ref()?.get("kubernetes.io/service-name")?.clone();
    let endpoints = slice
        .endpoints
        .iter()
        .flat_map(|e| {
            // Absent means ready (the API's rule for consumers).
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            let hostname = e.hostname.clone().filter(|h| !h.is_empty());
            e.addresses
                .iter()
                .filter_map(move |a| Some(EndpointEntry { ip: a.parse().ok()?, hostname: hostname.clone(), ready }))
        })
        .collect();
    let ports = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(Port {
                name: p.name.clone().unwrap_or_default(),
                protocol: protocol(p.protocol.as_deref()),
                port: u16::try_from(p.port?).ok()?,
            })
        })
        .collect();
    Some(SliceEntry { service, endpoints, ports })
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    // ---- Services ----

    pub fn apply_service(&mut self, svc: &Service) {
        let k = key(&svc.metadata);
        self.delete_service_key(&k);
        let Some(entry) = ServiceEntry::from_service(svc) else { return };
        if let ServiceKind::ClusterIp(ips) = &entry.kind {
            for ip in ips {
                self.cluster_ips.insert(*ip, k.clone());
            }
        }
        *self.namespaces.entry(k.0.clone()).or_default() += 1;
        self.services.insert(k, entry);
    }

    pub fn delete_service(&mut self, svc: &Service) {
        self.delete_service_key(&key(&svc.metadata));
    }

    fn delete_service_key(&mut self, k: &Key) {
        let Some(old) = self.services.remove(k) else { return };
        if let ServiceKind::ClusterIp(ips) = old.kind {
            for ip in ips {
                if self.cluster_ips.get(&ip) == Some(k) {
                    self.cluster_ips.remove(&ip);
                }
            }
        }
        if let Some(n) = self.namespaces.get_mut(&k.0) {
            *n -= 1;
            if *n == 0 {
                self.namespaces.remove(&k.0);
            }
        }
    }

    /// Replaces every Service (after a (re)list).
    pub fn replace_services(&mut self, all: &[Service]) {
        self.services.clear();
        self.namespaces.clear();
        self.cluster_ips.clear();
        for s in all {
            self.apply_service(s);
        }
    }

    // ---- EndpointSlices ----

    pub fn apply_slice(&mut self, slice: &EndpointSlice) {
        let k = key(&slice.metadata);
        self.delete_slice_key(&k);
        let Some(entry) = slice_entry(slice) else { return };
        for e in &entry.endpoints {
            self.endpoint_ips.entry(e.ip).or_default().insert(k.clone(), (entry.service.clone(), e.hostname.clone()));
        }
        self.slice_owner.insert(k.clone(), entry.service.clone());
        self.slices.entry((k.0.clone(), entry.service.clone())).or_default().insert(k.1, entry);
    }

    pub fn delete_slice(&mut self, slice: &EndpointSlice) {
        self.delete_slice_key(&key(&slice.metadata));
    }

    fn delete_slice_key(&mut self, k: &Key) {
        let Some(service) = self.slice_owner.remove(k) else { return };
        let svc_key = (k.0.clone(), service);
        let Some(slices) = self.slices.get_mut(&svc_key) else { return };
        if let Some(old) = slices.remove(&k.1) {
            for e in old.endpoints {
                if let Some(owners) = self.endpoint_ips.get_mut(&e.ip) {
                    owners.remove(k);
                    if owners.is_empty() {
                        self.endpoint_ips.remove(&e.ip);
                    }
                }
            }
        }
        if slices.is_empty() {
            self.slices.remove(&svc_key);
        }
    }

    pub fn replace_slices(&mut self, all: &[EndpointSlice]) {
        self.slices.clear();
        self.slice_owner.clear();
        self.endpoint_ips.clear();
        for s in all {
            self.apply_slice(s);
        }
    }

    // ---- Pods ----

    pub fn apply_pod(&mut self, pod: &Pod) {
        let k = key(&pod.metadata);
        self.delete_pod_key(&k);
        let status = pod.status.as_ref();
        let mut ips: Vec<IpAddr> =
            status.and_then(|s| s.pod_ips.as_ref()).into_iter().flatten().filter_map(|p| p.ip.parse().ok()).collect();
        if ips.is_empty() {
            ips.extend(status.and_then(|s| s.pod_ip.as_deref()).and_then(|s| s.parse::<IpAddr>().ok()));
        }
        // Host-network pods share the node's IP; the node is not theirs to name.
        if pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false) || ips.is_empty() {
            return;
        }
        for ip in &ips {
            self.pod_ips.insert(*ip, PodEntry { namespace: k.0.clone(), name: k.1.clone() });
        }
        self.pods.insert(k, ips);
    }

    pub fn delete_pod(&mut self, pod: &Pod) {
        self.delete_pod_key(&key(&pod.metadata));
    }

    fn delete_pod_key(&mut self, k: &Key) {
        for ip in self.pods.remove(k).into_iter().flatten() {
            if self.pod_ips.get(&ip).is_some_and(|p| p.namespace == k.0 && p.name == k.1) {
                self.pod_ips.remove(&ip);
            }
        }
    }

    pub fn replace_pods<'a>(&mut self, all: impl IntoIterator<Item = &'a Pod>) {
        self.pods.clear();
        self.pod_ips.clear();
        for p in all {
            self.apply_pod(p);
        }
    }

    // ---- Lookups ----

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceEntry> {
        self.services.get(&(namespace.to_string(), name.to_string()))
    }

    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains_key(namespace)
    }

    pub fn has_services(&self) -> bool {
        !self.services.is_empty()
    }

    /// Every endpoint of the Service with the ports of its slice, in a stable
    /// order (slice name, then position).
    pub fn endpoints(&self, namespace: &str, service: &str) -> impl Iterator<Item = (&EndpointEntry, &[Port])> {
        self.slices
            .get(&(namespace.to_string(), service.to_string()))
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|s| s.endpoints.iter().map(move |e| (e, s.ports.as_slice())))
    }

    /// Who owns `ip`: a Service's cluster IP first, then an endpoint, then a pod.
    pub fn owner(&self, ip: IpAddr) -> Option<Owner<'_>> {
        if let Some((ns, name)) = self.cluster_ips.get(&ip) {
            return Some(Owner::Service { namespace: ns, name });
        }
        if let Some(((ns, _slice), (svc, host))) = self.endpoint_ips.get(&ip).and_then(|m| m.iter().next()) {
            return Some(Owner::Endpoint { namespace: ns, service: svc, hostname: host.as_deref() });
        }
        self.pod_ips.get(&ip).map(Owner::Pod)
    }

    /// How many objects of each kind are indexed (services, slices, pods).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.services.len(), self.slice_owner.len(), self.pods.len())
    }
}
