//! The Deployment decision, pure: from the Deployment, the ReplicaSets in its
//! namespace and (for Recreate) whether old pods still run, the writes that
//! move the rollout one step (upstream's `syncDeployment`, `rolloutRolling`,
//! `rolloutRecreate`, `sync`/`scale`, `cleanupDeployment`, `syncRolloutStatus`).
//! Each sync makes one step and relies on the ReplicaSet and pod changes it
//! causes to be synced again.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::util::*;
use crate::runtime::owner;
use crate::runtime::selector::Selector;

/// One write or event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Adopt an orphan ReplicaSet (name, uid).
    Adopt(String, String),
    /// Release a ReplicaSet that no longer matches (name, uid).
    Release(String, String),
    CreateReplicaSet(Box<ReplicaSet>),
    /// Replace a ReplicaSet (at its resourceVersion) with this version.
    UpdateReplicaSet(Box<ReplicaSet>),
    /// Delete an old ReplicaSet beyond `revisionHistoryLimit` (name, uid).
    DeleteReplicaSet(String, String),
    /// Set the Deployment's `deployment.kubernetes.io/revision` annotation.
    SetRevision(String),
    UpdateStatus(Box<DeploymentStatus>),
    /// A Normal event (reason, message).
    Event(&'static str, String),
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub requeue_after: Option<Duration>,
}

/// What the controller observed.
pub struct Observed<'a> {
    pub deployment: &'a Deployment,
    /// Every ReplicaSet in the Deployment's namespace.
    pub replica_sets: Vec<&'a ReplicaSet>,
    /// Pods that have not finished (Succeeded/Failed), by the uid of the
    /// ReplicaSet controlling them (Recreate waits for old ones to be gone).
    pub running_pods: HashMap<String, usize>,
    pub now: DateTime<Utc>,
}

/// The working state of one sync: the claimed ReplicaSets as they will be
/// after this sync's writes.
struct State<'a> {
    d: &'a Deployment,
    now: DateTime<Utc>,
    rss: Vec<ReplicaSet>,
    dirty: Vec<bool>,
    new: Option<usize>,
    /// The status conditions start from (the stored status, plus a
    /// paused/resumed condition set in this sync).
    base: DeploymentStatus,
    plan: Plan,
}

pub fn reconcile(o: &Observed<'_>) -> Plan {
    let d = o.deployment;
    let base = d.status.clone().unwrap_or_default();
    let mut st = State { d, now: o.now, rss: Vec::new(), dirty: Vec::new(), new: None, base, plan: Plan::default() };
    let selector = d.spec.as_ref().map(|s| &s.selector);
    if selector.is_none_or(|s| s == &LabelSelector::default()) {
        // Upstream refuses to act on a selector that selects everything.
        let mut status = d.status.clone().unwrap_or_default();
        if status.observed_generation != d.metadata.generation {
            status.observed_generation = d.metadata.generation;
            st.plan.actions.push(Action::UpdateStatus(Box::new(status)));
        }
        return st.plan;
    }
    st.claim(o.replica_sets.as_slice(), &Selector::from_label_selector(selector));
    st.find_new();
    if d.metadata.deletion_timestamp.is_some() {
        st.sync_status(false);
        return st.finish();
    }
    let mut base = st.base.clone();
    let paused_changed = st.paused_condition(&mut base);
    st.base = base;
    if paused(d) || st.is_scaling_event() {
        st.sync_revision(false);
        st.scale();
        if paused(d) {
            st.cleanup();
        }
        st.sync_status(paused_changed);
        return st.finish();
    }
    if is_recreate(d) {
        st.recreate(&o.running_pods);
    } else {
        st.rolling();
    }
    st.finish()
}

impl State<'_> {
    fn claim(&mut self, all: &[&ReplicaSet], selector: &Selector) {
        let uid = self.d.metadata.uid.as_deref().unwrap_or("");
        let deleting = self.d.metadata.deletion_timestamp.is_some();
        for rs in all {
            let matches = selector.matches(rs.metadata.labels.as_ref());
            let (name, rs_uid) =
                (rs.metadata.name.clone().unwrap_or_default(), rs.metadata.uid.clone().unwrap_or_default());
            match owner::controller_of(&rs.metadata) {
                Some(r) if r.uid != uid => {}
                Some(_) if matches => self.push((*rs).clone()),
                Some(_) if !deleting => self.plan.actions.push(Action::Release(name, rs_uid)),
                Some(_) => {}
                None if matches && !deleting && rs.metadata.deletion_timestamp.is_none() => {
                    self.plan.actions.push(Action::Adopt(name, rs_uid));
                    self.push((*rs).clone());
                }
                None => {}
            }
        }
        // Oldest first, as upstream's `ReplicaSetsByCreationTimestamp`.
        self.rss.sort_by(|a, b| {
            let c = |r: &ReplicaSet| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
            c(a).cmp(&c(b)).then(a.metadata.name.cmp(&b.metadata.name))
        });
    }

    fn push(&mut self, rs: ReplicaSet) {
        self.rss.push(rs);
        self.dirty.push(false);
    }

    fn template(&self) -> k8s_openapi::api::core::v1::PodTemplateSpec {
        self.d.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default()
    }

    fn collision_count(&self) -> Option<i32> {
        self.d.status.as_ref().and_then(|s| s.collision_count)
    }

    /// The new ReplicaSet: the oldest whose template equals the Deployment's
    /// (apart from the hash label); failing that, the one named for the
    /// template's hash (robust against defaulting differences).
    fn find_new(&mut self) {
        let template = self.template();
        self.new = self.rss.iter().position(|rs| {
            rs.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| equal_ignore_hash(t, &template))
        });
        if self.new.is_none() {
            let name = self.new_rs_name();
            self.new = self.rss.iter().position(|rs| rs.metadata.name.as_deref() == Some(name.as_str()));
        }
    }

    fn new_rs_name(&self) -> String {
        format!(
            "{}-{}",
            self.d.metadata.name.as_deref().unwrap_or(""),
            template_hash(&self.template(), self.collision_count())
        )
    }

    fn olds(&self) -> Vec<usize> {
        (0..self.rss.len()).filter(|i| Some(*i) != self.new).collect()
    }

    fn all_spec_replicas(&self, which: &[usize]) -> i32 {
        which.iter().map(|i| rs_replicas(&self.rss[*i])).sum()
    }

    fn all(&self) -> Vec<usize> {
        (0..self.rss.len()).collect()
    }

    fn active(&self, which: &[usize]) -> Vec<usize> {
        which.iter().copied().filter(|i| rs_replicas(&self.rss[*i]) > 0).collect()
    }

    /// Paused/resumed is recorded as Progressing=Unknown (only with a progress
    /// deadline). Returns whether the condition changed.
    fn paused_condition(&self, status: &mut DeploymentStatus) -> bool {
        if progress_deadline(self.d).is_none() {
            return false;
        }
        let reason = condition(status, PROGRESSING).and_then(|c| c.reason.clone());
        let p = paused(self.d);
        let c = if p && reason.as_deref() != Some(PAUSED) {
            new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused".into(), self.now)
        } else if !p && reason.as_deref() == Some(PAUSED) {
            new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed".into(), self.now)
        } else {
            return false;
        };
        set_condition(status, c);
        true
    }

    /// A replica count change: an active set's desired-replicas annotation
    /// differs from the Deployment's replicas.
    fn is_scaling_event(&self) -> bool {
        let n = replicas(self.d);
        self.active(&self.all()).iter().any(|i| desired_annotation(&self.rss[*i]).is_some_and(|x| x != n))
    }

    fn max_old_revision(&self) -> i64 {
        self.olds().iter().map(|i| revision(&self.rss[*i])).max().unwrap_or(0)
    }

    /// Keeps the new set's annotations and minReadySeconds in step and the
    /// Deployment's revision annotation equal to the new set's; creates the new
    /// set when asked. Returns false when a set was created (the sync ends).
    fn sync_revision(&mut self, create: bool) -> bool {
        let new_revision = self.max_old_revision() + 1;
        let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
        if let Some(i) = self.new {
            let d = self.d;
            let rs = &mut self.rss[i];
            let mut changed = set_new_rs_annotations(d, rs, new_revision, true);
            let spec = rs.spec.get_or_insert_with(Default::default);
            if spec.min_ready_seconds.unwrap_or(0) != min_ready.unwrap_or(0) {
                spec.min_ready_seconds = min_ready;
                changed = true;
            }
            self.dirty[i] |= changed;
            let rev = annotation(&self.rss[i].metadata.annotations, REVISION).unwrap_or("").to_string();
            self.set_deployment_revision(&rev);
            return true;
        }
        if !create {
            return true;
        }
        let rs = self.new_replica_set(new_revision);
        let name = rs.metadata.name.clone().unwrap_or_default();
        let n = rs_replicas(&rs);
        self.set_deployment_revision(&new_revision.to_string());
        self.plan.actions.push(Action::CreateReplicaSet(Box::new(rs.clone())));
        if n > 0 {
            self.plan
                .actions
                .push(Action::Event("ScalingReplicaSet", format!("Scaled up replica set {name} from 0 to {n}")));
        }
        self.push(rs);
        self.new = Some(self.rss.len() - 1);
        let mut status = self.base.clone();
        if progress_deadline(self.d).is_some() {
            let msg = format!("Created new replica set \"{name}\"");
            set_condition(&mut status, new_condition(PROGRESSING, "True", NEW_RS_CREATED, msg, self.now));
        }
        self.sync_status_from(status, true);
        false
    }

    fn set_deployment_revision(&mut self, rev: &str) {
        if annotation(&self.d.metadata.annotations, REVISION) != Some(rev) {
            self.plan.actions.push(Action::SetRevision(rev.to_string()));
        }
    }

    fn new_replica_set(&self, revision: i64) -> ReplicaSet {
        let d = self.d;
        let hash = template_hash(&self.template(), self.collision_count());
        let mut template = self.template();
        template
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(HASH_LABEL.into(), hash.clone());
        let mut selector = d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
        selector.match_labels.get_or_insert_with(BTreeMap::new).insert(HASH_LABEL.into(), hash.clone());
        let labels = template.metadata.as_ref().and_then(|m| m.labels.clone());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(self.new_rs_name()),
                namespace: d.metadata.namespace.clone(),
                labels,
                owner_references: Some(vec![owner::controller_ref(d)]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: d.spec.as_ref().and_then(|s| s.min_ready_seconds),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        // Upstream's NewRSNewReplicas, with the new set counted at 0.
        let all: i32 = self.all_spec_replicas(&self.all());
        let n = if is_recreate(d) {
            replicas(d)
        } else {
            let max_total = replicas(d) + max_surge(d);
            if all >= max_total {
                0
            } else {
                (max_total - all).min(replicas(d))
            }
        };
        set_rs_replicas(&mut rs, n);
        set_new_rs_annotations(d, &mut rs, revision, false);
        rs
    }

    /// Sets a set's replicas (and its replica annotations), with the
    /// `ScalingReplicaSet` event upstream emits.
    fn scale_rs(&mut self, i: usize, to: i32) {
        let (d, rs) = (self.d, &mut self.rss[i]);
        let from = rs_replicas(rs);
        let annotated = set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d));
        if from != to {
            set_rs_replicas(rs, to);
            let op = if to > from { "up" } else { "down" };
            let name = rs.metadata.name.clone().unwrap_or_default();
            self.plan.actions.push(Action::Event(
                "ScalingReplicaSet",
                format!("Scaled {op} replica set {name} from {from} to {to}"),
            ));
        }
        self.dirty[i] |= annotated || from != to;
    }

    fn rolling(&mut self) {
        if !self.sync_revision(true) {
            return;
        }
        let new = self.new.expect("created or found");
        if self.reconcile_new(new) {
            return self.sync_rollout_status();
        }
        if self.reconcile_olds(new) {
            return self.sync_rollout_status();
        }
        if complete(self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    fn reconcile_new(&mut self, new: usize) -> bool {
        let want = replicas(self.d);
        let have = rs_replicas(&self.rss[new]);
        if have == want {
            return false;
        }
        if have > want {
            self.scale_rs(new, want);
            return true;
        }
        let max_total = want + max_surge(self.d);
        let current = self.all_spec_replicas(&self.all());
        if current >= max_total {
            return false;
        }
        let up = (max_total - current).min(want - have);
        self.scale_rs(new, have + up);
        true
    }

    fn reconcile_olds(&mut self, new: usize) -> bool {
        let olds = self.olds();
        if self.all_spec_replicas(&olds) == 0 {
            return false;
        }
        let all_pods = self.all_spec_replicas(&self.all());
        let min_available = replicas(self.d) - max_unavailable(self.d);
        let new_unavailable = rs_replicas(&self.rss[new]) - rs_status(&self.rss[new]).2;
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        // Unhealthy old replicas first: they would block the rollout.
        let mut cleaned = 0;
        for &i in &olds {
            if cleaned >= max_scaled_down {
                break;
            }
            let (spec, available) = (rs_replicas(&self.rss[i]), rs_status(&self.rss[i]).2);
            if spec == 0 || spec <= available {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(spec - available);
            self.scale_rs(i, spec - down);
            cleaned += down;
        }
        // Then healthy ones, as far as availability allows.
        let available: i32 = self.all().iter().map(|i| rs_status(&self.rss[*i]).2).sum();
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for &i in &olds {
                if scaled >= total {
                    break;
                }
                let spec = rs_replicas(&self.rss[i]);
                if spec == 0 {
                    continue;
                }
                let down = spec.min(total - scaled);
                self.scale_rs(i, spec - down);
                scaled += down;
            }
        }
        cleaned + scaled > 0
    }

    fn recreate(&mut self, running_pods: &HashMap<String, usize>) {
        self.sync_revision(false);
        let active_olds = self.active(&self.olds());
        if !active_olds.is_empty() {
            for i in active_olds {
                self.scale_rs(i, 0);
            }
            return self.sync_rollout_status();
        }
        let olds_have_pods = self.olds().iter().any(|i| {
            let uid = self.rss[*i].metadata.uid.as_deref().unwrap_or("");
            rs_status(&self.rss[*i]).0 > 0 || running_pods.get(uid).is_some_and(|n| *n > 0)
        });
        if olds_have_pods {
            return self.sync_rollout_status();
        }
        if self.new.is_none() && !self.sync_revision(true) {
            return;
        }
        let new = self.new.expect("created or found");
        if rs_replicas(&self.rss[new]) != replicas(self.d) {
            self.scale_rs(new, replicas(self.d));
        }
        if complete(self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// Scaling without a rollout (upstream's `scale`): one active set takes the
    /// whole count; a saturated new set means old ones go to 0; otherwise every
    /// active set grows or shrinks in proportion.
    fn scale(&mut self) {
        let n = replicas(self.d);
        let all = self.all();
        let active = self.active(&all);
        let newest_or_active = match active.len() {
            0 => self.new.or_else(|| self.olds().last().copied()),
            1 => Some(active[0]),
            _ => None,
        };
        if let Some(i) = newest_or_active {
            if rs_replicas(&self.rss[i]) != n {
                self.scale_rs(i, n);
            }
            return;
        }
        if let Some(new) = self.new {
            let rs = &self.rss[new];
            if desired_annotation(rs) == Some(n) && rs_replicas(rs) == n && rs_status(rs).2 == n {
                for i in self.active(&self.olds()) {
                    self.scale_rs(i, 0);
                }
                return;
            }
        }
        if is_recreate(self.d) {
            return;
        }
        let mut active = active;
        let allowed = if n > 0 { n + max_surge(self.d) } else { 0 };
        let to_add = allowed - self.all_spec_replicas(&active);
        let created = |r: &ReplicaSet| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if to_add > 0 {
            // Largest first, newer first on ties.
            active.sort_by(|a, b| {
                let (x, y) = (&self.rss[*a], &self.rss[*b]);
                rs_replicas(y).cmp(&rs_replicas(x)).then(created(y).cmp(&created(x)))
            });
        } else if to_add < 0 {
            active.sort_by(|a, b| {
                let (x, y) = (&self.rss[*a], &self.rss[*b]);
                rs_replicas(y).cmp(&rs_replicas(x)).then(created(x).cmp(&created(y)))
            });
        }
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::new();
        for &i in &active {
            let rs = &self.rss[i];
            let proportion = if to_add == 0 { 0 } else { self.proportion(rs, to_add, added) };
            sizes.push(rs_replicas(rs) + proportion);
            added += proportion;
        }
        for (k, &i) in active.iter().enumerate() {
            let mut size = sizes[k];
            if k == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale_rs(i, size);
        }
    }

    fn proportion(&self, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
        if rs_replicas(rs) == 0 || to_add == added {
            return 0;
        }
        let fraction = {
            let n = replicas(self.d);
            if n == 0 {
                -rs_replicas(rs)
            } else {
                let max_now = n + max_surge(self.d);
                let before = max_annotation(rs)
                    .filter(|m| *m != 0)
                    .unwrap_or_else(|| self.d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
                if before == 0 {
                    0
                } else {
                    let size = f64::from(rs_replicas(rs)) * f64::from(max_now) / f64::from(before);
                    size.round() as i32 - rs_replicas(rs)
                }
            }
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// Deletes old sets beyond `revisionHistoryLimit`, lowest revision first,
    /// never one that still has pods.
    fn cleanup(&mut self) {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else { return };
        let mut olds: Vec<usize> =
            self.olds().into_iter().filter(|i| self.rss[*i].metadata.deletion_timestamp.is_none()).collect();
        let diff = olds.len() as i32 - limit;
        if diff <= 0 {
            return;
        }
        olds.sort_by(|a, b| revision(&self.rss[*a]).cmp(&revision(&self.rss[*b])));
        for &i in olds.iter().take(diff as usize) {
            let rs = &self.rss[i];
            let observed = rs.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
            if rs_status(rs).0 != 0 || rs_replicas(rs) != 0 || rs.metadata.generation.unwrap_or(0) > observed {
                continue;
            }
            self.plan.actions.push(Action::DeleteReplicaSet(
                rs.metadata.name.clone().unwrap_or_default(),
                rs.metadata.uid.clone().unwrap_or_default(),
            ));
        }
    }

    /// Upstream's `calculateStatus`: counts from the sets, Available condition.
    fn calculate_status(&self, base: DeploymentStatus) -> DeploymentStatus {
        let all = self.all();
        let available: i32 = all.iter().map(|i| rs_status(&self.rss[*i]).2).sum();
        let total = self.all_spec_replicas(&all);
        let mut status = DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: Some(all.iter().map(|i| rs_status(&self.rss[*i]).0).sum()),
            updated_replicas: Some(self.new.map_or(0, |i| rs_status(&self.rss[i]).0)),
            ready_replicas: Some(all.iter().map(|i| rs_status(&self.rss[*i]).1).sum()),
            available_replicas: Some(available),
            unavailable_replicas: Some((total - available).max(0)),
            collision_count: base.collision_count,
            conditions: base.conditions,
        };
        let c = if available >= replicas(self.d) - max_unavailable(self.d) {
            new_condition(
                AVAILABLE,
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
                self.now,
            )
        } else {
            new_condition(
                AVAILABLE,
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
                self.now,
            )
        };
        set_condition(&mut status, c);
        status
    }

    fn sync_status(&mut self, force: bool) {
        let base = self.base.clone();
        self.sync_status_from(base, force);
    }

    fn sync_status_from(&mut self, base: DeploymentStatus, force: bool) {
        let status = self.calculate_status(base);
        if force || self.d.status.as_ref() != Some(&status) {
            self.plan.actions.push(Action::UpdateStatus(Box::new(status)));
        }
    }

    /// Upstream's `syncRolloutStatus`: the status, plus the Progressing
    /// condition (progressing, complete, or past its deadline).
    fn sync_rollout_status(&mut self) {
        let d = self.d;
        let old = d.status.clone().unwrap_or_default();
        let mut status = self.calculate_status(self.base.clone());
        let Some(deadline) = progress_deadline(d) else {
            remove_condition(&mut status, PROGRESSING);
            return self.write_status(status);
        };
        let current = condition(&self.base, PROGRESSING).cloned();
        let rs_name = self.new.and_then(|i| self.rss[i].metadata.name.clone());
        let what = |verb: &str| match &rs_name {
            Some(n) => format!("ReplicaSet \"{n}\" {verb}"),
            None => format!("Deployment \"{}\" {verb}", d.metadata.name.as_deref().unwrap_or("")),
        };
        let finished = status.replicas == status.updated_replicas
            && current.as_ref().is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
        if !finished {
            let old_olds = old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0);
            let new_olds = status.replicas.unwrap_or(0) - status.updated_replicas.unwrap_or(0);
            let progressing = status.updated_replicas > old.updated_replicas
                || new_olds < old_olds
                || status.ready_replicas > old.ready_replicas
                || status.available_replicas > old.available_replicas;
            if complete(d, &status) {
                let c = new_condition(
                    PROGRESSING,
                    "True",
                    NEW_RS_AVAILABLE,
                    what("has successfully progressed."),
                    self.now,
                );
                set_condition(&mut status, c);
            } else if progressing {
                let mut c = new_condition(PROGRESSING, "True", RS_UPDATED, what("is progressing."), self.now);
                if let Some(cur) = &current {
                    if cur.status == "True" {
                        c.last_transition_time = cur.last_transition_time.clone();
                    }
                    remove_condition(&mut status, PROGRESSING);
                }
                set_condition(&mut status, c);
            } else if let Some(cur) = &current {
                let timed_out = match cur.reason.as_deref() {
                    Some(TIMED_OUT) => true,
                    Some(NEW_RS_AVAILABLE) => false,
                    _ => cur
                        .last_update_time
                        .as_ref()
                        .is_some_and(|t| t.0 + chrono::Duration::seconds(deadline.into()) < self.now),
                };
                if timed_out {
                    let c =
                        new_condition(PROGRESSING, "False", TIMED_OUT, what("has timed out progressing."), self.now);
                    set_condition(&mut status, c);
                } else if let Some(t) = &cur.last_update_time {
                    // Come back when the deadline passes.
                    let at = t.0 + chrono::Duration::seconds(deadline.into());
                    let after = (at - self.now).to_std().unwrap_or_default().max(Duration::from_secs(1));
                    self.plan.requeue_after = Some(after);
                }
            }
        }
        self.write_status(status);
    }

    fn write_status(&mut self, status: DeploymentStatus) {
        if self.d.status.as_ref() != Some(&status) {
            self.plan.actions.push(Action::UpdateStatus(Box::new(status)));
        }
    }

    /// The plan, with every changed ReplicaSet written once, before the
    /// status (so the status never runs ahead of the sets).
    fn finish(mut self) -> Plan {
        let mut updates: Vec<Action> = Vec::new();
        for (i, rs) in self.rss.iter().enumerate() {
            if self.dirty[i] && rs.metadata.uid.is_some() {
                updates.push(Action::UpdateReplicaSet(Box::new(rs.clone())));
            }
        }
        let at = self
            .plan
            .actions
            .iter()
            .position(|a| matches!(a, Action::UpdateStatus(_)))
            .unwrap_or(self.plan.actions.len());
        self.plan.actions.splice(at..at, updates);
        self.plan
    }
}

#[cfg(test)]
mod tests;
