//! Pods (upstream's `printPod`): READY counting started sidecars, the STATUS
//! reason kubectl shows (CrashLoopBackOff, Init:0/1, Terminating, ...), RESTARTS
//! with the time of the last restart; and pod templates.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age_cell, col, name, wide, Printer, AGE, NAME};
use crate::table::age::{human_duration, parse_time, seconds_between};
use crate::table::fields::{arr_at, condition, container_cells, int_at, or_none, str_at};
use crate::table::labels::format_labels;

pub const POD: Printer = Printer {
    columns: &[
        NAME,
        col("Ready", "string"),
        col("Status", "string"),
        col("Restarts", "string"),
        AGE,
        wide("IP", "string"),
        wide("Node", "string"),
        wide("Nominated Node", "string"),
        wide("Readiness Gates", "string"),
    ],
    cells: pod_cells,
};

pub const POD_TEMPLATE: Printer = Printer {
    columns: &[NAME, col("Containers", "string"), col("Images", "string"), col("Pod Labels", "string")],
    cells: pod_template_cells,
};

/// Restart counts and the latest `lastState.terminated.finishedAt` seen with them.
#[derive(Default)]
struct Restarts {
    count: i64,
    last: Option<DateTime<Utc>>,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count += int_at(status, "/restartCount");
        let finished = parse_time(str_at(status, "/lastState/terminated/finishedAt"));
        if finished > self.last {
            self.last = finished;
        }
    }
}

/// A sidecar: an init container with `restartPolicy: Always`.
fn is_sidecar(pod: &Value, container_name: &str) -> bool {
    arr_at(pod, "/spec/initContainers")
        .iter()
        .any(|c| str_at(c, "/name") == container_name && str_at(c, "/restartPolicy") == "Always")
}

/// `Reason`, or `{prefix}Signal:N` / `{prefix}ExitCode:N` when a terminated state has none.
fn terminated_reason(t: &Value, prefix: &str) -> String {
    match (str_at(t, "/reason"), int_at(t, "/signal")) {
        ("", 0) => format!("{prefix}ExitCode:{}", int_at(t, "/exitCode")),
        ("", signal) => format!("{prefix}Signal:{signal}"),
        (reason, _) => format!("{prefix}{reason}"),
    }
}

fn condition_true(pod: &Value, type_: &str) -> bool {
    condition(pod, "/status/conditions", type_).is_some_and(|c| str_at(c, "/status") == "True")
}

fn pod_cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = str_at(pod, "/status/phase");
    let mut reason = match str_at(pod, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let scheduling_gated = arr_at(pod, "/status/conditions")
        .iter()
        .any(|c| str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated");
    if scheduling_gated {
        reason = "SchedulingGated".into();
    }
    let init_specs = arr_at(pod, "/spec/initContainers");
    let sidecars = init_specs.iter().filter(|c| str_at(c, "/restartPolicy") == "Always").count();
    let total = arr_at(pod, "/spec/containers").len() + sidecars;
    let mut ready = 0;
    let (mut restarts, mut sidecar_restarts) = (Restarts::default(), Restarts::default());

    let mut initializing = false;
    for (i, c) in arr_at(pod, "/status/initContainerStatuses").iter().enumerate() {
        restarts.add(c);
        let sidecar = is_sidecar(pod, str_at(c, "/name"));
        if sidecar {
            sidecar_restarts.add(c);
        }
        let terminated = c.pointer("/state/terminated");
        let waiting_reason = str_at(c, "/state/waiting/reason");
        if terminated.is_some_and(|t| int_at(t, "/exitCode") == 0) {
            continue;
        }
        if sidecar && c.get("started").and_then(Value::as_bool) == Some(true) {
            if c.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = match terminated {
            Some(t) => terminated_reason(t, "Init:"),
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                format!("Init:{waiting_reason}")
            }
            None => format!("Init:{i}/{}", init_specs.len()),
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "Initialized") {
        // Only sidecars' restarts count alongside the main containers'.
        restarts = sidecar_restarts;
        let mut has_running = false;
        for c in arr_at(pod, "/status/containerStatuses").iter().rev() {
            restarts.add(c);
            let waiting_reason = str_at(c, "/state/waiting/reason");
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = c.pointer("/state/terminated") {
                reason = terminated_reason(t, "");
            } else if c.get("ready").and_then(Value::as_bool) == Some(true) && c.pointer("/state/running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A container that exited successfully next to running ones is not "Completed".
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") { "Running" } else { "NotReady" }.into();
        }
    }

    if pod.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null()) {
        if str_at(pod, "/status/reason") == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }

    let restarts_cell = match restarts.last {
        Some(last) if restarts.count != 0 => {
            format!("{} ({} ago)", restarts.count, human_duration(seconds_between(last, now)))
        }
        _ => restarts.count.to_string(),
    };
    // Upstream reads podIPs[0]; podIP is the same address (the API keeps them in step).
    let ip = match str_at(pod, "/status/podIPs/0/ip") {
        "" => str_at(pod, "/status/podIP"),
        ip => ip,
    };
    vec![
        name(pod),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        age_cell(pod, now),
        json!(or_none(ip)),
        json!(or_none(str_at(pod, "/spec/nodeName"))),
        json!(or_none(str_at(pod, "/status/nominatedNodeName"))),
        json!(readiness_gates(pod)),
    ]
}

/// `true/total` over the readiness gates, `<none>` without gates.
fn readiness_gates(pod: &Value) -> String {
    let gates = arr_at(pod, "/spec/readinessGates");
    if gates.is_empty() {
        return "<none>".into();
    }
    let passed = gates.iter().filter(|g| condition_true(pod, str_at(g, "/conditionType"))).count();
    format!("{passed}/{}", gates.len())
}

/// Finished pods carry a `Completed` row condition.
pub fn row_conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match str_at(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

fn pod_template_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(obj.pointer("/template/spec"));
    vec![name(obj), json!(names), json!(images), json!(format_labels(obj.pointer("/template/metadata/labels")))]
}

#[cfg(test)]
mod tests;
