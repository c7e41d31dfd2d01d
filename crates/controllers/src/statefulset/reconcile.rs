//! One StatefulSet sync as a pure function (upstream's
//! `defaultStatefulSetControl.UpdateStatefulSet`): the revisions, the pods and
//! claims to create or delete in ordinal order, the rolling update, the
//! retention policy on claims, and the status.

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::identity::{self, claim_owners, claims, new_pod, ordinal, pod_revision};
use crate::history::{self, Step};
use crate::replicaset::pods::{is_available, is_ready, until_available};

/// What one sync saw.
pub struct Observed<'a> {
    pub set: &'a StatefulSet,
    /// Pods the set controls.
    pub pods: Vec<&'a Pod>,
    /// Revisions the set controls.
    pub revisions: Vec<&'a ControllerRevision>,
    /// Claims in the set's namespace, by name.
    pub claims: HashMap<String, &'a PersistentVolumeClaim>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CreateRevision(Box<ControllerRevision>),
    RenumberRevision { name: String, revision: i64 },
    CreateClaim { claim: Box<PersistentVolumeClaim>, pod: String },
    SetClaimOwners { name: String, uid: String, owners: Vec<OwnerReference> },
    CreatePod(Box<Pod>),
    DeletePod { name: String, uid: String },
    DeleteRevision { name: String, uid: String },
    UpdateStatus(Box<StatefulSetStatus>),
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Come back when a ready pod becomes available (minReadySeconds).
    pub requeue_after: Option<Duration>,
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn is_created(pod: &Pod) -> bool {
    !phase(pod).is_empty()
}

fn is_finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_ready(pod)
}

fn name_uid(pod: &Pod) -> (String, String) {
    (pod.metadata.name.clone().unwrap_or_default(), pod.metadata.uid.clone().unwrap_or_default())
}

fn is_ordered(set: &StatefulSet) -> bool {
    set.spec.as_ref().and_then(|s| s.pod_management_policy.as_deref()) != Some("Parallel")
}

fn is_on_delete(set: &StatefulSet) -> bool {
    set.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref()) == Some("OnDelete")
}

fn partition(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0)
        .max(0)
}

fn min_ready_seconds(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
}

/// The sync's working state: the plan being built and the status it leads to.
struct Sync<'o, 'a> {
    o: &'o Observed<'a>,
    plan: Plan,
    status: StatefulSetStatus,
    current: ControllerRevision,
    update: ControllerRevision,
}

impl Sync<'_, '_> {
    fn available(&mut self, pod: &Pod) -> bool {
        let min = min_ready_seconds(self.o.set);
        if !running_and_ready(pod) {
            return false;
        }
        if is_available(pod, min, self.o.now) {
            return true;
        }
        if let Some(after) = until_available(pod, min, self.o.now) {
            self.plan.requeue_after = Some(self.plan.requeue_after.map_or(after, |d| d.min(after)));
        }
        false
    }

    /// Creates the pod with `ordinal` and the claims it lacks. Pods below the
    /// partition are made at the current revision, as upstream.
    fn create(&mut self, ord: i32) {
        let set = self.o.set;
        let below_partition = !is_on_delete(set) && ord < identity::start_ordinal(set) + partition(set);
        let revision = if below_partition { &self.current } else { &self.update };
        let name = revision.metadata.name.clone().unwrap_or_default();
        let template = history::template_of(revision)
            .or_else(|| set.spec.as_ref().map(|s| s.template.clone()))
            .unwrap_or_default();
        let pod = new_pod(set, &template, ord, &name);
        self.create_claims(ord, &identity::pod_name(set, ord));
        self.status.replicas += 1;
        if name == self.current.metadata.name.clone().unwrap_or_default() {
            self.status.current_replicas = Some(self.status.current_replicas.unwrap_or(0) + 1);
        }
        if name == self.update.metadata.name.clone().unwrap_or_default() {
            self.status.updated_replicas = Some(self.status.updated_replicas.unwrap_or(0) + 1);
        }
        self.plan.actions.push(Action::CreatePod(Box::new(pod)));
    }

    fn create_claims(&mut self, ord: i32, pod: &str) {
        for claim in claims(self.o.set, ord) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            if !self.o.claims.contains_key(&name) {
                self.plan.actions.push(Action::CreateClaim { claim: Box::new(claim), pod: pod.to_string() });
            }
        }
    }

    /// Applies the retention policy to the claims of an existing pod.
    fn retain_claims(&mut self, ord: i32, pod: &Pod, condemned: bool) {
        for want in claims(self.o.set, ord) {
            let name = want.metadata.name.clone().unwrap_or_default();
            let Some(claim) = self.o.claims.get(&name) else { continue };
            if let Some(owners) = claim_owners(claim, self.o.set, Some(pod), condemned) {
                let uid = claim.metadata.uid.clone().unwrap_or_default();
                self.plan.actions.push(Action::SetClaimOwners { name, uid, owners });
            }
        }
    }

    fn delete(&mut self, pod: &Pod) {
        let (name, uid) = name_uid(pod);
        self.plan.actions.push(Action::DeletePod { name, uid });
    }
}

/// The revision step, then the pods: returns the plan of this sync.
pub fn reconcile(o: &Observed) -> Plan {
    let set = o.set;
    let spec = set.spec.as_ref();
    let collision_count = set.status.as_ref().and_then(|s| s.collision_count);
    let template = spec.map(|s| s.template.clone()).unwrap_or_default();
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    let data = history::template_patch(&template);
    let (update, step) = history::next(set, labels, &o.revisions, data, collision_count);
    let update_name = update.metadata.name.clone().unwrap_or_default();
    let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone()).unwrap_or_default();
    let current = o
        .revisions
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(current_name.as_str()) && current_name != update_name)
        .map_or_else(|| update.clone(), |r| (*r).clone());
    let mut plan = Plan::default();
    match step {
        Step::Current => {}
        Step::Renumber { name, revision } => plan.actions.push(Action::RenumberRevision { name, revision }),
        Step::Create(r) => plan.actions.push(Action::CreateRevision(r)),
    }
    let current_name = current.metadata.name.clone().unwrap_or_default();
    let mut sync = Sync { o, plan, status: StatefulSetStatus::default(), current, update };
    sync.status = count(o, &current_name, &update_name);
    sync.status.observed_generation = set.metadata.generation;
    sync.status.collision_count = collision_count;
    sync.status.current_revision = Some(current_name.clone());
    sync.status.update_revision = Some(update_name.clone());
    if set.metadata.deletion_timestamp.is_none() {
        manage(&mut sync);
    }
    finish(sync, &current_name, &update_name)
}

/// Status counts from the pods as they are (upstream counts before acting and
/// adjusts for what it creates).
fn count(o: &Observed, current: &str, update: &str) -> StatefulSetStatus {
    let min = min_ready_seconds(o.set);
    // Zeros are written, not left out: a merge patch would keep old counts.
    let mut s = StatefulSetStatus {
        replicas: 0,
        ready_replicas: Some(0),
        available_replicas: Some(0),
        current_replicas: Some(0),
        updated_replicas: Some(0),
        ..Default::default()
    };
    let bump = |v: &mut Option<i32>| *v = Some(v.unwrap_or(0) + 1);
    for pod in &o.pods {
        if is_created(pod) {
            s.replicas += 1;
        }
        if running_and_ready(pod) {
            bump(&mut s.ready_replicas);
            if is_available(pod, min, o.now) {
                bump(&mut s.available_replicas);
            }
        }
        if is_created(pod) && !is_terminating(pod) {
            if pod_revision(pod) == current {
                bump(&mut s.current_replicas);
            }
            if pod_revision(pod) == update {
                bump(&mut s.updated_replicas);
            }
        }
    }
    s
}

/// Creates, deletes and updates pods; stops where OrderedReady must wait.
fn manage(sync: &mut Sync) {
    let set = sync.o.set;
    let start = identity::start_ordinal(set);
    let end = start + identity::replicas(set);
    let ordered = is_ordered(set);
    let name = identity::set_name(set);
    let mut slots: Vec<(i32, Option<&Pod>)> = (start..end).map(|i| (i, None)).collect();
    let mut condemned: Vec<(i32, &Pod)> = Vec::new();
    for pod in &sync.o.pods {
        let Some(ord) = ordinal(name, pod.metadata.name.as_deref().unwrap_or("")) else { continue };
        if (start..end).contains(&ord) {
            slots[(ord - start) as usize].1 = Some(pod);
        } else {
            condemned.push((ord, pod));
        }
    }
    condemned.sort_by_key(|(ord, _)| *ord);
    // The first unhealthy pod in ordinal order, replicas before condemned.
    let first_unhealthy = slots
        .iter()
        .filter_map(|(_, p)| *p)
        .chain(condemned.iter().map(|(_, p)| *p))
        .find(|p| !running_and_ready(p) || is_terminating(p))
        .and_then(|p| p.metadata.uid.clone());

    for (ord, pod) in slots.clone() {
        let Some(pod) = pod else {
            sync.create(ord);
            if ordered {
                return;
            }
            continue;
        };
        if is_finished(pod) && !is_terminating(pod) {
            // Failed or succeeded: replaced (created again once it is gone).
            sync.delete(pod);
            if ordered {
                return;
            }
            continue;
        }
        if is_terminating(pod) {
            if ordered {
                return;
            }
            continue;
        }
        sync.create_claims(ord, pod.metadata.name.as_deref().unwrap_or(""));
        sync.retain_claims(ord, pod, false);
        if ordered && !sync.available(pod) {
            return;
        }
    }

    for (ord, pod) in condemned.iter().rev() {
        if is_terminating(pod) {
            if ordered {
                return;
            }
            continue;
        }
        if ordered && !running_and_ready(pod) && first_unhealthy != pod.metadata.uid {
            return;
        }
        sync.retain_claims(*ord, pod, true);
        sync.delete(pod);
        sync.status.replicas -= 1;
        if ordered {
            return;
        }
    }

    if is_on_delete(set) {
        return;
    }
    // RollingUpdate: from the highest ordinal down to the partition, one pod
    // at a time, each new one healthy before the next old one goes.
    let update_name = sync.update.metadata.name.clone().unwrap_or_default();
    let min = (partition(set) as usize).min(slots.len());
    for (_, pod) in slots[min..].iter().rev() {
        let Some(pod) = pod else { return };
        if pod_revision(pod) != update_name && !is_terminating(pod) {
            sync.delete(pod);
            return;
        }
        if is_terminating(pod) || !sync.available(pod) {
            return;
        }
    }
}

/// Completes the rolling update in status, truncates history, writes status.
fn finish(mut sync: Sync, current_name: &str, update_name: &str) -> Plan {
    let set = sync.o.set;
    let s = &mut sync.status;
    if !is_on_delete(set)
        && s.updated_replicas.unwrap_or(0) == s.replicas
        && s.ready_replicas.unwrap_or(0) == s.replicas
        && current_name != update_name
    {
        s.current_revision = Some(update_name.to_string());
        s.current_replicas = s.updated_replicas;
    }
    let mut live: HashSet<String> = sync.o.pods.iter().map(|p| pod_revision(p).to_string()).collect();
    live.insert(s.current_revision.clone().unwrap_or_default());
    live.insert(update_name.to_string());
    let limit = set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
    for (name, uid) in history::to_truncate(&sync.o.revisions, &live, limit) {
        sync.plan.actions.push(Action::DeleteRevision { name, uid });
    }
    if set.status.as_ref() != Some(&sync.status) {
        sync.plan.actions.push(Action::UpdateStatus(Box::new(sync.status)));
    }
    sync.plan
}
