//! `Profile`: the plugins of one scheduler name, in order, with score weights.

use std::sync::Arc;

use super::{CycleState, Filter, Fit, PreFilter, Reserve, Score};
use crate::node_info::{prefetch, NodeInfo, PREFETCH_AHEAD};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// A score plugin and its weight.
#[derive(Clone)]
pub struct ScorePlugin {
    pub plugin: Arc<dyn Score>,
    pub weight: i64,
}

/// One scheduling profile (upstream: a framework instance per `schedulerName`).
#[derive(Clone)]
pub struct Profile {
    pub scheduler_name: String,
    pub pre_filters: Vec<Arc<dyn PreFilter>>,
    pub filters: Vec<Arc<dyn Filter>>,
    pub scorers: Vec<ScorePlugin>,
    pub reservers: Vec<Arc<dyn Reserve>>,
    /// `None`: adapt to cluster size like upstream (50% minus 1% per 125 nodes, at least 5%).
    pub percentage_of_nodes_to_score: Option<u32>,
    /// Whether DefaultPreemption is enabled.
    pub preemption: bool,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("scheduler_name", &self.scheduler_name)
            .field("pre_filters", &self.pre_filters.iter().map(|p| p.name()).collect::<Vec<_>>())
            .field("filters", &self.filters.iter().map(|p| p.name()).collect::<Vec<_>>())
            .field("scorers", &self.scorers.iter().map(|s| (s.plugin.name(), s.weight)).collect::<Vec<_>>())
            .field("reservers", &self.reservers.iter().map(|p| p.name()).collect::<Vec<_>>())
            .field("preemption", &self.preemption)
            .finish()
    }
}

impl Profile {
    /// Runs every PreFilter; the first rejection (with its plugin name) wins.
    /// Filters a PreFilter marked as having nothing to check are left out of
    /// this cycle's [`Profile::run_filters`].
    pub fn run_pre_filters(&self, state: &mut CycleState, pod: &PodInfo, snap: &Snapshot) -> Result<(), Fit> {
        for p in &self.pre_filters {
            let fit = p.pre_filter(state, pod, snap);
            if !fit.fits() {
                return Err(fit);
            }
        }
        let mut active = u64::MAX;
        for (i, f) in self.filters.iter().enumerate().take(64) {
            if state.filter_skipped(f.name()) {
                active &= !(1 << i);
            }
        }
        state.set_active_filters(active);
        Ok(())
    }

    /// Runs the filters on one node; the first that fails decides (as upstream).
    /// Called for hundreds of nodes per pod: filters a PreFilter skipped are not
    /// even looked at.
    pub fn run_filters(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Fit {
        let (masked, always) = self.filters.split_at(self.filters.len().min(64));
        let mut bits = state.active_filters();
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some(f) = masked.get(i) else { break };
            let fit = f.filter(state, pod, node);
            if !fit.fits() {
                return fit;
            }
        }
        // The mask names only the first 64 filters: the rest always run.
        for f in always {
            let fit = f.filter(state, pod, node);
            if !fit.fits() {
                return fit;
            }
        }
        Fit::Fits
    }

    /// Tells the PreFilter plugins that `other` joins `node` (in a what-if).
    /// Every filter runs from then on: a skip decided without `other` (its
    /// anti-affinity, say) may no longer hold.
    pub fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        state.run_every_filter();
        self.pre_filters.iter().for_each(|p| p.add_pod(state, pod, other, node));
    }

    /// Tells the PreFilter plugins that `other` leaves `node` (in a what-if).
    pub fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo) {
        self.pre_filters.iter().for_each(|p| p.remove_pod(state, pod, other, node));
    }

    /// Total weighted scores, parallel to `nodes`.
    pub fn run_scores(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[&NodeInfo], snap: &Snapshot) -> Vec<i64> {
        let mut totals = vec![0i64; nodes.len()];
        let mut scores = vec![0i64; nodes.len()];
        // The filters' loads of the first nodes are long gone from the nearest
        // caches by the time scoring starts: the first pass asks for them ahead.
        let mut first = true;
        for s in &self.scorers {
            if !s.plugin.pre_score(state, pod, nodes, snap) {
                continue;
            }
            for (i, (score, node)) in scores.iter_mut().zip(nodes).enumerate() {
                if first {
                    if let Some(ahead) = nodes.get(i + PREFETCH_AHEAD) {
                        prefetch(ahead);
                    }
                }
                *score = s.plugin.score(state, pod, node, snap);
            }
            first = false;
            s.plugin.normalize(state, nodes, &mut scores);
            for (t, score) in totals.iter_mut().zip(&scores) {
                *t += score * s.weight;
            }
        }
        totals
    }

    /// Runs Reserve on each plugin; on a failure undoes the ones that succeeded.
    pub fn run_reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Fit {
        for (i, r) in self.reservers.iter().enumerate() {
            let fit = r.reserve(state, pod, node);
            if !fit.fits() {
                for done in self.reservers[..=i].iter().rev() {
                    done.unreserve(state, pod, node);
                }
                return fit;
            }
        }
        Fit::Fits
    }

    /// Undoes every Reserve, in reverse order.
    pub fn run_unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) {
        self.reservers.iter().rev().for_each(|r| r.unreserve(state, pod, node));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::testing::*;

    /// Rejects every node, unless its PreFilter saw a pod named "skip".
    struct Picky;

    impl crate::framework::Plugin for Picky {
        fn name(&self) -> &'static str {
            "Picky"
        }
    }

    impl PreFilter for Picky {
        fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, _snap: &Snapshot) -> Fit {
            if pod.pod.metadata.name.as_deref() == Some("skip") {
                state.skip_filter("Picky");
            }
            Fit::Fits
        }
    }

    impl Filter for Picky {
        fn filter(&self, _state: &CycleState, _pod: &PodInfo, _node: &NodeInfo) -> Fit {
            Fit::unresolvable("picky")
        }
    }

    /// Rejects every node, with its own reason.
    struct Rejects(&'static str);

    impl crate::framework::Plugin for Rejects {
        fn name(&self) -> &'static str {
            self.0
        }
    }

    impl Filter for Rejects {
        fn filter(&self, _state: &CycleState, _pod: &PodInfo, _node: &NodeInfo) -> Fit {
            Fit::unresolvable(self.0)
        }
    }

    fn profile() -> Profile {
        with_filters(vec![Arc::new(Picky)])
    }

    fn with_filters(filters: Vec<Arc<dyn Filter>>) -> Profile {
        Profile {
            scheduler_name: "test".into(),
            pre_filters: vec![Arc::new(Picky)],
            filters,
            scorers: Vec::new(),
            reservers: Vec::new(),
            percentage_of_nodes_to_score: None,
            preemption: false,
        }
    }

    #[test]
    fn a_filter_its_prefilter_skipped_is_not_run_until_a_what_if_adds_a_pod() {
        let (profile, snap) = (profile(), Snapshot::default());
        let node = NodeInfo::new(node("n").build());
        let mut state = CycleState::new();
        let checked = pod("p").info();
        profile.run_pre_filters(&mut state, &checked, &snap).unwrap();
        assert!(!profile.run_filters(&state, &checked, &node).fits());

        let mut state = CycleState::new();
        let skipped = pod("skip").info();
        profile.run_pre_filters(&mut state, &skipped, &snap).unwrap();
        assert!(profile.run_filters(&state, &skipped, &node).fits());
        profile.add_pod(&mut state, &skipped, &pod("other").info(), &node);
        assert!(!profile.run_filters(&state, &skipped, &node).fits());
    }

    #[test]
    fn the_first_active_filter_in_order_decides() {
        let snap = Snapshot::default();
        let node = NodeInfo::new(node("n").build());
        let reason = |profile: &Profile, name: &str| {
            let (mut state, p) = (CycleState::new(), pod(name).info());
            profile.run_pre_filters(&mut state, &p, &snap).unwrap();
            profile.run_filters(&state, &p, &node).reasons().iter().map(|r| r.to_string()).collect::<Vec<_>>()
        };
        let two = with_filters(vec![Arc::new(Picky), Arc::new(Rejects("later"))]);
        assert_eq!(reason(&two, "p"), ["picky"]);
        assert_eq!(reason(&two, "skip"), ["later"]);
        // Past 64 filters the mask cannot say: every filter from the 65th on runs.
        let mut many: Vec<Arc<dyn Filter>> = (0..64).map(|_| Arc::new(Picky) as Arc<dyn Filter>).collect();
        many.push(Arc::new(Rejects("65th")));
        let many = with_filters(many);
        assert_eq!(reason(&many, "p"), ["picky"]);
        assert_eq!(reason(&many, "skip"), ["65th"]);
    }
}
