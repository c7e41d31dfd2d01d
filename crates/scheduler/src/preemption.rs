//! Preemption (upstream's DefaultPreemption): when a pod fits nowhere, find the
//! node where evicting the fewest, least important lower-priority pods makes it
//! fit, preferring victims whose PodDisruptionBudgets allow the disruption.

use std::collections::HashSet;
use std::sync::Arc;

use crate::framework::{CycleState, Fit, Profile};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::schedule::{filter_with_nominated, reason_histogram, FitError, Nominated};
use crate::selector::Selector;
use crate::snapshot::Snapshot;

pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// What preemption needs to know of a PodDisruptionBudget.
#[derive(Debug, Clone)]
pub struct Pdb {
    pub namespace: String,
    /// A missing or empty selector matches nothing here (upstream).
    pub selector: Selector,
    pub disruptions_allowed: i32,
    /// Pods the API server already counted as disrupted.
    pub disrupted_pods: HashSet<String>,
}

/// A node and the pods to evict there.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    /// Most important first.
    pub victims: Vec<Arc<PodInfo>>,
    /// How many victims' eviction would break a PodDisruptionBudget.
    pub pdb_violations: usize,
}

/// The result of trying to preempt.
#[derive(Debug, Clone)]
pub enum Preemption {
    /// Evict these pods and nominate the node.
    Candidate(Candidate),
    /// Preemption did not help; the message (prefixed with `preemption: `) joins
    /// the FailedScheduling message.
    Failed(String),
}

/// Upstream's `MoreImportantPod`: higher priority, then started earlier.
fn more_important(a: &PodInfo, b: &PodInfo) -> std::cmp::Ordering {
    b.priority.cmp(&a.priority).then_with(|| a.start_time().cmp(&b.start_time()))
}

/// Splits pods into (would violate a PDB, would not), consuming each budget's
/// allowance in order.
fn split_by_pdb(pods: &[Arc<PodInfo>], pdbs: &[Pdb]) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: Vec<i32> = pdbs.iter().map(|p| p.disruptions_allowed).collect();
    let (mut violating, mut fine) = (Vec::new(), Vec::new());
    for pod in pods {
        let mut violated = false;
        if !pod.labels.is_empty() {
            for (i, pdb) in pdbs.iter().enumerate() {
                if pdb.namespace != pod.namespace
                    || pdb.selector.is_everything()
                    || !pdb.selector.matches(&pod.labels)
                    || pdb.disrupted_pods.contains(&pod.name)
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(pod.clone());
        } else {
            fine.push(pod.clone());
        }
    }
    (violating, fine)
}

/// The fewest victims on `node` that let `pod` fit, or why there are none.
fn select_victims(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    pdbs: &[Pdb],
    nominated: &Nominated,
) -> Result<Candidate, Fit> {
    let mut what_if = node.clone();
    let mut state = state.clone();
    let mut potential: Vec<Arc<PodInfo>> = node.pods.iter().filter(|p| p.priority < pod.priority).cloned().collect();
    if potential.is_empty() {
        return Err(Fit::unresolvable(NO_VICTIMS));
    }
    for v in &potential {
        what_if.remove_pod(&v.uid);
        profile.remove_pod(&mut state, pod, v, &what_if);
    }
    let fit = filter_with_nominated(profile, &state, pod, &Arc::new(what_if.clone()), nominated);
    if !fit.fits() {
        return Err(fit);
    }
    potential.sort_by(|a, b| more_important(a, b));
    let (violating, fine) = split_by_pdb(&potential, pdbs);
    let mut victims = Vec::new();
    let mut pdb_violations = 0;
    // Try to keep each pod, most important (and PDB-protected) first.
    for (v, violates) in violating.iter().map(|v| (v, true)).chain(fine.iter().map(|v| (v, false))) {
        what_if.add_pod(v.clone());
        profile.add_pod(&mut state, pod, v, &what_if);
        if !filter_with_nominated(profile, &state, pod, &Arc::new(what_if.clone()), nominated).fits() {
            what_if.remove_pod(&v.uid);
            profile.remove_pod(&mut state, pod, v, &what_if);
            victims.push(v.clone());
            pdb_violations += usize::from(violates);
        }
    }
    victims.sort_by(|a, b| more_important(a, b));
    Ok(Candidate { node: node.name.clone(), victims, pdb_violations })
}

/// Upstream's `pickOneNodeForPreemption`: fewest PDB violations, then the lowest
/// highest-victim priority, the lowest priority sum, the fewest victims, the
/// latest start of the highest-priority victims, then the first.
fn pick(mut candidates: Vec<Candidate>) -> Option<Candidate> {
    let key = |c: &Candidate| {
        let top = c.victims.first().map_or(i64::MIN, |v| i64::from(v.priority));
        // Shift priorities positive so more victims always weigh more.
        let sum: i64 = c.victims.iter().map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1).sum();
        let latest_start = c
            .victims
            .iter()
            .filter(|v| i64::from(v.priority) == top)
            .filter_map(|v| v.start_time())
            .min()
            .map(|t| std::cmp::Reverse(t.timestamp_nanos_opt().unwrap_or(0)));
        (c.pdb_violations, top, sum, c.victims.len(), latest_start)
    };
    let best = candidates.iter().enumerate().min_by_key(|(i, c)| (key(c), *i)).map(|(i, _)| i)?;
    Some(candidates.swap_remove(best))
}

/// Tries to make room for `pod`, which failed with `fit_error`.
///
/// # Guarantees
/// Only pods of lower priority than `pod` are chosen as victims, all on one node,
/// and with them gone the pod passes every filter there.
pub fn preempt(
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    snap: &Snapshot,
    fit_error: &FitError,
    pdbs: &[Pdb],
    nominated: &Nominated,
) -> Preemption {
    if pod.spec().preemption_policy.as_deref() == Some("Never") {
        return Preemption::Failed("not eligible due to preemptionPolicy=Never".into());
    }
    // Already made room once: wait while those victims terminate.
    let nominated_node = pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref());
    if let Some(node) = nominated_node.and_then(|n| snap.get(n)) {
        if node.pods.iter().any(|p| p.terminating && p.priority < pod.priority) {
            return Preemption::Failed("not eligible due to a terminating pod on the nominated node".into());
        }
    }
    let mut verdicts: Vec<Fit> = Vec::new();
    let mut candidates = Vec::new();
    for (name, fit) in &fit_error.node_fits {
        let Some(node) = snap.get(name) else { continue };
        if matches!(fit, Fit::Unresolvable(_)) || fit_error.pre_filter_msg.is_some() {
            verdicts.push(Fit::unresolvable(NOT_HELPFUL));
            continue;
        }
        match select_victims(profile, state, pod, node, pdbs, nominated) {
            Ok(c) => candidates.push(c),
            Err(fit) => verdicts.push(fit),
        }
    }
    match pick(candidates) {
        Some(c) => Preemption::Candidate(c),
        None => Preemption::Failed(format!(
            "0/{} nodes are available: {}",
            fit_error.num_all_nodes,
            reason_histogram(verdicts.iter())
        )),
    }
}

#[cfg(test)]
mod tests;
