//! RFC 7386 JSON merge patch (`application/merge-patch+json`).

use serde_json::{Map, Value};

use super::remove_key;

/// Applies an RFC 7386 merge patch to `doc` and returns the result; `doc` is left untouched.
///
/// An object patch merges into an object key by key: `null` deletes the key, objects merge
/// recursively, anything else replaces the value. A patch that is not an object replaces
/// the whole document. Never fails: every JSON value is a valid merge patch.
///
/// # Guarantees
/// Recursion follows the patch's nesting, which serde_json's parser caps at 128 levels.
pub fn merge_patch(doc: &Value, patch: &Value) -> Value {
    apply(doc.clone(), patch)
}

fn apply(target: Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else { return patch.clone() };
    let mut target = match target {
        Value::Object(map) => map,
        // Merging into a non-object starts from an empty object (RFC 7386 section 2).
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            remove_key(&mut target, key);
            continue;
        }
        match target.get_mut(key) {
            Some(slot) => *slot = apply(slot.take(), value),
            None => {
                target.insert(key.clone(), apply(Value::Null, value));
            }
        }
    }
    Value::Object(target)
}
