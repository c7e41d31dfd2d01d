//! Validation of Jobs (the apps kinds are in `apps`).

use serde_json::{json, Value};

use crate::Cause;

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
