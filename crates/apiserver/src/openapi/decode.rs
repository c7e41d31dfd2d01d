//! What upstream's decoding of a body into its Go type does, done on JSON with the same
//! schemas the OpenAPI documents publish:
//! - a field the type lacks is dropped, and reported as a warning (`Warn`, the default),
//!   an error (`Strict`) or not at all (`Ignore`), as `fieldValidation` says;
//! - a resource quantity must parse, whatever `fieldValidation` says; one written as a
//!   JSON number (`cpu: 2` in YAML) becomes a string, as upstream stores it.
//!
//! skiff keeps objects as JSON, so what is stored is then what upstream would have stored.

use std::fmt::Write;

use serde_json::Value;
use skiff_api::patch::{root_type, struct_fields, FieldType};
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
    /// The first quantity that does not parse.
    bad_quantity: Option<QuantityError>,
}

fn decode(group: &str, version: &str, kind: &str, obj: &mut Value) -> Found {
    let mut found = Found::default();
    if let Some(root) = root_type(group, version, kind) {
        prune_struct(root, obj, &mut String::new(), &mut found);
    }
    found
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
    if let Some(e) = found.bad_quantity {
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
    if let Some(e) = found.bad_quantity {
        return Err(invalid(e.to_string()));
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

/// `path` is the value's path, extended in place for each field (a path is copied only
/// when a field is unknown: every create and update walks its whole body here). The
/// fields are walked in place and unknown ones removed afterwards (a `retain` on the
/// map cost more than the walk).
fn prune_struct(type_name: &str, value: &mut Value, path: &mut String, found: &mut Found) {
    let Value::Object(fields) = value else { return };
    let known_fields = struct_fields(type_name);
    let mut unknown = Vec::new();
    for (field, v) in fields.iter_mut() {
        let len = path.len();
        if len > 0 {
            path.push('.');
        }
        path.push_str(field);
        match known_fields.and_then(|k| k.get(field)) {
            Some(t) => prune_value(t, v, path, found),
            None => {
                found.unknown.push(path.clone());
                unknown.push(field.clone());
            }
        }
        path.truncate(len);
    }
    for field in unknown {
        fields.remove(&field);
    }
}

fn prune_value(t: &FieldType, value: &mut Value, path: &mut String, found: &mut Found) {
    let len = path.len();
    match (t, value) {
        (FieldType::Struct(name), value) => prune_struct(name, value, path, found),
        (FieldType::List(item), Value::Array(items)) => {
            for (i, v) in items.iter_mut().enumerate() {
                let _ = write!(path, "[{i}]");
                prune_value(item, v, path, found);
                path.truncate(len);
            }
        }
        (FieldType::Map(item), Value::Object(entries)) => {
            for (key, v) in entries.iter_mut() {
                path.push('.');
                path.push_str(key);
                prune_value(item, v, path, found);
                path.truncate(len);
            }
        }
        (FieldType::Quantity, value) => {
            if let Err(e) = decode_quantity(value) {
                found.bad_quantity.get_or_insert(e);
            }
        }
        // Scalars, free-form content, and values of the wrong shape (left to validation).
        _ => {}
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
