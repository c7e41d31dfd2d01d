//! `Snapshot`: the immutable view of the cluster one scheduling cycle works on.

use std::collections::HashMap;
use std::sync::Arc;

use crate::node_info::NodeInfo;
use crate::pod_info::NamespaceLabels;
use crate::selector::Labels;

/// Nodes (sorted by name) and what plugins need across nodes. Only nodes whose
/// Node object exists are listed.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub nodes: Vec<Arc<NodeInfo>>,
    pub(crate) index: Arc<HashMap<String, usize>>,
    /// Image name to the number of nodes that have it (ImageLocality spreads by it).
    pub image_nodes: Arc<HashMap<String, usize>>,
    pub namespaces: Arc<HashMap<String, Labels>>,
}

impl Snapshot {
    /// A snapshot of exactly these nodes (tests and simulations).
    pub fn from_nodes(nodes: Vec<NodeInfo>) -> Snapshot {
        let mut s = Snapshot::default();
        s.rebuild(nodes.into_iter().map(Arc::new).collect());
        s
    }

    pub(crate) fn rebuild(&mut self, mut nodes: Vec<Arc<NodeInfo>>) {
        nodes.retain(|n| n.node.is_some());
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        self.index = Arc::new(nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect());
        self.nodes = nodes;
        self.recount_images();
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

    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// This snapshot with `node` in place of the node of the same name.
    pub fn with_node(&self, node: Arc<NodeInfo>) -> Snapshot {
        let mut s = self.clone();
        if let Some(i) = self.index.get(&node.name) {
            s.nodes[*i] = node;
        }
        s
    }
}

impl NamespaceLabels for Snapshot {
    fn namespace_labels(&self, namespace: &str) -> Option<&Labels> {
        self.namespaces.get(namespace)
    }
}
