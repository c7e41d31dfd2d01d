//! Cluster DNS in `skiff server`, asked directly at its listen address (on
//! loopback; names outside the cluster go to a fake upstream on loopback that
//! the test starts): the kube-dns Service, Service and headless names, SRV,
//! a StatefulSet-style pod name (hostname + subdomain), PTR, forwarding, and
//! names that go away with their objects.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::kubelet::{add_node, wait_for, FakeKubelet};
use common::{free_port, Cluster};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use skiff_dns::message::Transport;
use skiff_dns::testing::{fake_upstream, query, UPSTREAM_ANSWER};

struct Dns {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
}

impl Dns {
    fn ask(&self, name: &str, qtype: RecordType, transport: Transport) -> Option<Message> {
        self.rt.block_on(query(self.addr, name, qtype, transport))
    }

    /// Asks until `done` accepts the answer's (rcode, records); panics after a
    /// minute (a guard against hangs, not a timing assertion).
    fn until(&self, name: &str, qtype: RecordType, done: impl Fn(ResponseCode, &[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let last = self
                .ask(name, qtype, Transport::Udp)
                .map(|m| (m.metadata.response_code, m.answers.iter().map(|r| r.data.to_string()).collect::<Vec<_>>()));
            if let Some((rcode, records)) = &last {
                if done(*rcode, records) {
                    return records.clone();
                }
            }
            assert!(Instant::now() < deadline, "{name} {qtype}: last answer {last:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

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
metadata: {name: db}
spec:
  clusterIP: None
  ports: [{name: pg, port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-1
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
endpoints:
- addresses: [10.42.7.1]
  hostname: db-0
- addresses: [10.42.7.2]
  conditions: {ready: true}
- addresses: [10.42.7.3]
  conditions: {ready: false}
ports: [{name: pg, port: 5432, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: nginx}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{name: web, port: 80}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  labels: {app: nginx}
spec:
  hostname: web-0
  subdomain: nginx
  containers: [{name: c, image: busybox:1.36}]
"#;

const LONE_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: lone}
spec:
  schedulerName: nobody
  containers: [{name: c, image: busybox:1.36}]
"#;

#[test]
fn cluster_dns_answers_from_services_endpoints_and_pods_and_forwards_the_rest() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (upstream, _stop) = rt.block_on(fake_upstream());
    let listen = format!("127.0.0.1:{}", free_port());
    let c = Cluster::start_with(&["--dns-listen", &listen, "--dns-upstream", &upstream.to_string()]);
    assert!(c.startup.iter().any(|l| l.contains(&format!("cluster DNS listening on {listen}"))), "{:?}", c.startup);
    let dns = Dns { rt, addr: listen.parse().unwrap() };

    // The kube-dns Service at the cluster DNS address, its endpoints at the server.
    let ip = wait_for(
        &c,
        &["get", "svc", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"],
        "kube-dns",
        |s| !s.is_empty(),
    );
    assert_eq!(ip, "10.43.0.10");
    let ports = c.ok(&[
        "get",
        "svc",
        "-n",
        "kube-system",
        "kube-dns",
        "-o",
        "jsonpath={range .spec.ports[*]}{.name}/{.protocol}/{.port} {end}",
    ]);
    assert_eq!(ports.trim(), "dns/UDP/53 dns-tcp/TCP/53");
    let ep = wait_for(
        &c,
        &[
            "get",
            "endpointslice",
            "-n",
            "kube-system",
            "kube-dns",
            "-o",
            "jsonpath={.endpoints[0].addresses[0]} {.ports[0].port}",
        ],
        "kube-dns slice",
        |s| !s.is_empty(),
    );
    assert_eq!(ep, format!("127.0.0.1 {}", listen.rsplit(':').next().unwrap()));
    let ep =
        c.ok(&["get", "endpoints", "-n", "kube-system", "kube-dns", "-o", "jsonpath={.subsets[0].addresses[0].ip}"]);
    assert_eq!(ep, "127.0.0.1");
    // Its own name resolves, over UDP and TCP.
    dns.until("kube-dns.kube-system.svc.cluster.local.", RecordType::A, |_, r| r == ["10.43.0.10"]);
    let tcp = dns.ask("kube-dns.kube-system.svc.cluster.local.", RecordType::A, Transport::Tcp).unwrap();
    assert!(tcp.metadata.authoritative);
    assert_eq!(tcp.answers[0].ttl, 5);

    // A Service, a headless Service with hand-written endpoints, a StatefulSet-style pod.
    add_node(&c, "node-1");
    let _kubelet = FakeKubelet::start(&c);
    c.ok(&["apply", "-f", &c.manifest("objects.yaml", OBJECTS)]);
    let web_ip = c.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    dns.until("web.default.svc.cluster.local.", RecordType::A, |_, r| r == [web_ip.clone()]);
    let srv = dns.until("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV, |_, r| !r.is_empty());
    assert_eq!(srv, ["0 100 80 web.default.svc.cluster.local."]);
    let mut db = dns.until("db.default.svc.cluster.local.", RecordType::A, |_, r| r.len() == 2);
    db.sort();
    assert_eq!(db, ["10.42.7.1", "10.42.7.2"], "ready endpoints only");
    dns.until("db-0.db.default.svc.cluster.local.", RecordType::A, |_, r| r == ["10.42.7.1"]);
    dns.until("10-42-7-2.db.default.svc.cluster.local.", RecordType::A, |_, r| r == ["10.42.7.2"]);
    let srv = dns.until("_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV, |_, r| r.len() == 2);
    assert!(srv.contains(&"0 50 5432 db-0.db.default.svc.cluster.local.".to_string()), "{srv:?}");
    // The fake kubelet gives every pod 10.42.0.10; the EndpointSlice controller
    // names the endpoint by the pod's hostname since its subdomain is the Service.
    dns.until("web-0.nginx.default.svc.cluster.local.", RecordType::A, |_, r| r == ["10.42.0.10"]);
    dns.until("10-42-0-10.default.pod.cluster.local.", RecordType::A, |_, r| r == ["10.42.0.10"]);

    // PTR for a cluster IP and an endpoint.
    let octets: Vec<&str> = web_ip.split('.').rev().collect();
    let ptr = dns.until(&format!("{}.in-addr.arpa.", octets.join(".")), RecordType::PTR, |_, r| !r.is_empty());
    assert_eq!(ptr, ["web.default.svc.cluster.local."]);
    let ptr = dns.until("1.7.42.10.in-addr.arpa.", RecordType::PTR, |_, r| !r.is_empty());
    assert_eq!(ptr, ["db-0.db.default.svc.cluster.local."]);

    // A pod's own IP names the pod while it has it. DNS watches only pods with an IP,
    // so losing it reaches DNS as the pod leaving its watch. (No scheduler takes this
    // pod, so the fake kubelet leaves its status to the test.)
    c.ok(&["apply", "-f", &c.manifest("lone.yaml", LONE_POD)]);
    let ip = r#"{"status":{"podIP":"10.42.9.9","podIPs":[{"ip":"10.42.9.9"}]}}"#;
    c.ok(&["patch", "pod", "lone", "--subresource=status", "--type=merge", "-p", ip]);
    let ptr = dns.until("9.9.42.10.in-addr.arpa.", RecordType::PTR, |_, r| !r.is_empty());
    assert_eq!(ptr, ["10-42-9-9.default.pod.cluster.local."]);
    let no_ip = r#"{"status":{"podIP":null,"podIPs":null}}"#;
    c.ok(&["patch", "pod", "lone", "--subresource=status", "--type=merge", "-p", no_ip]);
    dns.until("9.9.42.10.in-addr.arpa.", RecordType::PTR, |_, r| r.is_empty());

    // Unknown names in the zone; everything else goes upstream.
    let nx = dns.ask("nope.default.svc.cluster.local.", RecordType::A, Transport::Udp).unwrap();
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    for transport in [Transport::Udp, Transport::Tcp] {
        let m = dns.ask("example.org.", RecordType::A, transport).unwrap();
        assert_eq!(m.answers.iter().map(|r| r.data.to_string()).collect::<Vec<_>>(), [UPSTREAM_ANSWER.to_string()]);
    }

    // Deleting a Service removes its name.
    c.ok(&["delete", "svc", "web"]);
    dns.until("web.default.svc.cluster.local.", RecordType::A, |rcode, _| rcode == ResponseCode::NXDomain);
}

#[test]
fn dns_can_be_disabled() {
    let c = Cluster::start_with(&["--disable-dns"]);
    assert!(!c.startup.iter().any(|l| l.contains("cluster DNS")), "{:?}", c.startup);
    std::thread::sleep(Duration::from_millis(500));
    assert!(c
        .kubectl(&["get", "svc", "-n", "kube-system", "kube-dns"])
        .stderr
        .starts_with(b"Error from server (NotFound)"));
}
