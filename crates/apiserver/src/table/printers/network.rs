//! Services, endpoints, endpoint slices, ingresses, ingress classes and network
//! policies.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age_cell, col, name, wide, Printer, AGE, NAME};
use crate::table::fields::{arr_at, int_at, opt_int, opt_str, str_at};
use crate::table::labels::{format_label_selector, format_labels};

pub const SERVICE: Printer = Printer {
    columns: &[
        NAME,
        col("Type", "string"),
        col("Cluster-IP", "string"),
        col("External-IP", "string"),
        col("Port(s)", "string"),
        AGE,
        wide("Selector", "string"),
    ],
    cells: service_cells,
};

pub const ENDPOINTS: Printer = Printer { columns: &[NAME, col("Endpoints", "string"), AGE], cells: endpoints_cells };

pub const ENDPOINT_SLICE: Printer = Printer {
    columns: &[NAME, col("AddressType", "string"), col("Ports", "string"), col("Endpoints", "string"), AGE],
    cells: endpoint_slice_cells,
};

pub const INGRESS: Printer = Printer {
    columns: &[
        NAME,
        col("Class", "string"),
        col("Hosts", "string"),
        col("Address", "string"),
        col("Ports", "string"),
        AGE,
    ],
    cells: ingress_cells,
};

pub const INGRESS_CLASS: Printer = Printer {
    columns: &[NAME, col("Controller", "string"), col("Parameters", "string"), AGE],
    cells: ingress_class_cells,
};

pub const NETWORK_POLICY: Printer =
    Printer { columns: &[NAME, col("Pod-Selector", "string"), AGE], cells: network_policy_cells };

/// Load-balancer ingress points (IP, else hostname), sorted and deduplicated. The
/// server renders wide output, so nothing is clipped.
fn load_balancer(obj: &Value) -> String {
    let points: BTreeSet<&str> = arr_at(obj, "/status/loadBalancer/ingress")
        .iter()
        .map(|i| if str_at(i, "/ip").is_empty() { str_at(i, "/hostname") } else { str_at(i, "/ip") })
        .filter(|p| !p.is_empty())
        .collect();
    points.into_iter().collect::<Vec<_>>().join(",")
}

fn external_ip(svc: &Value, type_: &str) -> String {
    let external: Vec<&str> = arr_at(svc, "/spec/externalIPs").iter().filter_map(Value::as_str).collect();
    match type_ {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".into(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let lb = load_balancer(svc);
            match (lb.is_empty(), external.is_empty()) {
                (_, false) => lb.split(',').filter(|s| !s.is_empty()).chain(external).collect::<Vec<_>>().join(","),
                (false, true) => lb,
                (true, true) => "<pending>".into(),
            }
        }
        "ExternalName" => str_at(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

/// `80/TCP`, or `80:30080/TCP` with a node port.
fn ports(svc: &Value) -> String {
    let ports: Vec<String> = arr_at(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let protocol = opt_str(p, "/protocol").unwrap_or("TCP");
            match int_at(p, "/nodePort") {
                0 => format!("{}/{protocol}", int_at(p, "/port")),
                node_port => format!("{}:{node_port}/{protocol}", int_at(p, "/port")),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

fn service_cells(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // The API defaults the type to ClusterIP and keeps clusterIPs[0] equal to clusterIP.
    let type_ = opt_str(svc, "/spec/type").unwrap_or("ClusterIP");
    let cluster_ip = [str_at(svc, "/spec/clusterIPs/0"), str_at(svc, "/spec/clusterIP")]
        .into_iter()
        .find(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    vec![
        name(svc),
        json!(type_),
        json!(cluster_ip),
        json!(external_ip(svc, type_)),
        json!(ports(svc)),
        age_cell(svc, now),
        json!(format_labels(svc.pointer("/spec/selector"))),
    ]
}

/// Up to three of `list`, then ` + N more...`; `<unset>` when empty.
fn list_with_more(list: Vec<String>, max: usize) -> String {
    match list.len() {
        0 => "<unset>".into(),
        n if n > max => format!("{} + {} more...", list[..max].join(","), n - max),
        _ => list.join(","),
    }
}

/// `ip:port` per address and port (bracketed IPv6), at most three then ` + N more...`.
fn format_endpoints(obj: &Value) -> String {
    let subsets = arr_at(obj, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut all = Vec::new();
    for ss in subsets {
        let ips: Vec<&str> = arr_at(ss, "/addresses").iter().map(|a| str_at(a, "/ip")).collect();
        let ports = arr_at(ss, "/ports");
        if ports.is_empty() {
            // Headless services may have no ports.
            all.extend(ips.iter().map(|ip| ip.to_string()));
        }
        for port in ports {
            let port = int_at(port, "/port");
            all.extend(ips.iter().map(|ip| {
                if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                }
            }));
        }
    }
    match all.len() {
        n if n > 3 => format!("{} + {} more...", all[..3].join(","), n - 3),
        _ => all.join(","),
    }
}

fn endpoints_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(format_endpoints(obj)), age_cell(obj, now)]
}

fn endpoint_slice_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ports = arr_at(obj, "/ports")
        .iter()
        .map(|p| match (opt_int(p, "/port"), opt_str(p, "/name")) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".into(),
        })
        .collect();
    let addresses = arr_at(obj, "/endpoints")
        .iter()
        .flat_map(|e| arr_at(e, "/addresses").iter().filter_map(Value::as_str).map(str::to_string))
        .collect();
    vec![
        name(obj),
        json!(str_at(obj, "/addressType")),
        json!(list_with_more(ports, 3)),
        json!(list_with_more(addresses, 3)),
        age_cell(obj, now),
    ]
}

/// Up to three rule hosts, then ` + N more...` where N counts the rules past the
/// third (as upstream counts them); `*` when no rule names a host.
fn hosts(ing: &Value) -> String {
    let rules = arr_at(ing, "/spec/rules");
    let (mut hosts, mut more) = (Vec::new(), false);
    for rule in rules {
        if hosts.len() == 3 {
            more = true;
            break;
        }
        hosts.extend(Some(str_at(rule, "/host")).filter(|h| !h.is_empty()));
    }
    match (hosts.is_empty(), more) {
        (true, _) => "*".into(),
        (false, true) => format!("{} + {} more...", hosts.join(","), rules.len() - 3),
        (false, false) => hosts.join(","),
    }
}

fn ingress_cells(ing: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ports = if arr_at(ing, "/spec/tls").is_empty() { "80" } else { "80, 443" };
    vec![
        name(ing),
        json!(opt_str(ing, "/spec/ingressClassName").unwrap_or("<none>")),
        json!(hosts(ing)),
        json!(load_balancer(ing)),
        json!(ports),
        age_cell(ing, now),
    ]
}

/// `Kind[.apiGroup]/name` of the parameters reference, `<none>` without one.
fn ingress_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let parameters = match obj.pointer("/spec/parameters").filter(|p| !p.is_null()) {
        None => "<none>".into(),
        Some(p) => match opt_str(p, "/apiGroup") {
            Some(group) => format!("{}.{group}/{}", str_at(p, "/kind"), str_at(p, "/name")),
            None => format!("{}/{}", str_at(p, "/kind"), str_at(p, "/name")),
        },
    };
    vec![name(obj), json!(str_at(obj, "/spec/controller")), json!(parameters), age_cell(obj, now)]
}

fn network_policy_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // podSelector is a struct, not a pointer, upstream: missing reads as empty.
    let selector = obj.pointer("/spec/podSelector").cloned().unwrap_or_else(|| json!({}));
    vec![name(obj), json!(format_label_selector(Some(&selector))), age_cell(obj, now)]
}

#[cfg(test)]
mod tests;
