//! Endpoints (`ValidateEndpoints`) and EndpointSlices (`ValidateEndpointSlice`,
//! `ValidateEndpointSliceUpdate`): the addresses and ports Services route to.
//!
//! Addresses must be usable destinations (`rules::non_special_ip`): a loopback
//! or link-local address is rejected, also when skiff's own controllers write it
//! (a host-network pod on a node whose IP is loopback). One exception: see
//! [`loopback_allowed`].

use std::collections::HashSet;

use serde_json::{json, Value};

use super::common::{set, text};
use super::rules::{self, dns1123_label, dns1123_subdomain, invalid_each, label_value, qualified_name, PORT_RANGE};
use crate::Cause;

const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
const ADDRESS_TYPES: [&str; 3] = ["FQDN", "IPv4", "IPv6"];
const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;
const MAX_TOPOLOGY_LABELS: usize = 16;
const MAX_ZONE_HINTS: usize = 8;
/// The zone has its own field in discovery/v1; upstream's conversion from
/// v1beta1 moves it out of the topology map, so finding it there is an internal error.
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

fn items(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// skiff's DNS server publishes where it listens as `kube-system/kube-dns`, and
/// it may listen on loopback (`--dns-listen 127.0.0.1:...`, or a machine whose
/// only address is loopback). Upstream has no such writer (its DNS runs in pods)
/// and rejects loopback everywhere; here those two objects may list it.
fn loopback_allowed(obj: &Value) -> bool {
    let meta = |k: &str| obj.pointer(&format!("/metadata/{k}")).and_then(Value::as_str);
    meta("namespace") == Some("kube-system") && meta("name") == Some("kube-dns")
}

/// `rules::non_special_ip`, less the loopback rule where it does not apply.
fn destination(ip: &str, at: &str, loopback_ok: bool, causes: &mut Vec<Cause>) {
    let mut found = Vec::new();
    rules::non_special_ip(ip, at, &mut found);
    causes.extend(found.into_iter().filter(|c| !(loopback_ok && c.message.ends_with(rules::LOOPBACK))));
}

pub fn endpoints(obj: &Value, causes: &mut Vec<Cause>) {
    let loopback_ok = loopback_allowed(obj);
    for (i, subset) in items(obj.get("subsets")).iter().enumerate() {
        let at = format!("subsets[{i}]");
        let (ready, not_ready) = (items(subset.get("addresses")), items(subset.get("notReadyAddresses")));
        if ready.is_empty() && not_ready.is_empty() {
            causes.push(Cause::required_because(&at, "must specify `addresses` or `notReadyAddresses`"));
        }
        for (j, a) in ready.iter().enumerate() {
            address(a, &format!("{at}.addresses[{j}]"), loopback_ok, causes);
        }
        for (j, a) in not_ready.iter().enumerate() {
            address(a, &format!("{at}.notReadyAddresses[{j}]"), loopback_ok, causes);
        }
        let ports = items(subset.get("ports"));
        for (j, p) in ports.iter().enumerate() {
            endpoint_port(p, ports.len() > 1, &format!("{at}.ports[{j}]"), causes);
        }
    }
}

/// `validateEndpointAddress`: an IP upstream parses, then not a special one
/// (an unparsable IP is reported by both checks, as upstream does).
fn address(a: &Value, at: &str, loopback_ok: bool, causes: &mut Vec<Cause>) {
    let ip = text(Some(a), "ip").unwrap_or("");
    let ip_at = format!("{at}.ip");
    if rules::parse_ip(ip).is_none() {
        causes.push(Cause::invalid(&ip_at, &json!(ip), rules::IP_INVALID));
    }
    if let Some(host) = text(Some(a), "hostname").filter(|h| !h.is_empty()) {
        invalid_each(&format!("{at}.hostname"), host, dns1123_label(host), causes);
    }
    if let Some(node) = text(Some(a), "nodeName") {
        invalid_each(&format!("{at}.nodeName"), node, dns1123_subdomain(node), causes);
    }
    destination(ip, &ip_at, loopback_ok, causes);
}

/// `validateEndpointPort`: a name (required when the subset has several ports),
/// a port number, a protocol (defaulted to TCP) and an optional app protocol.
fn endpoint_port(p: &Value, require_name: bool, at: &str, causes: &mut Vec<Cause>) {
    let name = text(Some(p), "name").unwrap_or("");
    if require_name && name.is_empty() {
        causes.push(Cause::required(format!("{at}.name")));
    } else if !name.is_empty() {
        invalid_each(&format!("{at}.name"), name, dns1123_label(name), causes);
    }
    let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
    if !(1..=65535).contains(&port) {
        causes.push(Cause::invalid(format!("{at}.port"), &json!(port), PORT_RANGE));
    }
    protocol(text(Some(p), "protocol").filter(|p| !p.is_empty()), &format!("{at}.protocol"), causes);
    app_protocol(p, at, causes);
}

/// A protocol that is missing (for core ports, also an empty one) is required.
fn protocol(protocol: Option<&str>, at: &str, causes: &mut Vec<Cause>) {
    match protocol {
        None => causes.push(Cause::required(at)),
        Some(p) if PROTOCOLS.contains(&p) => {}
        Some(p) => causes.push(Cause::not_supported(at, &json!(p), &PROTOCOLS)),
    }
}

fn app_protocol(p: &Value, at: &str, causes: &mut Vec<Cause>) {
    if let Some(app) = text(Some(p), "appProtocol") {
        invalid_each(&format!("{at}.appProtocol"), app, qualified_name(app), causes);
    }
}

pub fn endpoint_slice(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let address_type = text(Some(obj), "addressType").unwrap_or("");
    if address_type.is_empty() {
        causes.push(Cause::required("addressType"));
    } else if !ADDRESS_TYPES.contains(&address_type) {
        causes.push(Cause::not_supported("addressType", &json!(address_type), &ADDRESS_TYPES));
    }
    slice_endpoints(items(obj.get("endpoints")), address_type, loopback_allowed(obj), causes);
    slice_ports(items(obj.get("ports")), causes);
    if let Some(old) = old {
        if text(Some(old), "addressType").unwrap_or("") != address_type {
            causes.push(Cause::invalid("addressType", &json!(address_type), "field is immutable"));
        }
    }
}

fn slice_endpoints(endpoints: &[Value], address_type: &str, loopback_ok: bool, causes: &mut Vec<Cause>) {
    if endpoints.len() > MAX_ENDPOINTS {
        causes.push(Cause::too_many("endpoints", endpoints.len(), MAX_ENDPOINTS));
        return;
    }
    for (i, ep) in endpoints.iter().enumerate() {
        let at = format!("endpoints[{i}]");
        let addresses_at = format!("{at}.addresses");
        let addresses = items(ep.get("addresses"));
        if addresses.is_empty() {
            causes.push(Cause::required_because(&addresses_at, "must contain at least 1 address"));
        } else if addresses.len() > MAX_ADDRESSES {
            causes.push(Cause::too_many(&addresses_at, addresses.len(), MAX_ADDRESSES));
        }
        for (j, a) in addresses.iter().enumerate() {
            let a = a.as_str().unwrap_or("");
            slice_address(a, address_type, &format!("{addresses_at}[{j}]"), loopback_ok, causes);
        }
        if let Some(node) = text(Some(ep), "nodeName") {
            invalid_each(&format!("{at}.nodeName"), node, dns1123_subdomain(node), causes);
        }
        topology(set(Some(ep), "deprecatedTopology"), &format!("{at}.deprecatedTopology"), causes);
        if let Some(host) = text(Some(ep), "hostname") {
            invalid_each(&format!("{at}.hostname"), host, dns1123_label(host), causes);
        }
        if let Some(hints) = set(Some(ep), "hints") {
            zone_hints(hints, &format!("{at}.hints.forZones"), causes);
        }
    }
}

/// An address of the slice's type; addresses of an unknown type are not checked.
fn slice_address(a: &str, address_type: &str, at: &str, loopback_ok: bool, causes: &mut Vec<Cause>) {
    let family_ok = match address_type {
        "IPv4" => rules::is_ipv4(a),
        "IPv6" => rules::parse_ip(a).is_some() && !rules::is_ipv4(a),
        "FQDN" => return rules::fully_qualified_domain_name(a, at, causes),
        _ => return,
    };
    if family_ok {
        destination(a, at, loopback_ok, causes);
    } else {
        causes.push(Cause::invalid(at, &json!(a), format!("must be a valid {address_type} address")));
    }
}

fn topology(labels: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    let Some(map) = labels.and_then(Value::as_object) else { return };
    if map.len() > MAX_TOPOLOGY_LABELS {
        causes.push(Cause::too_many(at, map.len(), MAX_TOPOLOGY_LABELS));
    }
    rules::labels(labels.unwrap_or(&Value::Null), at, causes);
    if map.contains_key(ZONE_LABEL) {
        causes.push(Cause {
            reason: "InternalError".into(),
            message: "Internal error: reserved key was not removed in conversion".into(),
            field: format!("{at}[{ZONE_LABEL}]"),
        });
    }
}

/// `validateHints`: at most 8 zones, each named once, by a label value.
fn zone_hints(hints: &Value, at: &str, causes: &mut Vec<Cause>) {
    let zones = items(hints.get("forZones"));
    if zones.len() > MAX_ZONE_HINTS {
        causes.push(Cause::too_many(at, zones.len(), MAX_ZONE_HINTS));
        return;
    }
    let mut seen = HashSet::new();
    for (i, zone) in zones.iter().enumerate() {
        let name = text(Some(zone), "name").unwrap_or("");
        let name_at = format!("{at}[{i}].name");
        if !seen.insert(name) {
            causes.push(Cause::duplicate(&name_at, &json!(name)));
        }
        invalid_each(&name_at, name, label_value(name), causes);
    }
}

/// `validatePorts`: names (a missing one counts as "", as upstream defaults it)
/// unique and DNS labels, a protocol, an optional app protocol. Port numbers
/// are not range-checked for slices upstream.
fn slice_ports(ports: &[Value], causes: &mut Vec<Cause>) {
    if ports.len() > MAX_PORTS {
        causes.push(Cause::too_many("ports", ports.len(), MAX_PORTS));
        return;
    }
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let at = format!("ports[{i}]");
        let name = text(Some(p), "name").unwrap_or("");
        if !name.is_empty() {
            invalid_each(&format!("{at}.name"), name, dns1123_label(name), causes);
        }
        if !names.insert(name) {
            causes.push(Cause::duplicate(format!("{at}.name"), &json!(name)));
        }
        protocol(text(Some(p), "protocol"), &format!("{at}.protocol"), causes);
        app_protocol(p, &at, causes);
    }
}

#[cfg(test)]
mod tests;
