//! `meta.k8s.io/v1 Table` responses for `kubectl get`: columns and cells per kind
//! (see `printers`), rows carrying the object's metadata (or the object), and the
//! Table form of watch events. Everything here is pure; the only clock read is the
//! one `now` per response, taken by the `table_for_*` entry points.

mod age;
mod fields;
mod labels;
mod printers;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use skiff_api::Resource;

use crate::request::Query;

pub use age::human_duration;
pub use printers::{cells, columns, Column};

/// An object reduced to `PartialObjectMetadata`.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn column_definitions(res: &Resource) -> Value {
    columns(res)
        .iter()
        .map(|c| {
            json!({
                "name": c.name, "type": c.kind, "format": c.format, "description": c.description, "priority": c.priority,
            })
        })
        .collect::<Vec<_>>()
        .into()
}

fn row(res: &Resource, obj: &Value, query: &Query, now: DateTime<Utc>) -> Value {
    let mut row = json!({"cells": cells(res, obj, now)});
    if let Some(conditions) = printers::row_conditions(res, obj) {
        row["conditions"] = conditions;
    }
    match query.get("includeObject").unwrap_or("Metadata") {
        "None" => {}
        "Object" => row["object"] = obj.clone(),
        _ => row["object"] = partial_metadata(obj),
    }
    row
}

pub fn table_for_list(res: &Resource, items: &[Value], list_metadata: Value, query: &Query) -> Value {
    table_for_list_at(res, items, list_metadata, query, Utc::now())
}

/// The Table of `items` with ages measured at `now`.
pub fn table_for_list_at(
    res: &Resource,
    items: &[Value],
    list_metadata: Value,
    query: &Query,
    now: DateTime<Utc>,
) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": column_definitions(res),
        "rows": items.iter().map(|o| row(res, o, query, now)).collect::<Vec<_>>(),
    })
}

pub fn table_for_object(res: &Resource, obj: &Value, query: &Query) -> Value {
    let rv = obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
    table_for_list(res, std::slice::from_ref(obj), json!({"resourceVersion": rv}), query)
}

/// A watch event's object as a one-row Table; column definitions only in the first.
pub fn table_for_watch(res: &Resource, obj: &Value, query: &Query, with_columns: bool) -> Value {
    let mut t = table_for_object(res, obj, query);
    if !with_columns {
        t["columnDefinitions"] = json!([]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_table_has_wide_columns_rows_and_completed_condition() {
        let res = skiff_api::registry::find_kind("", "v1", "Pod").unwrap();
        let now = age::parse_time("2024-05-01T12:00:00Z").unwrap();
        let pod = json!({"metadata": {"name": "job-x", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "spec": {"containers": [{}]}, "status": {"phase": "Succeeded"}});
        let table = table_for_list_at(res, &[pod], json!({"resourceVersion": "7"}), &Query::parse(None), now);
        assert_eq!(
            table["columnDefinitions"][0],
            json!({"name": "Name", "type": "string", "format": "name",
            "description": printers::NAME.description, "priority": 0})
        );
        assert_eq!(table["columnDefinitions"][5]["priority"], 1);
        let row = &table["rows"][0];
        assert_eq!(
            row["cells"],
            json!(["job-x", "0/1", "Succeeded", "0", "60m", "<none>", "<none>", "<none>", "<none>"])
        );
        assert_eq!(row["conditions"][0]["type"], "Completed");
        assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    }
}
