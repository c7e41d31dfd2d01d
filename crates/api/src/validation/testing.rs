//! What the validation tests share.

use serde_json::Value;

use crate::Cause;

/// `base` with each field of `patch` set in its `spec`; a null removes the field.
pub fn with_spec(mut base: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().expect("a patch is an object") {
        if v.is_null() {
            if let Some(spec) = base["spec"].as_object_mut() {
                spec.remove(k);
            }
        } else {
            base["spec"][k] = v.clone();
        }
    }
    base
}

/// Each cause as upstream's message prints it (`field: detail`).
pub fn summaries(causes: &[Cause]) -> Vec<String> {
    causes.iter().map(Cause::summary).collect()
}
