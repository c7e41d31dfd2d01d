//! The Endpoints of one Service as a pure function of the Service, the pods in
//! its namespace and the Endpoints stored now (upstream's endpoints
//! controller `syncService`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::address::{self, find_port, hostname, is_headless, is_ready, pod_ip, publish_not_ready};

/// Set on Endpoints this controller writes, so the EndpointSlice mirroring of
/// user-written Endpoints leaves them alone (upstream sets it too).
pub const SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
pub const HEADLESS: &str = "service.kubernetes.io/headless";

/// One write.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create(Endpoints),
    /// Replace the stored object (the result keeps its resourceVersion).
    Update(Endpoints),
}

/// The write that makes the Service's Endpoints match its pods, or `None` when
/// they already do or the Service has no selector (someone else owns them).
pub fn reconcile(svc: &Service, pods: &[&Pod], existing: Option<&Endpoints>) -> Option<Action> {
    address::selector(svc)?;
    let subsets = subsets(svc, pods);
    let labels = labels(svc, existing);
    match existing {
        None => Some(Action::Create(Endpoints {
            metadata: ObjectMeta {
                name: svc.metadata.name.clone(),
                namespace: svc.metadata.namespace.clone(),
                labels: Some(labels),
                ..Default::default()
            },
            subsets: non_empty(subsets),
        })),
        Some(e) => {
            let same_subsets = e.subsets.clone().unwrap_or_default() == subsets;
            if same_subsets && e.metadata.labels.as_ref() == Some(&labels) {
                return None;
            }
            let mut e = e.clone();
            e.metadata.labels = Some(labels);
            e.subsets = non_empty(subsets);
            Some(Action::Update(e))
        }
    }
}

fn non_empty(subsets: Vec<EndpointSubset>) -> Option<Vec<EndpointSubset>> {
    (!subsets.is_empty()).then_some(subsets)
}

/// The Service's labels, plus the headless and skip-mirror markers; other
/// labels already on the Endpoints are dropped like upstream does.
fn labels(svc: &Service, _existing: Option<&Endpoints>) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if is_headless(svc) {
        labels.insert(HEADLESS.into(), String::new());
    } else {
        labels.remove(HEADLESS);
    }
    labels.insert(SKIP_MIRROR.into(), "true".into());
    labels
}

/// Ready and not-ready addresses grouped by the ports they serve, packed like
/// upstream's `RepackSubsets`: one subset per distinct port list, addresses
/// sorted by IP, an address both ready and not ready counted as ready.
pub fn subsets(svc: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let tolerate_unready = publish_not_ready(svc);
    let ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
    // ports (sorted) -> (ready by ip, not ready by ip)
    type Group = (BTreeMap<String, EndpointAddress>, BTreeMap<String, EndpointAddress>);
    let mut groups: BTreeMap<Vec<PortKey>, Group> = BTreeMap::new();
    for pod in address::selected(svc, pods) {
        if !address::should_be_in_endpoints(pod, tolerate_unready) {
            continue;
        }
        let ip = pod_ip(pod).unwrap_or_default().to_string();
        let addr = EndpointAddress {
            ip: ip.clone(),
            hostname: hostname(pod, svc),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
                ..Default::default()
            }),
        };
        let ready = tolerate_unready || is_ready(pod);
        let mut add = |key: Vec<PortKey>| {
            let group = groups.entry(key).or_default();
            if ready {
                group.1.remove(&ip);
                group.0.insert(ip.clone(), addr.clone());
            } else if !group.0.contains_key(&ip) {
                group.1.insert(ip.clone(), addr.clone());
            }
        };
        if ports.is_empty() {
            // A headless Service without ports still lists its pods (DNS).
            if is_headless(svc) {
                add(Vec::new());
            }
            continue;
        }
        for sp in &ports {
            if let Some(port) = find_port(pod, sp) {
                let key = PortKey {
                    name: sp.name.clone(),
                    port,
                    protocol: sp.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    app_protocol: sp.app_protocol.clone(),
                };
                add(vec![key]);
            }
        }
    }
    // Merge groups with the same address sets' ports: upstream packs each
    // address's ports together, so regroup by address -> ports.
    let mut by_address: BTreeMap<(String, bool), (EndpointAddress, Vec<PortKey>)> = BTreeMap::new();
    for (ports, (ready, not_ready)) in groups {
        for (ip, a) in ready {
            by_address.entry((ip, true)).or_insert_with(|| (a, Vec::new())).1.extend(ports.clone());
        }
        for (ip, a) in not_ready {
            by_address.entry((ip, false)).or_insert_with(|| (a, Vec::new())).1.extend(ports.clone());
        }
    }
    let mut packed: BTreeMap<Vec<PortKey>, Group> = BTreeMap::new();
    for ((ip, ready), (a, mut ports)) in by_address {
        ports.sort();
        ports.dedup();
        let group = packed.entry(ports).or_default();
        if ready {
            group.0.insert(ip, a);
        } else {
            group.1.insert(ip, a);
        }
    }
    packed
        .into_iter()
        .map(|(ports, (ready, not_ready))| EndpointSubset {
            addresses: (!ready.is_empty()).then(|| ready.into_values().collect()),
            not_ready_addresses: (!not_ready.is_empty()).then(|| not_ready.into_values().collect()),
            ports: (!ports.is_empty()).then(|| ports.into_iter().map(PortKey::into_port).collect()),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PortKey {
    name: Option<String>,
    port: i32,
    protocol: String,
    app_protocol: Option<String>,
}

impl PortKey {
    fn into_port(self) -> EndpointPort {
        EndpointPort {
            name: self.name,
            port: self.port,
            protocol: Some(self.protocol),
            app_protocol: self.app_protocol,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
