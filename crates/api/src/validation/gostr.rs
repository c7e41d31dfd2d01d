//! Values as upstream's field errors print them when they are not plain strings
//! or numbers: Go's `%#v` of byte slices, string slices and small structs, and the
//! generated `String()` of a label selector.
//!
//! Go prints a pointer field of a struct as its address, which no client can
//! predict; a set pointer prints here as one fixed address in the same shape.

use serde_json::Value;

/// How `%#v` shows a non-nil pointer (the address itself is arbitrary).
pub(super) const SOME_ADDRESS: &str = "0xc000000000";

/// `%#v` of a pointer field: `(*T)(nil)` or `(*T)(0x...)`.
pub(super) fn pointer(ty: &str, present: bool) -> String {
    format!("(*{ty})({})", if present { SOME_ADDRESS } else { "nil" })
}

/// `%#v` of a `[]byte`: `[]byte(nil)`, `[]byte{}`, `[]byte{0x2d, 0xa}`.
pub(super) fn bytes(b: Option<&[u8]>) -> String {
    match b {
        None => "[]byte(nil)".into(),
        Some(b) => {
            let items: Vec<String> = b.iter().map(|c| format!("{c:#x}")).collect();
            format!("[]byte{{{}}}", items.join(", "))
        }
    }
}

/// `%#v` of a slice of strings (of Go type `ty`, e.g. `[]string`), as
/// `ty{"a", "b"}`, or `ty(nil)` when absent.
pub(super) fn strings(ty: &str, v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        None => format!("{ty}(nil)"),
        Some(items) => {
            let items: Vec<String> = items.iter().map(|i| format!("{:?}", i.as_str().unwrap_or(""))).collect();
            format!("{ty}{{{}}}", items.join(", "))
        }
    }
}

/// `%#v` of a `map[string]string` (keys sorted): `map[string]string{"a":"1", "b":"2"}`,
/// or `map[string]string(nil)` when absent.
pub(super) fn string_map(v: Option<&Value>) -> String {
    let Some(map) = v.and_then(Value::as_object) else { return "map[string]string(nil)".into() };
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let items: Vec<String> = entries.iter().map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or(""))).collect();
    format!("map[string]string{{{}}}", items.join(", "))
}

/// The generated `String()` of a `*metav1.LabelSelector` (`null` when absent), which
/// upstream prints for a selector given as a bad value.
pub(super) fn label_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|s| !s.is_null()) else { return "null".into() };
    let mut labels: Vec<(&String, &Value)> =
        sel.get("matchLabels").and_then(Value::as_object).into_iter().flatten().collect();
    labels.sort_by(|a, b| a.0.cmp(b.0));
    let labels: String = labels.iter().map(|(k, v)| format!("{k}: {},", v.as_str().unwrap_or(""))).collect();
    let exprs: String = sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let values: Vec<&str> =
                e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                text("key"),
                text("operator"),
                values.join(" ")
            )
        })
        .collect();
    format!("&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_print_as_go_does() {
        assert_eq!(bytes(None), "[]byte(nil)");
        assert_eq!(bytes(Some(b"")), "[]byte{}");
        assert_eq!(bytes(Some(b"-\n\0")), "[]byte{0x2d, 0xa, 0x0}");
        assert_eq!(pointer("int64", false), "(*int64)(nil)");
        assert_eq!(strings("[]string", Some(&json!(["a", "b"]))), r#"[]string{"a", "b"}"#);
        assert_eq!(strings("[]string", None), "[]string(nil)");
        assert_eq!(label_selector(None), "null");
        assert_eq!(string_map(None), "map[string]string(nil)");
        assert_eq!(string_map(Some(&json!({"b": "2", "a": "1"}))), r#"map[string]string{"a":"1", "b":"2"}"#);
        assert_eq!(
            label_selector(Some(&json!({}))),
            "&LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}"
        );
        assert_eq!(
            label_selector(Some(&json!({"matchLabels": {"b": "2", "a": "1"},
                "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}))),
            "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}"
        );
    }
}
