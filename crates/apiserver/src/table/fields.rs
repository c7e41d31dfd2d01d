//! Reading fields of a JSON object the way upstream's printers see a decoded Go
//! struct: a missing string is `""`, a missing number `0`, a missing list empty.

use serde_json::Value;

/// The string at `pointer`, `""` if missing.
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The string at `pointer`, `None` if missing (a Go `*string`).
pub fn opt_str<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The integer at `pointer`, 0 if missing.
pub fn int_at(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The integer at `pointer`, `None` if missing (a Go `*int32`).
pub fn opt_int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

/// The boolean at `pointer`, `None` if missing (a Go `*bool`).
pub fn opt_bool(v: &Value, pointer: &str) -> Option<bool> {
    v.pointer(pointer).and_then(Value::as_bool)
}

/// The list at `pointer`, empty if missing.
pub fn arr_at<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The number of entries of the map or list at `pointer`.
pub fn len_at(v: &Value, pointer: &str) -> i64 {
    match v.pointer(pointer) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

/// `s`, or `<none>` when empty.
pub fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_string()
    }
}

/// An `IntOrString` as upstream's `String()` prints it (`2`, `50%`).
pub fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// upstream's `printBool`.
pub fn print_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// upstream's `printBoolPtr`: `True`, `False`, or `<unset>`.
pub fn print_bool_ptr(b: Option<bool>) -> &'static str {
    b.map(print_bool).unwrap_or("<unset>")
}

/// Container names and images of a pod spec, each comma-separated (upstream's
/// `layoutContainerCells`).
pub fn container_cells(pod_spec: Option<&Value>) -> (String, String) {
    let containers = pod_spec.and_then(|s| s.get("containers")).and_then(Value::as_array);
    let field = |f: &str| {
        containers
            .map(|cs| cs.iter().map(|c| str_at(c, &format!("/{f}"))).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    };
    (field("name"), field("image"))
}

/// The condition of `type` in the list at `pointer`.
pub fn condition<'a>(v: &'a Value, pointer: &str, type_: &str) -> Option<&'a Value> {
    arr_at(v, pointer).iter().find(|c| str_at(c, "/type") == type_)
}
