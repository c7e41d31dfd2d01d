//! Service validation, as upstream's `ValidateService`/`ValidateServiceUpdate`.
//!
//! Validation runs before skiff's allocator fills in `clusterIPs`, `ipFamilies`,
//! `ipFamilyPolicy`, `allocateLoadBalancerNodePorts` and nodePorts, so what the
//! allocator supplies is not required here. And where upstream's update strategy
//! clears a field that no longer applies to the new `type` (nodePorts, traffic
//! policies, cluster IPs) but skiff's keeps it, an update that leaves the field as
//! it was is accepted, as it is upstream.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::rules;
use crate::Cause;

const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";
const LB_ONLY: &str = "may only be used when `type` is 'LoadBalancer'";

pub fn service(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let field = |name: &str| spec.get(name).filter(|v| !v.is_null());
    let text = |name: &str| field(name).and_then(Value::as_str).unwrap_or("");
    // Set as it was before this update: the strategy upstream would have cleared it.
    let kept = |name: &str| old.is_some_and(|o| o.pointer(&format!("/spec/{name}")) == spec.get(name));
    // Upstream defaults an empty type, as a missing one, to ClusterIP.
    let service_type = field("type").and_then(Value::as_str).filter(|t| !t.is_empty()).unwrap_or("ClusterIP");
    let lb = service_type == "LoadBalancer";
    if let Some(old) = old {
        update(spec, old, lb, causes);
    }
    let cluster_ips = cluster_ips(spec);
    let headless = cluster_ips == ["None"];
    let ports: Vec<&Value> = field("ports").and_then(Value::as_array).into_iter().flatten().collect();
    if ports.is_empty() && service_type != "ExternalName" && !headless {
        causes.push(Cause::required("spec.ports"));
    }
    match service_type {
        "LoadBalancer" | "NodePort" if headless => causes.push(Cause::invalid(
            "spec.clusterIPs[0]",
            &json!("None"),
            format!("may not be set to 'None' for {service_type} services"),
        )),
        "ExternalName" => {
            for (name, present) in [
                ("clusterIPs", !cluster_ips.is_empty()),
                ("ipFamilies", field("ipFamilies").and_then(Value::as_array).is_some_and(|f| !f.is_empty())),
                ("ipFamilyPolicy", field("ipFamilyPolicy").is_some()),
            ] {
                let unchanged = kept(name) && (name != "clusterIPs" || kept("clusterIP"));
                if present && !unchanged {
                    causes.push(Cause::forbidden(format!("spec.{name}"), "may not be set for ExternalName services"));
                }
            }
            let cname = text("externalName").strip_suffix('.').unwrap_or(text("externalName"));
            if cname.is_empty() {
                causes.push(Cause::required("spec.externalName"));
            } else {
                rules::invalid_each("spec.externalName", cname, rules::dns1123_subdomain(cname), causes);
            }
        }
        _ => {}
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        service_port(p, ports.len() > 1, &mut names, &format!("spec.ports[{i}]"), causes);
    }
    if let Some(selector) = field("selector") {
        rules::labels(selector, "spec.selector", causes);
    }
    session_affinity(spec, causes);
    if service_type != "ExternalName" {
        ip_families(spec, causes);
    }
    for (i, ip) in field("externalIPs").and_then(Value::as_array).into_iter().flatten().enumerate() {
        external_ip(ip.as_str().unwrap_or(""), &format!("spec.externalIPs[{i}]"), causes);
    }
    if !matches!(service_type, "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName") {
        causes.push(Cause::not_supported(
            "spec.type",
            &json!(service_type),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    node_ports(&ports, service_type, old, causes);
    duplicate_ports(&ports, causes);
    source_ranges(obj, lb, causes);
    if field("allocateLoadBalancerNodePorts").is_some() && !lb && !kept("allocateLoadBalancerNodePorts") {
        causes.push(Cause::forbidden("spec.allocateLoadBalancerNodePorts", LB_ONLY));
    }
    match field("loadBalancerClass").and_then(Value::as_str) {
        Some(class) if lb => rules::invalid_each("spec.loadBalancerClass", class, rules::qualified_name(class), causes),
        Some(_) if !kept("loadBalancerClass") => causes.push(Cause::forbidden("spec.loadBalancerClass", LB_ONLY)),
        _ => {}
    }
    traffic_policies(spec, service_type, &kept, causes);
}

/// The cluster IPs as upstream's strategy would have synced them from `clusterIP`.
fn cluster_ips(spec: &Value) -> Vec<&str> {
    let listed: Vec<&str> =
        spec.get("clusterIPs").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    match spec.get("clusterIP").and_then(Value::as_str) {
        Some(ip) if listed.is_empty() && !ip.is_empty() => vec![ip],
        _ => listed,
    }
}

/// What upstream checks only on update, before the rest.
fn update(spec: &Value, old: &Value, lb: bool, causes: &mut Vec<Cause>) {
    let old_type = old.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
    let old_ip = old.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("");
    let new_ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
    let external_name = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    if !old_ip.is_empty() && old_ip != new_ip && !external_name && old_type != "ExternalName" {
        causes.push(Cause::invalid("spec.clusterIPs[0]", &json!(new_ip), "may not change once set"));
    }
    let class = |s: Option<&Value>| s.and_then(|s| s.get("loadBalancerClass")).filter(|c| !c.is_null()).cloned();
    if lb && old_type == "LoadBalancer" && class(Some(spec)) != class(old.get("spec")) {
        let value = class(Some(spec)).unwrap_or(json!("null"));
        causes.push(Cause::invalid("spec.loadBalancerClass", &value, "may not change once set"));
    }
    let health_check_port = |s: Option<&Value>| s.and_then(|s| s.get("healthCheckNodePort")).and_then(Value::as_i64);
    if needs_health_check(Some(spec))
        && needs_health_check(old.get("spec"))
        && health_check_port(Some(spec)).unwrap_or(0) != health_check_port(old.get("spec")).unwrap_or(0)
    {
        causes.push(Cause::forbidden("spec.healthCheckNodePort", "field is immutable"));
    }
}

fn needs_health_check(spec: Option<&Value>) -> bool {
    let text = |f: &str| spec.and_then(|s| s.get(f)).and_then(Value::as_str);
    text("type") == Some("LoadBalancer") && text("externalTrafficPolicy") == Some("Local")
}

fn service_port(p: &Value, require_name: bool, names: &mut HashSet<String>, at: &str, causes: &mut Vec<Cause>) {
    let name = p.get("name").and_then(Value::as_str).unwrap_or("");
    if require_name && name.is_empty() {
        causes.push(Cause::required(format!("{at}.name")));
    } else if !name.is_empty() {
        rules::invalid_each(&format!("{at}.name"), name, rules::dns1123_label(name), causes);
        if !names.insert(name.to_string()) {
            causes.push(Cause::duplicate(format!("{at}.name"), &json!(name)));
        }
    }
    let port = p.get("port").unwrap_or(&Value::Null);
    if !super::int_in(port, 1, 65535) {
        causes.push(Cause::invalid(format!("{at}.port"), port, rules::PORT_RANGE));
    }
    // Upstream defaults an empty protocol to TCP, and an empty or zero targetPort to `port`.
    let protocol = protocol(p);
    if !matches!(protocol, "TCP" | "UDP" | "SCTP") {
        causes.push(Cause::not_supported(format!("{at}.protocol"), &json!(protocol), &["SCTP", "TCP", "UDP"]));
    }
    match p.get("targetPort") {
        None | Some(Value::Null) => {}
        Some(t) if t == &json!(0) || t == &json!("") => {}
        Some(t) => rules::port_num_or_name(t, &format!("{at}.targetPort"), causes),
    }
    if let Some(app) = p.get("appProtocol").and_then(Value::as_str) {
        rules::invalid_each(&format!("{at}.appProtocol"), app, rules::qualified_name(app), causes);
    }
    if let Some(np) = p.get("nodePort").filter(|v| !v.is_null()) {
        if !super::int_in(np, 0, 65535) {
            causes.push(Cause::invalid(format!("{at}.nodePort"), np, rules::PORT_RANGE));
        }
    }
}

fn protocol(p: &Value) -> &str {
    match p.get("protocol").and_then(Value::as_str) {
        None | Some("") => "TCP",
        Some(other) => other,
    }
}

fn session_affinity(spec: &Value, causes: &mut Vec<Cause>) {
    let config = spec.get("sessionAffinityConfig").filter(|c| !c.is_null());
    match spec.get("sessionAffinity").and_then(Value::as_str).unwrap_or("") {
        "ClientIP" => {
            let why = "when session affinity type is ClientIP";
            let at = "spec.sessionAffinityConfig";
            let client_ip = config.and_then(|c| c.get("clientIP")).filter(|c| !c.is_null());
            let timeout = client_ip.and_then(|c| c.get("timeoutSeconds")).filter(|t| !t.is_null());
            match (config, client_ip, timeout) {
                (None, ..) => causes.push(Cause::required_because(at, why)),
                (_, None, _) => causes.push(Cause::required_because(format!("{at}.clientIP"), why)),
                (.., None) => causes.push(Cause::required_because(format!("{at}.clientIP.timeoutSeconds"), why)),
                (.., Some(t)) if !super::int_in(t, 1, 86400) => causes.push(Cause::invalid(
                    format!("{at}.clientIP.timeoutSeconds"),
                    t,
                    "must be greater than 0 and less than 86400",
                )),
                _ => {}
            }
        }
        "None" | "" => {
            if config.is_some() {
                causes.push(Cause::forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => causes.push(Cause::not_supported("spec.sessionAffinity", &json!(other), &["ClientIP", "None"])),
    }
}

fn ip_families(spec: &Value, causes: &mut Vec<Cause>) {
    let mut seen = HashSet::new();
    for (i, family) in spec.get("ipFamilies").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let at = format!("spec.ipFamilies[{i}]");
        if !matches!(family.as_str(), Some("IPv4" | "IPv6")) {
            causes.push(Cause::not_supported(&at, family, &["IPv4", "IPv6"]));
        }
        if !seen.insert(family.to_string()) {
            causes.push(Cause::duplicate(at, family));
        }
    }
    if let Some(policy) = spec.get("ipFamilyPolicy").filter(|p| !p.is_null()) {
        if !matches!(policy.as_str(), Some("SingleStack" | "PreferDualStack" | "RequireDualStack")) {
            causes.push(Cause::not_supported(
                "spec.ipFamilyPolicy",
                policy,
                &["PreferDualStack", "RequireDualStack", "SingleStack"],
            ));
        }
    }
}

/// Upstream's `IsValidIP` then, for a valid address, `ValidateNonSpecialIP`.
fn external_ip(ip: &str, at: &str, causes: &mut Vec<Cause>) {
    if rules::parse_ip(ip).is_none() {
        causes.push(Cause::invalid(at, &json!(ip), rules::IP_INVALID));
    } else {
        rules::non_special_ip(ip, at, causes);
    }
}

fn node_ports(ports: &[&Value], service_type: &str, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let node_port = |p: &Value| p.get("nodePort").and_then(Value::as_i64).filter(|n| *n != 0);
    if service_type == "ClusterIP" {
        // Upstream's strategy drops nodePorts on a change to ClusterIP unless new ones
        // were asked for.
        let old_ports: HashSet<i64> = old
            .and_then(|o| o.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(node_port)
            .collect();
        let dropped = old.is_some() && ports.iter().filter_map(|p| node_port(p)).all(|n| old_ports.contains(&n));
        for (i, p) in ports.iter().enumerate() {
            if node_port(p).is_some() && !dropped {
                causes.push(Cause::forbidden(
                    format!("spec.ports[{i}].nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut seen = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        if let Some(n) = node_port(p) {
            if !seen.insert((protocol(p), n)) {
                causes.push(Cause::duplicate(format!("spec.ports[{i}].nodePort"), &json!(n)));
            }
        }
    }
}

fn duplicate_ports(ports: &[&Value], causes: &mut Vec<Cause>) {
    let mut seen = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !seen.insert((protocol(p), port)) {
            // Upstream prints the (protocol, port) key, a Go struct, with `%#v`.
            causes.push(Cause {
                reason: "FieldValueDuplicate".into(),
                message: format!(
                    "Duplicate value: core.ServicePort{{Name:\"\", Protocol:{:?}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
                    protocol(p)
                ),
                field: format!("spec.ports[{i}]"),
            });
        }
    }
}

fn source_ranges(obj: &Value, lb: bool, causes: &mut Vec<Cause>) {
    let ranges = obj.pointer("/spec/loadBalancerSourceRanges").and_then(Value::as_array).filter(|r| !r.is_empty());
    let annotation = obj.pointer("/metadata/annotations").and_then(|a| a.get(SOURCE_RANGES_ANNOTATION));
    if let Some(ranges) = ranges {
        // Upstream's path really is capitalised here.
        let at = "spec.LoadBalancerSourceRanges";
        if !lb {
            causes.push(Cause::forbidden(at, LB_ONLY));
        }
        for (i, r) in ranges.iter().enumerate() {
            let cidr = r.as_str().unwrap_or("").trim();
            if rules::Cidr::parse(cidr).is_none() {
                causes.push(Cause::invalid(format!("{at}[{i}]"), &json!(cidr), rules::CIDR_INVALID));
            }
        }
    } else if let Some(value) = annotation.and_then(Value::as_str) {
        let at = format!("metadata.annotations[{SOURCE_RANGES_ANNOTATION}]");
        if !lb {
            causes.push(Cause::forbidden(&at, LB_ONLY));
        }
        let value = value.trim();
        for cidr in value.split(',').filter(|_| !value.is_empty()).map(str::trim) {
            if rules::Cidr::parse(cidr).is_none() {
                causes.push(Cause::invalid(&at, &json!(cidr), rules::CIDR_INVALID));
            }
        }
    }
}

fn traffic_policies(spec: &Value, service_type: &str, kept: &dyn Fn(&str) -> bool, causes: &mut Vec<Cause>) {
    let has_external_ips = spec.get("externalIPs").and_then(Value::as_array).is_some_and(|ips| !ips.is_empty());
    let externally_accessible =
        matches!(service_type, "LoadBalancer" | "NodePort") || (service_type == "ClusterIP" && has_external_ips);
    let external = spec.get("externalTrafficPolicy").and_then(Value::as_str).unwrap_or("");
    if !externally_accessible {
        if !external.is_empty() && !kept("externalTrafficPolicy") {
            causes.push(Cause::invalid(
                "spec.externalTrafficPolicy",
                &json!(external),
                "may only be set for externally-accessible services",
            ));
        }
    } else if !external.is_empty() && external != "Cluster" && external != "Local" {
        causes.push(Cause::not_supported("spec.externalTrafficPolicy", &json!(external), &["Cluster", "Local"]));
    }
    let health_check_port = spec.get("healthCheckNodePort").filter(|p| !p.is_null() && **p != json!(0));
    if let Some(port) = health_check_port {
        if !needs_health_check(Some(spec)) {
            if !kept("healthCheckNodePort") {
                causes.push(Cause::invalid(
                    "spec.healthCheckNodePort",
                    port,
                    "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
                ));
            }
        } else if !super::int_in(port, 1, 65535) {
            causes.push(Cause::invalid("spec.healthCheckNodePort", port, rules::PORT_RANGE));
        }
    }
    if let Some(internal) = spec.get("internalTrafficPolicy").filter(|p| !p.is_null()) {
        if !matches!(internal.as_str(), Some("Cluster" | "Local")) {
            causes.push(Cause::not_supported("spec.internalTrafficPolicy", internal, &["Cluster", "Local"]));
        }
    }
    if let Some(distribution) = spec.get("trafficDistribution").filter(|d| !d.is_null()) {
        if distribution.as_str() != Some("PreferClose") {
            causes.push(Cause::not_supported("spec.trafficDistribution", distribution, &["PreferClose"]));
        }
    }
}

#[cfg(test)]
mod tests;
