//! NodeUnschedulable: cordoned nodes (`spec.unschedulable`) take only pods that
//! tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use k8s_openapi::api::core::v1::Taint;

use super::taint_toleration::tolerates;
use crate::framework::{CycleState, Filter, Fit, Plugin};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NAME: &str = "NodeUnschedulable";
pub const REASON: &str = "node(s) were unschedulable";

pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl Filter for NodeUnschedulable {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Fit {
        if !node.unschedulable {
            return Fit::Fits;
        }
        let taint =
            Taint { key: "node.kubernetes.io/unschedulable".into(), effect: "NoSchedule".into(), ..Default::default() };
        if pod.spec().tolerations.iter().flatten().any(|t| tolerates(t, &taint)) {
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
        let cordoned = NodeInfo::new(node("n").unschedulable().build());
        let open = NodeInfo::new(node("n").build());
        let plain = pod("p").info();
        let tolerant = pod("p").tolerate("node.kubernetes.io/unschedulable", "Exists", "", "NoSchedule").info();
        let cases = [
            (&open, &plain, Fit::Fits),
            (&cordoned, &plain, Fit::unresolvable(REASON)),
            (&cordoned, &tolerant, Fit::Fits),
        ];
        for (i, (n, p, want)) in cases.into_iter().enumerate() {
            assert_eq!(NodeUnschedulable.filter(&CycleState::new(), p, n), want, "case {i}");
        }
    }
}
