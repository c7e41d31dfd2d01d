//! Helpers for the printers' table-driven tests: a fixed `now`, timestamps
//! relative to it, and the row a kind's printer makes.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::Value;

use super::{cells, columns};
use crate::table::age::parse_time;

/// The instant every test renders at.
pub fn now() -> DateTime<Utc> {
    parse_time("2024-05-01T12:00:00Z").unwrap()
}

/// The RFC 3339 timestamp `seconds` before [`now`].
pub fn ago(seconds: i64) -> String {
    (now() - Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The cells `group`'s `kind` printer makes for `obj` at [`now`], checked to be one
/// per column.
pub fn row(group: &str, kind: &str, obj: &Value) -> Vec<Value> {
    let res = skiff_api::registry::RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind)
        .unwrap_or_else(|| panic!("no resource {group}/{kind}"));
    let cells = cells(res, obj, now());
    assert_eq!(cells.len(), columns(res).len(), "{kind}: one cell per column");
    cells
}

/// The names of `group`'s `kind` columns, `*` marking wide-only ones.
pub fn column_names(group: &str, kind: &str) -> Vec<String> {
    let res = skiff_api::registry::RESOURCES.iter().find(|r| r.group == group && r.kind == kind).unwrap();
    columns(res).iter().map(|c| format!("{}{}", c.name, if c.priority > 0 { "*" } else { "" })).collect()
}
