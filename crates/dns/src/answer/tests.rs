//! Table-driven: a small cluster, then (question → expected answer) rows.

use super::*;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

fn obj<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn cluster() -> Index {
    let mut idx = Index::new();
    idx.apply_service(&obj::<Service>(serde_json::json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20"],
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]}
    })));
    idx.apply_service(&obj::<Service>(serde_json::json!({
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}
    })));
    idx.apply_slice(&obj::<EndpointSlice>(serde_json::json!({
        "metadata": {"name": "db-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.42.0.5"], "hostname": "db-0", "conditions": {"ready": true}},
            {"addresses": ["10.42.1.6"], "conditions": {"ready": true}},
            {"addresses": ["10.42.1.7"], "hostname": "db-2", "conditions": {"ready": false}}
        ],
        "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]
    })));
    idx.apply_service(&obj::<Service>(serde_json::json!({
        "metadata": {"name": "empty", "namespace": "shop"}, "spec": {"clusterIP": "None"}
    })));
    idx.apply_service(&obj::<Service>(serde_json::json!({
        "metadata": {"name": "ext", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "example.org"}
    })));
    idx.apply_service(&obj::<Service>(serde_json::json!({
        "metadata": {"name": "v6", "namespace": "default"},
        "spec": {"clusterIP": "fd00:43::5", "clusterIPs": ["fd00:43::5"]}
    })));
    idx.apply_pod(&obj::<Pod>(serde_json::json!({
        "metadata": {"name": "client", "namespace": "default"},
        "status": {"podIP": "10.42.0.9", "podIPs": [{"ip": "10.42.0.9"}]}
    })));
    idx
}

fn run(idx: &Index, qname: &str, qtype: RecordType) -> Option<(ResponseCode, Vec<String>, Vec<String>)> {
    let zone = Zone::new("cluster.local");
    match resolve(idx, &zone, &Name::from_ascii(qname).unwrap(), qtype) {
        Outcome::Forward => None,
        Outcome::Answer(a) => {
            let show = |r: &Record| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data);
            assert!(
                a.answers.is_empty() == (a.authorities.len() == 1),
                "NXDOMAIN/NODATA carry the SOA, answers do not: {a:?}"
            );
            Some((a.rcode, a.answers.iter().map(show).collect(), a.additionals.iter().map(show).collect()))
        }
    }
}

#[test]
fn questions_and_answers() {
    use RecordType::*;
    let idx = cluster();
    let nx = ResponseCode::NXDomain;
    let ok = ResponseCode::NoError;
    #[rustfmt::skip]
    let table: &[(&str, RecordType, ResponseCode, &[&str])] = &[
        // A ClusterIP Service.
        ("web.default.svc.cluster.local.", A, ok, &["web.default.svc.cluster.local. 5 A 10.43.0.20"]),
        ("WEB.Default.svc.cluster.local.", A, ok, &["WEB.Default.svc.cluster.local. 5 A 10.43.0.20"]),
        ("web.default.svc.cluster.local.", AAAA, ok, &[]),
        ("web.default.svc.cluster.local.", TXT, ok, &[]),
        ("web.default.svc.cluster.local.", SRV, ok, &[
            "web.default.svc.cluster.local. 5 SRV 0 100 80 web.default.svc.cluster.local.",
            "web.default.svc.cluster.local. 5 SRV 0 100 53 web.default.svc.cluster.local.",
        ]),
        ("v6.default.svc.cluster.local.", AAAA, ok, &["v6.default.svc.cluster.local. 5 AAAA fd00:43::5"]),
        ("v6.default.svc.cluster.local.", A, ok, &[]),
        // Named ports.
        ("_http._tcp.web.default.svc.cluster.local.", SRV, ok, &[
            "_http._tcp.web.default.svc.cluster.local. 5 SRV 0 100 80 web.default.svc.cluster.local.",
        ]),
        ("_dns._udp.web.default.svc.cluster.local.", SRV, ok, &[
            "_dns._udp.web.default.svc.cluster.local. 5 SRV 0 100 53 web.default.svc.cluster.local.",
        ]),
        ("_http._udp.web.default.svc.cluster.local.", SRV, nx, &[]),
        ("_nope._tcp.web.default.svc.cluster.local.", SRV, nx, &[]),
        ("_http._tcp.web.default.svc.cluster.local.", A, ok, &[]),
        ("_tcp.web.default.svc.cluster.local.", A, ok, &[]),
        ("_sctp.web.default.svc.cluster.local.", A, nx, &[]),
        // A headless Service: ready endpoints only.
        ("db.shop.svc.cluster.local.", A, ok, &[
            "db.shop.svc.cluster.local. 5 A 10.42.0.5", "db.shop.svc.cluster.local. 5 A 10.42.1.6",
        ]),
        ("db-0.db.shop.svc.cluster.local.", A, ok, &["db-0.db.shop.svc.cluster.local. 5 A 10.42.0.5"]),
        ("10-42-1-6.db.shop.svc.cluster.local.", A, ok, &["10-42-1-6.db.shop.svc.cluster.local. 5 A 10.42.1.6"]),
        ("db-2.db.shop.svc.cluster.local.", A, nx, &[]),
        ("db-9.db.shop.svc.cluster.local.", A, nx, &[]),
        ("_pg._tcp.db.shop.svc.cluster.local.", SRV, ok, &[
            "_pg._tcp.db.shop.svc.cluster.local. 5 SRV 0 50 5432 db-0.db.shop.svc.cluster.local.",
            "_pg._tcp.db.shop.svc.cluster.local. 5 SRV 0 50 5432 10-42-1-6.db.shop.svc.cluster.local.",
        ]),
        ("empty.shop.svc.cluster.local.", A, nx, &[]),
        // ExternalName.
        ("ext.default.svc.cluster.local.", A, ok, &["ext.default.svc.cluster.local. 5 CNAME example.org."]),
        // Pods by dashed IP (not checked against the pods, like `pods insecure`).
        ("10-42-0-9.default.pod.cluster.local.", A, ok, &["10-42-0-9.default.pod.cluster.local. 5 A 10.42.0.9"]),
        ("fd00--1.default.pod.cluster.local.", AAAA, ok, &["fd00--1.default.pod.cluster.local. 5 AAAA fd00::1"]),
        ("10-42-0-9.default.pod.cluster.local.", AAAA, ok, &[]),
        ("nonsense.default.pod.cluster.local.", A, nx, &[]),
        // Unknown names in the zone, and the names above services.
        ("nope.default.svc.cluster.local.", A, nx, &[]),
        ("web.nope.svc.cluster.local.", A, nx, &[]),
        ("default.svc.cluster.local.", A, ok, &[]),
        ("nope.svc.cluster.local.", A, nx, &[]),
        ("svc.cluster.local.", A, ok, &[]),
        ("web.default.cluster.local.", A, nx, &[]),
        ("a.b.c.web.default.svc.cluster.local.", A, nx, &[]),
        ("cluster.local.", A, ok, &[]),
        ("cluster.local.", SOA, ok, &["cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"]),
        // PTR: cluster IPs, endpoints, pods.
        ("20.0.43.10.in-addr.arpa.", PTR, ok, &["20.0.43.10.in-addr.arpa. 5 PTR web.default.svc.cluster.local."]),
        ("5.0.42.10.in-addr.arpa.", PTR, ok, &["5.0.42.10.in-addr.arpa. 5 PTR db-0.db.shop.svc.cluster.local."]),
        ("6.1.42.10.in-addr.arpa.", PTR, ok, &["6.1.42.10.in-addr.arpa. 5 PTR 10-42-1-6.db.shop.svc.cluster.local."]),
        ("9.0.42.10.in-addr.arpa.", PTR, ok, &["9.0.42.10.in-addr.arpa. 5 PTR 10-42-0-9.default.pod.cluster.local."]),
        ("5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.4.0.0.0.0.d.f.ip6.arpa.", PTR, ok,
            &["5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.4.0.0.0.0.d.f.ip6.arpa. 5 PTR v6.default.svc.cluster.local."]),
    ];
    for (qname, qtype, rcode, answers) in table {
        let (got_rcode, got, _) = run(&idx, qname, *qtype).unwrap_or_else(|| panic!("{qname} {qtype} was forwarded"));
        assert_eq!(
            (got_rcode, got.iter().map(String::as_str).collect::<Vec<_>>()),
            (*rcode, answers.to_vec()),
            "{qname} {qtype}"
        );
    }
}

#[test]
fn srv_answers_carry_the_targets_addresses() {
    let idx = cluster();
    let (_, _, extra) = run(&idx, "_pg._tcp.db.shop.svc.cluster.local.", RecordType::SRV).unwrap();
    assert_eq!(
        extra,
        ["db-0.db.shop.svc.cluster.local. 5 A 10.42.0.5", "10-42-1-6.db.shop.svc.cluster.local. 5 A 10.42.1.6"]
    );
    let (_, _, extra) = run(&idx, "_http._tcp.web.default.svc.cluster.local.", RecordType::SRV).unwrap();
    assert_eq!(extra, ["web.default.svc.cluster.local. 5 A 10.43.0.20"]);
}

#[test]
fn names_outside_the_zone_and_unknown_addresses_are_forwarded() {
    let idx = cluster();
    assert_eq!(run(&idx, "example.org.", RecordType::A), None);
    assert_eq!(run(&idx, "cluster.local.example.org.", RecordType::A), None);
    assert_eq!(run(&idx, "xcluster.local.", RecordType::A), None);
    assert_eq!(run(&idx, "8.8.8.8.in-addr.arpa.", RecordType::PTR), None);
    assert_eq!(run(&idx, "1.2.3.in-addr.arpa.", RecordType::PTR), None);
}

#[test]
fn changes_are_reflected_and_deletes_forget() {
    let mut idx = cluster();
    let svc: Service = obj(serde_json::json!({"metadata": {"name": "web", "namespace": "default"}}));
    idx.delete_service(&svc);
    assert_eq!(run(&idx, "web.default.svc.cluster.local.", RecordType::A).unwrap().0, ResponseCode::NXDomain);
    assert_eq!(run(&idx, "20.0.43.10.in-addr.arpa.", RecordType::PTR), None);
    // The slice moves to another service: the old name loses the endpoint.
    let moved: EndpointSlice = obj(serde_json::json!({
        "metadata": {"name": "db-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "empty"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.42.3.3"]}]
    }));
    idx.apply_slice(&moved);
    assert_eq!(run(&idx, "db.shop.svc.cluster.local.", RecordType::A).unwrap().0, ResponseCode::NXDomain);
    assert_eq!(
        run(&idx, "empty.shop.svc.cluster.local.", RecordType::A).unwrap().1,
        ["empty.shop.svc.cluster.local. 5 A 10.42.3.3"]
    );
    assert_eq!(run(&idx, "5.0.42.10.in-addr.arpa.", RecordType::PTR), None);
    idx.delete_slice(&moved);
    assert_eq!(idx.counts(), (4, 0, 1));
    idx.replace_pods(&[]);
    assert_eq!(run(&idx, "9.0.42.10.in-addr.arpa.", RecordType::PTR), None);
}

#[test]
fn dashed_addresses_round_trip() {
    for ip in ["10.42.0.5", "fd00::1", "2001:db8::8:1"] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(undash(&dash(ip)), Some(ip));
    }
    assert_eq!(undash("10-42-0"), None);
    assert_eq!(undash("web"), None);
    assert_eq!(reverse_ip("4.3.2.1.in-addr.arpa"), Some("1.2.3.4".parse().unwrap()));
    assert_eq!(reverse_ip("x.3.2.1.in-addr.arpa"), None);
}
