//! `Snapshot`: the immutable view of the cluster one scheduling cycle works on.

use std::collections::HashMap;
use std::sync::Arc;

use crate::node_info::NodeInfo;
use crate::pod_info::NamespaceLabels;
use crate::selector::Labels;
use crate::topology::Topology;

/// Nodes (sorted by name) and what plugins need across nodes. Only nodes whose
/// Node object exists are listed.
///
/// The nodes are held by value, side by side: filtering and scoring visit
/// hundreds of them per pod, and reading one array in order is several times
/// faster than following a pointer to each (see [`NodeInfo`]'s layout). So the
/// snapshot is a copy of the cache's nodes, brought up to date node by node;
/// cloning a whole snapshot copies every node (the cache does it only when a
/// snapshot it handed out is still held when it makes the next).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub nodes: Vec<NodeInfo>,
    pub(crate) index: Arc<HashMap<String, usize>>,
    /// Image name to the number of nodes that have it (ImageLocality spreads by it).
    pub image_nodes: Arc<HashMap<String, usize>>,
    pub namespaces: Arc<HashMap<String, Labels>>,
    /// Claims and volumes (VolumeBinding).
    pub volumes: Arc<crate::volumes::Volumes>,
    /// Indices (sorted) of nodes holding pods with any pod (anti-)affinity, and
    /// with required anti-affinity: InterPodAffinity visits only these for pods
    /// without terms of their own (upstream's `HavePodsWithAffinityNodeInfoList`).
    pub(crate) with_affinity: Vec<usize>,
    /// The cache generation this snapshot reflects, and the cache's change log.
    pub generation: u64,
    pub changes: crate::changes::ChangeLog,
    pub(crate) with_required_anti_affinity: Vec<usize>,
    pub(crate) with_scoring_terms: Vec<usize>,
    /// Every label key's topology domains: each node's domain id, and each
    /// domain's nodes, so a PreFilter can name the nodes of a few domains without
    /// visiting all. Rebuilt only when the nodes or their labels change.
    pub topology: Arc<Topology>,
}

fn set_member(list: &mut Vec<usize>, i: usize, member: bool) {
    match (list.binary_search(&i), member) {
        (Err(at), true) => list.insert(at, i),
        (Ok(at), false) => {
            list.remove(at);
        }
        _ => {}
    }
}

impl Snapshot {
    /// A snapshot of exactly these nodes (tests and simulations).
    pub fn from_nodes(nodes: Vec<NodeInfo>) -> Snapshot {
        let mut s = Snapshot::default();
        s.rebuild(nodes.into_iter().enumerate().map(|(i, n)| NodeInfo { slot: i as u32, ..n }).collect());
        s
    }

    pub(crate) fn rebuild(&mut self, mut nodes: Vec<NodeInfo>) {
        nodes.retain(|n| n.node.is_some());
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        self.index = Arc::new(nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect());
        self.nodes = nodes;
        self.with_affinity = (0..self.nodes.len()).filter(|i| self.nodes[*i].pods_with_affinity > 0).collect();
        self.with_required_anti_affinity =
            (0..self.nodes.len()).filter(|i| self.nodes[*i].pods_with_required_anti_affinity > 0).collect();
        self.with_scoring_terms =
            (0..self.nodes.len()).filter(|i| self.nodes[*i].pods_with_scoring_terms > 0).collect();
        self.recount_images();
        self.topology = Arc::new(Topology::build(&self.nodes));
    }

    /// Copies `node` to index `i` (same name), keeping the affinity lists and the
    /// label index right.
    pub(crate) fn replace(&mut self, i: usize, node: &NodeInfo) {
        set_member(&mut self.with_affinity, i, node.pods_with_affinity > 0);
        set_member(&mut self.with_required_anti_affinity, i, node.pods_with_required_anti_affinity > 0);
        set_member(&mut self.with_scoring_terms, i, node.pods_with_scoring_terms > 0);
        let relabelled = self.nodes[i].labels != node.labels;
        // In place: the pod list's buffer is reused.
        self.nodes[i].clone_from(node);
        if relabelled {
            // Rare (a node's labels edited): rebuilding beats keeping a reverse index.
            self.topology = Arc::new(Topology::build(&self.nodes));
        }
    }

    /// The pod changes since generation `from` of the same cache, if only pods
    /// changed (see [`crate::changes`]).
    pub fn pod_changes_since(&self, log_id: u64, from: u64) -> Option<Vec<crate::changes::Change>> {
        if log_id != self.changes.id {
            return None;
        }
        self.changes.pod_changes(from, self.generation)
    }

    /// Nodes holding pods with any pod (anti-)affinity.
    pub fn nodes_with_affinity(&self) -> impl Iterator<Item = &NodeInfo> {
        self.with_affinity.iter().map(|i| &self.nodes[*i])
    }

    /// Nodes holding pods whose terms score other pods.
    pub fn nodes_with_scoring_terms(&self) -> impl Iterator<Item = &NodeInfo> {
        self.with_scoring_terms.iter().map(|i| &self.nodes[*i])
    }

    /// Nodes holding pods with required anti-affinity.
    pub fn nodes_with_required_anti_affinity(&self) -> impl Iterator<Item = &NodeInfo> {
        self.with_required_anti_affinity.iter().map(|i| &self.nodes[*i])
    }

    pub(crate) fn recount_images(&mut self) {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for n in &self.nodes {
            for image in n.images.keys() {
                *counts.entry(image.clone()).or_default() += 1;
            }
        }
        self.image_nodes = Arc::new(counts);
    }

    pub fn get(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    /// Every node, borrowed: what scoring gets for its feasible nodes.
    #[cfg(test)]
    pub fn refs(&self) -> Vec<&NodeInfo> {
        self.nodes.iter().collect()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl NamespaceLabels for Snapshot {
    fn namespace_labels(&self, namespace: &str) -> Option<&Labels> {
        self.namespaces.get(namespace)
    }
}
