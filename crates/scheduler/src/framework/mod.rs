//! The scheduling framework: one small trait per extension point, outcomes as
//! values. A [`Profile`] holds the plugins of one scheduler name and runs them.
//!
//! Extension points, in the order a cycle meets them: [`PreFilter`] (once per pod,
//! may reject it outright and prepares [`CycleState`]), [`Filter`] (per node: can
//! the pod run there?), [`Score`] (per feasible node, then normalised to 0..=100
//! and weighted), [`Reserve`] (the chosen node, before binding) and [`Bind`] (the
//! one I/O extension point: writing the binding).

mod profile;
mod state;

pub use profile::{Profile, ScorePlugin};
pub use state::CycleState;

use std::borrow::Cow;

use smallvec::{smallvec, SmallVec};

use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;
use crate::snapshot::Snapshot;

/// The best score a node can get from one plugin (before weighting).
pub const MAX_NODE_SCORE: i64 = 100;

/// Whether a pod can go somewhere. `Err` is for real failures only; "does not fit"
/// is a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    Fits,
    /// Does not fit now; evicting pods (preemption) might help.
    Unschedulable(Reasons),
    /// Does not fit, and no preemption on this node can change that.
    Unresolvable(Reasons),
}

/// Why a node does not fit. Filters reject most nodes of a large cluster with a
/// constant reason, so one reason is held inline and a static one is never copied:
/// a rejection costs no allocation.
pub type Reasons = SmallVec<[Cow<'static, str>; 1]>;

impl Fit {
    pub fn unschedulable(reason: impl Into<Cow<'static, str>>) -> Fit {
        Fit::Unschedulable(smallvec![reason.into()])
    }

    pub fn unresolvable(reason: impl Into<Cow<'static, str>>) -> Fit {
        Fit::Unresolvable(smallvec![reason.into()])
    }

    pub fn fits(&self) -> bool {
        matches!(self, Fit::Fits)
    }

    /// The reasons given (empty for [`Fit::Fits`]).
    pub fn reasons(&self) -> &[Cow<'static, str>] {
        match self {
            Fit::Fits => &[],
            Fit::Unschedulable(r) | Fit::Unresolvable(r) => r,
        }
    }
}

/// Every plugin has a name (what configuration files call it).
pub trait Plugin: Send + Sync {
    fn name(&self) -> &'static str;
}

/// Runs once per pod before any node is looked at.
pub trait PreFilter: Plugin {
    /// Prepares per-cycle data in `state`. Returning anything but [`Fit::Fits`]
    /// rejects the pod for every node.
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> Fit;

    /// Updates the prepared data as if `other` were added to `node` (preemption
    /// and nominated pods use this to ask "what if").
    fn add_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _other: &PodInfo, _node: &NodeInfo) {}

    /// Updates the prepared data as if `other` were removed from `node`.
    fn remove_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _other: &PodInfo, _node: &NodeInfo) {}
}

/// Decides whether the pod can run on one node.
pub trait Filter: Plugin {
    /// # Guarantees
    /// Pure: the same inputs give the same answer. Reads only what `pre_filter`
    /// prepared (if the plugin has one) and the node.
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Fit;
}

/// Ranks feasible nodes.
pub trait Score: Plugin {
    /// Prepares scoring for these feasible nodes; `false` skips this plugin for
    /// the pod (every node gets 0 from it).
    fn pre_score(&self, _state: &mut CycleState, _pod: &PodInfo, _nodes: &[&NodeInfo], _snap: &Snapshot) -> bool {
        true
    }

    /// The raw score of one node.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, snap: &Snapshot) -> i64;

    /// Brings the raw scores (parallel to `nodes`) into `0..=MAX_NODE_SCORE`.
    fn normalize(&self, _state: &CycleState, _nodes: &[&NodeInfo], _scores: &mut [i64]) {}
}

/// Claims resources on the chosen node before binding; undone by `unreserve` if
/// anything later fails.
pub trait Reserve: Plugin {
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Fit;
    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str);
}

/// A binding that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("binding {pod} to {node}: {message}")]
pub struct BindError {
    pub pod: String,
    pub node: String,
    pub message: String,
    /// The pod is gone or was bound elsewhere: retrying cannot help.
    pub permanent: bool,
}

/// Writes the decision. The default binder posts to `pods/binding`.
#[async_trait::async_trait]
pub trait Bind: Plugin {
    /// # Errors
    /// [`BindError`] when the API refused or could not be reached; the scheduler
    /// then forgets the assumption and retries the pod after a backoff.
    async fn bind(&self, pod: &PodInfo, node: &str) -> Result<(), BindError>;
}

/// Upstream's `DefaultNormalizeScore`: scales scores so the best is
/// `MAX_NODE_SCORE`; `reverse` makes the lowest raw score the best.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let v = MAX_NODE_SCORE * *s / max;
        *s = if reverse { MAX_NODE_SCORE - v } else { v };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_normalize_table() {
        let cases: &[(&[i64], bool, &[i64])] = &[
            (&[0, 0], false, &[0, 0]),
            (&[0, 0], true, &[100, 100]),
            (&[1, 2, 4], false, &[25, 50, 100]),
            (&[1, 2, 4], true, &[75, 50, 0]),
        ];
        for (input, reverse, want) in cases {
            let mut s = input.to_vec();
            default_normalize(&mut s, *reverse);
            assert_eq!(&s, want, "{input:?} reverse={reverse}");
        }
    }
}
