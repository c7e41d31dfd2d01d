//! Rows of autoscalers (every TARGETS form) and disruption budgets.

use serde_json::{json, Value};

use crate::table::printers::testing::{ago, column_names, row};

fn hpa(metrics: Value, current: Value) -> Value {
    json!({"metadata": {"name": "web", "creationTimestamp": ago(3600)},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 10, "metrics": metrics},
        "status": {"currentReplicas": 3, "currentMetrics": current}})
}

fn targets(metrics: Value, current: Value) -> Value {
    row("autoscaling", "HorizontalPodAutoscaler", &hpa(metrics, current))[2].clone()
}

#[test]
fn hpa_columns_and_row() {
    assert_eq!(
        column_names("autoscaling", "HorizontalPodAutoscaler"),
        ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"]
    );
    let cpu = json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]);
    let now = json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 50, "averageValue": "250m"}}}]);
    assert_eq!(
        Value::from(row("autoscaling", "HorizontalPodAutoscaler", &hpa(cpu, now))),
        json!(["web", "Deployment/web", "cpu: 50%/80%", "2", 10, 3, "60m"])
    );
}

#[test]
fn hpa_target_forms() {
    let resource = |target: Value| json!([{"type": "Resource", "resource": {"name": "memory", "target": target}}]);
    let cases = [
        (resource(json!({"type": "Utilization", "averageUtilization": 70})), json!([]), "memory: <unknown>/70%"),
        (resource(json!({"type": "Utilization"})), json!([]), "memory: <unknown>/<auto>"),
        (
            resource(json!({"type": "AverageValue", "averageValue": "1024Mi"})),
            json!([{"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "512Mi"}}}]),
            "memory: 512Mi/1Gi",
        ),
        (
            json!([{"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
                "target": {"type": "Utilization", "averageUtilization": 60}}}]),
            json!([{"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
                "current": {"averageUtilization": 45}}}]),
            "cpu: 45%/60%",
        ),
        (
            json!([{"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}]),
            json!([{"type": "Pods", "pods": {"metric": {"name": "rps"}, "current": {"averageValue": "1500m"}}}]),
            "1500m/1k",
        ),
        (
            json!([{"type": "Object", "object": {"metric": {"name": "hits"}, "target": {"type": "Value", "value": "10k"}}}]),
            json!([]),
            "<unknown>/10k",
        ),
        (
            json!([{"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "AverageValue", "averageValue": "30"}}}]),
            json!([{"type": "External", "external": {"metric": {"name": "queue"}, "current": {"averageValue": "12"}}}]),
            "12/30 (avg)",
        ),
        (json!([{"type": "Bogus"}]), json!([]), "<unknown type>"),
        (
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}},
                {"type": "Pods", "pods": {"target": {"averageValue": "1"}}}, {"type": "Bogus"}]),
            json!([]),
            "cpu: <unknown>/80%, memory: <unknown>/80% + 2 more...",
        ),
    ];
    for (metrics, current, want) in cases {
        assert_eq!(targets(metrics.clone(), current), want, "{metrics}");
    }
}

#[test]
fn hpa_autoscaling_v1_shape() {
    let v1 = json!({"metadata": {"name": "old"}, "spec": {"scaleTargetRef": {"kind": "ReplicaSet", "name": "rs"},
        "maxReplicas": 4, "targetCPUUtilizationPercentage": 65}, "status": {"currentReplicas": 1,
        "currentCPUUtilizationPercentage": 20}});
    assert_eq!(
        Value::from(row("autoscaling", "HorizontalPodAutoscaler", &v1)),
        json!(["old", "ReplicaSet/rs", "cpu: 20%/65%", "<unset>", 4, 1, "<unknown>"])
    );
    // No target at all reads as the CPU 80% upstream's defaulting stores.
    let bare = json!({"metadata": {"name": "b"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}}});
    assert_eq!(row("autoscaling", "HorizontalPodAutoscaler", &bare)[2], "cpu: <unknown>/80%");
}

#[test]
fn pdb_rows() {
    let min = json!({"metadata": {"name": "zk", "creationTimestamp": ago(60)}, "spec": {"minAvailable": 2},
        "status": {"disruptionsAllowed": 1}});
    assert_eq!(Value::from(row("policy", "PodDisruptionBudget", &min)), json!(["zk", "2", "N/A", 1, "60s"]));
    let max = json!({"metadata": {"name": "web"}, "spec": {"maxUnavailable": "25%"}});
    assert_eq!(Value::from(row("policy", "PodDisruptionBudget", &max)), json!(["web", "N/A", "25%", 0, "<unknown>"]));
}
