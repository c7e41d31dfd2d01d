//! Pod rows for the states kubectl users see most.

use serde_json::{json, Value};

use super::row_conditions;
use crate::table::printers::testing::{ago, column_names, row};

fn pod(status: Value) -> Value {
    json!({
        "metadata": {"name": "web-1", "creationTimestamp": ago(3600)},
        "spec": {"nodeName": "node-a", "containers": [{"name": "app"}, {"name": "log"}]},
        "status": status,
    })
}

fn running(name: &str) -> Value {
    json!({"name": name, "ready": true, "restartCount": 0, "state": {"running": {}}})
}

#[test]
fn pod_columns() {
    assert_eq!(
        column_names("", "Pod"),
        ["Name", "Ready", "Status", "Restarts", "Age", "IP*", "Node*", "Nominated Node*", "Readiness Gates*"]
    );
}

#[test]
fn pod_rows() {
    let cases = [
        (
            "running with podIPs",
            pod(json!({"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}], "podIP": "10.0.0.7",
                "containerStatuses": [running("app"), running("log")]})),
            json!(["web-1", "2/2", "Running", "0", "60m", "10.0.0.7", "node-a", "<none>", "<none>"]),
        ),
        (
            "pending, not scheduled",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{}]}, "status": {"phase": "Pending"}}),
            json!(["p", "0/1", "Pending", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"]),
        ),
        (
            "crash loop shows the last restart",
            pod(json!({"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": [running("app"),
                {"name": "log", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(125)}}}]})),
            json!([
                "web-1",
                "1/2",
                "CrashLoopBackOff",
                "4 (2m5s ago)",
                "60m",
                "10.0.0.7",
                "node-a",
                "<none>",
                "<none>"
            ]),
        ),
        (
            "terminated without reason",
            pod(json!({"phase": "Failed", "containerStatuses": [
                {"name": "app", "state": {"terminated": {"exitCode": 137, "signal": 9}}},
                {"name": "log", "state": {"terminated": {"exitCode": 2}}}]})),
            json!(["web-1", "0/2", "Signal:9", "0", "60m", "<none>", "node-a", "<none>", "<none>"]),
        ),
        (
            "scheduling gated",
            pod(json!({"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})),
            json!(["web-1", "0/2", "SchedulingGated", "0", "60m", "<none>", "node-a", "<none>", "<none>"]),
        ),
        (
            "deleting",
            json!({"metadata": {"name": "p", "deletionTimestamp": ago(1)}, "spec": {"containers": [{}]},
                "status": {"phase": "Running"}}),
            json!(["p", "0/1", "Terminating", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"]),
        ),
        (
            "deleting a finished pod keeps its status",
            json!({"metadata": {"name": "p", "deletionTimestamp": ago(1)}, "spec": {"containers": [{}]},
                "status": {"phase": "Succeeded", "containerStatuses": [
                    {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}),
            json!(["p", "0/1", "Completed", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"]),
        ),
        (
            "node lost",
            json!({"metadata": {"name": "p", "deletionTimestamp": ago(1)}, "spec": {"containers": [{}]},
                "status": {"phase": "Running", "reason": "NodeLost"}}),
            json!(["p", "0/1", "Unknown", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"]),
        ),
        (
            "readiness gates count the true conditions",
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{}],
                "readinessGates": [{"conditionType": "lb/ready"}, {"conditionType": "dns/ready"}]},
                "status": {"phase": "Running", "nominatedNodeName": "node-b",
                    "conditions": [{"type": "lb/ready", "status": "True"}, {"type": "dns/ready", "status": "False"}]}}),
            json!(["p", "0/1", "Running", "0", "<unknown>", "<none>", "<none>", "node-b", "1/2"]),
        ),
    ];
    for (what, obj, want) in cases {
        assert_eq!(Value::from(row("", "Pod", &obj)), want, "{what}");
    }
}

#[test]
fn pod_init_containers() {
    let spec = json!({"initContainers": [{"name": "migrate"}, {"name": "seed"}], "containers": [{"name": "app"}]});
    let with = |statuses: Value| {
        json!({"metadata": {"name": "p"}, "spec": spec, "status": {"phase": "Pending",
        "initContainerStatuses": statuses, "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "PodInitializing"}}}]}})
    };
    let cases = [
        (json!([{"state": {"terminated": {"exitCode": 0}}}, {"state": {"running": {}}}]), "Init:1/2"),
        (json!([{"state": {"waiting": {"reason": "PodInitializing"}}}, {}]), "Init:0/2"),
        (
            json!([{"restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}, {}]),
            "Init:CrashLoopBackOff",
        ),
        (json!([{"state": {"terminated": {"exitCode": 3}}}, {}]), "Init:ExitCode:3"),
        (json!([{"state": {"terminated": {"exitCode": 1, "reason": "Error"}}}, {}]), "Init:Error"),
        (
            json!([{"state": {"terminated": {"exitCode": 0}}}, {"state": {"terminated": {"exitCode": 0}}}]),
            "PodInitializing",
        ),
    ];
    for (statuses, want) in cases {
        let cells = row("", "Pod", &with(statuses.clone()));
        assert_eq!(cells[2], want, "{statuses}");
    }
    // While initializing, RESTARTS counts init container restarts.
    let crash = with(json!([{"restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}, {}]));
    assert_eq!(row("", "Pod", &crash)[3], "2");
}

#[test]
fn pod_sidecars_count_as_containers() {
    let obj = json!({"metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1,
                "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}}],
            "containerStatuses": [running("app")]}});
    let cells = row("", "Pod", &obj);
    assert_eq!(
        (cells[1].as_str(), cells[2].as_str(), cells[3].as_str()),
        (Some("2/2"), Some("Running"), Some("1 (30s ago)"))
    );
}

#[test]
fn completed_container_next_to_running_one() {
    let obj = |ready: &str| {
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{}, {}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}], "containerStatuses": [
            running("a"), {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}})
    };
    assert_eq!(row("", "Pod", &obj("True"))[2], "Running");
    assert_eq!(row("", "Pod", &obj("False"))[2], "NotReady");
}

#[test]
fn finished_pods_are_marked_completed() {
    let done = json!({"status": {"phase": "Succeeded"}});
    assert_eq!(row_conditions(&done).unwrap()[0]["reason"], "Succeeded");
    assert!(row_conditions(&json!({"status": {"phase": "Running"}})).is_none());
}

#[test]
fn pod_template_row() {
    let obj = json!({"metadata": {"name": "tpl"}, "template": {"metadata": {"labels": {"app": "web", "tier": "fe"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "log", "image": "fluent-bit"}]}}});
    assert_eq!(
        Value::from(row("", "PodTemplate", &obj)),
        json!(["tpl", "app,log", "nginx:1.27,fluent-bit", "app=web,tier=fe"])
    );
}
