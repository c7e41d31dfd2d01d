//! Cluster DNS from inside pods, end to end: in a network namespace the test
//! creates (loopback plus a port-less bridge holding the node address),
//! `skiff server --agent` runs containerd, the kubelet, the service proxy and
//! the DNS server on the node address. A busybox pod's resolv.conf (written by
//! the kubelet: 10.43.0.10, the cluster search path, ndots:5) sends its
//! `nslookup`s through the kube-dns Service's proxy rules to the server:
//! a Service by short and full name, a headless Service, an SRV record and a
//! StatefulSet-style pod name (hostname + subdomain). Names outside the
//! cluster go to an upstream that does not exist (nothing leaves the namespace).
//!
//! Run in iptables and in nftables mode.
//!
//! Needs root, containerd, runc, the CNI plugins, busybox-static, iptables, nft.

mod common;

use std::time::Duration;

use common::node::{containerd_with_images, get, sh, wait_until};
use common::Cluster;
use skiff_kubelet::testing::{require_node_prerequisites, NetNs};

const NODE_IP: &str = "192.168.232.10";

const OBJECTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: nginx}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  labels: {app: web}
spec:
  hostname: web-0
  subdomain: nginx
  containers:
  - name: httpd
    image: busybox:1.36
    imagePullPolicy: Never
    command: ["httpd", "-f", "-p", "8080"]
"#;

#[test]
fn pods_resolve_names_through_kube_dns_in_iptables_mode() {
    pods_resolve_services_headless_srv_and_statefulset_names("iptables");
}

#[test]
fn pods_resolve_names_through_kube_dns_in_nftables_mode() {
    pods_resolve_services_headless_srv_and_statefulset_names("nftables");
}

fn pods_resolve_services_headless_srv_and_statefulset_names(mode: &str) {
    require_node_prerequisites();
    let netns = NetNs::create(&format!("skiff-dns-{}", &mode[..3]));
    sh(&netns, &["ip", "link", "add", "uplink0", "type", "bridge"]);
    sh(&netns, &["ip", "addr", "add", &format!("{NODE_IP}/24"), "dev", "uplink0"]);
    sh(&netns, &["ip", "link", "set", "uplink0", "up"]);
    sh(&netns, &["ip", "route", "add", "default", "dev", "uplink0"]);
    let listen = format!("{NODE_IP}:53");
    let c = Cluster::start_in_netns(
        &netns.name,
        &[
            "--agent",
            "--node-name",
            "node-1",
            "--node-ip",
            NODE_IP,
            "--dns-listen",
            &listen,
            "--dns-upstream",
            "127.0.0.1:9",
            "--proxy-mode",
            mode,
        ],
    );
    assert!(c.startup.iter().any(|l| l.contains(&format!("cluster DNS listening on {listen}"))), "{:?}", c.startup);
    let _cleanup = containerd_with_images(&c);
    c.ok(&["apply", "-f", &c.manifest("objects.yaml", OBJECTS)]);
    wait_until("web-0 ready behind nginx", Duration::from_secs(120), || {
        let host = get(
            &c,
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=nginx",
                "-o",
                "jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].hostname}",
            ],
        );
        (host == "web-0").then_some(())
    });
    let web_ip = get(&c, &["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let pod_ip = get(&c, &["get", "pod", "web-0", "-o", "jsonpath={.status.podIP}"]);

    let script = "cat /etc/resolv.conf; \
        for n in web web.default.svc.cluster.local nginx.default.svc.cluster.local web-0.nginx.default.svc.cluster.local; do \
          echo \"== $n\"; nslookup $n 2>&1; done; \
        echo '== srv'; nslookup -type=SRV _http._tcp.web.default.svc.cluster.local 2>&1; echo '== end'";
    c.ok(&[
        "run",
        "asker",
        "--image=busybox:1.36",
        "--image-pull-policy=Never",
        "--restart=Never",
        "--command",
        "--",
        "sh",
        "-c",
        script,
    ]);
    wait_until("asker finished", Duration::from_secs(120), || {
        let phase = get(&c, &["get", "pod", "asker", "-o", "jsonpath={.status.phase}"]);
        (phase == "Succeeded" || phase == "Failed").then_some(())
    });
    let logs = c.ok(&["logs", "asker"]);
    let section = |name: &str| -> String {
        let start = logs.find(&format!("== {name}\n")).unwrap_or_else(|| panic!("no {name} in {logs}"));
        let rest = &logs[start + name.len() + 4..];
        rest[..rest.find("== ").unwrap_or(rest.len())].to_string()
    };
    // The kubelet's resolv.conf.
    assert!(logs.contains("nameserver 10.43.0.10"), "{logs}");
    assert!(logs.contains("search default.svc.cluster.local svc.cluster.local cluster.local"), "{logs}");
    assert!(logs.contains("options ndots:5"), "{logs}");
    // A short name through the search path, and the full name.
    assert!(section("web").contains(&format!("Address: {web_ip}\n")), "{logs}");
    assert!(section("web.default.svc.cluster.local").contains(&format!("Address: {web_ip}\n")), "{logs}");
    // Headless: the pod itself; StatefulSet-style: hostname.subdomain.
    assert!(section("nginx.default.svc.cluster.local").contains(&format!("Address: {pod_ip}\n")), "{logs}");
    assert!(section("web-0.nginx.default.svc.cluster.local").contains(&format!("Address: {pod_ip}\n")), "{logs}");
    // SRV for the named port.
    assert!(section("srv").contains("web.default.svc.cluster.local"), "{logs}");
    assert!(section("srv").contains("80"), "{logs}");
}
