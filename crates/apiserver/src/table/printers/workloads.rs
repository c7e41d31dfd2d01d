//! Replication controllers, replica sets, deployments, stateful sets, daemon sets
//! and controller revisions.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age_cell, col, name, wide, Column, Printer, AGE, NAME};
use crate::table::fields::{arr_at, container_cells, int_at, opt_int, str_at};
use crate::table::labels::{format_label_selector, format_labels, selector_string};

const CONTAINERS: Column = wide("Containers", "string");
const IMAGES: Column = wide("Images", "string");
const SELECTOR: Column = wide("Selector", "string");

/// Replica-set-like columns, shared by replication controllers and replica sets.
const REPLICAS_COLUMNS: &[Column] = &[
    NAME,
    col("Desired", "integer"),
    col("Current", "integer"),
    col("Ready", "integer"),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
];

pub const REPLICATION_CONTROLLER: Printer = Printer { columns: REPLICAS_COLUMNS, cells: replication_controller_cells };

pub const REPLICA_SET: Printer = Printer { columns: REPLICAS_COLUMNS, cells: replica_set_cells };

pub const DEPLOYMENT: Printer = Printer {
    columns: &[
        NAME,
        col("Ready", "string"),
        col("Up-to-date", "string"),
        col("Available", "string"),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: deployment_cells,
};

pub const STATEFUL_SET: Printer =
    Printer { columns: &[NAME, col("Ready", "string"), AGE, CONTAINERS, IMAGES], cells: stateful_set_cells };

pub const DAEMON_SET: Printer = Printer {
    columns: &[
        NAME,
        col("Desired", "integer"),
        col("Current", "integer"),
        col("Ready", "integer"),
        col("Up-to-date", "integer"),
        col("Available", "integer"),
        col("Node Selector", "string"),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    cells: daemon_set_cells,
};

pub const CONTROLLER_REVISION: Printer = Printer {
    columns: &[NAME, col("Controller", "string"), col("Revision", "string"), AGE],
    cells: controller_revision_cells,
};

/// `spec.replicas`, which the API defaults to 1.
fn desired(obj: &Value) -> i64 {
    opt_int(obj, "/spec/replicas").unwrap_or(1)
}

/// Name, desired/current/ready, age, then the template's containers and `selector`.
fn replicas_cells(obj: &Value, now: DateTime<Utc>, selector: String) -> Vec<Value> {
    let (names, images) = container_cells(obj.pointer("/spec/template/spec"));
    vec![
        name(obj),
        json!(desired(obj)),
        json!(int_at(obj, "/status/replicas")),
        json!(int_at(obj, "/status/readyReplicas")),
        age_cell(obj, now),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

/// A replication controller's selector is a plain label map.
fn replication_controller_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    replicas_cells(obj, now, format_labels(obj.pointer("/spec/selector")))
}

fn replica_set_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    replicas_cells(obj, now, format_label_selector(obj.pointer("/spec/selector")))
}

fn deployment_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(obj.pointer("/spec/template/spec"));
    // Upstream prints the plain selector string here: empty, not <none>.
    let selector = selector_string(obj.pointer("/spec/selector")).unwrap_or_else(|| "<invalid>".into());
    vec![
        name(obj),
        json!(format!("{}/{}", int_at(obj, "/status/readyReplicas"), desired(obj))),
        json!(int_at(obj, "/status/updatedReplicas")),
        json!(int_at(obj, "/status/availableReplicas")),
        age_cell(obj, now),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

fn stateful_set_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(obj.pointer("/spec/template/spec"));
    vec![
        name(obj),
        json!(format!("{}/{}", int_at(obj, "/status/readyReplicas"), desired(obj))),
        age_cell(obj, now),
        json!(names),
        json!(images),
    ]
}

fn daemon_set_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(obj.pointer("/spec/template/spec"));
    vec![
        name(obj),
        json!(int_at(obj, "/status/desiredNumberScheduled")),
        json!(int_at(obj, "/status/currentNumberScheduled")),
        json!(int_at(obj, "/status/numberReady")),
        json!(int_at(obj, "/status/updatedNumberScheduled")),
        json!(int_at(obj, "/status/numberAvailable")),
        json!(format_labels(obj.pointer("/spec/template/spec/nodeSelector"))),
        age_cell(obj, now),
        json!(names),
        json!(images),
        json!(format_label_selector(obj.pointer("/spec/selector"))),
    ]
}

/// The controlling owner as `kind.group/name` (`daemonset.apps/fluentd`), `<none>`
/// without one.
fn controller_revision_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let owner = arr_at(obj, "/metadata/ownerReferences")
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true));
    let controller = match owner {
        None => "<none>".to_string(),
        Some(r) => {
            let group = str_at(r, "/apiVersion").rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            let kind = str_at(r, "/kind");
            match (kind, group) {
                ("", "") => str_at(r, "/name").to_string(),
                (kind, "") => format!("{}/{}", kind.to_lowercase(), str_at(r, "/name")),
                (kind, group) => format!("{}.{}/{}", kind.to_lowercase(), group.to_lowercase(), str_at(r, "/name")),
            }
        }
    };
    vec![name(obj), json!(controller), json!(int_at(obj, "/revision")), age_cell(obj, now)]
}

#[cfg(test)]
mod tests;
