//! Merging an applied configuration into the live object, and removing fields an applier
//! gave up (structured-merge-diff's `Merge` and `RemoveItems`).

use std::collections::{BTreeSet, VecDeque};

use serde_json::{Map, Value};

use super::compare::index;
use super::path::PathElement;
use super::schema::{ListNode, Node, Shape};
use super::set::FieldSet;

/// `live` with `applied` merged in: maps and structs key by key, list-maps and sets item
/// by item, everything atomic replaced. A `null` in `applied` removes the field (the
/// applier still owns it: it says "this is unset").
///
/// Item order: items `live` has and `applied` does not keep their place; the others
/// follow `applied`'s order (upstream's merge order).
pub fn merge(live: &Value, applied: &Value, node: Node) -> Value {
    match (node.shape(applied), live, applied) {
        (Shape::Object(n), Value::Object(old), Value::Object(new)) => {
            let mut out = old.clone();
            for (key, value) in new {
                if value.is_null() {
                    out.remove(key);
                    continue;
                }
                let merged = match old.get(key) {
                    Some(current) => merge(current, value, n.field(key)),
                    None => without_nulls(value),
                };
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (Shape::List(list), Value::Array(old), Value::Array(new)) => Value::Array(merge_list(old, new, list)),
        _ => without_nulls(applied),
    }
}

fn merge_list(live: &[Value], applied: &[Value], list: ListNode) -> Vec<Value> {
    let applied_index = index(list, applied);
    let live_index = index(list, live);
    let live_elements: Vec<PathElement> = live.iter().enumerate().map(|(i, v)| list.element(i, v)).collect();
    // Shared items in applied order: the live cursor waits at the next of them.
    let mut shared: VecDeque<PathElement> =
        applied.iter().enumerate().map(|(i, v)| list.element(i, v)).filter(|pe| live_index.contains_key(pe)).collect();
    let mut done: BTreeSet<PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(live.len().max(applied.len()));
    let mut cursor = 0;
    for (i, item) in applied.iter().enumerate() {
        let pe = list.element(i, item);
        if done.contains(&pe) {
            continue;
        }
        // Live-only items before the next shared item keep their place.
        while let Some(current) = live_elements.get(cursor) {
            if !applied_index.contains_key(current) {
                out.push(live[cursor].clone());
            } else if !done.contains(current) && shared.front() == Some(current) {
                break;
            }
            cursor += 1;
        }
        out.push(match live_index.get(&pe) {
            Some(current) => merge(current, item, list.item()),
            None => without_nulls(item),
        });
        if shared.front() == Some(&pe) {
            shared.pop_front();
        }
        done.insert(pe);
    }
    for (current, item) in live_elements.iter().zip(live).skip(cursor) {
        if !applied_index.contains_key(current) {
            out.push(item.clone());
        }
    }
    out
}

/// `value` without null map values, recursively: an added subtree sets no nulls.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Removes every path of `paths` from `value`: a removed list item goes with all below it,
/// as does a removed field or map key unless `keep` has fields below it (upstream keeps
/// the parents of owned fields). A map or list this empties is removed too unless `keep`
/// has it: nobody set "this is empty", it only became so.
pub fn remove(value: &mut Value, paths: &FieldSet, keep: &FieldSet, node: Node) {
    match (node.shape(value), value) {
        (Shape::Object(n), Value::Object(map)) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let pe = PathElement::field(key.as_str());
                if paths.has_member(&pe) && keep.child(&pe).is_none() {
                    map.remove(&key);
                } else if let Some(below) = paths.child(&pe) {
                    let emptied = map.get_mut(&key).is_some_and(|child| {
                        remove_below(child, below, keep, &pe, n.field(&key));
                        became_empty(child)
                    });
                    if emptied && !keep.has_member(&pe) {
                        map.remove(&key);
                    }
                }
            }
        }
        (Shape::List(list), Value::Array(items)) => {
            let old = std::mem::take(items);
            for (i, mut item) in old.into_iter().enumerate() {
                let pe = list.element(i, &item);
                if paths.has_member(&pe) {
                    continue;
                }
                if let Some(below) = paths.child(&pe) {
                    remove_below(&mut item, below, keep, &pe, list.item());
                }
                items.push(item);
            }
        }
        _ => {}
    }
}

fn remove_below(child: &mut Value, below: &FieldSet, keep: &FieldSet, pe: &PathElement, node: Node) {
    let empty = FieldSet::new();
    remove(child, below, keep.child(pe).unwrap_or(&empty), node);
}

fn became_empty(value: &Value) -> bool {
    match value {
        Value::Object(m) => m.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// An empty object, the merge base when there is no live object.
pub fn empty() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::path::Path;
    use serde_json::json;

    fn containers(names: &[(&str, &str)]) -> Value {
        let items: Vec<Value> = names.iter().map(|(n, i)| json!({"name": n, "image": i})).collect();
        json!({"spec": {"template": {"spec": {"containers": items}}}})
    }

    #[test]
    fn merges_by_list_semantics() {
        let deploy = Node::root("apps", "v1", "Deployment");
        // (live, applied, merged)
        let cases = [
            // Scalars replaced, maps merged, atomic structs replaced.
            (
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1, "selector": {"matchLabels": {"x": "1"}, "matchExpressions": []}}}),
                json!({"metadata": {"labels": {"b": "3"}}, "spec": {"replicas": 2, "selector": {"matchLabels": {"y": "1"}}}}),
                json!({"metadata": {"labels": {"a": "1", "b": "3"}}, "spec": {"replicas": 2, "selector": {"matchLabels": {"y": "1"}}}}),
            ),
            // List-maps merged by key, live-only items kept in place.
            (
                containers(&[("a", "1"), ("b", "1")]),
                containers(&[("b", "2"), ("c", "1")]),
                containers(&[("a", "1"), ("b", "2"), ("c", "1")]),
            ),
            (
                containers(&[("a", "1"), ("x", "1"), ("b", "1")]),
                containers(&[("b", "2"), ("a", "2")]),
                containers(&[("x", "1"), ("b", "2"), ("a", "2")]),
            ),
            (containers(&[("x", "1")]), containers(&[("n", "1")]), containers(&[("x", "1"), ("n", "1")])),
            // Sets unioned; atomic lists replaced.
            (
                json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"template": {"spec": {"tolerations": [{"key": "x"}]}}}}),
                json!({"metadata": {"finalizers": ["c", "a"]}, "spec": {"template": {"spec": {"tolerations": [{"key": "y"}]}}}}),
                json!({"metadata": {"finalizers": ["c", "a", "b"]}, "spec": {"template": {"spec": {"tolerations": [{"key": "y"}]}}}}),
            ),
            // Nulls remove.
            (
                json!({"spec": {"paused": true, "replicas": 1}}),
                json!({"spec": {"paused": null, "x": {"y": null}}}),
                json!({"spec": {"replicas": 1, "x": {}}}),
            ),
        ];
        for (live, applied, merged) in cases {
            assert_eq!(merge(&live, &applied, deploy), merged, "{live} + {applied}");
        }
    }

    #[test]
    fn merges_atomic_maps_and_schemaless_objects() {
        let svc = Node::root("", "v1", "Service");
        let merged = merge(&json!({"spec": {"selector": {"a": "1"}}}), &json!({"spec": {"selector": {"b": "1"}}}), svc);
        assert_eq!(merged, json!({"spec": {"selector": {"b": "1"}}}));
        let widget = Node::root("example.com", "v1", "Widget");
        let merged =
            merge(&json!({"spec": {"a": [1], "m": {"x": 1}}}), &json!({"spec": {"a": [2], "m": {"y": 2}}}), widget);
        assert_eq!(merged, json!({"spec": {"a": [2], "m": {"x": 1, "y": 2}}}));
    }

    #[test]
    fn removes_paths_and_what_they_empty() {
        let deploy = Node::root("apps", "v1", "Deployment");
        let p = |s: &[&str]| -> Path { s.iter().map(|f| PathElement::field(*f)).collect() };
        let item = |n: &str| PathElement::key([("name", &json!(n))]);
        let mut obj =
            json!({"metadata": {"labels": {"a": "1"}, "annotations": {"x": "1", "y": "2"}}, "spec": {"replicas": 1}});
        obj["spec"]["template"] = containers(&[("a", "1"), ("b", "1")])["spec"]["template"].clone();
        let mut gone =
            FieldSet::from_paths([p(&["metadata", "labels", "a"]).as_slice(), &p(&["metadata", "annotations", "x"])]);
        gone.insert(&[p(&["spec", "template", "spec", "containers"]), vec![item("a")]].concat());
        remove(&mut obj, &gone, &FieldSet::new(), deploy);
        let mut expected = json!({"metadata": {"annotations": {"y": "2"}}, "spec": {"replicas": 1}});
        expected["spec"]["template"] = containers(&[("b", "1")])["spec"]["template"].clone();
        assert_eq!(obj, expected);

        // A dropped map whose keys someone owns stays, less what nobody owns.
        let mut obj = json!({"data": {"a": "1", "b": "2"}});
        let cm = Node::root("", "v1", "ConfigMap");
        let mut gone = FieldSet::from_paths([p(&["data"]).as_slice(), &p(&["data", "b"])]);
        gone.insert(&p(&["data", "b"]));
        remove(&mut obj, &gone, &FieldSet::from_paths([p(&["data", "a"]).as_slice()]), cm);
        assert_eq!(obj, json!({"data": {"a": "1"}}));

        // An owned map stays, even empty.
        let mut obj = json!({"metadata": {"labels": {"a": "1"}}});
        let keep = FieldSet::from_paths([p(&["metadata", "labels"]).as_slice()]);
        remove(&mut obj, &FieldSet::from_paths([p(&["metadata", "labels", "a"]).as_slice()]), &keep, deploy);
        assert_eq!(obj, json!({"metadata": {"labels": {}}}));
    }
}
