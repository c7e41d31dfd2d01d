//! NodeAffinity: `spec.nodeSelector` and required node affinity filter nodes;
//! preferred node affinity scores them by the summed weights of matching terms.

use k8s_openapi::api::core::v1::NodeSelectorTerm;

use crate::framework::{default_normalize, CycleState, Filter, Fit, Plugin, PreFilter, Score};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::selector::{Labels, NodeSelectorTerms, NodeTerm};
use crate::snapshot::Snapshot;

pub const NAME: &str = "NodeAffinity";
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// A pod's hard node constraints: `nodeSelector` AND (any required term).
#[derive(Debug, Clone)]
pub struct RequiredNodeAffinity {
    node_selector: Labels,
    required: Option<NodeSelectorTerms>,
}

impl RequiredNodeAffinity {
    pub fn new(pod: &PodInfo) -> RequiredNodeAffinity {
        let spec = pod.spec();
        let required = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref())
            .map(NodeSelectorTerms::new);
        RequiredNodeAffinity { node_selector: spec.node_selector.clone().unwrap_or_default(), required }
    }

    /// No `nodeSelector` and no required terms: every node matches.
    pub fn is_empty(&self) -> bool {
        self.node_selector.is_empty() && self.required.is_none()
    }

    pub fn matches(&self, node: &NodeInfo) -> bool {
        self.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
            && self.required.as_ref().is_none_or(|r| r.matches(&node.name, &node.labels))
    }
}

#[derive(Clone)]
struct PreferredTerms(Vec<(i64, NodeTerm)>);

pub struct NodeAffinity;

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreFilter for NodeAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, _snap: &Snapshot) -> Fit {
        let required = RequiredNodeAffinity::new(pod);
        if required.is_empty() {
            state.skip_filter(NAME);
        }
        state.write(NAME, required);
        Fit::Fits
    }
}

impl Filter for NodeAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Fit {
        let fresh;
        let required = match state.read::<RequiredNodeAffinity>(NAME) {
            Some(r) => r,
            None => {
                fresh = RequiredNodeAffinity::new(pod);
                &fresh
            }
        };
        if required.matches(node) {
            Fit::Fits
        } else {
            Fit::unresolvable(REASON)
        }
    }
}

impl Score for NodeAffinity {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _nodes: &[&NodeInfo], _snap: &Snapshot) -> bool {
        let terms: Vec<(i64, NodeTerm)> = pod
            .spec()
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| na.preferred_during_scheduling_ignored_during_execution.as_ref())
            .into_iter()
            .flatten()
            .filter(|t| t.weight != 0)
            .map(|t| (i64::from(t.weight), NodeTerm::new(&t.preference)))
            .collect();
        if terms.is_empty() {
            return false;
        }
        state.write(NAME, PreferredTerms(terms));
        true
    }

    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo, _snap: &Snapshot) -> i64 {
        let Some(PreferredTerms(terms)) = state.read::<PreferredTerms>(NAME) else { return 0 };
        terms.iter().filter(|(_, t)| t.matches(&node.name, &node.labels)).map(|(w, _)| w).sum()
    }

    fn normalize(&self, _state: &CycleState, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

/// Used by tests elsewhere to build terms.
#[allow(dead_code)]
pub(crate) fn term(key: &str, op: &str, values: &[&str]) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: Some(vec![k8s_openapi::api::core::v1::NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }]),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;
    use k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity as ApiNodeAffinity, NodeSelector, PreferredSchedulingTerm,
    };

    fn with_required(b: PodBuilder, terms: Vec<NodeSelectorTerm>) -> PodBuilder {
        b.with_spec(|s| {
            s.affinity = Some(Affinity {
                node_affinity: Some(ApiNodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: terms,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            })
        })
    }

    #[test]
    fn filter_table() {
        let ssd = NodeInfo::new(node("a").label("disk", "ssd").label("zone", "z1").build());
        let hdd = NodeInfo::new(node("b").label("disk", "hdd").build());
        let selector = pod("p").with_spec(|s| s.node_selector = Some(labels(&[("disk", "ssd")])));
        let cases = [
            (pod("p").info(), &hdd, true),
            (selector.clone().info(), &ssd, true),
            (selector.clone().info(), &hdd, false),
            (with_required(pod("p"), vec![term("zone", "In", &["z1"])]).info(), &ssd, true),
            (with_required(pod("p"), vec![term("zone", "In", &["z1"])]).info(), &hdd, false),
            // Terms are ORed.
            (
                with_required(pod("p"), vec![term("zone", "In", &["z1"]), term("disk", "In", &["hdd"])]).info(),
                &hdd,
                true,
            ),
            // nodeSelector and affinity are ANDed.
            (with_required(selector, vec![term("disk", "In", &["hdd"])]).info(), &ssd, false),
            (with_required(pod("p"), vec![term("disk", "NotIn", &["ssd"])]).info(), &hdd, true),
        ];
        for (i, (p, n, want)) in cases.into_iter().enumerate() {
            let mut s = CycleState::new();
            NodeAffinity.pre_filter(&mut s, &p, &Snapshot::default());
            assert_eq!(NodeAffinity.filter(&s, &p, n).fits(), want, "case {i}");
        }
    }

    #[test]
    fn score_sums_matching_preferred_weights() {
        let p = pod("p")
            .with_spec(|s| {
                s.affinity = Some(Affinity {
                    node_affinity: Some(ApiNodeAffinity {
                        preferred_during_scheduling_ignored_during_execution: Some(vec![
                            PreferredSchedulingTerm { weight: 2, preference: term("disk", "In", &["ssd"]) },
                            PreferredSchedulingTerm { weight: 6, preference: term("zone", "In", &["z1"]) },
                        ]),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            })
            .info();
        let nodes: Vec<_> =
            [node("a").label("disk", "ssd").label("zone", "z1"), node("b").label("disk", "ssd"), node("c")]
                .into_iter()
                .map(|b| NodeInfo::new(b.build()))
                .collect();
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let snap = Snapshot::default();
        let mut s = CycleState::new();
        assert!(NodeAffinity.pre_score(&mut s, &p, &refs, &snap));
        let mut scores: Vec<i64> = nodes.iter().map(|n| NodeAffinity.score(&s, &p, n, &snap)).collect();
        assert_eq!(scores, [8, 2, 0]);
        NodeAffinity.normalize(&s, &refs, &mut scores);
        assert_eq!(scores, [100, 25, 0]);
        assert!(!NodeAffinity.pre_score(&mut CycleState::new(), &pod("q").info(), &refs, &snap));
    }
}
