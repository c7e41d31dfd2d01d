//! What upstream's decoding of a body into its Go type does, done on JSON with the same
//! schemas the OpenAPI documents publish:
//! - a field the type lacks is dropped, and reported as a warning (`Warn`, the default),
//!   an error (`Strict`) or not at all (`Ignore`), as `fieldValidation` says;
//! - a value must have its field's JSON type (a string for a label, an object for a
//!   struct), and a resource quantity must parse, whatever `fieldValidation` says; a
//!   quantity written as a JSON number (`cpu: 2` in YAML) becomes a string, as upstream
//!   stores it.
//!
//! skiff keeps objects as JSON, so what is stored is then what upstream would have stored.

use std::fmt::Write;

use serde_json::Value;
use skiff_api::patch::{root_type, struct_fields, FieldType, Scalar};
use skiff_api::quantity::{self, QuantityError};
use skiff_api::{ApiError, Cause, Target};

use crate::request::FieldValidation;

/// The paths (`spec.foo`, `spec.template.spec.containers[0].bogus`, upstream's wording) of
/// the fields of `obj` that `group/version` `kind` does not have. Maps (`labels`), free-form
/// content (`RawExtension`) and int-or-string values accept anything; kinds without a
/// schema (custom resources) report nothing.
pub fn unknown_fields(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<String> {
    prune_unknown_fields(group, version, kind, &mut obj.clone())
}

/// Removes the fields [`unknown_fields`] reports from `obj` and returns their paths, in
/// the order of the object's keys.
pub fn prune_unknown_fields(group: &str, version: &str, kind: &str, obj: &mut Value) -> Vec<String> {
    decode(group, version, kind, obj).unknown
}

/// What one walk of a body found.
#[derive(Default)]
struct Found {
    /// Paths of unknown fields, in the order of the object's keys.
    unknown: Vec<String>,
    /// Why the body cannot be decoded at all (upstream's wording): the first value of
    /// the wrong JSON type, or quantity that does not parse.
    error: Option<String>,
}

/// A walk's position and findings. `path` names fields as strict decoding does
/// (`spec.containers[1].bogus`), `go_path` as Go's type errors do (struct fields only:
/// `spec.containers.resources`). Both are extended in place for each field; a path is
/// copied only when something is reported (every create and update walks its whole body).
#[derive(Default)]
struct Walk {
    path: String,
    go_path: String,
    found: Found,
}

fn decode(group: &str, version: &str, kind: &str, obj: &mut Value) -> Found {
    let mut walk = Walk::default();
    if let Some(root) = root_type(group, version, kind) {
        prune_struct(root, obj, &mut walk);
    }
    walk.found
}

/// Decodes a create or update body as upstream would: unknown fields are removed;
/// `Strict` fails with upstream's 400, `Warn` returns one warning per field.
///
/// # Errors
/// `BadRequest`, as upstream's: `Deployment in version "v1" cannot be handled as a
/// Deployment: strict decoding error: unknown field "spec.foo"` under `Strict` when there
/// are unknown fields, and `... cannot be handled as a Pod: quantities must match the
/// regular expression ...` for a quantity that does not parse.
pub fn check_body(
    directive: FieldValidation,
    group: &str,
    version: &str,
    kind: &str,
    obj: &mut Value,
) -> Result<Vec<String>, ApiError> {
    let found = decode(group, version, kind, obj);
    let cannot = |why: &dyn std::fmt::Display| {
        ApiError::BadRequest(format!("{kind} in version \"{version}\" cannot be handled as a {kind}: {why}"))
    };
    if let Some(e) = found.error {
        return Err(cannot(&e));
    }
    match directive {
        FieldValidation::Strict if !found.unknown.is_empty() => Err(cannot(&strict_message(&found.unknown))),
        _ => Ok(warnings(directive, &found.unknown)),
    }
}

/// Decodes a patched object as upstream would: unknown fields are removed; `Strict` fails
/// with upstream's 422 on the field `patch`, `Warn` returns one warning per field.
///
/// # Errors
/// `Invalid` on the field `patch` under `Strict` when there are unknown fields, and for a
/// quantity that does not parse.
pub fn check_patched(
    directive: FieldValidation,
    group: &str,
    version: &str,
    kind: &str,
    patch: &Value,
    obj: &mut Value,
) -> Result<Vec<String>, ApiError> {
    let found = decode(group, version, kind, obj);
    let invalid = |why: String| {
        let cause = Cause::invalid("patch", patch, why);
        ApiError::Invalid { target: Target::default(), kind: String::new(), causes: vec![cause] }
    };
    if let Some(e) = found.error {
        return Err(invalid(e));
    }
    match directive {
        FieldValidation::Strict if !found.unknown.is_empty() => Err(invalid(strict_message(&found.unknown))),
        _ => Ok(warnings(directive, &found.unknown)),
    }
}

fn strict_message(found: &[String]) -> String {
    let list: Vec<String> = found.iter().map(|f| format!("unknown field \"{f}\"")).collect();
    format!("strict decoding error: {}", list.join(", "))
}

fn warnings(directive: FieldValidation, found: &[String]) -> Vec<String> {
    match directive {
        FieldValidation::Warn => found.iter().map(|f| format!("unknown field \"{f}\"")).collect(),
        _ => Vec::new(),
    }
}

/// Walks the fields of a struct; unknown ones are removed afterwards (a `retain` on the
/// map cost more than the walk).
fn prune_struct(type_name: &str, value: &mut Value, w: &mut Walk) {
    let Value::Object(fields) = value else { return };
    let known_fields = struct_fields(type_name);
    // Go names the innermost struct without its package: `ConfigMap`, `ObjectMeta`.
    let owner = type_name.rsplit('.').next().unwrap_or(type_name);
    let mut unknown = Vec::new();
    for (field, v) in fields.iter_mut() {
        let (len, go_len) = (w.path.len(), w.go_path.len());
        if len > 0 {
            w.path.push('.');
            w.go_path.push('.');
        }
        w.path.push_str(field);
        w.go_path.push_str(field);
        match known_fields.and_then(|k| k.get(field)) {
            Some(t) => prune_value(t, v, owner, w),
            None => {
                w.found.unknown.push(w.path.clone());
                unknown.push(field.clone());
            }
        }
        w.path.truncate(len);
        w.go_path.truncate(go_len);
    }
    for field in unknown {
        fields.remove(&field);
    }
}

fn prune_value(t: &FieldType, value: &mut Value, owner: &str, w: &mut Walk) {
    let len = w.path.len();
    match (t, value) {
        // Go leaves a null at its zero value, whatever the type.
        (_, Value::Null) | (FieldType::Unknown, _) => {}
        (FieldType::Struct(name), value @ Value::Object(_)) => prune_struct(name, value, w),
        (FieldType::List(item), Value::Array(items)) => {
            for (i, v) in items.iter_mut().enumerate() {
                let _ = write!(w.path, "[{i}]");
                prune_value(item, v, owner, w);
                w.path.truncate(len);
            }
        }
        (FieldType::Map(item), Value::Object(entries)) => {
            for (key, v) in entries.iter_mut() {
                w.path.push('.');
                w.path.push_str(key);
                prune_value(item, v, owner, w);
                w.path.truncate(len);
            }
        }
        (FieldType::Quantity, value) => {
            if let Err(e) = decode_quantity(value) {
                w.found.error.get_or_insert_with(|| e.to_string());
            }
        }
        (FieldType::Scalar(scalar), value) => match check_scalar(*scalar, value) {
            Err(got) => type_error(w, &got, owner, t),
            Ok(()) if *scalar == Scalar::Bytes => {
                if let Err(at) = check_base64(value.as_str().unwrap_or("")) {
                    w.found.error.get_or_insert_with(|| format!("illegal base64 data at input byte {at}"));
                }
            }
            Ok(()) => {}
        },
        (_, value) => type_error(w, json_type(value), owner, t),
    }
}

/// Records upstream's error for a value of the wrong JSON type (Go's `UnmarshalTypeError`).
fn type_error(w: &mut Walk, got: &str, owner: &str, want: &FieldType) {
    if w.found.error.is_none() {
        w.found.error = Some(format!(
            "json: cannot unmarshal {got} into Go struct field {owner}.{} of type {}",
            w.go_path,
            go_type(want)
        ));
    }
}

/// `Err` with what Go calls the value (`string`, `number 1.5`) when it does not decode
/// into the scalar.
fn check_scalar(scalar: Scalar, value: &Value) -> Result<(), String> {
    let fits = match (scalar, value) {
        (Scalar::String | Scalar::Bytes | Scalar::IntOrString, Value::String(_))
        | (Scalar::Boolean, Value::Bool(_)) => true,
        (Scalar::Number, Value::Number(_)) => true,
        (Scalar::Int64, Value::Number(n)) => n.is_i64(),
        (Scalar::Int32 | Scalar::IntOrString, Value::Number(n)) => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        _ => false,
    };
    let numeric = matches!(scalar, Scalar::Int32 | Scalar::Int64 | Scalar::IntOrString);
    match value {
        _ if fits => Ok(()),
        // A number that does not fit a numeric field is named with its text.
        Value::Number(n) if numeric => Err(format!("number {n}")),
        other => Err(json_type(other).to_string()),
    }
}

/// Checks base64 as Go's `StdEncoding` decodes it (padding required, line breaks
/// skipped); `Err` with the offset Go reports.
fn check_base64(text: &str) -> Result<(), usize> {
    use base64::engine::general_purpose::STANDARD;
    use base64::{DecodeError, Engine as _};
    let cleaned: std::borrow::Cow<str> =
        if text.contains(['\r', '\n']) { text.replace(['\r', '\n'], "").into() } else { text.into() };
    match STANDARD.decode(cleaned.as_bytes()) {
        Ok(_) => Ok(()),
        Err(DecodeError::InvalidByte(at, _) | DecodeError::InvalidLastSymbol(at, _)) => Err(at),
        // An incomplete last quantum: Go names where it starts.
        Err(_) => Err(cleaned.len() - cleaned.len() % 4),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The Go type a field decodes into, as Go prints it: `string`, `[]v1.Container`,
/// `map[string]resource.Quantity`.
fn go_type(t: &FieldType) -> String {
    match t {
        FieldType::Scalar(s) => s.go_type().to_string(),
        FieldType::Quantity => "resource.Quantity".to_string(),
        FieldType::Struct(name) => {
            let mut parts = name.rsplit('.');
            let (ty, package) = (parts.next().unwrap_or(name), parts.next().unwrap_or(""));
            format!("{package}.{ty}")
        }
        FieldType::List(item) => format!("[]{}", go_type(item)),
        FieldType::Map(item) => format!("map[string]{}", go_type(item)),
        FieldType::Unknown => "interface {}".to_string(),
    }
}

/// Checks one quantity, turning a JSON number into its string as upstream's
/// `Quantity.UnmarshalJSON` accepts it; `null` is an unset quantity.
fn decode_quantity(value: &mut Value) -> Result<(), QuantityError> {
    match value {
        Value::String(s) => quantity::check(s),
        Value::Number(n) => {
            let text = n.to_string();
            quantity::check(&text)?;
            *value = Value::String(text);
            Ok(())
        }
        Value::Null => Ok(()),
        _ => Err(QuantityError::Format),
    }
}
