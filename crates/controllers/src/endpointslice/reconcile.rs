//! The EndpointSlices of one Service as a pure function of the Service, the
//! pods in its namespace and the slices this controller manages for it now.
//!
//! Endpoints are grouped by address type and by the ports they serve (a named
//! target port can resolve differently per pod); each group fills slices of at
//! most [`MAX_ENDPOINTS`]. To keep churn low, like upstream: endpoints stay in
//! the slice that has them, new ones fill free room in existing slices before
//! new slices are made, and only slices that change are written.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::endpoints::address::{self, find_port, hostname, is_headless, is_ready, is_terminating, publish_not_ready};
use crate::endpoints::reconcile::HEADLESS;
use crate::runtime::owner;

pub const MAX_ENDPOINTS: usize = 100;
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";

/// The writes of one sync.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    /// New slices (`generateName: <service>-`).
    pub create: Vec<EndpointSlice>,
    /// Changed slices, to replace at the resourceVersion they carry.
    pub update: Vec<EndpointSlice>,
    /// Names of slices to delete.
    pub delete: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// Whether `slice` is one this controller manages for the Service `name`.
pub fn is_managed_for(slice: &EndpointSlice, name: &str) -> bool {
    let labels = slice.metadata.labels.as_ref();
    let get = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    get(MANAGED_BY) == Some(CONTROLLER_NAME) && get(SERVICE_NAME) == Some(name)
}

type GroupKey = (String, Vec<PortKey>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PortKey {
    name: Option<String>,
    port: i32,
    protocol: String,
    app_protocol: Option<String>,
}

/// Brings `slices` (any slices of the namespace; only the Service's managed
/// ones are considered) to what `svc` and `pods` call for.
pub fn reconcile(svc: &Service, pods: &[&Pod], slices: &[&EndpointSlice]) -> Plan {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let mut existing: Vec<EndpointSlice> =
        slices.iter().filter(|s| is_managed_for(s, &name)).map(|s| (*s).clone()).collect();
    existing.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut plan = Plan::default();
    if address::selector(svc).is_none() {
        plan.delete = existing.iter().filter_map(|s| s.metadata.name.clone()).collect();
        return plan;
    }
    let labels = labels(svc);
    let mut desired = desired_endpoints(svc, pods);

    let mut kept: Vec<EndpointSlice> = Vec::new();
    for mut slice in existing {
        let key = (slice.address_type.clone(), slice_ports(&slice));
        let mut changed = slice.metadata.labels.as_ref() != Some(&labels)
            || slice.metadata.owner_references.as_ref() != Some(&vec![owner::controller_ref(svc)]);
        let group = desired.get_mut(&key);
        let before = slice.endpoints.len();
        let mut endpoints = Vec::new();
        if let Some(group) = group {
            for ep in &slice.endpoints {
                let addr = ep.addresses.first().cloned().unwrap_or_default();
                if let Some(want) = group.remove(&addr) {
                    changed |= &want != ep;
                    endpoints.push(want);
                }
            }
        }
        changed |= endpoints.len() != before;
        if endpoints.is_empty() && !slice.endpoints.is_empty() {
            plan.delete.push(slice.metadata.name.clone().unwrap_or_default());
            continue;
        }
        if endpoints.is_empty() && !is_placeholder(&slice) {
            plan.delete.push(slice.metadata.name.clone().unwrap_or_default());
            continue;
        }
        slice.endpoints = endpoints;
        slice.metadata.labels = Some(labels.clone());
        slice.metadata.owner_references = Some(vec![owner::controller_ref(svc)]);
        kept.push(slice);
        if changed {
            let idx = kept.len() - 1;
            mark(&mut plan, &kept[idx]);
        }
    }

    // New endpoints: free room in slices of the same group first.
    for (key, group) in desired {
        let mut rest: Vec<Endpoint> = group.into_values().collect();
        for slice in kept.iter_mut() {
            if rest.is_empty() {
                break;
            }
            if (slice.address_type.clone(), slice_ports(slice)) != key {
                continue;
            }
            let room = MAX_ENDPOINTS.saturating_sub(slice.endpoints.len()).min(rest.len());
            if room == 0 {
                continue;
            }
            slice.endpoints.extend(rest.drain(..room));
            mark(&mut plan, slice);
        }
        for chunk in rest.chunks(MAX_ENDPOINTS) {
            plan.create.push(new_slice(svc, &labels, &key, chunk.to_vec()));
        }
    }

    // A Service without endpoints keeps one empty placeholder slice (as
    // upstream, so consumers can tell "no endpoints" from "not synced").
    let placeholders: Vec<&EndpointSlice> = kept.iter().filter(|s| is_placeholder(s)).collect();
    let others = kept.len() - placeholders.len() + plan.create.len();
    if others > 0 {
        for p in placeholders {
            let n = p.metadata.name.clone().unwrap_or_default();
            plan.update.retain(|u| u.metadata.name.as_deref() != Some(n.as_str()));
            plan.delete.push(n);
        }
    } else if placeholders.is_empty() {
        let family = address_types(svc).into_iter().next().unwrap_or_else(|| "IPv4".into());
        plan.create.push(new_slice(svc, &labels, &(family, Vec::new()), Vec::new()));
    } else {
        // Keep one placeholder only.
        for p in placeholders.iter().skip(1) {
            let n = p.metadata.name.clone().unwrap_or_default();
            plan.update.retain(|u| u.metadata.name.as_deref() != Some(n.as_str()));
            plan.delete.push(n);
        }
    }
    plan
}

/// An empty slice without ports: what a Service with no endpoints has.
fn is_placeholder(slice: &EndpointSlice) -> bool {
    slice.endpoints.is_empty() && slice.ports.as_ref().is_none_or(|p| p.is_empty())
}

/// Records `slice` as updated (once, with its latest contents).
fn mark(plan: &mut Plan, slice: &EndpointSlice) {
    plan.update.retain(|u| u.metadata.name != slice.metadata.name);
    plan.update.push(slice.clone());
}

fn slice_ports(slice: &EndpointSlice) -> Vec<PortKey> {
    let mut ports: Vec<PortKey> = slice
        .ports
        .iter()
        .flatten()
        .map(|p| PortKey {
            name: p.name.clone(),
            port: p.port.unwrap_or(0),
            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            app_protocol: p.app_protocol.clone(),
        })
        .collect();
    ports.sort();
    ports
}

fn new_slice(
    svc: &Service,
    labels: &BTreeMap<String, String>,
    key: &GroupKey,
    endpoints: Vec<Endpoint>,
) -> EndpointSlice {
    let ports = key
        .1
        .iter()
        .map(|p| EndpointPort {
            name: p.name.clone(),
            port: Some(p.port),
            protocol: Some(p.protocol.clone()),
            app_protocol: p.app_protocol.clone(),
        })
        .collect::<Vec<_>>();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", svc.metadata.name.as_deref().unwrap_or(""))),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner::controller_ref(svc)]),
            ..Default::default()
        },
        address_type: key.0.clone(),
        endpoints,
        ports: (!ports.is_empty()).then_some(ports),
    }
}

/// The Service's labels plus the two that tie a slice to it and to us.
fn labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if is_headless(svc) {
        labels.insert(HEADLESS.into(), String::new());
    } else {
        labels.remove(HEADLESS);
    }
    labels.insert(SERVICE_NAME.into(), svc.metadata.name.clone().unwrap_or_default());
    labels.insert(MANAGED_BY.into(), CONTROLLER_NAME.into());
    labels
}

/// `IPv4` / `IPv6` from the Service's `ipFamilies` (IPv4 when unset).
fn address_types(svc: &Service) -> Vec<String> {
    match svc.spec.as_ref().and_then(|s| s.ip_families.clone()) {
        Some(f) if !f.is_empty() => f,
        _ => vec!["IPv4".into()],
    }
}

/// The pod's address of `family`, from `podIPs` (or `podIP`).
fn pod_address(pod: &Pod, family: &str) -> Option<String> {
    let status = pod.status.as_ref()?;
    let ips = status.pod_ips.iter().flatten().map(|i| i.ip.clone()).chain(status.pod_ip.clone());
    ips.filter(|ip| !ip.is_empty()).find(|ip| match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => family == "IPv4",
        Ok(IpAddr::V6(_)) => family == "IPv6",
        Err(_) => false,
    })
}

/// group -> address -> endpoint.
fn desired_endpoints(svc: &Service, pods: &[&Pod]) -> BTreeMap<GroupKey, BTreeMap<String, Endpoint>> {
    let publish = publish_not_ready(svc);
    let svc_ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
    let mut out: BTreeMap<GroupKey, BTreeMap<String, Endpoint>> = BTreeMap::new();
    for pod in address::selected(svc, pods) {
        // Terminating pods stay, marked terminating (and not ready unless
        // the Service publishes not-ready addresses).
        if !address::should_be_in_endpoints(pod, true) {
            continue;
        }
        let mut ports: Vec<PortKey> = svc_ports
            .iter()
            .filter_map(|sp| {
                Some(PortKey {
                    name: sp.name.clone(),
                    port: find_port(pod, sp)?,
                    protocol: sp.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        ports.sort();
        if ports.is_empty() && !svc_ports.is_empty() {
            continue;
        }
        let serving = is_ready(pod);
        let terminating = is_terminating(pod);
        let ready = publish || (serving && !terminating);
        for family in address_types(svc) {
            let Some(ip) = pod_address(pod, &family) else { continue };
            let ep = Endpoint {
                addresses: vec![ip.clone()],
                conditions: Some(EndpointConditions {
                    ready: Some(ready),
                    serving: Some(serving),
                    terminating: Some(terminating),
                }),
                hostname: hostname(pod, svc),
                node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    namespace: pod.metadata.namespace.clone(),
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            out.entry((family, ports.clone())).or_default().insert(ip, ep);
        }
    }
    out
}

#[cfg(test)]
mod tests;
