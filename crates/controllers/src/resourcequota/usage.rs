//! What a namespace uses of each resource a ResourceQuota limits (upstream's
//! quota evaluators), as a pure function of the namespace's objects.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::quantity::{format_milli, parse_milli};

/// The namespace's objects the evaluators look at.
pub struct Namespace<'a> {
    pub pods: &'a [&'a Pod],
    pub services: &'a [&'a Service],
    pub claims: &'a [&'a PersistentVolumeClaim],
    /// Object counts by quota name (`configmaps`, `count/deployments.apps`, ...).
    pub counts: &'a HashMap<String, usize>,
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// A pod's effective requests or limits of `resource` in milli-units: the
/// larger of the containers' sum and the largest init container, plus overhead.
fn pod_amount(pod: &Pod, kind: &str, resource: &str) -> i128 {
    let Some(spec) = pod.spec.as_ref() else { return 0 };
    let get = |c: &k8s_openapi::api::core::v1::Container| {
        let r = c.resources.as_ref();
        let list =
            if kind == "limits" { r.and_then(|r| r.limits.as_ref()) } else { r.and_then(|r| r.requests.as_ref()) };
        list.and_then(|l| l.get(resource)).and_then(|q| parse_milli(&q.0)).unwrap_or(0)
    };
    let sum: i128 = spec.containers.iter().map(get).sum();
    let init = spec.init_containers.iter().flatten().map(get).max().unwrap_or(0);
    let overhead = spec.overhead.as_ref().and_then(|o| o.get(resource)).and_then(|q| parse_milli(&q.0)).unwrap_or(0);
    sum.max(init) + overhead
}

/// Usage, in milli-units, of one quota resource name; `None` if unknown.
fn used(name: &str, ns: &Namespace<'_>) -> Option<i128> {
    let live = || ns.pods.iter().filter(|p| !is_terminal(p));
    let count = |n: usize| Some(n as i128 * 1000);
    match name {
        "pods" | "count/pods" => count(live().count()),
        "services" | "count/services" => count(ns.services.len()),
        "services.loadbalancers" => count(
            ns.services
                .iter()
                .filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"))
                .count(),
        ),
        "services.nodeports" => count(
            ns.services
                .iter()
                .filter(|s| {
                    matches!(s.spec.as_ref().and_then(|s| s.type_.as_deref()), Some("NodePort" | "LoadBalancer"))
                })
                .map(|s| {
                    s.spec
                        .as_ref()
                        .and_then(|s| s.ports.as_ref())
                        .map_or(0, |p| p.iter().filter(|p| p.node_port.is_some()).count())
                })
                .sum(),
        ),
        "persistentvolumeclaims" | "count/persistentvolumeclaims" => count(ns.claims.len()),
        "requests.storage" => Some(
            ns.claims
                .iter()
                .filter_map(|c| c.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?.get("storage"))
                .filter_map(|q| parse_milli(&q.0))
                .sum(),
        ),
        "cpu" | "memory" | "ephemeral-storage" => Some(live().map(|p| pod_amount(p, "requests", name)).sum()),
        _ => {
            if let Some(resource) = name.strip_prefix("requests.") {
                return Some(live().map(|p| pod_amount(p, "requests", resource)).sum());
            }
            if let Some(resource) = name.strip_prefix("limits.") {
                return Some(live().map(|p| pod_amount(p, "limits", resource)).sum());
            }
            ns.counts.get(name).and_then(|n| count(*n))
        }
    }
}

/// `status.used` for a quota with `hard`: every hard resource the evaluators
/// know, zero when nothing uses it.
pub fn usage(hard: &BTreeMap<String, Quantity>, ns: &Namespace<'_>) -> BTreeMap<String, Quantity> {
    hard.keys().filter_map(|name| Some((name.clone(), Quantity(format_milli(used(name, ns)?))))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus, ResourceRequirements, ServicePort, ServiceSpec};

    fn pod(cpu: &str, mem: &str, phase: &str) -> Pod {
        let requests: BTreeMap<String, Quantity> =
            [("cpu".to_string(), Quantity(cpu.into())), ("memory".to_string(), Quantity(mem.into()))].into();
        Pod {
            metadata: Default::default(),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    resources: Some(ResourceRequirements {
                        requests: Some(requests.clone()),
                        limits: Some(requests),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus { phase: Some(phase.into()), ..Default::default() }),
        }
    }

    #[test]
    fn usage_of_a_namespace() {
        let pods = [pod("250m", "64Mi", "Running"), pod("500m", "64Mi", "Pending"), pod("8", "1Gi", "Succeeded")];
        let pods: Vec<&Pod> = pods.iter().collect();
        let svc = Service {
            spec: Some(ServiceSpec {
                type_: Some("NodePort".into()),
                ports: Some(vec![ServicePort { port: 80, node_port: Some(30080), ..Default::default() }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let services = [&svc];
        let counts: HashMap<String, usize> = [("configmaps".to_string(), 2)].into();
        let ns = Namespace { pods: &pods, services: &services, claims: &[], counts: &counts };
        let hard: BTreeMap<String, Quantity> = [
            "pods",
            "requests.cpu",
            "requests.memory",
            "limits.memory",
            "cpu",
            "services",
            "services.nodeports",
            "configmaps",
            "secrets",
            "count/unknown.example.com",
        ]
        .iter()
        .map(|k| (k.to_string(), Quantity("100".into())))
        .collect();
        let used = usage(&hard, &ns);
        let get = |k: &str| used.get(k).map(|q| q.0.as_str());
        assert_eq!(get("pods"), Some("2"), "finished pods do not count");
        assert_eq!(get("requests.cpu"), Some("750m"));
        assert_eq!(get("cpu"), Some("750m"));
        assert_eq!(get("requests.memory"), Some("128Mi"));
        assert_eq!(get("limits.memory"), Some("128Mi"));
        assert_eq!((get("services"), get("services.nodeports")), (Some("1"), Some("1")));
        assert_eq!(get("configmaps"), Some("2"));
        assert_eq!(get("secrets"), None, "not counted by this controller: left out");
        assert_eq!(get("count/unknown.example.com"), None);
    }
}
