//! NodeResourcesFit: the pod's requests must fit in what the node has left
//! (cpu, memory, ephemeral-storage, pod count, extended resources); scoring
//! prefers the least allocated nodes (spreading) or, configured, the most
//! allocated (packing).

use std::borrow::Cow;

use crate::framework::{CycleState, Filter, Fit, Plugin, Score, MAX_NODE_SCORE};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::resources::{ResourceName, CPU, EPHEMERAL_STORAGE, MEMORY};
use crate::snapshot::Snapshot;

pub const NAME: &str = "NodeResourcesFit";

/// How NodeResourcesFit scores (`scoringStrategy.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    LeastAllocated,
    MostAllocated,
}

/// A resource and its weight in a score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceWeight {
    pub name: ResourceName,
    pub weight: i64,
}

impl ResourceWeight {
    pub fn new(name: &str, weight: i64) -> ResourceWeight {
        ResourceWeight { name: ResourceName::parse(name), weight }
    }
}

/// cpu and memory, weight 1 each: upstream's default for every resource scorer.
pub fn default_resources() -> Vec<ResourceWeight> {
    vec![ResourceWeight::new(CPU, 1), ResourceWeight::new(MEMORY, 1)]
}

/// `(allocatable, requested including the pod)` of one resource on a node, as
/// upstream's `calculateResourceAllocatableRequest`: `(0, 0)` means "leave this
/// resource out of the score". `use_requested` picks real requests over the
/// defaulted non-zero ones for cpu and memory.
pub fn allocatable_and_requested(
    node: &NodeInfo,
    pod: &PodInfo,
    resource: &ResourceName,
    use_requested: bool,
) -> (i64, i64) {
    // One match per call: scoring calls this for every resource of every
    // feasible node, twice per plugin.
    let (pod_cpu_mem, node_cpu_mem) = if use_requested {
        (&pod.requests, &node.requested)
    } else {
        (&pod.non_zero_requests, &node.non_zero_requested)
    };
    let (alloc, used) = (&node.allocatable, &node.requested);
    match resource {
        ResourceName::Cpu => (alloc.milli_cpu, node_cpu_mem.milli_cpu + pod_cpu_mem.milli_cpu),
        ResourceName::Memory => (alloc.memory, node_cpu_mem.memory + pod_cpu_mem.memory),
        ResourceName::EphemeralStorage => {
            (alloc.ephemeral_storage, used.ephemeral_storage + pod.requests.ephemeral_storage)
        }
        ResourceName::Pods => (alloc.allowed_pods, used.allowed_pods + pod.requests.allowed_pods),
        ResourceName::Scalar(name) => {
            let pod_req = pod.requests.scalar.get(name).copied().unwrap_or(0);
            match alloc.scalar.get(name) {
                Some(&a) if pod_req != 0 => (a, used.scalar.get(name).copied().unwrap_or(0) + pod_req),
                _ => (0, 0),
            }
        }
    }
}

pub struct NodeResourcesFit {
    pub strategy: Strategy,
    pub resources: Vec<ResourceWeight>,
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        NodeResourcesFit { strategy: Strategy::LeastAllocated, resources: default_resources() }
    }
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// Upstream's `fitsRequest`: one reason per short resource, in upstream's order.
pub fn insufficient(pod: &PodInfo, node: &NodeInfo) -> Vec<String> {
    let mut reasons = Vec::new();
    if node.pods.len() as i64 + 1 > node.allocatable.allowed_pods {
        reasons.push("Too many pods".to_string());
    }
    let want = &pod.requests;
    if want.is_zero() {
        return reasons;
    }
    let (alloc, used) = (&node.allocatable, &node.requested);
    let short = [
        (want.milli_cpu, alloc.milli_cpu - used.milli_cpu, CPU),
        (want.memory, alloc.memory - used.memory, MEMORY),
        (want.ephemeral_storage, alloc.ephemeral_storage - used.ephemeral_storage, EPHEMERAL_STORAGE),
    ];
    for (w, free, name) in short {
        if w > 0 && w > free {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    for (name, w) in &want.scalar {
        let free = alloc.scalar.get(name).copied().unwrap_or(0) - used.scalar.get(name).copied().unwrap_or(0);
        if *w > 0 && *w > free {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

impl Filter for NodeResourcesFit {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Fit {
        let reasons = insufficient(pod, node);
        if reasons.is_empty() {
            Fit::Fits
        } else {
            Fit::Unschedulable(reasons.into_iter().map(Cow::Owned).collect())
        }
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        0
    } else {
        (capacity - requested) * MAX_NODE_SCORE / capacity
    }
}

fn most_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        0
    } else {
        requested.min(capacity) * MAX_NODE_SCORE / capacity
    }
}

impl Score for NodeResourcesFit {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo, _snap: &Snapshot) -> i64 {
        let (mut total, mut weights) = (0i64, 0i64);
        for r in &self.resources {
            let (alloc, req) = allocatable_and_requested(node, pod, &r.name, false);
            if alloc == 0 {
                continue;
            }
            let s = match self.strategy {
                Strategy::LeastAllocated => least_requested(req, alloc),
                Strategy::MostAllocated => most_requested(req, alloc),
            };
            total += s * r.weight;
            weights += r.weight;
        }
        if weights == 0 {
            0
        } else {
            total / weights
        }
    }

    fn normalize(&self, _state: &CycleState, _nodes: &[&NodeInfo], _scores: &mut [i64]) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    fn node_with(alloc: &[(&str, &str)], pods: &[PodBuilder]) -> NodeInfo {
        let mut n = NodeInfo::new(node("n").alloc(alloc).build());
        for p in pods {
            n.add_pod(p.clone().node("n").build());
        }
        n
    }

    #[test]
    fn filter_table() {
        let small = [("cpu", "1"), ("memory", "1Gi"), ("pods", "2"), ("nvidia.com/gpu", "1")];
        let used = vec![pod("u").req(&[("cpu", "500m"), ("memory", "512Mi")])];
        let cases: Vec<(PodBuilder, Vec<&str>)> = vec![
            (pod("p").req(&[("cpu", "500m")]), vec![]),
            (pod("p").req(&[("cpu", "501m")]), vec!["Insufficient cpu"]),
            (pod("p").req(&[("cpu", "2"), ("memory", "2Gi")]), vec!["Insufficient cpu", "Insufficient memory"]),
            (pod("p").req(&[("nvidia.com/gpu", "1")]), vec![]),
            (pod("p").req(&[("nvidia.com/gpu", "2")]), vec!["Insufficient nvidia.com/gpu"]),
            (pod("p").req(&[("example.com/foo", "1")]), vec!["Insufficient example.com/foo"]),
            (pod("p").req(&[("ephemeral-storage", "1")]), vec!["Insufficient ephemeral-storage"]),
            (pod("p"), vec![]),
        ];
        let n = node_with(&small, &used);
        for (i, (p, want)) in cases.into_iter().enumerate() {
            let got = NodeResourcesFit::default().filter(&CycleState::new(), &p.info(), &n);
            assert_eq!(got.reasons(), want, "case {i}");
        }
        let full = node_with(&small, &[pod("a"), pod("b")]);
        let got = NodeResourcesFit::default().filter(&CycleState::new(), &pod("p").req(&[("cpu", "2")]).info(), &full);
        assert_eq!(got.reasons(), ["Too many pods", "Insufficient cpu"]);
    }

    #[test]
    fn allocatable_and_requested_per_resource() {
        use crate::resources::{DEFAULT_MEMORY_REQUEST as MEM, DEFAULT_MILLI_CPU_REQUEST};
        let n = node_with(
            &[("cpu", "4"), ("memory", "8Gi"), ("ephemeral-storage", "100Gi"), ("pods", "10"), ("nvidia.com/gpu", "2")],
            &[pod("u").req(&[("cpu", "1"), ("nvidia.com/gpu", "1")])],
        );
        let p = pod("p").req(&[("cpu", "500m"), ("nvidia.com/gpu", "1"), ("ephemeral-storage", "1Gi")]).info();
        let best_effort = pod("b").info();
        let gi = 1i64 << 30;
        let r = ResourceName::parse;
        let cases = [
            (&p, r("cpu"), true, (4000, 1500)),
            (&p, r("cpu"), false, (4000, 1500)),
            (&best_effort, r("cpu"), false, (4000, 1000 + DEFAULT_MILLI_CPU_REQUEST)),
            (&best_effort, r("cpu"), true, (4000, 1000)),
            (&p, r("memory"), true, (8 * gi, 0)),
            (&p, r("memory"), false, (8 * gi, 2 * MEM)),
            (&p, r("ephemeral-storage"), false, (100 * gi, gi)),
            (&p, r("pods"), true, (10, 0)),
            (&p, r("nvidia.com/gpu"), true, (2, 2)),
            (&best_effort, r("nvidia.com/gpu"), true, (0, 0)),
            (&p, r("example.com/foo"), true, (0, 0)),
        ];
        for (i, (pod, resource, use_requested, want)) in cases.into_iter().enumerate() {
            assert_eq!(allocatable_and_requested(&n, pod, &resource, use_requested), want, "case {i}");
        }
    }

    #[test]
    fn least_and_most_allocated_scores() {
        // 4 cpu / 8 Gi node with 1 cpu / 2 Gi used; the pod asks 1 cpu / 2 Gi.
        let n = node_with(
            &[("cpu", "4"), ("memory", "8Gi"), ("pods", "10")],
            &[pod("u").req(&[("cpu", "1"), ("memory", "2Gi")])],
        );
        let p = pod("p").req(&[("cpu", "1"), ("memory", "2Gi")]).info();
        let snap = Snapshot::default();
        let least = NodeResourcesFit::default();
        assert_eq!(least.score(&CycleState::new(), &p, &n, &snap), 50);
        let most = NodeResourcesFit { strategy: Strategy::MostAllocated, resources: default_resources() };
        assert_eq!(most.score(&CycleState::new(), &p, &n, &snap), 50);
        // A best-effort pod counts as 100m / 200Mi.
        let empty = node_with(&[("cpu", "1"), ("memory", "2000Mi"), ("pods", "10")], &[]);
        assert_eq!(least.score(&CycleState::new(), &pod("b").info(), &empty, &snap), 90);
        assert_eq!(most.score(&CycleState::new(), &pod("b").info(), &empty, &snap), 10);
    }
}
