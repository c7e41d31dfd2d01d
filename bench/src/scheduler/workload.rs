//! The objects the scheduler benchmark creates: hollow Nodes (objects only, no
//! kubelets) and pods of the three shapes upstream's scheduler_perf measures.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use serde_json::{json, Value};

/// Zones the nodes are spread over (topology spread uses them).
pub const ZONES: usize = 10;
/// Pods per group: anti-affinity and spread constraints apply within a group,
/// like replicas of one Deployment.
pub const GROUP: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Requests only.
    Plain,
    /// Zone spread, maxSkew 1, DoNotSchedule, within the group.
    Spread,
    /// Required anti-affinity on the hostname within the group.
    AntiAffinity,
}

impl Shape {
    pub fn parse(s: &str) -> Option<Shape> {
        match s {
            "plain" => Some(Shape::Plain),
            "spread" => Some(Shape::Spread),
            "anti-affinity" => Some(Shape::AntiAffinity),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Shape::Plain => "plain",
            Shape::Spread => "spread",
            Shape::AntiAffinity => "anti-affinity",
        }
    }

    /// Our target (docs: targets.md) in pods/s.
    pub fn target(self) -> f64 {
        match self {
            Shape::Plain => 5000.0,
            Shape::Spread | Shape::AntiAffinity => 1000.0,
        }
    }
}

/// Node `i`: 32 cpu, 256 GiB, 110 pods, in zone `i % ZONES`.
pub fn node(i: usize) -> Node {
    let name = format!("node-{i:05}");
    let mut labels = BTreeMap::new();
    labels.insert("kubernetes.io/hostname".to_string(), name.clone());
    labels.insert("topology.kubernetes.io/zone".to_string(), format!("zone-{}", i % ZONES));
    let mut n = Node::default();
    n.metadata.name = Some(name);
    n.metadata.labels = Some(labels);
    n
}

/// The status a kubelet would report for a benchmark node.
pub fn node_status() -> Value {
    let capacity = json!({"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    json!({"status": {"capacity": capacity, "allocatable": capacity, "conditions": [{"type": "Ready", "status": "True"}]}})
}

/// Pod `i` of `shape`, named with `prefix`.
pub fn pod(prefix: &str, i: usize, shape: Shape) -> Value {
    let group = format!("g{}", i / GROUP);
    let mut spec = json!({
        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}],
    });
    let selector = json!({"matchLabels": {"group": group}});
    match shape {
        Shape::Plain => {}
        Shape::Spread => {
            spec["topologySpreadConstraints"] = json!([{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": selector}]);
        }
        Shape::AntiAffinity => {
            spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}]}});
        }
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{prefix}-{i:06}"), "namespace": "default", "labels": {"group": group}},
        "spec": spec,
    })
}
