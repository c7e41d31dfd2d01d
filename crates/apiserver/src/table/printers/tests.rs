//! Checks across every registered kind: which kinds print with the default table,
//! and that every printer makes one cell per column.

use serde_json::{json, Value};
use skiff_api::registry::RESOURCES;

use super::testing::{ago, column_names, now, row};
use super::{cells, columns, printer};

/// Kinds upstream 1.32 has no printer for (or that are never listed).
const DEFAULT_TABLE_KINDS: &[&str] = &[
    "Binding",
    "LimitRange",
    "Role",
    "ClusterRole",
    "TokenReview",
    "SelfSubjectReview",
    "LocalSubjectAccessReview",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "SubjectAccessReview",
];

#[test]
fn every_printed_kind_has_its_printer() {
    for res in RESOURCES {
        let is_default = printer(res).columns.iter().any(|c| c.name == "Created At");
        assert_eq!(is_default, DEFAULT_TABLE_KINDS.contains(&res.kind), "{}/{} {}", res.group, res.version, res.kind);
    }
}

#[test]
fn every_printer_makes_one_cell_per_column() {
    let sparse = json!({"metadata": {"name": "x"}});
    for res in RESOURCES {
        for obj in [&sparse, &json!({}), &json!({"metadata": {"name": "x"}, "spec": null, "status": null})] {
            assert_eq!(cells(res, obj, now()).len(), columns(res).len(), "{}/{} {}", res.group, res.version, res.kind);
        }
    }
}

#[test]
fn every_table_has_a_name_column_and_known_types() {
    for res in RESOURCES {
        let cols = columns(res);
        assert!(cols.iter().any(|c| c.name == "Name" && c.format == "name"), "{}", res.kind);
        for c in cols {
            assert!(["string", "integer", "boolean", "date"].contains(&c.kind), "{} {}", res.kind, c.name);
        }
    }
}

#[test]
fn default_table_shows_creation_time_in_utc() {
    assert_eq!(column_names("", "LimitRange"), ["Name", "Created At"]);
    let lr = json!({"metadata": {"name": "limits", "creationTimestamp": "2024-04-30T14:00:00.5+02:00"}});
    assert_eq!(Value::from(row("", "LimitRange", &lr)), json!(["limits", "2024-04-30T12:00:00Z"]));
    let role = json!({"metadata": {"name": "reader", "creationTimestamp": ago(5)}});
    assert_eq!(Value::from(row("rbac.authorization.k8s.io", "Role", &role)), json!(["reader", "2024-05-01T11:59:55Z"]));
    let unset = json!({"metadata": {"name": "r"}});
    assert_eq!(row("rbac.authorization.k8s.io", "ClusterRole", &unset)[1], "0001-01-01T00:00:00Z");
}
