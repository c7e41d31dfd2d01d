//! Core kinds other than pods, services and events: nodes, namespaces, config
//! maps, secrets, service accounts, resource quotas, component statuses.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age_cell, col, name, wide, Printer, AGE, NAME};
use crate::table::fields::{arr_at, len_at, str_at};
use skiff_api::quantity::canonical;

pub const NODE: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string"),
        col("Roles", "string"),
        AGE,
        col("Version", "string"),
        wide("Internal-IP", "string"),
        wide("External-IP", "string"),
        wide("OS-Image", "string"),
        wide("Kernel-Version", "string"),
        wide("Container-Runtime", "string"),
    ],
    cells: node_cells,
};

pub const NAMESPACE: Printer = Printer { columns: &[NAME, col("Status", "string"), AGE], cells: namespace_cells };

pub const CONFIG_MAP: Printer = Printer { columns: &[NAME, col("Data", "string"), AGE], cells: config_map_cells };

pub const SECRET: Printer =
    Printer { columns: &[NAME, col("Type", "string"), col("Data", "string"), AGE], cells: secret_cells };

pub const SERVICE_ACCOUNT: Printer =
    Printer { columns: &[NAME, col("Secrets", "string"), AGE], cells: service_account_cells };

pub const RESOURCE_QUOTA: Printer =
    Printer { columns: &[NAME, col("Request", "string"), col("Limit", "string"), AGE], cells: resource_quota_cells };

pub const COMPONENT_STATUS: Printer = Printer {
    columns: &[NAME, col("Status", "string"), col("Message", "string"), col("Error", "string")],
    cells: component_status_cells,
};

/// `Ready`/`NotReady` from the Ready condition (`Unknown` without one), then
/// `SchedulingDisabled` for a cordoned node.
fn node_status(node: &Value) -> String {
    // Upstream indexes conditions by type, so a repeated type's last entry wins.
    let ready = arr_at(node, "/status/conditions").iter().rev().find(|c| str_at(c, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_at(c, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// Roles from `node-role.kubernetes.io/<role>` label keys and the
/// `kubernetes.io/role=<role>` label, sorted, or `<none>`.
fn node_roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    for (key, value) in node.pointer("/metadata/labels").and_then(Value::as_object).into_iter().flatten() {
        if let Some(role) = key.strip_prefix("node-role.kubernetes.io/").filter(|r| !r.is_empty()) {
            roles.insert(role.to_string());
        } else if key == "kubernetes.io/role" {
            roles.extend(value.as_str().filter(|v| !v.is_empty()).map(str::to_string));
        }
    }
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn node_address(node: &Value, type_: &str) -> String {
    let found = arr_at(node, "/status/addresses").iter().find(|a| str_at(a, "/type") == type_);
    found.map(|a| str_at(a, "/address").to_string()).unwrap_or_else(|| "<none>".into())
}

fn node_cells(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let info = |field: &str| match str_at(node, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        name(node),
        json!(node_status(node)),
        json!(node_roles(node)),
        age_cell(node, now),
        json!(str_at(node, "/status/nodeInfo/kubeletVersion")),
        json!(node_address(node, "InternalIP")),
        json!(node_address(node, "ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

fn namespace_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(str_at(obj, "/status/phase")), age_cell(obj, now)]
}

fn config_map_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(len_at(obj, "/data") + len_at(obj, "/binaryData")), age_cell(obj, now)]
}

fn secret_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(str_at(obj, "/type")), json!(len_at(obj, "/data")), age_cell(obj, now)]
}

fn service_account_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(len_at(obj, "/secrets")), age_cell(obj, now)]
}

/// `resource: used/hard` for every hard limit, sorted by resource name; `limits.*`
/// resources go to the Limit column, everything else to Request.
fn resource_quota_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let hard = obj.pointer("/status/hard").and_then(Value::as_object);
    let mut resources: Vec<&String> = hard.map(|h| h.keys().collect()).unwrap_or_default();
    resources.sort();
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for resource in resources {
        let quantity = |map: &str| {
            obj.pointer(&format!("/status/{map}/{}", resource.replace('~', "~0").replace('/', "~1")))
                .and_then(Value::as_str)
                .map(canonical)
                .unwrap_or_else(|| "0".into())
        };
        let entry = format!("{resource}: {}/{}", quantity("used"), quantity("hard"));
        let is_limit = resource.split_once('.').is_some_and(|(first, _)| first == "limits");
        if is_limit { &mut limits } else { &mut requests }.push(entry);
    }
    vec![name(obj), json!(requests.join(", ")), json!(limits.join(", ")), age_cell(obj, now)]
}

/// The Healthy condition as `Healthy`/`Unhealthy` with its message and error.
fn component_status_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let healthy = arr_at(obj, "/conditions").iter().find(|c| str_at(c, "/type") == "Healthy");
    let (status, message, error) = match healthy {
        Some(c) => (
            if str_at(c, "/status") == "True" { "Healthy" } else { "Unhealthy" },
            str_at(c, "/message"),
            str_at(c, "/error"),
        ),
        None => ("Unknown", "", ""),
    };
    vec![name(obj), json!(status), json!(message), json!(error)]
}

#[cfg(test)]
mod tests;
