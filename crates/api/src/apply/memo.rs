//! A memo of the fields a create's writer owns, by the created object's layout.
//!
//! Which fields a created object has depends on its keys, the kinds of its values and
//! the items of its lists (list items name path elements), never on any other leaf
//! value. Objects created in bulk (controllers' pods, a client's ConfigMaps) mostly
//! share a layout, and walking the schema for each was ~3 % of a create's CPU; the
//! memo turns that into one walk that copies keys and a hash lookup.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{Map, Value};

/// Entries kept before the memo starts over: bounded memory whatever objects come.
const MAX_ENTRIES: usize = 512;
/// Layouts longer than this (big lists) are not memoized.
const MAX_LAYOUT_BYTES: usize = 4096;

/// Layout key → the memoized object.
type Memo = HashMap<Vec<u8>, Arc<Map<String, Value>>>;

static MEMO: LazyLock<Mutex<Memo>> = LazyLock::new(Default::default);

/// The key of `value` in scope `scope_key`: the scope, then the layout (see the module
/// docs), written so that no two read the same: every key is tagged (`:`) and
/// length-prefixed, a map ends with `}`, a list is its JSON. `None` when it is too
/// long to keep.
pub(super) fn key(scope_key: &str, value: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    push_str(&mut out, scope_key);
    layout(value, &mut out).then_some(out)
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends `value`'s layout; false (and stops) once it is longer than
/// `MAX_LAYOUT_BYTES`.
fn layout(value: &Value, out: &mut Vec<u8>) -> bool {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            for (key, child) in map {
                // The tag keeps a key apart from the map's end, whatever its length.
                out.push(b':');
                push_str(out, key);
                if !layout(child, out) {
                    return false;
                }
            }
            out.push(b'}');
        }
        Value::Array(_) => {
            out.push(b'[');
            // Cannot fail: a Value's keys are strings.
            let _ = serde_json::to_writer(&mut *out, value);
        }
        Value::Null => out.push(b'n'),
        Value::Bool(_) => out.push(b'b'),
        Value::Number(_) => out.push(b'#'),
        Value::String(_) => out.push(b's'),
    }
    out.len() <= MAX_LAYOUT_BYTES
}

/// The memoized fields of `key`, or those `compute` gives, kept for next time.
pub(super) fn get_or_compute(key: Option<Vec<u8>>, compute: impl FnOnce() -> Map<String, Value>) -> Map<String, Value> {
    let Some(key) = key else { return compute() };
    let known = lock().get(&key).cloned();
    if let Some(fields) = known {
        return (*fields).clone();
    }
    let fields = compute();
    let mut memo = lock();
    if memo.len() >= MAX_ENTRIES {
        memo.clear();
    }
    memo.insert(key, Arc::new(fields.clone()));
    fields
}

fn lock() -> std::sync::MutexGuard<'static, Memo> {
    MEMO.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn layouts_differ_exactly_where_the_owned_fields_can() {
        let same = [
            (json!({"a": "x", "b": {"c": 1}}), json!({"a": "y", "b": {"c": 2}})),
            (json!({"l": [1, 2]}), json!({"l": [1, 2]})),
        ];
        for (one, other) in same {
            assert_eq!(key("s", &one), key("s", &other), "{one} {other}");
        }
        let different = [
            (json!({"a": "x"}), json!({"b": "x"})),
            (json!({"a": "x"}), json!({"a": null})),
            (json!({"a": "x"}), json!({"a": {}})),
            (json!({"a": {}}), json!({"a": []})),
            (json!({"l": [1, 2]}), json!({"l": [1, 3]})),
            (json!({"l": [{"name": "a"}]}), json!({"l": [{"name": "b"}]})),
            // Keys are length-prefixed: no two layouts read the same.
            (json!({"ab": "x", "c": "y"}), json!({"a": "x", "bc": "y"})),
        ];
        // A key whose length's low byte is `}` (381 = 0x17D) cannot pass for the end of
        // its map (the case a review found before keys were tagged).
        let odd = ["\0b{\u{76}\u{1}\0\0", &"x".repeat(374)].concat();
        assert_eq!(odd.len(), 381);
        let one = json!({"spec": {"a": {odd: "v"}}});
        let other = json!({"spec": {"a": {}, "b": {"x".repeat(374): "y"}}});
        assert_ne!(key("s", &one), key("s", &other));
        for (one, other) in different {
            assert_ne!(key("s", &one), key("s", &other), "{one} {other}");
        }
        assert_ne!(key("s", &json!({})), key("t", &json!({})));
        let big = json!({"l": vec!["x".repeat(100); 100]});
        assert_eq!(key("s", &big), None);
    }
}
