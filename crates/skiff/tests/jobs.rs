//! The Job controller against a running `skiff server`: the test plays the
//! kubelet, finishing the Job's pods through `pods/status`.

mod common;

use common::kubelet::{chrono_now, wait_for};
use common::Cluster;

fn job(name: &str, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
{extra_spec}
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: busybox}}]
"#
    )
}

/// Marks every unfinished pod of Job `name` as `phase` (a container that
/// exited with `exit_code`), as a kubelet would; returns how many.
fn finish_pods(c: &Cluster, name: &str, phase: &str, exit_code: i32) -> usize {
    let out = c.ok(&["get", "pods", "-l", &format!("job-name={name}"), "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut n = 0;
    for pod in list["items"].as_array().unwrap() {
        let current = pod["status"]["phase"].as_str().unwrap_or("");
        if matches!(current, "Succeeded" | "Failed") || pod["metadata"]["deletionTimestamp"].is_string() {
            continue;
        }
        let now = chrono_now();
        let status = serde_json::json!({"status": {
            "phase": phase,
            "startTime": now,
            "containerStatuses": [{"name": "c", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": exit_code, "reason": if exit_code == 0 { "Completed" } else { "Error" },
                    "startedAt": now, "finishedAt": now}}}],
        }});
        let name = pod["metadata"]["name"].as_str().unwrap();
        c.ok(&["patch", "pod", name, "--subresource=status", "--type=merge", "-p", &status.to_string()]);
        n += 1;
    }
    n
}

fn jsonpath(c: &Cluster, what: &str, path: &str) -> String {
    c.ok(&["get", what, "-o", &format!("jsonpath={path}")])
}

#[test]
fn a_job_retries_to_its_backoff_limit_then_fails() {
    let c = Cluster::start();
    c.ok(&["apply", "-f", &c.manifest("fail.yaml", &job("fail", "  backoffLimit: 1"))]);
    // Every pod the Job starts fails; the second failure exceeds backoffLimit 1.
    let mut failed_pods = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !jsonpath(&c, "job/fail", "{.status.conditions[?(@.type==\"Failed\")].status}").contains("True") {
        assert!(std::time::Instant::now() < deadline, "the Job never failed");
        failed_pods += finish_pods(&c, "fail", "Failed", 1);
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert_eq!(failed_pods, 2, "one try and one retry");
    c.ok(&["wait", "--for=condition=failed", "job/fail", "--timeout=60s"]);
    let reason = jsonpath(&c, "job/fail", "{.status.conditions[?(@.type==\"Failed\")].reason}");
    assert_eq!(reason, "BackoffLimitExceeded");
    assert_eq!(jsonpath(&c, "job/fail", "{.status.failed}/{.status.active}"), "2/0");
    assert!(jsonpath(&c, "job/fail", "{.status.startTime}").ends_with('Z'));
    // Every pod was counted and let go.
    wait_for(
        &c,
        &["get", "pods", "-l", "job-name=fail", "-o", "jsonpath={.items[*].metadata.finalizers}"],
        "released pods",
        |s| s.trim().is_empty(),
    );
    let events = wait_for(
        &c,
        &["get", "events", "--field-selector", "involvedObject.name=fail", "-o", "jsonpath={.items[*].reason}"],
        "events",
        |s| s.contains("BackoffLimitExceeded"),
    );
    assert_eq!(events.matches("SuccessfulCreate").count(), 2, "{events}");
}

#[test]
fn jobs_complete_and_kubectl_wait_sees_it() {
    let c = Cluster::start();
    c.ok(&["apply", "-f", &c.manifest("ok.yaml", &job("ok", "  completions: 3\n  parallelism: 2"))]);
    wait_for(&c, &["get", "job", "ok", "-o", "jsonpath={.status.active}"], "two active", |s| s == "2");
    let pods = c.ok(&["get", "pods", "-l", "job-name=ok", "-o", "jsonpath={.items[0].metadata.finalizers}"]);
    assert!(pods.contains("batch.kubernetes.io/job-tracking"), "{pods}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !jsonpath(&c, "job/ok", "{.status.conditions[?(@.type==\"Complete\")].status}").contains("True") {
        assert!(std::time::Instant::now() < deadline, "the Job never completed");
        finish_pods(&c, "ok", "Succeeded", 0);
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    c.ok(&["wait", "--for=condition=complete", "job/ok", "--timeout=60s"]);
    assert_eq!(jsonpath(&c, "job/ok", "{.status.succeeded}/{.status.failed}/{.status.active}"), "3/0/0");
    assert!(jsonpath(&c, "job/ok", "{.status.completionTime}").ends_with('Z'));
    let table = c.ok(&["get", "job", "ok"]);
    assert!(table.contains("3/3"), "{table}");

    // Indexed: one pod per index, the index in annotation, env and hostname.
    let indexed =
        job("idx", "  completions: 3\n  parallelism: 3\n  completionMode: Indexed\n  ttlSecondsAfterFinished: 2");
    c.ok(&["apply", "-f", &c.manifest("idx.yaml", &indexed)]);
    let indexes = wait_for(
        &c,
        &[
            "get",
            "pods",
            "-l",
            "job-name=idx",
            "-o",
            "jsonpath={.items[*].metadata.annotations.batch\\.kubernetes\\.io/job-completion-index}",
        ],
        "three indexed pods",
        |s| s.split_whitespace().count() == 3,
    );
    let mut indexes: Vec<&str> = indexes.split_whitespace().collect();
    indexes.sort();
    assert_eq!(indexes, ["0", "1", "2"]);
    let pod = c.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=idx,batch.kubernetes.io/job-completion-index=1",
        "-o",
        "jsonpath={.items[0].spec.hostname} {.items[0].spec.containers[0].env[0].name}",
    ]);
    assert_eq!(pod, "idx-1 JOB_COMPLETION_INDEX");
    finish_pods(&c, "idx", "Succeeded", 0);
    c.ok(&["wait", "--for=condition=complete", "job/idx", "--timeout=60s"]);
    // ttlSecondsAfterFinished: 2 — the finished Job is deleted.
    wait_for(&c, &["get", "jobs", "-o", "name"], "the TTL deletes the Job", |s| !s.contains("job.batch/idx"));
}

#[test]
fn suspended_jobs_run_nothing_until_resumed() {
    let c = Cluster::start();
    c.ok(&["apply", "-f", &c.manifest("s.yaml", &job("s", "  suspend: true\n  parallelism: 2\n  completions: 2"))]);
    wait_for(
        &c,
        &["get", "job", "s", "-o", "jsonpath={.status.conditions[?(@.type==\"Suspended\")].status}"],
        "suspended",
        |s| s == "True",
    );
    assert_eq!(c.ok(&["get", "pods", "-l", "job-name=s", "-o", "name"]), "");
    c.ok(&["patch", "job", "s", "--type=merge", "-p", r#"{"spec":{"suspend":false}}"#]);
    wait_for(&c, &["get", "pods", "-l", "job-name=s", "-o", "name"], "two pods", |s| s.lines().count() == 2);
    let reason = jsonpath(&c, "job/s", "{.status.conditions[?(@.type==\"Suspended\")].reason}");
    assert_eq!(reason, "JobResumed");
}
