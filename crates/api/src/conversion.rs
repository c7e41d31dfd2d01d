//! Conversion between the versions of a kind that share one storage, as upstream
//! serves them: HorizontalPodAutoscaler `autoscaling/v1` ↔ `autoscaling/v2`
//! (stored as v2), and Event `v1` ↔ `events.k8s.io/v1` (stored as core v1). Every
//! other kind has one served version and passes through unchanged.

use serde_json::{json, Map, Value};

/// The apiVersion a kind is stored in, when it is served in more than one.
pub fn storage_version(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("autoscaling", "HorizontalPodAutoscaler") => Some("autoscaling/v2"),
        ("", "Event") | ("events.k8s.io", "Event") => Some("v1"),
        _ => None,
    }
}

/// Converts `obj` (of `kind`, in whatever served version it carries) to
/// `api_version`. Unknown combinations are returned as they are.
pub fn convert(obj: &Value, kind: &str, api_version: &str) -> Value {
    let from = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if from == api_version || from.is_empty() {
        return obj.clone();
    }
    match (kind, from, api_version) {
        ("HorizontalPodAutoscaler", "autoscaling/v1", "autoscaling/v2") => hpa_v1_to_v2(obj),
        ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling/v1") => hpa_v2_to_v1(obj),
        ("Event", "events.k8s.io/v1", "v1") => event_new_to_core(obj),
        ("Event", "v1", "events.k8s.io/v1") => event_core_to_new(obj),
        _ => obj.clone(),
    }
}

/// Annotation in which v1 keeps the v2 metrics it cannot express (as upstream).
const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";

fn hpa_v1_to_v2(obj: &Value) -> Value {
    let mut out = obj.clone();
    out["apiVersion"] = json!("autoscaling/v2");
    let spec = out.get_mut("spec").and_then(Value::as_object_mut);
    if let Some(spec) = spec {
        let mut metrics = Vec::new();
        if let Some(target) = spec.remove("targetCPUUtilizationPercentage") {
            metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}));
        }
        if !metrics.is_empty() {
            spec.insert("metrics".into(), Value::Array(metrics));
        }
    }
    let status = out.get_mut("status").and_then(Value::as_object_mut);
    if let Some(status) = status {
        if let Some(current) = status.remove("currentCPUUtilizationPercentage") {
            status.insert(
                "currentMetrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}}]),
            );
        }
    }
    // Metrics a v1 client could not see were kept in an annotation: restore them.
    if let Some(kept) = out.pointer(&format!("/metadata/annotations/{}", METRICS_ANNOTATION.replace('/', "~1"))).and_then(Value::as_str) {
        if let Ok(Value::Array(extra)) = serde_json::from_str::<Value>(kept) {
            if let Some(metrics) = out.pointer_mut("/spec/metrics").and_then(Value::as_array_mut) {
                metrics.extend(extra);
            } else {
                out["spec"]["metrics"] = Value::Array(extra);
            }
        }
        if let Some(m) = out.get_mut("metadata").and_then(Value::as_object_mut) {
            let now_empty = m.get_mut("annotations").and_then(Value::as_object_mut).is_some_and(|a| {
                a.remove(METRICS_ANNOTATION);
                a.is_empty()
            });
            if now_empty {
                m.remove("annotations");
            }
        }
    }
    out
}

fn hpa_v2_to_v1(obj: &Value) -> Value {
    let mut out = obj.clone();
    out["apiVersion"] = json!("autoscaling/v1");
    let mut others = Vec::new();
    if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut) {
        let metrics = spec.remove("metrics");
        spec.remove("behavior");
        for m in metrics.and_then(|m| m.as_array().cloned()).unwrap_or_default() {
            let cpu = m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
                && m.pointer("/resource/target/type").and_then(Value::as_str) == Some("Utilization");
            match m.pointer("/resource/target/averageUtilization") {
                Some(u) if cpu => {
                    spec.insert("targetCPUUtilizationPercentage".into(), u.clone());
                }
                _ => others.push(m),
            }
        }
    }
    if let Some(status) = out.get_mut("status").and_then(Value::as_object_mut) {
        let current = status.remove("currentMetrics");
        status.remove("conditions");
        let cpu = current.as_ref().and_then(Value::as_array).and_then(|ms| {
            ms.iter().find(|m| m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu"))
        });
        if let Some(u) = cpu.and_then(|m| m.pointer("/resource/current/averageUtilization")) {
            status.insert("currentCPUUtilizationPercentage".into(), u.clone());
        }
    }
    if !others.is_empty() {
        crate::meta::metadata_mut(&mut out)
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .map(|a| a.insert(METRICS_ANNOTATION.into(), Value::String(Value::Array(others).to_string())));
    }
    out
}

/// Renames fields between the two Event shapes: `(events.k8s.io/v1, core/v1)`.
const EVENT_FIELDS: [(&str, &str); 6] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("deprecatedSource", "source"),
];

fn event_new_to_core(obj: &Value) -> Value {
    let mut out = rename(obj, EVENT_FIELDS.iter().map(|(new, core)| (*new, *core)));
    out["apiVersion"] = json!("v1");
    if let Some(m) = out.as_object_mut() {
        if let Some(c) = m.remove("reportingController") {
            m.insert("reportingComponent".into(), c);
        }
        if let Some(i) = m.remove("reportingInstance") {
            m.insert("reportingInstance".into(), i);
        }
    }
    out
}

fn event_core_to_new(obj: &Value) -> Value {
    let mut out = rename(obj, EVENT_FIELDS.iter().map(|(new, core)| (*core, *new)));
    out["apiVersion"] = json!("events.k8s.io/v1");
    if let Some(m) = out.as_object_mut() {
        if let Some(c) = m.remove("reportingComponent") {
            m.insert("reportingController".into(), c);
        }
        // Core events written by old clients have only source.component.
        if !m.contains_key("reportingController") {
            if let Some(c) = m.get("deprecatedSource").and_then(|s| s.get("component")).cloned() {
                m.insert("reportingController".into(), c);
            }
        }
    }
    out
}

fn rename<'a>(obj: &Value, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out.as_object_mut() {
        for (from, to) in pairs {
            if let Some(v) = m.remove(from) {
                m.insert(to.to_string(), v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpa_round_trips_through_v2() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60,
                "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}}});
        let v2 = convert(&v1, "HorizontalPodAutoscaler", "autoscaling/v2");
        assert_eq!(v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 60);
        assert!(v2["spec"].get("targetCPUUtilizationPercentage").is_none());
        assert_eq!(convert(&v2, "HorizontalPodAutoscaler", "autoscaling/v1"), v1);
    }

    #[test]
    fn v2_only_metrics_survive_a_v1_round_trip() {
        let v2 = json!({"apiVersion": "autoscaling/v2", "metadata": {"name": "h"}, "spec": {"metrics": [
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}}}]}});
        let v1 = convert(&v2, "HorizontalPodAutoscaler", "autoscaling/v1");
        assert!(v1["metadata"]["annotations"][METRICS_ANNOTATION].is_string());
        assert_eq!(convert(&v1, "HorizontalPodAutoscaler", "autoscaling/v2"), v2);
    }

    #[test]
    fn events_convert_both_ways() {
        let new = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hello", "reason": "Started", "type": "Normal",
            "reportingController": "kubelet", "eventTime": "2024-01-01T00:00:00.000000Z"});
        let core = convert(&new, "Event", "v1");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["reportingComponent"], "kubelet");
        assert_eq!(convert(&core, "Event", "events.k8s.io/v1"), new);
        assert_eq!(storage_version("events.k8s.io", "Event"), Some("v1"));
    }
}
