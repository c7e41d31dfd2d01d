//! Two nodes, end to end, as docs/joining.md sets them up. The test makes two
//! network namespaces joined by a veth pair (10.99.0.1/24 ↔ 10.99.0.2/24) and
//! nothing else: no default route, so no packet can leave them. In namespace A,
//! `skiff server` with its own agent and a token file; in namespace B,
//! `skiff agent --server https://10.99.0.1:PORT --token ... --certificate-authority
//! ca.crt`, each with its own containerd. Checked, in iptables and nftables mode:
//! - both Nodes Ready, each with its own podCIDR, and each node routes the other's
//!   podCIDR through the other's address (host-gateway, protocol 77);
//! - a pod on node A reaches a pod on node B by its IP, and the pod on B sees the
//!   client pod's address as the source (no masquerade inside the cluster CIDR),
//!   directly and through the Service;
//! - a Service backed only by node-B pods, from a pod on node A: by ClusterIP and
//!   by DNS name (short and full), all three backends answer;
//! - the NodePort on node B's address answers from node A;
//! - a pod on node B resolves and reaches the Service through the cluster DNS,
//!   which runs on node A (kube-dns → 10.99.0.1:53 across the link);
//! - `kubectl logs` of a pod on node B (the API server on A asks B's kubelet).
//!
//! Needs root, containerd, runc, the CNI plugins, busybox-static, iptables, nft.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::node::{get, sh, wait_ready_endpoints, wait_until, Sandboxes};
use common::{Cluster, SKIFF};
use skiff_kubelet::testing::{require_node_prerequisites, NetNs};

const A_IP: &str = "10.99.0.1";
const B_IP: &str = "10.99.0.2";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// The `skiff agent` of node B; killed when the test ends.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Deployment of 3 `httpd` pods that answer with their name, all on node B,
/// behind a NodePort Service; `/cgi-bin/ip` answers with the client's address
/// as the pod sees it.
const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node-b}
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:1.36
        imagePullPolicy: Never
        command: ["sh", "-c", "mkdir -p /www/cgi-bin && hostname > /www/index.html && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: web, port: 80, targetPort: http, nodePort: 30080}]
"#;

/// Runs a pod on `node` whose command is `script`, and returns its logs once it
/// has finished (read through `kubectl logs`, so through that node's kubelet).
fn run_on(c: &Cluster, name: &str, node: &str, script: &str) -> String {
    let yaml = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.36
    imagePullPolicy: Never
    command: ["sh", "-c", {script:?}]
"#
    );
    c.ok(&["apply", "-f", &c.manifest(&format!("{name}.yaml"), &yaml)]);
    wait_until(&format!("{name} finished"), Duration::from_secs(180), || {
        let phase = get(c, &["get", "pod", name, "-o", "jsonpath={.status.phase}"]);
        (phase == "Succeeded" || phase == "Failed").then_some(())
    });
    assert_eq!(get(c, &["get", "pod", name, "-o", "jsonpath={.spec.nodeName}"]), node);
    c.ok(&["logs", name])
}

/// The lines between `== name` and the next `== ` marker of a client's output.
fn section<'a>(logs: &'a str, name: &str) -> Vec<&'a str> {
    let marker = format!("== {name}\n");
    let start = logs.find(&marker).unwrap_or_else(|| panic!("no section {name} in {logs}")) + marker.len();
    let rest = &logs[start..];
    rest[..rest.find("== ").unwrap_or(rest.len())].lines().collect()
}

/// `n` requests to `url`, each printing the answer or `failed`.
fn requests(url: &str, n: u32) -> String {
    // `timeout`, not wget's -T: Debian's static busybox 1.35 wget crashes with -T.
    format!("for i in $(seq {n}); do timeout 5 wget -q -O- {url} 2>&1 || echo failed; done;")
}

fn pods_across_nodes(mode: &str) {
    require_node_prerequisites();
    let short = &mode[..3];
    let (a, b) = (NetNs::create(&format!("skiff-2a-{short}")), NetNs::create(&format!("skiff-2b-{short}")));
    // The link between the two machines; no other route anywhere.
    sh(&a, &["ip", "link", "add", "eth-a", "type", "veth", "peer", "name", "eth-b", "netns", &b.name]);
    sh(&a, &["ip", "addr", "add", &format!("{A_IP}/24"), "dev", "eth-a"]);
    sh(&a, &["ip", "link", "set", "eth-a", "up"]);
    sh(&b, &["ip", "addr", "add", &format!("{B_IP}/24"), "dev", "eth-b"]);
    sh(&b, &["ip", "link", "set", "eth-b", "up"]);

    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), format!("{TOKEN},node-b,node-b,\"system:nodes\"\n")).unwrap();
    let tokens_path = tokens.path().display().to_string();
    let dns = format!("{A_IP}:53");
    let c = Cluster::start_in_netns(
        &a.name,
        &[
            "--agent",
            "--bind-address",
            "0.0.0.0",
            "--token-file",
            &tokens_path,
            "--node-name",
            "node-a",
            "--node-ip",
            A_IP,
            "--proxy-mode",
            mode,
            "--dns-listen",
            &dns,
            "--dns-upstream",
            "127.0.0.1:9",
        ],
    );
    let _a_pods = Sandboxes(c.data_dir().join("agent/containerd/containerd.sock"));

    // Node B joins exactly as docs/joining.md says.
    let b_dir = tempfile::tempdir().unwrap();
    let _b_pods = Sandboxes(b_dir.path().join("containerd/containerd.sock"));
    let log = std::fs::File::create(c.data_dir().join("agent-b.log")).unwrap();
    let _agent = Agent(
        b.command(SKIFF)
            .args(["agent", "--server", &format!("https://{A_IP}:{}", c.port), "--token", TOKEN])
            .arg("--certificate-authority")
            .arg(c.data_dir().join("tls/ca.crt"))
            .args(["--node-ip", B_IP, "--node-name", "node-b", "--proxy-mode", mode, "--data-dir"])
            .arg(b_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let agent_log = || std::fs::read_to_string(c.data_dir().join("agent-b.log")).unwrap_or_default();

    for node in ["node-a", "node-b"] {
        wait_until(&format!("{node} Ready ({})", agent_log()), Duration::from_secs(120), || {
            let s =
                get(&c, &["get", "node", node, "-o", r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#]);
            (s == "True").then_some(())
        });
    }
    let cidr = |node: &str| get(&c, &["get", "node", node, "-o", "jsonpath={.spec.podCIDR}"]);
    let (a_cidr, b_cidr) = (cidr("node-a"), cidr("node-b"));
    assert!(a_cidr.starts_with("10.42.") && b_cidr.starts_with("10.42.") && a_cidr != b_cidr, "{a_cidr} {b_cidr}");
    let internal = |node: &str| {
        get(&c, &["get", "node", node, "-o", r#"jsonpath={.status.addresses[?(@.type=="InternalIP")].address}"#])
    };
    assert_eq!((internal("node-a").as_str(), internal("node-b").as_str()), (A_IP, B_IP));

    // Host-gateway routes, each way.
    for (ns, cidr, via) in [(&a, &b_cidr, B_IP), (&b, &a_cidr, A_IP)] {
        wait_until(&format!("a route to {cidr} via {via}"), Duration::from_secs(60), || {
            let routes = sh(ns, &["ip", "route", "show", "proto", "77"]);
            routes.contains(&format!("{cidr} via {via}")).then_some(())
        });
    }

    c.ok(&["apply", "-f", &c.manifest("web.yaml", WEB)]);
    c.ok(&["rollout", "status", "deployment/web", "--timeout=180s"]);
    let pods: BTreeSet<String> = get(&c, &["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"])
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(pods.len(), 3, "{pods:?}");
    let nodes = get(&c, &["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.nodeName}"]);
    assert!(nodes.split_whitespace().all(|n| n == "node-b"), "{nodes}");
    let pod_ip = get(&c, &["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}"]);
    assert!(pod_ip.starts_with(&b_cidr[..b_cidr.rfind('.').unwrap()]), "{pod_ip} in {b_cidr}");
    let svc_ip = get(&c, &["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    wait_ready_endpoints(&c, "web", 3);

    // From a pod on node A: node B's pod by IP, the Service by ClusterIP and by name.
    let script = format!(
        "echo '== pod'; {pod}echo '== clusterip'; {cip}echo '== short'; {short}echo '== full'; {full}\
         echo '== nodeport'; {np}echo '== source'; {source}echo '== source-svc'; {source_svc}echo '== end'",
        pod = requests(&format!("http://{pod_ip}:8080/"), 3),
        cip = requests(&format!("http://{svc_ip}/"), 30),
        short = requests("http://web/", 30),
        full = requests("http://web.default.svc.cluster.local/", 5),
        np = requests(&format!("http://{B_IP}:30080/"), 10),
        source = requests(&format!("http://{pod_ip}:8080/cgi-bin/ip"), 3),
        source_svc = requests(&format!("http://{svc_ip}/cgi-bin/ip"), 3),
    );
    let logs = run_on(&c, "client-a", "node-a", &script);
    let all_backends = |name: &str| {
        let seen: BTreeSet<String> = section(&logs, name).into_iter().map(String::from).collect();
        assert!(seen.is_subset(&pods), "{name}: every request answered by a web pod: {logs}");
        seen
    };
    assert_eq!(all_backends("pod").len(), 1, "{logs}");
    assert_eq!(all_backends("clusterip"), pods, "{logs}");
    assert_eq!(all_backends("short"), pods, "{logs}");
    all_backends("full");
    all_backends("nodeport");
    // Pod to pod across nodes keeps the client pod's address, directly and
    // through the Service (DNAT only; only traffic leaving the cluster CIDR is
    // masqueraded).
    let client_ip = get(&c, &["get", "pod", "client-a", "-o", "jsonpath={.status.podIP}"]);
    assert!(client_ip.starts_with(&a_cidr[..a_cidr.rfind('.').unwrap()]), "{client_ip} in {a_cidr}");
    for name in ["source", "source-svc"] {
        // httpd listens on an IPv6 socket: REMOTE_ADDR is `[::ffff:10.42.1.2]`.
        let seen: Vec<&str> =
            section(&logs, name).into_iter().map(|l| l.trim_start_matches("[::ffff:").trim_end_matches(']')).collect();
        assert_eq!(seen, [client_ip.as_str(); 3], "{name}: the pod on B sees client-a: {logs}");
    }

    // The NodePort on node B's address, from node A itself.
    for _ in 0..5 {
        let out = a
            .command("/bin/busybox")
            .args(["timeout", "5", "/bin/busybox", "wget", "-q", "-O-", &format!("http://{B_IP}:30080/")])
            .output()
            .unwrap();
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(pods.contains(&answer), "NodePort from node A: {answer:?} {}", String::from_utf8_lossy(&out.stderr));
    }

    // From a pod on node B: the cluster DNS (on node A) and the Service by name;
    // its logs come through node B's kubelet.
    let script = format!(
        "echo '== lookup'; nslookup web.default.svc.cluster.local 2>&1; echo '== get'; {get}echo '== end'",
        get = requests("http://web/", 10),
    );
    let logs = run_on(&c, "client-b", "node-b", &script);
    assert!(section(&logs, "lookup").contains(&format!("Address: {svc_ip}").as_str()), "{logs}");
    let seen: BTreeSet<String> = section(&logs, "get").into_iter().map(String::from).collect();
    assert!(!seen.is_empty() && seen.is_subset(&pods), "{logs}");

    c.ok(&["delete", "deployment", "web", "--wait=false"]);
}

#[test]
fn pods_reach_pods_and_services_across_nodes_in_iptables_mode() {
    pods_across_nodes("iptables");
}

#[test]
fn pods_reach_pods_and_services_across_nodes_in_nftables_mode() {
    pods_across_nodes("nftables");
}
