//! Ownership after a write that is not an apply (create, update, patch, subresources):
//! the writer owns what it changed, and nobody else does any more (structured-merge-diff's
//! `Updater.Update`).

use serde_json::Value;

use super::compare::{compare, created_fields_v1};
use super::managed::{encode_entry, ManagedFields, ManagedFieldsEntry, Operation};
use super::memo;
use super::set::FieldSet;
use super::{baseline, Manager, Scope, MAX_UPDATE_MANAGERS};

/// Records that `writer` turned `live` into `new` (`live` is `None` for a create).
///
/// # Guarantees
/// When nothing but system fields changed, `managed` is untouched. Otherwise the writer's
/// `Update` entry gains every added or modified field and its time becomes `now`; added,
/// modified and removed fields leave every other entry; entries left empty are dropped and
/// at most [`MAX_UPDATE_MANAGERS`] `Update` entries remain.
pub fn record_update(
    managed: &mut ManagedFields,
    live: Option<&Value>,
    new: &Value,
    scope: &Scope,
    writer: &Manager<'_>,
    now: &str,
) {
    let base = match live {
        Some(live) => live.clone(),
        None => baseline(new, scope.root),
    };
    let cmp = compare(Some(&base), Some(new), scope.root).without(scope.strip, &scope.ignored);
    if cmp.is_same() {
        return;
    }
    let changed = cmp.changed();
    for entry in &mut managed.entries {
        entry.fields = entry.fields.difference(&changed).difference(&cmp.removed);
    }
    let previous = managed.find(writer.manager, Operation::Update, writer.subresource, writer.api_version);
    let fields = previous.map_or_else(FieldSet::new, |e| e.fields.clone()).union(&changed);
    managed.put(update_entry(writer, now, fields));
    managed.prune_empty();
    managed.cap_updaters(MAX_UPDATE_MANAGERS);
}

/// The `managedFields` of an object `writer` creates without sending any: what
/// `record_update(empty, None, ..)` and [`ManagedFields::encode`] give, for a fraction
/// of the work (see [`created_fields_v1`]). `None` when the writer owns nothing.
pub fn created_managed_fields(new: &Value, scope: &Scope, writer: &Manager<'_>, now: &str) -> Option<Value> {
    let key = memo::key(&scope.memo_key, new);
    let fields = memo::get_or_compute(key, || created_fields_v1(new, scope.root, scope.strip, &scope.ignored));
    if fields.is_empty() {
        return None;
    }
    let fields = Value::Object(fields);
    let entry =
        encode_entry(writer.manager, Operation::Update, writer.api_version, Some(now), writer.subresource, fields);
    Some(Value::Array(vec![entry]))
}

/// The `Update` entry `writer` owns after its write at `now`.
fn update_entry(writer: &Manager<'_>, now: &str, fields: FieldSet) -> ManagedFieldsEntry {
    ManagedFieldsEntry {
        manager: writer.manager.to_string(),
        operation: Operation::Update,
        api_version: writer.api_version.to_string(),
        time: Some(now.to_string()),
        subresource: writer.subresource.to_string(),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn created_managed_fields_are_what_record_update_encodes() {
        let objects = [
            (
                ("", "v1", "ConfigMap"),
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "d", "uid": "u", "creationTimestamp": "t", "labels": {"a": "1"}, "annotations": {}},
                "data": {"k": "v", "e": ""}}),
            ),
            (
                ("apps", "v1", "Deployment"),
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "generation": 1, "finalizers": ["x", "x"], "ownerReferences": [{"uid": "u", "name": "o", "kind": "K", "apiVersion": "v1"}]},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "strategy": {},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                        "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "protocol": "TCP"}], "env": [], "resources": {"limits": {"cpu": "1"}}},
                                       {"name": "c", "image": "duplicate"}],
                        "tolerations": [{"key": "k", "operator": "Exists"}], "nodeSelector": null, "securityContext": {}}}},
                "status": {"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]}}),
            ),
            (
                ("", "v1", "Pod"),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "args": ["a", "b", "a"]}], "unknown": {"x": [1, {"y": 2}]}},
                "status": {"phase": "Pending"}}),
            ),
            (("", "v1", "Pod"), json!({"metadata": {}, "spec": {}})),
            (
                ("", "v1", "Pod"),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "resourceVersion": "5"}}),
            ),
            (
                ("", "v1", "Service"),
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP", "name": "dns"}], "clusterIP": "10.43.0.9"}}),
            ),
            (
                ("example.com", "v1", "Widget"),
                json!({"apiVersion": "example.com/v1", "kind": "Widget",
                "spec": {"a": {"b": [1, 2]}, "c": null}, "status": {"s": 1}}),
            ),
        ];
        for ((group, version, kind), first) in objects {
            // The second object has the first's layout, so its fields come from the memo.
            for obj in [first.clone(), sibling(&first)] {
                let scopes = [
                    Scope::new(group, version, kind),
                    Scope::new(group, version, kind).ignoring(&["status"]),
                    Scope::new(group, version, kind).ignoring(&["spec"]).ignoring(&["metadata"]),
                    Scope::new(group, version, kind).ignoring(&["spec", "template", "spec"]),
                ];
                for (i, scope) in scopes.iter().enumerate() {
                    for subresource in ["", "status"] {
                        let who = Manager { manager: "m", api_version: "v9", subresource };
                        let now = "2025-01-01T00:00:01Z";
                        let mut managed = ManagedFields::default();
                        record_update(&mut managed, None, &obj, scope, &who, now);
                        let expected = (!managed.entries.is_empty()).then(|| managed.encode());
                        assert_eq!(
                            created_managed_fields(&obj, scope, &who, now),
                            expected,
                            "{kind}, scope {i}, {subresource:?}"
                        );
                    }
                }
            }
        }
    }

    /// `value` with every leaf outside lists changed to another of its kind.
    fn sibling(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), sibling(v))).collect()),
            Value::String(s) => Value::String(format!("{s}-2")),
            Value::Number(n) => json!(n.as_i64().unwrap_or(0) + 1),
            Value::Bool(b) => Value::Bool(!b),
            Value::Array(_) | Value::Null => value.clone(),
        }
    }
}
