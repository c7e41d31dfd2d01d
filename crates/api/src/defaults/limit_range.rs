//! LimitRange defaults (upstream's `SetDefaults_LimitRangeItem`): a Container
//! item's default limit falls back to its max, and its default request to the
//! default limit, then to its min. Validation then orders them all.

use serde_json::{Map, Value};

pub fn limit_range(obj: &mut Value) {
    let items = obj.pointer_mut("/spec/limits").and_then(Value::as_array_mut);
    for item in items.into_iter().flatten() {
        if item.get("type").and_then(Value::as_str) == Some("Container") {
            container_item(item);
        }
    }
}

fn container_item(item: &mut Value) {
    let list = |item: &Value, field: &str| item.get(field).and_then(Value::as_object).cloned().unwrap_or_default();
    let (max, min) = (list(item, "max"), list(item, "min"));
    let mut default = list(item, "default");
    fill(&mut default, &max);
    let mut request = list(item, "defaultRequest");
    fill(&mut request, &default);
    fill(&mut request, &min);
    let Some(map) = item.as_object_mut() else { return };
    // Upstream leaves empty lists out when it writes the item.
    for (field, list) in [("default", default), ("defaultRequest", request)] {
        if !list.is_empty() {
            map.insert(field.into(), Value::Object(list));
        }
    }
}

/// Adds the entries of `from` that `to` lacks.
fn fill(to: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        to.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_defaults_come_from_max_then_default_then_min() {
        let mut lr = json!({"spec": {"limits": [
            {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "100m", "ephemeral-storage": "1Gi"},
             "default": {"cpu": "1"}},
            {"type": "Pod", "max": {"cpu": "4"}},
        ]}});
        limit_range(&mut lr);
        let c = &lr["spec"]["limits"][0];
        assert_eq!(c["default"], json!({"cpu": "1", "memory": "1Gi"}));
        assert_eq!(c["defaultRequest"], json!({"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"}));
        assert!(lr["spec"]["limits"][1].get("default").is_none(), "only Container items get defaults");
        let mut bare = json!({"spec": {"limits": [{"type": "Container"}]}});
        limit_range(&mut bare);
        assert_eq!(bare["spec"]["limits"][0], json!({"type": "Container"}));
    }
}
