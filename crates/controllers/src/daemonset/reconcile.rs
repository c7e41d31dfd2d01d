//! One DaemonSet sync as a pure function (upstream's `syncDaemonSet`): the
//! revision step, one pod per eligible node (`manage`), the rolling update
//! with maxUnavailable or maxSurge, history truncation and the status.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::node::{add_default_tolerations, fit, pin_to_node, target_node, Fit};
use crate::history::{self, Step, HASH_LABEL, POD_REVISION_LABEL};
use crate::replicaset::pods::{is_available, is_ready, until_available};
use crate::runtime::owner;

/// What one sync saw.
pub struct Observed<'a> {
    pub ds: &'a DaemonSet,
    pub nodes: Vec<&'a Node>,
    /// Pods the DaemonSet controls.
    pub pods: Vec<&'a Pod>,
    /// Revisions the DaemonSet controls.
    pub revisions: Vec<&'a ControllerRevision>,
    /// No creations or deletions of an earlier sync are still unseen.
    pub expectations_satisfied: bool,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CreateRevision(Box<ControllerRevision>),
    RenumberRevision { name: String, revision: i64 },
    DeleteRevision { name: String, uid: String },
    CreatePod { node: String, pod: Box<Pod> },
    DeletePod { name: String, uid: String },
    UpdateStatus(Box<DaemonSetStatus>),
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub requeue_after: Option<Duration>,
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn is_failed(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
}

fn pod_hash(pod: &Pod) -> &str {
    pod.metadata.labels.as_ref().and_then(|l| l.get(POD_REVISION_LABEL)).map_or("", String::as_str)
}

fn created(pod: &Pod) -> Option<DateTime<Utc>> {
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Oldest first, then by name (upstream keeps the oldest daemon pod).
fn oldest_first(pods: &mut [&Pod]) {
    pods.sort_by(|a, b| created(a).cmp(&created(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name)));
}

fn rolling(ds: &DaemonSet) -> Option<(Option<&IntOrString>, Option<&IntOrString>)> {
    let s = ds.spec.as_ref()?.update_strategy.as_ref()?;
    if s.type_.as_deref() == Some("OnDelete") {
        return None;
    }
    let r = s.rolling_update.as_ref();
    Some((r.and_then(|r| r.max_surge.as_ref()), r.and_then(|r| r.max_unavailable.as_ref())))
}

/// An int-or-percent of `total`, percentages rounded up (as upstream does for
/// both DaemonSet fenceposts).
fn scaled(v: Option<&IntOrString>, default: i32, total: i32) -> i32 {
    match v {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            ((p * i64::from(total) + 99) / 100) as i32
        }
        None => default,
    }
}

/// `(maxSurge, maxUnavailable)` against the number of nodes that should run a pod.
fn fenceposts(ds: &DaemonSet, desired: i32) -> Option<(i32, i32)> {
    let (surge, unavailable) = rolling(ds)?;
    let surge = scaled(surge, 0, desired);
    let unavailable = scaled(unavailable, 1, desired);
    Some(if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) })
}

struct Sync<'o, 'a> {
    o: &'o Observed<'a>,
    hash: String,
    revision: String,
    plan: Plan,
    deleted: HashSet<String>,
}

impl Sync<'_, '_> {
    fn available(&mut self, pod: &Pod) -> bool {
        let min = self.o.ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        if is_available(pod, min, self.o.now) {
            return true;
        }
        if let Some(after) = until_available(pod, min, self.o.now) {
            self.plan.requeue_after = Some(self.plan.requeue_after.map_or(after, |d| d.min(after)));
        }
        false
    }

    fn delete(&mut self, pod: &Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if self.deleted.insert(uid.clone()) {
            let name = pod.metadata.name.clone().unwrap_or_default();
            self.plan.actions.push(Action::DeletePod { name, uid });
        }
    }

    fn create(&mut self, node: &str) {
        let pod = new_pod(self.o.ds, node, &self.hash);
        self.plan.actions.push(Action::CreatePod { node: node.to_string(), pod: Box::new(pod) });
    }

    fn is_updated(&self, pod: &Pod) -> bool {
        pod_hash(pod) == self.hash
    }
}

/// The daemon pod for `node`: the template with the revision hash label, the
/// default tolerations, and node affinity pinning it to `node`.
pub fn new_pod(ds: &DaemonSet, node: &str, hash: &str) -> Pod {
    let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut labels: BTreeMap<String, String> = tmeta.labels.unwrap_or_default();
    labels.insert(POD_REVISION_LABEL.into(), hash.into());
    let mut spec = template.spec.unwrap_or_default();
    add_default_tolerations(&mut spec);
    pin_to_node(&mut spec, node);
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", ds.metadata.name.as_deref().unwrap_or(""))),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner::controller_ref(ds)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

pub fn reconcile(o: &Observed) -> Plan {
    let ds = o.ds;
    let template = ds.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
    let collision_count = ds.status.as_ref().and_then(|s| s.collision_count);
    let (update, step) = history::next(ds, labels, &o.revisions, history::template_patch(&template), collision_count);
    let hash = update.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).cloned().unwrap_or_default();
    let revision = update.metadata.name.clone().unwrap_or_default();
    let mut sync = Sync { o, hash, revision, plan: Plan::default(), deleted: HashSet::new() };
    match step {
        Step::Current => {}
        Step::Renumber { name, revision } => sync.plan.actions.push(Action::RenumberRevision { name, revision }),
        Step::Create(mut r) => {
            // DaemonSet revisions also carry the pod label with the hash.
            r.metadata.labels.get_or_insert_with(BTreeMap::new).insert(POD_REVISION_LABEL.into(), sync.hash.clone());
            sync.plan.actions.push(Action::CreateRevision(r));
        }
    }
    let mut nodes: Vec<(&str, Fit)> = o
        .nodes
        .iter()
        .map(|n| {
            (n.metadata.name.as_deref().unwrap_or(""), fit(template.spec.as_ref().unwrap_or(&Default::default()), n))
        })
        .collect();
    nodes.sort_by_key(|(name, _)| *name);
    let mut by_node: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for pod in &o.pods {
        if let Some(node) = target_node(pod) {
            by_node.entry(node).or_default().push(pod);
        }
    }
    for pods in by_node.values_mut() {
        oldest_first(pods);
    }
    let desired = nodes.iter().filter(|(_, f)| f.should_run).count() as i32;
    let fenceposts = fenceposts(ds, desired);
    if ds.metadata.deletion_timestamp.is_none() && o.expectations_satisfied {
        manage(&mut sync, &nodes, &by_node, fenceposts.is_some_and(|(surge, _)| surge > 0));
        if let Some((surge, unavailable)) = fenceposts {
            rolling_update(&mut sync, &nodes, &by_node, surge, unavailable);
        }
    }
    let status = status(&mut sync, &nodes, &by_node);
    let mut live: HashSet<String> = HashSet::from([sync.revision.clone()]);
    for r in &o.revisions {
        let h = r.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map_or("", String::as_str);
        if o.pods.iter().any(|p| pod_hash(p) == h) {
            live.insert(r.metadata.name.clone().unwrap_or_default());
        }
    }
    let limit = ds.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
    for (name, uid) in history::to_truncate(&o.revisions, &live, limit) {
        sync.plan.actions.push(Action::DeleteRevision { name, uid });
    }
    if ds.status.as_ref() != Some(&status) {
        sync.plan.actions.push(Action::UpdateStatus(Box::new(status)));
    }
    sync.plan
}

/// One pod on every node that should run one, none elsewhere; failed pods
/// are replaced; with surge a node may hold one old and one new pod.
fn manage(sync: &mut Sync, nodes: &[(&str, Fit)], by_node: &BTreeMap<&str, Vec<&Pod>>, surge: bool) {
    let known: HashSet<&str> = nodes.iter().map(|(n, _)| *n).collect();
    for (node, pods) in by_node {
        if !known.contains(node) {
            // The node is gone: so are its daemon pods.
            pods.iter().filter(|p| !is_terminating(p)).for_each(|p| sync.delete(p));
        }
    }
    for (node, fit) in nodes {
        let pods: Vec<&Pod> = by_node.get(node).into_iter().flatten().copied().filter(|p| !is_terminating(p)).collect();
        let (failed, running): (Vec<&Pod>, Vec<&Pod>) = pods.into_iter().partition(|p| is_failed(p));
        failed.iter().for_each(|p| sync.delete(p));
        if !fit.should_continue_running {
            running.iter().for_each(|p| sync.delete(p));
            continue;
        }
        // A node that no longer fits but tolerates the pod keeps it.
        if !fit.should_run {
            continue;
        }
        if running.is_empty() {
            sync.create(node);
            continue;
        }
        // Keep the oldest (with surge: the oldest old and the oldest new).
        let (mut kept_new, mut kept_old) = (false, false);
        for p in running {
            let slot = if surge && sync.is_updated(p) { &mut kept_new } else { &mut kept_old };
            if std::mem::replace(slot, true) {
                sync.delete(p);
            }
        }
    }
}

/// The one updated and the one old pod on a node, if there is at most one of
/// each (upstream's `findUpdatedPodsOnNode`).
fn split<'p>(sync: &Sync, pods: &[&'p Pod]) -> Option<(Option<&'p Pod>, Option<&'p Pod>)> {
    let (mut new, mut old) = (None, None);
    for p in pods.iter().filter(|p| !is_terminating(p)) {
        let slot = if sync.is_updated(p) { &mut new } else { &mut old };
        if slot.replace(*p).is_some() {
            return None;
        }
    }
    Some((new, old))
}

fn rolling_update(
    sync: &mut Sync,
    nodes: &[(&str, Fit)],
    by_node: &BTreeMap<&str, Vec<&Pod>>,
    max_surge: i32,
    max_unavailable: i32,
) {
    let eligible: Vec<(&str, &Vec<&Pod>)> =
        nodes.iter().filter(|(_, f)| f.should_run).filter_map(|(n, _)| by_node.get(n).map(|pods| (*n, pods))).collect();
    if max_surge == 0 {
        let (mut unavailable, mut replace, mut candidates) = (0, Vec::new(), Vec::new());
        for (_, pods) in &eligible {
            match split(sync, pods) {
                None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                Some((Some(new), None)) => {
                    if !sync.available(new) {
                        unavailable += 1;
                    }
                }
                Some((None, Some(old))) => {
                    if !sync.available(old) {
                        replace.push(old);
                        unavailable += 1;
                    } else if unavailable < max_unavailable {
                        candidates.push(old);
                    }
                }
            }
        }
        let room = usize::try_from((max_unavailable - unavailable).max(0)).unwrap_or(0).min(candidates.len());
        replace.extend(candidates.into_iter().take(room));
        replace.into_iter().for_each(|p| sync.delete(p));
        return;
    }
    // Surge: a new pod joins an old one, which goes once the new one is available.
    let (mut surging, mut allowed, mut candidates) = (0, Vec::new(), Vec::new());
    for (node, pods) in &eligible {
        match split(sync, pods) {
            None | Some((_, None)) => {}
            Some((None, Some(old))) => {
                if !sync.available(old) {
                    allowed.push(*node);
                } else if surging < max_surge {
                    candidates.push(*node);
                }
            }
            Some((Some(new), Some(old))) => {
                if sync.available(new) {
                    sync.delete(old);
                } else {
                    surging += 1;
                }
            }
        }
    }
    let room = usize::try_from((max_surge - surging).max(0)).unwrap_or(0).min(candidates.len());
    allowed.extend(candidates.into_iter().take(room));
    allowed.into_iter().for_each(|n| sync.create(n));
}

fn status(sync: &mut Sync, nodes: &[(&str, Fit)], by_node: &BTreeMap<&str, Vec<&Pod>>) -> DaemonSetStatus {
    let ds = sync.o.ds;
    let (mut desired, mut scheduled, mut misscheduled, mut ready, mut available, mut updated) = (0, 0, 0, 0, 0, 0);
    for (node, fit) in nodes {
        let pods: Vec<&Pod> = by_node.get(node).into_iter().flatten().copied().filter(|p| !is_terminating(p)).collect();
        if fit.should_run {
            desired += 1;
            let Some(pod) = pods.first() else { continue };
            scheduled += 1;
            if is_ready(pod) {
                ready += 1;
                if sync.available(pod) {
                    available += 1;
                }
            }
            if pods.iter().any(|p| sync.is_updated(p)) {
                updated += 1;
            }
        } else if !pods.is_empty() {
            misscheduled += 1;
        }
    }
    DaemonSetStatus {
        current_number_scheduled: scheduled,
        desired_number_scheduled: desired,
        number_misscheduled: misscheduled,
        number_ready: ready,
        number_available: Some(available),
        number_unavailable: Some((desired - available).max(0)),
        updated_number_scheduled: Some(updated),
        observed_generation: ds.metadata.generation,
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
        conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
    }
}
