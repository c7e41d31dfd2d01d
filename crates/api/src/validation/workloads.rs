//! Validation of workloads.

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
}
