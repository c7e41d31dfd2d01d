//! The whole node: inside a network namespace the test creates (loopback only, no
//! route out), `skiff server --agent` starts its own containerd, registers its
//! Node (podCIDR from the server, Lease), and runs a real busybox pod built from
//! busybox-static: Running with a pod IP, its output in the CRI log, and after
//! `kubectl delete` no container is left. Needs root, containerd, runc, the CNI
//! plugins and busybox-static (scripts/deps); fails naming what is missing.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::node::{containerd_with_images, get, wait_until};
use common::Cluster;
use skiff_kubelet::testing::{require_node_prerequisites, NetNs};

/// Waits until object `pod` (a pod, or the node) has an event in `default` that
/// reads `line` (`Type Reason: message`).
fn wait_event(c: &Cluster, pod: &str, line: &str) {
    let selector = format!("involvedObject.name={pod}");
    let jsonpath = r#"jsonpath={range .items[*]}{.type} {.reason}: {.message}{"\n"}{end}"#;
    wait_until(&format!("{pod}'s event {line:?}"), Duration::from_secs(30), || {
        let events = get(c, &["get", "events", "--field-selector", &selector, "-o", jsonpath]);
        events.lines().any(|l| l.trim_end() == line.trim_end()).then_some(())
    });
}

/// The ids of pod `pod`'s sandboxes in containerd, one per line.
fn sandboxes(socket: &Path, pod: &str) -> String {
    let filter = format!(r#"labels."io.kubernetes.pod.name"=={pod},labels."io.cri-containerd.kind"==sandbox"#);
    ctr(socket, &["containers", "ls", "-q", &filter])
}

fn ctr(socket: &Path, args: &[&str]) -> String {
    let out = Command::new("ctr").arg("--address").arg(socket).args(["-n", "k8s.io"]).args(args).output().unwrap();
    assert!(out.status.success(), "ctr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_busybox_pod_runs_on_the_servers_own_node_and_is_removed_on_delete() {
    require_node_prerequisites();
    let netns = NetNs::create("skiff-node");
    let c = Cluster::start_in_netns(&netns.name, &["--agent", "--node-name", "node-1"]);
    let socket = c.data_dir().join("agent/containerd/containerd.sock");
    let _cleanup = containerd_with_images(&c);
    assert!(ctr(&socket, &["images", "ls", "-q"]).contains("docker.io/library/busybox:1.36"));

    // The Node: Ready, a /24 from 10.42.0.0/16, a Lease in kube-node-lease.
    wait_until("node-1 Ready", Duration::from_secs(60), || {
        let s =
            get(&c, &["get", "node", "node-1", "-o", r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#]);
        (s == "True").then_some(s)
    });
    // The node's own events (in `default`, as upstream's for a node).
    wait_event(&c, "node-1", "Normal Starting: Starting kubelet.");
    wait_event(&c, "node-1", "Normal NodeReady: Node node-1 status is now: NodeReady");
    wait_event(&c, "node-1", "Normal NodeHasSufficientMemory: Node node-1 status is now: NodeHasSufficientMemory");
    assert_eq!(get(&c, &["get", "node", "node-1", "-o", "jsonpath={.spec.podCIDR}"]), "10.42.0.0/24");
    assert_eq!(get(&c, &["get", "node", "node-1", "-o", "jsonpath={.metadata.labels.kubernetes\\.io/os}"]), "linux");
    let capacity = get(&c, &["get", "node", "node-1", "-o", "jsonpath={.status.capacity.pods}"]);
    assert_eq!(capacity, "110");
    let runtime = get(&c, &["get", "node", "node-1", "-o", "jsonpath={.status.nodeInfo.containerRuntimeVersion}"]);
    assert!(runtime.starts_with("containerd://"), "{runtime}");
    assert_eq!(
        get(&c, &["get", "lease", "-n", "kube-node-lease", "node-1", "-o", "jsonpath={.spec.holderIdentity}"]),
        "node-1"
    );

    // A pod runs and says hello.
    c.ok(&[
        "run",
        "hello",
        "--image=busybox:1.36",
        "--restart=Never",
        "--command",
        "--",
        "sh",
        "-c",
        "echo hello; sleep 3600",
    ]);
    wait_until("hello Running", Duration::from_secs(60), || {
        let phase = get(&c, &["get", "pod", "hello", "-o", "jsonpath={.status.phase}"]);
        (phase == "Running").then_some(phase)
    });
    let ip = get(&c, &["get", "pod", "hello", "-o", "jsonpath={.status.podIP}"]);
    assert!(ip.starts_with("10.42.0."), "pod IP from the node's podCIDR: {ip}");
    // The kubelet's lifecycle events, in upstream's words.
    wait_event(&c, "hello", "Normal Pulled: Container image \"busybox:1.36\" already present on machine");
    wait_event(&c, "hello", "Normal Created: Created container: hello");
    wait_event(&c, "hello", "Normal Started: Started container hello");
    assert_eq!(get(&c, &["get", "pod", "hello", "-o", "jsonpath={.status.containerStatuses[0].ready}"]), "true");
    let uid = get(&c, &["get", "pod", "hello", "-o", "jsonpath={.metadata.uid}"]);
    let log = c.data_dir().join(format!("agent/pods/default_hello_{uid}/hello/0.log"));
    let text = wait_until("the container's log", Duration::from_secs(30), || {
        std::fs::read_to_string(&log).ok().filter(|t| t.contains("stdout F hello"))
    });
    assert!(text.lines().any(|l| l.ends_with(" stdout F hello")), "{text}");
    assert_eq!(ctr(&socket, &["tasks", "ls", "-q"]).lines().count(), 2, "sandbox and container run");
    // kubectl logs: the API server proxies pods/log to the kubelet on 10250.
    assert_eq!(c.ok(&["logs", "hello"]), "hello\n");
    assert_eq!(c.ok(&["logs", "hello", "--tail=1", "-c", "hello"]), "hello\n");
    // The kubelet itself refuses callers without a cluster client certificate.
    let anonymous = netns
        .command("curl")
        .args(["-sk", "--max-time", "5", "https://127.0.0.1:10250/containerLogs/default/hello/hello"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&anonymous.stdout).contains("hello"), "no logs without a client certificate");
    let stamped = c.ok(&["logs", "hello", "--timestamps"]);
    assert!(stamped.ends_with("Z hello\n"), "{stamped}");

    // Init containers, emptyDir, configMap volume, env from a Secret and a fieldRef.
    c.ok(&["apply", "-f", &c.manifest("full.yaml", FULL_POD)]);
    wait_until("full Running", Duration::from_secs(60), || {
        let phase = get(&c, &["get", "pod", "full", "-o", "jsonpath={.status.phase}"]);
        (phase == "Running").then_some(phase)
    });
    assert_eq!(
        get(&c, &["get", "pod", "full", "-o", "jsonpath={.status.initContainerStatuses[0].state.terminated.reason}"]),
        "Completed"
    );
    let uid = get(&c, &["get", "pod", "full", "-o", "jsonpath={.metadata.uid}"]);
    let log = c.data_dir().join(format!("agent/pods/default_full_{uid}/main/0.log"));
    let text = wait_until("the full pod's output", Duration::from_secs(30), || {
        std::fs::read_to_string(&log).ok().filter(|t| t.contains("pass="))
    });
    for want in ["stdout F init-ran", "stdout F hi from a configmap", "stdout F pass=hunter2 pod=full"] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    assert_eq!(c.ok(&["logs", "full", "-c", "main"]), "init-ran\nhi from a configmap\npass=hunter2 pod=full\n");
    assert_eq!(c.ok(&["logs", "full", "-c", "init"]), "");
    // downwardAPI and projected (configMap, secret, downwardAPI) volumes.
    wait_until("the views container's output", Duration::from_secs(30), || {
        let out = c.ok(&["logs", "full", "-c", "views"]);
        (out == "full\nhi from a configmap\nhunter2\ndefault\n").then_some(out)
    });

    // A container that keeps failing is restarted with back-off.
    c.ok(&[
        "run",
        "crash",
        "--image=busybox:1.36",
        "--image-pull-policy=Never",
        "--command",
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    wait_until("crash in CrashLoopBackOff", Duration::from_secs(60), || {
        let reason =
            get(&c, &["get", "pod", "crash", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}"]);
        (reason == "CrashLoopBackOff").then_some(reason)
    });
    let code = get(
        &c,
        &["get", "pod", "crash", "-o", "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}"],
    );
    assert_eq!(code, "3");
    let crash_uid = get(&c, &["get", "pod", "crash", "-o", "jsonpath={.metadata.uid}"]);
    wait_event(
        &c,
        "crash",
        &format!("Warning BackOff: Back-off restarting failed container crash in pod crash_default({crash_uid})"),
    );

    // Probes: readiness decides `ready`, a failing liveness probe restarts.
    c.ok(&["apply", "-f", &c.manifest("probed.yaml", PROBED_POD)]);
    wait_until("probed/good ready", Duration::from_secs(60), || {
        let r = get(
            &c,
            &["get", "pod", "probed", "-o", r#"jsonpath={.status.containerStatuses[?(@.name=="good")].ready}"#],
        );
        (r == "true").then_some(r)
    });
    let never =
        get(&c, &["get", "pod", "probed", "-o", r#"jsonpath={.status.containerStatuses[?(@.name=="never")].ready}"#]);
    assert_eq!(never, "false", "a failing readiness probe keeps the container unready");
    let ready = get(&c, &["get", "pod", "probed", "-o", r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#]);
    assert_eq!(ready, "False");
    wait_until("probed/flaky restarted by its liveness probe", Duration::from_secs(90), || {
        let n = get(
            &c,
            &["get", "pod", "probed", "-o", r#"jsonpath={.status.containerStatuses[?(@.name=="flaky")].restartCount}"#],
        );
        (n.parse::<u32>().unwrap_or(0) >= 1).then_some(n)
    });
    // `false` and `test` print nothing: upstream's message ends at the colon.
    wait_event(&c, "probed", "Warning Unhealthy: Readiness probe failed: ");
    wait_event(&c, "probed", "Warning Unhealthy: Liveness probe failed: ");
    wait_event(&c, "probed", "Normal Killing: Container flaky failed liveness probe, will be restarted");
    // A sandbox that dies is replaced (restartPolicy Always), and the pod says so.
    let sandbox = sandboxes(&socket, "probed");
    assert_eq!(sandbox.lines().count(), 1, "probed's one sandbox: {sandbox}");
    let tasks = ctr(&socket, &["tasks", "ls"]);
    let pid = tasks
        .lines()
        .find_map(|l| l.strip_prefix(sandbox.as_str()).and_then(|rest| rest.split_whitespace().next()))
        .unwrap_or_else(|| panic!("no task for sandbox {sandbox}: {tasks}"));
    assert!(Command::new("kill").args(["-9", pid]).status().unwrap().success());
    wait_event(&c, "probed", "Normal SandboxChanged: Pod sandbox changed, it will be killed and re-created.");
    wait_until("probed Running in a new sandbox", Duration::from_secs(60), || {
        let now = sandboxes(&socket, "probed");
        let phase = get(&c, &["get", "pod", "probed", "-o", "jsonpath={.status.phase}"]);
        (now.lines().any(|id| id != sandbox) && phase == "Running").then_some(())
    });

    c.ok(&["delete", "pod", "full", "crash", "probed", "--grace-period=5", "--timeout=60s"]);

    // Delete: the agent stops the container, removes the sandbox, then the pod.
    c.ok(&["delete", "pod", "hello", "--grace-period=5", "--timeout=60s"]);
    assert!(get(&c, &["get", "pods", "-o", "name"]).is_empty());
    wait_event(&c, "hello", "Normal Killing: Stopping container hello");
    wait_until("no containers left", Duration::from_secs(30), || {
        let left = ctr(&socket, &["containers", "ls", "-q"]);
        left.is_empty().then_some(left)
    });
}

const FULL_POD: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {greeting: "hi from a configmap"}
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Pod
metadata: {name: full}
spec:
  restartPolicy: Never
  volumes:
  - {name: work, emptyDir: {}}
  - {name: cfg, configMap: {name: app-config}}
  - name: info
    downwardAPI:
      items: [{path: name, fieldRef: {fieldPath: metadata.name}}]
  - name: proj
    projected:
      sources:
      - configMap: {name: app-config, items: [{key: greeting, path: greeting.txt}]}
      - secret: {name: app-secret}
      - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}
  initContainers:
  - name: init
    image: busybox:1.36
    command: ["sh", "-c", "echo init-ran > /work/marker"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "cat /work/marker; cat /etc/app/greeting; echo; echo pass=$PASSWORD pod=$POD_NAME; sleep 3600"]
    env:
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: app-secret, key: password}}}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    volumeMounts:
    - {name: work, mountPath: /work}
    - {name: cfg, mountPath: /etc/app}
  - name: views
    image: busybox:1.36
    command: ["sh", "-c", "cat /info/name; echo; cat /proj/greeting.txt; echo; cat /proj/password; echo; cat /proj/ns; echo; sleep 3600"]
    volumeMounts:
    - {name: info, mountPath: /info}
    - {name: proj, mountPath: /proj}
"#;

const PROBED_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: good
    image: busybox:1.36
    command: ["sleep", "3600"]
    readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
  - name: never
    image: busybox:1.36
    command: ["sleep", "3600"]
    readinessProbe: {exec: {command: ["false"]}, periodSeconds: 1, failureThreshold: 1}
  - name: flaky
    image: busybox:1.36
    command: ["sh", "-c", "touch /tmp/alive; sleep 3; rm /tmp/alive; sleep 3600"]
    livenessProbe: {exec: {command: ["test", "-e", "/tmp/alive"]}, periodSeconds: 1, failureThreshold: 1}
"#;
