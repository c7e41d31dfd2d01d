//! What a write changed, field by field (structured-merge-diff's `Compare`): the basis of
//! ownership for writes that are not applies, and of conflict detection for applies.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::path::{Path, PathElement};
use super::schema::{ListNode, Node, Shape};
use super::set::FieldSet;

/// The fields that differ between two versions of an object. No path is in two sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Present only in the new version. Containers (maps, structs, list items) that are new
    /// are members too, so an added label map is `{".": {}, "f:app": {}}`.
    pub added: FieldSet,
    /// Present in both, with different values (leaves only).
    pub modified: FieldSet,
    /// Present only in the old version.
    pub removed: FieldSet,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    /// Added or modified: the fields the new version sets to a new value.
    pub fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }

    /// Drops paths no manager may own: `strip` exactly, `ignored` with everything below.
    pub fn without(&self, strip: &FieldSet, ignored: &FieldSet) -> Comparison {
        let filter = |s: &FieldSet| s.difference(strip).without_prefixes(ignored);
        Comparison { added: filter(&self.added), modified: filter(&self.modified), removed: filter(&self.removed) }
    }
}

/// Compares `old` with `new` at position `node`; `None` is an absent value.
pub fn compare(old: Option<&Value>, new: Option<&Value>, node: Node) -> Comparison {
    let mut out = Comparison::default();
    walk(old, new, node, &mut Vec::new(), &mut out);
    out
}

/// A value's container form: an object or list to descend into, or a leaf.
enum Form<'a> {
    Object(Node, &'a Map<String, Value>),
    List(ListNode, &'a [Value]),
    Leaf,
}

/// Both sides of a container, a missing side as an empty one.
enum Pair<'a> {
    Object(Node, &'a Map<String, Value>, &'a Map<String, Value>),
    List(ListNode, &'a [Value], &'a [Value]),
}

static EMPTY_MAP: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

fn form(value: &Value, node: Node) -> Form<'_> {
    match (node.shape(value), value) {
        (Shape::Object(n), Value::Object(m)) => Form::Object(n, m),
        (Shape::Object(n), _) => Form::Object(n, &EMPTY_MAP),
        (Shape::List(l), Value::Array(items)) => Form::List(l, items),
        (Shape::List(l), _) => Form::List(l, &[]),
        (Shape::Leaf, _) => Form::Leaf,
    }
}

/// The container both sides are, or `None` when the values are compared whole: leaves,
/// values whose kind changed, and containers empty on both sides (so `{}` against `null`
/// still shows as a change).
fn pair<'a>(old: Option<Form<'a>>, new: Option<Form<'a>>) -> Option<Pair<'a>> {
    let pair = match (old, new) {
        (Some(Form::Object(n, a)), Some(Form::Object(_, b))) => Pair::Object(n, a, b),
        (Some(Form::Object(n, a)), None) => Pair::Object(n, a, &EMPTY_MAP),
        (None, Some(Form::Object(n, b))) => Pair::Object(n, &EMPTY_MAP, b),
        (Some(Form::List(l, a)), Some(Form::List(_, b))) => Pair::List(l, a, b),
        (Some(Form::List(l, a)), None) => Pair::List(l, a, &[]),
        (None, Some(Form::List(l, b))) => Pair::List(l, &[], b),
        _ => return None,
    };
    let empty = match &pair {
        Pair::Object(_, a, b) => a.is_empty() && b.is_empty(),
        Pair::List(_, a, b) => a.is_empty() && b.is_empty(),
    };
    (!empty).then_some(pair)
}

fn walk(old: Option<&Value>, new: Option<&Value>, node: Node, path: &mut Path, out: &mut Comparison) {
    match pair(old.map(|v| form(v, node)), new.map(|v| form(v, node))) {
        None => {
            match (old, new) {
                (None, Some(_)) => out.added.insert(path),
                (Some(_), None) => out.removed.insert(path),
                (Some(a), Some(b)) if a != b => out.modified.insert(path),
                _ => {}
            }
            return;
        }
        Some(Pair::Object(n, a, b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                path.push(PathElement::field(key.as_str()));
                walk(a.get(key), b.get(key), n.field(key), path, out);
                path.pop();
            }
        }
        Some(Pair::List(l, a, b)) => {
            let (a, b) = (index(l, a), index(l, b));
            let elements: BTreeSet<&PathElement> = a.keys().chain(b.keys()).collect();
            for pe in elements {
                path.push(pe.clone());
                walk(a.get(pe).copied(), b.get(pe).copied(), l.item(), path, out);
                path.pop();
            }
        }
    }
    // A container that appeared or went away is a member itself.
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        _ => {}
    }
}

/// What the creator of `new` owns, written straight as a `fieldsV1` object: exactly
/// `compare(Some(&baseline(new)), Some(new), node).added` (a create modifies and
/// removes nothing) without `strip` and with nothing under `ignored`, rendered with
/// `to_fields_v1` — in one walk of `new` that builds no baseline, key sets or
/// [`FieldSet`]. Creates are the commonest write; this is their whole ownership
/// computation. Empty when the creator owns nothing.
pub fn created_fields_v1(new: &Value, node: Node, strip: &FieldSet, ignored: &FieldSet) -> Map<String, Value> {
    fields_v1_below(new, node, true, Some(strip), Some(ignored))
}

/// The fields below `new` (not `new` itself) that its creator owns.
///
/// `in_baseline`: the baseline holds this value, i.e. it is the root or a struct inside
/// a struct (the baseline keeps structs, emptied of everything else). Such a value is
/// never a member itself; anything else is new, and a member along with what is below
/// it. `strip` drops members (only), `ignored` drops members with everything below
/// them; `None` filters nothing.
fn fields_v1_below(
    new: &Value,
    node: Node,
    in_baseline: bool,
    strip: Option<&FieldSet>,
    ignored: Option<&FieldSet>,
) -> Map<String, Value> {
    let mut out = Map::new();
    match form(new, node) {
        Form::Object(n, map) => {
            let is_struct = matches!(node, Node::Struct(_));
            for (key, child) in map {
                let child_node = n.field(key);
                let child_in_baseline =
                    in_baseline && is_struct && matches!(child_node, Node::Struct(_)) && child.is_object();
                let pe = PathElement::field(key.as_str());
                add_element(&mut out, pe, child, child_node, child_in_baseline, strip, ignored);
            }
        }
        Form::List(l, items) if !in_baseline => {
            for (pe, item) in index(l, items) {
                add_element(&mut out, pe, item, l.item(), false, strip, ignored);
            }
        }
        // In the baseline only the root can be a list or a leaf, and the root is no field.
        Form::List(..) | Form::Leaf => {}
    }
    out
}

/// Adds element `pe` (holding `value`) to `out` as `to_fields_v1` writes it: `{}` for
/// a member alone, its fields below with `"."` for a member that has some.
fn add_element(
    out: &mut Map<String, Value>,
    pe: PathElement,
    value: &Value,
    node: Node,
    in_baseline: bool,
    strip: Option<&FieldSet>,
    ignored: Option<&FieldSet>,
) {
    if ignored.is_some_and(|i| i.has_member(&pe)) {
        return;
    }
    let member = !in_baseline && !strip.is_some_and(|s| s.has_member(&pe));
    let mut below =
        fields_v1_below(value, node, in_baseline, strip.and_then(|s| s.child(&pe)), ignored.and_then(|i| i.child(&pe)));
    if below.is_empty() && !member {
        return;
    }
    if member && !below.is_empty() {
        below.insert(".".into(), Value::Object(Map::new()));
    }
    out.insert(pe.encode(), Value::Object(below));
}

/// Items by path element; a repeated element keeps its first item (upstream ignores
/// duplicates in live objects the same way).
pub(super) fn index(list: ListNode, items: &[Value]) -> BTreeMap<PathElement, &Value> {
    let mut out = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        out.entry(list.element(i, item)).or_insert(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(c: &Comparison) -> [Value; 3] {
        [c.added.to_fields_v1(), c.modified.to_fields_v1(), c.removed.to_fields_v1()]
    }

    #[test]
    fn created_is_the_comparison_with_the_baseline() {
        let cases = [
            (
                ("", "v1", "ConfigMap"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d", "labels": {"a": "1"}, "annotations": {}}, "data": {"k": "v", "e": ""}}),
            ),
            (
                ("apps", "v1", "Deployment"),
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "finalizers": ["x"], "ownerReferences": [{"uid": "u", "name": "o", "kind": "K", "apiVersion": "v1"}]},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "strategy": {},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                        "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "protocol": "TCP"}], "env": [], "resources": {"limits": {"cpu": "1"}}},
                                       {"name": "c", "image": "duplicate"}],
                        "tolerations": [{"key": "k", "operator": "Exists"}], "nodeSelector": null, "securityContext": {}}}},
                "status": {"replicas": 1}}),
            ),
            (
                ("", "v1", "Pod"),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "args": ["a", "b", "a"]}], "unknown": {"x": [1, {"y": 2}]}}}),
            ),
            (("", "v1", "Pod"), json!({"metadata": {}, "spec": {}})),
            (
                ("example.com", "v1", "Widget"),
                json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"a": {"b": [1, 2]}, "c": null}}),
            ),
        ];
        for ((group, version, kind), obj) in cases {
            let node = Node::root(group, version, kind);
            let full = compare(Some(&super::super::baseline(&obj, node)), Some(&obj), node);
            assert!(full.modified.is_empty() && full.removed.is_empty(), "{kind}");
            let none = FieldSet::new();
            assert_eq!(Value::Object(created_fields_v1(&obj, node, &none, &none)), full.added.to_fields_v1(), "{kind}");
        }
    }

    #[test]
    fn comparisons() {
        let deploy = Node::root("apps", "v1", "Deployment");
        // (old, new, added, modified, removed)
        let cases = [
            (
                json!({"spec": {"replicas": 1}}),
                json!({"spec": {"replicas": 2}}),
                json!({}),
                json!({"f:spec": {"f:replicas": {}}}),
                json!({}),
            ),
            (
                json!({"metadata": {}}),
                json!({"metadata": {"labels": {"app": "web"}}}),
                json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}),
                json!({}),
                json!({}),
            ),
            (
                json!({"metadata": {"labels": {"app": "web", "x": "1"}}}),
                json!({"metadata": {"labels": {"app": "web"}}}),
                json!({}),
                json!({}),
                json!({"f:metadata": {"f:labels": {"f:x": {}}}}),
            ),
            // Atomic structs compare whole.
            (
                json!({"spec": {"selector": {"matchLabels": {"a": "1"}}}}),
                json!({"spec": {"selector": {"matchLabels": {"a": "2"}}}}),
                json!({}),
                json!({"f:spec": {"f:selector": {}}}),
                json!({}),
            ),
            // List-map items pair by key, whatever their order.
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "1"}, {"name": "a", "image": "2"}]}}}}),
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {r#"k:{"name":"c"}"#: {".": {}, "f:name": {}, "f:image": {}}}}}}}),
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {r#"k:{"name":"a"}"#: {"f:image": {}}}}}}}),
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {r#"k:{"name":"b"}"#: {".": {}, "f:name": {}, "f:image": {}}}}}}}),
            ),
            // Empty and null containers are leaves.
            (
                json!({"spec": {"strategy": {}}}),
                json!({"spec": {}}),
                json!({}),
                json!({}),
                json!({"f:spec": {"f:strategy": {}}}),
            ),
            (
                json!({"spec": {"strategy": null}}),
                json!({"spec": {"strategy": {}}}),
                json!({}),
                json!({"f:spec": {"f:strategy": {}}}),
                json!({}),
            ),
            // A null map with content on the other side is an empty map, not an addition.
            (
                json!({"metadata": {"labels": null}}),
                json!({"metadata": {"labels": {"a": "b"}}}),
                json!({"f:metadata": {"f:labels": {"f:a": {}}}}),
                json!({}),
                json!({}),
            ),
        ];
        for (old, new, added, modified, removed) in cases {
            let c = compare(Some(&old), Some(&new), deploy);
            assert_eq!(fields(&c), [added, modified, removed], "{old} -> {new}");
        }
        let same = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}]}}}});
        assert!(compare(Some(&same), Some(&same), deploy).is_same());
    }

    #[test]
    fn comparing_with_nothing_adds_everything() {
        let cm = Node::root("", "v1", "ConfigMap");
        let c = compare(None, Some(&json!({"data": {"k": "v"}})), cm);
        assert_eq!(c.added.to_fields_v1(), json!({"f:data": {".": {}, "f:k": {}}}));
        let gone = compare(Some(&json!({"data": {"k": "v"}})), None, cm);
        assert_eq!(gone.removed.to_fields_v1(), json!({"f:data": {".": {}, "f:k": {}}}));
    }
}
