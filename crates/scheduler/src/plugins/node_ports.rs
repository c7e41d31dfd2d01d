//! NodePorts: a pod's host ports must be free on the node (same protocol and
//! port, overlapping IP — `0.0.0.0` overlaps all — is a clash).

use crate::framework::{CycleState, Filter, Fit, Plugin, PreFilter};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

pub const NAME: &str = "NodePorts";
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }
}

/// A pod without host ports fits every node: its filter is skipped for the cycle
/// (upstream's PreFilter returns `Skip` the same way).
impl PreFilter for NodePorts {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, _snap: &Snapshot) -> Fit {
        if pod.host_ports.is_empty() {
            state.skip_filter(NAME);
        }
        Fit::Fits
    }
}

impl Filter for NodePorts {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Fit {
        let clash = pod.host_ports.iter().any(|want| node.used_ports.iter().any(|used| used.conflicts(want)));
        if clash {
            Fit::unschedulable(REASON)
        } else {
            Fit::Fits
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    #[test]
    fn table() {
        let mut busy = NodeInfo::new(node("n").build());
        busy.add_pod(pod("web").host_port(80).node("n").build());
        let free = NodeInfo::new(node("n").build());
        let s = CycleState::new();
        let cases = [
            (&free, pod("p").host_port(80).info(), Fit::Fits),
            (&busy, pod("p").host_port(80).info(), Fit::unschedulable(REASON)),
            (&busy, pod("p").host_port(81).info(), Fit::Fits),
            (&busy, pod("p").info(), Fit::Fits),
        ];
        for (i, (n, p, want)) in cases.into_iter().enumerate() {
            assert_eq!(NodePorts.filter(&s, &p, n), want, "case {i}");
        }
    }

    #[test]
    fn pre_filter_skips_the_filter_only_for_pods_without_host_ports() {
        let snap = Snapshot::default();
        for (p, skipped) in [(pod("p").info(), true), (pod("p").host_port(80).info(), false)] {
            let mut s = CycleState::new();
            assert_eq!(NodePorts.pre_filter(&mut s, &p, &snap), Fit::Fits);
            assert_eq!(s.filter_skipped(NAME), skipped);
        }
    }
}
