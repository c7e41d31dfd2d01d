//! PodDisruptionBudget and ResourceQuota status against a running `skiff
//! server`, and the eviction subresource honouring a budget.

mod common;

use common::kubelet::{add_node, wait_for, FakeKubelet};
use common::Cluster;

const RS: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox, resources: {requests: {cpu: 100m, memory: 64Mi}}}]}
"#;

const PDB: &str = r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
"#;

fn evict(c: &Cluster, pod: &str) -> std::process::Output {
    let body = serde_json::json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "default"}});
    let file = c.manifest(&format!("evict-{pod}.json"), &body.to_string());
    c.kubectl(&["create", "--raw", &format!("/api/v1/namespaces/default/pods/{pod}/eviction"), "-f", &file])
}

#[test]
fn budgets_track_healthy_pods_and_block_evictions() {
    let c = Cluster::start();
    add_node(&c, "n1");
    let _kubelet = FakeKubelet::start(&c);
    c.ok(&["apply", "-f", &c.manifest("rs.yaml", RS)]);
    c.ok(&["apply", "-f", &c.manifest("pdb.yaml", PDB)]);
    let path = "jsonpath={.status.expectedPods}/{.status.currentHealthy}/{.status.desiredHealthy}/{.status.disruptionsAllowed}";
    wait_for(&c, &["get", "pdb", "web", "-o", path], "3 healthy, 1 allowed", |s| s == "3/3/2/1");
    let condition = c.ok(&[
        "get",
        "pdb",
        "web",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"DisruptionAllowed\")].reason} {.status.observedGeneration}",
    ]);
    assert_eq!(condition, "SufficientPods 1");
    let table = c.ok(&["get", "pdb", "web"]);
    assert!(
        table.lines().nth(1).is_some_and(|l| l.split_whitespace().collect::<Vec<_>>()[..4] == ["web", "2", "N/A", "1"]),
        "{table}"
    );

    let pods = c.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"]);
    let pods: Vec<&str> = pods.split_whitespace().collect();
    let first = evict(&c, pods[0]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    // The budget is spent until the replacement is healthy: 429.
    let second = evict(&c, pods[1]);
    let err = String::from_utf8_lossy(&second.stderr).to_string();
    if !second.status.success() {
        assert!(err.contains("disruption budget") || err.contains("429") || err.contains("TooManyRequests"), "{err}");
    }
    // Either way the controller brings the status back once the replacement is ready.
    wait_for(&c, &["get", "pdb", "web", "-o", "jsonpath={.status.currentHealthy}"], "healthy again", |s| {
        s == "3" || s == "2"
    });
}

#[test]
fn eviction_is_refused_when_the_budget_allows_none() {
    let c = Cluster::start();
    add_node(&c, "n1");
    let _kubelet = FakeKubelet::start(&c);
    c.ok(&["apply", "-f", &c.manifest("rs.yaml", RS)]);
    c.ok(&["apply", "-f", &c.manifest("pdb.yaml", &PDB.replace("minAvailable: 2", "maxUnavailable: 0"))]);
    wait_for(
        &c,
        &["get", "pdb", "web", "-o", "jsonpath={.status.expectedPods}/{.status.disruptionsAllowed}"],
        "none allowed",
        |s| s == "3/0",
    );
    let reason = c.ok(&["get", "pdb", "web", "-o", "jsonpath={.status.conditions[0].reason}"]);
    assert_eq!(reason, "InsufficientPods");
    let pod = c.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}"]);
    let out = evict(&c, &pod);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Cannot evict pod as it would violate the pod's disruption budget"), "{err}");
    assert!(c.ok(&["get", "pod", &pod, "-o", "jsonpath={.metadata.deletionTimestamp}"]).is_empty());
}

#[test]
fn quota_status_reports_usage() {
    let c = Cluster::start();
    c.ok(&[
        "create",
        "quota",
        "q",
        "--hard=pods=10,requests.cpu=2,requests.memory=1Gi,configmaps=5,count/replicasets.apps=4",
    ]);
    c.ok(&["apply", "-f", &c.manifest("rs.yaml", &RS.replace("replicas: 3", "replicas: 2"))]);
    c.ok(&["create", "configmap", "one"]);
    let path = "jsonpath={.status.used.pods} {.status.used.requests\\.cpu} {.status.used.requests\\.memory} {.status.used.configmaps} {.status.used.count/replicasets\\.apps}";
    // configmaps: ours and kube-root-ca.crt.
    wait_for(&c, &["get", "quota", "q", "-o", path], "usage", |s| s == "2 200m 128Mi 2 1");
    let hard = c.ok(&["get", "quota", "q", "-o", "jsonpath={.status.hard.pods} {.status.hard.requests\\.memory}"]);
    assert_eq!(hard, "10 1Gi");
    let described = c.ok(&["describe", "quota", "q"]);
    assert!(described.contains("requests.cpu") && described.contains("200m"), "{described}");
    c.ok(&["scale", "rs", "web", "--replicas=1"]);
    wait_for(&c, &["get", "quota", "q", "-o", "jsonpath={.status.used.pods}"], "one pod", |s| s == "1");
}
