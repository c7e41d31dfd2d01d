use super::*;
use chrono::TimeZone;
use k8s_openapi::api::batch::v1::{
    JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, PodCondition, PodStatus, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn job(completions: Option<i32>, parallelism: i32) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some("work".into()),
            namespace: Some("ns".into()),
            uid: Some("job-uid".into()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completions,
            parallelism: Some(parallelism),
            backoff_limit: Some(2),
            completion_mode: Some("NonIndexed".into()),
            template: PodTemplateSpec::default(),
            ..Default::default()
        }),
        status: None,
    }
}

fn indexed(completions: i32, parallelism: i32) -> Job {
    let mut j = job(Some(completions), parallelism);
    j.spec.as_mut().unwrap().completion_mode = Some("Indexed".into());
    j
}

/// A pod of the Job: `phase` Running/Succeeded/Failed, finished at `at`.
fn pod(name: &str, phase: &str, at: i64) -> Pod {
    let terminated = matches!(phase, "Succeeded" | "Failed").then(|| ContainerStateTerminated {
        exit_code: if phase == "Failed" { 1 } else { 0 },
        finished_at: Some(Time(t(at))),
        ..Default::default()
    });
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("uid-{name}")),
            creation_timestamp: Some(Time(t(0))),
            finalizers: Some(vec![TRACKING_FINALIZER.into()]),
            ..Default::default()
        },
        spec: None,
        status: Some(PodStatus {
            phase: Some(phase.into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "main".into(),
                state: Some(ContainerState { terminated, ..Default::default() }),
                ..Default::default()
            }]),
            conditions: (phase == "Running")
                .then(|| vec![PodCondition { type_: "Ready".into(), status: "True".into(), ..Default::default() }]),
            ..Default::default()
        }),
    }
}

fn with_index(mut p: Pod, i: i32) -> Pod {
    p.metadata.annotations = Some([(indexes::COMPLETION_INDEX.to_string(), i.to_string())].into());
    p
}

fn released(mut p: Pod) -> Pod {
    p.metadata.finalizers = None;
    p
}

/// Applies a plan's status to the Job, as the next sync would read it.
fn after(mut j: Job, plan: &Plan) -> Job {
    if let Some(s) = &plan.status {
        j.status = Some(s.clone());
    }
    j
}

fn status(plan: &Plan) -> &JobStatus {
    plan.status.as_ref().expect("status written")
}

fn has(status: &JobStatus, type_: &str, reason: &str) -> bool {
    condition(status, type_).is_some_and(|c| c.status == "True" && c.reason.as_deref() == Some(reason))
}

#[test]
fn a_new_job_starts_min_of_parallelism_and_completions() {
    let plan = reconcile(&job(Some(3), 2), &[], t(0), true);
    assert_eq!(plan.create, vec![None, None]);
    let s = status(&plan);
    assert_eq!((s.active, s.succeeded, s.failed), (Some(2), Some(0), Some(0)));
    assert_eq!(s.start_time, Some(Time(t(0))));
    let plan = reconcile(&job(Some(1), 5), &[], t(0), true);
    assert_eq!(plan.create.len(), 1);
    let plan = reconcile(&job(None, 3), &[], t(0), true);
    assert_eq!(plan.create.len(), 3, "a work queue Job runs parallelism pods");
    let plan = reconcile(&job(Some(3), 2), &[], t(0), false);
    assert!(plan.create.is_empty(), "no creates while expectations are outstanding");
}

#[test]
fn finished_pods_are_recorded_then_released_then_counted() {
    let j = job(Some(2), 1);
    let done = pod("a", "Succeeded", 5);
    let plan = reconcile(&j, &[&done], t(10), true);
    let s = status(&plan);
    assert_eq!(s.uncounted_terminated_pods.as_ref().unwrap().succeeded, Some(vec!["uid-a".to_string()]));
    assert_eq!(s.succeeded, Some(0), "counted once released");
    assert_eq!(plan.release, vec![PodRef { name: "a".into(), uid: "uid-a".into() }]);
    assert_eq!(plan.create, vec![None], "one more completion needed");

    // The finalizer is gone: the uid moves into the counter.
    let j = after(j, &plan);
    let done = released(done);
    let running = pod("b", "Running", 0);
    let plan = reconcile(&j, &[&done, &running], t(11), true);
    let s = status(&plan);
    assert_eq!(s.uncounted_terminated_pods.as_ref().unwrap().succeeded, None);
    assert_eq!((s.succeeded, s.active, s.ready), (Some(1), Some(1), Some(1)));
    assert!(plan.release.is_empty() && plan.create.is_empty());

    // Still holding the finalizer (the removal was not seen yet): released again, not counted twice.
    let j2 = after(job(Some(2), 1), &reconcile(&job(Some(2), 1), &[&pod("a", "Succeeded", 5)], t(10), true));
    let plan = reconcile(&j2, &[&pod("a", "Succeeded", 5)], t(12), true);
    assert_eq!(plan.release.len(), 1);
    let s = plan.status.as_ref().or(j2.status.as_ref()).unwrap();
    assert_eq!(s.succeeded, Some(0));
    assert_eq!(s.uncounted_terminated_pods.as_ref().unwrap().succeeded.as_ref().map(Vec::len), Some(1));
}

#[test]
fn success_criteria_then_complete() {
    let j = job(Some(1), 1);
    let plan = reconcile(&j, &[&pod("a", "Succeeded", 5)], t(10), true);
    assert!(has(status(&plan), "SuccessCriteriaMet", "CompletionsReached"));
    assert!(condition(status(&plan), "Complete").is_none(), "not before the pod is counted");
    let j = after(j, &plan);
    let plan = reconcile(&j, &[&released(pod("a", "Succeeded", 5))], t(11), true);
    let s = status(&plan);
    assert!(has(s, "Complete", "CompletionsReached"));
    assert_eq!(s.completion_time, Some(Time(t(11))));
    assert_eq!(plan.events[0].reason, "Completed");
    let j = after(j, &plan);
    assert!(is_finished(&j));
    let plan = reconcile(&j, &[&released(pod("a", "Succeeded", 5))], t(12), true);
    assert_eq!(plan, Plan::default(), "a finished Job without TTL does nothing");
}

#[test]
fn failures_back_off_then_exceed_the_limit() {
    let j = job(Some(1), 1);
    let f1 = released(pod("a", "Failed", 100));
    let mut j1 = j.clone();
    j1.status = Some(JobStatus { failed: Some(1), start_time: Some(Time(t(0))), ..Default::default() });
    let plan = reconcile(&j1, &[&f1], t(105), true);
    assert!(plan.create.is_empty(), "the first failure waits 10 s");
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(5)));
    let plan = reconcile(&j1, &[&f1], t(110), true);
    assert_eq!(plan.create.len(), 1);
    let f2 = released(pod("b", "Failed", 200));
    let mut j2 = j.clone();
    j2.status = Some(JobStatus { failed: Some(2), start_time: Some(Time(t(0))), ..Default::default() });
    let plan = reconcile(&j2, &[&f1, &f2], t(215), true);
    assert!(plan.create.is_empty(), "the second failure waits 20 s");
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(5)));

    // A third failure exceeds backoffLimit 2: the running pod goes, then Failed.
    let f3 = pod("c", "Failed", 300);
    let running = pod("d", "Running", 0);
    let plan = reconcile(&j2, &[&f1, &f2, &f3, &running], t(301), true);
    let s = status(&plan);
    assert!(has(s, "FailureTarget", "BackoffLimitExceeded"));
    assert!(condition(s, "Failed").is_none(), "not while a pod is running");
    assert_eq!(plan.delete, vec![PodRef { name: "d".into(), uid: "uid-d".into() }]);
    assert_eq!(s.failed, Some(2), "the third is listed as uncounted");
    assert_eq!(s.uncounted_terminated_pods.as_ref().unwrap().failed, Some(vec!["uid-c".to_string()]));
    assert_eq!(plan.events[0].reason, "BackoffLimitExceeded");
    assert!(plan.create.is_empty());
    let j3 = after(j2, &plan);
    let plan = reconcile(&j3, &[&f1, &f2, &released(f3)], t(302), true);
    let s = status(&plan);
    assert!(has(s, "Failed", "BackoffLimitExceeded"));
    assert_eq!(s.failed, Some(3));
    assert_eq!(condition(s, "Failed").unwrap().message.as_deref(), Some("Job has reached the specified backoff limit"));
}

#[test]
fn a_success_resets_the_backoff() {
    let mut j = job(Some(3), 1);
    j.status =
        Some(JobStatus { failed: Some(1), succeeded: Some(1), start_time: Some(Time(t(0))), ..Default::default() });
    let plan =
        reconcile(&j, &[&released(pod("a", "Failed", 100)), &released(pod("b", "Succeeded", 101))], t(102), true);
    assert_eq!(plan.create.len(), 1);
}

#[test]
fn active_deadline() {
    let mut j = job(Some(1), 1);
    j.spec.as_mut().unwrap().active_deadline_seconds = Some(30);
    j.status = Some(JobStatus { start_time: Some(Time(t(0))), active: Some(1), ..Default::default() });
    let running = pod("a", "Running", 0);
    let plan = reconcile(&j, &[&running], t(10), true);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(20)));
    assert!(plan.delete.is_empty());
    let plan = reconcile(&j, &[&running], t(30), true);
    assert!(has(status(&plan), "FailureTarget", "DeadlineExceeded"));
    assert_eq!(plan.delete.len(), 1);
}

#[test]
fn indexed_jobs_fill_missing_indexes_and_track_completed_ones() {
    let j = indexed(4, 2);
    let plan = reconcile(&j, &[], t(0), true);
    assert_eq!(plan.create, vec![Some(0), Some(1)]);
    let p0 = with_index(pod("w-0", "Succeeded", 5), 0);
    let p1 = with_index(pod("w-1", "Running", 0), 1);
    let dup = with_index(pod("w-1b", "Running", 0), 1);
    let plan = reconcile(&j, &[&p0, &p1, &dup], t(6), true);
    let s = status(&plan);
    assert_eq!(s.completed_indexes.as_deref(), Some("0"));
    assert_eq!(s.succeeded, Some(1));
    assert_eq!(plan.release.len(), 1);
    assert_eq!(plan.delete.len(), 1, "one pod per index");
    assert_eq!(plan.create, vec![Some(2)], "a finished index frees its place");
    let j = after(j, &plan);
    let p2 = with_index(pod("w-2", "Running", 0), 2);
    let plan = reconcile(&j, &[&released(p0.clone()), &p1, &p2], t(7), true);
    assert!(plan.create.is_empty() && plan.delete.is_empty());

    let mut done = indexed(2, 2);
    done.status = Some(JobStatus { completed_indexes: Some("0".into()), ..Default::default() });
    let plan = reconcile(&done, &[&released(p0), &with_index(pod("w-1", "Succeeded", 9), 1)], t(10), true);
    let s = status(&plan);
    assert_eq!(s.completed_indexes.as_deref(), Some("0-1"));
    assert!(has(s, "SuccessCriteriaMet", "CompletionsReached"));
}

#[test]
fn pod_failure_policy_fails_the_job_or_ignores_the_failure() {
    let mut j = job(Some(1), 1);
    let rule = |action: &str, code: i32| PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: None,
            operator: "In".into(),
            values: vec![code],
        }),
        on_pod_conditions: None,
    };
    j.spec.as_mut().unwrap().pod_failure_policy =
        Some(PodFailurePolicy { rules: vec![rule("Ignore", 2), rule("FailJob", 1)] });
    let plan = reconcile(&j, &[&pod("a", "Failed", 5)], t(6), true);
    let s = status(&plan);
    assert!(has(s, "FailureTarget", "PodFailurePolicy"));
    assert_eq!(
        condition(s, "FailureTarget").unwrap().message.as_deref(),
        Some("Container main for pod ns/a failed with exit code 1 matching FailJob rule at index 1")
    );
    j.spec.as_mut().unwrap().pod_failure_policy = Some(PodFailurePolicy { rules: vec![rule("Ignore", 1)] });
    let plan = reconcile(&j, &[&pod("a", "Failed", 5)], t(6), true);
    let s = status(&plan);
    assert_eq!(s.failed, Some(0), "ignored failures do not count");
    assert_eq!(s.uncounted_terminated_pods.as_ref().unwrap().failed, None);
    assert_eq!(plan.release.len(), 1, "but the pod is released");
}

#[test]
fn suspend_and_resume() {
    let mut j = job(Some(2), 2);
    j.spec.as_mut().unwrap().suspend = Some(true);
    j.status = Some(JobStatus { start_time: Some(Time(t(0))), ..Default::default() });
    let running = pod("a", "Running", 0);
    let plan = reconcile(&j, &[&running], t(5), true);
    assert!(has(status(&plan), "Suspended", "JobSuspended"));
    assert_eq!(plan.delete.len(), 1);
    assert!(plan.create.is_empty());
    assert_eq!(plan.events[0].reason, "Suspended");
    let mut j = after(j, &plan);
    let mut deleted = running.clone();
    deleted.metadata.deletion_timestamp = Some(Time(t(6)));
    let plan = reconcile(&j, &[&deleted], t(6), true);
    assert_eq!(
        plan.status.as_ref().map_or(Some(0), |s| s.failed),
        Some(0),
        "pods stopped by suspension are not failures"
    );
    j.spec.as_mut().unwrap().suspend = Some(false);
    let plan = reconcile(&j, &[], t(100), true);
    let s = status(&plan);
    let c = condition(s, "Suspended").unwrap();
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some("JobResumed")));
    assert_eq!(s.start_time, Some(Time(t(100))), "the deadline counts from the resume");
    assert_eq!(plan.create.len(), 2);
}

#[test]
fn finished_jobs_are_deleted_after_their_ttl() {
    let mut j = job(Some(1), 1);
    j.spec.as_mut().unwrap().ttl_seconds_after_finished = Some(60);
    let mut s = JobStatus { completion_time: Some(Time(t(100))), ..Default::default() };
    set_condition(&mut s, "Complete", "True", "CompletionsReached", "", t(100));
    j.status = Some(s);
    let plan = reconcile(&j, &[], t(130), true);
    assert!(!plan.delete_job);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(30)));
    assert!(reconcile(&j, &[], t(160), true).delete_job);
}

#[test]
fn surplus_pods_go_when_parallelism_drops() {
    let j = job(Some(10), 1);
    let (a, b) = (pod("a", "Running", 0), pod("b", "Running", 0));
    let plan = reconcile(&j, &[&a, &b], t(1), true);
    assert_eq!(plan.delete.len(), 1);
    assert_eq!(status(&plan).active, Some(1));
}
