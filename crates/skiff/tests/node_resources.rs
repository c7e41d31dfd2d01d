//! Resources and security on a real node, inside a network namespace the test
//! creates (loopback only): requests and limits become the container's cgroup
//! settings under the pod's cgroup (`/kubepods/burstable/pod<uid>/<id>`), the
//! QoS class is reported, a memory hog is `OOMKilled`, and a securityContext
//! (user, groups, read-only root, no new privileges, no capabilities) holds
//! inside the container. Needs root, containerd, runc, the CNI plugins and
//! busybox-static (scripts/deps).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::node::{containerd_with_images, get, wait_until};
use common::Cluster;
use skiff_kubelet::testing::{require_node_prerequisites, NetNs};

/// A cgroup file of a container, cgroup v1 (`controller`/`v1`) or v2 (`v2`).
fn cgroup_file(parent: &str, id: &str, controller: &str, v1: &str, v2: &str) -> String {
    let root = Path::new("/sys/fs/cgroup");
    let rel = parent.trim_start_matches('/');
    let v1_path = root.join(controller).join(rel).join(id).join(v1);
    let v2_path = root.join(rel).join(id).join(v2);
    std::fs::read_to_string(&v1_path)
        .or_else(|_| std::fs::read_to_string(&v2_path))
        .unwrap_or_else(|e| panic!("neither {} nor {}: {e}", v1_path.display(), v2_path.display()))
        .trim()
        .to_string()
}

#[test]
fn limits_become_cgroups_a_memory_hog_is_oom_killed_and_security_context_holds() {
    require_node_prerequisites();
    let netns = NetNs::create("skiff-res");
    let c = Cluster::start_in_netns(&netns.name, &["--agent", "--node-name", "node-1"]);
    let cleanup = containerd_with_images(&c);
    let socket = cleanup.0.clone();
    c.ok(&["apply", "-f", &c.manifest("pods.yaml", PODS)]);

    // Requests and limits → cgroup settings under the pod's Burstable cgroup.
    wait_until("limited Running", Duration::from_secs(90), || {
        let phase = get(&c, &["get", "pod", "limited", "-o", "jsonpath={.status.phase}"]);
        (phase == "Running").then_some(phase)
    });
    assert_eq!(get(&c, &["get", "pod", "limited", "-o", "jsonpath={.status.qosClass}"]), "Burstable");
    let uid = get(&c, &["get", "pod", "limited", "-o", "jsonpath={.metadata.uid}"]);
    let id = get(&c, &["get", "pod", "limited", "-o", "jsonpath={.status.containerStatuses[0].containerID}"]);
    let id = id.trim_start_matches("containerd://");
    let parent = format!("/kubepods/burstable/pod{uid}");
    let memory = cgroup_file(&parent, id, "memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(memory, (64u64 << 20).to_string(), "memory limit 64Mi");
    let shares = cgroup_file(&parent, id, "cpu", "cpu.shares", "cpu.weight");
    let quota = cgroup_file(&parent, id, "cpu", "cpu.cfs_quota_us", "cpu.max");
    if Path::new("/sys/fs/cgroup/cpu").exists() {
        assert_eq!(shares, "256", "250m → 256 shares");
        assert_eq!(quota, "50000", "500m → 50ms per 100ms");
    } else {
        assert_eq!(quota, "50000 100000", "500m → 50ms per 100ms");
    }

    // A memory hog over its limit is killed by the kernel and reported so.
    wait_until("hog OOMKilled", Duration::from_secs(90), || {
        let r =
            get(&c, &["get", "pod", "hog", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.reason}"]);
        (r == "OOMKilled").then_some(r)
    });
    let code =
        get(&c, &["get", "pod", "hog", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}"]);
    assert_eq!(code, "137");
    assert_eq!(get(&c, &["get", "pod", "hog", "-o", "jsonpath={.status.qosClass}"]), "Guaranteed");
    assert_eq!(get(&c, &["get", "pod", "hog", "-o", "jsonpath={.status.phase}"]), "Failed");

    // securityContext inside the container.
    let uid_secure = get(&c, &["get", "pod", "secure", "-o", "jsonpath={.metadata.uid}"]);
    let log = c.data_dir().join(format!("agent/pods/default_secure_{uid_secure}/main/0.log"));
    let text = wait_until("the secure pod's output", Duration::from_secs(90), || {
        std::fs::read_to_string(&log).ok().filter(|t| t.contains("done"))
    });
    assert!(text.contains("uid=1000 gid=3000"), "{text}");
    assert!(text.contains("groups=") && text.contains("2000"), "fsGroup joins the groups: {text}");
    assert!(text.contains("readonly"), "read-only root filesystem: {text}");
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    assert!(text.contains("CapEff:\t0000000000000000"), "every capability dropped: {text}");
    assert_eq!(get(&c, &["get", "pod", "secure", "-o", "jsonpath={.status.qosClass}"]), "BestEffort");

    // runAsNonRoot with user 0 is refused before the container is created.
    wait_until("root refused", Duration::from_secs(60), || {
        let m =
            get(&c, &["get", "pod", "rootless", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.message}"]);
        m.contains("non-root").then_some(m)
    });

    c.ok(&["delete", "pod", "--all", "--grace-period=1", "--timeout=60s"]);
    wait_until("no containers left", Duration::from_secs(30), || {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(&socket)
            .args(["-n", "k8s.io", "containers", "ls", "-q"])
            .output()
            .unwrap();
        let left = String::from_utf8_lossy(&out.stdout).trim().to_string();
        left.is_empty().then_some(left)
    });
    // The pod's cgroup goes with it.
    let v1 = Path::new("/sys/fs/cgroup/memory").join(parent.trim_start_matches('/'));
    let v2 = Path::new("/sys/fs/cgroup").join(parent.trim_start_matches('/'));
    assert!(!v1.exists() && !v2.exists(), "{parent} removed");
}

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: limited}
spec:
  containers:
  - name: main
    image: busybox:1.36
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: 250m, memory: 32Mi}
      limits: {cpu: 500m, memory: 64Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.36
    # Allocates after a second: a process that hits its limit within milliseconds of
    # starting can be killed before containerd's shim watches the cgroup for OOM
    # (it starts watching after the task starts), and is then reported `Error`.
    command: ["sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1"]
    resources:
      limits: {cpu: 200m, memory: 16Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: secure}
spec:
  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000}
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "id; touch /x 2>/dev/null || echo readonly; grep -E 'NoNewPrivs|CapEff' /proc/self/status; echo done; sleep 3600"]
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Pod
metadata: {name: rootless}
spec:
  containers:
  - name: main
    image: busybox:1.36
    command: ["sleep", "3600"]
    securityContext: {runAsNonRoot: true, runAsUser: 0}
"#;
