//! Rows of nodes, namespaces, config maps, secrets, service accounts, quotas and
//! component statuses.

use serde_json::{json, Value};

use crate::table::printers::testing::{ago, column_names, row};

fn node(labels: Value, conditions: Value, unschedulable: bool) -> Value {
    json!({
        "metadata": {"name": "node-a", "creationTimestamp": ago(86400 * 3), "labels": labels},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": conditions,
            "addresses": [{"type": "Hostname", "address": "node-a"}, {"type": "InternalIP", "address": "10.0.0.4"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.7.13"},
        },
    })
}

#[test]
fn node_columns() {
    assert_eq!(
        column_names("", "Node"),
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP*",
            "External-IP*",
            "OS-Image*",
            "Kernel-Version*",
            "Container-Runtime*"
        ]
    );
}

#[test]
fn node_rows() {
    let ready = json!([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]);
    let cases = [
        (
            node(
                json!({"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "node-a"}),
                ready.clone(),
                false,
            ),
            json!([
                "node-a",
                "Ready",
                "control-plane",
                "3d",
                "v1.32.0",
                "10.0.0.4",
                "<none>",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0-18-amd64",
                "containerd://1.7.13"
            ]),
        ),
        (
            node(
                json!({"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/": "x", "kubernetes.io/role": "edge"}),
                ready,
                true,
            ),
            json!([
                "node-a",
                "Ready,SchedulingDisabled",
                "edge,worker",
                "3d",
                "v1.32.0",
                "10.0.0.4",
                "<none>",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0-18-amd64",
                "containerd://1.7.13"
            ]),
        ),
        (
            node(json!({}), json!([{"type": "Ready", "status": "Unknown"}]), false),
            json!([
                "node-a",
                "NotReady",
                "<none>",
                "3d",
                "v1.32.0",
                "10.0.0.4",
                "<none>",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0-18-amd64",
                "containerd://1.7.13"
            ]),
        ),
        (
            json!({"metadata": {"name": "new"}, "spec": {"unschedulable": true}}),
            json!([
                "new",
                "Unknown,SchedulingDisabled",
                "<none>",
                "<unknown>",
                "",
                "<none>",
                "<none>",
                "<unknown>",
                "<unknown>",
                "<unknown>"
            ]),
        ),
    ];
    for (obj, want) in cases {
        assert_eq!(Value::from(row("", "Node", &obj)), want);
    }
}

#[test]
fn simple_core_rows() {
    let meta = json!({"name": "x", "creationTimestamp": ago(45)});
    let cases = [
        (
            "Namespace",
            json!({"metadata": meta, "status": {"phase": "Terminating"}}),
            json!(["x", "Terminating", "45s"]),
        ),
        (
            "ConfigMap",
            json!({"metadata": meta, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
            json!(["x", 3, "45s"]),
        ),
        ("ConfigMap", json!({"metadata": meta}), json!(["x", 0, "45s"])),
        (
            "Secret",
            json!({"metadata": meta, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
            json!(["x", "kubernetes.io/tls", 2, "45s"]),
        ),
        ("ServiceAccount", json!({"metadata": meta, "secrets": [{"name": "x-token"}]}), json!(["x", 1, "45s"])),
    ];
    for (kind, obj, want) in cases {
        assert_eq!(Value::from(row("", kind, &obj)), want, "{kind}");
    }
}

#[test]
fn resource_quota_splits_requests_and_limits() {
    let obj = json!({"metadata": {"name": "compute", "creationTimestamp": ago(600)}, "status": {
        "hard": {"requests.cpu": "1000m", "requests.memory": "1024Mi", "limits.cpu": "2", "pods": "10",
            "count/deployments.apps": "5"},
        "used": {"requests.cpu": "500m", "requests.memory": "512Mi", "pods": "3"}}});
    assert_eq!(column_names("", "ResourceQuota"), ["Name", "Request", "Limit", "Age"]);
    assert_eq!(
        Value::from(row("", "ResourceQuota", &obj)),
        json!([
            "compute",
            "count/deployments.apps: 0/5, pods: 3/10, requests.cpu: 500m/1, requests.memory: 512Mi/1Gi",
            "limits.cpu: 0/2",
            "10m"
        ])
    );
}

#[test]
fn component_status_rows() {
    let healthy = json!({"metadata": {"name": "etcd-0"}, "conditions": [
        {"type": "Healthy", "status": "True", "message": "ok"}]});
    assert_eq!(Value::from(row("", "ComponentStatus", &healthy)), json!(["etcd-0", "Healthy", "ok", ""]));
    let failing = json!({"metadata": {"name": "scheduler"}, "conditions": [
        {"type": "Healthy", "status": "False", "message": "", "error": "connection refused"}]});
    assert_eq!(
        Value::from(row("", "ComponentStatus", &failing)),
        json!(["scheduler", "Unhealthy", "", "connection refused"])
    );
    let unknown = json!({"metadata": {"name": "c"}});
    assert_eq!(Value::from(row("", "ComponentStatus", &unknown)), json!(["c", "Unknown", "", ""]));
}
