use serde_json::{json, Value};

use super::service;
use crate::Cause;

const NONE: [String; 0] = [];

/// Validates a Service with `spec`, defaulted first as the server does.
fn check(spec: Value) -> Vec<String> {
    check_update(spec, None)
}

fn check_update(spec: Value, old: Option<Value>) -> Vec<String> {
    let mut obj = json!({ "spec": spec });
    crate::defaults::apply("", "Service", &mut obj);
    let old = old.map(|s| json!({ "spec": s }));
    let mut causes = Vec::new();
    service(&obj, old.as_ref(), &mut causes);
    causes.iter().map(Cause::summary).collect()
}

#[test]
fn valid_services_pass() {
    assert_eq!(check(json!({"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]})), NONE);
    assert_eq!(
        check(json!({"type": "NodePort", "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "nodePort": 30053, "appProtocol": "kubernetes.io/h2c"},
        ]})),
        NONE
    );
    assert_eq!(
        check(json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 31000,
            "loadBalancerSourceRanges": ["10.0.0.0/8"], "loadBalancerClass": "example.com/lb",
            "ports": [{"port": 443}]})),
        NONE
    );
    assert_eq!(check(json!({"type": "ExternalName", "externalName": "db.example.com."})), NONE);
    assert_eq!(check(json!({"clusterIP": "None"})), NONE);
    assert_eq!(
        check(json!({"sessionAffinity": "ClientIP", "externalIPs": ["192.0.2.10"], "ports": [{"port": 80}]})),
        NONE
    );
}

#[test]
fn ports_are_checked() {
    assert_eq!(
        check(json!({"ports": [{"port": 0}]})),
        ["spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"]
    );
    assert_eq!(
        check(json!({"ports": [
            {"name": "web", "port": 80, "targetPort": 0},
            {"name": "Web", "port": 81, "targetPort": "8080", "protocol": "ICMP"},
            {"name": "web", "port": 82, "targetPort": 70000},
        ]})),
        [
            r#"spec.ports[1].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#,
            r#"spec.ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP""#,
            r#"spec.ports[1].targetPort: Invalid value: "8080": must contain at least one letter (a-z)"#,
            r#"spec.ports[2].name: Duplicate value: "web""#,
            "spec.ports[2].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        ]
    );
    assert_eq!(
        check(json!({"ports": [{"port": 80}, {"port": 81}]})),
        ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"]
    );
}

#[test]
fn a_port_and_protocol_pair_appears_once() {
    assert_eq!(
        check(
            json!({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80, "protocol": "TCP"}, {"name": "c", "port": 80, "protocol": "UDP"}]})
        ),
        [
            r#"spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}"#
        ]
    );
    assert_eq!(
        check(
            json!({"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 30080}, {"name": "b", "port": 81, "nodePort": 30080}]})
        ),
        ["spec.ports[1].nodePort: Duplicate value: 30080"]
    );
}

#[test]
fn node_ports_need_a_node_port_type() {
    let spec = json!({"ports": [{"port": 80, "nodePort": 30080}]});
    assert_eq!(check(spec.clone()), ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]);
    // A change to ClusterIP that keeps the allocated ports: upstream drops them.
    let was = json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]});
    assert_eq!(check_update(spec, Some(was.clone())), NONE);
    assert_eq!(
        check_update(json!({"ports": [{"port": 80, "nodePort": 30081}]}), Some(was)),
        ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
    );
}

#[test]
fn session_affinity_is_client_ip_or_none() {
    assert_eq!(
        check(json!({"sessionAffinity": "Cookie", "ports": [{"port": 80}]})),
        [r#"spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP", "None""#]
    );
    assert_eq!(
        check(json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}, "ports": [{"port": 80}]})),
        ["spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400"]
    );
    assert_eq!(
        check(json!({"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}, "ports": [{"port": 80}]})),
        ["spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None"]
    );
}

#[test]
fn traffic_policies_fit_the_type() {
    assert_eq!(
        check(json!({"externalTrafficPolicy": "Local", "ports": [{"port": 80}]})),
        [r#"spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services"#]
    );
    assert_eq!(
        check(
            json!({"type": "NodePort", "externalTrafficPolicy": "Nearby", "internalTrafficPolicy": "Far", "trafficDistribution": "Anywhere", "ports": [{"port": 80}]})
        ),
        [
            r#"spec.externalTrafficPolicy: Unsupported value: "Nearby": supported values: "Cluster", "Local""#,
            r#"spec.internalTrafficPolicy: Unsupported value: "Far": supported values: "Cluster", "Local""#,
            r#"spec.trafficDistribution: Unsupported value: "Anywhere": supported values: "PreferClose""#,
        ]
    );
    assert_eq!(
        check(json!({"type": "NodePort", "healthCheckNodePort": 31000, "ports": [{"port": 80}]})),
        ["spec.healthCheckNodePort: Invalid value: 31000: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"]
    );
    // A change from NodePort to ClusterIP keeps the defaulted policy: upstream drops it.
    assert_eq!(
        check_update(
            json!({"externalTrafficPolicy": "Cluster", "ports": [{"port": 80}]}),
            Some(json!({"type": "NodePort", "externalTrafficPolicy": "Cluster"}))
        ),
        NONE
    );
    let lb = |hc: i64| json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": hc, "ports": [{"port": 80}]});
    assert_eq!(check_update(lb(31001), Some(lb(31000))), ["spec.healthCheckNodePort: Forbidden: field is immutable"]);
}

#[test]
fn load_balancer_fields_need_a_load_balancer() {
    assert_eq!(
        check(
            json!({"type": "NodePort", "loadBalancerSourceRanges": ["10.0.0.0/33"], "allocateLoadBalancerNodePorts": true,
            "loadBalancerClass": "example.com/lb", "ports": [{"port": 80}]})
        ),
        [
            "spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
            r#"spec.LoadBalancerSourceRanges[0]: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"#,
            "spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'",
            "spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'",
        ]
    );
    let lb = |class: &str| json!({"type": "LoadBalancer", "loadBalancerClass": class, "ports": [{"port": 80}]});
    assert_eq!(
        check_update(lb("example.com/b"), Some(lb("example.com/a"))),
        [r#"spec.loadBalancerClass: Invalid value: "example.com/b": may not change once set"#]
    );
    let mut annotated = json!({"metadata": {"annotations": {"service.beta.kubernetes.io/load-balancer-source-ranges": "10.0.0.0/8, nope"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}});
    crate::defaults::apply("", "Service", &mut annotated);
    let mut causes = Vec::new();
    service(&annotated, None, &mut causes);
    assert_eq!(
        causes.iter().map(Cause::summary).collect::<Vec<_>>(),
        [
            r#"metadata.annotations[service.beta.kubernetes.io/load-balancer-source-ranges]: Invalid value: "nope": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"#
        ]
    );
}

#[test]
fn headless_and_external_name_rules() {
    assert_eq!(
        check(json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]})),
        [r#"spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for NodePort services"#]
    );
    assert_eq!(
        check(
            json!({"type": "ExternalName", "externalName": "db_1.example.com", "clusterIP": "10.0.0.1", "ipFamilyPolicy": "SingleStack"})
        ),
        [
            "spec.clusterIPs: Forbidden: may not be set for ExternalName services",
            "spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services",
            r#"spec.externalName: Invalid value: "db_1.example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#,
        ]
    );
    // A change to ExternalName keeps what the allocator set: upstream clears it.
    let was = json!({"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"});
    let mut now = was.clone();
    now["type"] = json!("ExternalName");
    now["externalName"] = json!("db.example.com");
    assert_eq!(check_update(now, Some(was)), NONE);
    assert_eq!(check(json!({"type": "ExternalName"})), ["spec.externalName: Required value"]);
}

#[test]
fn families_selectors_and_external_ips() {
    assert_eq!(
        check(json!({"ipFamilies": ["IPv4", "IPv4", "IPv5"], "ipFamilyPolicy": "Both", "ports": [{"port": 80}]})),
        [
            r#"spec.ipFamilies[1]: Duplicate value: "IPv4""#,
            r#"spec.ipFamilies[2]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6""#,
            r#"spec.ipFamilyPolicy: Unsupported value: "Both": supported values: "PreferDualStack", "RequireDualStack", "SingleStack""#,
        ]
    );
    assert_eq!(
        check(json!({"selector": {"app": "-web"}, "ports": [{"port": 80}]})),
        [
            r#"spec.selector: Invalid value: "-web": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"#
        ]
    );
    assert_eq!(
        check(json!({"externalIPs": ["10.0.0.300", "127.0.0.1", "0.0.0.0", "fe80::1"], "ports": [{"port": 80}]})),
        [
            r#"spec.externalIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"#,
            r#"spec.externalIPs[1]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)"#,
            r#"spec.externalIPs[2]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)"#,
            r#"spec.externalIPs[3]: Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, fe80::/10)"#,
        ]
    );
}

#[test]
fn cluster_ips_may_not_change() {
    assert_eq!(
        check_update(json!({"clusterIP": "10.0.0.2", "ports": [{"port": 80}]}), Some(json!({"clusterIP": "10.0.0.1"}))),
        [r#"spec.clusterIPs[0]: Invalid value: "10.0.0.2": may not change once set"#]
    );
}
