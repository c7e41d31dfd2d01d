//! The StatefulSet controller against a running `skiff server` with real
//! kubectl: ordered creation (each pod only after the previous is Ready),
//! reverse-order scale down, partitioned rolling updates, `kubectl rollout
//! status/history/undo/restart`, and claims kept across pod restarts.

mod common;

use common::kubelet::{add_node, wait_for, FakeKubelet};
use common::Cluster;

fn statefulset(name: &str, replicas: u32, image: &str, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  serviceName: {name}-svc
  selector: {{matchLabels: {{app: {name}}}}}
  {extra_spec}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: "{image}"}}]}}
"#
    )
}

/// Names of the pods of `app`, sorted, each with `!` when it is terminating.
fn pods(c: &Cluster, app: &str) -> Vec<String> {
    let out = c.ok(&[
        "get",
        "pods",
        "-l",
        &format!("app={app}"),
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name}:{.metadata.deletionTimestamp}{"\n"}{end}"#,
    ]);
    let mut v: Vec<String> = out
        .lines()
        .map(|l| match l.split_once(':') {
            Some((name, "")) => name.to_string(),
            Some((name, _)) => format!("{name}!"),
            None => l.to_string(),
        })
        .collect();
    v.sort();
    v
}

/// What a kubelet would report for a started, ready pod.
fn mark_ready(c: &Cluster, pod: &str) {
    let status = r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#;
    c.ok(&["patch", "pod", pod, "--subresource=status", "--type=merge", "-p", status]);
}

/// What a kubelet does once a terminating pod's containers stopped.
fn finish(c: &Cluster, pod: &str) {
    c.ok(&["delete", "pod", pod, "--grace-period=0", "--force", "--wait=false"]);
}

fn observed(c: &Cluster, name: &str, replicas: &str) {
    wait_for(
        c,
        &["get", "sts", name, "-o", "jsonpath={.status.observedGeneration}/{.status.replicas}"],
        "status",
        |s| s.ends_with(&format!("/{replicas}")),
    );
}

#[test]
fn pods_are_created_in_order_after_the_previous_is_ready_and_removed_in_reverse() {
    let c = Cluster::start();
    add_node(&c, "n1");
    c.ok(&["apply", "-f", &c.manifest("web.yaml", &statefulset("web", 3, "busybox:1", ""))]);
    for i in 0..3 {
        let name = format!("web-{i}");
        wait_for(&c, &["get", "pods", "-l", "app=web", "-o", "name"], &name, |s| s.contains(&format!("pod/{name}")));
        // The controller has seen the new pod (status counts it) and has had
        // every chance to go on; the next ordinal must still be missing.
        observed(&c, "web", &(i + 1).to_string());
        std::thread::sleep(std::time::Duration::from_millis(800));
        let expected: Vec<String> = (0..=i).map(|j| format!("web-{j}")).collect();
        assert_eq!(pods(&c, "web"), expected, "web-{} must wait for {name} to be ready", i + 1);
        mark_ready(&c, &name);
    }
    wait_for(&c, &["get", "sts", "web", "-o", "jsonpath={.status.readyReplicas}"], "3 ready", |s| s == "3");
    let pod = c.ok(&[
        "get",
        "pod",
        "web-1",
        "-o",
        r#"jsonpath={.spec.hostname}.{.spec.subdomain} {.metadata.labels.statefulset\.kubernetes\.io/pod-name} {.metadata.labels.apps\.kubernetes\.io/pod-index}"#,
    ]);
    assert_eq!(pod, "web-1.web-svc web-1 1");

    // Scale down: web-2 goes first, web-1 only once web-2 is gone.
    c.ok(&["scale", "sts", "web", "--replicas=1"]);
    wait_for(&c, &["get", "pod", "web-2", "-o", "jsonpath={.metadata.deletionTimestamp}"], "web-2 terminating", |s| {
        !s.is_empty()
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    let web1 = c.ok(&["get", "pod", "web-1", "-o", "jsonpath={.metadata.deletionTimestamp}"]);
    assert_eq!(web1, "", "web-1 must wait until web-2 is gone");
    finish(&c, "web-2");
    wait_for(&c, &["get", "pod", "web-1", "-o", "jsonpath={.metadata.deletionTimestamp}"], "web-1 terminating", |s| {
        !s.is_empty()
    });
    finish(&c, "web-1");
    wait_for(&c, &["get", "pods", "-l", "app=web", "-o", "name"], "one pod left", |s| s.trim() == "pod/web-0");
    wait_for(&c, &["get", "sts", "web", "-o", "jsonpath={.status.replicas}"], "status", |s| s == "1");
}

#[test]
fn partitioned_rollout_history_undo_and_restart() {
    let c = Cluster::start();
    add_node(&c, "n1");
    let _kubelet = FakeKubelet::start(&c);
    c.ok(&["apply", "-f", &c.manifest("db.yaml", &statefulset("db", 3, "busybox:1", ""))]);
    let out = c.ok(&["rollout", "status", "sts/db", "--timeout=120s"]);
    assert!(out.contains("partitioned roll out complete: 3 new pods have been updated"), "{out}");
    let images = || {
        c.ok(&[
            "get",
            "pods",
            "-l",
            "app=db",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name}={.spec.containers[0].image} {end}"#,
        ])
    };

    // Partition 2: only db-2 moves to the new template.
    c.ok(&["patch", "sts", "db", "-p", r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}"#]);
    c.ok(&["annotate", "sts", "db", "kubernetes.io/change-cause=to busybox 2"]);
    c.ok(&["set", "image", "sts/db", "c=busybox:2"]);
    let out = c.ok(&["rollout", "status", "sts/db", "--timeout=120s"]);
    assert!(out.contains("partitioned roll out complete: 1 new pods have been updated"), "{out}");
    let revisions = c.ok(&["get", "sts", "db", "-o", "jsonpath={.status.currentRevision} {.status.updateRevision}"]);
    let (current, update) = revisions.split_once(' ').unwrap();
    assert_ne!(current, update, "{revisions}");
    assert_eq!(images().trim(), "db-0=busybox:1 db-1=busybox:1 db-2=busybox:2");
    let label = c.ok(&["get", "pod", "db-2", "-o", "jsonpath={.metadata.labels.controller-revision-hash}"]);
    assert_eq!(label, update);

    // Partition 0: the rest follow, highest first; current becomes update.
    c.ok(&["patch", "sts", "db", "-p", r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#]);
    c.ok(&["rollout", "status", "sts/db", "--timeout=120s"]);
    wait_for(&c, &["get", "sts", "db", "-o", "jsonpath={.status.currentRevision}"], "current revision", |s| {
        s == update
    });
    wait_for(
        &c,
        &["get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].spec.containers[0].image}"],
        "all v2",
        |s| s == "busybox:2 busybox:2 busybox:2",
    );
    let history = c.ok(&["rollout", "history", "sts/db"]);
    assert!(history.contains("1 ") && history.contains("2         to busybox 2"), "{history}");
    let history = c.ok(&["rollout", "history", "sts/db", "--revision=1"]);
    assert!(history.contains("busybox:1"), "{history}");

    // Undo: back to busybox:1, whose revision is renumbered 3.
    c.ok(&["rollout", "undo", "sts/db"]);
    c.ok(&["rollout", "status", "sts/db", "--timeout=120s"]);
    wait_for(
        &c,
        &["get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].spec.containers[0].image}"],
        "all v1",
        |s| s == "busybox:1 busybox:1 busybox:1",
    );
    let numbers = c.ok(&["get", "controllerrevisions", "-l", "app=db", "-o", "jsonpath={.items[*].revision}"]);
    let mut numbers: Vec<&str> = numbers.split(' ').collect();
    numbers.sort();
    assert_eq!(numbers, vec!["2", "3"], "the old revision is reused, not copied");

    // Restart: a new template annotation, so a fourth revision, all pods replaced.
    let before = c.ok(&["get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].metadata.uid}"]);
    c.ok(&["rollout", "restart", "sts/db"]);
    c.ok(&["rollout", "status", "sts/db", "--timeout=120s"]);
    wait_for(&c, &["get", "controllerrevisions", "-l", "app=db", "-o", "name"], "3 revisions", |s| {
        s.lines().count() == 3
    });
    wait_for(&c, &["get", "pods", "-l", "app=db", "-o", "jsonpath={.items[*].metadata.uid}"], "new pods", |s| {
        s.split(' ').count() == 3 && s.split(' ').all(|uid| !before.contains(uid))
    });
}

#[test]
fn claims_are_made_per_pod_and_kept_across_restarts() {
    let c = Cluster::start();
    // No node: pods stay pending; Parallel creates them all at once.
    let spec = r#"podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Retain}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}"#;
    c.ok(&["apply", "-f", &c.manifest("kv.yaml", &statefulset("kv", 2, "busybox:1", spec))]);
    let claims = wait_for(&c, &["get", "pvc", "-o", "name"], "two claims", |s| s.lines().count() == 2);
    assert!(claims.contains("persistentvolumeclaim/data-kv-0") && claims.contains("persistentvolumeclaim/data-kv-1"));
    let volume = c.ok(&[
        "get",
        "pod",
        "kv-0",
        "-o",
        r#"jsonpath={.spec.volumes[?(@.name=="data")].persistentVolumeClaim.claimName}"#,
    ]);
    assert_eq!(volume, "data-kv-0");
    let uid = c.ok(&["get", "pvc", "data-kv-0", "-o", "jsonpath={.metadata.uid}"]);
    let pod_uid = c.ok(&["get", "pod", "kv-0", "-o", "jsonpath={.metadata.uid}"]);
    c.ok(&["delete", "pod", "kv-0", "--wait=false"]);
    wait_for(&c, &["get", "pod", "kv-0", "-o", "jsonpath={.metadata.uid}"], "kv-0 recreated", |s| {
        !s.is_empty() && s != pod_uid
    });
    assert_eq!(c.ok(&["get", "pvc", "data-kv-0", "-o", "jsonpath={.metadata.uid}"]), uid, "the claim is kept");
    // Orphaned pods are adopted by a new set of the same name.
    let uids = || c.ok(&["get", "pods", "-l", "app=kv", "-o", "jsonpath={.items[*].metadata.uid}"]);
    let before = uids();
    c.ok(&["delete", "sts", "kv", "--cascade=orphan"]);
    wait_for(
        &c,
        &["get", "pods", "-l", "app=kv", "-o", "jsonpath={.items[*].metadata.ownerReferences}"],
        "orphans",
        |s| !s.contains("uid"),
    );
    c.ok(&["apply", "-f", &c.manifest("kv.yaml", &statefulset("kv", 2, "busybox:1", spec))]);
    let set_uid = c.ok(&["get", "sts", "kv", "-o", "jsonpath={.metadata.uid}"]);
    wait_for(
        &c,
        &["get", "pods", "-l", "app=kv", "-o", "jsonpath={.items[*].metadata.ownerReferences[0].uid}"],
        "adopted",
        |s| s == format!("{set_uid} {set_uid}"),
    );
    assert_eq!(uids(), before, "the same pods, adopted rather than replaced");
    wait_for(
        &c,
        &["get", "pvc", "data-kv-1", "-o", "jsonpath={.metadata.ownerReferences[0].uid}"],
        "claim owner",
        |s| s == set_uid,
    );

    // whenDeleted: Delete — the claims are owned by the set and go with it.
    let owner = c.ok(&["get", "pvc", "data-kv-1", "-o", "jsonpath={.metadata.ownerReferences[0].kind}"]);
    assert_eq!(owner, "StatefulSet");
    c.ok(&["delete", "sts", "kv"]);
    wait_for(&c, &["get", "pvc", "-o", "name"], "claims deleted", |s| s.trim().is_empty());
}
