//! TaintToleration: a node's NoSchedule and NoExecute taints keep off pods that do
//! not tolerate them (filter); untolerated PreferNoSchedule taints lower a node's
//! score (fewer is better).

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::framework::{default_normalize, CycleState, Filter, Fit, Plugin, Score};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

pub const NAME: &str = "TaintToleration";

/// Upstream's `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect.as_deref().is_some_and(|e| !e.is_empty() && e != taint.effect) {
        return false;
    }
    if t.key.as_deref().is_some_and(|k| !k.is_empty() && k != taint.key) {
        return false;
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

/// The first NoSchedule/NoExecute taint that none of `tolerations` tolerates.
pub fn untolerated_taint<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

pub struct TaintToleration;

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl Filter for TaintToleration {
    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Fit {
        let tolerations = pod.spec().tolerations.as_deref().unwrap_or_default();
        match untolerated_taint(&node.taints, tolerations) {
            None => Fit::Fits,
            Some(t) => Fit::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )),
        }
    }
}

impl Score for TaintToleration {
    fn score(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo, _snap: &Snapshot) -> i64 {
        let tolerations = pod.spec().tolerations.as_deref().unwrap_or_default();
        let prefer = |t: &&Toleration| matches!(t.effect.as_deref(), None | Some("") | Some("PreferNoSchedule"));
        node.taints
            .iter()
            .filter(|taint| {
                taint.effect == "PreferNoSchedule" && !tolerations.iter().filter(prefer).any(|t| tolerates(t, taint))
            })
            .count() as i64
    }

    fn normalize(&self, _state: &CycleState, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    #[test]
    fn toleration_table() {
        let taint = |k: &str, v: &str, e: &str| Taint {
            key: k.into(),
            value: Some(v.into()),
            effect: e.into(),
            ..Default::default()
        };
        let tol = |k: &str, op: &str, v: &str, e: &str| Toleration {
            key: (!k.is_empty()).then(|| k.into()),
            operator: (!op.is_empty()).then(|| op.into()),
            value: (!v.is_empty()).then(|| v.into()),
            effect: (!e.is_empty()).then(|| e.into()),
            ..Default::default()
        };
        let cases = [
            (tol("k", "Equal", "v", "NoSchedule"), taint("k", "v", "NoSchedule"), true),
            (tol("k", "", "v", ""), taint("k", "v", "NoExecute"), true),
            (tol("k", "Equal", "w", ""), taint("k", "v", "NoSchedule"), false),
            (tol("k", "Exists", "", ""), taint("k", "v", "NoSchedule"), true),
            (tol("", "Exists", "", ""), taint("any", "v", "NoExecute"), true),
            (tol("k", "Exists", "", "NoExecute"), taint("k", "v", "NoSchedule"), false),
            (tol("other", "Exists", "", ""), taint("k", "v", "NoSchedule"), false),
        ];
        for (i, (t, taint, want)) in cases.into_iter().enumerate() {
            assert_eq!(tolerates(&t, &taint), want, "case {i}");
        }
    }

    #[test]
    fn filter_names_the_first_untolerated_taint() {
        let n = NodeInfo::new(node("n").taint("a", "1", "PreferNoSchedule").taint("b", "2", "NoSchedule").build());
        let s = CycleState::new();
        assert_eq!(
            TaintToleration.filter(&s, &pod("p").info(), &n),
            Fit::unresolvable("node(s) had untolerated taint {b: 2}")
        );
        assert_eq!(TaintToleration.filter(&s, &pod("p").tolerate("b", "Exists", "", "").info(), &n), Fit::Fits);
    }

    #[test]
    fn score_prefers_fewer_prefer_no_schedule_taints() {
        let nodes: Vec<_> = [
            node("clean"),
            node("one").taint("a", "", "PreferNoSchedule"),
            node("two").taint("a", "", "PreferNoSchedule").taint("b", "", "PreferNoSchedule"),
        ]
        .into_iter()
        .map(|b| NodeInfo::new(b.build()))
        .collect();
        let refs: Vec<&NodeInfo> = nodes.iter().collect();
        let p = pod("p").tolerate("b", "Exists", "", "PreferNoSchedule").info();
        let snap = Snapshot::default();
        let s = CycleState::new();
        let mut scores: Vec<i64> = nodes.iter().map(|n| TaintToleration.score(&s, &p, n, &snap)).collect();
        assert_eq!(scores, [0, 1, 1]);
        TaintToleration.normalize(&s, &refs, &mut scores);
        assert_eq!(scores, [100, 0, 0]);
    }
}
