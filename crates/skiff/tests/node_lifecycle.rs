//! Container lifecycle on a real node, inside a network namespace the test
//! creates (loopback only): postStart and preStop hooks (exec and httpGet), the
//! graceful termination order (preStop, then SIGTERM, then SIGKILL after the
//! grace period), and a crash-restart of `skiff server` with its agent (an API
//! outage too) that leaves the running containers as they were. Needs root,
//! containerd, runc, the CNI plugins and busybox-static (scripts/deps).

mod common;

use std::process::Command;
use std::time::Duration;

use common::node::{get, wait_until, Sandboxes};
use common::{Cluster, SKIFF};
use skiff_kubelet::testing::{require_node_prerequisites, NetNs};

fn running(c: &Cluster, pod: &str) {
    wait_until(&format!("{pod} Running"), Duration::from_secs(90), || {
        let phase = get(c, &["get", "pod", pod, "-o", "jsonpath={.status.phase}"]);
        (phase == "Running").then_some(phase)
    });
}

fn gone(c: &Cluster, pod: &str, within: Duration) {
    wait_until(&format!("{pod} gone"), within, || {
        let out = c.kubectl(&["get", "pod", pod, "-o", "name"]);
        String::from_utf8_lossy(&out.stderr).contains("NotFound").then(String::new)
    });
}

#[test]
fn hooks_graceful_termination_and_a_restarted_agent_keeps_its_pods() {
    require_node_prerequisites();
    let netns = NetNs::create("skiff-life");
    let mut c = Cluster::start_in_netns(&netns.name, &["--agent", "--node-name", "node-1"]);
    let socket = c.data_dir().join("agent/containerd/containerd.sock");
    let _cleanup = Sandboxes(socket.clone());
    wait_until("the agent's containerd socket", Duration::from_secs(60), || {
        std::os::unix::net::UnixStream::connect(&socket).ok().map(|_| String::new())
    });
    for image in ["busybox", "pause"] {
        let tar = c.data_dir().join(format!("{image}.tar"));
        let out = Command::new(SKIFF).args(["image", "build", image, "-o"]).arg(&tar).output().unwrap();
        assert!(out.status.success(), "image build: {}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new(SKIFF).args(["image", "import", "--address"]).arg(&socket).arg(&tar).output().unwrap();
        assert!(out.status.success(), "image import: {}", String::from_utf8_lossy(&out.stderr));
    }

    // The httpGet hook's target: a web server that logs every request.
    c.ok(&[
        "run",
        "server",
        "--image=busybox:1.36",
        "--restart=Never",
        "--command",
        "--",
        "sh",
        "-c",
        "mkdir -p /www; httpd -f -vv -p 8080 -h /www",
    ]);
    running(&c, "server");
    let server_ip = get(&c, &["get", "pod", "server", "-o", "jsonpath={.status.podIP}"]);
    let hooks_dir = c.data_dir().join("hooks");
    std::fs::create_dir_all(&hooks_dir).unwrap();
    let manifest = PODS.replace("HOOKS_DIR", &hooks_dir.display().to_string()).replace("SERVER_IP", &server_ip);
    c.ok(&["apply", "-f", &c.manifest("pods.yaml", &manifest)]);
    running(&c, "hooked");
    running(&c, "stubborn");
    let marker = hooks_dir.join("main");
    wait_until("postStart ran", Duration::from_secs(30), || {
        std::fs::read_to_string(&marker).ok().filter(|t| t.contains("poststart"))
    });

    // A crash of the server and its agent (and so an API outage) leaves the
    // containers running: same container ids, no restarts, postStart not rerun.
    let ids = |c: &Cluster| {
        get(c, &["get", "pods", "-o", "jsonpath={range .items[*]}{.status.containerStatuses[*].containerID} {end}"])
    };
    let before = ids(&c);
    assert_eq!(before.matches("containerd://").count(), 4, "{before}");
    c.restart(&["--agent", "--node-name", "node-1"]);
    // The agent is back once its kubelet server answers (the Node's Ready
    // condition is still the one written before the crash).
    wait_until("an exec through the restarted agent", Duration::from_secs(90), || {
        let out = c.kubectl(&["exec", "server", "--", "echo", "still here"]);
        (String::from_utf8_lossy(&out.stdout) == "still here\n").then(String::new)
    });
    // Give the agent a few resyncs to (wrongly) restart anything.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(ids(&c), before, "the same containers after the restart");
    let restarts =
        get(&c, &["get", "pods", "-o", "jsonpath={range .items[*]}{.status.containerStatuses[*].restartCount} {end}"]);
    assert!(restarts.split_whitespace().all(|n| n == "0"), "no restarts: {restarts}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "poststart\n", "postStart ran once");

    // Deleting: preStop hooks first, then SIGTERM.
    c.ok(&["delete", "pod", "hooked", "--wait=false"]);
    gone(&c, "hooked", Duration::from_secs(60));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "poststart\nprestop\nterm\n", "hook, then SIGTERM");
    let log = c.ok(&["logs", "server"]);
    assert!(log.contains("/prestop-hook"), "the httpGet preStop hook reached the server: {log}");

    // A container that ignores SIGTERM is killed once its grace period ends
    // (3 s here; far less than the bound below).
    c.ok(&["delete", "pod", "stubborn", "--wait=false"]);
    gone(&c, "stubborn", Duration::from_secs(45));
    c.ok(&["delete", "pod", "server", "--grace-period=1"]);
}

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: hooked}
spec:
  terminationGracePeriodSeconds: 20
  volumes:
  - {name: hooks, hostPath: {path: HOOKS_DIR}}
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "trap 'echo term >> /hooks/main; exit 0' TERM; while true; do sleep 1; done"]
    volumeMounts: [{name: hooks, mountPath: /hooks}]
    lifecycle:
      postStart: {exec: {command: ["sh", "-c", "echo poststart >> /hooks/main"]}}
      preStop: {exec: {command: ["sh", "-c", "echo prestop >> /hooks/main"]}}
  - name: web-hook
    image: busybox:1.36
    command: ["sleep", "3600"]
    lifecycle:
      preStop: {httpGet: {host: SERVER_IP, port: 8080, path: /prestop-hook}}
---
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
"#;
