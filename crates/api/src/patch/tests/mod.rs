//! Patch tests: one module per format, kubectl's own patches, and robustness.

mod fuzz;
mod json_patch;
mod kubectl;
mod merge_patch;
mod strategic;

use serde_json::Value;

use crate::patch::{strategic_merge_patch, Result};

/// A strategic merge patch of an object of `(group, version, kind)`.
fn smp((group, version, kind): (&str, &str, &str), doc: Value, patch: Value) -> Result<Value> {
    strategic_merge_patch(&doc, &patch, group, version, kind)
}

/// A strategic merge patch of a core/v1 Pod.
fn pod(doc: Value, patch: Value) -> Result<Value> {
    smp(("", "v1", "Pod"), doc, patch)
}
