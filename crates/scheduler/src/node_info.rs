//! `NodeInfo`: a node and the pods on it, with running totals the filters read
//! (requested resources, host ports in use, images present).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Taint};

use crate::pod_info::{HostPort, PodInfo};
use crate::resources::Resource;
use crate::selector::Labels;

/// The node name label every kubelet sets; topology spread treats it specially.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// A node as the scheduler sees it. `node` is `None` for a node that was deleted
/// while pods still point at it (they are kept until they go too).
///
/// Laid out in declaration order (`repr(C)`), the fields every filter and score
/// reads for every node first: a snapshot holds its nodes side by side in one
/// array, so a pass over them reads these few cache lines per node in sequence
/// (see [`HOT_BYTES`]). Labels, taints and images change only with the Node
/// object: shared, so that a copy (the cache's into the snapshot, for each node a
/// pod was assumed onto) copies counts and pointers, not maps.
#[derive(Debug, Clone, Default)]
#[repr(C)]
pub struct NodeInfo {
    pub allocatable: Resource,
    /// Sum of the pods' requests (`allowed_pods` stays 0: the pod count is `pods.len()`).
    pub requested: Resource,
    /// Sum of the pods' requests with defaults for unset cpu/memory (for scoring).
    pub non_zero_requested: Resource,
    pub pods: Vec<Arc<PodInfo>>,
    pub taints: Arc<[Taint]>,
    pub used_ports: Vec<HostPort>,
    /// Image name (as the node reports it) to size in bytes.
    pub images: Arc<HashMap<String, i64>>,
    pub unschedulable: bool,
    // Read by some plugins, or only for the chosen node, from here on.
    pub name: String,
    /// A number no other node of the same cache (or snapshot) has while this one
    /// exists, kept by copies: topology columns are indexed by it
    /// ([`crate::topology`]). The cache assigns it; [`crate::snapshot::Snapshot::from_nodes`]
    /// numbers its nodes itself.
    pub slot: u32,
    pub node: Option<Arc<Node>>,
    pub labels: Arc<Labels>,
    /// How many pods here have any pod (anti-)affinity / required anti-affinity.
    pub pods_with_affinity: usize,
    pub pods_with_required_anti_affinity: usize,
    /// How many pods here have terms that score other pods (required affinity,
    /// preferred affinity or anti-affinity); required anti-affinity alone does not.
    pub pods_with_scoring_terms: usize,
}

/// The leading part of a [`NodeInfo`] that filters and scores read for every node.
pub(crate) const HOT_BYTES: usize = std::mem::offset_of!(NodeInfo, name);

/// How many nodes ahead of a pass over nodes (filtering, the first score) their
/// data is requested.
pub(crate) const PREFETCH_AHEAD: usize = 4;

/// Asks the CPU to start loading a node a pass over nodes reaches soon. On a large
/// cluster filtering and scoring are bound by memory latency (the first plugin to
/// touch a node waited for its load: a third of all cycles in profiles of 5,000
/// nodes); a pass's nodes are mostly in sequence in the snapshot's array, but a
/// pass over some of them (`among`, the feasible ones) skips. A hint only: it
/// changes no result.
#[inline]
pub(crate) fn prefetch(node: &NodeInfo) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = (node as *const NodeInfo).cast::<i8>();
        for line in (0..HOT_BYTES).step_by(64) {
            // SAFETY: SSE is part of every x86_64 target; a prefetch never faults
            // and reads nothing the program sees, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(line)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = node;
}

/// Whether `pod`'s terms take part in scoring other pods.
pub(crate) fn has_scoring_terms(pod: &PodInfo) -> bool {
    !(pod.required_affinity.is_empty() && pod.preferred_affinity.is_empty() && pod.preferred_anti_affinity.is_empty())
}

impl NodeInfo {
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let mut info = NodeInfo::default();
        info.set_node(node);
        info
    }

    /// Replaces the node object, keeping the pods.
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.name = node.metadata.name.clone().unwrap_or_default();
        self.labels = Arc::new(node.metadata.labels.clone().unwrap_or_default());
        let spec = node.spec.as_ref();
        self.taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default().into();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        let status = node.status.as_ref();
        self.allocatable = status.and_then(|s| s.allocatable.as_ref()).map(Resource::from_list).unwrap_or_default();
        self.images = Arc::new(
            status
                .and_then(|s| s.images.as_ref())
                .into_iter()
                .flatten()
                .flat_map(|img| {
                    let size = img.size_bytes.unwrap_or(0);
                    img.names.iter().flatten().map(move |n| (n.clone(), size))
                })
                .collect(),
        );
        self.node = Some(node);
    }

    /// Counts `pod` on this node.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.milli_cpu += pod.non_zero_requests.milli_cpu;
        self.non_zero_requested.memory += pod.non_zero_requests.memory;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity() {
            self.pods_with_affinity += 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity += 1;
        }
        if has_scoring_terms(&pod) {
            self.pods_with_scoring_terms += 1;
        }
        self.pods.push(pod);
    }

    /// Removes the pod with this uid; returns it if it was here.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let i = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.milli_cpu -= pod.non_zero_requests.milli_cpu;
        self.non_zero_requested.memory -= pod.non_zero_requests.memory;
        for hp in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|u| u == hp) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity() {
            self.pods_with_affinity -= 1;
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity -= 1;
        }
        if has_scoring_terms(&pod) {
            self.pods_with_scoring_terms -= 1;
        }
        Some(pod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    #[test]
    fn add_and_remove_keep_totals() {
        let mut n = NodeInfo::new(node("n1").image("nginx:1", 100).build());
        assert_eq!(n.allocatable.milli_cpu, 4000);
        assert_eq!(n.images.get("nginx:1"), Some(&100));
        let a = pod("a").req(&[("cpu", "1")]).host_port(80).node("n1").build();
        let b = pod("b").node("n1").build();
        n.add_pod(a);
        n.add_pod(b);
        assert_eq!(n.requested.milli_cpu, 1000);
        assert_eq!(n.non_zero_requested.milli_cpu, 1100);
        assert_eq!(n.used_ports.len(), 1);
        assert!(n.remove_pod("uid-a").is_some());
        assert!(n.remove_pod("uid-a").is_none());
        assert_eq!(n.requested.milli_cpu, 0);
        assert_eq!(n.non_zero_requested.milli_cpu, 100);
        assert!(n.used_ports.is_empty());
        assert_eq!(n.pods.len(), 1);
    }
}
