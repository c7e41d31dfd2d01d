//! Services end to end, through real kernel rules. Inside a network namespace the
//! test creates (loopback plus a port-less bridge holding the node address, whose
//! default route leads nowhere), `skiff server --agent` runs containerd, the kubelet
//! and the service proxy; a Deployment of 3 busybox `httpd` pods sits behind
//! Services, and busybox pods whose command does the `wget`s report through their
//! logs. Checked, in iptables and in nftables mode:
//! - repeated requests to the ClusterIP (named targetPort) reach all three pods,
//!   and so do requests to the Service's name (cluster DNS, the pod's search path);
//! - the NodePort answers from the node, on the node's address, reaching all three;
//! - the built-in ServiceLB publishes the node address as the LoadBalancer ingress,
//!   and that address answers on the service port;
//! - `sessionAffinity: ClientIP` keeps one client on one pod;
//! - a Service without endpoints refuses at once ("Connection refused", no hang);
//! - a pod made unready (its readiness probe fails) stops receiving traffic;
//! - the proxy exports its sync latency on 127.0.0.1:10249/metrics.
//!
//! Needs root, containerd, runc, the CNI plugins, busybox-static, iptables, nft.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::node::{containerd_with_images, get, sh, wait_ready_endpoints, wait_until};
use common::Cluster;
use skiff_kubelet::testing::{require_node_prerequisites, NetNs};

const NODE_IP: &str = "192.168.231.10";

fn web_yaml(shared: &Path) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: busybox:1.36
        imagePullPolicy: Never
        command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe:
          exec: {{command: ["sh", "-c", "test ! -e /shared/unready-$(hostname)"]}}
          periodSeconds: 1
          failureThreshold: 1
        volumeMounts: [{{name: shared, mountPath: /shared}}]
      volumes:
      - name: shared
        hostPath: {{path: {}, type: DirectoryOrCreate}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{name: web, port: 80, targetPort: http, nodePort: 30080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: sticky}}
spec:
  selector: {{app: web}}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {{clientIP: {{timeoutSeconds: 600}}}}
  ports: [{{port: 80, targetPort: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: lb}}
spec:
  type: LoadBalancer
  selector: {{app: web}}
  ports: [{{port: 8081, targetPort: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: empty}}
spec:
  selector: {{app: nothing}}
  ports: [{{port: 80, targetPort: 8080}}]
"#,
        shared.display()
    )
}

/// Runs a pod whose command makes `n` requests to `url`, and returns its output
/// lines once it has finished.
fn client(c: &Cluster, name: &str, url: &str, n: u32) -> Vec<String> {
    // `timeout`, not wget's -T: Debian's static busybox 1.35 wget crashes with -T.
    let script = format!("for i in $(seq {n}); do timeout 5 wget -q -O- {url} 2>&1 || echo failed; done; echo done");
    c.ok(&[
        "run",
        name,
        "--image=busybox:1.36",
        "--image-pull-policy=Never",
        "--restart=Never",
        "--command",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    wait_until(&format!("{name} Succeeded"), Duration::from_secs(120), || {
        let phase = get(c, &["get", "pod", name, "-o", "jsonpath={.status.phase}"]);
        (phase == "Succeeded" || phase == "Failed").then_some(())
    });
    let logs = c.ok(&["logs", name]);
    c.ok(&["delete", "pod", name, "--wait=false"]);
    let lines: Vec<String> = logs.lines().map(String::from).collect();
    assert_eq!(lines.last().map(String::as_str), Some("done"), "{logs}");
    lines[..lines.len() - 1].to_vec()
}

/// `n` requests from the node itself (busybox wget inside the test's namespace).
fn from_node(netns: &NetNs, url: &str, n: u32) -> Vec<String> {
    (0..n)
        .map(|_| {
            let out = netns
                .command("/bin/busybox")
                .args(["timeout", "5", "/bin/busybox", "wget", "-q", "-O-", url])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() {
                text
            } else {
                format!("failed: {}", String::from_utf8_lossy(&out.stderr).trim())
            }
        })
        .collect()
}

fn counts(lines: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        *m.entry(l.clone()).or_insert(0) += 1;
    }
    m
}

fn services_work(mode: &str) {
    require_node_prerequisites();
    let netns = NetNs::create(&format!("skiff-svc-{}", &mode[..3]));
    // A node address and a default route that leads nowhere: like a real node's
    // uplink, but nothing leaves the namespace.
    // (A port-less bridge: this kernel has no dummy interfaces.)
    sh(&netns, &["ip", "link", "add", "uplink0", "type", "bridge"]);
    sh(&netns, &["ip", "addr", "add", &format!("{NODE_IP}/24"), "dev", "uplink0"]);
    sh(&netns, &["ip", "link", "set", "uplink0", "up"]);
    sh(&netns, &["ip", "route", "add", "default", "dev", "uplink0"]);
    let dns = format!("{NODE_IP}:53");
    let c = Cluster::start_in_netns(
        &netns.name,
        &[
            "--agent",
            "--node-name",
            "node-1",
            "--node-ip",
            NODE_IP,
            "--proxy-mode",
            mode,
            "--dns-listen",
            &dns,
            "--dns-upstream",
            "127.0.0.1:9",
        ],
    );
    assert!(c.startup.iter().any(|l| l.contains(&format!("service proxy started ({mode} mode"))), "{:?}", c.startup);
    let _cleanup = containerd_with_images(&c);
    wait_until("node-1 Ready", Duration::from_secs(60), || {
        let s =
            get(&c, &["get", "node", "node-1", "-o", r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#]);
        (s == "True").then_some(())
    });

    let shared = c.data_dir().join("shared");
    c.ok(&["apply", "-f", &c.manifest("web.yaml", &web_yaml(&shared))]);
    c.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    let pods: Vec<String> = get(&c, &["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"])
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(pods.len(), 3, "{pods:?}");
    wait_ready_endpoints(&c, "web", 3);
    let ip = |svc: &str| get(&c, &["get", "service", svc, "-o", "jsonpath={.spec.clusterIP}"]);
    let (web_ip, sticky_ip, empty_ip) = (ip("web"), ip("sticky"), ip("empty"));

    // ClusterIP from a pod: every backend answers, nothing fails.
    let mut sorted = pods.clone();
    sorted.sort();
    let seen = counts(&client(&c, "client-web", &format!("http://{web_ip}/"), 30));
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), sorted, "{seen:?}");

    // By name through the cluster DNS (the pod's search path), every backend too.
    let seen = counts(&client(&c, "client-dns", "http://web/", 30));
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), sorted, "{seen:?}");

    // NodePort from the node, on the node's address.
    let seen = counts(&from_node(&netns, &format!("http://{NODE_IP}:30080/"), 30));
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.keys().all(|k| pods.contains(k)), "{seen:?}");

    // ServiceLB: the node's address is the ingress, and it answers.
    let ingress = wait_until("the LoadBalancer ingress", Duration::from_secs(30), || {
        let ip = get(&c, &["get", "service", "lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"]);
        (!ip.is_empty()).then_some(ip)
    });
    assert_eq!(ingress, NODE_IP);
    let seen = wait_until("the load balancer address answering", Duration::from_secs(30), || {
        let seen = from_node(&netns, &format!("http://{NODE_IP}:8081/"), 3);
        seen.iter().all(|s| pods.contains(s)).then_some(seen)
    });
    assert_eq!(seen.len(), 3);

    // Session affinity: one client, one backend.
    let seen = counts(&client(&c, "client-sticky", &format!("http://{sticky_ip}/"), 20));
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(pods.contains(seen.keys().next().unwrap()), "{seen:?}");

    // No endpoints: refused at once, not left to time out.
    let out = client(&c, "client-empty", &format!("http://{empty_ip}/"), 1);
    assert!(out.iter().any(|l| l.contains("refused")), "{out:?}");
    let from_node_out = from_node(&netns, &format!("http://{empty_ip}/"), 1);
    assert!(from_node_out[0].contains("refused"), "{from_node_out:?}");

    // A pod turned unready stops receiving traffic.
    let victim = &pods[0];
    std::fs::write(shared.join(format!("unready-{victim}")), "").unwrap();
    wait_until("the victim's endpoint not ready", Duration::from_secs(60), || {
        let ready = get(
            &c,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=web",
                "-o",
                "jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].targetRef.name}",
            ],
        );
        (!ready.is_empty() && !ready.split_whitespace().any(|n| n == victim)).then_some(())
    });
    // The proxy batches changes; wait until the node sees the new rules, then check
    // from a pod with many requests. 30 requests from the node: with rules that still
    // held the victim, 10 missed it one time in 60 (2/3 to the power 10), which once
    // let stale rules pass here and failed the pod's check in CI.
    wait_until("the rules without the victim", Duration::from_secs(30), || {
        let seen = from_node(&netns, &format!("http://{web_ip}/"), 30);
        (!seen.contains(victim) && seen.iter().all(|s| pods.contains(s))).then_some(())
    });
    let seen = counts(&client(&c, "client-after", &format!("http://{web_ip}/"), 30));
    assert!(!seen.contains_key(victim), "{seen:?}");
    assert_eq!(seen.len(), 2, "the two ready pods share the traffic: {seen:?}");

    // The sync latency metric.
    let metrics =
        netns.command("/bin/busybox").args(["wget", "-q", "-O-", "http://127.0.0.1:10249/metrics"]).output().unwrap();
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kubeproxy_network_programming_duration_seconds_count "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(count.is_some_and(|n| n > 0), "{metrics}");

    c.ok(&["delete", "deployment", "web", "--wait=false"]);
}

#[test]
fn services_work_in_iptables_mode() {
    services_work("iptables");
}

#[test]
fn services_work_in_nftables_mode() {
    services_work("nftables");
}
