//! The `scale` subresource (`autoscaling/v1 Scale`) of deployments, replicasets,
//! statefulsets and replicationcontrollers: a view of `spec.replicas`.

use http::StatusCode;
use serde_json::{json, Value};
use skiff_api::{meta, ApiError};

use super::body::{check_type, decode_body, parse_json};
use super::Call;
use crate::request::{negotiate, PatchType};
use crate::response::{self, HttpResponse};
use crate::storage;

/// The Scale view of a parent object.
pub fn scale_of(parent: &Value) -> Value {
    let m = meta::metadata(parent).cloned().unwrap_or_default();
    let mut metadata = json!({});
    for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = m.get(field) {
            metadata[field] = v.clone();
        }
    }
    let replicas = parent.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": replicas},
        "status": {
            "replicas": parent.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_string(parent.pointer("/spec/selector")),
        },
    })
}

/// A label selector in string form, as `Scale.status.selector` carries it.
fn selector_string(selector: Option<&Value>) -> String {
    let Some(selector) = selector else { return String::new() };
    let mut parts = Vec::new();
    // ReplicationControllers have a plain map; the others a LabelSelector.
    let labels = selector.get("matchLabels").or(if selector.get("matchExpressions").is_none() { Some(selector) } else { None });
    if let Some(labels) = labels.and_then(Value::as_object) {
        let mut pairs: Vec<String> = labels.iter().filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?))).collect();
        pairs.sort();
        parts.extend(pairs);
    }
    for e in selector.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> =
            e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        parts.push(match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    parts.join(",")
}

pub async fn get(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let parent = call.ctx.objects.get(call.resource, &call.req.namespace, &call.req.name).await?;
    Ok(response::object(StatusCode::OK, &scale_of(&parent), call.output))
}

pub async fn update(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let mut scale = decode_body(call)?;
    check_type(call, &mut scale, "Scale", "autoscaling/v1")?;
    write(call, true, |_| Ok(scale.clone())).await
}

pub async fn patch(call: &Call<'_>) -> Result<HttpResponse, ApiError> {
    let content_type = call.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let patch_type = negotiate::patch_type(content_type)?;
    let patch = parse_json(call.body)?;
    // A patch is a precondition only if it sets a resourceVersion itself; the
    // one it inherits from the current object must not turn a concurrent write
    // into a 409 (upstream re-applies the patch instead).
    let explicit = match patch_type {
        PatchType::Json => {
            patch.as_array().is_some_and(|ops| ops.iter().any(|op| op["path"] == "/metadata/resourceVersion"))
        }
        _ => patch.pointer("/metadata/resourceVersion").is_some(),
    };
    write(call, explicit, |current| match patch_type {
        PatchType::Json => Ok(skiff_api::patch::json_patch(current, &patch)?),
        PatchType::Merge | PatchType::Strategic => Ok(skiff_api::patch::merge_patch(current, &patch)),
        PatchType::Apply => Err(ApiError::UnsupportedMediaType("apply patches on scale are not supported yet".into())),
    })
    .await
}

/// Sets the parent's `spec.replicas` from the desired Scale.
async fn write(
    call: &Call<'_>,
    explicit_rv: bool,
    desired: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let res = call.resource;
    for _ in 0..10 {
        let parent = call.ctx.objects.get(res, &call.req.namespace, &call.req.name).await?;
        let current_scale = scale_of(&parent);
        let scale = desired(&current_scale)?;
        let replicas = match scale.pointer("/spec/replicas") {
            None => 0,
            Some(v) => v.as_i64().filter(|r| *r >= 0 && *r <= i32::MAX as i64).ok_or_else(|| {
                ApiError::invalid("autoscaling", "Scale", &call.req.name, vec![skiff_api::Cause::invalid(
                    "spec.replicas",
                    v,
                    "must be greater than or equal to 0",
                )])
            })?,
        };
        let rv = storage::parse_resource_version(meta::resource_version(&parent))?;
        let precondition = match meta::resource_version(&scale) {
            _ if !explicit_rv => None,
            "" => None,
            v => Some(storage::parse_resource_version(v)?),
        };
        if precondition.is_some_and(|p| p != rv) {
            return Err(ApiError::stale(res.group, res.plural, &call.req.name));
        }
        let mut updated = parent.clone();
        updated["spec"]["replicas"] = json!(replicas);
        if updated != parent {
            let generation = meta::metadata(&parent).and_then(|m| m.get("generation")).and_then(Value::as_i64).unwrap_or(0);
            meta::set_meta(&mut updated, "generation", generation + 1);
        }
        super::apply::track_update(call, &parent, &mut updated);
        match call.ctx.objects.update(res, updated, rv).await {
            Ok(saved) => return Ok(response::object(StatusCode::OK, &scale_of(&saved), call.output)),
            Err(ApiError::Conflict { .. }) if precondition.is_none() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::stale(res.group, res.plural, &call.req.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view() {
        let d = json!({"metadata": {"name": "d", "resourceVersion": "7"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}}, "status": {"replicas": 2}});
        let s = scale_of(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["selector"], "app=web,tier in (a,b)");
        assert_eq!(s["metadata"]["resourceVersion"], "7");
        let rc = json!({"spec": {"selector": {"app": "x"}}});
        assert_eq!(scale_of(&rc)["status"]["selector"], "app=x");
    }
}
