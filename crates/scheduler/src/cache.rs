//! The scheduler's cache: nodes and the pods assigned to them, including pods the
//! scheduler has *assumed* onto a node before the binding was written, so the next
//! cycle already counts them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::selector::Labels;
use crate::snapshot::Snapshot;

/// Misuse of the assume protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The pod is already in the cache (assumed or observed on a node).
    #[error("pod {0} is already in the cache")]
    AlreadyPresent(String),
    /// Assume needs a pod with `spec.nodeName` set.
    #[error("pod {0} has no node to be assumed on")]
    NoNode(String),
}

#[derive(Debug, Clone)]
struct PodState {
    pod: Arc<PodInfo>,
    assumed: bool,
}

/// Nodes, assigned pods and assumed pods.
///
/// # Guarantees
/// - A pod is counted on at most one node at a time.
/// - An assumed pod counts on its node until it is forgotten or the informer's
///   copy replaces it (the binding went through).
/// - [`Cache::snapshot`] reflects every change made before it, and copies only the
///   nodes that changed since the previous snapshot.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: HashMap<String, NodeInfo>,
    pods: HashMap<String, PodState>,
    namespaces: Arc<HashMap<String, Labels>>,
    volumes: Arc<crate::volumes::Volumes>,
    snapshot: Arc<Snapshot>,
    dirty: HashSet<String>,
    structure_changed: bool,
    generation: u64,
    changes: crate::changes::ChangeLog,
    images_changed: bool,
    slots: Slots,
}

/// Hands out [`NodeInfo::slot`]s, freed ones first, so slots stay below the
/// number of nodes ever held at once (topology columns are that long).
#[derive(Debug, Default)]
struct Slots {
    next: u32,
    free: Vec<u32>,
}

impl Slots {
    fn take(&mut self) -> u32 {
        self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        })
    }

    fn give_back(&mut self, slot: u32) {
        self.free.push(slot);
    }
}

impl Cache {
    pub fn new() -> Cache {
        Cache::default()
    }

    fn record(&mut self, change: crate::changes::Change) {
        self.generation += 1;
        self.changes.push(self.generation, change);
    }

    /// Adds or updates a node.
    pub fn add_node(&mut self, node: Arc<Node>) {
        self.record(crate::changes::Change::Other);
        let name = node.metadata.name.clone().unwrap_or_default();
        match self.nodes.get_mut(&name) {
            Some(info) => {
                let was_ghost = info.node.is_none();
                let old_images = std::mem::take(&mut info.images);
                info.set_node(node);
                self.images_changed |= old_images != info.images;
                self.structure_changed |= was_ghost;
                self.dirty.insert(name);
            }
            None => {
                let info = NodeInfo { slot: self.slots.take(), ..NodeInfo::new(node) };
                self.nodes.insert(name, info);
                self.structure_changed = true;
            }
        }
    }

    /// Removes a node; its pods stay counted on a node-less entry until they go.
    pub fn remove_node(&mut self, name: &str) {
        self.record(crate::changes::Change::Other);
        if let Some(info) = self.nodes.get_mut(name) {
            if info.pods.is_empty() {
                let slot = info.slot;
                self.nodes.remove(name);
                self.slots.give_back(slot);
            } else {
                info.node = None;
            }
            self.structure_changed = true;
        }
    }

    fn node_entry(&mut self, name: &str) -> &mut NodeInfo {
        if !self.nodes.contains_key(name) {
            // A pod may arrive before its node; keep it on a node-less entry.
            let ghost = NodeInfo { name: name.to_string(), slot: self.slots.take(), ..Default::default() };
            self.nodes.insert(name.to_string(), ghost);
        }
        self.dirty.insert(name.to_string());
        self.nodes.get_mut(name).expect("inserted above")
    }

    fn detach(&mut self, uid: &str) -> Option<PodState> {
        let state = self.pods.remove(uid)?;
        self.record(crate::changes::Change::PodRemoved(state.pod.clone()));
        let node = state.pod.node_name.clone();
        if let Some(info) = self.nodes.get_mut(&node) {
            info.remove_pod(uid);
            if info.node.is_none() && info.pods.is_empty() {
                let slot = info.slot;
                self.nodes.remove(&node);
                self.slots.give_back(slot);
                self.structure_changed = true;
            }
            self.dirty.insert(node);
        }
        Some(state)
    }

    /// Records a pod the API says is on a node (added or updated). Confirms an
    /// assumed pod of the same uid, moving it if the API put it elsewhere.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.detach(&pod.uid);
        self.record(crate::changes::Change::PodAdded(pod.clone()));
        self.node_entry(&pod.node_name).add_pod(pod.clone());
        self.pods.insert(pod.uid.clone(), PodState { pod, assumed: false });
    }

    /// Confirms the assumed pod `uid` in place when the API's copy is on the
    /// same node and `unchanged(assumed)` says nothing the scheduler reads
    /// differs: the pod stays counted as it is, so its node is not copied into
    /// the next snapshot and the change log gets no remove/add pair (which
    /// PodTopologySpread and InterPodAffinity would replay). Returns whether it
    /// did; otherwise the caller replaces the pod with [`Cache::add_pod`].
    pub fn confirm_in_place(&mut self, uid: &str, node: &str, unchanged: impl FnOnce(&PodInfo) -> bool) -> bool {
        match self.pods.get_mut(uid) {
            Some(state) if state.assumed && state.pod.node_name == node && unchanged(&state.pod) => {
                state.assumed = false;
                true
            }
            _ => false,
        }
    }

    /// Forgets a pod that was deleted (or finished).
    pub fn remove_pod(&mut self, uid: &str) {
        self.detach(uid);
    }

    /// Counts `pod` (with `node_name` set) on its node before the binding is written.
    ///
    /// # Errors
    /// [`CacheError::AlreadyPresent`] if the pod is cached already,
    /// [`CacheError::NoNode`] if it names no node.
    pub fn assume(&mut self, pod: Arc<PodInfo>) -> Result<(), CacheError> {
        if self.pods.contains_key(&pod.uid) {
            return Err(CacheError::AlreadyPresent(pod.key()));
        }
        if pod.node_name.is_empty() {
            return Err(CacheError::NoNode(pod.key()));
        }
        self.record(crate::changes::Change::PodAdded(pod.clone()));
        self.node_entry(&pod.node_name).add_pod(pod.clone());
        self.pods.insert(pod.uid.clone(), PodState { pod, assumed: true });
        Ok(())
    }

    /// Undoes [`Cache::assume`] (the binding failed). A pod the API has confirmed
    /// in the meantime is left alone.
    pub fn forget(&mut self, uid: &str) {
        if self.is_assumed(uid) {
            self.detach(uid);
        }
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|s| s.assumed)
    }

    /// Whether the pod is counted on some node (assumed or confirmed).
    pub fn contains_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Sets (or with `None` removes) a namespace's labels.
    pub fn set_namespace(&mut self, name: &str, labels: Option<Labels>) {
        self.record(crate::changes::Change::Other);
        let ns = Arc::make_mut(&mut self.namespaces);
        match labels {
            Some(l) => ns.insert(name.to_string(), l),
            None => ns.remove(name),
        };
    }

    /// Claims and volumes, to change in place.
    pub fn volumes_mut(&mut self) -> &mut crate::volumes::Volumes {
        Arc::make_mut(&mut self.volumes)
    }

    /// The cached node (with its pods), snapshot or not.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.values().filter(|n| n.node.is_some()).count()
    }

    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// The current state as a snapshot.
    pub fn snapshot(&mut self) -> Arc<Snapshot> {
        let snap = Arc::make_mut(&mut self.snapshot);
        if self.structure_changed {
            snap.rebuild(self.nodes.values().cloned().collect());
        } else {
            for name in &self.dirty {
                if let (Some(i), Some(info)) = (snap.index.get(name).copied(), self.nodes.get(name)) {
                    snap.replace(i, info);
                }
            }
            if self.images_changed {
                snap.recount_images();
            }
        }
        snap.namespaces = self.namespaces.clone();
        snap.generation = self.generation;
        snap.changes = self.changes.clone();
        snap.volumes = self.volumes.clone();
        self.structure_changed = false;
        self.images_changed = false;
        self.dirty.clear();
        self.snapshot.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    fn requested_cpu(snap: &Snapshot, node: &str) -> i64 {
        snap.get(node).unwrap().requested.milli_cpu
    }

    #[test]
    fn slots_are_unique_and_reused_after_a_node_goes() {
        let mut cache = Cache::new();
        cache.add_node(node("n1").label("zone", "z1").build());
        cache.add_node(node("n2").label("zone", "z2").build());
        // A pod on a node not seen yet holds a slot too (its ghost entry).
        cache.add_pod(pod("a").node("n3").build());
        let slots = |c: &Cache| ["n1", "n2", "n3"].map(|n| c.node(n).map(|i| i.slot));
        assert_eq!(slots(&cache), [Some(0), Some(1), Some(2)]);
        cache.remove_node("n1");
        cache.add_node(node("n4").label("zone", "z1").build());
        assert_eq!(cache.node("n4").unwrap().slot, 0, "n1's slot is free again");
        cache.add_node(node("n3").label("zone", "z3").build());
        assert_eq!(cache.node("n3").unwrap().slot, 2, "the ghost keeps its slot when its node arrives");
        let snap = cache.snapshot();
        let zone = snap.topology.domains("zone");
        let zone_of = |n: &str| zone.values[zone.of(snap.get(n).unwrap()) as usize].clone();
        assert_eq!([zone_of("n2"), zone_of("n3"), zone_of("n4")], ["z2", "z3", "z1"]);
    }

    #[test]
    fn assumed_pod_counts_until_forgotten() {
        let mut cache = Cache::new();
        cache.add_node(node("n1").build());
        let p = Arc::new(pod("a").req(&[("cpu", "1")]).info().assumed_on("n1"));
        cache.assume(p.clone()).unwrap();
        assert_eq!(requested_cpu(&cache.snapshot(), "n1"), 1000);
        assert_eq!(cache.assume(p), Err(CacheError::AlreadyPresent("default/a".into())));
        cache.forget("uid-a");
        assert_eq!(requested_cpu(&cache.snapshot(), "n1"), 0);
    }

    #[test]
    fn confirming_in_place_keeps_the_node_and_logs_nothing() {
        let mut cache = Cache::new();
        cache.add_node(node("n1").build());
        cache.assume(Arc::new(pod("a").req(&[("cpu", "1")]).info().assumed_on("n1"))).unwrap();
        let before = cache.snapshot();
        let generation = before.generation;
        assert!(!cache.confirm_in_place("uid-a", "n2", |_| true), "another node is a move");
        assert!(!cache.confirm_in_place("uid-a", "n1", |_| false), "a changed pod is replaced");
        assert!(cache.is_assumed("uid-a"));
        assert!(cache.confirm_in_place("uid-a", "n1", |_| true));
        assert!(!cache.is_assumed("uid-a"));
        cache.forget("uid-a");
        assert!(cache.dirty.is_empty(), "the node will not be copied into the next snapshot");
        let after = cache.snapshot();
        assert_eq!(requested_cpu(&after, "n1"), 1000, "a confirmed pod survives forget");
        assert_eq!(after.generation, generation, "nothing changed for the plugins");
        assert!(!cache.confirm_in_place("uid-a", "n1", |_| true), "only assumed pods");
        assert!(!cache.confirm_in_place("uid-b", "n1", |_| true), "unknown pods");
    }

    #[test]
    fn confirmed_pod_replaces_assumption_and_survives_forget() {
        let mut cache = Cache::new();
        cache.add_node(node("n1").build());
        cache.add_node(node("n2").build());
        cache.assume(Arc::new(pod("a").req(&[("cpu", "1")]).info().assumed_on("n1"))).unwrap();
        // The API says the pod landed on n2 (someone else bound it).
        cache.add_pod(pod("a").req(&[("cpu", "1")]).node("n2").build());
        assert!(!cache.is_assumed("uid-a"));
        cache.forget("uid-a");
        let snap = cache.snapshot();
        assert_eq!((requested_cpu(&snap, "n1"), requested_cpu(&snap, "n2")), (0, 1000));
        cache.remove_pod("uid-a");
        assert_eq!(requested_cpu(&cache.snapshot(), "n2"), 0);
    }

    #[test]
    fn assume_without_node_is_an_error() {
        let mut cache = Cache::new();
        assert_eq!(cache.assume(pod("a").build()), Err(CacheError::NoNode("default/a".into())));
    }

    #[test]
    fn pods_before_their_node_and_after_its_removal_are_kept_off_the_snapshot() {
        let mut cache = Cache::new();
        cache.add_pod(pod("a").req(&[("cpu", "1")]).node("n1").build());
        assert!(cache.snapshot().is_empty());
        cache.add_node(node("n1").build());
        assert_eq!(requested_cpu(&cache.snapshot(), "n1"), 1000);
        cache.remove_node("n1");
        assert!(cache.snapshot().is_empty());
        cache.add_node(node("n1").build());
        assert_eq!(requested_cpu(&cache.snapshot(), "n1"), 1000, "the pod is still counted");
    }

    #[test]
    fn old_snapshots_do_not_change() {
        let mut cache = Cache::new();
        cache.add_node(node("n1").image("img:1", 10).build());
        let before = cache.snapshot();
        cache.add_pod(pod("a").req(&[("cpu", "1")]).node("n1").build());
        cache.add_node(node("n2").image("img:1", 10).build());
        let after = cache.snapshot();
        assert_eq!(requested_cpu(&before, "n1"), 0);
        assert_eq!(before.len(), 1);
        assert_eq!(requested_cpu(&after, "n1"), 1000);
        assert_eq!(after.image_nodes.get("img:1"), Some(&2));
    }

    #[test]
    fn snapshot_tracks_nodes_with_affinity_pods() {
        use k8s_openapi::api::core::v1::{Affinity, PodAffinityTerm, PodAntiAffinity};
        let mut cache = Cache::new();
        cache.add_node(node("n1").build());
        cache.add_node(node("n2").build());
        assert_eq!(cache.snapshot().nodes_with_required_anti_affinity().count(), 0);
        let anti = pod("a")
            .with_spec(|s| {
                s.affinity = Some(Affinity {
                    pod_anti_affinity: Some(PodAntiAffinity {
                        required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                            topology_key: "kubernetes.io/hostname".into(),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            })
            .node("n2")
            .build();
        cache.add_pod(anti);
        let snap = cache.snapshot();
        let names: Vec<&str> = snap.nodes_with_required_anti_affinity().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["n2"]);
        assert_eq!(snap.nodes_with_affinity().count(), 1);
        cache.remove_pod("uid-a");
        assert_eq!(cache.snapshot().nodes_with_affinity().count(), 0);
    }
}
