//! NetworkPolicy validation, as upstream's `ValidateNetworkPolicySpec`: selectors,
//! ports (number or name, `endPort` ranges), peers (one kind each, `ipBlock` CIDRs
//! strictly containing their exceptions) and policy types.

use serde_json::{json, Value};

use super::rules::{self, Cidr};
use crate::Cause;

pub fn network_policy(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    if let Some(sel) = spec.get("podSelector") {
        rules::label_selector(sel, "spec.podSelector", causes);
    }
    for (direction, peers) in [("ingress", "from"), ("egress", "to")] {
        for (i, rule) in items(spec.get(direction)).enumerate() {
            let at = format!("spec.{direction}[{i}]");
            for (j, port) in items(rule.get("ports")).enumerate() {
                network_policy_port(port, &format!("{at}.ports[{j}]"), causes);
            }
            for (j, peer) in items(rule.get(peers)).enumerate() {
                network_policy_peer(peer, &format!("{at}.{peers}[{j}]"), causes);
            }
        }
    }
    let types: Vec<&Value> = items(spec.get("policyTypes")).collect();
    if types.len() > 2 {
        let listed = super::gostr::strings("[]networking.PolicyType", spec.get("policyTypes"));
        causes.push(super::common::invalid_shown(
            "spec.policyTypes",
            &listed,
            "may not specify more than two policyTypes",
        ));
        return;
    }
    for (i, t) in types.into_iter().enumerate() {
        if !matches!(t.as_str(), Some("Ingress" | "Egress")) {
            causes.push(Cause::not_supported(format!("spec.policyTypes[{i}]"), t, &["Ingress", "Egress"]));
        }
    }
}

fn items(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn present<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|v| !v.is_null())
}

fn network_policy_port(port: &Value, at: &str, causes: &mut Vec<Cause>) {
    if let Some(proto) = present(port, "protocol") {
        if !matches!(proto.as_str(), Some("TCP" | "UDP" | "SCTP")) {
            causes.push(Cause::not_supported(format!("{at}.protocol"), proto, &["TCP", "UDP", "SCTP"]));
        }
    }
    let end_port = present(port, "endPort");
    let end_at = format!("{at}.endPort");
    match present(port, "port") {
        Some(Value::String(name)) => {
            if let Some(end) = end_port {
                causes.push(Cause::invalid(&end_at, end, "may not be specified when `port` is non-numeric"));
            }
            rules::invalid_each(&format!("{at}.port"), name, rules::port_name(name), causes);
        }
        Some(number) => {
            rules::port_num_or_name(number, &format!("{at}.port"), causes);
            if let Some(end) = end_port {
                // Upstream (1.32) reports `port`'s value here, not endPort's.
                if end.as_i64() < number.as_i64() {
                    causes.push(Cause::invalid(&end_at, number, "must be greater than or equal to `port`"));
                }
                if !super::int_in(end, 1, 65535) {
                    causes.push(Cause::invalid(&end_at, end, rules::PORT_RANGE));
                }
            }
        }
        None => {
            if let Some(end) = end_port {
                causes.push(Cause::invalid(&end_at, end, "may not be specified when `port` is not specified"));
            }
        }
    }
}

fn network_policy_peer(peer: &Value, at: &str, causes: &mut Vec<Cause>) {
    let mut kinds = 0;
    for selector in ["podSelector", "namespaceSelector"] {
        if let Some(sel) = present(peer, selector) {
            kinds += 1;
            rules::label_selector(sel, &format!("{at}.{selector}"), causes);
        }
    }
    let ip_block = present(peer, "ipBlock");
    if let Some(block) = ip_block {
        kinds += 1;
        ip_block_cidrs(block, &format!("{at}.ipBlock"), causes);
    }
    if kinds == 0 {
        causes.push(Cause::required_because(at, "must specify a peer"));
    } else if kinds > 1 && ip_block.is_some() {
        causes.push(Cause::forbidden(at, "may not specify both ipBlock and another peer"));
    }
}

fn ip_block_cidrs(block: &Value, at: &str, causes: &mut Vec<Cause>) {
    let cidr = block.get("cidr").and_then(Value::as_str).unwrap_or("");
    if cidr.is_empty() {
        causes.push(Cause::required(format!("{at}.cidr")));
        return;
    }
    let Some(outer) = Cidr::parse(cidr) else {
        causes.push(Cause::invalid(format!("{at}.cidr"), &json!(cidr), rules::CIDR_INVALID));
        return;
    };
    for (i, except) in items(block.get("except")).enumerate() {
        let field = format!("{at}.except[{i}]");
        let text = except.as_str().unwrap_or("");
        match Cidr::parse(text) {
            None => causes.push(Cause::invalid(field, except, rules::CIDR_INVALID)),
            Some(inner) if !outer.strictly_contains(&inner) => {
                causes.push(Cause::invalid(field, except, "must be a strict subset of `cidr`"))
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: Value) -> Vec<String> {
        let mut causes = Vec::new();
        network_policy(&json!({ "spec": spec }), &mut causes);
        causes.iter().map(Cause::summary).collect()
    }

    fn ingress(rule: Value) -> Vec<String> {
        check(json!({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]}))
    }

    #[test]
    fn valid_policies_pass() {
        let none: Vec<String> = Vec::new();
        assert_eq!(check(json!({"podSelector": {}, "policyTypes": ["Ingress"]})), none);
        assert_eq!(
            check(json!({
                "podSelector": {"matchLabels": {"app": "db"}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{
                    "from": [
                        {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                        {"namespaceSelector": {"matchLabels": {"project": "p"}}, "podSelector": {}},
                    ],
                    "ports": [{"protocol": "TCP", "port": 6379}, {"port": "http"}, {"port": 32000, "endPort": 32768}],
                }],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}], "ports": [{"protocol": "UDP", "port": 53}]}],
            })),
            none
        );
    }

    #[test]
    fn policy_types_are_ingress_or_egress() {
        assert_eq!(
            check(json!({"podSelector": {}, "policyTypes": ["Ingress", "Sideways"]})),
            [r#"spec.policyTypes[1]: Unsupported value: "Sideways": supported values: "Ingress", "Egress""#]
        );
        assert_eq!(
            check(json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Ingress"]})),
            [
                r#"spec.policyTypes: Invalid value: []networking.PolicyType{"Ingress", "Egress", "Ingress"}: may not specify more than two policyTypes"#
            ]
        );
    }

    #[test]
    fn selectors_are_checked_where_they_are() {
        assert_eq!(
            check(json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}})),
            ["spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"]
        );
        assert_eq!(
            ingress(json!({"from": [{"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}}]})),
            [
                r#"spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].operator: Invalid value: "Has": not a valid selector operator"#
            ]
        );
    }

    #[test]
    fn ports_are_numbers_or_names() {
        assert_eq!(
            ingress(json!({"ports": [{"protocol": "ICMP", "port": 0}]})),
            [
                r#"spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP""#,
                "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            ]
        );
        assert_eq!(
            ingress(json!({"ports": [{"port": "8080"}]})),
            [r#"spec.ingress[0].ports[0].port: Invalid value: "8080": must contain at least one letter (a-z)"#]
        );
        assert_eq!(
            ingress(json!({"ports": [{"port": "web", "endPort": 90}, {"endPort": 90}, {"port": 100, "endPort": 90}]})),
            [
                "spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric",
                "spec.ingress[0].ports[1].endPort: Invalid value: 90: may not be specified when `port` is not specified",
                "spec.ingress[0].ports[2].endPort: Invalid value: 100: must be greater than or equal to `port`",
            ]
        );
        assert_eq!(
            ingress(json!({"ports": [{"port": 80, "endPort": 70000}]})),
            ["spec.ingress[0].ports[0].endPort: Invalid value: 70000: must be between 1 and 65535, inclusive"]
        );
    }

    #[test]
    fn peers_name_one_kind_and_valid_cidrs() {
        assert_eq!(ingress(json!({"from": [{}]})), ["spec.ingress[0].from[0]: Required value: must specify a peer"]);
        assert_eq!(
            ingress(json!({"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]})),
            ["spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"]
        );
        assert_eq!(
            ingress(json!({"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}, {"ipBlock": {}}]})),
            [
                r#"spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"#,
                "spec.ingress[0].from[1].ipBlock.cidr: Required value",
            ]
        );
        assert_eq!(
            check(json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {
                "cidr": "192.168.0.0/24", "except": ["192.168.0.0/16", "192.168.0.0/24", "bad", "192.168.0.128/25"]}}]}]})),
            [
                r#"spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "192.168.0.0/16": must be a strict subset of `cidr`"#,
                r#"spec.egress[0].to[0].ipBlock.except[1]: Invalid value: "192.168.0.0/24": must be a strict subset of `cidr`"#,
                r#"spec.egress[0].to[0].ipBlock.except[2]: Invalid value: "bad": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"#,
            ]
        );
    }
}
