//! Resource amounts (`Resource`) and the requests of a pod computed the way
//! upstream's `resource.PodRequests` does: regular containers summed, init
//! containers as a maximum, sidecars (restartable init containers) running
//! alongside everything after them, plus the pod overhead.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const PODS: &str = "pods";

/// What the scheduler assumes a container without a cpu request uses when scoring
/// (upstream's `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Likewise for memory (`DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// A resource name parsed once, so hot paths do not compare strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceName {
    Cpu,
    Memory,
    EphemeralStorage,
    Pods,
    /// Extended resources, hugepages and anything else.
    Scalar(String),
}

impl ResourceName {
    pub fn parse(name: &str) -> ResourceName {
        match name {
            CPU => ResourceName::Cpu,
            MEMORY => ResourceName::Memory,
            EPHEMERAL_STORAGE => ResourceName::EphemeralStorage,
            PODS => ResourceName::Pods,
            other => ResourceName::Scalar(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ResourceName::Cpu => CPU,
            ResourceName::Memory => MEMORY,
            ResourceName::EphemeralStorage => EPHEMERAL_STORAGE,
            ResourceName::Pods => PODS,
            ResourceName::Scalar(s) => s,
        }
    }
}

/// Amounts of every resource the scheduler accounts for. `scalar` holds extended
/// resources (`nvidia.com/gpu`), hugepages and anything else, in whole units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub allowed_pods: i64,
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// From an API resource list (`requests`, `allocatable`, `overhead`).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Resource {
        let mut r = Resource::default();
        for (name, q) in list {
            r.set(name, if name == CPU { quantity::milli(&q.0) } else { quantity::value(&q.0) });
        }
        r
    }

    /// The amount of one resource by its API name (cpu in millicores).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.milli_cpu,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.allowed_pods,
            other => self.scalar.get(other).copied().unwrap_or(0),
        }
    }

    /// The amount of one resource (cpu in millicores).
    pub fn amount(&self, name: &ResourceName) -> i64 {
        match name {
            ResourceName::Cpu => self.milli_cpu,
            ResourceName::Memory => self.memory,
            ResourceName::EphemeralStorage => self.ephemeral_storage,
            ResourceName::Pods => self.allowed_pods,
            ResourceName::Scalar(s) => self.scalar.get(s).copied().unwrap_or(0),
        }
    }

    pub fn set(&mut self, name: &str, v: i64) {
        match name {
            CPU => self.milli_cpu = v,
            MEMORY => self.memory = v,
            EPHEMERAL_STORAGE => self.ephemeral_storage = v,
            PODS => self.allowed_pods = v,
            other => {
                self.scalar.insert(other.to_string(), v);
            }
        }
    }

    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.allowed_pods += other.allowed_pods;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.allowed_pods -= other.allowed_pods;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Raises every amount to at least `other`'s.
    fn max_with(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// True when nothing at all is requested.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0 && self.memory == 0 && self.ephemeral_storage == 0 && self.scalar.values().all(|v| *v == 0)
    }
}

/// A container's requests; a resource with only a limit requests its limit (the
/// API server's defaulting, applied here too so an undefaulted pod is not undercounted).
fn container_requests(c: &Container, non_zero: bool) -> Resource {
    let mut list = BTreeMap::new();
    if let Some(res) = &c.resources {
        for (k, v) in res.limits.iter().flatten() {
            list.insert(k.clone(), v.clone());
        }
        for (k, v) in res.requests.iter().flatten() {
            list.insert(k.clone(), v.clone());
        }
    }
    let mut r = Resource::from_list(&list);
    if non_zero {
        if !list.contains_key(CPU) {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !list.contains_key(MEMORY) {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The pod's effective requests (what must fit on a node). With `non_zero`,
/// containers without a cpu or memory request count upstream's defaults — the
/// figure used for scoring, so best-effort pods still spread.
pub fn pod_requests(spec: &PodSpec, non_zero: bool) -> Resource {
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c, non_zero));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c, non_zero);
        let effective = if is_sidecar(c) {
            // A sidecar keeps running next to the app containers and every later init container.
            reqs.add(&r);
            sidecars.add(&r);
            sidecars.clone()
        } else {
            let mut e = r;
            e.add(&sidecars);
            e
        };
        init_max.max_with(&effective);
    }
    reqs.max_with(&init_max);
    if let Some(overhead) = &spec.overhead {
        reqs.add(&Resource::from_list(overhead));
    }
    reqs
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    fn c(requests: &[(&str, &str)], restart_always: bool) -> Container {
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some(requests.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()),
                ..Default::default()
            }),
            restart_policy: restart_always.then(|| "Always".to_string()),
            ..Default::default()
        }
    }

    fn spec(containers: Vec<Container>, init: Vec<Container>, overhead: &[(&str, &str)]) -> PodSpec {
        PodSpec {
            containers,
            init_containers: Some(init),
            overhead: (!overhead.is_empty())
                .then(|| overhead.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn pod_requests_table() {
        // (spec, want milli cpu, want memory)
        let cases = [
            (spec(vec![c(&[("cpu", "100m")], false), c(&[("cpu", "200m")], false)], vec![], &[]), 300, 0),
            // An init container larger than the app containers sets the request.
            (spec(vec![c(&[("cpu", "100m")], false)], vec![c(&[("cpu", "1")], false)], &[]), 1000, 0),
            // Sidecar 200m runs with the app (100m); the later init (500m) runs with the sidecar: max(300, 700).
            (
                spec(
                    vec![c(&[("cpu", "100m")], false)],
                    vec![c(&[("cpu", "200m")], true), c(&[("cpu", "500m")], false)],
                    &[],
                ),
                700,
                0,
            ),
            // An init container before the sidecar does not add the sidecar.
            (
                spec(
                    vec![c(&[("cpu", "100m")], false)],
                    vec![c(&[("cpu", "250m")], false), c(&[("cpu", "200m")], true)],
                    &[],
                ),
                300,
                0,
            ),
            (spec(vec![c(&[("cpu", "1"), ("memory", "1Gi")], false)], vec![], &[("cpu", "250m")]), 1250, 1 << 30),
        ];
        for (i, (s, cpu, mem)) in cases.iter().enumerate() {
            let r = pod_requests(s, false);
            assert_eq!((r.milli_cpu, r.memory), (*cpu, *mem), "case {i}");
        }
    }

    #[test]
    fn non_zero_requests_default_cpu_and_memory() {
        let s = spec(vec![c(&[], false), c(&[("cpu", "1")], false)], vec![], &[]);
        let r = pod_requests(&s, true);
        assert_eq!(r.milli_cpu, 1100);
        assert_eq!(r.memory, 2 * DEFAULT_MEMORY_REQUEST);
        assert_eq!(pod_requests(&s, false).memory, 0);
    }

    #[test]
    fn limits_stand_in_for_missing_requests_and_extended_resources_are_scalar() {
        let mut container = c(&[("nvidia.com/gpu", "2")], false);
        container.resources.as_mut().unwrap().limits = Some([("cpu".to_string(), Quantity("2".into()))].into());
        let r = pod_requests(&spec(vec![container], vec![], &[]), false);
        assert_eq!(r.milli_cpu, 2000);
        assert_eq!(r.get("nvidia.com/gpu"), 2);
    }
}
