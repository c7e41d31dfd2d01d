//! Node lifecycle against a running `skiff server`: a node whose Lease stops
//! being renewed goes Unknown, is tainted, and its pods are evicted when their
//! tolerations run out and replaced on a live node.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::kubelet::{add_node, chrono_now, wait_for, FakeKubelet};
use common::Cluster;

/// Renews the Lease of every node in `alive` every half second, like kubelets.
struct Heartbeats {
    alive: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeats {
    fn start(c: &Cluster) -> Heartbeats {
        let alive: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (kubeconfig, list, flag) = (c.kubeconfig.clone(), alive.clone(), stop.clone());
        let manifest = c.dir.path().join("leases.json");
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let nodes = list.lock().unwrap().clone();
                if !nodes.is_empty() {
                    let renewed = chrono_now().replace('Z', ".000000Z");
                    let items: Vec<serde_json::Value> = nodes
                        .iter()
                        .map(|n| {
                            serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                "metadata": {"name": n, "namespace": "kube-node-lease"},
                                "spec": {"holderIdentity": n, "leaseDurationSeconds": 40, "renewTime": renewed}})
                        })
                        .collect();
                    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
                    std::fs::write(&manifest, list.to_string()).unwrap();
                    let _ = std::process::Command::new(common::kubectl_binary())
                        .arg("--kubeconfig")
                        .arg(&kubeconfig)
                        .args(["apply", "-f"])
                        .arg(&manifest)
                        .output();
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        });
        Heartbeats { alive, stop, thread: Some(thread) }
    }

    fn set(&self, nodes: &[&str]) {
        *self.alive.lock().unwrap() = nodes.iter().map(|s| s.to_string()).collect();
    }
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const RS: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: busybox}]
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 3}
"#;

fn nodes_of_ready_pods(c: &Cluster) -> String {
    let out = c.ok(&["get", "pods", "-l", "app=web", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut nodes: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        })
        .map(|p| p["spec"]["nodeName"].as_str().unwrap_or("").to_string())
        .collect();
    nodes.sort();
    nodes.join(",")
}

#[test]
fn a_stopped_nodes_pods_are_evicted_and_replaced_elsewhere() {
    // Heartbeats go through kubectl, which can take seconds to start on a loaded
    // machine: a grace period shorter than that makes the live node flap too.
    let c = Cluster::start_with(&["--node-monitor-grace-period", "10s"]);
    let heartbeats = Heartbeats::start(&c);
    heartbeats.set(&["n1"]);
    add_node(&c, "n1");
    let _kubelet = FakeKubelet::start(&c);
    c.ok(&["apply", "-f", &c.manifest("rs.yaml", RS)]);
    wait_for(&c, &["get", "rs", "web", "-o", "jsonpath={.status.readyReplicas}"], "2 ready on n1", |s| s == "2");
    assert_eq!(nodes_of_ready_pods(&c), "n1,n1");
    // DefaultTolerationSeconds added the missing not-ready toleration, kept the pod's own.
    let tolerations = c.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].spec.tolerations}"]);
    assert!(
        tolerations.contains(r#""key":"node.kubernetes.io/not-ready""#)
            && tolerations.contains(r#""tolerationSeconds":300"#),
        "{tolerations}"
    );
    assert!(tolerations.contains(r#""tolerationSeconds":3"#), "{tolerations}");

    // n2 joins and stays alive; n1 stops renewing its Lease.
    add_node(&c, "n2");
    heartbeats.set(&["n2"]);
    wait_for(
        &c,
        &["get", "node", "n1", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"],
        "n1 Unknown",
        |s| s == "Unknown",
    );
    let taints = wait_for(&c, &["get", "node", "n1", "-o", "jsonpath={.spec.taints}"], "n1 tainted", |s| {
        s.contains("NoExecute")
    });
    assert!(taints.contains("node.kubernetes.io/unreachable"), "{taints}");
    let reason = c.ok(&["get", "node", "n1", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}"]);
    assert_eq!(reason, "NodeStatusUnknown");
    // After tolerationSeconds the pods are evicted; the ReplicaSet replaces them on n2.
    wait_for(&c, &["get", "rs", "web", "-o", "jsonpath={.status.readyReplicas}"], "ready again", |s| s == "2");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while nodes_of_ready_pods(&c) != "n2,n2" {
        assert!(std::time::Instant::now() < deadline, "pods were not replaced on n2: {}", nodes_of_ready_pods(&c));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    wait_for(&c, &["get", "events", "-o", "jsonpath={.items[*].reason}"], "eviction events", |s| {
        s.contains("TaintManagerEviction")
    });
    // n2 stayed healthy.
    let n2 =
        c.ok(&["get", "node", "n2", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.spec.taints}"]);
    assert!(n2.starts_with("True") && !n2.contains("unreachable"), "{n2}");
}
