//! Validation of workloads and Services.

use serde_json::{json, Value};

use crate::selector::LabelSelector;
use crate::Cause;

pub fn workload(kind: &str, obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let selector = obj.pointer("/spec/selector");
    match selector {
        None => causes.push(Cause::required("spec.selector")),
        Some(sel) => match LabelSelector::from_structured(sel) {
            Err(e) => causes.push(Cause::invalid("spec.selector", sel, e.0)),
            Ok(s) if s.is_empty() => {
                causes.push(Cause::invalid("spec.selector", sel, "empty selector is invalid for deployment"))
            }
            Ok(s) => {
                let labels = obj.pointer("/spec/template/metadata/labels").cloned().unwrap_or(json!({}));
                if !s.matches_object(&json!({"metadata": {"labels": labels}})) {
                    causes.push(Cause::invalid(
                        "spec.template.metadata.labels",
                        &labels,
                        "`selector` does not match template `labels`",
                    ));
                }
            }
        },
    }
    if let Some(r) = obj.pointer("/spec/replicas") {
        if !super::int_in(r, 0, i32::MAX as i64) {
            causes.push(Cause::invalid("spec.replicas", r, "must be greater than or equal to 0"));
        }
    }
    super::pod::pod_spec(obj.pointer("/spec/template/spec"), "spec.template.spec", causes);
    if kind == "Deployment" {
        if let Some(t) = obj.pointer("/spec/strategy/type") {
            if !matches!(t.as_str(), Some("RollingUpdate" | "Recreate")) {
                causes.push(Cause::not_supported("spec.strategy.type", t, &["Recreate", "RollingUpdate"]));
            }
        }
        if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate")
            && obj.pointer("/spec/strategy/rollingUpdate").is_some()
        {
            causes.push(Cause::forbidden(
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            ));
        }
    }
    if let Some(old) = old {
        if old.pointer("/spec/selector") != selector {
            causes.push(Cause::invalid("spec.selector", selector.unwrap_or(&Value::Null), "field is immutable"));
        }
        if kind == "StatefulSet" {
            for field in ["serviceName", "podManagementPolicy", "volumeClaimTemplates"] {
                if old.pointer(&format!("/spec/{field}")) != obj.pointer(&format!("/spec/{field}")) {
                    causes.push(Cause::forbidden(
                        "spec",
                        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                    ));
                    break;
                }
            }
        }
    }
}

pub fn job(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    job_spec(obj.get("spec"), "spec", causes);
    if let Some(old) = old {
        if old.pointer("/spec/template") != obj.pointer("/spec/template")
            && old.pointer("/spec/suspend") != Some(&json!(true))
        {
            causes.push(Cause::invalid(
                "spec.template",
                obj.pointer("/spec/template").unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
    }
}

/// A Job's spec at `path` (`spec`, or a CronJob's `spec.jobTemplate.spec`).
pub fn job_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let at = |p: &str| spec.and_then(|s| s.pointer(p));
    super::pod::pod_spec(at("/template/spec"), &format!("{path}.template.spec"), causes);
    match at("/template/spec/restartPolicy") {
        Some(Value::String(p)) if p == "OnFailure" || p == "Never" => {}
        other => causes.push(Cause::not_supported(
            format!("{path}.template.spec.restartPolicy"),
            other.unwrap_or(&Value::Null),
            &["OnFailure", "Never"],
        )),
    }
    for field in ["parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"] {
        if let Some(v) = at(&format!("/{field}")) {
            if !v.is_null() && !super::int_in(v, 0, i32::MAX as i64) {
                causes.push(Cause::invalid(format!("{path}.{field}"), v, "must be greater than or equal to 0"));
            }
        }
    }
}

pub fn service(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let service_type = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
    if !matches!(service_type, "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName") {
        causes.push(Cause::not_supported(
            "spec.type",
            &json!(service_type),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    let headless = obj.pointer("/spec/clusterIP").and_then(Value::as_str) == Some("None");
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    if ports.is_none_or(Vec::is_empty) && service_type != "ExternalName" && !headless {
        causes.push(Cause::required("spec.ports"));
    }
    let multiple = ports.is_some_and(|p| p.len() > 1);
    let mut names = std::collections::HashSet::new();
    for (i, p) in ports.into_iter().flatten().enumerate() {
        let port = p.get("port").unwrap_or(&Value::Null);
        if !super::int_in(port, 1, 65535) {
            causes.push(Cause::invalid(
                format!("spec.ports[{i}].port"),
                port,
                "must be between 1 and 65535, inclusive",
            ));
        }
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        if multiple && name.is_empty() {
            causes.push(Cause::required(format!("spec.ports[{i}].name")));
        } else if !name.is_empty() && !names.insert(name.to_string()) {
            causes.push(Cause::duplicate(format!("spec.ports[{i}].name"), &json!(name)));
        }
        if let Some(np) = p.get("nodePort") {
            if !super::int_in(np, 1, 65535) {
                causes.push(Cause::invalid(
                    format!("spec.ports[{i}].nodePort"),
                    np,
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
    }
    if service_type == "ExternalName"
        && obj.pointer("/spec/externalName").and_then(Value::as_str).is_none_or(str::is_empty)
    {
        causes.push(Cause::required("spec.externalName"));
    }
    if let Some(old) = old {
        let old_ip = old.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("");
        let new_ip = obj.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("");
        if !old_ip.is_empty() && old_ip != new_ip && service_type != "ExternalName" {
            causes.push(Cause::invalid("spec.clusterIPs[0]", &json!(new_ip), "may not change once set"));
        }
    }
}

/// ConfigMap and Secret keys: `[-._a-zA-Z0-9]+`, not `.` or `..`.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_selector_must_match_template() {
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let mut c = Vec::new();
        workload("Deployment", &d, None, &mut c);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].field, "spec.template.metadata.labels");
    }

    #[test]
    fn service_ports() {
        let mut c = Vec::new();
        service(&json!({"spec": {"ports": [{"port": 0}]}}), None, &mut c);
        assert_eq!(c[0].field, "spec.ports[0].port");
        let mut c = Vec::new();
        service(&json!({"spec": {"clusterIP": "None"}}), None, &mut c);
        assert!(c.is_empty());
    }
}
