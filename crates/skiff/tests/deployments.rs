//! The Deployment controller against a running `skiff server` with real
//! kubectl: rollouts, scaling, `kubectl rollout status/history/undo/restart/
//! pause/resume`, Recreate, and the progress deadline. A fake kubelet marks
//! bound pods ready.

mod common;

use common::kubelet::{add_node, wait_for, FakeKubelet};
use common::Cluster;

fn deployment(name: &str, replicas: u32, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  {extra_spec}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: "busybox:1"}}]}}
"#
    )
}

fn rollout_status(c: &Cluster, name: &str) -> String {
    c.ok(&["rollout", "status", &format!("deployment/{name}"), "--timeout=120s"])
}

fn replica_sets(c: &Cluster, app: &str) -> Vec<String> {
    let out = c.ok(&[
        "get",
        "rs",
        "-l",
        &format!("app={app}"),
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name}={.spec.replicas}@{.metadata.annotations.deployment\.kubernetes\.io/revision}{"\n"}{end}"#,
    ]);
    let mut v: Vec<String> = out.lines().map(String::from).collect();
    v.sort();
    v
}

#[test]
fn deployment_rolls_out_scales_undoes_and_restarts() {
    let c = Cluster::start();
    add_node(&c, "n1");
    let _kubelet = FakeKubelet::start(&c);
    c.ok(&["apply", "-f", &c.manifest("web.yaml", &deployment("web", 3, ""))]);
    let out = rollout_status(&c, "web");
    assert!(out.contains("successfully rolled out"), "{out}");
    let rss = replica_sets(&c, "web");
    assert_eq!(rss.len(), 1, "{rss:?}");
    assert!(rss[0].starts_with("web-") && rss[0].ends_with("=3@1"), "{rss:?}");
    let hash = c.ok(&["get", "rs", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.labels.pod-template-hash}"]);
    assert!(rss[0].starts_with(&format!("web-{hash}=")), "the set is named for its pod-template-hash");
    let conditions = c.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        r#"jsonpath={range .status.conditions[*]}{.type}={.status}/{.reason}{" "}{end}"#,
    ]);
    assert!(conditions.contains("Available=True/MinimumReplicasAvailable"), "{conditions}");
    assert!(conditions.contains("Progressing=True/NewReplicaSetAvailable"), "{conditions}");
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=Deployment",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains("Scaled up replica set web-"), "{events}");

    // Scale.
    c.ok(&["scale", "deployment", "web", "--replicas=5"]);
    rollout_status(&c, "web");
    wait_for(&c, &["get", "deploy", "web", "-o", "jsonpath={.status.availableReplicas}"], "5 available", |s| s == "5");

    // A new template rolls out to a second ReplicaSet at revision 2.
    c.ok(&["annotate", "deployment", "web", "kubernetes.io/change-cause=to busybox 2"]);
    c.ok(&["set", "image", "deployment/web", "c=busybox:2"]);
    rollout_status(&c, "web");
    let rss = replica_sets(&c, "web");
    assert_eq!(rss.len(), 2, "{rss:?}");
    assert!(rss.iter().any(|r| r.ends_with("=5@2")) && rss.iter().any(|r| r.ends_with("=0@1")), "{rss:?}");
    let history = c.ok(&["rollout", "history", "deployment/web"]);
    assert!(history.contains("1 ") && history.contains("2         to busybox 2"), "{history}");

    // Undo goes back to revision 1's template, which becomes revision 3.
    c.ok(&["rollout", "undo", "deployment/web"]);
    rollout_status(&c, "web");
    let image = c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
    assert_eq!(image, "busybox:1");
    let rss = replica_sets(&c, "web");
    assert_eq!(rss.len(), 2, "the old set is reused: {rss:?}");
    assert!(rss.iter().any(|r| r.ends_with("=5@3")), "{rss:?}");
    let revision = c.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        r#"jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}"#,
    ]);
    assert_eq!(revision, "3");
    let history = c.ok(&["rollout", "history", "deployment/web", "--revision=3"]);
    assert!(history.contains("busybox:1"), "{history}");

    // Restart: a new template annotation, so a new ReplicaSet.
    c.ok(&["rollout", "restart", "deployment/web"]);
    rollout_status(&c, "web");
    let rss = replica_sets(&c, "web");
    assert_eq!(rss.len(), 3, "{rss:?}");
    assert!(rss.iter().any(|r| r.ends_with("=5@4")), "{rss:?}");

    // Paused: template changes wait for resume.
    c.ok(&["rollout", "pause", "deployment/web"]);
    c.ok(&["set", "image", "deployment/web", "c=busybox:3"]);
    wait_for(
        &c,
        &["get", "deploy", "web", "-o", r#"jsonpath={.status.conditions[?(@.type=="Progressing")].reason}"#],
        "paused",
        |s| s == "DeploymentPaused",
    );
    assert_eq!(replica_sets(&c, "web").len(), 3, "no rollout while paused");
    c.ok(&["rollout", "resume", "deployment/web"]);
    rollout_status(&c, "web");
    assert!(replica_sets(&c, "web").iter().any(|r| r.ends_with("=5@5")));
}

#[test]
fn recreate_replaces_all_pods_and_history_is_limited() {
    let c = Cluster::start();
    add_node(&c, "n1");
    let _kubelet = FakeKubelet::start(&c);
    let spec = "strategy: {type: Recreate}\n  revisionHistoryLimit: 1";
    c.ok(&["apply", "-f", &c.manifest("re.yaml", &deployment("re", 2, spec))]);
    rollout_status(&c, "re");
    for image in ["busybox:2", "busybox:3"] {
        c.ok(&["set", "image", "deployment/re", &format!("c={image}")]);
        rollout_status(&c, "re");
    }
    // Revision 1 is beyond the limit of one old set.
    let rss = wait_for(&c, &["get", "rs", "-l", "app=re", "-o", "name"], "history cleanup", |s| s.lines().count() == 2);
    assert_eq!(rss.lines().count(), 2);
    let pods = c.ok(&["get", "pods", "-l", "app=re", "-o", "jsonpath={.items[*].spec.containers[0].image}"]);
    assert_eq!(pods, "busybox:3 busybox:3");

    // Settled: the controllers stop writing (no status churn).
    let versions =
        || c.ok(&["get", "deploy,rs", "-l", "app=re", "-o", "jsonpath={.items[*].metadata.resourceVersion}"]);
    let before = c.ok(&["get", "deploy", "re", "-o", "jsonpath={.metadata.resourceVersion}"]) + &versions();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let after = c.ok(&["get", "deploy", "re", "-o", "jsonpath={.metadata.resourceVersion}"]) + &versions();
    assert_eq!(before, after, "a settled Deployment is rewritten");
}

#[test]
fn a_rollout_that_cannot_progress_exceeds_its_deadline() {
    let c = Cluster::start();
    // No nodes: the pods never become ready.
    let spec = "progressDeadlineSeconds: 2";
    c.ok(&["apply", "-f", &c.manifest("stuck.yaml", &deployment("stuck", 1, spec))]);
    let out = c.kubectl(&["rollout", "status", "deployment/stuck", "--timeout=120s"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("exceeded its progress deadline"), "{err}");
    let reason = c.ok(&["get", "deploy", "stuck", "-o", r#"jsonpath={.status.conditions[?(@.type=="Progressing")].status}/{.status.conditions[?(@.type=="Progressing")].reason}"#]);
    assert_eq!(reason, "False/ProgressDeadlineExceeded");
}
