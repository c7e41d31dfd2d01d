//! The CronJob controller against a running `skiff server` whose controllers
//! read an injected clock (`--test-clock-offset-file`): the test moves time
//! forward instead of waiting minutes for a schedule.

mod common;

use common::kubelet::{chrono_now, wait_for};
use common::Cluster;

const CRON: &str = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "*/5 * * * *"
  timeZone: Etc/UTC
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 1
  jobTemplate:
    metadata: {labels: {from: tick}}
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox}]
"#;

/// Moves the controllers' clock `seconds` ahead of the real one and makes the
/// CronJob sync (its own timer runs on real time).
fn advance(c: &Cluster, clock: &std::path::Path, seconds: i64) {
    std::fs::write(clock, seconds.to_string()).unwrap();
    c.ok(&["annotate", "cronjob", "tick", &format!("test/poke={seconds}"), "--overwrite"]);
}

fn jobs(c: &Cluster) -> Vec<String> {
    let out = c.ok(&["get", "jobs", "-l", "from=tick", "-o", "jsonpath={.items[*].metadata.name}"]);
    out.split_whitespace().map(String::from).collect()
}

fn succeed_pods(c: &Cluster, job: &str) {
    let out = c.ok(&["get", "pods", "-l", &format!("job-name={job}"), "-o", "jsonpath={.items[*].metadata.name}"]);
    for pod in out.split_whitespace() {
        let now = chrono_now();
        let status = serde_json::json!({"status": {"phase": "Succeeded", "containerStatuses": [{"name": "c", "image": "busybox",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}}]}});
        c.ok(&["patch", "pod", pod, "--subresource=status", "--type=merge", "-p", &status.to_string()]);
    }
}

#[test]
fn a_cronjob_fires_on_schedule_with_an_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = dir.path().join("clock-offset");
    std::fs::write(&clock, "0").unwrap();
    let c = Cluster::start_with(&["--test-clock-offset-file", clock.to_str().unwrap()]);
    c.ok(&["apply", "-f", &c.manifest("cron.yaml", CRON)]);
    let table = c.ok(&["get", "cronjob", "tick"]);
    assert!(table.contains("*/5 * * * *"), "{table}");
    assert!(jobs(&c).is_empty());

    // Ten minutes later at least one */5 time has come: exactly one Job, for the latest.
    advance(&c, &clock, 600);
    wait_for(&c, &["get", "jobs", "-l", "from=tick", "-o", "name"], "the first Job", |s| s.lines().count() == 1);
    let first = jobs(&c).remove(0);
    let minutes: i64 = first.strip_prefix("tick-").unwrap().parse().unwrap();
    assert_eq!(minutes % 5, 0, "named after its */5 scheduled minute: {first}");
    let scheduled = c.ok(&[
        "get",
        "job",
        &first,
        "-o",
        "jsonpath={.metadata.annotations.batch\\.kubernetes\\.io/cronjob-scheduled-timestamp}",
    ]);
    assert!(scheduled.ends_with('Z'), "{scheduled}");
    let owner = c.ok(&[
        "get",
        "job",
        &first,
        "-o",
        "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
    ]);
    assert_eq!(owner, "CronJob/tick");
    wait_for(&c, &["get", "cronjob", "tick", "-o", "jsonpath={.status.active[*].name}"], "active", |s| s == first);
    let last = c.ok(&["get", "cronjob", "tick", "-o", "jsonpath={.status.lastScheduleTime}"]);
    assert_eq!(last, scheduled, "lastScheduleTime is the scheduled time");

    // Forbid: the next time comes while the first Job runs — nothing new.
    advance(&c, &clock, 1200);
    wait_for(
        &c,
        &["get", "events", "--field-selector", "involvedObject.name=tick", "-o", "jsonpath={.items[*].reason}"],
        "JobAlreadyActive",
        |s| s.contains("JobAlreadyActive"),
    );
    assert_eq!(jobs(&c), std::slice::from_ref(&first));

    // The Job succeeds: lastSuccessfulTime; the time Forbid skipped has not
    // passed its (unset) starting deadline, so its Job starts now, as upstream.
    wait_for(&c, &["get", "pods", "-l", &format!("job-name={first}"), "-o", "name"], "the Job's pod", |s| {
        !s.is_empty()
    });
    succeed_pods(&c, &first);
    c.ok(&["wait", "--for=condition=complete", &format!("job/{first}"), "--timeout=60s"]);
    wait_for(
        &c,
        &["get", "cronjob", "tick", "-o", "jsonpath={.status.lastSuccessfulTime}"],
        "lastSuccessfulTime",
        |s| s.ends_with('Z'),
    );
    wait_for(&c, &["get", "jobs", "-l", "from=tick", "-o", "name"], "the skipped time's Job", |s| {
        s.lines().count() == 2
    });
    let second = jobs(&c).into_iter().find(|j| *j != first).unwrap();
    let minutes2: i64 = second.strip_prefix("tick-").unwrap().parse().unwrap();
    assert!(minutes2 > minutes && minutes2 % 5 == 0, "the latest */5 time: {first} then {second}");
    // successfulJobsHistoryLimit 1: once the second succeeds, the first goes.
    wait_for(&c, &["get", "pods", "-l", &format!("job-name={second}"), "-o", "name"], "its pod", |s| !s.is_empty());
    succeed_pods(&c, &second);
    wait_for(
        &c,
        &["get", "jobs", "-l", "from=tick", "-o", "jsonpath={.items[*].metadata.name}"],
        "history limit",
        |s| s == second,
    );
    wait_for(
        &c,
        &["get", "pods", "-l", &format!("job-name={second}"), "-o", "jsonpath={.items[*].metadata.finalizers}"],
        "released pod",
        |s| s.is_empty(),
    );

    // kubectl create job --from=cronjob/...: a Job from the template, run by the Job controller.
    c.ok(&["create", "job", "manual", "--from=cronjob/tick"]);
    let annotation =
        c.ok(&["get", "job", "manual", "-o", "jsonpath={.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate}"]);
    assert_eq!(annotation, "manual");
    wait_for(&c, &["get", "job", "manual", "-o", "jsonpath={.status.active}"], "the manual Job runs", |s| s == "1");
    // Suspended: the clock moves on, nothing starts.
    c.ok(&["patch", "cronjob", "tick", "--type=merge", "-p", r#"{"spec":{"suspend":true}}"#]);
    advance(&c, &clock, 2400);
    std::thread::sleep(std::time::Duration::from_secs(2));
    // (kubectl's manual Job carries the template's labels too.)
    assert_eq!(jobs(&c), ["manual".to_string(), second]);
}

/// Upstream refuses a CronJob whose schedule or time zone it cannot use, with a
/// 422 naming the field and robfig/cron's (or Go's) reason.
#[test]
fn invalid_schedules_and_time_zones_are_rejected() {
    let c = Cluster::start();
    let err = c.fails(&["create", "cronjob", "bad", "--image=busybox", "--schedule=61 * * * *"]);
    assert!(
        err.contains(r#"CronJob.batch "bad" is invalid: spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61"#),
        "{err}"
    );
    let err = c.fails(&["create", "cronjob", "bad", "--image=busybox", "--schedule=every day"]);
    assert!(err.contains("expected exactly 5 fields, found 2: [every day]"), "{err}");
    let bad_zone = CRON.replace("timeZone: Etc/UTC", "timeZone: Mars/Olympus_Mons");
    let err = c.fails(&["apply", "-f", &c.manifest("zone.yaml", &bad_zone)]);
    assert!(
        err.contains(r#"spec.timeZone: Invalid value: "Mars/Olympus_Mons": unknown time zone Mars/Olympus_Mons"#),
        "{err}"
    );
    // The status code is 422 (Invalid), as kubectl's raw request shows.
    let raw = c.kubectl(&["create", "cronjob", "bad", "--image=busybox", "--schedule=@every", "-v=6"]);
    let log = String::from_utf8_lossy(&raw.stderr);
    assert!(log.contains("422 Unprocessable Entity"), "{log}");
    // A valid one is accepted, and an update to an invalid schedule is refused.
    c.ok(&["apply", "-f", &c.manifest("tick.yaml", CRON)]);
    let err = c.fails(&["patch", "cronjob", "tick", "--type=merge", "-p", r#"{"spec":{"schedule":"* * *"}}"#]);
    assert!(
        err.contains("spec.schedule: Invalid value: \"* * *\": expected exactly 5 fields, found 3: [* * *]"),
        "{err}"
    );
}
