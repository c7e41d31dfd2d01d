use super::*;
use chrono::TimeZone;
use k8s_openapi::api::batch::v1::{CronJobSpec, JobCondition, JobStatus, JobTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// 2024-03-01T10:00:00Z plus `secs`.
fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

fn cron(policy: &str) -> CronJob {
    CronJob {
        metadata: ObjectMeta {
            name: Some("tick".into()),
            namespace: Some("ns".into()),
            uid: Some("cj".into()),
            creation_timestamp: Some(Time(t(0))),
            ..Default::default()
        },
        spec: Some(CronJobSpec {
            schedule: "*/5 * * * *".into(),
            concurrency_policy: Some(policy.into()),
            successful_jobs_history_limit: Some(1),
            failed_jobs_history_limit: Some(1),
            job_template: JobTemplateSpec::default(),
            ..Default::default()
        }),
        status: None,
    }
}

fn job(name: &str, state: Option<&str>, start: i64) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("uid-{name}")),
            creation_timestamp: Some(Time(t(start))),
            ..Default::default()
        },
        spec: None,
        status: Some(JobStatus {
            start_time: Some(Time(t(start))),
            completion_time: (state == Some("Complete")).then(|| Time(t(start + 30))),
            conditions: state
                .map(|s| vec![JobCondition { type_: s.into(), status: "True".into(), ..Default::default() }]),
            ..Default::default()
        }),
    }
}

fn run(c: &CronJob, jobs: &[&Job], now: DateTime<Utc>) -> Plan {
    let schedule = Schedule::parse(&c.spec.as_ref().unwrap().schedule).unwrap();
    reconcile(c, jobs, &schedule, &Utc, now)
}

#[test]
fn nothing_before_the_first_time_then_one_job_per_time() {
    let c = cron("Allow");
    let plan = run(&c, &[], t(60));
    assert_eq!(plan.start, None);
    assert_eq!(plan.requeue_after, Some(Duration::from_millis(240_100)));
    let plan = run(&c, &[], t(301));
    assert_eq!(plan.start, Some(t(300)));
    assert_eq!(plan.status.as_ref().unwrap().last_schedule_time, Some(Time(t(300))));
    assert_eq!(job_name("tick", t(300)), format!("tick-{}", t(300).timestamp() / 60));
    // Missed several times: only the most recent one runs.
    let plan = run(&c, &[], t(1000));
    assert_eq!(plan.start, Some(t(900)));
    // The Job of that time exists already: not again.
    let existing = job(&job_name("tick", t(900)), None, 900);
    let plan = run(&c, &[&existing], t(1000));
    assert_eq!(plan.start, None);
    let status = plan.status.unwrap();
    assert_eq!(status.last_schedule_time, Some(Time(t(900))));
    assert_eq!(status.active.unwrap()[0].name.as_deref(), Some(existing.metadata.name.as_deref().unwrap()));
}

#[test]
fn concurrency_policies() {
    let running = job("tick-old", None, 0);
    let mut c = cron("Forbid");
    let plan = run(&c, &[&running], t(301));
    assert_eq!(plan.start, None);
    assert_eq!(plan.events[0].reason, "JobAlreadyActive");
    c.spec.as_mut().unwrap().concurrency_policy = Some("Replace".into());
    let plan = run(&c, &[&running], t(301));
    assert_eq!(plan.start, Some(t(300)));
    assert_eq!(plan.delete, vec![("tick-old".to_string(), "uid-tick-old".to_string())]);
    c.spec.as_mut().unwrap().concurrency_policy = Some("Allow".into());
    let plan = run(&c, &[&running], t(301));
    assert_eq!(plan.start, Some(t(300)));
    assert!(plan.delete.is_empty());
}

#[test]
fn starting_deadline_and_suspend() {
    let mut c = cron("Allow");
    c.spec.as_mut().unwrap().starting_deadline_seconds = Some(10);
    let plan = run(&c, &[], t(320));
    assert_eq!(plan.start, None, "300 was missed by more than 10 s");
    let plan = run(&c, &[], t(305));
    assert_eq!(plan.start, Some(t(300)));
    c.spec.as_mut().unwrap().suspend = Some(true);
    let plan = run(&c, &[], t(305));
    assert_eq!(plan, Plan::default());
}

#[test]
fn history_limits_and_last_successful_time() {
    let c = cron("Allow");
    let ok1 = job("a", Some("Complete"), 0);
    let ok2 = job("b", Some("Complete"), 100);
    let bad1 = job("c", Some("Failed"), 0);
    let bad2 = job("d", Some("Failed"), 100);
    let plan = run(&c, &[&ok1, &ok2, &bad1, &bad2], t(200));
    let mut deleted: Vec<&str> = plan.delete.iter().map(|(n, _)| n.as_str()).collect();
    deleted.sort();
    assert_eq!(deleted, ["a", "c"], "the oldest beyond the limits");
    assert_eq!(plan.status.unwrap().last_successful_time, Some(Time(t(130))));
}

#[test]
fn time_zone_moves_the_schedule() {
    let mut c = cron("Allow");
    c.spec.as_mut().unwrap().schedule = "0 11 * * *".into();
    let schedule = Schedule::parse("0 11 * * *").unwrap();
    // 11:00 in Berlin (UTC+1 in March) is 10:00 UTC.
    let plan = reconcile(&c, &[], &schedule, &chrono_tz::Europe::Berlin, t(0) - chrono::Duration::seconds(1));
    assert_eq!(plan.start, None);
    c.metadata.creation_timestamp = Some(Time(t(-60)));
    let plan = reconcile(&c, &[], &schedule, &chrono_tz::Europe::Berlin, t(10));
    assert_eq!(plan.start, Some(t(0)));
    let plan = reconcile(&c, &[], &schedule, &Utc, t(10));
    assert_eq!(plan.start, None, "in UTC it is an hour away");
}
