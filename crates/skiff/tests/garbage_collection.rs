//! Cascading deletion against a running `skiff server` with real kubectl:
//! `kubectl delete --cascade=background|foreground|orphan` of a Deployment does
//! what upstream does with its ReplicaSets and pods.

mod common;

use common::kubelet::{add_node, wait_for, FakeKubelet};
use common::Cluster;

fn deploy(c: &Cluster, name: &str) {
    let yaml = format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: "busybox:1"}}]}}
"#
    );
    c.ok(&["apply", "-f", &c.manifest(&format!("{name}.yaml"), &yaml)]);
    c.ok(&["rollout", "status", &format!("deployment/{name}"), "--timeout=120s"]);
}

fn count(c: &Cluster, kind: &str, app: &str) -> usize {
    c.ok(&["get", kind, "-l", &format!("app={app}"), "-o", "name"]).lines().count()
}

#[test]
fn cascading_deletion_follows_the_propagation_policy() {
    let c = Cluster::start();
    add_node(&c, "n1");
    let _kubelet = FakeKubelet::start(&c);
    for name in ["bg", "fg", "or"] {
        deploy(&c, name);
    }

    // Background: the Deployment goes at once, the collector removes the rest.
    c.ok(&["delete", "deployment", "bg", "--cascade=background"]);
    wait_for(&c, &["get", "rs,pods", "-l", "app=bg", "-o", "name"], "background collection", |s| s.trim().is_empty());

    // Foreground: kubectl waits until the Deployment is gone, and it only goes
    // after its ReplicaSet and that set's pods are gone.
    c.ok(&["delete", "deployment", "fg", "--cascade=foreground", "--timeout=120s"]);
    assert_eq!(count(&c, "rs", "fg"), 0, "the ReplicaSet went before its Deployment");
    assert_eq!(count(&c, "pods", "fg"), 0, "the pods went before their ReplicaSet");

    // Orphan: the ReplicaSet stays, without an owner, and keeps its pods.
    c.ok(&["delete", "deployment", "or", "--cascade=orphan"]);
    wait_for(
        &c,
        &["get", "rs", "-l", "app=or", "-o", "jsonpath={.items[*].metadata.ownerReferences}"],
        "orphaned set",
        |s| s.is_empty() || s == "[]",
    );
    assert_eq!(count(&c, "rs", "or"), 1);
    assert_eq!(count(&c, "pods", "or"), 2);
    let pod_owner =
        c.ok(&["get", "pods", "-l", "app=or", "-o", "jsonpath={.items[0].metadata.ownerReferences[0].kind}"]);
    assert_eq!(pod_owner, "ReplicaSet", "the pods still belong to the set");
    assert!(c.fails(&["get", "deployment", "or"]).contains("NotFound"));
}

#[test]
fn dependents_of_a_missing_owner_are_collected() {
    let c = Cluster::start();
    let cm = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: orphaned
  ownerReferences:
  - {apiVersion: v1, kind: ConfigMap, name: never-existed, uid: 00000000-0000-0000-0000-000000000001}
"#;
    c.ok(&["apply", "-f", &c.manifest("cm.yaml", cm)]);
    let owner = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: owner}
"#;
    c.ok(&["apply", "-f", &c.manifest("owner.yaml", owner)]);
    let uid = c.ok(&["get", "cm", "owner", "-o", "jsonpath={.metadata.uid}"]);
    let owned = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}}}\n"
    );
    c.ok(&["apply", "-f", &c.manifest("owned.yaml", &owned)]);
    wait_for(&c, &["get", "cm", "-o", "name"], "the dangling dependent collected", |s| !s.contains("orphaned"));
    assert!(c.ok(&["get", "cm", "-o", "name"]).contains("configmap/owned"), "a dependent of a live owner stays");
    c.ok(&["delete", "cm", "owner"]);
    wait_for(&c, &["get", "cm", "-o", "name"], "the dependent collected", |s| !s.contains("owned"));
}
