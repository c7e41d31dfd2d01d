//! Claims and ServiceAccount tokens on a real node, inside a network namespace
//! the test creates (loopback only): a StatefulSet's `volumeClaimTemplates`
//! (the default `local-path` class, WaitForFirstConsumer) are provisioned,
//! bound and bind-mounted (with a `subPath`); its pods become Ready, and a file
//! pod-0 wrote is there for the pod that replaces it. A pod whose claim is
//! not bound waits with a `FailedMount` event and starts once it is. Every pod
//! has its token, `ca.crt` and namespace under
//! `/var/run/secrets/kubernetes.io/serviceaccount`, and the token
//! authenticates as its ServiceAccount. Needs root, containerd, runc, the CNI
//! plugins and busybox-static (scripts/deps).

mod common;

use std::time::Duration;

use common::node::{containerd_with_images, get, wait_until};
use common::Cluster;
use skiff_kubelet::testing::{require_node_prerequisites, NetNs};

const STATEFULSET: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: kv}
spec:
  replicas: 2
  serviceName: kv
  selector: {matchLabels: {app: kv}}
  template:
    metadata: {labels: {app: kv}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:1.36
        command: ["sh", "-c"]
        args:
        - |
          if [ -f /data/first ]; then echo "found $(cat /data/first)"; else hostname > /data/first; echo wrote; fi
          echo sub > /nested/file
          touch /tmp/ready; exec sleep 3600
        readinessProbe:
          exec: {command: ["cat", "/tmp/ready"]}
          periodSeconds: 1
        volumeMounts:
        - {name: data, mountPath: /data}
        - {name: data, mountPath: /nested, subPath: deeper/dir}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"#;

/// A claim of a class nothing provisions, and a pod that uses it, placed on
/// the node directly (the scheduler would hold it back until the claim binds).
const WAITING: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: manual}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: waiter}
spec:
  nodeName: node-1
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:1.36
    command: ["sh", "-c", "cat /data/greeting; exec sleep 3600"]
    volumeMounts: [{name: data, mountPath: /data, readOnly: true}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: manual}}]
"#;

fn running_and_ready(c: &Cluster, pod: &str) -> Option<String> {
    let s = get(
        c,
        &["get", "pod", pod, "-o", r#"jsonpath={.status.phase}/{.status.conditions[?(@.type=="Ready")].status}"#],
    );
    (s == "Running/True").then_some(s)
}

#[test]
fn claims_survive_their_pods_and_pods_carry_working_service_account_tokens() {
    require_node_prerequisites();
    let netns = NetNs::create("skiff-claims");
    let c = Cluster::start_in_netns(&netns.name, &["--agent", "--node-name", "node-1"]);
    let _cleanup = containerd_with_images(&c);

    // The StatefulSet's claims are provisioned on the node and its pods become Ready.
    c.ok(&["apply", "-f", &c.manifest("kv.yaml", STATEFULSET)]);
    for pod in ["kv-0", "kv-1"] {
        wait_until(&format!("{pod} Ready"), Duration::from_secs(120), || running_and_ready(&c, pod));
    }
    assert_eq!(get(&c, &["get", "pvc", "data-kv-0", "-o", "jsonpath={.status.phase}"]), "Bound");
    let pv = get(&c, &["get", "pvc", "data-kv-0", "-o", "jsonpath={.spec.volumeName}"]);
    let dir = get(&c, &["get", "pv", &pv, "-o", "jsonpath={.spec.hostPath.path}"]);
    assert!(dir.starts_with(&c.data_dir().display().to_string()), "{dir} under the data directory");
    assert_eq!(std::fs::read_to_string(format!("{dir}/first")).unwrap().trim(), "kv-0", "written through the mount");
    assert_eq!(std::fs::read_to_string(format!("{dir}/deeper/dir/file")).unwrap().trim(), "sub", "subPath");
    assert_eq!(c.ok(&["logs", "kv-0"]).trim(), "wrote");

    // Deleting pod-0: its replacement mounts the same claim and finds the file.
    let old_uid = get(&c, &["get", "pod", "kv-0", "-o", "jsonpath={.metadata.uid}"]);
    c.ok(&["delete", "pod", "kv-0", "--wait=true", "--timeout=60s"]);
    wait_until("a new kv-0 Ready", Duration::from_secs(120), || {
        let uid = get(&c, &["get", "pod", "kv-0", "-o", "jsonpath={.metadata.uid}"]);
        (!uid.is_empty() && uid != old_uid).then_some(())?;
        running_and_ready(&c, "kv-0")
    });
    let logs = wait_until("kv-0's output", Duration::from_secs(30), || {
        Some(c.ok(&["logs", "kv-0"])).filter(|l| !l.is_empty())
    });
    assert_eq!(logs.trim(), "found kv-0");

    // A claim nothing binds: the pod waits with FailedMount, then starts once bound.
    c.ok(&["apply", "-f", &c.manifest("waiting.yaml", WAITING)]);
    let event = wait_until("a FailedMount event", Duration::from_secs(60), || {
        let e = get(
            &c,
            &[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=waiter,reason=FailedMount",
                "-o",
                "jsonpath={.items[0].message}",
            ],
        );
        (!e.is_empty()).then_some(e)
    });
    assert!(event.contains("PVC default/manual is not bound"), "{event}");
    assert_eq!(get(&c, &["get", "pod", "waiter", "-o", "jsonpath={.status.phase}"]), "Pending");
    let manual = c.data_dir().join("manual-volume");
    std::fs::create_dir_all(&manual).unwrap();
    std::fs::write(manual.join("greeting"), "hello from a local volume\n").unwrap();
    let pv = format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: manual-pv}}\nspec:\n  storageClassName: manual\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  local: {{path: {}}}\n  nodeAffinity: {{required: {{nodeSelectorTerms: [{{matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [node-1]}}]}}]}}}}\n",
        manual.display()
    );
    c.ok(&["apply", "-f", &c.manifest("pv.yaml", &pv)]);
    wait_until("waiter Running", Duration::from_secs(90), || {
        let phase = get(&c, &["get", "pod", "waiter", "-o", "jsonpath={.status.phase}"]);
        (phase == "Running").then_some(phase)
    });
    let logs = wait_until("waiter's output", Duration::from_secs(30), || {
        Some(c.ok(&["logs", "waiter"])).filter(|l| !l.is_empty())
    });
    assert_eq!(logs.trim(), "hello from a local volume");
    let out = c.kubectl(&["exec", "waiter", "--", "touch", "/data/x"]);
    assert!(!out.status.success(), "a readOnly mount");

    // The ServiceAccount token, CA and namespace in every pod; the token authenticates.
    let sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    let token = c.ok(&["exec", "kv-1", "--", "cat", &format!("{sa_dir}/token")]);
    assert_eq!(c.ok(&["exec", "kv-1", "--", "cat", &format!("{sa_dir}/namespace")]), "default");
    let ca = std::fs::read_to_string(c.data_dir().join("tls/ca.crt")).unwrap();
    assert_eq!(c.ok(&["exec", "kv-1", "--", "cat", &format!("{sa_dir}/ca.crt")]), ca);
    let out = c.kubectl_with_token(&token, &["auth", "whoami", "-o", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let who: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "system:serviceaccount:default:default");
    assert_eq!(
        who["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"],
        serde_json::json!(["kv-1"])
    );
    let out = c.kubectl_with_token(&token, &["get", "pods", "-o", "name"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("pod/kv-1"), "{}", String::from_utf8_lossy(&out.stderr));
    // The pod's token dies with the pod.
    c.ok(&["delete", "sts", "kv", "--wait=true", "--timeout=60s"]);
    wait_until("kv-1 gone", Duration::from_secs(60), || {
        get(&c, &["get", "pods", "-l", "app=kv", "-o", "name"]).is_empty().then_some(())
    });
    let out = c.kubectl_with_token(&token, &["auth", "whoami"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized"), "{}", String::from_utf8_lossy(&out.stderr));

    c.ok(&["delete", "pod", "--all", "--grace-period=1", "--timeout=60s"]);
}
