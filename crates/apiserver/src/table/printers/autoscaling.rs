//! Horizontal pod autoscalers (REFERENCE, TARGETS such as `cpu: 50%/80%`,
//! MINPODS, MAXPODS, REPLICAS) and pod disruption budgets.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age_cell, col, name, Printer, AGE, NAME};
use crate::table::fields::{int_at, int_or_string, opt_int, str_at};
use skiff_api::quantity::canonical;

pub const HPA: Printer = Printer {
    columns: &[
        NAME,
        col("Reference", "string"),
        col("Targets", "string"),
        col("MinPods", "string"),
        col("MaxPods", "string"),
        col("Replicas", "string"),
        AGE,
    ],
    cells: hpa_cells,
};

pub const POD_DISRUPTION_BUDGET: Printer = Printer {
    columns: &[
        NAME,
        col("Min Available", "string"),
        col("Max Unavailable", "string"),
        col("Allowed Disruptions", "integer"),
        AGE,
    ],
    cells: pdb_cells,
};

/// The metric specs and statuses in the autoscaling/v2 shape. An autoscaling/v1
/// object's CPU target and current utilization become one Resource metric, as
/// upstream converts them; without any target, the CPU 80% target upstream's
/// defaulting gives every stored autoscaler.
fn metrics(hpa: &Value) -> (Vec<Value>, Vec<Value>) {
    let specs = match (
        hpa.pointer("/spec/metrics").and_then(Value::as_array),
        opt_int(hpa, "/spec/targetCPUUtilizationPercentage"),
    ) {
        (Some(m), _) if !m.is_empty() => m.clone(),
        (_, target) => vec![json!({"type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target.unwrap_or(80)}}})],
    };
    let statuses = match (
        hpa.pointer("/status/currentMetrics").and_then(Value::as_array),
        opt_int(hpa, "/status/currentCPUUtilizationPercentage"),
    ) {
        (Some(m), _) if !m.is_empty() => m.clone(),
        (_, Some(current)) => {
            vec![json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}})]
        }
        _ => Vec::new(),
    };
    (specs, statuses)
}

/// A quantity as upstream's `(*Quantity).String()` prints it: canonical, or
/// `<nil>` when missing.
fn quantity(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).map(canonical).unwrap_or_else(|| "<nil>".into())
}

/// One metric: `current/target`, with `(avg)` for average values of object and
/// external metrics, and `name: ` before resource metrics. The status is matched by
/// position, as upstream does.
fn format_metric(spec: &Value, status: Option<&Value>) -> String {
    // The status's source of the same type, e.g. status.resource for a Resource spec.
    let current = |source: &str| status.and_then(|s| s.get(source)).filter(|s| !s.is_null());
    match str_at(spec, "/type") {
        kind @ ("External" | "Object") => {
            let source = if kind == "External" { "external" } else { "object" };
            let target = &spec[source]["target"];
            if target.get("averageValue").is_some_and(|v| !v.is_null()) {
                let cur = current(source)
                    .filter(|c| c.pointer("/current/averageValue").is_some_and(|v| !v.is_null()))
                    .map_or_else(|| "<unknown>".into(), |c| quantity(c, "/current/averageValue"));
                format!("{cur}/{} (avg)", quantity(target, "/averageValue"))
            } else {
                let cur = current(source).map_or_else(|| "<unknown>".into(), |c| quantity(c, "/current/value"));
                format!("{cur}/{}", quantity(target, "/value"))
            }
        }
        "Pods" => {
            let cur = current("pods").map_or_else(|| "<unknown>".into(), |c| quantity(c, "/current/averageValue"));
            format!("{cur}/{}", quantity(spec, "/pods/target/averageValue"))
        }
        kind @ ("Resource" | "ContainerResource") => {
            let source = if kind == "Resource" { "resource" } else { "containerResource" };
            let target = &spec[source]["target"];
            let resource = str_at(spec, &format!("/{source}/name"));
            if target.get("averageValue").is_some_and(|v| !v.is_null()) {
                let cur = current(source).map_or_else(|| "<unknown>".into(), |c| quantity(c, "/current/averageValue"));
                format!("{resource}: {cur}/{}", quantity(target, "/averageValue"))
            } else {
                let cur = current(source)
                    .and_then(|c| opt_int(c, "/current/averageUtilization"))
                    .map_or_else(|| "<unknown>".into(), |u| format!("{u}%"));
                let goal = opt_int(target, "/averageUtilization").map_or_else(|| "<auto>".into(), |u| format!("{u}%"));
                format!("{resource}: {cur}/{goal}")
            }
        }
        _ => "<unknown type>".into(),
    }
}

/// At most two metrics, then ` + N more...`.
fn targets(hpa: &Value) -> String {
    let (specs, statuses) = metrics(hpa);
    let list: Vec<String> = specs.iter().enumerate().map(|(i, spec)| format_metric(spec, statuses.get(i))).collect();
    match list.len() {
        n if n > 2 => format!("{} + {} more...", list[..2].join(", "), n - 2),
        _ => list.join(", "),
    }
}

fn hpa_cells(hpa: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let reference =
        format!("{}/{}", str_at(hpa, "/spec/scaleTargetRef/kind"), str_at(hpa, "/spec/scaleTargetRef/name"));
    let min_pods = opt_int(hpa, "/spec/minReplicas").map_or_else(|| "<unset>".into(), |m| m.to_string());
    vec![
        name(hpa),
        json!(reference),
        json!(targets(hpa)),
        json!(min_pods),
        json!(int_at(hpa, "/spec/maxReplicas")),
        json!(int_at(hpa, "/status/currentReplicas")),
        age_cell(hpa, now),
    ]
}

fn pdb_cells(pdb: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let bound = |field: &str| match pdb.pointer(&format!("/spec/{field}")) {
        Some(v) if !v.is_null() => int_or_string(v),
        _ => "N/A".into(),
    };
    vec![
        name(pdb),
        json!(bound("minAvailable")),
        json!(bound("maxUnavailable")),
        json!(int_at(pdb, "/status/disruptionsAllowed")),
        age_cell(pdb, now),
    ]
}

#[cfg(test)]
mod tests;
