//! One CronJob sync as a pure function (upstream's `syncCronJob`): the
//! CronJob, the Jobs it controls and `now` in; the Job to start (if a
//! schedule time has come), the Jobs to delete (Replace, history limits) and
//! the new status out.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::schedule::Schedule;
use crate::job::reconcile::condition_true;

/// Upstream gives up counting missed start times beyond this many.
const MAX_MISSED: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Start a Job for this scheduled time.
    pub start: Option<DateTime<Utc>>,
    /// Jobs to delete (name, uid): Replace's running ones, then history.
    pub delete: Vec<(String, String)>,
    pub status: Option<CronJobStatus>,
    pub events: Vec<CronEvent>,
    pub requeue_after: Option<Duration>,
}

/// Upstream's Job name for a scheduled time: `<cronjob>-<minutes since epoch>`,
/// so each time gets at most one Job.
pub fn job_name(cron_job: &str, scheduled: DateTime<Utc>) -> String {
    format!("{cron_job}-{}", scheduled.timestamp() / 60)
}

fn finished(job: &Job) -> Option<&'static str> {
    let status = job.status.as_ref()?;
    if condition_true(status, "Complete") {
        Some("Complete")
    } else if condition_true(status, "Failed") {
        Some("Failed")
    } else {
        None
    }
}

pub fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// The scheduled times in `(earliest, now]`: the most recent one and whether
/// there were more than [`MAX_MISSED`].
fn most_recent<Tz: chrono::TimeZone>(
    schedule: &Schedule,
    earliest: DateTime<Tz>,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, usize) {
    let mut last = None;
    let mut missed = 0;
    let mut t = earliest;
    while let Some(next) = schedule.next_after(&t) {
        if next.with_timezone(&Utc) > now {
            break;
        }
        last = Some(next.with_timezone(&Utc));
        missed += 1;
        if missed > MAX_MISSED {
            // Jump close to now rather than walk thousands of missed times.
            let tz = next.timezone();
            let near = (now - chrono::Duration::days(1)).with_timezone(&tz);
            t = if near > next { near } else { next };
            continue;
        }
        t = next;
    }
    (last, missed)
}

/// One sync of `cron` with the Jobs it controls at `now`. `tz` is the
/// parsed `timeZone` (UTC when unset); `schedule` the parsed schedule.
pub fn reconcile<Tz: chrono::TimeZone>(
    cron: &CronJob,
    jobs: &[&Job],
    schedule: &Schedule,
    tz: &Tz,
    now: DateTime<Utc>,
) -> Plan {
    let mut plan = Plan::default();
    let Some(spec) = cron.spec.as_ref() else { return plan };
    let old = cron.status.clone().unwrap_or_default();
    let mut status = old.clone();

    // Active: the controlled Jobs not finished. Finished ones update lastSuccessfulTime.
    let mut active: Vec<&Job> =
        jobs.iter().copied().filter(|j| finished(j).is_none() && j.metadata.deletion_timestamp.is_none()).collect();
    active.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for job in jobs.iter().filter(|j| finished(j) == Some("Complete")) {
        let done = job.status.as_ref().and_then(|s| s.completion_time.as_ref()).map(|t| t.0);
        if let Some(done) = done {
            if status.last_successful_time.as_ref().is_none_or(|t| t.0 < done) {
                status.last_successful_time = Some(Time(done));
            }
        }
    }

    // History limits: the oldest finished Jobs beyond the limits go.
    for (kind, limit) in [
        ("Complete", spec.successful_jobs_history_limit.unwrap_or(3)),
        ("Failed", spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let mut done: Vec<&Job> = jobs
            .iter()
            .copied()
            .filter(|j| finished(j) == Some(kind) && j.metadata.deletion_timestamp.is_none())
            .collect();
        let started = |j: &Job| {
            j.status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .or(j.metadata.creation_timestamp.as_ref())
                .map(|t| t.0)
        };
        done.sort_by_key(|j| started(j));
        let surplus = done.len().saturating_sub(limit.max(0) as usize);
        plan.delete.extend(
            done.iter()
                .take(surplus)
                .map(|j| (j.metadata.name.clone().unwrap_or_default(), j.metadata.uid.clone().unwrap_or_default())),
        );
    }

    let suspended = spec.suspend == Some(true);
    if !suspended && cron.metadata.deletion_timestamp.is_none() {
        schedule_next(cron, jobs, &active, schedule, tz, now, &mut status, &mut plan);
    }

    let mut refs: Vec<ObjectReference> = active.iter().map(|j| job_ref(j)).collect();
    refs.retain(|r| !plan.delete.iter().any(|(_, uid)| r.uid.as_deref() == Some(uid.as_str())));
    // resourceVersions change with every Job status write; compare without them.
    let strip = |v: &[ObjectReference]| v.iter().map(|r| (r.name.clone(), r.uid.clone())).collect::<Vec<_>>();
    let old_refs = old.active.clone().unwrap_or_default();
    status.active =
        if strip(&refs) == strip(&old_refs) { old.active.clone() } else { (!refs.is_empty()).then_some(refs) };
    if status != old {
        plan.status = Some(status);
    }
    plan
}

#[allow(clippy::too_many_arguments)]
fn schedule_next<Tz: chrono::TimeZone>(
    cron: &CronJob,
    jobs: &[&Job],
    active: &[&Job],
    schedule: &Schedule,
    tz: &Tz,
    now: DateTime<Utc>,
    status: &mut CronJobStatus,
    plan: &mut Plan,
) {
    let spec = cron.spec.as_ref().expect("checked by reconcile");
    let name = cron.metadata.name.as_deref().unwrap_or("");
    let created = cron.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
    let mut earliest = status.last_schedule_time.as_ref().map_or(created, |t| t.0);
    if let Some(deadline) = spec.starting_deadline_seconds {
        earliest = earliest.max(now - chrono::Duration::seconds(deadline));
    }
    let next_after_now = schedule.next_after(&now.with_timezone(tz)).map(|t| t.with_timezone(&Utc));
    if let Some(next) = next_after_now {
        // A little after the time, so the sync sees it has come.
        let wait = (next - now).to_std().unwrap_or_default() + Duration::from_millis(100);
        plan.requeue_after = Some(wait);
    }
    let (recent, missed) = most_recent(schedule, earliest.with_timezone(tz), now);
    let Some(scheduled) = recent else { return };
    if missed > MAX_MISSED {
        plan.events.push(CronEvent {
            warning: true,
            reason: "TooManyMissedTimes",
            message: format!("too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"),
        });
    }
    if let Some(deadline) = spec.starting_deadline_seconds {
        if scheduled + chrono::Duration::seconds(deadline) < now {
            plan.events.push(CronEvent {
                warning: true,
                reason: "MissSchedule",
                message: format!("Missed scheduled time to start a job: {}", scheduled.to_rfc3339()),
            });
            return;
        }
    }
    let job_name = job_name(name, scheduled);
    if jobs.iter().any(|j| j.metadata.name.as_deref() == Some(job_name.as_str())) {
        // Already started (the status write may not have been seen yet).
        if status.last_schedule_time.as_ref().is_none_or(|t| t.0 < scheduled) {
            status.last_schedule_time = Some(Time(scheduled));
        }
        return;
    }
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !active.is_empty() => {
            plan.events.push(CronEvent {
                warning: false,
                reason: "JobAlreadyActive",
                message: "Not starting job because prior execution is running and concurrency policy is Forbid".into(),
            });
            return;
        }
        Some("Replace") => {
            for job in active {
                plan.delete.push((
                    job.metadata.name.clone().unwrap_or_default(),
                    job.metadata.uid.clone().unwrap_or_default(),
                ));
            }
        }
        _ => {}
    }
    plan.start = Some(scheduled);
    status.last_schedule_time = Some(Time(scheduled));
}

#[cfg(test)]
mod tests;
