//! NodeResourcesBalancedAllocation: prefer nodes where, with the pod, the
//! fractions of cpu and memory in use are close to each other (score
//! `(1 - standard deviation) * 100`).

use crate::framework::{CycleState, Plugin, Score, MAX_NODE_SCORE};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

use super::node_resources_fit::{allocatable_and_requested, default_resources, ResourceWeight};

pub const NAME: &str = "NodeResourcesBalancedAllocation";

pub struct BalancedAllocation {
    pub resources: Vec<ResourceWeight>,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        BalancedAllocation { resources: default_resources() }
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl Score for BalancedAllocation {
    fn pre_score(&self, _state: &mut CycleState, pod: &PodInfo, _nodes: &[&NodeInfo], _snap: &Snapshot) -> bool {
        // Best-effort pods would all pile onto the same node (upstream issue 129138).
        self.resources.iter().any(|r| pod.requests.amount(&r.name) != 0)
    }

    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo, _snap: &Snapshot) -> i64 {
        // Fractions on the stack: resource lists are short.
        let mut fractions = [0f64; 8];
        let mut n = 0;
        for r in self.resources.iter().take(fractions.len()) {
            let (alloc, req) = allocatable_and_requested(node, pod, &r.name, true);
            if alloc != 0 {
                fractions[n] = (req as f64 / alloc as f64).min(1.0);
                n += 1;
            }
        }
        let fractions = &fractions[..n];
        let std = match n {
            0 | 1 => 0.0,
            2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
            _ => {
                let mean = fractions.iter().sum::<f64>() / n as f64;
                (fractions.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n as f64).sqrt()
            }
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    #[test]
    fn balanced_table() {
        let snap = Snapshot::default();
        let n = NodeInfo::new(node("n").alloc(&[("cpu", "4"), ("memory", "4Gi"), ("pods", "10")]).build());
        let cases = [
            // cpu 1/4, memory 1/4: perfectly balanced.
            (pod("p").req(&[("cpu", "1"), ("memory", "1Gi")]), 100),
            // cpu 4/4, memory 0: std 0.5.
            (pod("p").req(&[("cpu", "4")]), 50),
            // cpu 2/4, memory 1/4: std 0.125 → 87.
            (pod("p").req(&[("cpu", "2"), ("memory", "1Gi")]), 87),
        ];
        for (i, (p, want)) in cases.into_iter().enumerate() {
            assert_eq!(BalancedAllocation::default().score(&CycleState::new(), &p.info(), &n, &snap), want, "case {i}");
        }
        let best_effort = pod("b").info();
        assert!(!BalancedAllocation::default().pre_score(&mut CycleState::new(), &best_effort, &[], &snap));
    }
}
