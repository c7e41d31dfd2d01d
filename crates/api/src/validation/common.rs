//! What several kinds' checks share, in upstream's words: the name formats of
//! `apimachinery/pkg/util/validation`, quantities compared by value, Go's
//! semantic equality on decoded JSON, and values shown as Go's field errors
//! print them.

use std::cmp::Ordering;
use std::fmt::Display;

use serde_json::Value;

use crate::quantity::nanos;
use crate::Cause;

/// `Invalid value: <shown>: <detail>` for a value Go prints bare rather than
/// quoted: quantities and int-or-strings (their `String()` is used) and numbers.
pub(super) fn invalid_shown(field: impl Into<String>, shown: impl Display, detail: impl AsRef<str>) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {shown}: {}", detail.as_ref()),
        field: field.into(),
    }
}

/// A string field's value; absent, null and non-strings are `None`.
pub(super) fn text<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a str> {
    v.and_then(|v| v.get(key)).and_then(Value::as_str)
}

/// A field that is present and not null.
pub(super) fn set<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    v.and_then(|v| v.get(key)).filter(|v| !v.is_null())
}

pub(super) use super::rules::{dns1123_label, dns1123_subdomain, path_segment_name as path_segment, qualified_name};

/// Checks a structured label selector at `at`, if there is one.
pub(super) fn label_selector(selector: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    if let Some(sel) = selector.filter(|s| !s.is_null()) {
        super::rules::label_selector(sel, at, causes);
    }
}

/// A label selector whose expression values go unchecked when `lenient`: upstream's
/// `AllowInvalidLabelValueInSelector`, for an update of an object stored with such
/// values.
pub(super) fn label_selector_lenient(selector: Option<&Value>, at: &str, lenient: bool, causes: &mut Vec<Cause>) {
    let mut found = Vec::new();
    label_selector(selector, at, &mut found);
    let value = |c: &Cause| c.field.starts_with(&format!("{at}.matchExpressions[")) && c.field.contains("].values[");
    causes.extend(found.into_iter().filter(|c| !(lenient && value(c))));
}

/// Whether a selector fails any of the checks (the test for `lenient` above).
pub(super) fn selector_has_errors(selector: Option<&Value>) -> bool {
    let mut found = Vec::new();
    label_selector(selector, "", &mut found);
    !found.is_empty()
}

/// A quantity's exact value (syntax was checked on decoding; anything else counts as
/// zero).
fn quantity_value(q: &str) -> i128 {
    nanos(q).unwrap_or(0)
}

pub(super) fn quantity_cmp(a: &str, b: &str) -> Ordering {
    quantity_value(a).cmp(&quantity_value(b))
}

pub(super) fn positive(q: &str) -> bool {
    quantity_value(q) > 0
}

/// A map of quantities with each replaced by its value, so that `1Gi` and
/// `1024Mi` compare equal as upstream's semantic equality has them.
pub(super) fn quantities_by_value(v: &mut Value) {
    if let Some(map) = v.as_object_mut() {
        for q in map.values_mut() {
            if let Some(s) = q.as_str() {
                *q = Value::String(quantity_value(s).to_string());
            }
        }
    }
}

fn zero(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
    }
}

/// Equality as Go sees two decoded objects: a field left out equals its zero
/// value (an empty list, map or string, false, 0).
pub(super) fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => x.keys().chain(y.keys()).all(|k| same(x.get(k), y.get(k))),
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(Some(p), Some(q)))
        }
        _ if zero(a) && zero(b) => true,
        _ => a == b,
    }
}

/// The fields of `ty` that differ between `old` and `new`, in the shape of the
/// diff upstream appends to its "immutable" messages (`-` old, `+` new; values
/// as JSON). `fields` are (JSON name, Go name) in the order to print them.
pub(super) fn diff(ty: &str, fields: &[(&str, &str)], old: &Value, new: &Value, changed: &[&str]) -> String {
    let show = |v: Option<&Value>| v.filter(|v| !v.is_null()).map_or("nil".to_string(), Value::to_string);
    let mut out = format!("  {ty}{{\n");
    for (json, go) in fields.iter().filter(|(json, _)| changed.contains(json)) {
        out.push_str(&format!("- \t{go}: {},\n", show(old.get(*json))));
        out.push_str(&format!("+ \t{go}: {},\n", show(new.get(*json))));
    }
    out.push_str("  }\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::DNS1123_SUBDOMAIN_MESSAGE;
    use serde_json::json;

    const QUALIFIED_NAME: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    #[test]
    fn name_formats_give_upstream_messages() {
        // The rules live in `rules.rs`; these are the messages this module's callers rely on.
        assert!(qualified_name("example.com/my-driver").is_empty());
        assert_eq!(qualified_name("/x"), ["prefix part must be non-empty"]);
        assert_eq!(qualified_name("a/b/c").len(), 1);
        assert_eq!(
            qualified_name("x/"),
            ["name part must be non-empty".to_string(), format!("name part {QUALIFIED_NAME}")]
        );
        assert_eq!(qualified_name("Bad_.com/x"), [format!("prefix part {DNS1123_SUBDOMAIN_MESSAGE}")]);
        assert_eq!(path_segment(".."), ["may not be '..'"]);
        assert_eq!(path_segment("a/b%"), ["may not contain '/'", "may not contain '%'"]);
        assert!(path_segment("web").is_empty());
        assert_eq!(dns1123_label(&"a".repeat(64)), ["must be no more than 63 characters"]);
        assert_eq!(dns1123_subdomain("A"), [DNS1123_SUBDOMAIN_MESSAGE]);
    }

    #[test]
    fn quantities_compare_by_value() {
        assert_eq!(quantity_cmp("1Gi", "1024Mi"), Ordering::Equal);
        assert_eq!(quantity_cmp("1G", "1Gi"), Ordering::Less);
        assert_eq!(quantity_cmp("500m", "1"), Ordering::Less);
        assert!(positive("1n") && !positive("0") && !positive("-1Gi"));
    }

    #[test]
    fn semantic_equality_treats_absent_as_zero() {
        assert!(same(Some(&json!({"a": [], "b": false})), Some(&json!({}))));
        assert!(same(None, Some(&json!(""))));
        assert!(!same(Some(&json!({"a": "x"})), Some(&json!({"a": "y"}))));
        assert!(!same(Some(&json!([1])), Some(&json!([1, 2]))));
    }
}
