//! Unknown-field detection for `fieldValidation`, from the same schemas the OpenAPI
//! documents publish.
//!
//! Upstream decodes a body into its Go type: a field the type lacks is dropped, and
//! reported as a warning (`Warn`, the default), an error (`Strict`) or not at all
//! (`Ignore`). skiff keeps objects as JSON, so it prunes those fields itself; what is
//! stored is then what upstream would have stored.

use std::fmt::Write;

use serde_json::Value;
use skiff_api::patch::{root_type, struct_fields, FieldType};
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
    let mut found = Vec::new();
    if let Some(root) = root_type(group, version, kind) {
        prune_struct(root, obj, &mut String::new(), &mut found);
    }
    found
}

/// Applies `directive` to a decoded create or update body: unknown fields are removed;
/// `Strict` fails with upstream's 400, `Warn` returns one warning per field.
///
/// # Errors
/// `BadRequest` (`Deployment in version "v1" cannot be handled as a Deployment: strict
/// decoding error: unknown field "spec.foo"`) under `Strict` when there are unknown fields.
pub fn check_body(
    directive: FieldValidation,
    group: &str,
    version: &str,
    kind: &str,
    obj: &mut Value,
) -> Result<Vec<String>, ApiError> {
    let found = prune_unknown_fields(group, version, kind, obj);
    match directive {
        FieldValidation::Strict if !found.is_empty() => Err(ApiError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {}",
            strict_message(&found)
        ))),
        _ => Ok(warnings(directive, &found)),
    }
}

/// Applies `directive` to a patched object: unknown fields are removed; `Strict` fails with
/// upstream's 422 on the field `patch`, `Warn` returns one warning per field.
///
/// # Errors
/// `Invalid` under `Strict` when there are unknown fields.
pub fn check_patched(
    directive: FieldValidation,
    group: &str,
    version: &str,
    kind: &str,
    patch: &Value,
    obj: &mut Value,
) -> Result<Vec<String>, ApiError> {
    let found = prune_unknown_fields(group, version, kind, obj);
    match directive {
        FieldValidation::Strict if !found.is_empty() => {
            let cause = Cause::invalid("patch", patch, strict_message(&found));
            Err(ApiError::Invalid { target: Target::default(), kind: String::new(), causes: vec![cause] })
        }
        _ => Ok(warnings(directive, &found)),
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
fn prune_struct(type_name: &str, value: &mut Value, path: &mut String, found: &mut Vec<String>) {
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
                found.push(path.clone());
                unknown.push(field.clone());
            }
        }
        path.truncate(len);
    }
    for field in unknown {
        fields.remove(&field);
    }
}

fn prune_value(t: &FieldType, value: &mut Value, path: &mut String, found: &mut Vec<String>) {
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
        // Scalars, free-form content, and values of the wrong shape (left to validation).
        _ => {}
    }
}
