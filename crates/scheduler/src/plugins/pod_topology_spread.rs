//! PodTopologySpread: `topologySpreadConstraints` — `DoNotSchedule` constraints
//! filter out nodes where placing the pod would make the skew (matching pods in
//! this domain minus the least-loaded domain) exceed `maxSkew`; `ScheduleAnyway`
//! constraints score nodes, fewer matching pods in the domain being better.

// foldhash: these maps are probed once per node per cycle; SipHash showed in profiles.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::Arc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use super::node_affinity::RequiredNodeAffinity;
use super::taint_toleration::untolerated_taint;
use crate::changes::Change;
use crate::framework::{CycleState, Filter, Fit, Plugin, PreFilter, Score, MAX_NODE_SCORE};
use crate::node_info::{NodeInfo, HOSTNAME_LABEL};
use crate::pod_info::PodInfo;
use crate::selector::Selector;
use crate::snapshot::Snapshot;

pub const NAME: &str = "PodTopologySpread";
pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
pub const REASON_MISSING_LABEL: &str = "node(s) didn't match pod topology spread constraints (missing required label)";

/// One compiled constraint.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: Selector,
    min_domains: i64,
    honor_node_affinity: bool,
    honor_taints: bool,
}

impl Constraint {
    fn new(c: &TopologySpreadConstraint, pod: &PodInfo) -> Constraint {
        let mut selector = Selector::from_label_selector(c.label_selector.as_ref());
        if c.label_selector.is_some() {
            for key in c.match_label_keys.iter().flatten() {
                if let Some(v) = pod.labels.get(key) {
                    selector = selector.with_label(key, v);
                }
            }
        }
        Constraint {
            max_skew: i64::from(c.max_skew),
            topology_key: c.topology_key.clone(),
            selector,
            min_domains: i64::from(c.min_domains.unwrap_or(1)),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        }
    }

    /// Whether `node` takes part in this constraint's domains (inclusion policies).
    fn includes(&self, pod: &PodInfo, node: &NodeInfo, affinity: &RequiredNodeAffinity) -> bool {
        (!self.honor_node_affinity || affinity.matches(node))
            && (!self.honor_taints
                || untolerated_taint(&node.taints, pod.spec().tolerations.as_deref().unwrap_or_default()).is_none())
    }

    fn count(&self, pods: &[Arc<PodInfo>], namespace: &str) -> i64 {
        if self.selector.is_nothing() {
            return 0;
        }
        pods.iter().filter(|p| self.counts(p, namespace)).count() as i64
    }

    fn counts(&self, p: &PodInfo, namespace: &str) -> bool {
        !p.terminating && p.namespace == namespace && self.selector.matches(&p.labels)
    }
}

fn constraints(pod: &PodInfo, when: &str) -> Vec<Constraint> {
    pod.spec()
        .topology_spread_constraints
        .iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == when)
        .map(|c| Constraint::new(c, pod))
        .collect()
}

fn has_all_keys(node: &NodeInfo, cs: &[Constraint]) -> bool {
    cs.iter().all(|c| node.labels.contains_key(&c.topology_key))
}

#[derive(Clone)]
struct FilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: domain value → matching pods.
    counts: Vec<HashMap<String, i64>>,
    /// Per constraint: the smallest count over its domains (`i64::MAX` with none).
    min: Vec<i64>,
    /// Per constraint: 1 when the incoming pod matches its own selector.
    self_match: Vec<i64>,
    affinity: RequiredNodeAffinity,
}

impl FilterState {
    fn recompute_min(&mut self, i: usize) {
        self.min[i] = self.counts[i].values().copied().min().unwrap_or(i64::MAX);
    }

    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, by: i64) {
        if !has_all_keys(node, &self.constraints) {
            return;
        }
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !c.includes(pod, node, &self.affinity) || !c.counts(other, &pod.namespace) {
                continue;
            }
            let value = node.labels[&c.topology_key].clone();
            *self.counts[i].entry(value).or_default() += by;
            self.recompute_min(i);
        }
    }
}

impl FilterState {
    /// Whether a node in domain `value` of constraint `i` passes (see `filter`).
    fn admits(&self, i: usize, value: &str) -> bool {
        let c = &self.constraints[i];
        // With fewer domains than minDomains, the global minimum counts as 0.
        let min = if (self.counts[i].len() as i64) < c.min_domains { 0 } else { self.min[i] };
        let here = self.counts[i].get(value).copied().unwrap_or(0);
        here.saturating_add(self.self_match[i]).saturating_sub(min) <= c.max_skew
    }
}

/// The nodes of the domains that admit the pod, when one constraint narrows the
/// cluster to at most half of it: the scheduler then filters only those (a pod
/// spread over zones would otherwise visit every node of the full zones).
/// Constraints with many domains (hostname) are not worth the walk.
fn candidates(s: &FilterState, snap: &Snapshot) -> Option<Vec<usize>> {
    let mut best: Option<Vec<usize>> = None;
    for (i, c) in s.constraints.iter().enumerate() {
        // No node has the key: none fits (the filter says why).
        let Some(values) = snap.labels.get(&c.topology_key) else { return Some(Vec::new()) };
        if values.len() * 4 > snap.len() {
            continue;
        }
        let admitted = || values.iter().filter(|(v, _)| s.admits(i, v)).map(|(_, nodes)| nodes);
        let size: usize = admitted().map(Vec::len).sum();
        if size * 2 > snap.len() || best.as_ref().is_some_and(|b| b.len() <= size) {
            continue;
        }
        let mut nodes: Vec<usize> = admitted().flatten().copied().collect();
        nodes.sort_unstable();
        best = Some(nodes);
    }
    best
}

/// The filter state of the last pod, to bring up to date for the next pod of
/// the same shape (see [`crate::changes`]).
struct Memo {
    key: String,
    log_id: u64,
    generation: u64,
    state: FilterState,
}

#[derive(Default)]
pub struct PodTopologySpread {
    memo: std::sync::Mutex<Option<Memo>>,
}

/// Everything the filter state depends on besides the cluster: two pods with the
/// same key get the same state from the same snapshot.
fn memo_key(pod: &PodInfo) -> String {
    let spec = pod.spec();
    format!(
        "{}|{:?}|{:?}|{:?}|{:?}|{:?}",
        pod.namespace,
        pod.labels,
        spec.topology_spread_constraints,
        spec.node_selector,
        spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()),
        spec.tolerations
    )
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreFilter for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snap: &Snapshot) -> Fit {
        let cs = constraints(pod, "DoNotSchedule");
        if cs.is_empty() {
            return Fit::Fits;
        }
        let key = memo_key(pod);
        let mut memo = self.memo.lock().expect("memo lock");
        if let Some(m) = memo.as_mut().filter(|m| m.key == key) {
            if let Some(changes) = snap.pod_changes_since(m.log_id, m.generation) {
                for change in changes {
                    let (other, by) = match &change {
                        Change::PodAdded(p) => (p, 1),
                        Change::PodRemoved(p) => (p, -1),
                        Change::Other => unreachable!("pod_changes_since returns pod changes only"),
                    };
                    if let Some(node) = snap.get(&other.node_name) {
                        m.state.update(pod, other, node, by);
                    }
                }
                m.generation = snap.generation;
                if let Some(nodes) = candidates(&m.state, snap) {
                    state.restrict_candidates(nodes);
                }
                state.write(NAME, m.state.clone());
                return Fit::Fits;
            }
        }
        let affinity = RequiredNodeAffinity::new(pod);
        let mut counts = vec![HashMap::<String, i64>::new(); cs.len()];
        for node in snap.nodes.iter().filter(|n| has_all_keys(n, &cs)) {
            for (i, c) in cs.iter().enumerate() {
                if c.includes(pod, node, &affinity) {
                    let n = c.count(&node.pods, &pod.namespace);
                    // Look up before inserting: domains are few, nodes many, and
                    // the key would be an allocation per node.
                    let value = &node.labels[&c.topology_key];
                    match counts[i].get_mut(value) {
                        Some(count) => *count += n,
                        None => {
                            counts[i].insert(value.clone(), n);
                        }
                    }
                }
            }
        }
        let self_match = cs.iter().map(|c| i64::from(c.selector.matches(&pod.labels))).collect();
        let mut s = FilterState { min: vec![0; cs.len()], self_match, constraints: cs, counts, affinity };
        (0..s.constraints.len()).for_each(|i| s.recompute_min(i));
        *memo = Some(Memo { key, log_id: snap.changes.id, generation: snap.generation, state: s.clone() });
        if let Some(nodes) = candidates(&s, snap) {
            state.restrict_candidates(nodes);
        }
        state.write(NAME, s);
        Fit::Fits
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update(pod, other, node, 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update(pod, other, node, -1);
        }
    }
}

impl Filter for PodTopologySpread {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Fit {
        let Some(s) = state.read::<FilterState>(NAME) else { return Fit::Fits };
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.labels.get(&c.topology_key) else {
                return Fit::unresolvable(REASON_MISSING_LABEL);
            };
            if !s.admits(i, value) {
                return Fit::unschedulable(REASON);
            }
        }
        Fit::Fits
    }
}

#[derive(Clone)]
struct ScoreState {
    constraints: Vec<Constraint>,
    /// (key, value) → matching pods, for non-hostname keys.
    pair_counts: HashMap<(String, String), i64>,
    weights: Vec<f64>,
    ignored: HashSet<String>,
}

impl Score for PodTopologySpread {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[Arc<NodeInfo>], snap: &Snapshot) -> bool {
        let cs = constraints(pod, "ScheduleAnyway");
        if cs.is_empty() {
            return false;
        }
        let mut ignored = HashSet::new();
        let mut pair_counts = HashMap::new();
        let mut sizes = vec![0usize; cs.len()];
        for n in nodes {
            if !has_all_keys(n, &cs) {
                ignored.insert(n.name.clone());
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if c.topology_key == HOSTNAME_LABEL {
                    continue;
                }
                let pair = (c.topology_key.clone(), n.labels[&c.topology_key].clone());
                if let std::collections::hash_map::Entry::Vacant(e) = pair_counts.entry(pair) {
                    e.insert(0);
                    sizes[i] += 1;
                }
            }
        }
        let weights = cs
            .iter()
            .zip(&sizes)
            .map(|(c, size)| {
                let size = if c.topology_key == HOSTNAME_LABEL { nodes.len() - ignored.len() } else { *size };
                ((size + 2) as f64).ln()
            })
            .collect();
        let affinity = RequiredNodeAffinity::new(pod);
        for n in snap.nodes.iter().filter(|n| has_all_keys(n, &cs)) {
            for c in &cs {
                if !c.includes(pod, n, &affinity) || c.topology_key == HOSTNAME_LABEL {
                    continue;
                }
                if let Some(count) = pair_counts.get_mut(&(c.topology_key.clone(), n.labels[&c.topology_key].clone())) {
                    *count += c.count(&n.pods, &pod.namespace);
                }
            }
        }
        state.write(NAME, ScoreState { constraints: cs, pair_counts, weights, ignored });
        true
    }

    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, _snap: &Snapshot) -> i64 {
        let Some(s) = state.read::<ScoreState>(NAME) else { return 0 };
        if s.ignored.contains(&node.name) {
            return 0;
        }
        let mut score = 0.0;
        for (c, weight) in s.constraints.iter().zip(&s.weights) {
            let Some(value) = node.labels.get(&c.topology_key) else { continue };
            let count = if c.topology_key == HOSTNAME_LABEL {
                c.count(&node.pods, &pod.namespace)
            } else {
                s.pair_counts.get(&(c.topology_key.clone(), value.clone())).copied().unwrap_or(0)
            };
            score += count as f64 * weight + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    fn normalize(&self, state: &CycleState, nodes: &[Arc<NodeInfo>], scores: &mut [i64]) {
        let Some(s) = state.read::<ScoreState>(NAME) else { return };
        let counted = || nodes.iter().zip(scores.iter()).filter(|(n, _)| !s.ignored.contains(&n.name)).map(|(_, v)| *v);
        let (min, max) = (counted().min().unwrap_or(0), counted().max().unwrap_or(0));
        for (n, v) in nodes.iter().zip(scores.iter_mut()) {
            *v = if s.ignored.contains(&n.name) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *v) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn spread(b: PodBuilder, key: &str, max_skew: i32, when: &str) -> PodBuilder {
        b.labels(&[("app", "web")]).with_spec(|s| {
            s.topology_spread_constraints.get_or_insert_with(Vec::new).push(TopologySpreadConstraint {
                max_skew,
                topology_key: key.into(),
                when_unsatisfiable: when.into(),
                label_selector: Some(LabelSelector {
                    match_labels: Some(labels(&[("app", "web")])),
                    ..Default::default()
                }),
                ..Default::default()
            })
        })
    }

    /// z1: n1 (2 web pods), n2 (1); z2: n3 (0); n4 has no zone label.
    fn cluster() -> Snapshot {
        let web = |name: &str, n: &str| pod(name).labels(&[("app", "web")]).node(n).build();
        let mut n1 = NodeInfo::new(node("n1").label("zone", "z1").build());
        n1.add_pod(web("a", "n1"));
        n1.add_pod(web("b", "n1"));
        let mut n2 = NodeInfo::new(node("n2").label("zone", "z1").build());
        n2.add_pod(web("c", "n2"));
        n2.add_pod(pod("other").node("n2").build());
        let n3 = NodeInfo::new(node("n3").label("zone", "z2").build());
        let n4 = NodeInfo::new(node("n4").build());
        Snapshot::from_nodes(vec![n1, n2, n3, n4])
    }

    fn filter_all(p: &PodInfo, snap: &Snapshot) -> Vec<Fit> {
        let mut s = CycleState::new();
        PodTopologySpread::default().pre_filter(&mut s, p, snap);
        snap.nodes.iter().map(|n| PodTopologySpread::default().filter(&s, p, n)).collect()
    }

    #[test]
    fn hard_constraints_table() {
        let snap = cluster();
        let ok = Fit::Fits;
        let skew = Fit::unschedulable(REASON);
        let missing = Fit::unresolvable(REASON_MISSING_LABEL);
        let cases = [
            // zone: z1 has 3, z2 has 0: only z2 keeps skew <= 1.
            (
                spread(pod("p"), "zone", 1, "DoNotSchedule"),
                vec![skew.clone(), skew.clone(), ok.clone(), missing.clone()],
            ),
            // maxSkew 4 allows z1 too.
            (spread(pod("p"), "zone", 4, "DoNotSchedule"), vec![ok.clone(), ok.clone(), ok.clone(), missing.clone()]),
            // hostname: n1 2, n2 1, n3 0, n4 0 → min 0; maxSkew 2 admits n2..n4.
            (
                spread(pod("p"), "kubernetes.io/hostname", 2, "DoNotSchedule"),
                vec![skew.clone(), ok.clone(), ok.clone(), ok.clone()],
            ),
            // Soft constraints never filter.
            (spread(pod("p"), "zone", 1, "ScheduleAnyway"), vec![ok.clone(), ok.clone(), ok.clone(), ok.clone()]),
        ];
        for (i, (p, want)) in cases.into_iter().enumerate() {
            assert_eq!(filter_all(&p.info(), &snap), want, "case {i}");
        }
    }

    #[test]
    fn node_affinity_limits_the_domains() {
        // Only z1's nodes are domains (nodeSelector): their minimum is 1 (n2), so n2 may
        // take another; n3 and n4 are no domain here (NodeAffinity's filter rejects them).
        let p = spread(pod("p"), "kubernetes.io/hostname", 1, "DoNotSchedule")
            .with_spec(|s| s.node_selector = Some(labels(&[("zone", "z1")])))
            .info();
        let fits: Vec<bool> = filter_all(&p, &cluster()).iter().map(Fit::fits).collect();
        assert_eq!(fits, [false, true, true, true]);
    }

    #[test]
    fn what_if_removal_updates_counts() {
        let snap = cluster();
        let p = spread(pod("p"), "zone", 1, "DoNotSchedule").info();
        let mut s = CycleState::new();
        PodTopologySpread::default().pre_filter(&mut s, &p, &snap);
        let n1 = snap.get("n1").unwrap();
        PodTopologySpread::default().remove_pod(&mut s, &p, &n1.pods[0], n1);
        PodTopologySpread::default().remove_pod(&mut s, &p, &n1.pods[1], n1);
        // z1 now has 1, z2 0: z1 gives skew 2 still; remove the third too.
        let n2 = snap.get("n2").unwrap();
        PodTopologySpread::default().remove_pod(&mut s, &p, &n2.pods[0], n2);
        assert!(PodTopologySpread::default().filter(&s, &p, n1).fits());
    }

    #[test]
    fn soft_constraints_prefer_emptier_domains() {
        let snap = cluster();
        let p = spread(pod("p"), "zone", 1, "ScheduleAnyway").info();
        let mut s = CycleState::new();
        assert!(PodTopologySpread::default().pre_score(&mut s, &p, &snap.nodes, &snap));
        let mut scores: Vec<i64> =
            snap.nodes.iter().map(|n| PodTopologySpread::default().score(&s, &p, n, &snap)).collect();
        // weight ln(2 zones + 2) = 1.386; z1: 3 * 1.386 = 4.16 → 4; z2: 0.
        assert_eq!(scores, [4, 4, 0, 0]);
        PodTopologySpread::default().normalize(&s, &snap.nodes, &mut scores);
        assert_eq!(scores, [0, 0, 100, 0], "n4 lacks the key and is ignored");
    }

    #[test]
    fn candidates_hold_every_node_that_fits() {
        // 12 nodes in zones z0..z2 (4 each); z0 holds 3 web pods, z1 1, z2 none.
        let mut nodes = Vec::new();
        for i in 0..12 {
            let mut n = NodeInfo::new(node(&format!("n{i:02}")).label("zone", &format!("z{}", i % 3)).build());
            let webs = match i {
                0 | 3 | 6 => 1,
                1 => 1,
                _ => 0,
            };
            for w in 0..webs {
                n.add_pod(pod(&format!("w{i}-{w}")).labels(&[("app", "web")]).node(&n.name.clone()).build());
            }
            nodes.push(n);
        }
        let snap = Snapshot::from_nodes(nodes);
        for max_skew in [1, 2, 3] {
            let p = spread(pod("p"), "zone", max_skew, "DoNotSchedule").info();
            let mut s = CycleState::new();
            PodTopologySpread::default().pre_filter(&mut s, &p, &snap);
            let fits: Vec<usize> = (0..snap.len())
                .filter(|i| PodTopologySpread::default().filter(&s, &p, &snap.nodes[*i]).fits())
                .collect();
            match s.candidates() {
                // maxSkew 1: only z2 (4 of 12 nodes) admits the pod.
                Some(c) => assert_eq!(c, &fits[..], "maxSkew {max_skew}"),
                None => assert!(fits.len() * 2 > snap.len(), "maxSkew {max_skew}: {fits:?} not narrowed"),
            }
        }
        let p = spread(pod("p"), "zone", 1, "DoNotSchedule").info();
        let mut s = CycleState::new();
        PodTopologySpread::default().pre_filter(&mut s, &p, &snap);
        assert_eq!(s.candidates(), Some(&[2, 5, 8, 11][..]));
    }

    #[test]
    fn remembered_state_matches_a_fresh_one() {
        use crate::cache::Cache;
        use rand::{Rng, SeedableRng};
        let mut cache = Cache::new();
        for i in 0..6 {
            cache.add_node(node(&format!("n{i}")).label("zone", &format!("z{}", i % 3)).build());
        }
        let remembered = PodTopologySpread::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut placed: Vec<String> = Vec::new();
        let shape = |name: &str| {
            let b = spread(pod(name), "zone", 2, "DoNotSchedule");
            spread(b, "kubernetes.io/hostname", 1, "DoNotSchedule").info()
        };
        for step in 0..300 {
            let p = shape(&format!("incoming-{step}"));
            let snap = cache.snapshot();
            let (mut a, mut b) = (CycleState::new(), CycleState::new());
            remembered.pre_filter(&mut a, &p, &snap);
            let fresh = PodTopologySpread::default();
            fresh.pre_filter(&mut b, &p, &snap);
            for n in &snap.nodes {
                assert_eq!(remembered.filter(&a, &p, n), fresh.filter(&b, &p, n), "step {step}, node {}", n.name);
            }
            match rng.gen_range(0..10) {
                0..=5 => {
                    let node = format!("n{}", rng.gen_range(0..6));
                    let name = format!("web-{step}");
                    let web = pod(&name).labels(&[("app", "web")]).info().assumed_on(&node);
                    cache.assume(Arc::new(web)).unwrap();
                    placed.push(format!("uid-{name}"));
                }
                6..=8 if !placed.is_empty() => {
                    let uid = placed.swap_remove(rng.gen_range(0..placed.len()));
                    cache.remove_pod(&uid);
                }
                _ => cache.add_node(node(&format!("extra-{step}")).label("zone", "z9").build()),
            }
        }
    }
}
