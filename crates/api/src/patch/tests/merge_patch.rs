//! RFC 7386: its appendix A table, and the merge patches kubectl sends.

use serde_json::json;

use crate::patch::merge_patch;

#[test]
#[rustfmt::skip]
fn rfc7386_appendix_a() {
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
        (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
        (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a": "b"}), json!(["c"]), json!(["c"])),
        (json!({"a": "foo"}), json!(null), json!(null)),
        (json!({"a": "foo"}), json!("bar"), json!("bar")),
        (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
        (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
        (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
    ];
    for (doc, patch, expected) in cases {
        assert_eq!(merge_patch(&doc, &patch), expected, "{doc} + {patch}");
    }
}

#[test]
fn kubectl_label_and_annotate_send_merge_patches_on_metadata() {
    let pod = json!({"metadata": {"name": "p", "labels": {"app": "web", "env": "dev"}, "annotations": {"a": "1"}}});
    // `kubectl label pod p env=prod tier=front --overwrite`
    let labelled = merge_patch(&pod, &json!({"metadata": {"labels": {"env": "prod", "tier": "front"}}}));
    assert_eq!(labelled["metadata"]["labels"], json!({"app": "web", "env": "prod", "tier": "front"}));
    // `kubectl label pod p env-`
    let unlabelled = merge_patch(&labelled, &json!({"metadata": {"labels": {"env": null}}}));
    assert_eq!(unlabelled["metadata"]["labels"], json!({"app": "web", "tier": "front"}));
    // `kubectl annotate pod p b=2` and `kubectl annotate pod p a-`
    let annotated = merge_patch(&unlabelled, &json!({"metadata": {"annotations": {"b": "2", "a": null}}}));
    assert_eq!(annotated["metadata"]["annotations"], json!({"b": "2"}));
    assert_eq!(annotated["metadata"]["name"], "p");
}

#[test]
fn kubectl_patch_type_merge_replaces_lists() {
    let doc = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}});
    let patch = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c"}]}}}});
    let out = merge_patch(&doc, &patch);
    assert_eq!(out["spec"]["replicas"], 3);
    assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "c"}]));
}

#[test]
fn merge_patch_leaves_its_input_alone() {
    let doc = json!({"a": {"b": 1}});
    let _ = merge_patch(&doc, &json!({"a": {"b": null}}));
    assert_eq!(doc, json!({"a": {"b": 1}}));
}
