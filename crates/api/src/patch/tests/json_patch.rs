//! RFC 6902, mostly its appendix A examples, plus upstream's liberties and limits.

use serde_json::{json, Value};

use crate::patch::{json_patch, PatchError, MAX_JSON_PATCH_OPERATIONS};

/// What a case expects: the patched document, or the kind of error.
enum Want {
    Doc(Value),
    Failed,
    Malformed,
}

#[rustfmt::skip]
fn cases() -> Vec<(&'static str, Value, Value, Want)> {
    use Want::*;
    vec![
        ("A.1 add an object member", json!({"foo": "bar"}), json!([{"op": "add", "path": "/baz", "value": "qux"}]),
            Doc(json!({"baz": "qux", "foo": "bar"}))),
        ("A.2 add an array element", json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}]), Doc(json!({"foo": ["bar", "qux", "baz"]}))),
        ("A.3 remove an object member", json!({"baz": "qux", "foo": "bar"}), json!([{"op": "remove", "path": "/baz"}]),
            Doc(json!({"foo": "bar"}))),
        ("A.4 remove an array element", json!({"foo": ["bar", "qux", "baz"]}),
            json!([{"op": "remove", "path": "/foo/1"}]), Doc(json!({"foo": ["bar", "baz"]}))),
        ("A.5 replace a value", json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "replace", "path": "/baz", "value": "boo"}]), Doc(json!({"baz": "boo", "foo": "bar"}))),
        ("A.6 move a value", json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
            Doc(json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}))),
        ("A.7 move an array element", json!({"foo": ["all", "grass", "cows", "eat"]}),
            json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
            Doc(json!({"foo": ["all", "cows", "eat", "grass"]}))),
        ("A.8 test a value: success", json!({"baz": "qux", "foo": ["a", 2, "c"]}),
            json!([{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]),
            Doc(json!({"baz": "qux", "foo": ["a", 2, "c"]}))),
        ("A.9 test a value: error", json!({"baz": "qux"}), json!([{"op": "test", "path": "/baz", "value": "bar"}]),
            Failed),
        ("A.10 add a nested member object", json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
            Doc(json!({"foo": "bar", "child": {"grandchild": {}}}))),
        ("A.11 ignore unrecognized elements", json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]), Doc(json!({"foo": "bar", "baz": "qux"}))),
        ("A.12 add to a nonexistent target", json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]), Failed),
        ("A.14 ~ escape ordering", json!({"/": 9, "~1": 10}), json!([{"op": "test", "path": "/~01", "value": 10}]),
            Doc(json!({"/": 9, "~1": 10}))),
        ("A.15 comparing strings and numbers", json!({"/": 9, "~1": 10}),
            json!([{"op": "test", "path": "/~01", "value": "10"}]), Failed),
        ("A.16 add an array value", json!({"foo": ["bar"]}),
            json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]), Doc(json!({"foo": ["bar", ["abc", "def"]]}))),
        ("~1 addresses a key with a slash", json!({"metadata": {"labels": {"app.kubernetes.io/name": "a"}}}),
            json!([{"op": "replace", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "b"}]),
            Doc(json!({"metadata": {"labels": {"app.kubernetes.io/name": "b"}}}))),
        ("add at the end index appends", json!({"a": [1]}), json!([{"op": "add", "path": "/a/1", "value": 2}]),
            Doc(json!({"a": [1, 2]}))),
        ("add past the end fails", json!({"a": [1]}), json!([{"op": "add", "path": "/a/2", "value": 2}]), Failed),
        ("leading zeros are not indexes", json!({"a": [1, 2]}), json!([{"op": "remove", "path": "/a/01"}]), Failed),
        ("remove with - fails", json!({"a": [1]}), json!([{"op": "remove", "path": "/a/-"}]), Failed),
        ("remove a missing key fails", json!({"a": 1}), json!([{"op": "remove", "path": "/b"}]), Failed),
        ("replace a missing key fails", json!({"a": 1}), json!([{"op": "replace", "path": "/b", "value": 1}]), Failed),
        ("replace the root", json!({"a": 1}), json!([{"op": "replace", "path": "", "value": [1]}]), Doc(json!([1]))),
        ("add at the root replaces the document", json!({"a": 1}), json!([{"op": "add", "path": "", "value": {"b": 2}}]),
            Doc(json!({"b": 2}))),
        ("copy", json!({"a": {"x": 1}}), json!([{"op": "copy", "from": "/a", "path": "/b"}]),
            Doc(json!({"a": {"x": 1}, "b": {"x": 1}}))),
        ("copy from a missing path fails", json!({}), json!([{"op": "copy", "from": "/a", "path": "/b"}]), Failed),
        ("move into its own child fails", json!({"a": {"b": {}}}),
            json!([{"op": "move", "from": "/a", "path": "/a/b/c"}]), Failed),
        ("move to itself is a no-op", json!({"a": 1}), json!([{"op": "move", "from": "/a", "path": "/a"}]),
            Doc(json!({"a": 1}))),
        ("test of a missing path against null passes (evanphx)", json!({}),
            json!([{"op": "test", "path": "/a", "value": null}]), Doc(json!({}))),
        ("test compares numbers by value", json!({"a": 1}), json!([{"op": "test", "path": "/a", "value": 1.0}]),
            Doc(json!({"a": 1}))),
        ("operations apply in order", json!({}),
            json!([{"op": "add", "path": "/a", "value": []}, {"op": "add", "path": "/a/-", "value": 1}]),
            Doc(json!({"a": [1]}))),
        ("an unknown op fails", json!({}), json!([{"op": "frobnicate", "path": "/a"}]), Failed),
        ("a missing op fails", json!({}), json!([{"path": "/a"}]), Failed),
        ("a missing path fails", json!({}), json!([{"op": "add", "value": 1}]), Failed),
        ("a missing value fails", json!({}), json!([{"op": "add", "path": "/a"}]), Failed),
        ("a pointer without a leading slash fails", json!({"a": 1}), json!([{"op": "remove", "path": "a"}]), Failed),
        ("a bad escape fails", json!({"a": 1}), json!([{"op": "remove", "path": "/~2"}]), Failed),
        ("a patch that is not an array is malformed", json!({}), json!({"op": "add"}), Malformed),
        ("an operation that is not an object is malformed", json!({}), json!(["add"]), Malformed),
        ("an empty patch changes nothing", json!({"a": 1}), json!([]), Doc(json!({"a": 1}))),
    ]
}

#[test]
fn json_patch_cases() {
    for (name, doc, patch, want) in cases() {
        let got = json_patch(&doc, &patch);
        match (want, got) {
            (Want::Doc(expected), Ok(actual)) => assert_eq!(actual, expected, "{name}"),
            (Want::Failed, Err(PatchError::OperationFailed(_))) | (Want::Malformed, Err(PatchError::Malformed(_))) => {}
            (_, got) => panic!("{name}: unexpected {got:?}"),
        }
    }
}

#[test]
fn kubectl_patch_type_json_edits_a_deployment() {
    let doc = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}}});
    let patch = json!([
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "a:2"},
        {"op": "add", "path": "/metadata", "value": {"labels": {"tier": "web"}}},
    ]);
    let out = json_patch(&doc, &patch).unwrap();
    assert_eq!(out["spec"]["replicas"], 3);
    assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["image"], "a:2");
    assert_eq!(out["metadata"]["labels"]["tier"], "web");
}

#[test]
fn failed_operation_leaves_no_partial_result() {
    let doc = json!({"a": 1});
    let patch = json!([{"op": "replace", "path": "/a", "value": 2}, {"op": "test", "path": "/a", "value": 1}]);
    assert!(matches!(json_patch(&doc, &patch), Err(PatchError::OperationFailed(_))));
    assert_eq!(doc, json!({"a": 1}));
}

#[test]
fn too_many_operations_is_413() {
    let op = json!({"op": "test", "path": "", "value": {}});
    let patch = Value::Array(vec![op; MAX_JSON_PATCH_OPERATIONS + 1]);
    let err = json_patch(&json!({}), &patch).unwrap_err();
    assert_eq!(
        err,
        PatchError::TooManyOperations { max: MAX_JSON_PATCH_OPERATIONS, got: MAX_JSON_PATCH_OPERATIONS + 1 }
    );
    assert_eq!(crate::ApiError::from(err).code(), 413);
}
