//! The DaemonSet controller against a running `skiff server` with real
//! kubectl: one pod per node as nodes come and go, taints, and
//! `kubectl rollout status/history/undo`. A fake kubelet marks bound pods ready.

mod common;

use common::kubelet::{add_node, wait_for, FakeKubelet};
use common::Cluster;

const DAEMONSET: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: "busybox:1"}]}
"#;

/// `node=image` of every live (not terminating) agent pod, sorted.
fn placement(c: &Cluster) -> Vec<String> {
    let out = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=agent",
        "-o",
        r#"jsonpath={range .items[*]}{.spec.nodeName}={.spec.containers[0].image}={.metadata.deletionTimestamp}{"\n"}{end}"#,
    ]);
    let mut v: Vec<String> =
        out.lines().filter(|l| l.ends_with('=')).map(|l| l.trim_end_matches('=').to_string()).collect();
    v.sort();
    v
}

fn wait_placement(c: &Cluster, want: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let got = placement(c);
        if got == want {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "placement: got {got:?}, want {want:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn daemonset_follows_nodes_and_rolls_back() {
    let c = Cluster::start();
    add_node(&c, "n1");
    add_node(&c, "n2");
    let _kubelet = FakeKubelet::start(&c);
    c.ok(&["apply", "-f", &c.manifest("agent.yaml", DAEMONSET)]);
    let out = c.ok(&["rollout", "status", "ds/agent", "--timeout=120s"]);
    assert!(out.contains("daemon set \"agent\" successfully rolled out"), "{out}");
    wait_placement(&c, &["n1=busybox:1", "n2=busybox:1"]);
    let pod = c.ok(&["get", "pods", "-l", "app=agent", "-o", "json"]);
    let pod: serde_json::Value = serde_json::from_str(&pod).unwrap();
    let spec = &pod["items"][0]["spec"];
    let field = &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"][0]["matchFields"][0];
    assert_eq!(field["key"], "metadata.name", "pinned by node affinity: {spec}");
    assert!(spec["tolerations"].as_array().unwrap().iter().any(|t| t["key"] == "node.kubernetes.io/unreachable"));

    // A new node gets a pod; a deleted node's pod goes.
    add_node(&c, "n3");
    wait_placement(&c, &["n1=busybox:1", "n2=busybox:1", "n3=busybox:1"]);
    c.ok(&["delete", "node", "n2"]);
    wait_placement(&c, &["n1=busybox:1", "n3=busybox:1"]);
    // An untolerated NoExecute taint evicts; removing it brings the pod back.
    c.ok(&["taint", "node", "n3", "dedicated=db:NoExecute"]);
    wait_placement(&c, &["n1=busybox:1"]);
    c.ok(&["taint", "node", "n3", "dedicated=db:NoExecute-"]);
    wait_placement(&c, &["n1=busybox:1", "n3=busybox:1"]);
    let status = c.ok(&[
        "get",
        "ds",
        "agent",
        "-o",
        "jsonpath={.status.desiredNumberScheduled}/{.status.currentNumberScheduled}/{.status.numberMisscheduled}",
    ]);
    assert_eq!(status, "2/2/0");

    // A rolling update, then undo.
    c.ok(&["annotate", "ds", "agent", "kubernetes.io/change-cause=to busybox 2"]);
    c.ok(&["set", "image", "ds/agent", "c=busybox:2"]);
    c.ok(&["rollout", "status", "ds/agent", "--timeout=120s"]);
    wait_placement(&c, &["n1=busybox:2", "n3=busybox:2"]);
    let history = c.ok(&["rollout", "history", "ds/agent"]);
    assert!(history.contains("1 ") && history.contains("2         to busybox 2"), "{history}");
    c.ok(&["rollout", "undo", "ds/agent"]);
    c.ok(&["rollout", "status", "ds/agent", "--timeout=120s"]);
    wait_placement(&c, &["n1=busybox:1", "n3=busybox:1"]);
    let numbers = c.ok(&["get", "controllerrevisions", "-l", "app=agent", "-o", "jsonpath={.items[*].revision}"]);
    let mut numbers: Vec<&str> = numbers.split(' ').collect();
    numbers.sort();
    assert_eq!(numbers, vec!["2", "3"], "the old revision is renumbered");
    let hash = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=agent",
        "-o",
        "jsonpath={.items[0].metadata.labels.controller-revision-hash}",
    ]);
    let revision = c.ok(&[
        "get",
        "controllerrevisions",
        "-l",
        "app=agent",
        "-o",
        r#"jsonpath={.items[?(@.revision==3)].metadata.name}"#,
    ]);
    assert_eq!(revision, format!("agent-{hash}"));
    wait_for(
        &c,
        &["get", "ds", "agent", "-o", "jsonpath={.status.updatedNumberScheduled}/{.status.numberAvailable}"],
        "status",
        |s| s == "2/2",
    );
}

#[test]
fn node_selector_limits_the_nodes() {
    let c = Cluster::start();
    add_node(&c, "n1");
    add_node(&c, "n2");
    let _kubelet = FakeKubelet::start(&c);
    c.ok(&["label", "node", "n2", "disk=ssd"]);
    let ds = DAEMONSET.replace("spec: {containers:", "spec: {nodeSelector: {disk: ssd}, containers:");
    c.ok(&["apply", "-f", &c.manifest("agent.yaml", &ds)]);
    wait_placement(&c, &["n2=busybox:1"]);
    c.ok(&["label", "node", "n1", "disk=ssd"]);
    wait_placement(&c, &["n1=busybox:1", "n2=busybox:1"]);
    // A node that stops matching loses the pod.
    c.ok(&["label", "node", "n2", "disk-"]);
    wait_placement(&c, &["n1=busybox:1"]);
}
