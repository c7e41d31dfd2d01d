//! HorizontalPodAutoscalers, as upstream's `validateHorizontalPodAutoscalerSpec`.
//! Objects arrive here in `autoscaling/v2` (the storage version: a v1 object's
//! `targetCPUUtilizationPercentage` has become a `Resource` metric), which is
//! also the shape of upstream's internal type, so paths match either way.

use serde_json::{json, Value};

use super::common::{dns1123_label, invalid_shown, path_segment, positive, set, text};
use super::resources::container_resource_name;
use crate::quantity::canonical;
use crate::Cause;

const METRIC_TYPES: [&str; 5] = ["ContainerResource", "External", "Object", "Pods", "Resource"];

/// The longest policy period and stabilization window upstream allows (seconds).
const MAX_PERIOD: i64 = 1800;
const MAX_WINDOW: i64 = 3600;

pub fn hpa(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    let int = |v: Option<&Value>, key: &str| set(v, key).and_then(Value::as_i64);
    // Scale to zero (HPAScaleToZero) is off by default; an autoscaler already at zero keeps it.
    let lowest = if old.is_some_and(|o| int(o.get("spec"), "minReplicas") == Some(0)) { 0 } else { 1 };
    let min = int(spec, "minReplicas");
    if let Some(m) = min.filter(|m| *m < lowest) {
        causes.push(invalid_shown("spec.minReplicas", m, format!("must be greater than or equal to {lowest}")));
    }
    let max = int(spec, "maxReplicas").unwrap_or(0);
    if max < 1 {
        causes.push(invalid_shown("spec.maxReplicas", max, "must be greater than 0"));
    }
    if min.is_some_and(|m| max < m) {
        causes.push(invalid_shown("spec.maxReplicas", max, "must be greater than or equal to `minReplicas`"));
    }
    object_reference(spec.and_then(|s| s.get("scaleTargetRef")), "spec.scaleTargetRef", causes);
    let metrics = set(spec, "metrics").and_then(Value::as_array);
    for (i, m) in metrics.into_iter().flatten().enumerate() {
        metric(m, &format!("spec.metrics[{i}]"), causes);
    }
    if min == Some(0) {
        let scales_to_zero =
            metrics.into_iter().flatten().any(|m| matches!(text(Some(m), "type"), Some("Object" | "External")));
        if !scales_to_zero {
            causes.push(Cause::forbidden(
                "spec.metrics",
                "must specify at least one Object or External metric to support scaling to zero replicas",
            ));
        }
    }
    for direction in ["scaleUp", "scaleDown"] {
        if let Some(rules) = set(set(spec, "behavior"), direction) {
            scaling_rules(rules, &format!("spec.behavior.{direction}"), causes);
        }
    }
}

/// `ValidateCrossVersionObjectReference`: a kind and a name, both usable in a URL.
fn object_reference(r: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    for field in ["kind", "name"] {
        match text(r, field).unwrap_or("") {
            "" => causes.push(Cause::required(format!("{at}.{field}"))),
            v => {
                for msg in path_segment(v) {
                    causes.push(Cause::invalid(format!("{at}.{field}"), &json!(v), msg));
                }
            }
        }
    }
}

/// `validateMetricSpec`. Only the first source given is checked further; any
/// other is refused.
fn metric(m: &Value, at: &str, causes: &mut Vec<Cause>) {
    let ty = text(Some(m), "type").unwrap_or("");
    let shown = json!(ty);
    if ty.is_empty() {
        causes.push(Cause::required_because(format!("{at}.type"), "must specify a metric source type"));
    }
    if !METRIC_TYPES.contains(&ty) {
        causes.push(Cause::not_supported(format!("{at}.type"), &shown, &METRIC_TYPES));
    }
    let sources = ["object", "external", "pods", "resource", "containerResource"];
    let present: Vec<&str> = sources.into_iter().filter(|s| set(Some(m), s).is_some()).collect();
    if let Some(first) = present.first() {
        let source = &m[*first];
        let at = format!("{at}.{first}");
        match *first {
            "object" => object_source(source, &at, causes),
            "external" => external_source(source, &at, causes),
            "pods" => pods_source(source, &at, causes),
            "resource" => resource_source(source, &at, false, causes),
            _ => resource_source(source, &at, true, causes),
        }
    }
    let expected = match ty {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "External" => "external",
        "ContainerResource" => "containerResource",
        _ => {
            // Upstream reports an unknown type a second time here.
            causes.push(Cause::not_supported(format!("{at}.type"), &shown, &METRIC_TYPES));
            ""
        }
    };
    if !expected.is_empty() && !present.contains(&expected) {
        causes.push(Cause::required_because(
            format!("{at}.{expected}"),
            "must populate information for the given metric source",
        ));
    }
    if present.len() != 1 {
        let mut others: Vec<&str> = present.into_iter().filter(|s| *s != expected).collect();
        others.sort_unstable();
        for other in others {
            causes.push(Cause::forbidden(format!("{at}.{other}"), "must populate the given metric source only"));
        }
    }
}

fn object_source(src: &Value, at: &str, causes: &mut Vec<Cause>) {
    object_reference(src.get("describedObject"), &format!("{at}.describedObject"), causes);
    metric_identifier(src.get("metric"), &format!("{at}.metric"), causes);
    let target = metric_target(src.get("target"), &format!("{at}.target"), causes);
    if set(target, "value").is_none() && set(target, "averageValue").is_none() {
        causes.push(Cause::required_because(
            format!("{at}.target.averageValue"),
            "must set either a target value or averageValue",
        ));
    }
}

fn external_source(src: &Value, at: &str, causes: &mut Vec<Cause>) {
    metric_identifier(src.get("metric"), &format!("{at}.metric"), causes);
    let target = metric_target(src.get("target"), &format!("{at}.target"), causes);
    match (set(target, "value"), set(target, "averageValue")) {
        (None, None) => causes.push(Cause::required_because(
            format!("{at}.target.averageValue"),
            "must set either a target value for metric or a per-pod target",
        )),
        (Some(_), Some(_)) => causes.push(Cause::forbidden(
            format!("{at}.target.value"),
            "may not set both a target value for metric and a per-pod target",
        )),
        _ => {}
    }
}

fn pods_source(src: &Value, at: &str, causes: &mut Vec<Cause>) {
    metric_identifier(src.get("metric"), &format!("{at}.metric"), causes);
    let target = metric_target(src.get("target"), &format!("{at}.target"), causes);
    if set(target, "averageValue").is_none() {
        causes.push(Cause::required_because(
            format!("{at}.target.averageValue"),
            "must specify a positive target averageValue",
        ));
    }
}

/// A `resource` or `containerResource` source: a resource (and a container),
/// and a target of either a utilization or an average value.
fn resource_source(src: &Value, at: &str, container: bool, causes: &mut Vec<Cause>) {
    match text(Some(src), "name").unwrap_or("") {
        "" => causes.push(Cause::required_because(format!("{at}.name"), "must specify a resource name")),
        name if container => container_resource_name(name, &format!("{at}.name"), causes),
        _ => {}
    }
    if container {
        match text(Some(src), "container").unwrap_or("") {
            "" => causes.push(Cause::required_because(format!("{at}.container"), "must specify a container")),
            c => {
                for msg in dns1123_label(c) {
                    causes.push(Cause::invalid(format!("{at}.container"), &json!(c), msg));
                }
            }
        }
    }
    let target = metric_target(src.get("target"), &format!("{at}.target"), causes);
    match (set(target, "averageUtilization"), set(target, "averageValue")) {
        (None, None) => causes.push(Cause::required_because(
            format!("{at}.target.averageUtilization"),
            "must set either a target raw value or a target utilization",
        )),
        (Some(_), Some(_)) => causes.push(Cause::forbidden(
            format!("{at}.target.averageValue"),
            "may not set both a target raw value and a target utilization",
        )),
        _ => {}
    }
}

/// `validateMetricTarget`; gives the target back for the source's own checks.
fn metric_target<'a>(target: Option<&'a Value>, at: &str, causes: &mut Vec<Cause>) -> Option<&'a Value> {
    let ty = text(target, "type").unwrap_or("");
    if ty.is_empty() {
        causes.push(Cause::required_because(format!("{at}.type"), "must specify a metric target type"));
    }
    if !matches!(ty, "Utilization" | "Value" | "AverageValue") {
        causes.push(Cause::invalid(
            format!("{at}.type"),
            &json!(ty),
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for field in ["value", "averageValue"] {
        if let Some(q) = set(target, field).and_then(Value::as_str) {
            let shown = canonical(q);
            if !positive(q) {
                // A quantity prints bare (its `String()`).
                causes.push(invalid_shown(format!("{at}.{field}"), shown, "must be positive"));
            }
        }
    }
    if let Some(u) = set(target, "averageUtilization").and_then(Value::as_i64).filter(|u| *u < 1) {
        causes.push(invalid_shown(format!("{at}.averageUtilization"), u, "must be greater than 0"));
    }
    target
}

fn metric_identifier(id: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    match text(id, "name").unwrap_or("") {
        "" => causes.push(Cause::required_because(format!("{at}.name"), "must specify a metric name")),
        name => {
            for msg in path_segment(name) {
                causes.push(Cause::invalid(format!("{at}.name"), &json!(name), msg));
            }
        }
    }
}

/// `validateScalingRules`. Upstream fills in default policies when none are
/// given; only an explicitly empty list is refused.
fn scaling_rules(rules: &Value, at: &str, causes: &mut Vec<Cause>) {
    if let Some(w) = set(Some(rules), "stabilizationWindowSeconds").and_then(Value::as_i64) {
        if w < 0 {
            causes.push(invalid_shown(
                format!("{at}.stabilizationWindowSeconds"),
                w,
                "must be greater than or equal to zero",
            ));
        }
        if w > MAX_WINDOW {
            causes.push(invalid_shown(
                format!("{at}.stabilizationWindowSeconds"),
                w,
                format!("must be less than or equal to {MAX_WINDOW}"),
            ));
        }
    }
    if let Some(p) = set(Some(rules), "selectPolicy") {
        if !matches!(p.as_str(), Some("Max" | "Min" | "Disabled")) {
            causes.push(Cause::not_supported(format!("{at}.selectPolicy"), p, &["Disabled", "Max", "Min"]));
        }
    }
    let policies = rules.get("policies").and_then(Value::as_array);
    if policies.is_some_and(Vec::is_empty) {
        causes.push(Cause::required_because(format!("{at}.policies"), "must specify at least one Policy"));
    }
    for (i, p) in policies.into_iter().flatten().enumerate() {
        let at = format!("{at}.policies[{i}]");
        let ty = p.get("type").cloned().unwrap_or(json!(""));
        if !matches!(ty.as_str(), Some("Pods" | "Percent")) {
            causes.push(Cause::not_supported(format!("{at}.type"), &ty, &["Percent", "Pods"]));
        }
        let value = p.get("value").and_then(Value::as_i64).unwrap_or(0);
        if value <= 0 {
            causes.push(invalid_shown(format!("{at}.value"), value, "must be greater than zero"));
        }
        let period = p.get("periodSeconds").and_then(Value::as_i64).unwrap_or(0);
        if period <= 0 {
            causes.push(invalid_shown(format!("{at}.periodSeconds"), period, "must be greater than zero"));
        }
        if period > MAX_PERIOD {
            causes.push(invalid_shown(
                format!("{at}.periodSeconds"),
                period,
                format!("must be less than or equal to {MAX_PERIOD}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({"apiVersion": "autoscaling/v2", "metadata": {"name": "web"}, "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}],
        }})
    }

    fn check_with(patch: Value, old: Option<&Value>) -> Vec<String> {
        let obj = crate::validation::testing::with_spec(valid(), patch);
        let mut causes = Vec::new();
        hpa(&obj, old, &mut causes);
        causes.iter().map(Cause::summary).collect()
    }

    fn check(patch: Value) -> Vec<String> {
        check_with(patch, None)
    }

    fn metric(m: Value) -> Vec<String> {
        check(json!({"metrics": [m]}))
    }

    #[test]
    fn valid_autoscalers_pass() {
        assert_eq!(check(json!({})), Vec::<String>::new());
        assert_eq!(check(json!({"minReplicas": null, "metrics": null})), Vec::<String>::new());
        let metrics = json!([
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
            {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
                "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Pods", "pods": {"metric": {"name": "packets-per-second"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
            {"type": "Object", "object": {"metric": {"name": "requests-per-second"},
                "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"},
                "target": {"type": "Value", "value": "10k"}}},
            {"type": "External", "external": {"metric": {"name": "queue_messages_ready"}, "target": {"type": "AverageValue", "averageValue": "30"}}},
        ]);
        let behavior = json!({"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
            "scaleUp": {"selectPolicy": "Max"}});
        assert_eq!(check(json!({"metrics": metrics, "behavior": behavior})), Vec::<String>::new());
    }

    #[test]
    fn replica_bounds_and_the_target_are_checked() {
        let cases = [
            (
                json!({"minReplicas": 0}),
                vec![
                    "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                    "spec.metrics: Forbidden: must specify at least one Object or External metric to support scaling to zero replicas",
                ],
            ),
            (json!({"maxReplicas": 0, "minReplicas": null}), vec!["spec.maxReplicas: Invalid value: 0: must be greater than 0"]),
            (
                json!({"maxReplicas": null}),
                vec![
                    "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                    "spec.maxReplicas: Invalid value: 0: must be greater than or equal to `minReplicas`",
                ],
            ),
            (
                json!({"minReplicas": 5, "maxReplicas": 3}),
                vec!["spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`"],
            ),
            (json!({"scaleTargetRef": {}}), vec!["spec.scaleTargetRef.kind: Required value", "spec.scaleTargetRef.name: Required value"]),
            (
                json!({"scaleTargetRef": {"kind": "Deployment", "name": "a/b"}}),
                vec![r#"spec.scaleTargetRef.name: Invalid value: "a/b": may not contain '/'"#],
            ),
        ];
        for (patch, want) in cases {
            assert_eq!(check(patch.clone()), want, "{patch}");
        }
        // A class already allowed to scale to zero stays so.
        let mut old = valid();
        old["spec"]["minReplicas"] = json!(0);
        let external = json!([{"type": "External", "external": {"metric": {"name": "q"}, "target": {"type": "Value", "value": "1"}}}]);
        assert!(check_with(json!({"minReplicas": 0, "metrics": external}), Some(&old)).is_empty());
        assert_eq!(
            check_with(json!({"minReplicas": 0}), Some(&old)),
            ["spec.metrics: Forbidden: must specify at least one Object or External metric to support scaling to zero replicas"]
        );
    }

    #[test]
    fn metric_and_target_types_are_checked() {
        let unsupported = r#"spec.metrics[0].type: Unsupported value: "Custom": supported values: "ContainerResource", "External", "Object", "Pods", "Resource""#;
        assert_eq!(metric(json!({"type": "Custom"})), [unsupported, unsupported]);
        assert_eq!(
            metric(json!({"type": "Pods"})),
            ["spec.metrics[0].pods: Required value: must populate information for the given metric source"]
        );
        assert_eq!(
            metric(
                json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                "pods": {"metric": {"name": "x"}, "target": {"type": "AverageValue", "averageValue": "1"}}})
            ),
            // Upstream checks the first source present (in its order), not the one typed.
            ["spec.metrics[0].pods: Forbidden: must populate the given metric source only"]
        );
        assert_eq!(
            metric(
                json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Percent", "averageUtilization": 0}}})
            ),
            [
                r#"spec.metrics[0].resource.target.type: Invalid value: "Percent": must be either Utilization, Value, or AverageValue"#,
                "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
            ]
        );
        assert_eq!(
            metric(json!({"type": "Resource", "resource": {"target": {"type": "AverageValue"}}})),
            [
                "spec.metrics[0].resource.name: Required value: must specify a resource name",
                "spec.metrics[0].resource.target.averageUtilization: Required value: must set either a target raw value or a target utilization",
            ]
        );
        assert_eq!(
            metric(json!({"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50, "averageValue": "-500m"}}})),
            [
                "spec.metrics[0].resource.target.averageValue: Invalid value: -500m: must be positive",
                "spec.metrics[0].resource.target.averageValue: Forbidden: may not set both a target raw value and a target utilization",
            ]
        );
        assert_eq!(
            metric(json!({"type": "External", "external": {"metric": {"name": ""}, "target": {"type": "Value", "value": "1", "averageValue": "2"}}})),
            [
                "spec.metrics[0].external.metric.name: Required value: must specify a metric name",
                "spec.metrics[0].external.target.value: Forbidden: may not set both a target value for metric and a per-pod target",
            ]
        );
        assert_eq!(
            metric(json!({"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "App",
                "target": {"type": "Utilization", "averageUtilization": 50}}})),
            [format!(
                r#"spec.metrics[0].containerResource.container: Invalid value: "App": {}"#,
                crate::names::DNS1123_LABEL_MESSAGE
            )]
        );
        assert_eq!(
            metric(json!({"type": "Object", "object": {"metric": {"name": "rps"}, "target": {"type": "Value"}}})),
            [
                "spec.metrics[0].object.describedObject.kind: Required value",
                "spec.metrics[0].object.describedObject.name: Required value",
                "spec.metrics[0].object.target.averageValue: Required value: must set either a target value or averageValue",
            ]
        );
    }

    #[test]
    fn scaling_behavior_is_checked() {
        let behavior = json!({"scaleUp": {"stabilizationWindowSeconds": 4000, "selectPolicy": "Fastest", "policies": []},
            "scaleDown": {"policies": [{"type": "Nodes", "value": 0, "periodSeconds": 3600}]}});
        assert_eq!(
            check(json!({"behavior": behavior})),
            [
                "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 4000: must be less than or equal to 3600",
                r#"spec.behavior.scaleUp.selectPolicy: Unsupported value: "Fastest": supported values: "Disabled", "Max", "Min""#,
                "spec.behavior.scaleUp.policies: Required value: must specify at least one Policy",
                r#"spec.behavior.scaleDown.policies[0].type: Unsupported value: "Nodes": supported values: "Percent", "Pods""#,
                "spec.behavior.scaleDown.policies[0].value: Invalid value: 0: must be greater than zero",
                "spec.behavior.scaleDown.policies[0].periodSeconds: Invalid value: 3600: must be less than or equal to 1800",
            ]
        );
    }
}
