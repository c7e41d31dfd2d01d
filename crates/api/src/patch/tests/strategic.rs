//! Strategic merge patch, one behaviour per case. Expected results follow upstream's
//! `strategicpatch` test cases, transposed onto real fields: `containers` (merge on
//! `name`), `finalizers` (merged scalars), `tolerations` (replaced), `volumes`
//! (`merge,retainKeys`), `DeploymentSpec.strategy` (`retainKeys`).

use serde_json::{json, Value};

use super::{pod, smp};
use crate::patch::PatchError;

enum Want {
    Doc(Value),
    Err(fn(&PatchError) -> bool),
}

fn malformed(e: &PatchError) -> bool {
    matches!(e, PatchError::Malformed(_))
}

fn invalid(e: &PatchError) -> bool {
    matches!(e, PatchError::Invalid(_))
}

fn list_of_lists(e: &PatchError) -> bool {
    matches!(e, PatchError::ListOfLists)
}

fn spec(s: Value) -> Value {
    json!({ "spec": s })
}

fn containers(c: Value) -> Value {
    spec(json!({ "containers": c }))
}

fn finalizers(f: Value) -> Value {
    json!({"metadata": {"finalizers": f}})
}

#[rustfmt::skip]
fn pod_cases() -> Vec<(&'static str, Value, Value, Want)> {
    use Want::*;
    vec![
        ("maps merge and null deletes a key",
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            json!({"metadata": {"labels": {"b": null, "c": "3"}}}),
            Doc(json!({"metadata": {"labels": {"a": "1", "c": "3"}}}))),
        ("null for a missing key changes nothing", json!({"spec": {}}), json!({"metadata": null}), Doc(json!({"spec": {}}))),
        ("nulls inside a new value are dropped",
            json!({}), json!({"metadata": {"labels": {"a": "1", "b": null}}}), Doc(json!({"metadata": {"labels": {"a": "1"}}}))),
        ("merge list: items merge by key, new items follow the patch, others stay",
            containers(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}])),
            containers(json!([{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}])),
            Doc(containers(json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}])))),
        ("merge list keeps the patch's order among patched items",
            containers(json!([{"name": "1"}, {"name": "2", "image": "b"}, {"name": "3"}])),
            containers(json!([{"name": "3", "image": "c"}, {"name": "1", "image": "a"}])),
            Doc(containers(json!([{"name": "2", "image": "b"}, {"name": "3", "image": "c"}, {"name": "1", "image": "a"}])))),
        ("a list without the merge strategy is replaced",
            spec(json!({"tolerations": [{"key": "a"}, {"key": "b"}]})),
            spec(json!({"tolerations": [{"key": "c"}]})),
            Doc(spec(json!({"tolerations": [{"key": "c"}]})))),
        ("merged scalar lists are unioned without duplicates, in patch order",
            finalizers(json!(["a", "b", "c"])), finalizers(json!(["c", "d", "a"])),
            Doc(finalizers(json!(["b", "c", "d", "a"])))),
        ("$patch: replace on a map replaces it",
            json!({"metadata": {"labels": {"a": "1"}}}),
            json!({"metadata": {"labels": {"$patch": "replace", "b": "2"}}}),
            Doc(json!({"metadata": {"labels": {"b": "2"}}}))),
        ("$patch: delete on a map empties it",
            json!({"metadata": {"labels": {"a": "1"}}}), json!({"metadata": {"labels": {"$patch": "delete"}}}),
            Doc(json!({"metadata": {"labels": {}}}))),
        ("$patch: merge on a map merges as usual",
            json!({"metadata": {"labels": {"a": "1"}}}), json!({"metadata": {"labels": {"$patch": "merge", "b": "2"}}}),
            Doc(json!({"metadata": {"labels": {"a": "1", "b": "2"}}}))),
        ("an unknown $patch is refused",
            json!({"metadata": {"labels": {}}}), json!({"metadata": {"labels": {"$patch": "explode"}}}), Err(invalid)),
        ("a value carrying $patch where nothing exists is dropped",
            json!({}), json!({"metadata": {"labels": {"$patch": "replace", "a": "1"}}}), Doc(json!({"metadata": {}}))),
        ("$patch: delete on a list item removes every item with its key",
            containers(json!([{"name": "a"}, {"name": "b"}, {"name": "a"}])),
            containers(json!([{"name": "a", "$patch": "delete"}])),
            Doc(containers(json!([{"name": "b"}])))),
        ("$patch: delete needs the merge key",
            containers(json!([{"name": "a"}])), containers(json!([{"$patch": "delete"}])), Err(invalid)),
        ("$patch: replace as a list item replaces the list",
            containers(json!([{"name": "a", "image": "x"}, {"name": "b"}])),
            containers(json!([{"$patch": "replace"}, {"name": "c"}])),
            Doc(containers(json!([{"name": "c"}])))),
        ("$patch: replace alone empties the list",
            containers(json!([{"name": "a"}])), containers(json!([{"$patch": "replace"}])), Doc(containers(json!([])))),
        ("$patch: merge on a list item merges it",
            containers(json!([{"name": "a", "image": "x"}])), containers(json!([{"name": "a", "$patch": "merge", "tty": true}])),
            Doc(containers(json!([{"name": "a", "image": "x", "tty": true}])))),
        ("an item without the merge key is refused",
            containers(json!([{"name": "a"}])), containers(json!([{"image": "b"}])), Err(invalid)),
        ("list items of different types are refused",
            finalizers(json!(["a"])), finalizers(json!([1])), Err(invalid)),
        ("lists of lists are refused",
            finalizers(json!(["a"])), json!({"metadata": {"finalizers": [["b"]]}}), Err(list_of_lists)),
        ("merge keys compare as numbers, like Go's float64",
            spec(json!({"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}]})),
            spec(json!({"containers": [{"name": "a", "ports": [{"containerPort": 80.0, "protocol": "TCP"}]}]})),
            Doc(spec(json!({"containers": [{"name": "a", "ports": [{"containerPort": 80.0, "name": "http", "protocol": "TCP"}]}]})))),
        ("a changed type replaces the value",
            json!({"metadata": {"labels": {"a": "1"}}}), json!({"metadata": {"labels": ["x"]}}),
            Doc(json!({"metadata": {"labels": ["x"]}}))),
        ("$setElementOrder orders a merged list; unlisted live items keep their place",
            containers(json!([{"name": "a"}, {"name": "b"}, {"name": "x"}])),
            spec(json!({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]})),
            Doc(containers(json!([{"name": "b"}, {"name": "a"}, {"name": "x"}])))),
        ("$setElementOrder places new items",
            containers(json!([{"name": "1", "image": "one"}, {"name": "2", "image": "two"}])),
            spec(json!({"$setElementOrder/containers": [{"name": "4"}, {"name": "1"}, {"name": "2"}, {"name": "3"}],
                "containers": [{"name": "4", "image": "four"}, {"name": "3", "image": "three"}]})),
            Doc(containers(json!([{"name": "4", "image": "four"}, {"name": "1", "image": "one"},
                {"name": "2", "image": "two"}, {"name": "3", "image": "three"}])))),
        ("$setElementOrder may list items that are gone",
            finalizers(json!(["1", "3"])), json!({"metadata": {"$setElementOrder/finalizers": ["3", "2", "1"]}}),
            Doc(finalizers(json!(["3", "1"])))),
        ("$setElementOrder must agree with the patch's order",
            containers(json!([{"name": "1"}, {"name": "3"}, {"name": "2"}])),
            spec(json!({"$setElementOrder/containers": [{"name": "1"}, {"name": "2"}, {"name": "3"}],
                "containers": [{"name": "3", "image": "c"}, {"name": "1", "image": "a"}]})),
            Err(invalid)),
        ("$setElementOrder needs a field name", json!({}), json!({"$setElementOrder": []}), Err(malformed)),
        ("$setElementOrder must be a list", containers(json!([])), spec(json!({"$setElementOrder/containers": {}})), Err(malformed)),
        ("$deleteFromPrimitiveList removes scalars",
            finalizers(json!(["a", "b", "c", "b"])), json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
            Doc(finalizers(json!(["a", "c"])))),
        ("$deleteFromPrimitiveList on a missing list adds nothing",
            json!({"metadata": {}}), json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
            Doc(json!({"metadata": {}}))),
        ("$deleteFromPrimitiveList works on replace-strategy lists too",
            spec(json!({"containers": [{"name": "a", "args": ["x", "y"]}]})),
            spec(json!({"containers": [{"name": "a", "$deleteFromPrimitiveList/args": ["x"]}]})),
            Doc(spec(json!({"containers": [{"name": "a", "args": ["y"]}]})))),
        ("$deleteFromPrimitiveList runs after additions to the same list",
            finalizers(json!(["a"])), json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["b"]}}),
            Doc(finalizers(json!(["b"])))),
        ("$deleteFromPrimitiveList must be a list of scalars",
            finalizers(json!(["a"])), json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}), Err(malformed)),
        ("$deleteFromPrimitiveList needs a field name",
            finalizers(json!(["a"])), json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}), Err(malformed)),
        ("$retainKeys clears the keys it does not list",
            spec(json!({"volumes": [{"name": "v", "emptyDir": {}}]})),
            spec(json!({"volumes": [{"name": "v", "configMap": {"name": "c"}, "$retainKeys": ["configMap", "name"]}]})),
            Doc(spec(json!({"volumes": [{"name": "v", "configMap": {"name": "c"}}]})))),
        ("$retainKeys must list every key the patch sets",
            spec(json!({"volumes": [{"name": "v", "emptyDir": {}}]})),
            spec(json!({"volumes": [{"name": "v", "configMap": {"name": "c"}, "$retainKeys": ["name"]}]})),
            Err(malformed)),
        ("$retainKeys must be a list",
            spec(json!({"volumes": [{"name": "v"}]})), spec(json!({"volumes": [{"name": "v", "$retainKeys": "name"}]})),
            Err(malformed)),
        ("nested lists merge at every depth",
            spec(json!({"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]})),
            spec(json!({"containers": [{"name": "a", "env": [{"name": "Y", "value": "3"}]}]})),
            Doc(spec(json!({"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}]}]})))),
        ("unknown fields merge like a merge patch",
            json!({"spec": {"future": {"a": [1, 2], "b": {"c": 1}}}}),
            json!({"spec": {"future": {"a": [3], "b": {"d": 2}}}}),
            Doc(json!({"spec": {"future": {"a": [3], "b": {"c": 1, "d": 2}}}}))),
        ("a patch that is not an object is refused", json!({}), json!([1]), Err(malformed)),
    ]
}

#[test]
fn strategic_merge_patch_cases_on_pods() {
    for (name, doc, patch, want) in pod_cases() {
        match (want, pod(doc, patch)) {
            (Want::Doc(expected), Ok(actual)) => assert_eq!(actual, expected, "{name}"),
            (Want::Err(check), Err(e)) => assert!(check(&e), "{name}: unexpected error {e:?}"),
            (_, got) => panic!("{name}: unexpected {got:?}"),
        }
    }
}

#[test]
fn status_conditions_merge_by_type() {
    let doc = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}});
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let out = pod(doc, patch).unwrap();
    let expected = json!([{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]);
    assert_eq!(out["status"]["conditions"], expected);
}

#[test]
fn service_ports_merge_by_port_and_owner_references_by_uid() {
    let doc = json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
    let patch = json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}]}});
    let out = smp(("", "v1", "Service"), doc, patch).unwrap();
    assert_eq!(out["spec"]["ports"], json!([{"port": 80, "targetPort": "http"}, {"port": 443}]));
    // New items lead, as upstream orders them.
    assert_eq!(out["metadata"]["ownerReferences"], json!([{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}]));
}

#[test]
fn replace_strategy_replaces_a_map() {
    let doc = json!({"spec": {"selector": {"matchLabels": {"a": "1"}}}});
    let patch = json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}});
    let out = smp(("policy", "v1", "PodDisruptionBudget"), doc, patch).unwrap();
    assert_eq!(out["spec"]["selector"], json!({"matchLabels": {"b": "2"}}));
}

#[test]
fn retain_keys_on_a_struct_field_drops_the_old_strategy() {
    let doc = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = smp(("apps", "v1", "Deployment"), doc, patch).unwrap();
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn custom_resources_merge_like_merge_patch_with_directives() {
    let doc = json!({"spec": {"items": [{"name": "a"}], "m": {"x": 1, "y": 2}}});
    let plain = json!({"spec": {"items": [{"name": "b"}], "m": {"x": null, "z": 3}}});
    let got = smp(("example.com", "v1", "Widget"), doc.clone(), plain.clone()).unwrap();
    assert_eq!(got, crate::patch::merge_patch(&doc, &plain));
    let directive = json!({"spec": {"m": {"$patch": "replace", "only": true}}});
    let got = smp(("example.com", "v1", "Widget"), doc, directive).unwrap();
    assert_eq!(got["spec"]["m"], json!({"only": true}));
}

#[test]
fn strategic_merge_patch_leaves_its_inputs_alone() {
    let doc = containers(json!([{"name": "a"}]));
    let patch = containers(json!([{"name": "a", "$patch": "delete"}]));
    let (doc_before, patch_before) = (doc.clone(), patch.clone());
    let _ = smp(("", "v1", "Pod"), doc.clone(), patch.clone());
    assert_eq!((doc, patch), (doc_before, patch_before));
}

#[test]
fn errors_map_to_upstream_status_codes() {
    use crate::ApiError;
    let code = |e: PatchError| ApiError::from(e).code();
    assert_eq!(code(PatchError::Malformed("x".into())), 400);
    assert_eq!(code(PatchError::Invalid("x".into())), 400);
    assert_eq!(code(PatchError::TooDeep), 400);
    assert_eq!(code(PatchError::OperationFailed("testing value \"/a\" failed".into())), 422);
    assert_eq!(code(PatchError::ListOfLists), 422);
    let status = ApiError::from(PatchError::OperationFailed("testing value \"/a\" failed".into())).status();
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["causes"][0]["field"], "patch");
}
