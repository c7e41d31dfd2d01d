//! The scheduler against a running `skiff server`, with Node objects only (no
//! kubelets): constraints decide where pods land, unschedulable pods are told why
//! and placed once a node fits, preemption evicts, other schedulers' pods are left
//! alone, and `skiff scheduler` runs on its own.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Cluster, SKIFF};

/// Polls kubectl until `done` accepts its output; panics after a minute (a
/// guard against hangs, not a timing assertion).
fn wait_for(c: &Cluster, args: &[&str], what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = c.kubectl(args);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() && done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: last output {text:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn node_of(c: &Cluster, pod: &str) -> String {
    wait_for(c, &["get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"], &format!("{pod} to be bound"), |n| {
        !n.is_empty()
    })
}

/// Creates a Node with labels, taints and allocatable resources (status is a
/// subresource, so it is written separately, as a kubelet would).
fn add_node(c: &Cluster, name: &str, labels: &[(&str, &str)], taints: &str, allocatable: &str) {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n"
    );
    for (k, v) in labels {
        yaml.push_str(&format!("    {k}: \"{v}\"\n"));
    }
    if !taints.is_empty() {
        yaml.push_str(&format!("spec:\n  taints: {taints}\n"));
    }
    c.ok(&["apply", "-f", &c.manifest(&format!("node-{name}.yaml"), &yaml)]);
    let status = format!(r#"{{"status":{{"allocatable":{allocatable},"capacity":{allocatable}}}}}"#);
    c.ok(&["patch", "node", name, "--subresource=status", "--type=merge", "-p", &status]);
}

fn apply(c: &Cluster, name: &str, yaml: &str) {
    c.ok(&["apply", "-f", &c.manifest(name, yaml)]);
}

const SMALL: &str = r#"{"cpu":"4","memory":"8Gi","pods":"20"}"#;

#[test]
fn pods_land_where_their_constraints_say() {
    let c = Cluster::start();
    add_node(&c, "ssd", &[("disk", "ssd"), ("zone", "a")], "", SMALL);
    add_node(&c, "hdd", &[("disk", "hdd"), ("zone", "b")], "", SMALL);
    add_node(
        &c,
        "gpu",
        &[("zone", "c")],
        r#"[{"key":"gpu","value":"true","effect":"NoSchedule"}]"#,
        r#"{"cpu":"4","memory":"8Gi","pods":"20","nvidia.com/gpu":"2"}"#,
    );
    apply(
        &c,
        "pods.yaml",
        r#"
apiVersion: v1
kind: Pod
metadata: {name: selector}
spec:
  nodeSelector: {disk: ssd}
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: affinity}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: zone, operator: In, values: [b]}]
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: trainer}
spec:
  tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]
  containers:
  - name: c
    image: busybox
    resources: {limits: {nvidia.com/gpu: "1"}}
"#,
    );
    assert_eq!(node_of(&c, "selector"), "ssd");
    assert_eq!(node_of(&c, "affinity"), "hdd");
    assert_eq!(node_of(&c, "trainer"), "gpu", "only the gpu node has the extended resource");

    // Three replicas that must not share a host, and three that spread over zones.
    let mut many = String::new();
    for i in 0..3 {
        many.push_str(&format!(
            r#"---
apiVersion: v1
kind: Pod
metadata: {{name: web-{i}, labels: {{app: web}}}}
spec:
  tolerations: [{{key: gpu, operator: Exists}}]
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {{matchLabels: {{app: web}}}}
        topologyKey: kubernetes.io/hostname
  containers: [{{name: c, image: busybox}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: spread-{i}, labels: {{app: spread}}}}
spec:
  tolerations: [{{key: gpu, operator: Exists}}]
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: zone
    whenUnsatisfiable: DoNotSchedule
    labelSelector: {{matchLabels: {{app: spread}}}}
  containers: [{{name: c, image: busybox}}]
"#
        ));
    }
    apply(&c, "many.yaml", &many);
    let mut web: Vec<String> = (0..3).map(|i| node_of(&c, &format!("web-{i}"))).collect();
    web.sort();
    assert_eq!(web, ["gpu", "hdd", "ssd"], "anti-affinity puts each replica on its own host");
    let mut spread: Vec<String> = (0..3).map(|i| node_of(&c, &format!("spread-{i}"))).collect();
    spread.sort();
    assert_eq!(spread, ["gpu", "hdd", "ssd"], "one per zone keeps the skew at most 1");

    // A fourth anti-affine replica has nowhere to go, and says so.
    apply(
        &c,
        "web-3.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web-3, labels: {app: web}}\nspec:\n  tolerations: [{key: gpu, operator: Exists}]\n  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: web}}\n        topologyKey: kubernetes.io/hostname\n  containers: [{name: c, image: busybox}]\n",
    );
    let message = wait_for(
        &c,
        &["get", "pod", "web-3", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}"],
        "web-3's condition",
        |m| !m.is_empty(),
    );
    assert!(
        message.starts_with("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."),
        "{message}"
    );
}

#[test]
fn unschedulable_pod_gets_condition_and_event_then_schedules_on_a_new_node() {
    let c = Cluster::start();
    add_node(&c, "small", &[], "", SMALL);
    add_node(
        &c,
        "tainted",
        &[],
        r#"[{"key":"dedicated","value":"db","effect":"NoSchedule"}]"#,
        r#"{"cpu":"64","memory":"8Gi","pods":"20"}"#,
    );
    apply(
        &c,
        "big.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: big}\nspec:\n  containers:\n  - {name: c, image: busybox, resources: {requests: {cpu: \"16\"}}}\n",
    );
    let condition = wait_for(
        &c,
        &["get", "pod", "big", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")]}"],
        "the PodScheduled condition",
        |s| s.contains("Unschedulable"),
    );
    let want = "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: db}. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.";
    assert!(condition.contains(want), "{condition}");
    assert!(condition.contains(r#""status":"False""#), "{condition}");
    // The scheduler names itself (User-Agent), so it owns the condition it wrote.
    let managers = c.ok(&[
        "get",
        "pod",
        "big",
        "--show-managed-fields",
        "-o",
        "jsonpath={range .metadata.managedFields[*]}{.manager}/{.subresource}{\" \"}{end}",
    ]);
    assert!(managers.split_whitespace().any(|m| m == "kube-scheduler/status"), "{managers}");
    let events = wait_for(
        &c,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=big",
            "-o",
            "jsonpath={range .items[*]}{.reason}|{.type}|{.source.component}|{.message}{\"\\n\"}{end}",
        ],
        "the FailedScheduling event",
        |e| e.contains("FailedScheduling"),
    );
    assert!(events.contains(&format!("FailedScheduling|Warning|default-scheduler|{want}")), "{events}");

    add_node(&c, "large", &[], "", r#"{"cpu":"32","memory":"64Gi","pods":"110"}"#);
    assert_eq!(node_of(&c, "big"), "large");
    let scheduled = wait_for(
        &c,
        &["get", "events", "--field-selector", "involvedObject.name=big", "-o", "jsonpath={.items[*].reason}"],
        "the Scheduled event",
        |e| e.split_whitespace().any(|r| r == "Scheduled"),
    );
    assert!(scheduled.contains("FailedScheduling"), "{scheduled}");
    let status =
        c.ok(&["get", "pod", "big", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].status}"]);
    assert_eq!(status, "True", "the binding marks the pod scheduled");
}

#[test]
fn preemption_evicts_a_lower_priority_pod() {
    let c = Cluster::start();
    add_node(&c, "only", &[], "", r#"{"cpu":"2","memory":"4Gi","pods":"10"}"#);
    apply(
        &c,
        "low.yaml",
        r#"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
value: 10
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: v1
kind: Pod
metadata: {name: victim}
spec:
  priorityClassName: low
  containers: [{name: c, image: busybox, resources: {requests: {cpu: "1500m"}}}]
"#,
    );
    assert_eq!(node_of(&c, "victim"), "only");
    apply(
        &c,
        "vip.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: vip}\nspec:\n  priorityClassName: high\n  containers:\n  - {name: c, image: busybox, resources: {requests: {cpu: \"1\"}}}\n",
    );
    let nominated =
        wait_for(&c, &["get", "pod", "vip", "-o", "jsonpath={.status.nominatedNodeName}"], "a nomination", |n| {
            !n.is_empty()
        });
    assert_eq!(nominated, "only");
    // Without a kubelet the victim stays Terminating; the eviction is what counts.
    let victim = wait_for(
        &c,
        &[
            "get",
            "pod",
            "victim",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}|{.status.conditions[?(@.type==\"DisruptionTarget\")].reason}",
            "--ignore-not-found",
        ],
        "the victim's eviction",
        |v| v.is_empty() || v.starts_with('2'),
    );
    assert!(victim.is_empty() || victim.ends_with("|PreemptionByScheduler"), "{victim}");
    let preempted = wait_for(
        &c,
        &["get", "events", "--field-selector", "involvedObject.name=victim", "-o", "jsonpath={.items[*].reason}"],
        "the Preempted event",
        |e| e.contains("Preempted"),
    );
    assert!(preempted.contains("Scheduled"), "{preempted}");
    // Once the victim is gone (a kubelet would confirm it), the preemptor takes its place.
    c.ok(&["delete", "pod", "victim", "--grace-period=0", "--force", "--ignore-not-found"]);
    assert_eq!(node_of(&c, "vip"), "only");
}

/// `skiff scheduler` as its own process against the test's server.
struct StandaloneScheduler(Child);

impl StandaloneScheduler {
    fn start(c: &Cluster, config: Option<&str>) -> StandaloneScheduler {
        let mut cmd = Command::new(SKIFF);
        cmd.arg("scheduler").arg("--kubeconfig").arg(&c.kubeconfig).stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        StandaloneScheduler(cmd.spawn().unwrap())
    }
}

impl Drop for StandaloneScheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/custom-scheduler");

#[test]
fn pods_naming_another_scheduler_wait_for_it() {
    let c = Cluster::start();
    add_node(&c, "n1", &[], "", SMALL);
    c.ok(&["apply", "-f", &format!("{EXAMPLE}/pod.yaml")]);
    apply(
        &c,
        "plain.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: plain}\nspec:\n  containers: [{name: c, image: busybox}]\n",
    );
    // The built-in scheduler saw both pods (one watch, in order) and placed only its own.
    assert_eq!(node_of(&c, "plain"), "n1");
    let custom = c.ok(&["get", "pod", "packed", "-o", "jsonpath={.spec.nodeName}|{.status.conditions}"]);
    assert_eq!(custom, "|", "default-scheduler must not touch a bin-packer pod");

    let _packer = StandaloneScheduler::start(&c, Some(&format!("{EXAMPLE}/scheduler-config.yaml")));
    assert_eq!(node_of(&c, "packed"), "n1");
    let source = wait_for(
        &c,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=packed",
            "-o",
            "jsonpath={.items[*].source.component}",
        ],
        "bin-packer's event",
        |s| !s.is_empty(),
    );
    assert_eq!(source, "bin-packer");
}

#[test]
fn disabled_scheduler_leaves_pods_to_a_standalone_one() {
    let c = Cluster::start_with(&["--disable-scheduler"]);
    assert!(!c.startup.iter().any(|l| l.contains("scheduler started")), "{:?}", c.startup);
    add_node(&c, "n1", &[], "", SMALL);
    apply(
        &c,
        "p.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: busybox}]\n",
    );
    let _scheduler = StandaloneScheduler::start(&c, None);
    assert_eq!(node_of(&c, "p"), "n1");
}

#[test]
fn bad_scheduler_config_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "profiles:\n- plugins:\n    filter:\n      enabled:\n      - name: NoSuchPlugin\n")
        .unwrap();
    let out = Command::new(SKIFF)
        .args(["server", "--bind-address", "127.0.0.1", "--https-listen-port", "0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--scheduler-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown plugin \"NoSuchPlugin\""), "{stderr}");
}

#[test]
fn pods_follow_their_node_local_volumes() {
    let c = Cluster::start();
    add_node(&c, "n1", &[], "", SMALL);
    add_node(&c, "n2", &[], "", SMALL);
    apply(
        &c,
        "storage.yaml",
        r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: local-n2}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: local
  local: {path: /mnt/disk}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [n2]}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: local
  volumeName: local-n2
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: db}
spec:
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: orphan}
spec:
  volumes: [{name: data, persistentVolumeClaim: {claimName: nowhere}}]
  containers: [{name: c, image: busybox}]
"#,
    );
    assert_eq!(node_of(&c, "db"), "n2", "the pod goes where its local volume is");
    let message = wait_for(
        &c,
        &["get", "pod", "orphan", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}"],
        "orphan's condition",
        |m| !m.is_empty(),
    );
    assert_eq!(
        message,
        "0/2 nodes are available: persistentvolumeclaim \"nowhere\" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
}

/// `pods/binding` written by hand (as a custom scheduler would): the checks hold
/// whatever copy of the pod the server starts from (bindings start from the watch
/// cache's copy, which can lag the store).
#[test]
fn bindings_are_checked_against_the_current_pod() {
    let c = Cluster::start();
    let pod = |name: &str, extra: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{extra}spec:\n  schedulerName: by-hand\n  containers:\n  - name: c\n    image: busybox\n")
    };
    apply(&c, "manual.yaml", &pod("manual", ""));
    let binding = |pod: &str, node: &str, uid: &str| {
        let json = format!(
            r#"{{"apiVersion":"v1","kind":"Binding","metadata":{{"name":"{pod}","uid":"{uid}"}},"target":{{"apiVersion":"v1","kind":"Node","name":"{node}"}}}}"#
        );
        c.manifest(&format!("binding-{pod}-{node}.json"), &json)
    };
    let path = |pod: &str| format!("/api/v1/namespaces/default/pods/{pod}/binding");

    let wrong_uid = c.fails(&["create", "--raw", &path("manual"), "-f", &binding("manual", "n1", "not-the-uid")]);
    assert!(wrong_uid.contains("the UID in the binding does not match the pod"), "{wrong_uid}");

    let uid = c.ok(&["get", "pod", "manual", "-o", "jsonpath={.metadata.uid}"]);
    // A dry run checks and writes nothing.
    let dry = format!("{}?dryRun=All", path("manual"));
    c.ok(&["create", "--raw", &dry, "-f", &binding("manual", "n2", &uid)]);
    assert_eq!(c.ok(&["get", "pod", "manual", "-o", "jsonpath={.spec.nodeName}"]), "");
    let dry_wrong = c.fails(&["create", "--raw", &dry, "-f", &binding("manual", "n2", "not-the-uid")]);
    assert!(dry_wrong.contains("the UID in the binding does not match the pod"), "{dry_wrong}");
    c.ok(&["create", "--raw", &path("manual"), "-f", &binding("manual", "n1", &uid)]);
    assert_eq!(c.ok(&["get", "pod", "manual", "-o", "jsonpath={.status.conditions[0].type}"]), "PodScheduled");
    // At once, before the watch cache has necessarily seen the first binding.
    let again = c.fails(&["create", "--raw", &path("manual"), "-f", &binding("manual", "n2", "")]);
    assert!(again.contains(r#"pod manual is already assigned to node "n1""#), "{again}");
    assert_eq!(c.ok(&["get", "pod", "manual", "-o", "jsonpath={.spec.nodeName}"]), "n1");

    apply(&c, "leaving.yaml", &pod("leaving", "  finalizers: [example.com/hold]\n"));
    c.ok(&["delete", "pod", "leaving", "--wait=false"]);
    let deleting = c.fails(&["create", "--raw", &path("leaving"), "-f", &binding("leaving", "n1", "")]);
    assert!(deleting.contains("is being deleted, cannot be assigned to a host"), "{deleting}");
    c.ok(&["patch", "pod", "leaving", "--type=json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers"}]"#]);

    // A binding's annotations land on the pod, next to the pod's own (upstream).
    apply(&c, "noted.yaml", &pod("noted", "  annotations:\n    mine: kept\n"));
    let noted = c.manifest(
        "binding-noted.json",
        r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"noted","annotations":{"by-binding":"yes"}},"target":{"apiVersion":"v1","kind":"Node","name":"n1"}}"#,
    );
    c.ok(&["create", "--raw", &path("noted"), "-f", &noted]);
    let annotations = c.ok(&["get", "pod", "noted", "-o", "jsonpath={.metadata.annotations}"]);
    assert!(annotations.contains(r#""by-binding":"yes""#) && annotations.contains(r#""mine":"kept""#), "{annotations}");
    assert_eq!(c.ok(&["get", "pod", "noted", "-o", "jsonpath={.spec.nodeName}"]), "n1");
}
