//! Topology domains as integers. For every node label key, each distinct value
//! is a domain with a small id, and a column indexed by the node's slot
//! ([`NodeInfo::slot`]) gives the domain of each node. Filters that count pods
//! per domain (PodTopologySpread, InterPodAffinity) then look a node's domain up
//! in an array of a few KiB that stays in cache, and keep their counts in
//! vectors by domain id — instead of a label-map lookup (a cache miss per
//! compared key at 5,000 nodes) and a string-keyed count lookup per node.
//!
//! Built once per snapshot change that touches nodes' labels or the node set
//! (rare); pod changes leave it alone.

use std::sync::Arc;

// foldhash: looked up once per pod per key; SipHash showed in profiles elsewhere.
use foldhash::{HashMap, HashMapExt};

use crate::node_info::NodeInfo;

/// The domain of a node without the key.
pub const NONE: u32 = u32::MAX;

/// The domains of one label key.
#[derive(Debug, Default)]
pub struct Domains {
    /// Domain id by node slot; [`NONE`] where the node lacks the key or no
    /// snapshot node has the slot.
    by_slot: Vec<u32>,
    /// Domain id → label value.
    pub values: Vec<String>,
    /// Domain id → snapshot indices (ascending) of its nodes.
    pub nodes: Vec<Vec<usize>>,
}

impl Domains {
    /// The domain of `node` (a node of the snapshot this was built from, or a
    /// what-if copy of one), or [`NONE`].
    #[inline]
    pub fn of(&self, node: &NodeInfo) -> u32 {
        self.by_slot.get(node.slot as usize).copied().unwrap_or(NONE)
    }

    /// How many domains (distinct values) the key has.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Every label key's domains for one set of nodes.
#[derive(Debug, Default)]
pub struct Topology {
    keys: HashMap<String, Arc<Domains>>,
}

impl Topology {
    /// Indexes `nodes` (a snapshot's, in its order). Slots must be unique.
    pub fn build(nodes: &[NodeInfo]) -> Topology {
        let slots = nodes.iter().map(|n| n.slot as usize + 1).max().unwrap_or(0);
        let mut building: HashMap<&str, (Domains, HashMap<&str, u32>)> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for (k, v) in n.labels.iter() {
                let (domains, ids) = building
                    .entry(k.as_str())
                    .or_insert_with(|| (Domains { by_slot: vec![NONE; slots], ..Default::default() }, HashMap::new()));
                let id = *ids.entry(v.as_str()).or_insert_with(|| {
                    domains.values.push(v.clone());
                    domains.nodes.push(Vec::new());
                    (domains.values.len() - 1) as u32
                });
                debug_assert_eq!(domains.by_slot[n.slot as usize], NONE, "slot {} used twice", n.slot);
                domains.by_slot[n.slot as usize] = id;
                domains.nodes[id as usize].push(i);
            }
        }
        Topology { keys: building.into_iter().map(|(k, (d, _))| (k.to_string(), Arc::new(d))).collect() }
    }

    /// The domains of `key`; empty when no node has it.
    pub fn domains(&self, key: &str) -> Arc<Domains> {
        self.keys.get(key).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    #[test]
    fn columns_follow_the_labels() {
        let mut nodes: Vec<NodeInfo> = ["a", "b", "c"].iter().map(|n| NodeInfo::new(node(n).build())).collect();
        Arc::make_mut(&mut nodes[0].labels).insert("zone".into(), "z1".into());
        Arc::make_mut(&mut nodes[2].labels).insert("zone".into(), "z2".into());
        // Slots need not follow the snapshot order.
        for (n, slot) in nodes.iter_mut().zip([4, 0, 2]) {
            n.slot = slot;
        }
        let t = Topology::build(&nodes);
        let zone = t.domains("zone");
        assert_eq!(zone.values, ["z1", "z2"]);
        assert_eq!(zone.nodes, [vec![0], vec![2]]);
        assert_eq!([zone.of(&nodes[0]), zone.of(&nodes[1]), zone.of(&nodes[2])], [0, NONE, 1]);
        let host = t.domains("kubernetes.io/hostname");
        assert_eq!(host.len(), 3);
        assert_eq!(host.values[host.of(&nodes[1]) as usize], "b");
        assert!(t.domains("missing").is_empty());
        assert_eq!(t.domains("missing").of(&nodes[0]), NONE);
    }
}
