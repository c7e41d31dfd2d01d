//! Columns and cells per kind, matching upstream's printers
//! (`pkg/printers/internalversion/printers.go`). Kinds without a printer get NAME
//! and CREATED AT, as upstream's default table does.

use serde_json::{json, Value};
use skiff_api::Resource;

use super::age::age;

/// One column of a Table.
pub struct Column {
    pub name: &'static str,
    /// `string`, `integer`, `date`, ...
    pub kind: &'static str,
    /// `name` marks the column kubectl prefixes with `kind/`.
    pub format: &'static str,
    pub description: &'static str,
    /// 0 always shown; 1 only with `-o wide`.
    pub priority: u8,
}

const fn col(name: &'static str, kind: &'static str, priority: u8) -> Column {
    Column { name, kind, format: "", description: "", priority }
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};
const AGE: Column = Column {
    name: "Age",
    kind: "string",
    format: "",
    description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
    priority: 0,
};

pub fn columns(res: &Resource) -> Vec<Column> {
    match (res.group, res.kind) {
        ("", "Pod") => vec![
            NAME,
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            AGE,
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ],
        ("", "Namespace") => vec![NAME, col("Status", "string", 0), AGE],
        ("", "ConfigMap") => vec![NAME, col("Data", "integer", 0), AGE],
        ("", "Secret") => vec![NAME, col("Type", "string", 0), col("Data", "integer", 0), AGE],
        ("", "ServiceAccount") => vec![NAME, col("Secrets", "integer", 0), AGE],
        ("", "Service") => vec![
            NAME,
            col("Type", "string", 0),
            col("Cluster-IP", "string", 0),
            col("External-IP", "string", 0),
            col("Port(s)", "string", 0),
            AGE,
            col("Selector", "string", 1),
        ],
        ("apps", "Deployment") => vec![
            NAME,
            col("Ready", "string", 0),
            col("Up-to-date", "string", 0),
            col("Available", "string", 0),
            AGE,
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        _ => vec![NAME, Column { name: "Created At", kind: "date", format: "", description: "", priority: 0 }],
    }
}

fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn string(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("").to_string()
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s
    }
}

fn count(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(|v| v.as_object().map(|m| m.len()).or(v.as_array().map(|a| a.len()))).unwrap_or(0)
        as i64
}

fn selector(obj: &Value, pointer: &str) -> String {
    let mut pairs: Vec<String> = obj
        .pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?))).collect())
        .unwrap_or_default();
    pairs.sort();
    or_none(pairs.join(","))
}

fn containers(obj: &Value, pointer: &str, field: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c.get(field).and_then(Value::as_str)).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

pub fn cells(res: &Resource, obj: &Value) -> Vec<Value> {
    let name = json!(string(obj, "/metadata/name"));
    let created = obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str);
    let age = json!(age(created));
    match (res.group, res.kind) {
        ("", "Pod") => super::printers_pod::pod_cells(obj, name, age),
        ("", "Namespace") => vec![name, json!(string(obj, "/status/phase")), age],
        ("", "ConfigMap") => vec![name, json!(count(obj, "/data") + count(obj, "/binaryData")), age],
        ("", "Secret") => vec![name, json!(string(obj, "/type")), json!(count(obj, "/data")), age],
        ("", "ServiceAccount") => vec![name, json!(count(obj, "/secrets")), age],
        ("", "Service") => {
            let ports = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                            match p.get("nodePort").and_then(Value::as_i64) {
                                Some(np) => format!("{}:{np}/{proto}", int(p, "/port")),
                                None => format!("{}/{proto}", int(p, "/port")),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let external = obj
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|i| i.iter().filter_map(|x| x.get("ip").and_then(Value::as_str)).collect::<Vec<_>>().join(","))
                .filter(|s| !s.is_empty())
                .or_else(|| {
                    obj.pointer("/spec/externalIPs").and_then(Value::as_array).map(|i| {
                        i.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")
                    })
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| {
                    if string(obj, "/spec/type") == "LoadBalancer" { "<pending>".into() } else { "<none>".into() }
                });
            vec![
                name,
                json!(string(obj, "/spec/type").is_empty().then(|| "ClusterIP".to_string()).unwrap_or_else(|| string(obj, "/spec/type"))),
                json!(or_none(string(obj, "/spec/clusterIP"))),
                json!(external),
                json!(or_none(ports)),
                age,
                json!(selector(obj, "/spec/selector")),
            ]
        }
        ("apps", "Deployment") => vec![
            name,
            json!(format!("{}/{}", int(obj, "/status/readyReplicas"), obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1))),
            json!(int(obj, "/status/updatedReplicas")),
            json!(int(obj, "/status/availableReplicas")),
            age,
            json!(containers(obj, "/spec/template/spec/containers", "name")),
            json!(containers(obj, "/spec/template/spec/containers", "image")),
            json!(super::printers_pod::label_selector_string(obj.pointer("/spec/selector"))),
        ],
        _ => vec![name, json!(created.unwrap_or(""))],
    }
}
