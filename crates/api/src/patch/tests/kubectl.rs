//! The patches kubectl itself sends, applied to live objects carrying server-side
//! additions (defaults, injected sidecars, controller finalizers) that must survive.
//! (`kubectl scale` is not here: it writes the `scale` subresource, not a patch.)

use serde_json::{json, Value};

use super::{pod, smp};
use crate::patch::{json_patch, merge_patch};

const DEPLOYMENT: (&str, &str, &str) = ("apps", "v1", "Deployment");

fn live_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "finalizers": ["example.com/keep", "example.com/old", "controller.example.com/protect"],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "deployment.kubernetes.io/revision": "3"}
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "nginx:1.25", "terminationMessagePolicy": "File",
                         "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                        {"name": "mesh-proxy", "image": "proxy:7"}
                    ],
                    "volumes": [{"name": "cache", "emptyDir": {}}],
                    "restartPolicy": "Always"
                }
            }
        },
        "status": {"replicas": 2}
    })
}

/// The three-way patch `kubectl apply` computes when the manifest bumps the image, drops
/// env `B`, drops finalizer `example.com/old`, switches to `Recreate` and turns the cache
/// volume from an emptyDir into a configMap.
#[test]
fn kubectl_apply_three_way_patch() {
    let patch = json!({
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"new\":true}"},
            "$setElementOrder/finalizers": ["example.com/keep"],
            "$deleteFromPrimitiveList/finalizers": ["example.com/old"]
        },
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null},
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{
                    "name": "app",
                    "image": "nginx:1.27",
                    "$setElementOrder/env": [{"name": "A"}],
                    "env": [{"name": "B", "$patch": "delete"}]
                }],
                "$setElementOrder/volumes": [{"name": "cache"}],
                "volumes": [{"name": "cache", "configMap": {"name": "web-cache"}, "$retainKeys": ["configMap", "name"]}]
            }}
        }
    });
    let out = smp(DEPLOYMENT, live_deployment(), patch).unwrap();

    let meta = &out["metadata"];
    assert_eq!(meta["finalizers"], json!(["example.com/keep", "controller.example.com/protect"]));
    assert_eq!(meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"], "{\"new\":true}");
    assert_eq!(meta["annotations"]["deployment.kubernetes.io/revision"], "3");
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    let spec = &out["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"],
        json!([
            {"name": "app", "image": "nginx:1.27", "terminationMessagePolicy": "File",
             "ports": [{"containerPort": 80, "protocol": "TCP"}], "env": [{"name": "A", "value": "1"}]},
            {"name": "mesh-proxy", "image": "proxy:7"}
        ])
    );
    assert_eq!(spec["volumes"], json!([{"name": "cache", "configMap": {"name": "web-cache"}}]));
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(out["status"], json!({"replicas": 2}));
}

/// `kubectl apply` adding a container ahead of the existing one.
#[test]
fn kubectl_apply_adds_a_container_in_manifest_order() {
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "init-log"}, {"name": "app"}],
        "containers": [{"name": "init-log", "image": "busybox"}]
    }}}});
    let out = smp(DEPLOYMENT, live_deployment(), patch).unwrap();
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["init-log", "app", "mesh-proxy"]);
}

/// `kubectl set image deployment/web app=nginx:1.27` sends a two-way strategic patch.
#[test]
fn kubectl_set_image_patches_one_container_by_name() {
    for patch in [
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "mesh-proxy"}],
            "containers": [{"name": "app", "image": "nginx:1.27"}]
        }}}}),
    ] {
        let out = smp(DEPLOYMENT, live_deployment(), patch).unwrap();
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "nginx:1.27");
        assert_eq!(containers[0]["env"], json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]));
        assert_eq!(containers[1], json!({"name": "mesh-proxy", "image": "proxy:7"}));
    }
}

/// `kubectl rollout restart` stamps the pod template.
#[test]
fn kubectl_rollout_restart_adds_a_template_annotation() {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2025-01-02T03:04:05Z"
    }}}}});
    let out = smp(DEPLOYMENT, live_deployment(), patch).unwrap();
    let template = &out["spec"]["template"]["metadata"];
    assert_eq!(template["annotations"]["kubectl.kubernetes.io/restartedAt"], "2025-01-02T03:04:05Z");
    assert_eq!(template["labels"], json!({"app": "web"}));
}

/// `kubectl patch --type=strategic|merge|json` with the same intent: add a port.
#[test]
fn kubectl_patch_types_differ_on_lists() {
    let containers = |out: &Value| out["spec"]["template"]["spec"]["containers"].clone();
    let strategic =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 8080}]}]}}}});
    let out = smp(DEPLOYMENT, live_deployment(), strategic.clone()).unwrap();
    // Upstream puts items the server lacks ahead of the server's own (Kubernetes' "update
    // API objects with kubectl patch" tutorial shows the same for a new container).
    assert_eq!(
        containers(&out)[0]["ports"],
        json!([{"containerPort": 8080}, {"containerPort": 80, "protocol": "TCP"}])
    );
    assert_eq!(containers(&out)[1]["name"], "mesh-proxy");

    // A merge patch replaces the containers list wholesale.
    let out = merge_patch(&live_deployment(), &strategic);
    assert_eq!(containers(&out), json!([{"name": "app", "ports": [{"containerPort": 8080}]}]));

    let json =
        json!([{"op": "add", "path": "/spec/template/spec/containers/0/ports/-", "value": {"containerPort": 8080}}]);
    let out = json_patch(&live_deployment(), &json).unwrap();
    assert_eq!(containers(&out)[0]["ports"][1], json!({"containerPort": 8080}));
}

/// `kubectl label`/`annotate` send merge patches; the same patch as a strategic one
/// behaves the same.
#[test]
fn kubectl_label_patch_works_as_strategic_patch_too() {
    let patch = json!({"metadata": {"labels": {"tier": "front", "app": null}}});
    let doc = json!({"metadata": {"name": "p", "labels": {"app": "web"}}, "spec": {"containers": []}});
    assert_eq!(pod(doc.clone(), patch.clone()).unwrap(), merge_patch(&doc, &patch));
}

/// `kubectl edit` on a pod: a two-way patch that removes a toleration (a replaced list)
/// and a finalizer.
#[test]
fn kubectl_edit_two_way_patch() {
    let doc = json!({
        "metadata": {"name": "p", "finalizers": ["a", "b"]},
        "spec": {"tolerations": [{"key": "x", "operator": "Exists"}, {"key": "y", "operator": "Exists"}]}
    });
    let patch = json!({
        "metadata": {"$setElementOrder/finalizers": ["a"], "$deleteFromPrimitiveList/finalizers": ["b"]},
        "spec": {"tolerations": [{"key": "x", "operator": "Exists"}]}
    });
    let out = pod(doc, patch).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a"]));
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "x", "operator": "Exists"}]));
}
