//! One scheduling decision: which node for this pod, or why none (upstream's
//! `schedulePod`: PreFilter, Filter over an adaptive share of the nodes starting
//! where the last cycle stopped, Score, pick the best with random tie-breaks).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rand::{Rng, RngCore};

use crate::framework::{CycleState, Fit, Profile};
use crate::node_info::{prefetch, NodeInfo, PREFETCH_AHEAD};
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// Message when the cluster has no nodes at all.
pub const NO_NODES_MSG: &str = "no nodes available to schedule pods";

/// Below this many nodes, every node is evaluated.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never drops below this.
const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;

/// How many feasible nodes to look for before scoring (upstream's
/// `numFeasibleNodesToFind`): all below 100 nodes; otherwise `percentage` of them,
/// adapting as `50 - nodes/125` (at least 5%) when not configured; never under 100.
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, num_all: usize) -> usize {
    if num_all < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all;
    }
    let percentage = match percentage {
        Some(p) if p > 0 => (p as usize).min(100),
        _ => 50usize.saturating_sub(num_all / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE),
    };
    (num_all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Where the pod goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleResult {
    pub node: String,
    /// Nodes filtered.
    pub evaluated: usize,
    /// Of those, how many fit.
    pub feasible: usize,
}

/// Why a pod fits nowhere; `Display` gives upstream's exact message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitError {
    pub num_all_nodes: usize,
    /// Set when a PreFilter rejected the pod for every node.
    pub pre_filter_msg: Option<String>,
    /// Each evaluated node's verdict.
    pub node_fits: Vec<(String, Fit)>,
    /// Preemption's explanation, if it ran and did not help.
    pub post_filter_msg: Option<String>,
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0/{} nodes are available:", self.num_all_nodes)?;
        match &self.pre_filter_msg {
            Some(msg) => write!(f, " {msg}.")?,
            None => {
                let histogram = reason_histogram(self.node_fits.iter().map(|(_, fit)| fit));
                if !histogram.is_empty() {
                    write!(f, " {histogram}.")?;
                }
            }
        }
        if let Some(msg) = &self.post_filter_msg {
            write!(f, " {msg}.")?;
        }
        Ok(())
    }
}

/// `"1 Insufficient cpu, 2 node(s) had untolerated taint {a: b}"`: each reason with
/// the number of nodes giving it, sorted as strings (as upstream does).
pub fn reason_histogram<'a>(fits: impl Iterator<Item = &'a Fit>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for fit in fits {
        for r in fit.reasons() {
            *counts.entry(r).or_default() += 1;
        }
    }
    let mut parts: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// Why scheduling failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    /// The cluster has no nodes.
    NoNodes,
    /// No node fits.
    Unfit(FitError),
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleError::NoNodes => f.write_str(NO_NODES_MSG),
            ScheduleError::Unfit(e) => e.fmt(f),
        }
    }
}

/// Pods nominated to nodes (by preemption), by node name. Filters count those of
/// equal or higher priority as already there, so the room preemption made is kept
/// for them.
pub type Nominated = std::collections::HashMap<String, Vec<Arc<PodInfo>>>;

/// Runs the filters on `node`, counting nominated pods that outrank (or tie) `pod`.
pub fn filter_with_nominated(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    nominated: &Nominated,
) -> Fit {
    // Nominations are rare: skip hashing the node's name on every filter call.
    if nominated.is_empty() {
        return profile.run_filters(state, pod, node);
    }
    let extra: Vec<&Arc<PodInfo>> = nominated
        .get(&node.name)
        .into_iter()
        .flatten()
        .filter(|p| p.uid != pod.uid && p.priority >= pod.priority)
        .collect();
    if extra.is_empty() {
        return profile.run_filters(state, pod, node);
    }
    let mut node = node.clone();
    let mut state = state.clone();
    for p in extra {
        let p = Arc::new(p.assumed_on(&node.name));
        profile.add_pod(&mut state, pod, &p, &node);
        node.add_pod(p);
    }
    profile.run_filters(&state, pod, &node)
}

/// The part of scheduling that remembers something between cycles: where the
/// next search starts, so successive pods spread their evaluation over all nodes.
#[derive(Debug, Default)]
pub struct Algorithm {
    next_start: usize,
}

impl Algorithm {
    /// Chooses a node for `pod`.
    ///
    /// # Errors
    /// [`ScheduleError::NoNodes`] on an empty cluster, [`ScheduleError::Unfit`] with
    /// every evaluated node's verdict when nothing fits.
    pub fn schedule(
        &mut self,
        profile: &Profile,
        state: &mut CycleState,
        pod: &PodInfo,
        snap: &Snapshot,
        nominated: &Nominated,
        rng: &mut dyn RngCore,
    ) -> Result<ScheduleResult, ScheduleError> {
        let n = snap.len();
        if n == 0 {
            return Err(ScheduleError::NoNodes);
        }
        if let Err(fit) = profile.run_pre_filters(state, pod, snap) {
            return Err(ScheduleError::Unfit(FitError {
                num_all_nodes: n,
                pre_filter_msg: Some(fit.reasons().join(", ")),
                node_fits: snap.nodes.iter().map(|node| (node.name.clone(), fit.clone())).collect(),
                post_filter_msg: None,
            }));
        }
        // A pod that preemption made room for tries that node first.
        let nominated_node = pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref());
        if let Some(node) = nominated_node.and_then(|name| snap.get(name)) {
            if filter_with_nominated(profile, state, pod, node, nominated).fits() {
                return Ok(ScheduleResult { node: node.name.clone(), evaluated: 1, feasible: 1 });
            }
        }
        let want = num_feasible_nodes_to_find(profile.percentage_of_nodes_to_score, n);
        let mut search = self.find_feasible(profile, state, pod, snap, nominated, want, state.candidates());
        if search.feasible.is_empty() && state.candidates().is_some() {
            // Nothing among the candidates: filter every node, for the reasons.
            search = self.find_feasible(profile, state, pod, snap, nominated, want, None);
        }
        let Search { feasible, rejected, processed } = search;
        if feasible.is_empty() {
            return Err(ScheduleError::Unfit(FitError {
                num_all_nodes: n,
                pre_filter_msg: None,
                node_fits: rejected.into_iter().map(|(node, fit)| (node.name.clone(), fit)).collect(),
                post_filter_msg: None,
            }));
        }
        let result = |node: &NodeInfo| ScheduleResult {
            node: node.name.clone(),
            evaluated: processed,
            feasible: feasible.len(),
        };
        if feasible.len() == 1 {
            return Ok(result(feasible[0]));
        }
        let scores = profile.run_scores(state, pod, &feasible, snap);
        Ok(result(feasible[select_host(&scores, rng)]))
    }
}

/// What one pass of filtering found.
struct Search<'s> {
    feasible: Vec<&'s NodeInfo>,
    /// Nodes that did not fit, with why. Names are copied only if nothing fits:
    /// most nodes of a large cluster may be rejected on the way to a feasible one.
    rejected: Vec<(&'s NodeInfo, Fit)>,
    processed: usize,
}

impl Algorithm {
    /// Filters nodes, starting where the last search stopped, until `want` fit:
    /// the nodes at the indices `among` (sorted) if given, else all nodes.
    #[allow(clippy::too_many_arguments)]
    fn find_feasible<'s>(
        &mut self,
        profile: &Profile,
        state: &CycleState,
        pod: &PodInfo,
        snap: &'s Snapshot,
        nominated: &Nominated,
        want: usize,
        among: Option<&[usize]>,
    ) -> Search<'s> {
        let n = snap.len();
        let len = among.map_or(n, <[usize]>::len);
        let first = among.map_or(self.next_start, |c| c.partition_point(|i| *i < self.next_start));
        // The snapshot index of the k-th node visited.
        let nth = |k: usize| match among {
            Some(c) => c[(first + k) % len],
            None => (first + k) % n,
        };
        let mut search = Search { feasible: Vec::new(), rejected: Vec::new(), processed: 0 };
        let mut last = None;
        for k in 0..len {
            let i = nth(k);
            let node = &snap.nodes[i];
            if k + PREFETCH_AHEAD < len {
                prefetch(&snap.nodes[nth(k + PREFETCH_AHEAD)]);
            }
            search.processed += 1;
            last = Some(i);
            let fit = filter_with_nominated(profile, state, pod, node, nominated);
            if fit.fits() {
                search.feasible.push(node);
                if search.feasible.len() >= want {
                    break;
                }
            } else {
                search.rejected.push((node, fit));
            }
        }
        if let Some(i) = last {
            self.next_start = (i + 1) % n;
        }
        search
    }
}

/// The index of the highest score; ties are broken uniformly at random, as
/// upstream's reservoir sampling does, but with one random draw rather than one
/// per tie (a fresh cluster's nodes all tie: hundreds of draws per decision).
pub fn select_host(scores: &[i64], rng: &mut dyn RngCore) -> usize {
    let Some(&max) = scores.iter().max() else { return 0 };
    let ties = scores.iter().filter(|s| **s == max).count();
    let pick = if ties > 1 { rng.gen_range(0..ties) } else { 0 };
    scores.iter().enumerate().filter(|(_, s)| **s == max).nth(pick).map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests;
