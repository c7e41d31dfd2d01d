//! InterPodAffinity: required pod affinity / anti-affinity (of the incoming pod,
//! and existing pods' anti-affinity against it) filter nodes by topology domain;
//! preferred terms (both directions) score them.

use std::collections::HashMap as StdHashMap;

// foldhash: these maps are probed once per node per cycle; SipHash showed in profiles.
use foldhash::HashMap;
use std::sync::Arc;

use crate::changes::Change;
use crate::framework::{CycleState, Filter, Fit, Plugin, PreFilter, Score, MAX_NODE_SCORE};
use crate::node_info::NodeInfo;
use crate::pod_info::{AffinityTerm, NamespaceLabels, PodInfo, WeightedAffinityTerm};
use crate::selector::Labels;
use crate::snapshot::Snapshot;
use crate::topology::{Domains, Topology, NONE};

pub const NAME: &str = "InterPodAffinity";
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const REASON_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

/// Matching pods per topology domain: per topology key, a count by domain id
/// (see [`crate::topology`]), so the per-node filter does array lookups.
#[derive(Clone, Default, Debug)]
struct Counts {
    /// Few keys (one per distinct term key): searched linearly.
    keys: Vec<KeyCounts>,
    /// Domains whose count is not 0: `is_empty` means "no domain".
    nonzero: usize,
}

#[derive(Clone, Debug)]
struct KeyCounts {
    key: String,
    domains: Arc<Domains>,
    counts: Vec<i64>,
}

impl Counts {
    /// The count of `node`'s domain of `key` (0 when the node lacks the key).
    #[inline]
    fn get(&self, key: &str, node: &NodeInfo) -> i64 {
        self.keys.iter().find(|k| k.key == key).map_or(0, |k| k.get(node))
    }

    fn is_empty(&self) -> bool {
        self.nonzero == 0
    }

    /// Adds `by` to `node`'s domain of `key`, if the node has the key.
    fn update(&mut self, topology: &Topology, node: &NodeInfo, key: &str, by: i64) {
        let i = match self.keys.iter().position(|k| k.key == key) {
            Some(i) => i,
            None => {
                let domains = topology.domains(key);
                if domains.of(node) == NONE {
                    return;
                }
                let counts = vec![0; domains.len()];
                self.keys.push(KeyCounts { key: key.to_string(), domains, counts });
                self.keys.len() - 1
            }
        };
        let k = &mut self.keys[i];
        let d = k.domains.of(node);
        if d == NONE {
            return;
        }
        let count = &mut k.counts[d as usize];
        let was = *count;
        *count += by;
        match (was == 0, *count == 0) {
            (true, false) => self.nonzero += 1,
            (false, true) => self.nonzero -= 1,
            _ => {}
        }
    }
}

impl KeyCounts {
    #[inline]
    fn get(&self, node: &NodeInfo) -> i64 {
        match self.domains.of(node) {
            NONE => 0,
            d => self.counts[d as usize],
        }
    }
}

fn matches_all(terms: &[AffinityTerm], pod: &PodInfo, ns: &dyn NamespaceLabels) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, ns))
}

#[derive(Clone, Default)]
struct FilterState {
    /// Domains where an existing pod's required anti-affinity rejects the incoming pod.
    existing_anti_affinity: Counts,
    /// Domains holding pods that match all of the incoming pod's affinity terms.
    affinity: Counts,
    /// Domains holding pods the incoming pod's anti-affinity terms select.
    anti_affinity: Counts,
    namespaces: Arc<StdHashMap<String, Labels>>,
    /// The topology the domain ids refer to.
    topology: Arc<Topology>,
    /// The domains of each of the incoming pod's required affinity terms' keys.
    affinity_domains: Vec<Arc<Domains>>,
}

struct NsLabels<'a>(&'a StdHashMap<String, Labels>);

impl NamespaceLabels for NsLabels<'_> {
    fn namespace_labels(&self, namespace: &str) -> Option<&Labels> {
        self.0.get(namespace)
    }
}

impl FilterState {
    fn new(pod: &PodInfo, snap: &Snapshot) -> FilterState {
        FilterState {
            namespaces: snap.namespaces.clone(),
            topology: snap.topology.clone(),
            affinity_domains: pod.required_affinity.iter().map(|t| snap.topology.domains(&t.topology_key)).collect(),
            ..Default::default()
        }
    }

    /// Counts `existing` (on `node`) `by` times (+1 add, -1 remove).
    fn update_with(&mut self, pod: &PodInfo, existing: &PodInfo, node: &NodeInfo, by: i64) {
        let ns = NsLabels(&self.namespaces);
        let topology = &*self.topology;
        for t in existing.required_anti_affinity.iter().filter(|t| t.matches(pod, &ns)) {
            self.existing_anti_affinity.update(topology, node, &t.topology_key, by);
        }
        if matches_all(&pod.required_affinity, existing, &ns) {
            for t in &pod.required_affinity {
                self.affinity.update(topology, node, &t.topology_key, by);
            }
        }
        for t in pod.required_anti_affinity.iter().filter(|t| t.matches(existing, &ns)) {
            self.anti_affinity.update(topology, node, &t.topology_key, by);
        }
    }
}

/// The filter state of the last pod with terms of its own, to bring up to date
/// for the next pod of the same shape (see [`crate::changes`]).
struct Memo {
    key: String,
    log_id: u64,
    generation: u64,
    state: FilterState,
}

/// Everything the filter state depends on besides the cluster.
fn memo_key(pod: &PodInfo) -> String {
    let affinity = pod.spec().affinity.as_ref();
    format!(
        "{}|{:?}|{:?}|{:?}",
        pod.namespace,
        pod.labels,
        affinity.and_then(|a| a.pod_affinity.as_ref()).map(|a| &a.required_during_scheduling_ignored_during_execution),
        affinity
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .map(|a| &a.required_during_scheduling_ignored_during_execution)
    )
}

/// The plugin; `hard_pod_affinity_weight` is how much an existing pod's required
/// affinity towards the incoming pod counts in scoring (upstream default 1).
pub struct InterPodAffinity {
    pub hard_pod_affinity_weight: i64,
    memo: std::sync::Mutex<Option<Memo>>,
}

impl InterPodAffinity {
    pub fn new(hard_pod_affinity_weight: i64) -> InterPodAffinity {
        InterPodAffinity { hard_pod_affinity_weight, memo: std::sync::Mutex::new(None) }
    }
}

impl Default for InterPodAffinity {
    fn default() -> Self {
        InterPodAffinity::new(1)
    }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreFilter for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snap: &Snapshot) -> Fit {
        let mut s = FilterState::new(pod, snap);
        let own_terms = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if own_terms {
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
                            m.state.update_with(pod, other, node, by);
                        }
                    }
                    m.generation = snap.generation;
                    state.write(NAME, m.state.clone());
                    return Fit::Fits;
                }
            }
            for node in &snap.nodes {
                for existing in &node.pods {
                    s.update_with(pod, existing, node, 1);
                }
            }
            *memo = Some(Memo { key, log_id: snap.changes.id, generation: snap.generation, state: s.clone() });
        } else {
            // Only existing pods' anti-affinity can matter: visit just their nodes.
            for node in snap.nodes_with_required_anti_affinity() {
                for existing in node.pods.iter().filter(|p| !p.required_anti_affinity.is_empty()) {
                    s.update_with(pod, existing, node, 1);
                }
            }
            if s.existing_anti_affinity.is_empty() {
                state.skip_filter(NAME);
                return Fit::Fits;
            }
        }
        state.write(NAME, s);
        Fit::Fits
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update_with(pod, other, node, 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update_with(pod, other, node, -1);
        }
    }
}

impl Filter for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Fit {
        let Some(s) = state.read::<FilterState>(NAME) else { return Fit::Fits };
        // Affinity: every term's domain here must hold a matching pod...
        let mut pods_exist = true;
        for (t, domains) in pod.required_affinity.iter().zip(&s.affinity_domains) {
            if domains.of(node) == NONE {
                return Fit::unresolvable(REASON_AFFINITY);
            }
            if s.affinity.get(&t.topology_key, node) <= 0 {
                pods_exist = false;
            }
        }
        // ...unless no pod matches anywhere and the pod matches its own terms: the
        // first pod of a group that wants to be together must be able to start.
        if !pods_exist {
            let first_of_group =
                s.affinity.is_empty() && matches_all(&pod.required_affinity, pod, &NsLabels(&s.namespaces));
            if !first_of_group {
                return Fit::unresolvable(REASON_AFFINITY);
            }
        }
        for t in &pod.required_anti_affinity {
            if s.anti_affinity.get(&t.topology_key, node) > 0 {
                return Fit::unschedulable(REASON_ANTI_AFFINITY);
            }
        }
        // Few topology keys: walk them.
        if !s.existing_anti_affinity.is_empty() && s.existing_anti_affinity.keys.iter().any(|k| k.get(node) > 0) {
            return Fit::unschedulable(REASON_EXISTING_ANTI_AFFINITY);
        }
        Fit::Fits
    }
}

/// Topology key → value → score.
#[derive(Clone, Default)]
struct ScoreState(HashMap<String, HashMap<String, i64>>);

impl ScoreState {
    fn add_terms(
        &mut self,
        terms: &[WeightedAffinityTerm],
        pod: &PodInfo,
        ns: &dyn NamespaceLabels,
        labels: &Labels,
        sign: i64,
    ) {
        for t in terms {
            if let Some(v) = labels.get(&t.term.topology_key) {
                if t.term.matches(pod, ns) {
                    *self.0.entry(t.term.topology_key.clone()).or_default().entry(v.clone()).or_default() +=
                        sign * t.weight;
                }
            }
        }
    }
}

impl Score for InterPodAffinity {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _nodes: &[&NodeInfo], snap: &Snapshot) -> bool {
        let has_preferred = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        let mut s = ScoreState::default();
        // Without preferred terms of its own, only existing pods whose terms score
        // others matter (required anti-affinity alone does not score).
        let nodes: Box<dyn Iterator<Item = &NodeInfo>> =
            if has_preferred { Box::new(snap.nodes.iter()) } else { Box::new(snap.nodes_with_scoring_terms()) };
        for node in nodes {
            if node.labels.is_empty() {
                continue;
            }
            for existing in &node.pods {
                if !has_preferred && !crate::node_info::has_scoring_terms(existing) {
                    continue;
                }
                s.add_terms(&pod.preferred_affinity, existing, snap, &node.labels, 1);
                s.add_terms(&pod.preferred_anti_affinity, existing, snap, &node.labels, -1);
                if self.hard_pod_affinity_weight > 0 {
                    for t in &existing.required_affinity {
                        if let Some(v) = node.labels.get(&t.topology_key) {
                            if t.matches(pod, snap) {
                                *s.0.entry(t.topology_key.clone()).or_default().entry(v.clone()).or_default() +=
                                    self.hard_pod_affinity_weight;
                            }
                        }
                    }
                }
                s.add_terms(&existing.preferred_affinity, pod, snap, &node.labels, 1);
                s.add_terms(&existing.preferred_anti_affinity, pod, snap, &node.labels, -1);
            }
        }
        if s.0.is_empty() {
            return false;
        }
        state.write(NAME, s);
        true
    }

    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo, _snap: &Snapshot) -> i64 {
        let Some(s) = state.read::<ScoreState>(NAME) else { return 0 };
        s.0.iter().filter_map(|(key, values)| node.labels.get(key).and_then(|v| values.get(v))).sum()
    }

    fn normalize(&self, _state: &CycleState, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        let (Some(min), Some(max)) = (scores.iter().min().copied(), scores.iter().max().copied()) else { return };
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 { (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64 } else { 0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;
    use k8s_openapi::api::core::v1::{
        Affinity, PodAffinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn term(app: &str, key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector { match_labels: Some(labels(&[("app", app)])), ..Default::default() }),
            topology_key: key.into(),
            ..Default::default()
        }
    }

    fn affinity(b: PodBuilder, req: Vec<PodAffinityTerm>, anti: Vec<PodAffinityTerm>) -> PodBuilder {
        b.with_spec(|s| {
            s.affinity = Some(Affinity {
                pod_affinity: (!req.is_empty()).then(|| PodAffinity {
                    required_during_scheduling_ignored_during_execution: Some(req),
                    ..Default::default()
                }),
                pod_anti_affinity: (!anti.is_empty()).then(|| PodAntiAffinity {
                    required_during_scheduling_ignored_during_execution: Some(anti),
                    ..Default::default()
                }),
                ..Default::default()
            })
        })
    }

    /// Zones z1 (n1, n2) and z2 (n3); a `db` pod on n1, an anti-affine `lonely` pod on n3.
    fn cluster() -> Snapshot {
        let mut n1 = NodeInfo::new(node("n1").label("zone", "z1").build());
        let n2 = NodeInfo::new(node("n2").label("zone", "z1").build());
        let mut n3 = NodeInfo::new(node("n3").label("zone", "z2").build());
        n1.add_pod(pod("db").labels(&[("app", "db")]).node("n1").build());
        n3.add_pod(
            affinity(pod("lonely").labels(&[("app", "lonely")]), vec![], vec![term("web", "zone")]).node("n3").build(),
        );
        Snapshot::from_nodes(vec![n1, n2, n3])
    }

    fn feasible(p: PodInfo) -> Vec<String> {
        let snap = cluster();
        let mut s = CycleState::new();
        InterPodAffinity::default().pre_filter(&mut s, &p, &snap);
        snap.nodes
            .iter()
            .filter(|n| InterPodAffinity::default().filter(&s, &p, n).fits())
            .map(|n| n.name.clone())
            .collect()
    }

    #[test]
    fn filter_table() {
        let cases: Vec<(PodInfo, Vec<&str>)> = vec![
            (pod("p").info(), vec!["n1", "n2", "n3"]),
            // Wants a db pod in the same zone: z1.
            (affinity(pod("p"), vec![term("db", "zone")], vec![]).info(), vec!["n1", "n2"]),
            // Wants a db pod on the same host.
            (affinity(pod("p"), vec![term("db", "kubernetes.io/hostname")], vec![]).info(), vec!["n1"]),
            // Avoids db's zone.
            (affinity(pod("p"), vec![], vec![term("db", "zone")]).info(), vec!["n3"]),
            // A web pod is kept out of z2 by the existing pod's anti-affinity.
            (pod("w").labels(&[("app", "web")]).info(), vec!["n1", "n2"]),
            // Affinity to a group nobody belongs to yet, but the pod matches itself: first of its kind.
            (
                affinity(pod("c").labels(&[("app", "cache")]), vec![term("cache", "zone")], vec![]).info(),
                vec!["n1", "n2", "n3"],
            ),
            // Affinity to a group nobody belongs to, not matching itself: nowhere.
            (affinity(pod("c"), vec![term("cache", "zone")], vec![]).info(), vec![]),
        ];
        for (i, (p, want)) in cases.into_iter().enumerate() {
            assert_eq!(feasible(p), want, "case {i}");
        }
    }

    #[test]
    fn reasons_follow_upstream() {
        let snap = cluster();
        let p = affinity(pod("p"), vec![], vec![term("db", "zone")]).info();
        let mut s = CycleState::new();
        InterPodAffinity::default().pre_filter(&mut s, &p, &snap);
        assert_eq!(
            InterPodAffinity::default().filter(&s, &p, snap.get("n1").unwrap()),
            Fit::unschedulable(REASON_ANTI_AFFINITY)
        );
        let w = pod("w").labels(&[("app", "web")]).info();
        let mut s = CycleState::new();
        InterPodAffinity::default().pre_filter(&mut s, &w, &snap);
        assert_eq!(
            InterPodAffinity::default().filter(&s, &w, snap.get("n3").unwrap()),
            Fit::unschedulable(REASON_EXISTING_ANTI_AFFINITY)
        );
    }

    #[test]
    fn removing_a_pod_in_a_what_if_lifts_anti_affinity() {
        let snap = cluster();
        let p = affinity(pod("p"), vec![], vec![term("db", "zone")]).info();
        let plugin = InterPodAffinity::default();
        let mut s = CycleState::new();
        plugin.pre_filter(&mut s, &p, &snap);
        let n1 = snap.get("n1").unwrap();
        plugin.remove_pod(&mut s, &p, &n1.pods[0], n1);
        assert!(plugin.filter(&s, &p, n1).fits());
    }

    #[test]
    fn removing_an_existing_anti_affine_pod_lifts_its_rule() {
        // The `lonely` pod on n3 keeps web pods out of z2; take it away in a what-if
        // (its domain's count drops to 0) and n3 fits; put it back and it does not.
        let snap = cluster();
        let w = pod("w").labels(&[("app", "web")]).info();
        let plugin = InterPodAffinity::default();
        let mut s = CycleState::new();
        plugin.pre_filter(&mut s, &w, &snap);
        let n3 = snap.get("n3").unwrap();
        assert!(!plugin.filter(&s, &w, n3).fits());
        plugin.remove_pod(&mut s, &w, &n3.pods[0], n3);
        assert!(plugin.filter(&s, &w, n3).fits());
        plugin.add_pod(&mut s, &w, &n3.pods[0], n3);
        assert_eq!(plugin.filter(&s, &w, n3), Fit::unschedulable(REASON_EXISTING_ANTI_AFFINITY));
    }

    #[test]
    fn preferred_terms_score_by_domain() {
        let snap = cluster();
        let p = pod("p")
            .with_spec(|s| {
                s.affinity = Some(Affinity {
                    pod_affinity: Some(PodAffinity {
                        preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                            weight: 10,
                            pod_affinity_term: term("db", "zone"),
                        }]),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            })
            .info();
        let plugin = InterPodAffinity::default();
        let mut s = CycleState::new();
        assert!(plugin.pre_score(&mut s, &p, &snap.refs(), &snap));
        let mut scores: Vec<i64> = snap.nodes.iter().map(|n| plugin.score(&s, &p, n, &snap)).collect();
        assert_eq!(scores, [10, 10, 0]);
        plugin.normalize(&s, &snap.refs(), &mut scores);
        assert_eq!(scores, [100, 100, 0]);
    }

    #[test]
    fn remembered_state_matches_a_fresh_one() {
        use crate::cache::Cache;
        use rand::{Rng, SeedableRng};
        let mut cache = Cache::new();
        for i in 0..6 {
            cache.add_node(node(&format!("n{i}")).label("zone", &format!("z{}", i % 3)).build());
        }
        let remembered = InterPodAffinity::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut placed: Vec<String> = Vec::new();
        for step in 0..300 {
            // Wants a db pod in its zone, shuns web pods on its host.
            let p = affinity(
                pod(&format!("incoming-{step}")).labels(&[("app", "web")]),
                vec![term("db", "zone")],
                vec![term("web", "kubernetes.io/hostname")],
            )
            .info();
            let snap = cache.snapshot();
            let (mut a, mut b) = (CycleState::new(), CycleState::new());
            remembered.pre_filter(&mut a, &p, &snap);
            let fresh = InterPodAffinity::default();
            fresh.pre_filter(&mut b, &p, &snap);
            for n in &snap.nodes {
                assert_eq!(remembered.filter(&a, &p, n), fresh.filter(&b, &p, n), "step {step}, node {}", n.name);
            }
            match rng.gen_range(0..10) {
                0..=5 => {
                    let node = format!("n{}", rng.gen_range(0..6));
                    let name = format!("p-{step}");
                    let app = if rng.gen_bool(0.5) { "web" } else { "db" };
                    let b = pod(&name).labels(&[("app", app)]);
                    // Some existing pods carry anti-affinity against web pods.
                    let b = if rng.gen_bool(0.3) { affinity(b, vec![], vec![term("web", "zone")]) } else { b };
                    cache.assume(Arc::new(b.info().assumed_on(&node))).unwrap();
                    placed.push(format!("uid-{name}"));
                }
                6..=8 if !placed.is_empty() => {
                    let uid = placed.swap_remove(rng.gen_range(0..placed.len()));
                    cache.remove_pod(&uid);
                }
                _ => cache.add_node(node(&format!("extra-{step}")).label("zone", "z1").build()),
            }
        }
    }
}
