//! The built-in plugins, one module each, and the registry that builds them by
//! name with their configured arguments.

pub mod balanced_allocation;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;
pub mod volume_binding;

use std::sync::Arc;

use crate::framework::{Filter, PreFilter, Reserve, Score};
use node_resources_fit::{ResourceWeight, Strategy};

/// Preemption when nothing fits (a PostFilter plugin upstream).
pub const DEFAULT_PREEMPTION: &str = "DefaultPreemption";
/// Binding through `pods/binding`.
pub const DEFAULT_BINDER: &str = "DefaultBinder";
/// Queue ordering by priority, then age.
pub const PRIORITY_SORT: &str = "PrioritySort";

/// Upstream's default plugins (multiPoint) in their order, with default score weights.
pub const DEFAULT_PLUGINS: &[(&str, i64)] = &[
    (PRIORITY_SORT, 0),
    (node_unschedulable::NAME, 0),
    (node_name::NAME, 0),
    (taint_toleration::NAME, 3),
    (node_affinity::NAME, 2),
    (node_ports::NAME, 0),
    (node_resources_fit::NAME, 1),
    (volume_binding::NAME, 0),
    (pod_topology_spread::NAME, 2),
    (inter_pod_affinity::NAME, 2),
    (DEFAULT_PREEMPTION, 0),
    (balanced_allocation::NAME, 1),
    (image_locality::NAME, 1),
    (DEFAULT_BINDER, 0),
];

/// Plugin arguments from `pluginConfig`.
#[derive(Debug, Clone)]
pub struct PluginArgs {
    pub fit_strategy: Strategy,
    pub fit_resources: Vec<ResourceWeight>,
    pub balanced_resources: Vec<ResourceWeight>,
    pub hard_pod_affinity_weight: i64,
}

impl Default for PluginArgs {
    fn default() -> Self {
        PluginArgs {
            fit_strategy: Strategy::LeastAllocated,
            fit_resources: node_resources_fit::default_resources(),
            balanced_resources: node_resources_fit::default_resources(),
            hard_pod_affinity_weight: 1,
        }
    }
}

/// One built plugin, seen through each extension point it implements.
#[derive(Clone, Default)]
pub struct Built {
    pub pre_filter: Option<Arc<dyn PreFilter>>,
    pub filter: Option<Arc<dyn Filter>>,
    pub score: Option<Arc<dyn Score>>,
    pub reserve: Option<Arc<dyn Reserve>>,
    /// Known plugin without a pure extension point here (queue sort, preemption, binder).
    pub other: bool,
}

/// Builds the plugin called `name`; `None` for a name skiff does not know.
pub fn build(name: &str, args: &PluginArgs) -> Option<Built> {
    let mut b = Built::default();
    match name {
        node_unschedulable::NAME => b.filter = Some(Arc::new(node_unschedulable::NodeUnschedulable)),
        node_name::NAME => b.filter = Some(Arc::new(node_name::NodeName)),
        node_ports::NAME => {
            let p = Arc::new(node_ports::NodePorts);
            b.pre_filter = Some(p.clone());
            b.filter = Some(p);
        }
        taint_toleration::NAME => {
            let p = Arc::new(taint_toleration::TaintToleration);
            b.filter = Some(p.clone());
            b.score = Some(p);
        }
        node_affinity::NAME => {
            let p = Arc::new(node_affinity::NodeAffinity);
            b.pre_filter = Some(p.clone());
            b.filter = Some(p.clone());
            b.score = Some(p);
        }
        node_resources_fit::NAME => {
            let p = Arc::new(node_resources_fit::NodeResourcesFit {
                strategy: args.fit_strategy,
                resources: args.fit_resources.clone(),
            });
            b.filter = Some(p.clone());
            b.score = Some(p);
        }
        balanced_allocation::NAME => {
            b.score =
                Some(Arc::new(balanced_allocation::BalancedAllocation { resources: args.balanced_resources.clone() }))
        }
        image_locality::NAME => b.score = Some(Arc::new(image_locality::ImageLocality)),
        volume_binding::NAME => {
            let p = Arc::new(volume_binding::VolumeBinding);
            b.pre_filter = Some(p.clone());
            b.filter = Some(p);
        }
        inter_pod_affinity::NAME => {
            let p = Arc::new(inter_pod_affinity::InterPodAffinity::new(args.hard_pod_affinity_weight));
            b.pre_filter = Some(p.clone());
            b.filter = Some(p.clone());
            b.score = Some(p);
        }
        pod_topology_spread::NAME => {
            let p = Arc::new(pod_topology_spread::PodTopologySpread::default());
            b.pre_filter = Some(p.clone());
            b.filter = Some(p.clone());
            b.score = Some(p);
        }
        PRIORITY_SORT | DEFAULT_PREEMPTION | DEFAULT_BINDER => b.other = true,
        _ => return None,
    }
    Some(b)
}
