//! Events, core/v1 and events.k8s.io/v1. Upstream prints both through the core
//! printer after converting events.k8s.io objects (`regarding` is the involved
//! object, `note` the message, `deprecated*` the old timestamps, count and source),
//! so both share one row and differ only in where the fields are read.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{col, wide, Column, Printer, NAME};
use crate::table::age::age;
use crate::table::fields::{int_at, opt_int, str_at};

const COLUMNS: &[Column] = &[
    col("Last Seen", "string"),
    col("Type", "string"),
    col("Reason", "string"),
    col("Object", "string"),
    wide("Subobject", "string"),
    wide("Source", "string"),
    col("Message", "string"),
    wide("First Seen", "string"),
    wide("Count", "string"),
    Column { priority: 1, ..NAME },
];

pub const CORE_EVENT: Printer = Printer { columns: COLUMNS, cells: core_event_cells };
pub const EVENTS_EVENT: Printer = Printer { columns: COLUMNS, cells: events_event_cells };

/// Where each field lives in one of the two Event schemas.
struct Fields {
    involved: &'static str,
    message: &'static str,
    source: &'static str,
    first: &'static str,
    last: &'static str,
    count: &'static str,
    reporting_controller: &'static str,
}

const CORE: Fields = Fields {
    involved: "/involvedObject",
    message: "/message",
    source: "/source",
    first: "/firstTimestamp",
    last: "/lastTimestamp",
    count: "/count",
    reporting_controller: "/reportingComponent",
};

const EVENTS: Fields = Fields {
    involved: "/regarding",
    message: "/note",
    source: "/deprecatedSource",
    first: "/deprecatedFirstTimestamp",
    last: "/deprecatedLastTimestamp",
    count: "/deprecatedCount",
    reporting_controller: "/reportingController",
};

fn core_event_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    event_cells(obj, &CORE, now)
}

fn events_event_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    event_cells(obj, &EVENTS, now)
}

fn timestamp<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str).filter(|t| !t.is_empty())
}

fn event_cells(obj: &Value, f: &Fields, now: DateTime<Utc>) -> Vec<Value> {
    // New-style events have only eventTime; a series carries the latest sighting.
    let first = match timestamp(obj, f.first) {
        Some(t) => age(Some(t), now),
        None => age(timestamp(obj, "/eventTime"), now),
    };
    let mut last = match timestamp(obj, f.last) {
        Some(t) => age(Some(t), now),
        None => first.clone(),
    };
    let mut count = int_at(obj, f.count);
    if obj.get("series").is_some_and(|s| !s.is_null()) {
        last = age(timestamp(obj, "/series/lastObservedTime"), now);
        count = opt_int(obj, "/series/count").unwrap_or(0);
    } else if count == 0 {
        // Singleton events have no count in the new API.
        count = 1;
    }
    let involved = |field: &str| str_at(obj, &format!("{}/{field}", f.involved));
    let target = match involved("name") {
        "" => involved("kind").to_lowercase(),
        name => format!("{}/{name}", involved("kind").to_lowercase()),
    };
    vec![
        json!(last),
        json!(str_at(obj, "/type")),
        json!(str_at(obj, "/reason")),
        json!(target),
        json!(involved("fieldPath")),
        json!(source(obj, f)),
        json!(str_at(obj, f.message).trim()),
        json!(first),
        json!(count),
        json!(str_at(obj, "/metadata/name")),
    ]
}

/// `component, host`, each falling back to the reporting controller and instance.
fn source(obj: &Value, f: &Fields) -> String {
    let first_non_empty = |a: &str, b: &str| if a.is_empty() { b.to_string() } else { a.to_string() };
    let component =
        first_non_empty(str_at(obj, &format!("{}/component", f.source)), str_at(obj, f.reporting_controller));
    let instance = first_non_empty(str_at(obj, &format!("{}/host", f.source)), str_at(obj, "/reportingInstance"));
    if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::table::printers::testing::{ago, column_names, row};

    #[test]
    fn event_columns() {
        let want = [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject*",
            "Source*",
            "Message",
            "First Seen*",
            "Count*",
            "Name*",
        ];
        assert_eq!(column_names("", "Event"), want);
        assert_eq!(column_names("events.k8s.io", "Event"), want);
    }

    #[test]
    fn core_event_rows() {
        let pulled = json!({"metadata": {"name": "web-1.17c8"}, "type": "Normal", "reason": "Pulled",
            "message": "Successfully pulled image \"nginx\"\n",
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
            "source": {"component": "kubelet", "host": "node-a"},
            "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 4});
        assert_eq!(
            Value::from(row("", "Event", &pulled)),
            json!([
                "30s",
                "Normal",
                "Pulled",
                "pod/web-1",
                "spec.containers{app}",
                "kubelet, node-a",
                "Successfully pulled image \"nginx\"",
                "10m",
                4,
                "web-1.17c8"
            ])
        );
        // Reported through the new API: eventTime only, reporting controller as the source.
        let scheduled = json!({"metadata": {"name": "e"}, "type": "Normal", "reason": "Scheduled", "message": "ok",
            "involvedObject": {"kind": "Node"}, "eventTime": "2024-05-01T11:59:00.123456Z",
            "reportingComponent": "default-scheduler"});
        assert_eq!(
            Value::from(row("", "Event", &scheduled)),
            json!(["59s", "Normal", "Scheduled", "node", "", "default-scheduler", "ok", "59s", 1, "e"])
        );
    }

    #[test]
    fn events_k8s_io_rows_read_the_new_fields() {
        let backoff = json!({"metadata": {"name": "web-1.b"}, "type": "Warning", "reason": "BackOff",
            "note": "Back-off restarting failed container", "regarding": {"kind": "Pod", "name": "web-1"},
            "reportingController": "kubelet", "reportingInstance": "node-a", "eventTime": ago(900),
            "series": {"count": 12, "lastObservedTime": ago(5)}});
        assert_eq!(
            Value::from(row("events.k8s.io", "Event", &backoff)),
            json!([
                "5s",
                "Warning",
                "BackOff",
                "pod/web-1",
                "",
                "kubelet, node-a",
                "Back-off restarting failed container",
                "15m",
                12,
                "web-1.b"
            ])
        );
        let old = json!({"metadata": {"name": "o"}, "regarding": {"kind": "Deployment", "name": "web"},
            "deprecatedFirstTimestamp": ago(7200), "deprecatedCount": 2, "deprecatedSource": {"component": "dc"}});
        assert_eq!(
            Value::from(row("events.k8s.io", "Event", &old)),
            json!(["120m", "", "", "deployment/web", "", "dc", "", "120m", 2, "o"])
        );
    }
}
