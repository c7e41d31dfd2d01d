//! Hollow nodes: a control plane alone (`--disable-agent`) and `skiff agent
//! --runtime fake --nodes 5` next to it. The five nodes register and go Ready,
//! each with its own podCIDR and Lease; a Deployment of 20 replicas runs on
//! them with pod IPs from those podCIDRs; deleting a pod works and the
//! Deployment replaces it; the Leases keep being renewed. Hollow nodes make
//! no network state and send nothing but API requests to the server on
//! loopback, so no network namespace is needed.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::node::{get, wait_until};
use common::{Cluster, SKIFF};

/// A `skiff agent` child process, killed when the test ends.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_hollow_agent(c: &Cluster, extra: &[&str]) -> Agent {
    let log = std::fs::File::create(c.data_dir().join("agent.log")).unwrap();
    let child = Command::new(SKIFF)
        .args(["agent", "--runtime", "fake", "--kubeconfig"])
        .arg(&c.kubeconfig)
        .arg("--data-dir")
        .arg(c.data_dir().join("hollow-agent"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Agent(child)
}

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 20
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        command: ["httpd", "-f", "-p", "8080"]
        readinessProbe:
          httpGet: {port: 8080, path: /}
"#;

/// name → (phase, podIP, nodeName) of the Deployment's pods.
fn pods(c: &Cluster) -> BTreeMap<String, (String, String, String)> {
    let out = get(
        c,
        &[
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            r#"jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.podIP} {.spec.nodeName}{"\n"}{end}"#,
        ],
    );
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4).then(|| (f[0].to_string(), (f[1].to_string(), f[2].to_string(), f[3].to_string())))
        })
        .collect()
}

/// The first three octets of a /24 podCIDR (`10.42.3.0/24` → `10.42.3.`).
fn prefix_of(cidr: &str) -> String {
    let net = cidr.split('/').next().unwrap_or("");
    format!("{}.", net.rsplit_once('.').map_or("", |(head, _)| head))
}

#[test]
fn five_hollow_nodes_run_a_deployment_with_pod_ips_from_their_pod_cidrs() {
    let c = Cluster::start();
    let _agent = start_hollow_agent(&c, &["--nodes", "5"]);

    // Five Ready nodes, labelled hollow, each with a podCIDR and a Lease.
    let names: Vec<String> = (0..5).map(|i| format!("hollow-{i}")).collect();
    wait_until("5 hollow nodes Ready", Duration::from_secs(90), || {
        let out = get(
            &c,
            &[
                "get",
                "nodes",
                "-l",
                "node.skiff.dev/hollow=true",
                "-o",
                r#"jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#,
            ],
        );
        let ready: Vec<&str> = out.lines().filter_map(|l| l.strip_suffix("=True")).collect();
        (ready == names.iter().map(String::as_str).collect::<Vec<_>>()).then_some(())
    });
    let mut cidrs = BTreeMap::new();
    for n in &names {
        let cidr = get(&c, &["get", "node", n, "-o", "jsonpath={.spec.podCIDR}"]);
        assert!(cidr.starts_with("10.42.") && cidr.ends_with(".0/24"), "{n}: {cidr}");
        let runtime = get(&c, &["get", "node", n, "-o", "jsonpath={.status.nodeInfo.containerRuntimeVersion}"]);
        assert_eq!(runtime, "fake://0.1.0");
        let holder = get(&c, &["get", "lease", "-n", "kube-node-lease", n, "-o", "jsonpath={.spec.holderIdentity}"]);
        assert_eq!(&holder, n);
        cidrs.insert(n.clone(), cidr);
    }
    let distinct: std::collections::BTreeSet<_> = cidrs.values().collect();
    assert_eq!(distinct.len(), 5, "one podCIDR per node: {cidrs:?}");
    // A podCIDR, once set, stays (as upstream): no stale write can move it.
    let err = c.fails(&["patch", "node", "hollow-0", "-p", r#"{"spec":{"podCIDR":"10.42.200.0/24"}}"#]);
    assert!(err.contains("may not change podCIDR"), "{err}");
    assert_eq!(get(&c, &["get", "node", "hollow-0", "-o", "jsonpath={.spec.podCIDR}"]), cidrs["hollow-0"]);

    // 20 replicas, all Running, each with an address from its node's podCIDR.
    c.ok(&["apply", "-f", &c.manifest("web.yaml", WEB)]);
    let running = wait_until("20 web pods Running with IPs", Duration::from_secs(120), || {
        let p = pods(&c);
        (p.len() == 20 && p.values().all(|(phase, ip, _)| phase == "Running" && ip.starts_with("10.42."))).then_some(p)
    });
    let mut ips = std::collections::BTreeSet::new();
    for (name, (_, ip, node)) in &running {
        let cidr = &cidrs[node];
        assert!(ip.starts_with(&prefix_of(cidr)), "{name} on {node} ({cidr}) has {ip}");
        assert!(ips.insert(ip.clone()), "{ip} given twice");
    }
    let used: std::collections::BTreeSet<_> = running.values().map(|(_, _, n)| n.clone()).collect();
    assert!(used.len() > 1, "the scheduler spread the pods over the hollow nodes: {used:?}");
    // The readiness probe (httpGet) is answered without a packet on a hollow node.
    assert_eq!(
        get(&c, &["get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"]),
        "20",
        "every replica Ready"
    );

    // Deleting a pod works (the hollow kubelet stops it and removes the object),
    // and the Deployment brings the count back to 20.
    let victim = running.keys().next().unwrap().clone();
    c.ok(&["delete", "pod", &victim, "--timeout=60s"]);
    assert!(!pods(&c).contains_key(&victim), "{victim} is gone");
    wait_until("20 web pods Running again", Duration::from_secs(60), || {
        let p = pods(&c);
        (p.len() == 20
            && !p.contains_key(&victim)
            && p.values().all(|(phase, ip, _)| phase == "Running" && !ip.is_empty()))
        .then_some(())
    });

    // The Leases are renewed (every 10 s).
    let renew = |n: &str| get(&c, &["get", "lease", "-n", "kube-node-lease", n, "-o", "jsonpath={.spec.renewTime}"]);
    let before: Vec<String> = names.iter().map(|n| renew(n)).collect();
    wait_until("every Lease renewed", Duration::from_secs(30), || {
        names.iter().zip(&before).all(|(n, b)| renew(n) != *b).then_some(())
    });

    // Scaling down to zero empties the nodes.
    c.ok(&["scale", "deployment", "web", "--replicas=0"]);
    wait_until("no web pods", Duration::from_secs(60), || pods(&c).is_empty().then_some(()));
}

#[test]
fn hollow_flags_are_checked() {
    let out = Command::new(SKIFF)
        .args(["agent", "--server", "https://127.0.0.1:1", "--token", "t", "--certificate-authority", "/nonexistent"])
        .args(["--nodes", "3"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--runtime fake"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(SKIFF)
        .args(["agent", "--runtime", "fake", "--fake-failure-rate", "1.5", "--server", "https://127.0.0.1:1"])
        .args(["--token", "t", "--certificate-authority", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("between 0 and 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
