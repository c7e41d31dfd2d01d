//! The namespace, ServiceAccount and root-CA controllers against a running
//! `skiff server` with real kubectl: every namespace gets a `default`
//! ServiceAccount and `kube-root-ca.crt`; deleting a namespace empties it and
//! the namespace disappears; what holds it up is in its conditions.

mod common;

use common::kubelet::{add_node, wait_for, FakeKubelet};
use common::Cluster;

#[test]
fn namespaces_get_a_default_service_account_and_the_root_ca() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "team"]);
    wait_for(&c, &["get", "serviceaccount", "default", "-n", "team", "-o", "name"], "default SA", |s| {
        s.contains("serviceaccount/default")
    });
    let ca = wait_for(
        &c,
        &["get", "configmap", "kube-root-ca.crt", "-n", "team", "-o", r"jsonpath={.data.ca\.crt}"],
        "root CA",
        |s| !s.is_empty(),
    );
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    // The system namespaces have them too, and a deleted one comes back.
    wait_for(&c, &["get", "sa", "default", "-n", "kube-system", "-o", "name"], "kube-system SA", |s| !s.is_empty());
    c.ok(&["delete", "sa", "default", "-n", "team"]);
    wait_for(&c, &["get", "sa", "default", "-n", "team", "-o", "jsonpath={.metadata.uid}"], "SA recreated", |s| {
        !s.is_empty()
    });
}

#[test]
fn deleting_a_namespace_empties_it_then_removes_it() {
    let c = Cluster::start();
    add_node(&c, "n1");
    let _kubelet = FakeKubelet::start(&c);
    c.ok(&["create", "namespace", "doomed"]);
    let app = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: doomed}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: "busybox:1"}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: doomed}
---
apiVersion: v1
kind: Secret
metadata: {name: token, namespace: doomed}
"#;
    c.ok(&["apply", "-f", &c.manifest("app.yaml", app)]);
    c.ok(&["rollout", "status", "deployment/web", "-n", "doomed", "--timeout=120s"]);

    // kubectl waits until the namespace is gone.
    c.ok(&["delete", "namespace", "doomed", "--timeout=120s"]);
    assert!(c.fails(&["get", "namespace", "doomed"]).contains("NotFound"));
    let left = c.ok(&["get", "pods,rs,deploy,cm,secrets,sa", "-A", "-o", "jsonpath={.items[*].metadata.namespace}"]);
    assert!(!left.split_whitespace().any(|ns| ns == "doomed"), "left behind: {left}");
}

#[test]
fn a_finalizer_holds_the_namespace_and_its_conditions_say_so() {
    let c = Cluster::start();
    c.ok(&["create", "namespace", "held"]);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: held\n  finalizers: [example.com/hold]\n";
    c.ok(&["apply", "-f", &c.manifest("cm.yaml", cm)]);
    c.ok(&["delete", "namespace", "held", "--wait=false"]);
    let phase = c.ok(&["get", "namespace", "held", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Terminating");
    let message = wait_for(
        &c,
        &[
            "get",
            "namespace",
            "held",
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="NamespaceFinalizersRemaining")].message}"#,
        ],
        "conditions",
        |s| s.contains("example.com/hold"),
    );
    assert_eq!(
        message,
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );
    c.ok(&["patch", "configmap", "held", "-n", "held", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    wait_for(&c, &["get", "namespaces", "-o", "name"], "the namespace gone", |s| !s.contains("namespace/held"));
}
