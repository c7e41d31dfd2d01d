//! Events (`ValidateEventCreate`, `ValidateEventUpdate`). Both APIs store the core
//! shape, which is what is checked here, with upstream's (core) field names.
//!
//! Upstream chooses by the request's API version: writes through core/v1 get only
//! the legacy checks (old clients, and skiff's own components, write events
//! without `eventTime`); writes through events.k8s.io/v1 also get the strict
//! ones. The group the object arrived at tells the two apart.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{json, Value};

use super::common::invalid_shown;
use super::common::{same, set, text};
use super::rules::{dns1123_subdomain, invalid_each, qualified_name};
use crate::Cause;

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

/// Validates an Event written through events.k8s.io/v1 (`strict`) or core/v1.
pub fn event(strict: bool, obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    legacy(strict, obj, causes);
    if !strict {
        return;
    }
    match old {
        None => strict_create(obj, causes),
        Some(old) => strict_update(obj, old, causes),
    }
}

fn str_of<'a>(obj: &'a Value, key: &str) -> &'a str {
    text(Some(obj), key).unwrap_or("")
}

/// `legacyValidateEvent`: an event without `eventTime` (old style) names the
/// namespace of its object; a new-style one says who reported what.
fn legacy(strict: bool, obj: &Value, causes: &mut Vec<Cause>) {
    let namespace = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
    let object_ns = text(obj.get("involvedObject"), "namespace").unwrap_or("");
    let mismatch = |causes: &mut Vec<Cause>| {
        causes.push(Cause::invalid("involvedObject.namespace", &json!(object_ns), "does not match event.namespace"));
    };
    if set(Some(obj), "eventTime").is_none() {
        // Old clients wrote events about cluster-scoped objects to "default".
        let fits = if object_ns.is_empty() { matches!(namespace, "" | "default") } else { namespace == object_ns };
        if !fits {
            mismatch(causes);
        }
    } else {
        if object_ns.is_empty() && !matches!(namespace, "default" | "kube-system") {
            mismatch(causes);
        }
        // Core/v1 calls the reporting controller `reportingComponent`.
        let controller_at = if strict { "reportingController" } else { "reportingComponent" };
        let controller = str_of(obj, "reportingComponent");
        if controller.is_empty() {
            causes.push(Cause::required(controller_at));
        }
        invalid_each(controller_at, controller, qualified_name(controller), causes);
        let instance = str_of(obj, "reportingInstance");
        required_within(instance, "reportingInstance", REPORTING_INSTANCE_LIMIT, causes);
        required_within(str_of(obj, "action"), "action", ACTION_LIMIT, causes);
        required_within(str_of(obj, "reason"), "reason", REASON_LIMIT, causes);
        if str_of(obj, "message").len() > NOTE_LIMIT {
            causes.push(at_most("message", NOTE_LIMIT));
        }
    }
    invalid_each("namespace", namespace, dns1123_subdomain(namespace), causes);
}

fn required_within(value: &str, at: &str, limit: usize, causes: &mut Vec<Cause>) {
    if value.is_empty() {
        causes.push(Cause::required(at));
    }
    if value.len() > limit {
        causes.push(at_most(at, limit));
    }
}

/// Upstream shows an empty value rather than the long one.
fn at_most(at: &str, limit: usize) -> Cause {
    Cause::invalid(at, &json!(""), format!("can have at most {limit} characters"))
}

/// `validateV1EventSeries`.
fn series(obj: &Value, causes: &mut Vec<Cause>) {
    let Some(series) = set(Some(obj), "series") else { return };
    if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
        causes.push(Cause::invalid("series.count", &json!(""), "should be at least 2"));
    }
    if set(Some(series), "lastObservedTime").is_none() {
        causes.push(Cause::required("series.lastObservedTime"));
    }
}

/// A new-style event carries `eventTime` and none of the deprecated fields.
fn strict_create(obj: &Value, causes: &mut Vec<Cause>) {
    series(obj, causes);
    if set(Some(obj), "eventTime").is_none() {
        causes.push(Cause::required("eventTime"));
    }
    let ty = str_of(obj, "type");
    if !matches!(ty, "Normal" | "Warning") {
        causes.push(Cause::invalid("type", &json!(""), format!("has invalid value: {ty}")));
    }
    let needs_unset = |field: &str, causes: &mut Vec<Cause>| {
        causes.push(Cause::invalid(field, &json!(""), "needs to be unset"));
    };
    for field in ["firstTimestamp", "lastTimestamp"] {
        if set(Some(obj), field).is_some() {
            needs_unset(field, causes);
        }
    }
    if obj.get("count").and_then(Value::as_i64).unwrap_or(0) != 0 {
        needs_unset("count", causes);
    }
    if text(obj.get("source"), "component").is_some_and(|c| !c.is_empty())
        || text(obj.get("source"), "host").is_some_and(|h| !h.is_empty())
    {
        needs_unset("source", causes);
    }
}

/// Through events.k8s.io only the series (and metadata) may change. Values are
/// shown as Go prints them; `reason` is checked twice, as upstream does.
fn strict_update(new: &Value, old: &Value, causes: &mut Vec<Cause>) {
    if !same(new.get("series"), old.get("series")) {
        series(new, causes);
    }
    let changed = |key: &str| !same(new.get(key), old.get(key));
    let immutable = |at: &str, shown: String, causes: &mut Vec<Cause>| {
        causes.push(invalid_shown(at, &shown, "field is immutable"));
    };
    let quoted = |key: &str| format!("{:?}", str_of(new, key));
    if changed("involvedObject") {
        immutable("involvedObject", go_object_reference(new.get("involvedObject")), causes);
    }
    for key in ["reason", "message"] {
        if changed(key) {
            immutable(key, quoted(key), causes);
        }
    }
    if changed("source") {
        let source = |k: &str| text(new.get("source"), k).unwrap_or("");
        immutable(
            "source",
            format!("core.EventSource{{Component:{:?}, Host:{:?}}}", source("component"), source("host")),
            causes,
        );
    }
    for key in ["firstTimestamp", "lastTimestamp"] {
        if instant(new.get(key)) != instant(old.get(key)) {
            immutable(key, go_time(new.get(key)), causes);
        }
    }
    if changed("count") {
        immutable("count", new.get("count").and_then(Value::as_i64).unwrap_or(0).to_string(), causes);
    }
    for key in ["reason", "type"] {
        if changed(key) {
            immutable(key, quoted(key), causes);
        }
    }
    // Clients that truncate to microseconds (or serialize nanoseconds) may
    // rewrite the time: only a change at microsecond precision counts.
    let micros = |v: Option<&Value>| instant(v).map(|t| t.trunc_subsecs(6));
    if micros(new.get("eventTime")) != micros(old.get("eventTime")) {
        immutable("eventTime", go_time(new.get("eventTime")), causes);
    }
    if changed("action") {
        immutable("action", quoted("action"), causes);
    }
    if changed("related") {
        let related = set(Some(new), "related").map_or("null".to_string(), |r| go_object_reference(Some(r)));
        immutable("related", related, causes);
    }
    if !same_controller(new, old) {
        immutable("reportingController", quoted("reportingComponent"), causes);
    }
    if changed("reportingInstance") {
        immutable("reportingInstance", quoted("reportingInstance"), causes);
    }
}

/// skiff shows an old-style event's `source.component` as its
/// `reportingController` in events.k8s.io/v1 (upstream leaves it empty), so a
/// client writing back what it read keeps the controller the event had.
fn same_controller(new: &Value, old: &Value) -> bool {
    let controller = str_of(new, "reportingComponent");
    let before = str_of(old, "reportingComponent");
    let shown = if before.is_empty() { text(old.get("source"), "component").unwrap_or("") } else { before };
    controller == before || controller == shown
}

fn instant(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?;
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Go's `time.Time.String()` of a (UTC) time; the zero time when unset.
fn go_time(v: Option<&Value>) -> String {
    let Some(t) = instant(v) else {
        return match v.and_then(Value::as_str) {
            Some(raw) => raw.to_string(),
            None => "0001-01-01 00:00:00 +0000 UTC".to_string(),
        };
    };
    let nanos = t.timestamp_subsec_nanos();
    let frac = if nanos == 0 { String::new() } else { format!(".{nanos:09}").trim_end_matches('0').to_string() };
    format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
}

/// A core `ObjectReference` as Go's `%#v` prints it.
fn go_object_reference(r: Option<&Value>) -> String {
    let f = |k: &str| text(r, k).unwrap_or("");
    format!(
        "core.ObjectReference{{Kind:{:?}, Namespace:{:?}, Name:{:?}, UID:{:?}, APIVersion:{:?}, ResourceVersion:{:?}, FieldPath:{:?}}}",
        f("kind"),
        f("namespace"),
        f("name"),
        f("uid"),
        f("apiVersion"),
        f("resourceVersion"),
        f("fieldPath")
    )
}

#[cfg(test)]
mod tests;
