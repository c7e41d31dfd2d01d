//! Pod-specific rules the API server applies: QoS class and graceful deletion.

use serde_json::Value;

/// upstream's QoS class: Guaranteed when every container has equal cpu and memory
/// requests and limits, BestEffort when none has any, Burstable otherwise.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers = ["containers", "initContainers"]
        .iter()
        .flat_map(|f| pod.get("spec").and_then(|s| s.get(*f)).and_then(Value::as_array).into_iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let resources = c.get("resources");
        let requests = resources.and_then(|r| r.get("requests")).and_then(Value::as_object);
        let limits = resources.and_then(|r| r.get("limits")).and_then(Value::as_object);
        if requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(res));
            // A request defaults to the limit when only the limit is set.
            let request = requests.and_then(|r| r.get(res)).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Whether a pod may be removed at once on delete: never scheduled, or already
/// finished — there is no kubelet that needs to stop anything.
pub fn deletes_immediately(pod: &Value) -> bool {
    let scheduled = pod.get("spec").and_then(|s| s.get("nodeName")).and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let phase = pod.get("status").and_then(|s| s.get("phase")).and_then(Value::as_str).unwrap_or("");
    !scheduled || matches!(phase, "Succeeded" | "Failed")
}

/// The grace period a delete without one uses.
pub fn default_grace_period(pod: &Value) -> i64 {
    pod.get("spec").and_then(|s| s.get("terminationGracePeriodSeconds")).and_then(Value::as_i64).unwrap_or(30)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn qos() {
        assert_eq!(qos_class(&json!({"spec": {"containers": [{"name": "a"}]}})), "BestEffort");
        let g = json!({"spec": {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }

    #[test]
    fn graceful_deletion_rules() {
        assert!(deletes_immediately(&json!({"spec": {}})));
        assert!(!deletes_immediately(&json!({"spec": {"nodeName": "n"}, "status": {"phase": "Running"}})));
        assert!(deletes_immediately(&json!({"spec": {"nodeName": "n"}, "status": {"phase": "Succeeded"}})));
        assert_eq!(default_grace_period(&json!({"spec": {"terminationGracePeriodSeconds": 5}})), 5);
    }
}
