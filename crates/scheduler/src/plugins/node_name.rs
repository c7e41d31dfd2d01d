//! NodeName: a pod that names a node (`spec.nodeName`) fits only there.

use crate::framework::{CycleState, Filter, Fit, Plugin};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodeName";
pub const REASON: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl Filter for NodeName {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Fit {
        if pod.node_name.is_empty() || pod.node_name == node.name {
            Fit::Fits
        } else {
            Fit::unresolvable(REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    #[test]
    fn table() {
        let n1 = NodeInfo::new(node("n1").build());
        let s = CycleState::new();
        assert_eq!(NodeName.filter(&s, &pod("p").info(), &n1), Fit::Fits);
        assert_eq!(NodeName.filter(&s, &pod("p").node("n1").info(), &n1), Fit::Fits);
        assert_eq!(NodeName.filter(&s, &pod("p").node("n2").info(), &n1), Fit::unresolvable(REASON));
    }
}
