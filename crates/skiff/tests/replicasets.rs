//! The ReplicaSet and ReplicationController controllers against a running
//! `skiff server`, with a fake kubelet marking bound pods ready.

mod common;

use common::kubelet::{add_node, wait_for, FakeKubelet};
use common::{Cluster, SKIFF};

const RS: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox}]}
"#;

fn pod_names(c: &Cluster, selector: &str) -> Vec<String> {
    let out = c.ok(&["get", "pods", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"]);
    out.split_whitespace().map(String::from).collect()
}

#[test]
fn replicaset_creates_scales_adopts_and_releases() {
    let c = Cluster::start();
    add_node(&c, "n1");
    let _kubelet = FakeKubelet::start(&c);
    c.ok(&["apply", "-f", &c.manifest("rs.yaml", RS)]);
    wait_for(
        &c,
        &["get", "rs", "web", "-o", "jsonpath={.status.readyReplicas}/{.status.availableReplicas}"],
        "3 ready",
        |s| s == "3/3",
    );
    let pods = pod_names(&c, "app=web");
    assert_eq!(pods.len(), 3, "{pods:?}");
    assert!(pods.iter().all(|p| p.starts_with("web-")), "{pods:?}");
    let owner = c.ok(&["get", "pod", &pods[0], "-o", "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}"]);
    assert_eq!(owner, "ReplicaSet/web/true");
    let observed = c.ok(&[
        "get",
        "rs",
        "web",
        "-o",
        "jsonpath={.status.observedGeneration}/{.status.replicas}/{.status.fullyLabeledReplicas}",
    ]);
    assert_eq!(observed, "1/3/3");
    let events = wait_for(
        &c,
        &["get", "events", "--field-selector", "involvedObject.name=web", "-o", "jsonpath={.items[*].reason}"],
        "events",
        |s| s.matches("SuccessfulCreate").count() == 3,
    );
    assert!(!events.contains("Failed"), "{events}");

    // Scale down: the surplus goes, and the controller says so.
    c.ok(&["scale", "rs", "web", "--replicas=1"]);
    wait_for(&c, &["get", "pods", "-l", "app=web", "-o", "name"], "one pod left", |s| s.lines().count() == 1);
    wait_for(
        &c,
        &["get", "rs", "web", "-o", "jsonpath={.status.replicas}/{.status.observedGeneration}"],
        "status",
        |s| s == "1/2",
    );
    wait_for(
        &c,
        &["get", "events", "--field-selector", "involvedObject.name=web", "-o", "jsonpath={.items[*].reason}"],
        "delete events",
        |s| s.contains("SuccessfulDelete"),
    );

    // A matching orphan is adopted and counts, so nothing is created for it.
    c.ok(&["run", "stray", "--image=busybox", "--labels=app=solo"]);
    c.ok(&["apply", "-f", &c.manifest("solo.yaml", &RS.replace("web", "solo").replace("replicas: 3", "replicas: 1"))]);
    wait_for(&c, &["get", "pod", "stray", "-o", "jsonpath={.metadata.ownerReferences[0].name}"], "adoption", |s| {
        s == "solo"
    });
    wait_for(&c, &["get", "rs", "solo", "-o", "jsonpath={.status.replicas}"], "solo counted", |s| s == "1");
    assert_eq!(pod_names(&c, "app=solo"), ["stray"]);

    // A pod relabelled out of the selector is released and replaced.
    let remaining = pod_names(&c, "app=web");
    c.ok(&["label", "pod", &remaining[0], "app=debug", "--overwrite"]);
    wait_for(
        &c,
        &["get", "pod", &remaining[0], "-o", "jsonpath={.metadata.ownerReferences[*].name}"],
        "release",
        |s| s.is_empty(),
    );
    wait_for(&c, &["get", "pods", "-l", "app=web", "-o", "name"], "a replacement", |s| {
        s.lines().count() == 1 && !s.contains(&remaining[0])
    });
}

#[test]
fn replication_controller_keeps_its_replicas() {
    let c = Cluster::start();
    let rc = r#"
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: c, image: busybox}]}
"#;
    c.ok(&["apply", "-f", &c.manifest("rc.yaml", rc)]);
    wait_for(&c, &["get", "pods", "-l", "app=legacy", "-o", "name"], "two pods", |s| s.lines().count() == 2);
    let pods = pod_names(&c, "app=legacy");
    // Unbound pods go at once; the controller replaces the deleted one.
    c.ok(&["delete", "pod", &pods[0]]);
    wait_for(&c, &["get", "pods", "-l", "app=legacy", "-o", "name"], "a replacement", |s| {
        s.lines().count() == 2 && !s.contains(&pods[0])
    });
    wait_for(&c, &["get", "rc", "legacy", "-o", "jsonpath={.status.replicas}"], "status", |s| s == "2");
}

#[test]
fn disabled_controllers_do_not_run_and_unknown_names_are_refused() {
    let c = Cluster::start_with(&["--disable-controllers", "replicaset"]);
    assert!(c.startup.iter().any(|l| l.contains("controllers:") && !l.contains("replicaset,")), "{:?}", c.startup);
    c.ok(&["apply", "-f", &c.manifest("rs.yaml", RS)]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(pod_names(&c, "app=web").is_empty(), "a disabled controller created pods");

    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(SKIFF)
        .args([
            "server",
            "--bind-address",
            "127.0.0.1",
            "--https-listen-port",
            "0",
            "--disable-controllers",
            "nosuch",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown controller \"nosuch\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
