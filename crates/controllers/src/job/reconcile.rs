//! One Job sync as a pure function (upstream's `syncJob`): what the Job's pods
//! say, plus `now`, in; the pods to create, delete and release (remove the
//! tracking finalizer from), the new status and events out.
//!
//! Terminated pods are counted through the `batch.kubernetes.io/job-tracking`
//! finalizer as upstream does: a finished pod's uid (or, for Indexed Jobs, its
//! index) is first written to status (`uncountedTerminatedPods` /
//! `completedIndexes`), then its finalizer is removed, and once the pod no
//! longer holds the finalizer its uid moves into `succeeded`/`failed`. The
//! shell writes status before it removes finalizers and writes status with
//! the resourceVersion it read, so no pod is counted twice or lost.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{indexes, policy};
use crate::replicaset::pods::{is_ready, sort_for_deletion};

/// The finalizer that keeps a Job's pod until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The first delay before a failed pod is replaced; it doubles per failure
/// since the last success, up to [`MAX_BACKOFF`] (upstream's values).
pub const BACKOFF_BASE: Duration = Duration::from_secs(10);
pub const MAX_BACKOFF: Duration = Duration::from_secs(360);
/// Upstream creates at most this many pods per sync.
const MAX_CREATE: usize = 500;

/// A pod the plan acts on.
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

/// A Job event (`Completed`, `BackoffLimitExceeded`, `Suspended`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// The writes of one sync, performed in this order: status, finalizer
/// removals, deletes, creates, Job deletion.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// The new status, when it differs from the stored one.
    pub status: Option<JobStatus>,
    /// Pods whose tracking finalizer goes (after `status` is written).
    pub release: Vec<PodRef>,
    pub delete: Vec<PodRef>,
    /// One entry per pod to create: its completion index (Indexed) or `None`.
    pub create: Vec<Option<i32>>,
    /// `ttlSecondsAfterFinished` ran out: delete the Job (and its pods).
    pub delete_job: bool,
    pub events: Vec<JobEvent>,
    pub requeue_after: Option<Duration>,
}

pub fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata.finalizers.iter().flatten().any(|f| f == TRACKING_FINALIZER)
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Running or pending, not being deleted.
fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
}

fn is_terminating(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_some()
}

/// When the pod finished: its containers' latest `finishedAt`, else when it
/// was deleted, else when it was created (upstream's `getFinishedTime`).
pub fn finish_time(pod: &Pod) -> Option<DateTime<Utc>> {
    let status = pod.status.as_ref();
    let finished = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref().map(|t| t.0))
        .max();
    finished
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .or_else(|| {
            let conditions = status.and_then(|s| s.conditions.as_ref());
            conditions.into_iter().flatten().filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0)).max()
        })
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

pub fn condition<'a>(status: &'a JobStatus, type_: &str) -> Option<&'a JobCondition> {
    status.conditions.iter().flatten().find(|c| c.type_ == type_)
}

pub fn condition_true(status: &JobStatus, type_: &str) -> bool {
    condition(status, type_).is_some_and(|c| c.status == "True")
}

/// Whether the Job has its terminal condition (`Complete` or `Failed`).
pub fn is_finished(job: &Job) -> bool {
    job.status.as_ref().is_some_and(|s| condition_true(s, "Complete") || condition_true(s, "Failed"))
}

/// Sets a condition; the transition time moves only when the status changes.
fn set_condition(status: &mut JobStatus, type_: &str, value: &str, reason: &str, message: &str, now: DateTime<Utc>) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let fresh = JobCondition {
        type_: type_.into(),
        status: value.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == value => {
            if c.reason.as_deref() != Some(reason) || c.message.as_deref() != Some(message) {
                c.reason = fresh.reason;
                c.message = fresh.message;
                c.last_probe_time = fresh.last_probe_time;
            }
        }
        Some(c) => *c = fresh,
        None => conditions.push(fresh),
    }
}

/// When a failed pod may next be replaced: after the last failure since the
/// last success, plus `BACKOFF_BASE * 2^(failures-1)` capped at `MAX_BACKOFF`.
fn backoff_until(pods: &[&Pod]) -> Option<DateTime<Utc>> {
    let last_success = pods.iter().filter(|p| phase(p) == "Succeeded").filter_map(|p| finish_time(p)).max();
    let failures: Vec<DateTime<Utc>> = pods
        .iter()
        .filter(|p| phase(p) == "Failed")
        .filter_map(|p| finish_time(p))
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let last = *failures.iter().max()?;
    let shift = (failures.len() as u32 - 1).min(16);
    let delay = BACKOFF_BASE.saturating_mul(1 << shift).min(MAX_BACKOFF);
    Some(last + chrono::Duration::from_std(delay).unwrap_or_default())
}

fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default()
}

fn min_requeue(plan: &mut Plan, after: Duration) {
    plan.requeue_after = Some(plan.requeue_after.map_or(after, |d| d.min(after)));
}

/// What the counting step found.
struct Counted {
    unc_succeeded: BTreeSet<String>,
    unc_failed: BTreeSet<String>,
    succeeded: i32,
    failed: i32,
    completed: BTreeSet<i32>,
    fail_job: Option<String>,
}

/// Moves released pods into the counters and records newly finished ones.
fn count(job: &Job, status: &JobStatus, pods: &[&Pod], plan: &mut Plan) -> Counted {
    let spec = job.spec.as_ref();
    let indexed = spec.and_then(|s| s.completion_mode.as_deref()) == Some("Indexed");
    let completions = spec.and_then(|s| s.completions).unwrap_or(0);
    let suspended = spec.and_then(|s| s.suspend) == Some(true);
    let failure_policy = spec.and_then(|s| s.pod_failure_policy.as_ref());
    let by_uid: BTreeMap<&str, &Pod> = pods.iter().filter_map(|p| Some((p.metadata.uid.as_deref()?, *p))).collect();
    let uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
    let mut c = Counted {
        unc_succeeded: uncounted.succeeded.unwrap_or_default().into_iter().collect(),
        unc_failed: uncounted.failed.unwrap_or_default().into_iter().collect(),
        succeeded: status.succeeded.unwrap_or(0),
        failed: status.failed.unwrap_or(0),
        completed: indexes::parse(status.completed_indexes.as_deref().unwrap_or(""), completions),
        fail_job: None,
    };
    // Recorded earlier: count those whose finalizer is gone, release the rest.
    for (set, counter) in [(&mut c.unc_succeeded, &mut c.succeeded), (&mut c.unc_failed, &mut c.failed)] {
        set.retain(|uid| match by_uid.get(uid.as_str()) {
            Some(pod) if has_finalizer(pod) => {
                plan.release.push(PodRef::of(pod));
                true
            }
            _ => {
                *counter += 1;
                false
            }
        });
    }
    for pod in pods.iter().filter(|p| has_finalizer(p)) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if c.unc_succeeded.contains(&uid) || c.unc_failed.contains(&uid) {
            continue;
        }
        if phase(pod) == "Succeeded" {
            if indexed {
                // The index is the record: a second pod of it is not counted again.
                if let Some(i) = indexes::of_pod(pod).filter(|i| *i < completions) {
                    c.completed.insert(i);
                }
            } else {
                c.unc_succeeded.insert(uid);
            }
            plan.release.push(PodRef::of(pod));
        } else if phase(pod) == "Failed" || pod.metadata.deletion_timestamp.is_some() {
            // Pods deleted while running count as failed (they never get to
            // report), except those the Job itself stopped for suspension.
            let verdict = if phase(pod) == "Failed" {
                policy::evaluate(failure_policy, pod)
            } else if suspended {
                policy::Verdict::Ignore
            } else {
                policy::Verdict::Count
            };
            match verdict {
                policy::Verdict::Ignore => {}
                policy::Verdict::Count => {
                    c.unc_failed.insert(uid);
                }
                policy::Verdict::FailJob(message) => {
                    c.fail_job.get_or_insert(message);
                    c.unc_failed.insert(uid);
                }
            }
            plan.release.push(PodRef::of(pod));
        }
    }
    c
}

/// One sync of `job`, given the pods it controls, `now`, and whether its
/// create/delete expectations are met (if not, no pod is created or deleted).
pub fn reconcile(job: &Job, pods: &[&Pod], now: DateTime<Utc>, satisfied: bool) -> Plan {
    let mut plan = Plan::default();
    let Some(spec) = job.spec.as_ref() else { return plan };
    let old = job.status.clone().unwrap_or_default();
    let mut status = old.clone();
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let parallelism = spec.parallelism.unwrap_or(1).max(0) as usize;
    let suspended = spec.suspend == Some(true);
    let finished = is_finished(job);

    let counted = count(job, &old, pods, &mut plan);
    let succeeded =
        if indexed { counted.completed.len() as i32 } else { counted.succeeded + counted.unc_succeeded.len() as i32 };
    let failed = counted.failed + counted.unc_failed.len() as i32;
    let active: Vec<&Pod> = pods.iter().copied().filter(|p| is_active(p)).collect();
    let terminating = pods.iter().filter(|p| is_terminating(p)).count();

    if finished {
        ttl(job, &status, now, &mut plan);
    } else {
        if status.start_time.is_none() && !suspended {
            status.start_time = Some(Time(now));
        }
        // Why the Job fails, if it does.
        let mut failure = condition(&status, "FailureTarget")
            .filter(|c| c.status == "True")
            .map(|c| (c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default()));
        if failure.is_none() {
            failure = counted.fail_job.clone().map(|m| ("PodFailurePolicy".to_string(), m));
        }
        if failure.is_none() && failed > spec.backoff_limit.unwrap_or(6) {
            failure = Some(("BackoffLimitExceeded".into(), "Job has reached the specified backoff limit".into()));
        }
        if let (None, Some(deadline), Some(start), false) =
            (&failure, spec.active_deadline_seconds, &status.start_time, suspended)
        {
            let at = start.0 + chrono::Duration::seconds(deadline);
            if now >= at {
                failure = Some(("DeadlineExceeded".into(), "Job was active longer than specified deadline".into()));
            } else {
                min_requeue(&mut plan, until(at, now));
            }
        }
        let complete = failure.is_none()
            && (condition_true(&status, "SuccessCriteriaMet")
                || match (indexed, spec.completions) {
                    (true, Some(c)) => succeeded >= c,
                    (_, Some(c)) => succeeded >= c,
                    (_, None) => succeeded > 0 && active.is_empty(),
                });
        let settled = |plan: &Plan| active.len() == plan.delete.len() && terminating == 0;
        if let Some((reason, message)) = failure {
            if !condition_true(&status, "FailureTarget") {
                set_condition(&mut status, "FailureTarget", "True", &reason, &message, now);
                plan.events.push(JobEvent { warning: true, reason: leak(&reason), message: message.clone() });
            }
            plan.delete.extend(active.iter().map(|p| PodRef::of(p)));
            if settled(&plan) && plan.delete.is_empty() && counted_all(&counted) {
                set_condition(&mut status, "Failed", "True", &reason, &message, now);
            }
        } else if complete {
            let message = "Reached expected number of succeeded pods";
            if !condition_true(&status, "SuccessCriteriaMet") {
                set_condition(&mut status, "SuccessCriteriaMet", "True", "CompletionsReached", message, now);
            }
            plan.delete.extend(active.iter().map(|p| PodRef::of(p)));
            if settled(&plan) && plan.delete.is_empty() && counted_all(&counted) {
                set_condition(&mut status, "Complete", "True", "CompletionsReached", message, now);
                status.completion_time = Some(Time(now));
                plan.events.push(JobEvent { warning: false, reason: "Completed", message: "Job completed".into() });
            }
        } else if suspended {
            if !condition_true(&status, "Suspended") {
                set_condition(&mut status, "Suspended", "True", "JobSuspended", "Job suspended", now);
                plan.events.push(JobEvent { warning: false, reason: "Suspended", message: "Job suspended".into() });
            }
            plan.delete.extend(active.iter().map(|p| PodRef::of(p)));
        } else {
            if condition_true(&status, "Suspended") {
                set_condition(&mut status, "Suspended", "False", "JobResumed", "Job resumed", now);
                // The active deadline counts from the resume.
                status.start_time = Some(Time(now));
                plan.events.push(JobEvent { warning: false, reason: "Resumed", message: "Job resumed".into() });
            }
            if satisfied {
                manage(job, pods, &active, terminating, succeeded, &counted.completed, parallelism, now, &mut plan);
            }
        }
        if !satisfied {
            plan.delete.clear();
        }
    }

    let ready = active.iter().filter(|p| is_ready(p)).count() as i32;
    status.active = Some((active.len() + plan.create.len() - plan.delete.len().min(active.len())) as i32);
    status.ready = Some(ready);
    status.terminating = Some(terminating as i32);
    // The counters hold only released pods; uncounted ones are listed apart.
    status.succeeded = Some(if indexed { succeeded } else { counted.succeeded });
    status.failed = Some(counted.failed);
    if indexed {
        status.completed_indexes = Some(indexes::format(&counted.completed));
    }
    let list = |s: &BTreeSet<String>| (!s.is_empty()).then(|| s.iter().cloned().collect::<Vec<_>>());
    status.uncounted_terminated_pods =
        Some(UncountedTerminatedPods { succeeded: list(&counted.unc_succeeded), failed: list(&counted.unc_failed) });
    if status != old {
        plan.status = Some(status);
    }
    plan
}

fn counted_all(c: &Counted) -> bool {
    c.unc_succeeded.is_empty() && c.unc_failed.is_empty()
}

/// Event reasons are static strings; failure reasons come from a fixed set.
fn leak(reason: &str) -> &'static str {
    match reason {
        "BackoffLimitExceeded" => "BackoffLimitExceeded",
        "DeadlineExceeded" => "DeadlineExceeded",
        "PodFailurePolicy" => "PodFailurePolicy",
        _ => "JobFailed",
    }
}

/// `ttlSecondsAfterFinished`: delete the Job once it has been finished that long.
fn ttl(job: &Job, status: &JobStatus, now: DateTime<Utc>, plan: &mut Plan) {
    let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else { return };
    if job.metadata.deletion_timestamp.is_some() {
        return;
    }
    let finished_at = status.completion_time.as_ref().map(|t| t.0).or_else(|| {
        ["Complete", "Failed"]
            .iter()
            .filter_map(|t| condition(status, t).filter(|c| c.status == "True")?.last_transition_time.as_ref())
            .map(|t| t.0)
            .max()
    });
    let Some(finished_at) = finished_at else { return };
    let at = finished_at + chrono::Duration::seconds(ttl.into());
    if now >= at {
        plan.delete_job = true;
    } else {
        min_requeue(plan, until(at, now));
    }
}

/// Creates and deletes pods so `min(parallelism, remaining)` are active.
#[allow(clippy::too_many_arguments)]
fn manage(
    job: &Job,
    pods: &[&Pod],
    active: &[&Pod],
    terminating: usize,
    succeeded: i32,
    completed: &BTreeSet<i32>,
    parallelism: usize,
    now: DateTime<Utc>,
    plan: &mut Plan,
) {
    let spec = job.spec.as_ref().expect("checked by reconcile");
    // With podReplacementPolicy Failed a pod is replaced only once it is gone.
    let occupied = if spec.pod_replacement_policy.as_deref() == Some("Failed") { terminating } else { 0 };
    let mut want_new: Vec<Option<i32>> = Vec::new();
    if spec.completion_mode.as_deref() == Some("Indexed") {
        let completions = spec.completions.unwrap_or(0);
        let mut by_index: BTreeMap<i32, Vec<&Pod>> = BTreeMap::new();
        for pod in active {
            match indexes::of_pod(pod).filter(|i| *i < completions && !completed.contains(i)) {
                Some(i) => by_index.entry(i).or_default().push(pod),
                // No valid index, or its index is done: not needed.
                None => plan.delete.push(PodRef::of(pod)),
            }
        }
        for pods in by_index.values_mut() {
            // One pod per index: keep the oldest.
            pods.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
            plan.delete.extend(pods.iter().skip(1).map(|p| PodRef::of(p)));
        }
        let running = by_index.len();
        if running > parallelism {
            let surplus = by_index.iter().rev().take(running - parallelism).map(|(_, p)| PodRef::of(p[0]));
            plan.delete.extend(surplus.collect::<Vec<_>>());
        }
        let room = parallelism.saturating_sub(running + occupied);
        want_new = (0..completions)
            .filter(|i| !completed.contains(i) && !by_index.contains_key(i))
            .take(room)
            .map(Some)
            .collect();
    } else {
        let want = match spec.completions {
            None if succeeded > 0 => 0,
            None => parallelism,
            Some(c) => parallelism.min((c - succeeded).max(0) as usize),
        };
        if active.len() > want {
            let mut ranked: Vec<&Pod> = active.to_vec();
            sort_for_deletion(&mut ranked, active);
            plan.delete.extend(ranked.iter().take(active.len() - want).map(|p| PodRef::of(p)));
        } else {
            want_new = vec![None; want.saturating_sub(active.len() + occupied)];
        }
    }
    if want_new.is_empty() {
        return;
    }
    if let Some(at) = backoff_until(pods).filter(|at| *at > now) {
        min_requeue(plan, until(at, now));
        return;
    }
    want_new.truncate(MAX_CREATE);
    plan.create = want_new;
}

#[cfg(test)]
mod tests;
