//! `meta.k8s.io/v1 Table` responses for `kubectl get`: columns and cells per kind
//! (see `printers`), rows carrying the object's metadata (or the object), and the
//! Table form of watch events.

mod age;
mod printers;
mod printers_pod;

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

fn row(res: &Resource, obj: &Value, query: &Query) -> Value {
    let mut row = json!({"cells": cells(res, obj)});
    match query.get("includeObject").unwrap_or("Metadata") {
        "None" => {}
        "Object" => row["object"] = obj.clone(),
        _ => row["object"] = partial_metadata(obj),
    }
    row
}

pub fn table_for_list(res: &Resource, items: &[Value], list_metadata: Value, query: &Query) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": column_definitions(res),
        "rows": items.iter().map(|o| row(res, o, query)).collect::<Vec<_>>(),
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
