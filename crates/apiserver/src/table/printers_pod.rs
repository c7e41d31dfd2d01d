//! The pod row: READY, STATUS (the reason kubectl shows: CrashLoopBackOff,
//! Init:0/1, Terminating, ...), RESTARTS, and wide columns — upstream's `printPod`.

use serde_json::{json, Value};

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn arr<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

pub fn pod_cells(pod: &Value, name: Value, age: Value) -> Vec<Value> {
    let total = arr(pod, "/spec/containers").len();
    let statuses = arr(pod, "/status/containerStatuses");
    let mut reason = s(pod, "/status/phase").to_string();
    if !s(pod, "/status/reason").is_empty() {
        reason = s(pod, "/status/reason").to_string();
    }
    let mut restarts: i64 = 0;
    let mut ready = 0;

    let init_specs = arr(pod, "/spec/initContainers");
    let mut initializing = false;
    for (i, c) in arr(pod, "/status/initContainerStatuses").iter().enumerate() {
        restarts += c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        let terminated = c.pointer("/state/terminated");
        let waiting = c.pointer("/state/waiting");
        if terminated.is_some_and(|t| t.get("exitCode").and_then(Value::as_i64) == Some(0)) {
            continue;
        }
        // Sidecars (restartPolicy Always) that are started count as done.
        let sidecar = init_specs.get(i).and_then(|s| s.get("restartPolicy")).and_then(Value::as_str) == Some("Always");
        if sidecar && c.get("started").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        initializing = true;
        reason = if let Some(t) = terminated {
            match t.get("reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None => match t.get("signal").and_then(Value::as_i64).filter(|s| *s != 0) {
                    Some(sig) => format!("Init:Signal:{sig}"),
                    None => format!("Init:ExitCode:{}", t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)),
                },
            }
        } else if let Some(r) = waiting.and_then(|w| w.get("reason")).and_then(Value::as_str).filter(|r| !r.is_empty() && *r != "PodInitializing") {
            format!("Init:{r}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in statuses.iter().rev() {
            restarts += c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = c.pointer("/state/terminated") {
                reason = match t.get("reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None => match t.get("signal").and_then(Value::as_i64).filter(|s| *s != 0) {
                        Some(sig) => format!("Signal:{sig}"),
                        None => format!("ExitCode:{}", t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)),
                    },
                };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true) && c.pointer("/state/running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if pod_ready(pod) { "Running".into() } else { "NotReady".into() };
        }
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        reason = if s(pod, "/status/reason") == "NodeLost" { "Unknown".into() } else { "Terminating".into() };
    }
    let nominated = s(pod, "/status/nominatedNodeName");
    let gates = arr(pod, "/spec/readinessGates");
    let gates_cell = if gates.is_empty() { "<none>".to_string() } else { format!("0/{}", gates.len()) };
    vec![
        name,
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts),
        age,
        json!(none(s(pod, "/status/podIP"))),
        json!(none(s(pod, "/spec/nodeName"))),
        json!(none(nominated)),
        json!(gates_cell),
    ]
}

fn none(v: &str) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v.to_string()
    }
}

fn pod_ready(pod: &Value) -> bool {
    arr(pod, "/status/conditions").iter().any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True")
}

/// A structured label selector as text (`app=web,tier in (a,b)`), `<none>` if empty.
pub fn label_selector_string(selector: Option<&Value>) -> String {
    let Some(selector) = selector else { return "<none>".into() };
    let mut parts: Vec<String> = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?))).collect())
        .unwrap_or_default();
    parts.sort();
    for e in selector.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = s(e, "/key");
        let values: Vec<&str> = e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        parts.push(match s(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(pod: Value) -> String {
        pod_cells(&pod, json!("p"), json!("1s"))[2].as_str().unwrap().to_string()
    }

    #[test]
    fn pod_status_column() {
        assert_eq!(status(json!({"spec": {"containers": [{}]}, "status": {"phase": "Pending"}})), "Pending");
        let crash = json!({"spec": {"containers": [{}]}, "status": {"phase": "Running", "containerStatuses": [
            {"restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(status(crash.clone()), "CrashLoopBackOff");
        assert_eq!(pod_cells(&crash, json!("p"), json!("1s"))[3], 3);
        let init = json!({"spec": {"initContainers": [{}, {}], "containers": [{}]}, "status": {"phase": "Pending", "initContainerStatuses": [
            {"state": {"terminated": {"exitCode": 0}}}, {"state": {"running": {}}}]}});
        assert_eq!(status(init), "Init:1/2");
        let running = json!({"spec": {"containers": [{}]}, "status": {"phase": "Running", "containerStatuses": [
            {"ready": true, "state": {"running": {}}}]}});
        assert_eq!(pod_cells(&running, json!("p"), json!("1s"))[1], "1/1");
        let deleting = json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}, "spec": {"containers": [{}]}, "status": {"phase": "Running"}});
        assert_eq!(status(deleting), "Terminating");
    }
}
