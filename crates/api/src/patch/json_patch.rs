//! RFC 6902 JSON patch (`application/json-patch+json`), with the two liberties upstream's
//! evanphx/json-patch takes: `test` of a missing location against `null` succeeds, and the
//! operation count is capped.

use serde_json::{Map, Value};

use super::{json_eq, nesting_depth, PatchError, Result, MAX_DEPTH};

/// Upstream's cap on operations in one JSON patch (`maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Applies an RFC 6902 patch to `doc` and returns the result; `doc` is left untouched.
///
/// # Errors
/// - [`PatchError::Malformed`] when `patch` is not an array of objects (upstream: 400);
/// - [`PatchError::TooManyOperations`] above [`MAX_JSON_PATCH_OPERATIONS`] (413);
/// - [`PatchError::TooDeep`] when the patch nests deeper than [`MAX_DEPTH`](super::MAX_DEPTH);
/// - [`PatchError::OperationFailed`] when an operation does not apply (422): unknown `op`,
///   missing `path`/`from`/`value`, a bad pointer, a missing location, an index out of
///   range, moving a location into itself, a failed `test`.
///
/// # Guarantees
/// All or nothing: operations apply in order to a copy, and any failure discards it.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value> {
    let Some(ops) = patch.as_array() else {
        return Err(PatchError::Malformed(format!("a JSON patch must be an array of operations, not {}", kind(patch))));
    };
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations { max: MAX_JSON_PATCH_OPERATIONS, got: ops.len() });
    }
    if nesting_depth(patch) > MAX_DEPTH {
        return Err(PatchError::TooDeep);
    }
    let mut out = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        let Some(op) = op.as_object() else {
            return Err(PatchError::Malformed(format!("JSON patch operation {i} is {}, not an object", kind(op))));
        };
        apply(&mut out, op)?;
    }
    Ok(out)
}

fn apply(doc: &mut Value, op: &Map<String, Value>) -> Result<()> {
    let name = match op.get("op") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(failed("JSON patch operation is missing a string \"op\"")),
    };
    let path = pointer(op, "path", name)?;
    match name {
        "add" => add(doc, &path, value(op, name)?.clone(), name),
        "remove" => remove(doc, &path, name).map(drop),
        "replace" => {
            let slot = locate(doc, &path).ok_or_else(|| missing(name, &path))?;
            *slot = value(op, name)?.clone();
            Ok(())
        }
        "move" => {
            let from = pointer(op, "from", name)?;
            if from == path {
                return Ok(());
            }
            if path.len() > from.len() && path.starts_with(&from) {
                return Err(failed(format!("move operation cannot move {} into its own child", render(&from))));
            }
            let moved = remove(doc, &from, name)?;
            add(doc, &path, moved, name)
        }
        "copy" => {
            let from = pointer(op, "from", name)?;
            let copied = locate(doc, &from).ok_or_else(|| missing(name, &from))?.clone();
            add(doc, &path, copied, name)
        }
        "test" => {
            let expected = value(op, name)?;
            match locate(doc, &path) {
                Some(actual) if json_eq(actual, expected) => Ok(()),
                // evanphx/json-patch, which upstream uses, treats a missing location as null.
                None if expected.is_null() => Ok(()),
                _ => Err(failed(format!("testing value {} failed", render(&path)))),
            }
        }
        other => Err(failed(format!("unexpected JSON patch operation {other:?}"))),
    }
}

fn add(doc: &mut Value, path: &[String], new: Value, op: &str) -> Result<()> {
    let Some((last, parent)) = path.split_last() else {
        *doc = new;
        return Ok(());
    };
    match locate(doc, parent) {
        Some(Value::Object(map)) => {
            map.insert(last.clone(), new);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let at = if last == "-" { Some(items.len()) } else { index(last).filter(|i| *i <= items.len()) };
            let at =
                at.ok_or_else(|| failed(format!("{op} operation: index {last:?} out of range in {}", render(path))))?;
            items.insert(at, new);
            Ok(())
        }
        _ => Err(missing(op, path)),
    }
}

fn remove(doc: &mut Value, path: &[String], op: &str) -> Result<Value> {
    let Some((last, parent)) = path.split_last() else {
        return Err(failed(format!("{op} operation cannot remove the whole document")));
    };
    let removed = match locate(doc, parent) {
        Some(Value::Object(map)) => map.remove(last),
        Some(Value::Array(items)) => index(last).filter(|i| *i < items.len()).map(|i| items.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| missing(op, path))
}

/// The value at `path`, if every step exists.
fn locate<'a>(doc: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |node, token| match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => items.get_mut(index(token)?),
        _ => None,
    })
}

/// An array index token: decimal digits without leading zeros (RFC 6901 section 4).
fn index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

/// Parses the RFC 6901 pointer in `op[field]` into unescaped tokens.
fn pointer(op: &Map<String, Value>, field: &str, name: &str) -> Result<Vec<String>> {
    let Some(Value::String(text)) = op.get(field) else {
        return Err(failed(format!("{name} operation is missing a string {field:?}")));
    };
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = text.strip_prefix('/') else {
        return Err(failed(format!("JSON pointer {text:?} does not start with '/'")));
    };
    rest.split('/')
        .map(|token| unescape(token).ok_or_else(|| failed(format!("invalid JSON pointer {text:?}"))))
        .collect()
}

/// `~1` is `/` and `~0` is `~`; any other `~` is an error.
fn unescape(token: &str) -> Option<String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        match c {
            '~' => match chars.next()? {
                '0' => out.push('~'),
                '1' => out.push('/'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    Some(out)
}

fn render(path: &[String]) -> String {
    let escaped: String = path.iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect();
    format!("{escaped:?}")
}

fn value<'a>(op: &'a Map<String, Value>, name: &str) -> Result<&'a Value> {
    op.get("value").ok_or_else(|| failed(format!("{name} operation is missing \"value\"")))
}

fn failed(message: impl Into<String>) -> PatchError {
    PatchError::OperationFailed(message.into())
}

fn missing(op: &str, path: &[String]) -> PatchError {
    failed(format!("{op} operation does not apply: doc is missing path: {}", render(path)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
