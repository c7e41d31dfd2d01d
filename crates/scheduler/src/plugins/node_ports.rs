//! NodePorts: a pod's host ports must be free on the node (same protocol and
//! port, overlapping IP — `0.0.0.0` overlaps all — is a clash).

use crate::framework::{CycleState, Filter, Fit, Plugin};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodePorts";
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub struct NodePorts;

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
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
}
