//! Rows of services, endpoints, slices, ingresses and network policies.

use serde_json::{json, Value};

use crate::table::printers::testing::{ago, column_names, row};

fn svc(spec: Value, status: Value) -> Value {
    json!({"metadata": {"name": "web", "creationTimestamp": ago(7 * 86400)}, "spec": spec, "status": status})
}

#[test]
fn service_rows() {
    assert_eq!(
        column_names("", "Service"),
        ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector*"]
    );
    let cases = [
        (
            svc(
                json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                "selector": {"k8s-app": "kube-dns"}}),
                json!({}),
            ),
            json!(["web", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP", "7d", "k8s-app=kube-dns"]),
        ),
        (
            svc(
                json!({"type": "NodePort", "clusterIP": "10.96.1.2", "externalIPs": ["1.2.3.4"],
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
                json!({}),
            ),
            json!(["web", "NodePort", "10.96.1.2", "1.2.3.4", "80:30080/TCP", "7d", "<none>"]),
        ),
        (
            svc(
                json!({"type": "LoadBalancer", "clusterIP": "10.96.1.3", "ports": [{"port": 443, "nodePort": 31443}]}),
                json!({"loadBalancer": {}}),
            ),
            json!(["web", "LoadBalancer", "10.96.1.3", "<pending>", "443:31443/TCP", "7d", "<none>"]),
        ),
        (
            svc(
                json!({"type": "LoadBalancer", "clusterIP": "10.96.1.3", "externalIPs": ["9.9.9.9"], "ports": []}),
                json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "5.6.7.8"}]}}),
            ),
            json!(["web", "LoadBalancer", "10.96.1.3", "5.6.7.8,lb.example.com,9.9.9.9", "<none>", "7d", "<none>"]),
        ),
        (
            svc(json!({"type": "ExternalName", "externalName": "db.example.com"}), json!({})),
            json!(["web", "ExternalName", "<none>", "db.example.com", "<none>", "7d", "<none>"]),
        ),
        (
            svc(json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}), json!({})),
            json!(["web", "ClusterIP", "None", "<none>", "<none>", "7d", "<none>"]),
        ),
    ];
    for (obj, want) in cases {
        assert_eq!(Value::from(row("", "Service", &obj)), want);
    }
}

#[test]
fn endpoints_rows() {
    let ep = |subsets: Value| json!({"metadata": {"name": "web"}, "subsets": subsets});
    let cases = [
        (json!([]), "<none>"),
        (
            json!([{"addresses": [{"ip": "10.1.0.4"}, {"ip": "10.1.0.5"}], "ports": [{"port": 8080}]}]),
            "10.1.0.4:8080,10.1.0.5:8080",
        ),
        (json!([{"addresses": [{"ip": "fd00::4"}], "ports": [{"port": 80}]}]), "[fd00::4]:80"),
        (json!([{"addresses": [{"ip": "10.1.0.9"}]}]), "10.1.0.9"),
        (
            json!([{"addresses": [{"ip": "10.1.0.4"}, {"ip": "10.1.0.5"}], "ports": [{"port": 80}, {"port": 443}]}]),
            "10.1.0.4:80,10.1.0.5:80,10.1.0.4:443 + 1 more...",
        ),
    ];
    for (subsets, want) in cases {
        assert_eq!(row("", "Endpoints", &ep(subsets))[1], want);
    }
}

#[test]
fn endpoint_slice_rows() {
    assert_eq!(column_names("discovery.k8s.io", "EndpointSlice"), ["Name", "AddressType", "Ports", "Endpoints", "Age"]);
    let slice = json!({"metadata": {"name": "web-abc12", "creationTimestamp": ago(90)}, "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80}, {"name": "metrics"}, {}, {"port": 9000}],
        "endpoints": [{"addresses": ["10.1.0.4"]}, {"addresses": ["10.1.0.5", "10.1.0.6"]}]});
    assert_eq!(
        Value::from(row("discovery.k8s.io", "EndpointSlice", &slice)),
        json!(["web-abc12", "IPv4", "80,metrics,* + 1 more...", "10.1.0.4,10.1.0.5,10.1.0.6", "90s"])
    );
    let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv6"});
    assert_eq!(
        Value::from(row("discovery.k8s.io", "EndpointSlice", &empty)),
        json!(["e", "IPv6", "<unset>", "<unset>", "<unknown>"])
    );
}

#[test]
fn ingress_rows() {
    let ing = |spec: Value, status: Value| json!({"metadata": {"name": "web"}, "spec": spec, "status": status});
    let cases = [
        (
            ing(
                json!({"ingressClassName": "nginx", "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}],
                "tls": [{"hosts": ["a.example.com"]}]}),
                json!({"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}]}}),
            ),
            json!(["web", "nginx", "a.example.com,b.example.com", "5.6.7.8", "80, 443", "<unknown>"]),
        ),
        (ing(json!({"rules": [{"http": {}}]}), json!({})), json!(["web", "<none>", "*", "", "80", "<unknown>"])),
        (
            ing(json!({"rules": [{"host": "a"}, {}, {"host": "b"}, {"host": "c"}, {"host": "d"}]}), json!({})),
            json!(["web", "<none>", "a,b,c + 2 more...", "", "80", "<unknown>"]),
        ),
    ];
    for (obj, want) in cases {
        assert_eq!(Value::from(row("networking.k8s.io", "Ingress", &obj)), want);
    }
}

#[test]
fn ingress_class_and_network_policy_rows() {
    let class = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
    assert_eq!(
        Value::from(row("networking.k8s.io", "IngressClass", &class)),
        json!(["nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb", "<unknown>"])
    );
    let bare = json!({"metadata": {"name": "c"}, "spec": {"controller": "x"}});
    assert_eq!(row("networking.k8s.io", "IngressClass", &bare)[2], "<none>");
    let deny_all = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}});
    assert_eq!(row("networking.k8s.io", "NetworkPolicy", &deny_all)[1], "<none>");
    let web = json!({"metadata": {"name": "w"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}}});
    assert_eq!(row("networking.k8s.io", "NetworkPolicy", &web)[1], "app=web");
}
