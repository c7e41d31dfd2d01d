//! Rows of replica sets, deployments, stateful sets, daemon sets and revisions.

use serde_json::{json, Value};

use crate::table::printers::testing::{ago, column_names, row};

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}, {"name": "sidecar", "image": "envoy:v1.30"}]}})
}

#[test]
fn deployment_rows() {
    assert_eq!(
        column_names("apps", "Deployment"),
        ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers*", "Images*", "Selector*"]
    );
    let deploy = json!({"metadata": {"name": "web", "creationTimestamp": ago(2 * 86400)},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "track", "operator": "NotIn", "values": ["canary"]}]}, "template": template()},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        Value::from(row("apps", "Deployment", &deploy)),
        json!(["web", "2/3", 3, 2, "2d", "app,sidecar", "nginx:1.27,envoy:v1.30", "app=web,track notin (canary)"])
    );
    let fresh = json!({"metadata": {"name": "new"}, "spec": {"selector": {}}});
    assert_eq!(Value::from(row("apps", "Deployment", &fresh)), json!(["new", "0/1", 0, 0, "<unknown>", "", "", ""]));
}

#[test]
fn replica_set_and_controller_rows() {
    let rs = json!({"metadata": {"name": "web-7d4b9", "creationTimestamp": ago(600)},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d4b9"}}, "template": template()},
        "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(
        Value::from(row("apps", "ReplicaSet", &rs)),
        json!([
            "web-7d4b9",
            2,
            2,
            1,
            "10m",
            "app,sidecar",
            "nginx:1.27,envoy:v1.30",
            "app=web,pod-template-hash=7d4b9"
        ])
    );
    let rc = json!({"metadata": {"name": "legacy"}, "spec": {"replicas": 0, "selector": {"app": "legacy"}}});
    assert_eq!(
        Value::from(row("", "ReplicationController", &rc)),
        json!(["legacy", 0, 0, 0, "<unknown>", "", "", "app=legacy"])
    );
    assert_eq!(column_names("", "ReplicationController"), column_names("apps", "ReplicaSet"));
}

#[test]
fn stateful_set_rows() {
    assert_eq!(column_names("apps", "StatefulSet"), ["Name", "Ready", "Age", "Containers*", "Images*"]);
    let sts = json!({"metadata": {"name": "pg"}, "spec": {"replicas": 3, "template": template()},
        "status": {"readyReplicas": 3}});
    assert_eq!(
        Value::from(row("apps", "StatefulSet", &sts)),
        json!(["pg", "3/3", "<unknown>", "app,sidecar", "nginx:1.27,envoy:v1.30"])
    );
}

#[test]
fn daemon_set_rows() {
    let ds = json!({"metadata": {"name": "fluentd", "creationTimestamp": ago(30 * 86400)},
        "spec": {"selector": {"matchLabels": {"name": "fluentd"}},
            "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "f", "image": "fluentd"}]}}},
        "status": {"desiredNumberScheduled": 4, "currentNumberScheduled": 4, "numberReady": 3, "updatedNumberScheduled": 4,
            "numberAvailable": 3}});
    assert_eq!(
        Value::from(row("apps", "DaemonSet", &ds)),
        json!(["fluentd", 4, 4, 3, 4, 3, "kubernetes.io/os=linux", "30d", "f", "fluentd", "name=fluentd"])
    );
    let bare = json!({"metadata": {"name": "d"}});
    assert_eq!(
        Value::from(row("apps", "DaemonSet", &bare)),
        json!(["d", 0, 0, 0, 0, 0, "<none>", "<unknown>", "", "", "<none>"])
    );
}

#[test]
fn controller_revision_rows() {
    let rev = |owners: Value| json!({"metadata": {"name": "fluentd-6f7b", "ownerReferences": owners}, "revision": 3});
    let owned = rev(json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd", "controller": true}]));
    assert_eq!(
        Value::from(row("apps", "ControllerRevision", &owned)),
        json!(["fluentd-6f7b", "daemonset.apps/fluentd", 3, "<unknown>"])
    );
    let core = rev(json!([{"apiVersion": "v1", "kind": "Pod", "name": "p", "controller": true}]));
    assert_eq!(row("apps", "ControllerRevision", &core)[1], "pod/p");
    let orphan = rev(json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd"}]));
    assert_eq!(row("apps", "ControllerRevision", &orphan)[1], "<none>");
}
