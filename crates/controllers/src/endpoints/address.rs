//! What the Endpoints and EndpointSlice controllers both decide about a pod:
//! whether it belongs in a Service's endpoints at all, whether it is ready, and
//! which port a Service port reaches on it (named target ports resolve per pod).

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The Service's pod selector; `None` for Services without one (their
/// endpoints are written by someone else, e.g. the API server for
/// `kubernetes`, or by the user).
pub fn selector(svc: &Service) -> Option<&std::collections::BTreeMap<String, String>> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    spec.selector.as_ref()
}

/// Pods the Service selects, in its namespace (`pods` are that namespace's).
pub fn selected<'a>(svc: &Service, pods: &'a [&'a Pod]) -> Vec<&'a Pod> {
    let Some(sel) = selector(svc) else { return Vec::new() };
    pods.iter()
        .copied()
        .filter(|p| {
            let labels = p.metadata.labels.as_ref();
            sel.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
        .collect()
}

/// The pod's primary IP, if it has one.
pub fn pod_ip(pod: &Pod) -> Option<&str> {
    let status = pod.status.as_ref()?;
    status
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .or_else(|| status.pod_ips.as_ref()?.first().map(|i| i.ip.as_str()))
}

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Upstream's `ShouldPodBeInEndpoints`: pods with an IP that are not finished
/// (a Succeeded or Failed pod never serves again); terminating pods only when
/// `include_terminating`.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if pod_ip(pod).is_none() {
        return false;
    }
    if !include_terminating && is_terminating(pod) {
        return false;
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed"))
}

/// The pod's `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The port `sp` reaches on `pod` (upstream's `FindPort`): a named target port
/// is looked up among the pod's container ports with the same protocol; a
/// number is used as is; no target port means the Service port.
pub fn find_port(pod: &Pod, sp: &ServicePort) -> Option<i32> {
    match &sp.target_port {
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let proto = sp.protocol.as_deref().unwrap_or("TCP");
            let spec = pod.spec.as_ref()?;
            spec.containers.iter().flat_map(|c| c.ports.iter().flatten()).find_map(|p| {
                (p.name.as_deref() == Some(name.as_str()) && p.protocol.as_deref().unwrap_or("TCP") == proto)
                    .then_some(p.container_port)
            })
        }
        Some(IntOrString::Int(n)) if *n != 0 => Some(*n),
        _ => Some(sp.port),
    }
}

/// The pod's hostname for DNS when it asks to be `<hostname>.<subdomain>` and
/// the subdomain is this Service (headless Services of StatefulSets).
pub fn hostname(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let host = spec.hostname.as_ref().filter(|h| !h.is_empty())?;
    (spec.subdomain.is_some() && spec.subdomain == svc.metadata.name).then(|| host.clone())
}

pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

pub fn publish_not_ready(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false)
}
