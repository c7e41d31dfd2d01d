//! Container lifecycle on a real node, inside a network namespace the test
//! creates (loopback only): postStart and preStop hooks (exec and httpGet), the
//! graceful termination order (preStop, then SIGTERM, then SIGKILL after the
//! grace period), and a crash-restart of `skiff server` with its agent (an API
//! outage too) that leaves the running containers as they were; sidecars (init
//! containers with `restartPolicy: Always`) start in order, are restarted when
//! they exit, gate readiness and stop after the app container; a static pod
//! from the manifest directory runs, is mirrored into the API, survives the
//! restart, comes back when its mirror is deleted, restarts when its file
//! changes and stops when it is removed; a sandbox that cannot be created (no
//! pause image) is a `FailedCreatePodSandBox` event and retried. Needs root,
//! containerd, runc, the CNI plugins and busybox-static (scripts/deps).

mod common;

use std::process::Command;
use std::time::Duration;

use common::node::{containerd_with_images, get, wait_until};
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
    let _cleanup = containerd_with_images(&c);

    // The agent makes its default manifest directory.
    let manifests = c.data_dir().join("agent/manifests");
    assert!(manifests.is_dir(), "{} made at start", manifests.display());
    let static_log = c.data_dir().join("static-log");
    std::fs::create_dir_all(&static_log).unwrap();
    let static_pod = STATIC_POD.replace("LOG_DIR", &static_log.display().to_string());
    let static_file = manifests.join("static-web.yaml");
    std::fs::write(&static_file, &static_pod).unwrap();
    static_pod_is_mirrored(&c);

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
    assert_eq!(before.matches("containerd://").count(), 5, "{before}");
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

    static_pod_follows_its_file(&c, &socket, &static_file, &static_pod, &static_log.join("log"));

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

    // Sidecars: `second` starts only once `side`'s startup probe passed;
    // `flaky` exits once and is restarted; the pod is Ready once every
    // sidecar is; on delete the app container stops before the sidecars.
    let manifest = SIDECARS.replace("HOOKS_DIR", &hooks_dir.display().to_string());
    c.ok(&["apply", "-f", &c.manifest("sidecars.yaml", &manifest)]);
    let init_statuses =
        "jsonpath={range .status.initContainerStatuses[*]}{.name}={.started}/{.ready}/{.restartCount} {end}";
    wait_until("the sidecar pod Ready", Duration::from_secs(90), || {
        let ready =
            get(&c, &["get", "pod", "sidecars", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"]);
        (ready == "True").then_some(ready)
    });
    let statuses = get(&c, &["get", "pod", "sidecars", "-o", init_statuses]);
    assert_eq!(
        statuses.trim(),
        "first=false/true/0 side=true/true/0 flaky=true/true/1 second=false/true/0",
        "{statuses}"
    );
    let order = hooks_dir.join("sidecars");
    assert_eq!(std::fs::read_to_string(&order).unwrap(), "first\nside-up\nsecond\nmain\n", "start order");
    c.ok(&["delete", "pod", "sidecars", "--wait=false"]);
    gone(&c, "sidecars", Duration::from_secs(60));
    assert_eq!(
        std::fs::read_to_string(&order).unwrap(),
        "first\nside-up\nsecond\nmain\nmain-term\nside-term\n",
        "the app container stops before its sidecar"
    );

    sandbox_failures_are_events_and_retried(&c, &socket);
}

const STATIC_MIRROR: &str = "static-web-node-1";

/// The static pod runs and its mirror pod shows it, as upstream's.
fn static_pod_is_mirrored(c: &Cluster) {
    running(c, STATIC_MIRROR);
    let meta = get(
        c,
        &[
            "get",
            "pod",
            STATIC_MIRROR,
            "-o",
            "jsonpath={.metadata.annotations.kubernetes\\.io/config\\.source} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.metadata.annotations.kubernetes\\.io/config\\.mirror}",
        ],
    );
    let parts: Vec<&str> = meta.split(' ').collect();
    assert_eq!(&parts[..2], ["file", "Node/node-1"], "{meta}");
    assert_eq!(parts[2].len(), 32, "the mirror carries the static pod's hash: {meta}");
}

/// Deleting the mirror brings it back (the pod keeps running); an edited
/// file restarts the pod, the new version only once the old one has stopped;
/// a removed file stops it.
fn static_pod_follows_its_file(
    c: &Cluster,
    socket: &std::path::Path,
    file: &std::path::Path,
    manifest: &str,
    log: &std::path::Path,
) {
    let field = |f: &str| get(c, &["get", "pod", STATIC_MIRROR, "-o", &format!("jsonpath={{{f}}}")]);
    let (mirror_uid, container) = (field(".metadata.uid"), field(".status.containerStatuses[0].containerID"));
    assert!(container.starts_with("containerd://"), "{container}");
    c.ok(&["delete", "pod", STATIC_MIRROR, "--wait=false"]);
    wait_until("the mirror pod recreated", Duration::from_secs(60), || {
        let uid = field(".metadata.uid");
        let id = field(".status.containerStatuses[0].containerID");
        (!uid.is_empty() && uid != mirror_uid && id == container).then_some(())
    });
    std::fs::write(file, manifest.replace("value: \"1\"", "value: \"2\"")).unwrap();
    wait_until("the edited static pod", Duration::from_secs(90), || {
        let out = c.kubectl(&["exec", STATIC_MIRROR, "--", "sh", "-c", "echo $V"]);
        (String::from_utf8_lossy(&out.stdout).trim() == "2").then_some(())
    });
    let edited = wait_until("the edited pod's container in the mirror's status", Duration::from_secs(30), || {
        let id = field(".status.containerStatuses[0].containerID");
        (id.starts_with("containerd://") && id != container).then_some(id)
    });
    // Each version logs its start and its SIGTERM: the old one stopped first.
    let lines = std::fs::read_to_string(log).unwrap();
    assert_eq!(lines.lines().collect::<Vec<_>>(), ["start 1", "stop 1", "start 2"], "{lines}");
    std::fs::remove_file(file).unwrap();
    gone(c, STATIC_MIRROR, Duration::from_secs(60));
    wait_until("the static pod's container removed", Duration::from_secs(60), || {
        let ids = ctr(socket, &["containers", "ls", "-q"]);
        (!ids.contains(edited.trim_start_matches("containerd://"))).then_some(())
    });
}

/// Runs `ctr` on the agent's containerd (CRI's namespace); its stdout.
fn ctr(socket: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("ctr").arg("--address").arg(socket).args(["-n", "k8s.io"]).args(args).output().unwrap();
    assert!(out.status.success(), "ctr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Without the pause image no sandbox can be made: the pod says so in a
/// `FailedCreatePodSandBox` event, and starts once the image is back.
fn sandbox_failures_are_events_and_retried(c: &Cluster, socket: &std::path::Path) {
    ctr(socket, &["images", "rm", "skiff.local/pause:3.10"]);
    c.ok(&["run", "nopause", "--image=busybox:1.36", "--restart=Never", "--", "sleep", "3600"]);
    let events = "jsonpath={range .items[?(@.reason==\"FailedCreatePodSandBox\")]}{.involvedObject.name}: {.type}: {.message}{\"\\n\"}{end}";
    let seen = wait_until("a FailedCreatePodSandBox event", Duration::from_secs(60), || {
        let e = get(c, &["get", "events", "-o", events]);
        e.contains("nopause: Warning: Failed to create pod sandbox: ").then_some(e)
    });
    assert!(seen.contains("pause"), "the runtime's message names the image: {seen}");
    let reason = get(
        c,
        &[
            "get",
            "pod",
            "nopause",
            "-o",
            "jsonpath={.status.phase} {.status.containerStatuses[0].state.waiting.reason}",
        ],
    );
    assert_eq!(reason, "Pending ContainerCreating");
    let tar = c.data_dir().join("pause.tar");
    let out = Command::new(SKIFF).args(["image", "import", "--address"]).arg(socket).arg(&tar).output().unwrap();
    assert!(out.status.success(), "image import: {}", String::from_utf8_lossy(&out.stderr));
    running(c, "nopause");
    c.ok(&["delete", "pod", "nopause", "--grace-period=1"]);
}

const STATIC_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: static-web, labels: {tier: static}}
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - {name: log, hostPath: {path: LOG_DIR}}
  containers:
  - name: web
    image: busybox:1.36
    env: [{name: V, value: "1"}]
    volumeMounts: [{name: log, mountPath: /log}]
    command: ["sh", "-c", "trap 'echo stop $V >> /log/log; exit 0' TERM; echo start $V >> /log/log; while true; do sleep 1; done"]
"#;

const SIDECARS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: sidecars}
spec:
  terminationGracePeriodSeconds: 20
  volumes:
  - {name: hooks, hostPath: {path: HOOKS_DIR}}
  initContainers:
  - name: first
    image: busybox:1.36
    command: ["sh", "-c", "echo first >> /hooks/sidecars"]
    volumeMounts: [{name: hooks, mountPath: /hooks}]
  - name: side
    image: busybox:1.36
    restartPolicy: Always
    command: ["sh", "-c", "trap 'echo side-term >> /hooks/sidecars; exit 0' TERM; sleep 2; echo side-up >> /hooks/sidecars; touch /tmp/up; while true; do sleep 1; done"]
    startupProbe: {exec: {command: ["test", "-f", "/tmp/up"]}, periodSeconds: 1}
    volumeMounts: [{name: hooks, mountPath: /hooks}]
  - name: flaky
    image: busybox:1.36
    restartPolicy: Always
    command: ["sh", "-c", "trap 'exit 0' TERM; [ -f /hooks/flaky ] || { touch /hooks/flaky; exit 1; }; while true; do sleep 1; done"]
    volumeMounts: [{name: hooks, mountPath: /hooks}]
  - name: second
    image: busybox:1.36
    command: ["sh", "-c", "echo second >> /hooks/sidecars"]
    volumeMounts: [{name: hooks, mountPath: /hooks}]
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "trap 'sleep 2; echo main-term >> /hooks/sidecars; exit 0' TERM; echo main >> /hooks/sidecars; while true; do sleep 1; done"]
    volumeMounts: [{name: hooks, mountPath: /hooks}]
"#;

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
