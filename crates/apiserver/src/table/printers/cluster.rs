//! Cluster administration kinds: role bindings, priority and runtime classes,
//! leases, certificate signing requests, admission webhooks and policies.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age_cell, col, name, wide, Printer, AGE, NAME};
use crate::table::age::human_duration;
use crate::table::fields::{arr_at, len_at, opt_bool, opt_int, opt_str, str_at};
use crate::table::labels::go_label_selector;

/// Shared by RoleBinding and ClusterRoleBinding.
pub const ROLE_BINDING: Printer = Printer {
    columns: &[
        NAME,
        col("Role", "string"),
        AGE,
        wide("Users", "string"),
        wide("Groups", "string"),
        wide("ServiceAccounts", "string"),
    ],
    cells: role_binding_cells,
};

pub const PRIORITY_CLASS: Printer = Printer {
    columns: &[
        NAME,
        col("Value", "integer"),
        col("Global-Default", "boolean"),
        AGE,
        wide("PreemptionPolicy", "string"),
    ],
    cells: priority_class_cells,
};

pub const RUNTIME_CLASS: Printer =
    Printer { columns: &[NAME, col("Handler", "string"), AGE], cells: runtime_class_cells };

pub const LEASE: Printer = Printer { columns: &[NAME, col("Holder", "string"), AGE], cells: lease_cells };

pub const CSR: Printer = Printer {
    columns: &[
        NAME,
        AGE,
        col("SignerName", "string"),
        col("Requestor", "string"),
        col("RequestedDuration", "string"),
        col("Condition", "string"),
    ],
    cells: csr_cells,
};

/// Shared by mutating and validating webhook configurations.
pub const WEBHOOK_CONFIGURATION: Printer =
    Printer { columns: &[NAME, col("Webhooks", "integer"), AGE], cells: webhook_configuration_cells };

pub const VALIDATING_ADMISSION_POLICY: Printer = Printer {
    columns: &[NAME, col("Validations", "integer"), col("ParamKind", "string"), AGE],
    cells: validating_admission_policy_cells,
};

pub const POLICY_BINDING: Printer = Printer {
    columns: &[NAME, col("PolicyName", "string"), col("ParamRef", "string"), AGE],
    cells: policy_binding_cells,
};

/// `Kind/name` of the role; wide: users, groups and `namespace/name` service
/// accounts, each joined with `, `.
fn role_binding_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr_at(obj, "/subjects") {
        let name = str_at(subject, "/name").to_string();
        match str_at(subject, "/kind") {
            "User" => users.push(name),
            "Group" => groups.push(name),
            "ServiceAccount" => sas.push(format!("{}/{name}", str_at(subject, "/namespace"))),
            _ => {}
        }
    }
    vec![
        name(obj),
        json!(format!("{}/{}", str_at(obj, "/roleRef/kind"), str_at(obj, "/roleRef/name"))),
        age_cell(obj, now),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

fn priority_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        json!(opt_int(obj, "/value").unwrap_or(0)),
        json!(opt_bool(obj, "/globalDefault").unwrap_or(false)),
        age_cell(obj, now),
        json!(str_at(obj, "/preemptionPolicy")),
    ]
}

fn runtime_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(str_at(obj, "/handler")), age_cell(obj, now)]
}

fn lease_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(str_at(obj, "/spec/holderIdentity")), age_cell(obj, now)]
}

/// `Denied` over `Approved` over `Pending`, then `,Failed` and `,Issued`.
fn csr_condition(obj: &Value) -> String {
    let has = |t: &str| arr_at(obj, "/status/conditions").iter().any(|c| str_at(c, "/type") == t);
    let mut status = if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    }
    .to_string();
    if has("Failed") {
        status += ",Failed";
    }
    if !str_at(obj, "/status/certificate").is_empty() {
        status += ",Issued";
    }
    status
}

fn csr_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let signer = opt_str(obj, "/spec/signerName").filter(|s| !s.is_empty()).unwrap_or("<none>");
    let duration = opt_int(obj, "/spec/expirationSeconds").map_or_else(|| "<none>".into(), human_duration);
    vec![
        name(obj),
        age_cell(obj, now),
        json!(signer),
        json!(str_at(obj, "/spec/username")),
        json!(duration),
        json!(csr_condition(obj)),
    ]
}

fn webhook_configuration_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(len_at(obj, "/webhooks")), age_cell(obj, now)]
}

fn validating_admission_policy_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let param_kind = match obj.pointer("/spec/paramKind").filter(|p| !p.is_null()) {
        Some(p) => format!("{}/{}", str_at(p, "/apiVersion"), str_at(p, "/kind")),
        None => "<unset>".into(),
    };
    vec![name(obj), json!(len_at(obj, "/spec/validations")), json!(param_kind), age_cell(obj, now)]
}

/// The param as `namespace/name` (`*/name` when the namespace is not given), or
/// the selector dumped as upstream's Go struct; `<unset>` without a paramRef.
fn policy_binding_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let param = match obj.pointer("/spec/paramRef").filter(|p| !p.is_null()) {
        None => "<unset>".to_string(),
        Some(p) => match (str_at(p, "/name"), str_at(p, "/namespace"), p.get("selector").filter(|s| !s.is_null())) {
            ("", _, Some(selector)) => go_label_selector(selector),
            ("", _, None) => "<unset>".into(),
            (name, "", _) => format!("*/{name}"),
            (name, namespace, _) => format!("{namespace}/{name}"),
        },
    };
    vec![name(obj), json!(str_at(obj, "/spec/policyName")), json!(param), age_cell(obj, now)]
}

#[cfg(test)]
mod tests;
