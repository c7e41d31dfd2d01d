use serde_json::{json, Value};

use super::{endpoint_slice, endpoints};
use crate::Cause;

const NONE: [String; 0] = [];

/// Validates as the server does: after defaulting.
fn check_endpoints(mut obj: Value) -> Vec<String> {
    crate::defaults::apply("", "Endpoints", &mut obj);
    let mut causes = Vec::new();
    endpoints(&obj, &mut causes);
    causes.iter().map(Cause::summary).collect()
}

fn subset(s: Value) -> Vec<String> {
    check_endpoints(json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [s]}))
}

fn check_slice(mut obj: Value, old: Option<Value>) -> Vec<String> {
    crate::defaults::apply("discovery.k8s.io", "EndpointSlice", &mut obj);
    let mut causes = Vec::new();
    endpoint_slice(&obj, old.as_ref(), &mut causes);
    causes.iter().map(Cause::summary).collect()
}

fn slice(address_type: &str, endpoints: Value, ports: Value) -> Vec<String> {
    check_slice(json!({"addressType": address_type, "endpoints": endpoints, "ports": ports}), None)
}

fn pod_ref(name: &str) -> Value {
    json!({"kind": "Pod", "namespace": "default", "name": name, "uid": "0b0e5d4e-1c1a-4e55-9a57-3b8e6f0c1d2e"})
}

#[test]
fn endpoints_as_skiff_writes_them_pass() {
    // The endpoints controller: ready and not-ready pods, one unnamed port.
    let controller = json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [{
        "addresses": [{"ip": "10.42.0.5", "hostname": "web-0", "nodeName": "node-1", "targetRef": pod_ref("web-0")}],
        "notReadyAddresses": [{"ip": "10.42.1.7", "nodeName": "node-2", "targetRef": pod_ref("web-1")}],
        "ports": [{"port": 8080, "protocol": "TCP"}],
    }]});
    assert_eq!(check_endpoints(controller), NONE);
    // A headless Service without ports, and named ports with app protocols.
    assert_eq!(subset(json!({"addresses": [{"ip": "fd00::5"}]})), NONE);
    assert_eq!(
        subset(json!({"addresses": [{"ip": "10.42.0.5"}], "ports": [
            {"name": "http", "port": 80, "appProtocol": "kubernetes.io/h2c"}, {"name": "dns", "port": 53, "protocol": "UDP"}]})),
        NONE
    );
    // The API server's own `kubernetes` Endpoints.
    let apiserver = json!({"metadata": {"name": "kubernetes", "namespace": "default",
        "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": "192.168.1.10"}], "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]});
    assert_eq!(check_endpoints(apiserver), NONE);
    assert_eq!(check_endpoints(json!({"metadata": {"name": "empty"}})), NONE);
}

#[test]
fn skiffs_dns_server_may_publish_a_loopback_address() {
    // What `skiff_dns::kube_dns::desired` writes when the server listens on 127.0.0.1.
    let meta = json!({"name": "kube-dns", "namespace": "kube-system",
        "labels": {"k8s-app": "kube-dns", "endpointslice.kubernetes.io/skip-mirror": "true"}});
    let ep = json!({"metadata": meta, "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
        "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}, {"name": "dns-tcp", "port": 5353, "protocol": "TCP"}]}]});
    assert_eq!(check_endpoints(ep), NONE);
    let slice = json!({"metadata": {"name": "kube-dns", "namespace": "kube-system",
        "labels": {"kubernetes.io/service-name": "kube-dns"}}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}],
        "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}, {"name": "dns-tcp", "port": 5353, "protocol": "TCP"}]});
    assert_eq!(check_slice(slice, None), NONE);
    // Only loopback, and only there.
    let ep = json!({"metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "subsets": [{"addresses": [{"ip": "169.254.0.1"}]}]});
    assert_eq!(check_endpoints(ep).len(), 1);
    let ep = json!({"metadata": {"name": "kube-dns", "namespace": "default"}, "subsets": [{"addresses": [{"ip": "127.0.0.1"}]}]});
    assert_eq!(check_endpoints(ep).len(), 1);
}

#[test]
fn endpoint_addresses_are_usable_ips() {
    assert_eq!(subset(json!({})), ["subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"]);
    assert_eq!(
        subset(json!({"addresses": [{"ip": "10.0.0.256"}]})),
        [
            r#"subsets[0].addresses[0].ip: Invalid value: "10.0.0.256": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"#,
            r#"subsets[0].addresses[0].ip: Invalid value: "10.0.0.256": must be a valid IP address"#,
        ]
    );
    for (ip, problem) in [
        ("0.0.0.0", "may not be unspecified (0.0.0.0)"),
        ("::", "may not be unspecified (::)"),
        ("127.0.0.1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"),
        ("::ffff:127.0.0.1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"),
        ("169.254.169.254", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"),
        ("fe80::1", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"),
        ("224.0.0.1", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"),
    ] {
        assert_eq!(
            subset(json!({"notReadyAddresses": [{"ip": ip}]})),
            [format!("subsets[0].notReadyAddresses[0].ip: Invalid value: \"{ip}\": {problem}")],
            "{ip}"
        );
    }
    assert_eq!(
        subset(json!({"addresses": [{"ip": "10.0.0.1", "hostname": "Web", "nodeName": "node_1"}]})),
        [
            "subsets[0].addresses[0].hostname: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "subsets[0].addresses[0].nodeName: Invalid value: \"node_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ]
    );
}

#[test]
fn endpoint_ports_are_checked() {
    let addrs = json!([{"ip": "10.0.0.1"}]);
    assert_eq!(
        subset(json!({"addresses": addrs, "ports": [{"port": 80}, {"name": "b", "port": 81}]})),
        ["subsets[0].ports[0].name: Required value"]
    );
    assert_eq!(
        subset(json!({"addresses": addrs, "ports": [{"name": "http_1", "port": 0, "protocol": "ICMP", "appProtocol": "a/b/c"}]})),
        [
            "subsets[0].ports[0].name: Invalid value: \"http_1\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "subsets[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "subsets[0].ports[0].appProtocol: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ]
    );
    assert_eq!(
        subset(json!({"addresses": addrs, "ports": [{"port": 65536, "protocol": ""}]})),
        ["subsets[0].ports[0].port: Invalid value: 65536: must be between 1 and 65535, inclusive"],
        "an empty protocol is defaulted"
    );
}

#[test]
fn slices_as_skiff_writes_them_pass() {
    // The endpointslice controller: unnamed port, conditions, target refs.
    let ep = |ip: &str, name: &str| {
        json!({"addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false},
            "nodeName": "node-1", "targetRef": pod_ref(name)})
    };
    assert_eq!(
        slice(
            "IPv4",
            json!([ep("10.42.0.5", "web-0"), ep("10.42.0.6", "web-1")]),
            json!([{"port": 8080, "protocol": "TCP"}])
        ),
        NONE
    );
    assert_eq!(
        slice("IPv6", json!([ep("fd00::5", "web-0")]), json!([{"name": "http", "port": 80, "protocol": "TCP"}])),
        NONE
    );
    // A Service without endpoints keeps a placeholder slice.
    assert_eq!(check_slice(json!({"addressType": "IPv4", "endpoints": []}), None), NONE);
    // The API server's `kubernetes` slice.
    assert_eq!(
        slice(
            "IPv4",
            json!([{"addresses": ["192.168.1.10"], "conditions": {"ready": true}}]),
            json!([{"name": "https", "port": 6443, "protocol": "TCP"}])
        ),
        NONE
    );
    assert_eq!(
        slice(
            "FQDN",
            json!([{"addresses": ["db.example.com."], "hostname": "db", "zone": "us-east-1a",
                "hints": {"forZones": [{"name": "us-east-1a"}]}, "deprecatedTopology": {"example.com/rack": "r1"}}]),
            json!([{"port": 5432, "appProtocol": "postgresql"}])
        ),
        NONE
    );
}

#[test]
fn address_types_are_known_and_immutable() {
    assert_eq!(check_slice(json!({"endpoints": []}), None), ["addressType: Required value"]);
    assert_eq!(
        slice("IP", json!([{"addresses": ["not checked"]}]), json!([])),
        [r#"addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6""#]
    );
    assert_eq!(
        check_slice(json!({"addressType": "IPv6", "endpoints": []}), Some(json!({"addressType": "IPv4"}))),
        [r#"addressType: Invalid value: "IPv6": field is immutable"#]
    );
}

#[test]
fn slice_addresses_match_the_type() {
    let one = |t: &str, a: &str| slice(t, json!([{"addresses": [a]}]), json!([]));
    assert_eq!(
        one("IPv4", "fd00::1"),
        [r#"endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address"#]
    );
    assert_eq!(
        one("IPv6", "10.0.0.1"),
        [r#"endpoints[0].addresses[0]: Invalid value: "10.0.0.1": must be a valid IPv6 address"#]
    );
    assert_eq!(one("IPv4", "::ffff:10.0.0.1"), NONE, "IPv4-mapped addresses are IPv4 ones");
    assert_eq!(
        one("IPv4", "127.0.0.2"),
        [
            r#"endpoints[0].addresses[0]: Invalid value: "127.0.0.2": may not be in the loopback range (127.0.0.0/8, ::1/128)"#
        ]
    );
    assert_eq!(
        one("FQDN", "localhost"),
        [
            r#"endpoints[0].addresses[0]: Invalid value: "localhost": should be a domain with at least two segments separated by dots"#
        ]
    );
    assert_eq!(
        one("FQDN", "Example.com"),
        [
            r#"endpoints[0].addresses[0]: Invalid value: "Example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#
        ]
    );
    assert_eq!(
        one("FQDN", &format!("{}.com", "a".repeat(64))),
        [format!(
            "endpoints[0].addresses[0]: Invalid value: \"{}\": must be no more than 63 characters",
            "a".repeat(64)
        )]
    );
    assert_eq!(one("FQDN", ""), ["endpoints[0].addresses[0]: Required value"]);
    assert_eq!(
        slice("IPv4", json!([{"addresses": []}]), json!([])),
        ["endpoints[0].addresses: Required value: must contain at least 1 address"]
    );
    let many: Vec<String> = (1..=101).map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1)).collect();
    assert_eq!(
        slice("IPv4", json!([{"addresses": many}]), json!([])),
        ["endpoints[0].addresses: Too many: 101: must have at most 100 items"]
    );
    let endpoints: Vec<Value> = (0..1001).map(|_| json!({"addresses": ["bad"]})).collect();
    assert_eq!(
        slice("IPv4", json!(endpoints), json!([])),
        ["endpoints: Too many: 1001: must have at most 1000 items"],
        "nothing else is checked then"
    );
}

#[test]
fn slice_endpoint_fields_are_checked() {
    let ep = |extra: Value| {
        let mut e = json!({"addresses": ["10.0.0.1"]});
        e.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        slice("IPv4", json!([e]), json!([]))
    };
    assert_eq!(ep(json!({"nodeName": "Node"})).len(), 1);
    assert_eq!(ep(json!({"hostname": ""})).len(), 1, "a set hostname is checked even when empty");
    assert_eq!(
        ep(json!({"hints": {"forZones": [{"name": "a"}, {"name": "a"}, {"name": "-b"}]}})),
        [
            r#"endpoints[0].hints.forZones[1].name: Duplicate value: "a""#,
            r#"endpoints[0].hints.forZones[2].name: Invalid value: "-b": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"#,
        ]
    );
    let zones: Vec<Value> = (0..9).map(|i| json!({"name": format!("z{i}")})).collect();
    assert_eq!(
        ep(json!({"hints": {"forZones": zones}})),
        ["endpoints[0].hints.forZones: Too many: 9: must have at most 8 items"]
    );
    assert_eq!(
        ep(json!({"deprecatedTopology": {"topology.kubernetes.io/zone": "a"}})),
        ["endpoints[0].deprecatedTopology[topology.kubernetes.io/zone]: Internal error: reserved key was not removed in conversion"]
    );
    assert_eq!(
        ep(json!({"deprecatedTopology": {"bad key!": "v"}})),
        [
            r#"endpoints[0].deprecatedTopology: Invalid value: "bad key!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"#
        ]
    );
}

#[test]
fn slice_ports_are_checked() {
    assert_eq!(
        slice("IPv4", json!([]), json!([{"port": 80}, {"port": 81}, {"name": "Http", "protocol": "ICMP"}, {"protocol": ""}])),
        [
            r#"ports[1].name: Duplicate value: """#,
            "ports[2].name: Invalid value: \"Http\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            r#"ports[2].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP""#,
            r#"ports[3].name: Duplicate value: """#,
            r#"ports[3].protocol: Unsupported value: "": supported values: "SCTP", "TCP", "UDP""#,
        ]
    );
    assert_eq!(
        slice("IPv4", json!([]), json!([{"name": "a", "appProtocol": "x/"}])),
        [
            r#"ports[0].appProtocol: Invalid value: "x/": name part must be non-empty"#,
            r#"ports[0].appProtocol: Invalid value: "x/": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"#,
        ]
    );
}
