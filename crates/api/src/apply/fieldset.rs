//! The set of fields a value sets: what an applier owns after applying it
//! (structured-merge-diff's `ToFieldSet`).

use serde_json::Value;

use super::path::{Path, PathElement};
use super::schema::{Node, Shape};
use super::set::FieldSet;

/// Every field `value` sets at position `node`: each scalar and atomic value, each list
/// item (and the fields inside it), each key of a map (and what is below it). Nulls and
/// empty objects are members themselves, so an applier can own "this is empty".
pub fn field_set(value: &Value, node: Node) -> FieldSet {
    let mut set = FieldSet::new();
    collect(value, node, &mut Vec::new(), &mut set);
    set
}

fn collect(value: &Value, node: Node, path: &mut Path, set: &mut FieldSet) {
    match node.shape(value) {
        Shape::Leaf => set.insert(path),
        Shape::Object(node) => {
            let Value::Object(map) = value else { return };
            for (key, child) in map {
                path.push(PathElement::field(key.as_str()));
                let empty = child.is_null() || child.as_object().is_some_and(|m| m.is_empty());
                if empty {
                    set.insert(path);
                } else {
                    collect(child, node.field(key), path, set);
                    // Keys of a map (not fields of a struct) are items: owned themselves.
                    if !matches!(node, Node::Struct(_)) {
                        set.insert(path);
                    }
                }
                path.pop();
            }
        }
        Shape::List(list) => {
            let Value::Array(items) = value else { return };
            for (i, item) in items.iter().enumerate() {
                path.push(list.element(i, item));
                collect(item, list.item(), path, set);
                set.insert(path);
                path.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_sets_of_applied_configurations() {
        let deploy = Node::root("apps", "v1", "Deployment");
        let cases = [
            (json!({"spec": {"replicas": 3}}), json!({"f:spec": {"f:replicas": {}}})),
            (json!({"metadata": {"labels": {"app": "web"}}}), json!({"f:metadata": {"f:labels": {"f:app": {}}}})),
            // An atomic struct is one field.
            (json!({"spec": {"selector": {"matchLabels": {"app": "web"}}}}), json!({"f:spec": {"f:selector": {}}})),
            // List-map items are owned with their fields, keyed by their list-map keys.
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}}),
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {r#"k:{"name":"c"}"#: {
                    ".": {}, "f:name": {}, "f:image": {},
                    "f:ports": {r#"k:{"containerPort":80,"protocol":"TCP"}"#: {".": {}, "f:containerPort": {}}},
                }}}}}}),
            ),
            // Set items by value; atomic lists as a whole.
            (
                json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"template": {"spec": {"tolerations": [{"key": "k"}]}}}}),
                json!({"f:metadata": {"f:finalizers": {r#"v:"a""#: {}, r#"v:"b""#: {}}}, "f:spec": {"f:template": {"f:spec": {"f:tolerations": {}}}}}),
            ),
            // Empty objects and nulls are owned as such.
            (json!({"spec": {"strategy": {}, "paused": null}}), json!({"f:spec": {"f:strategy": {}, "f:paused": {}}})),
        ];
        for (value, expected) in cases {
            assert_eq!(field_set(&value, deploy).to_fields_v1(), expected, "{value}");
        }
    }

    #[test]
    fn keys_of_maps_and_schemaless_objects_are_members() {
        let cm = Node::root("", "v1", "ConfigMap");
        assert_eq!(field_set(&json!({"data": {"k": "v"}}), cm).to_fields_v1(), json!({"f:data": {"f:k": {}}}));
        let widget = Node::root("example.com", "v1", "Widget");
        assert_eq!(
            field_set(&json!({"spec": {"size": {"x": 1}}}), widget).to_fields_v1(),
            json!({"f:spec": {".": {}, "f:size": {".": {}, "f:x": {}}}})
        );
    }
}
