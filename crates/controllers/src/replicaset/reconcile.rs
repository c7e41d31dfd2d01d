//! The ReplicaSet decision, pure: from the set and the pods in its namespace,
//! which pods to adopt and release, how many to create, which to delete, and
//! the status to report.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;

use super::kind::{Counts, Replicated};
use super::pods;
use crate::runtime::owner;

/// Upstream's `burstReplicas`: at most this many creates or deletes per sync.
pub const BURST_REPLICAS: usize = 500;

/// A pod the plan names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub name: String,
    pub uid: String,
}

impl PodRef {
    fn of(pod: &Pod) -> PodRef {
        PodRef {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        }
    }
}

/// What the shell should do for one set.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub adopt: Vec<PodRef>,
    pub release: Vec<PodRef>,
    pub create: usize,
    pub delete: Vec<PodRef>,
    /// The status to write, when it differs from the stored one.
    pub status: Option<Counts>,
    /// Sync again after this long (a ready pod becomes available).
    pub requeue_after: Option<Duration>,
}

/// Decides for `set` given every pod in its namespace.
///
/// `expectations_satisfied`: the set's earlier creates/deletes have all been
/// observed; if not, no new creates or deletes are planned (status still is).
pub fn reconcile<R: Replicated>(set: &R, pods: &[&Pod], expectations_satisfied: bool, now: DateTime<Utc>) -> Plan {
    let mut plan = Plan::default();
    let meta = set.meta();
    let uid = meta.uid.as_deref().unwrap_or("");
    let deleting = meta.deletion_timestamp.is_some();
    let selector = set.selector();

    // Claim: ours and matching, or an orphan that matches (adopted); ours that
    // stopped matching are released.
    let mut claimed: Vec<&Pod> = Vec::new();
    for pod in pods.iter().copied().filter(|p| pods::is_active(p)) {
        let matches = selector.matches(pod.metadata.labels.as_ref());
        match owner::controller_of(&pod.metadata) {
            Some(r) if r.uid != uid => {}
            Some(_) if matches => claimed.push(pod),
            Some(_) if !deleting => plan.release.push(PodRef::of(pod)),
            Some(_) => {}
            None if matches && !deleting => {
                plan.adopt.push(PodRef::of(pod));
                claimed.push(pod);
            }
            None => {}
        }
    }

    let min_ready = set.min_ready_seconds();
    let template_labels =
        set.template().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.clone()).unwrap_or_default();
    let counts = Counts {
        replicas: claimed.len() as i32,
        fully_labeled_replicas: claimed
            .iter()
            .filter(|p| {
                let labels = p.metadata.labels.as_ref();
                template_labels.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            })
            .count() as i32,
        ready_replicas: claimed.iter().filter(|p| pods::is_ready(p)).count() as i32,
        available_replicas: claimed.iter().filter(|p| pods::is_available(p, min_ready, now)).count() as i32,
        observed_generation: meta.generation.unwrap_or(0),
    };
    if counts != set.counts() {
        plan.status = Some(counts.clone());
    }
    if min_ready > 0 {
        plan.requeue_after = claimed.iter().filter_map(|p| pods::until_available(p, min_ready, now)).min();
    }

    if expectations_satisfied && !deleting {
        let want = set.replicas().max(0) as usize;
        if claimed.len() < want {
            plan.create = (want - claimed.len()).min(BURST_REPLICAS);
        } else if claimed.len() > want {
            let n = (claimed.len() - want).min(BURST_REPLICAS);
            let mut ranked = claimed.clone();
            pods::sort_for_deletion(&mut ranked, &claimed);
            plan.delete = ranked.iter().take(n).map(|p| PodRef::of(p)).collect();
        }
    }
    plan
}

#[cfg(test)]
mod tests;
