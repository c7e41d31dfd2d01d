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
use crate::topology::{Domains, Topology, NONE};

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

/// One `DoNotSchedule` constraint's counts, by domain id of its key.
#[derive(Clone)]
struct Spread {
    constraint: Constraint,
    domains: Arc<Domains>,
    /// Matching pods per domain.
    counts: Vec<i64>,
    /// Whether a domain has a node that takes part (inclusion policies): only
    /// those count for the minimum and for minDomains.
    present: Vec<bool>,
    present_count: i64,
    /// The smallest count over present domains (`i64::MAX` with none).
    min: i64,
    /// 1 when the incoming pod matches its own selector.
    self_match: i64,
}

impl Spread {
    fn new(constraint: Constraint, pod: &PodInfo, topology: &Topology) -> Spread {
        let domains = topology.domains(&constraint.topology_key);
        Spread {
            counts: vec![0; domains.len()],
            present: vec![false; domains.len()],
            present_count: 0,
            min: i64::MAX,
            self_match: i64::from(constraint.selector.matches(&pod.labels)),
            constraint,
            domains,
        }
    }

    fn add(&mut self, domain: u32, by: i64) {
        let d = domain as usize;
        self.counts[d] += by;
        if !self.present[d] {
            self.present[d] = true;
            self.present_count += 1;
        }
    }

    fn recompute_min(&mut self) {
        let present = self.counts.iter().zip(&self.present).filter(|(_, p)| **p);
        self.min = present.map(|(c, _)| *c).min().unwrap_or(i64::MAX);
    }

    /// Whether a node in `domain` passes (see `filter`).
    #[inline]
    fn admits(&self, domain: u32) -> bool {
        // With fewer domains than minDomains, the global minimum counts as 0.
        let min = if self.present_count < self.constraint.min_domains { 0 } else { self.min };
        let here = self.counts[domain as usize];
        here.saturating_add(self.self_match).saturating_sub(min) <= self.constraint.max_skew
    }
}

#[derive(Clone)]
struct FilterState {
    spreads: Vec<Spread>,
    affinity: RequiredNodeAffinity,
    /// The topology the domain ids refer to.
    topology: Arc<Topology>,
}

impl FilterState {
    /// Each constraint's domain for `node`, or `None` when it lacks a key (such
    /// a node is no domain of any constraint).
    fn domains_of(&self, node: &NodeInfo) -> Option<Vec<u32>> {
        let mut ids = Vec::with_capacity(self.spreads.len());
        for sp in &self.spreads {
            match sp.domains.of(node) {
                NONE => return None,
                d => ids.push(d),
            }
        }
        Some(ids)
    }

    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, by: i64) {
        let Some(ids) = self.domains_of(node) else { return };
        for (sp, d) in self.spreads.iter_mut().zip(ids) {
            let c = &sp.constraint;
            if !c.includes(pod, node, &self.affinity) || !c.counts(other, &pod.namespace) {
                continue;
            }
            sp.add(d, by);
            sp.recompute_min();
        }
    }
}

/// The nodes of the domains that admit the pod, when one constraint narrows the
/// cluster to at most half of it: the scheduler then filters only those (a pod
/// spread over zones would otherwise visit every node of the full zones).
/// Constraints with many domains (hostname) are not worth the walk.
fn candidates(s: &FilterState, snap: &Snapshot) -> Option<Vec<usize>> {
    let mut best: Option<Vec<usize>> = None;
    for sp in &s.spreads {
        // No node has the key: none fits (the filter says why).
        if sp.domains.is_empty() {
            return Some(Vec::new());
        }
        if sp.domains.len() * 4 > snap.len() {
            continue;
        }
        let admitted = || (0..sp.domains.len()).filter(|d| sp.admits(*d as u32)).map(|d| &sp.domains.nodes[d]);
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
            state.skip_filter(NAME);
            return Fit::Fits;
        }
        let key = memo_key(pod);
        let mut memo = self.memo.lock().expect("memo lock");
        // Domain ids are only comparable within one topology.
        let same_cluster = |m: &&mut Memo| m.key == key && Arc::ptr_eq(&m.state.topology, &snap.topology);
        if let Some(m) = memo.as_mut().filter(same_cluster) {
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
        let spreads = cs.into_iter().map(|c| Spread::new(c, pod, &snap.topology)).collect();
        let affinity = RequiredNodeAffinity::new(pod);
        let mut s = FilterState { spreads, affinity, topology: snap.topology.clone() };
        for node in &snap.nodes {
            let Some(ids) = s.domains_of(node) else { continue };
            for (sp, d) in s.spreads.iter_mut().zip(ids) {
                if sp.constraint.includes(pod, node, &s.affinity) {
                    let n = sp.constraint.count(&node.pods, &pod.namespace);
                    sp.add(d, n);
                }
            }
        }
        s.spreads.iter_mut().for_each(Spread::recompute_min);
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
        for sp in &s.spreads {
            let d = sp.domains.of(node);
            if d == NONE {
                return Fit::unresolvable(REASON_MISSING_LABEL);
            }
            if !sp.admits(d) {
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
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[&NodeInfo], snap: &Snapshot) -> bool {
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

    fn normalize(&self, state: &CycleState, nodes: &[&NodeInfo], scores: &mut [i64]) {
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
    fn min_domains_counts_missing_domains_as_empty() {
        // z1 and z2 hold one web pod each: the minimum is 1, so maxSkew 1 admits both,
        // unless minDomains asks for more domains than exist (the minimum is then 0).
        let web = |name: &str, n: &str| pod(name).labels(&[("app", "web")]).node(n).build();
        let mut n1 = NodeInfo::new(node("n1").label("zone", "z1").build());
        n1.add_pod(web("a", "n1"));
        let mut n2 = NodeInfo::new(node("n2").label("zone", "z2").build());
        n2.add_pod(web("b", "n2"));
        let snap = Snapshot::from_nodes(vec![n1, n2]);
        for (min_domains, want) in [(None, [true, true]), (Some(2), [true, true]), (Some(3), [false, false])] {
            let p = spread(pod("p"), "zone", 1, "DoNotSchedule")
                .with_spec(|s| s.topology_spread_constraints.as_mut().unwrap()[0].min_domains = min_domains)
                .info();
            let fits: Vec<bool> = filter_all(&p, &snap).iter().map(Fit::fits).collect();
            assert_eq!(fits, want, "minDomains {min_domains:?}");
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
        assert!(PodTopologySpread::default().pre_score(&mut s, &p, &snap.refs(), &snap));
        let mut scores: Vec<i64> =
            snap.nodes.iter().map(|n| PodTopologySpread::default().score(&s, &p, n, &snap)).collect();
        // weight ln(2 zones + 2) = 1.386; z1: 3 * 1.386 = 4.16 → 4; z2: 0.
        assert_eq!(scores, [4, 4, 0, 0]);
        PodTopologySpread::default().normalize(&s, &snap.refs(), &mut scores);
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
