//! The scheduler's decision core: a state machine fed with cluster changes and
//! asked for the next action. No I/O: the shell (`crate::shell`) turns actions
//! into API calls and feeds their results back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};
use rand::RngCore;

use crate::cache::Cache;
use crate::config::SchedulerConfig;
use crate::framework::CycleState;
use crate::pod_info::PodInfo;
use crate::preemption::{preempt, Pdb, Preemption};
use crate::queue::{QueueCounts, SchedulingQueue};
use crate::schedule::{Algorithm, Nominated, ScheduleError};
use crate::selector::Labels;

/// What the shell should do next.
#[derive(Debug, Clone)]
pub enum Action {
    /// Write the binding of `pod` (already assumed in the cache) to `node`, then
    /// report with [`SchedulerCore::bind_finished`].
    Bind { pod: Arc<PodInfo>, node: String },
    /// Nothing fits: set `PodScheduled=False` (reason `Unschedulable`) with
    /// `message`, post a `FailedScheduling` event, and — if preemption found
    /// room — set `status.nominatedNodeName` and evict `victims`.
    Unschedulable { pod: Arc<PodInfo>, message: String, nominated_node: Option<String>, victims: Vec<Arc<PodInfo>> },
}

/// A binding in flight.
struct Binding {
    profile: usize,
    state: CycleState,
    node: String,
}

/// The whole scheduler minus I/O.
///
/// # Guarantees
/// - Only pods whose `spec.schedulerName` names a configured profile, that have
///   no node, no scheduling gates and no deletion timestamp are scheduled.
/// - A pod chosen for a node counts there (assumed) until its binding is
///   confirmed by a pod update or reported failed.
/// - Deterministic for a given seed of the injected RNG and sequence of inputs.
pub struct SchedulerCore {
    config: SchedulerConfig,
    cache: Cache,
    queue: SchedulingQueue,
    algorithm: Algorithm,
    rng: Box<dyn RngCore + Send>,
    pdbs: HashMap<String, Pdb>,
    /// Pending pods with `status.nominatedNodeName`, by uid.
    nominated: HashMap<String, (String, Arc<PodInfo>)>,
    binding: HashMap<String, Binding>,
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Whether an update could change where the pod fits (upstream's `isPodUpdated`:
/// everything but status, resourceVersion, generation, managedFields, finalizers).
/// `spec.nodeName` is left out too: an assumed pod shares its spec with the pod as
/// it was pending (see [`PodInfo::assumed_on`]), and the caller that confirms a
/// binding checks the node itself.
fn spec_or_metadata_changed(old: &Pod, new: &Pod) -> bool {
    let (a, b) = (&old.metadata, &new.metadata);
    let same_spec = match (&old.spec, &new.spec) {
        (Some(x), Some(y)) => same_spec_but_node_name(x, y),
        (None, None) => true,
        _ => false,
    };
    !same_spec
        || a.labels != b.labels
        || a.annotations != b.annotations
        || a.deletion_timestamp != b.deletion_timestamp
        || a.owner_references != b.owner_references
}

/// Whether two specs are equal but for `nodeName`. Every field is named, so a field
/// a new k8s-openapi adds fails to compile here until it is compared.
fn same_spec_but_node_name(x: &PodSpec, y: &PodSpec) -> bool {
    let PodSpec {
        active_deadline_seconds,
        affinity,
        automount_service_account_token,
        containers,
        dns_config,
        dns_policy,
        enable_service_links,
        ephemeral_containers,
        host_aliases,
        host_ipc,
        host_network,
        host_pid,
        host_users,
        hostname,
        image_pull_secrets,
        init_containers,
        node_name: _,
        node_selector,
        os,
        overhead,
        preemption_policy,
        priority,
        priority_class_name,
        readiness_gates,
        resource_claims,
        resources,
        restart_policy,
        runtime_class_name,
        scheduler_name,
        scheduling_gates,
        security_context,
        service_account,
        service_account_name,
        set_hostname_as_fqdn,
        share_process_namespace,
        subdomain,
        termination_grace_period_seconds,
        tolerations,
        topology_spread_constraints,
        volumes,
    } = x;
    *active_deadline_seconds == y.active_deadline_seconds
        && *affinity == y.affinity
        && *automount_service_account_token == y.automount_service_account_token
        && *containers == y.containers
        && *dns_config == y.dns_config
        && *dns_policy == y.dns_policy
        && *enable_service_links == y.enable_service_links
        && *ephemeral_containers == y.ephemeral_containers
        && *host_aliases == y.host_aliases
        && *host_ipc == y.host_ipc
        && *host_network == y.host_network
        && *host_pid == y.host_pid
        && *host_users == y.host_users
        && *hostname == y.hostname
        && *image_pull_secrets == y.image_pull_secrets
        && *init_containers == y.init_containers
        && *node_selector == y.node_selector
        && *os == y.os
        && *overhead == y.overhead
        && *preemption_policy == y.preemption_policy
        && *priority == y.priority
        && *priority_class_name == y.priority_class_name
        && *readiness_gates == y.readiness_gates
        && *resource_claims == y.resource_claims
        && *resources == y.resources
        && *restart_policy == y.restart_policy
        && *runtime_class_name == y.runtime_class_name
        && *scheduler_name == y.scheduler_name
        && *scheduling_gates == y.scheduling_gates
        && *security_context == y.security_context
        && *service_account == y.service_account
        && *service_account_name == y.service_account_name
        && *set_hostname_as_fqdn == y.set_hostname_as_fqdn
        && *share_process_namespace == y.share_process_namespace
        && *subdomain == y.subdomain
        && *termination_grace_period_seconds == y.termination_grace_period_seconds
        && *tolerations == y.tolerations
        && *topology_spread_constraints == y.topology_spread_constraints
        && *volumes == y.volumes
}

/// Whether both copies report the same start (preemption's tie-break reads it).
fn same_start(old: &Pod, new: &Pod) -> bool {
    let start = |p: &Pod| p.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0);
    start(old) == start(new)
}

impl SchedulerCore {
    pub fn new(config: SchedulerConfig, rng: Box<dyn RngCore + Send>) -> SchedulerCore {
        SchedulerCore {
            queue: SchedulingQueue::new(config.queue),
            config,
            cache: Cache::new(),
            algorithm: Algorithm::default(),
            rng,
            pdbs: HashMap::new(),
            nominated: HashMap::new(),
            binding: HashMap::new(),
        }
    }

    /// Whether a pod naming this scheduler is ours.
    pub fn responsible_for(&self, pod: &Pod) -> bool {
        let name = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()).unwrap_or("");
        self.config.profile(name).is_some()
    }

    /// A pod was added or changed. `priority` is its resolved priority.
    pub fn pod_upserted(&mut self, pod: Arc<Pod>, priority: i32, now: Instant) {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        if is_terminal(&pod) {
            return self.pod_deleted(uid, now);
        }
        // Our own binding coming back: the pod already counts on that node.
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default();
        if !node.is_empty()
            && self.cache.confirm_in_place(uid, node, |assumed| {
                assumed.priority == priority
                    && !spec_or_metadata_changed(&assumed.pod, &pod)
                    && same_start(&assumed.pod, &pod)
            })
        {
            self.queue.delete(uid);
            self.nominated.remove(uid);
            return;
        }
        let info = Arc::new(PodInfo::new(pod.clone(), priority));
        let uid = info.uid.clone();
        if !info.node_name.is_empty() {
            self.queue.delete(&uid);
            self.nominated.remove(&uid);
            let was_known = self.cache.contains_pod(&uid);
            self.cache.add_pod(info);
            if !was_known {
                // A pod placed by someone else may satisfy pending pods' affinity.
                self.queue.move_all_to_active_or_backoff(now);
            }
            return;
        }
        let gated = pod.spec.as_ref().and_then(|s| s.scheduling_gates.as_ref()).is_some_and(|g| !g.is_empty());
        if !self.responsible_for(&pod) || gated || info.terminating {
            self.queue.delete(&uid);
            self.nominated.remove(&uid);
            return;
        }
        if self.cache.is_assumed(&uid) {
            // Our binding is in flight; this copy predates it.
            return;
        }
        match pod.status.as_ref().and_then(|s| s.nominated_node_name.clone()).filter(|n| !n.is_empty()) {
            Some(node) => {
                self.nominated.insert(uid.clone(), (node, info.clone()));
            }
            None => {
                self.nominated.remove(&uid);
            }
        }
        let changed = self.queue.get(&uid).is_none_or(|q| spec_or_metadata_changed(&q.pod.pod, &pod));
        self.queue.update(info, changed, now);
    }

    /// A pod was deleted (or finished).
    pub fn pod_deleted(&mut self, uid: &str, now: Instant) {
        self.queue.delete(uid);
        self.nominated.remove(uid);
        if self.cache.contains_pod(uid) {
            self.cache.remove_pod(uid);
            self.queue.move_all_to_active_or_backoff(now);
        }
    }

    /// A node was added or changed.
    pub fn node_upserted(&mut self, node: Arc<Node>, now: Instant) {
        self.cache.add_node(node);
        self.queue.move_all_to_active_or_backoff(now);
    }

    pub fn node_deleted(&mut self, name: &str) {
        self.cache.remove_node(name);
    }

    pub fn pdb_upserted(&mut self, key: &str, pdb: Pdb) {
        self.pdbs.insert(key.to_string(), pdb);
    }

    pub fn pdb_deleted(&mut self, key: &str) {
        self.pdbs.remove(key);
    }

    /// A PersistentVolumeClaim was added or changed (bound, for instance).
    pub fn claim_upserted(&mut self, pvc: &k8s_openapi::api::core::v1::PersistentVolumeClaim, now: Instant) {
        self.cache.volumes_mut().set_claim(pvc);
        self.queue.move_all_to_active_or_backoff(now);
    }

    pub fn claim_deleted(&mut self, key: &str) {
        self.cache.volumes_mut().claims.remove(key);
    }

    /// A PersistentVolume was added or changed.
    pub fn volume_upserted(&mut self, pv: &k8s_openapi::api::core::v1::PersistentVolume, now: Instant) {
        self.cache.volumes_mut().set_volume(pv);
        self.queue.move_all_to_active_or_backoff(now);
    }

    pub fn volume_deleted(&mut self, name: &str) {
        self.cache.volumes_mut().volumes.remove(name);
    }

    /// A StorageClass was added or changed (its binding mode matters).
    pub fn class_upserted(&mut self, class: &k8s_openapi::api::storage::v1::StorageClass, now: Instant) {
        self.cache.volumes_mut().set_class(class);
        self.queue.move_all_to_active_or_backoff(now);
    }

    pub fn class_deleted(&mut self, name: &str) {
        self.cache.volumes_mut().delayed_classes.remove(name);
    }

    /// A namespace's labels (for `namespaceSelector`); `None` when deleted.
    pub fn namespace_upserted(&mut self, name: &str, labels: Option<Labels>) {
        self.cache.set_namespace(name, labels);
    }

    fn nominated_by_node(&self) -> Nominated {
        let mut by_node = Nominated::new();
        for (node, pod) in self.nominated.values() {
            by_node.entry(node.clone()).or_default().push(pod.clone());
        }
        by_node
    }

    /// Schedules the next pod, if one is ready. Call until it returns `None`.
    pub fn schedule_next(&mut self, now: Instant) -> Option<Action> {
        loop {
            let (queued, cycle) = self.queue.pop(now)?;
            let pod = queued.pod;
            if self.cache.contains_pod(&pod.uid) {
                self.queue.done(&pod.uid);
                continue;
            }
            let scheduler_name = pod.spec().scheduler_name.clone().unwrap_or_default();
            let name = if scheduler_name.is_empty() { crate::config::DEFAULT_SCHEDULER_NAME } else { &scheduler_name };
            let Some(profile_index) = self.config.profiles.iter().position(|p| p.scheduler_name == name) else {
                self.queue.delete(&pod.uid);
                continue;
            };
            let profile = &self.config.profiles[profile_index];
            let snap = self.cache.snapshot();
            let mut state = CycleState::new();
            let nominated = self.nominated_by_node();
            let result = self.algorithm.schedule(profile, &mut state, &pod, &snap, &nominated, &mut *self.rng);
            match result {
                Ok(r) => {
                    let assumed = Arc::new(pod.assumed_on(&r.node));
                    if self.cache.assume(assumed.clone()).is_err() {
                        self.queue.requeue_backoff(&pod.uid, now);
                        continue;
                    }
                    if !profile.run_reserve(&mut state, &assumed, &r.node).fits() {
                        self.cache.forget(&pod.uid);
                        self.queue.requeue_backoff(&pod.uid, now);
                        continue;
                    }
                    self.nominated.remove(&pod.uid);
                    self.binding
                        .insert(pod.uid.clone(), Binding { profile: profile_index, state, node: r.node.clone() });
                    return Some(Action::Bind { pod: assumed, node: r.node });
                }
                Err(ScheduleError::NoNodes) => {
                    self.queue.requeue_unschedulable(&pod.uid, cycle, now);
                    let message = ScheduleError::NoNodes.to_string();
                    return Some(Action::Unschedulable { pod, message, nominated_node: None, victims: Vec::new() });
                }
                Err(ScheduleError::Unfit(mut fit_error)) => {
                    let (mut nominated_node, mut victims) = (None, Vec::new());
                    if profile.preemption {
                        let pdbs: Vec<Pdb> = self.pdbs.values().cloned().collect();
                        match preempt(profile, &state, &pod, &snap, &fit_error, &pdbs, &nominated) {
                            Preemption::Candidate(c) => {
                                self.nominated.insert(pod.uid.clone(), (c.node.clone(), pod.clone()));
                                nominated_node = Some(c.node);
                                victims = c.victims;
                            }
                            Preemption::Failed(msg) => fit_error.post_filter_msg = Some(format!("preemption: {msg}")),
                        }
                    }
                    self.queue.requeue_unschedulable(&pod.uid, cycle, now);
                    let message = fit_error.to_string();
                    return Some(Action::Unschedulable { pod, message, nominated_node, victims });
                }
            }
        }
    }

    /// The outcome of an [`Action::Bind`]. On failure the assumption is undone and
    /// the pod retried after its backoff (or dropped if `permanent`).
    pub fn bind_finished(&mut self, uid: &str, ok: bool, permanent: bool, now: Instant) {
        let Some(mut b) = self.binding.remove(uid) else { return };
        if ok {
            self.queue.done(uid);
            return;
        }
        if let Some(pod) = self.queue.get(uid).map(|q| q.pod.clone()) {
            self.config.profiles[b.profile].run_unreserve(&mut b.state, &pod, &b.node);
        }
        self.cache.forget(uid);
        if permanent {
            self.queue.delete(uid);
        } else {
            self.queue.requeue_backoff(uid, now);
        }
        // The room it held is free again.
        self.queue.move_all_to_active_or_backoff(now);
    }

    /// When [`SchedulerCore::schedule_next`] may next have work without any input.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.queue.next_wakeup()
    }

    pub fn has_ready(&self) -> bool {
        self.queue.has_active()
    }

    pub fn queue_counts(&self) -> QueueCounts {
        self.queue.counts()
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }
}

#[cfg(test)]
mod tests;
