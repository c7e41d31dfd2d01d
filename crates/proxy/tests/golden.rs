//! Golden files: each scenario's plan rendered as iptables-restore text, an nft
//! script and an IPVS configuration, compared with `tests/golden/<scenario>.*`.
//! Regenerate after an intended change with `SKIFF_UPDATE_GOLDEN=1 cargo test -p
//! skiff-proxy --test golden`, then read the diff.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{
    ClientIPConfig, LoadBalancerIngress, LoadBalancerStatus, Service, ServiceStatus, SessionAffinityConfig,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use skiff_proxy::fixtures::{endpoint, service, slice};
use skiff_proxy::plan::plan;
use skiff_proxy::render::{iptables, ipvs, nft};
use skiff_proxy::{Cidr, NodeContext, Options};

fn node() -> NodeContext {
    NodeContext {
        name: "node-a".into(),
        addresses: vec![Ipv4Addr::new(192, 168, 5, 10), Ipv4Addr::new(172, 16, 0, 10)],
        pod_cidr: Some("10.42.0.0/24".parse().unwrap()),
    }
}

fn check(scenario: &str, services: &[Service], slices: &[EndpointSlice], options: &Options) {
    let p = plan(services, slices, &node());
    let outputs = [
        ("iptables", iptables::render(&p, options).restore_text(&BTreeSet::new(), &BTreeSet::new())),
        ("nft", nft::render(&p, options)),
        ("ipvs", ipvs::render(&p, &node()).text()),
    ];
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("SKIFF_UPDATE_GOLDEN").is_some();
    for (ext, got) in outputs {
        let path = dir.join(format!("{scenario}.{ext}"));
        if update {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (SKIFF_UPDATE_GOLDEN=1 writes it)", path.display()));
        assert!(got == want, "{} differs (SKIFF_UPDATE_GOLDEN=1 regenerates):\n{got}", path.display());
    }
}

fn web_slice(eps: Vec<k8s_openapi::api::discovery::v1::Endpoint>) -> EndpointSlice {
    slice("default", "web", &[("http", 8080, "TCP")], eps)
}

fn ready(ip: &str, node: &str) -> k8s_openapi::api::discovery::v1::Endpoint {
    endpoint(ip, node, Some(true), Some(true), Some(false))
}

#[test]
fn cluster_ip_with_ready_not_ready_and_terminating_endpoints() {
    let svc = service("default", "web", "10.43.0.20", &[("http", 80, "TCP")]);
    let eps = web_slice(vec![
        ready("10.42.0.5", "node-a"),
        ready("10.42.1.5", "node-b"),
        ready("10.42.2.5", "node-c"),
        endpoint("10.42.0.6", "node-a", Some(false), Some(false), Some(false)),
        endpoint("10.42.0.7", "node-a", Some(false), Some(true), Some(true)),
    ]);
    check("cluster_ip", &[svc], &[eps], &Options::default());
}

#[test]
fn only_terminating_endpoints_still_serve() {
    let svc = service("default", "web", "10.43.0.20", &[("http", 80, "TCP")]);
    let eps = web_slice(vec![
        endpoint("10.42.0.6", "node-a", Some(false), Some(false), Some(true)),
        endpoint("10.42.0.7", "node-a", Some(false), Some(true), Some(true)),
    ]);
    check("terminating_fallback", &[svc], &[eps], &Options::default());
}

#[test]
fn node_port_load_balancer_and_external_ips_with_named_ports() {
    let mut svc = service("default", "web", "10.43.0.20", &[("http", 80, "TCP"), ("dns", 53, "UDP")]);
    let spec = svc.spec.as_mut().unwrap();
    spec.type_ = Some("LoadBalancer".into());
    spec.external_ips = Some(vec!["203.0.113.7".into()]);
    for (p, np) in spec.ports.as_mut().unwrap().iter_mut().zip([30080, 30053]) {
        p.node_port = Some(np);
    }
    svc.status = Some(ServiceStatus {
        load_balancer: Some(LoadBalancerStatus {
            ingress: Some(vec![LoadBalancerIngress { ip: Some("192.168.5.10".into()), ..Default::default() }]),
        }),
        ..Default::default()
    });
    let eps = slice(
        "default",
        "web",
        &[("http", 8080, "TCP"), ("dns", 5353, "UDP")],
        vec![ready("10.42.0.5", "node-a"), ready("10.42.1.5", "node-b")],
    );
    check("node_port_lb_external", &[svc], &[eps], &Options::default());
}

#[test]
fn session_affinity_client_ip_with_timeout() {
    let mut svc = service("default", "web", "10.43.0.20", &[("http", 80, "TCP")]);
    let spec = svc.spec.as_mut().unwrap();
    spec.session_affinity = Some("ClientIP".into());
    spec.session_affinity_config =
        Some(SessionAffinityConfig { client_ip: Some(ClientIPConfig { timeout_seconds: Some(600) }) });
    let eps = web_slice(vec![ready("10.42.0.5", "node-a"), ready("10.42.1.5", "node-b")]);
    check("session_affinity", &[svc], &[eps], &Options::default());
}

#[test]
fn traffic_policies_local() {
    let mut etp = service("default", "web", "10.43.0.20", &[("http", 80, "TCP")]);
    let spec = etp.spec.as_mut().unwrap();
    spec.type_ = Some("NodePort".into());
    spec.external_traffic_policy = Some("Local".into());
    spec.ports.as_mut().unwrap()[0].node_port = Some(30080);
    let mut itp = service("default", "local-only", "10.43.0.21", &[("http", 80, "TCP")]);
    itp.spec.as_mut().unwrap().internal_traffic_policy = Some("Local".into());
    // ETP Local without an endpoint on this node: local clients and pods still get
    // through, external clients are dropped.
    let mut remote = service("default", "remote", "10.43.0.22", &[("http", 80, "TCP")]);
    let spec = remote.spec.as_mut().unwrap();
    spec.type_ = Some("NodePort".into());
    spec.external_traffic_policy = Some("Local".into());
    spec.ports.as_mut().unwrap()[0].node_port = Some(30082);
    let slices = [
        web_slice(vec![ready("10.42.0.5", "node-a"), ready("10.42.1.5", "node-b")]),
        slice(
            "default",
            "local-only",
            &[("http", 8080, "TCP")],
            vec![ready("10.42.0.8", "node-a"), ready("10.42.1.8", "node-b")],
        ),
        slice("default", "remote", &[("http", 8080, "TCP")], vec![ready("10.42.1.9", "node-b")]),
    ];
    check("traffic_policy_local", &[etp, itp, remote], &slices, &Options::default());
}

#[test]
fn services_without_endpoints_reject_and_headless_get_nothing() {
    let mut np = service("default", "empty", "10.43.0.30", &[("", 80, "TCP")]);
    let spec = np.spec.as_mut().unwrap();
    spec.type_ = Some("NodePort".into());
    spec.external_ips = Some(vec!["203.0.113.8".into()]);
    spec.ports.as_mut().unwrap()[0].node_port = Some(30090);
    let mut headless = service("default", "headless", "None", &[("", 80, "TCP")]);
    headless.spec.as_mut().unwrap().cluster_ip = Some("None".into());
    let headless_eps = slice("default", "headless", &[("", 80, "TCP")], vec![ready("10.42.0.5", "node-a")]);
    let not_ready = slice(
        "default",
        "empty",
        &[("", 80, "TCP")],
        vec![endpoint("10.42.0.6", "node-a", Some(false), Some(false), Some(false))],
    );
    check("no_endpoints_and_headless", &[np, headless], &[not_ready, headless_eps], &Options::default());
}

#[test]
fn masquerade_all_and_no_cluster_cidr() {
    let svc = service("default", "web", "10.43.0.20", &[("http", 80, "TCP")]);
    let eps = web_slice(vec![ready("10.42.0.5", "node-a")]);
    check(
        "masquerade_all",
        std::slice::from_ref(&svc),
        std::slice::from_ref(&eps),
        &Options { cluster_cidr: None, masquerade_all: true },
    );
    let other_cidr =
        Options { cluster_cidr: Some(Cidr { addr: Ipv4Addr::new(10, 244, 0, 0), prefix: 16 }), masquerade_all: false };
    check("cluster_cidr", &[svc], &[eps], &other_cidr);
}
