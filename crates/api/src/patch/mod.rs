//! The three patch formats of `PATCH` requests, applied to objects as `serde_json::Value`:
//!
//! - [`json_patch`]: `application/json-patch+json`, RFC 6902 operations.
//! - [`merge_patch`]: `application/merge-patch+json`, RFC 7386.
//! - [`strategic_merge_patch`]: `application/strategic-merge-patch+json`, Kubernetes'
//!   type-aware merge (lists merged by key, `$patch` and the other directives), as
//!   upstream's `apimachinery/pkg/util/strategicpatch` applies it server-side.
//!
//! All three are pure functions of (object, patch): they never modify their inputs and
//! never panic on malformed patches. The metadata tables behind the strategic patch are
//! public too ([`patch_strategy`], [`patch_meta`], [`root_type`], [`field_type`],
//! [`schema_definitions`]) for the OpenAPI document and, later, server-side apply.

mod json_patch;
mod merge_patch;
mod strategic;
mod strategies;
mod strategies_generated;
mod value;

#[cfg(test)]
mod tests;

pub use json_patch::{json_patch, MAX_JSON_PATCH_OPERATIONS};
pub use merge_patch::merge_patch;
pub use strategic::strategic_merge_patch;
pub use strategies::{
    field_type, patch_meta, patch_strategy, root_type, schema_definitions, struct_fields, FieldType, Fields, PatchMeta,
    Scalar,
};

use crate::error::{ApiError, Cause, Target};
use value::{json_eq, nesting_depth, remove_key};

/// How deep a JSON patch or strategic merge patch (and the object it patches) may nest
/// before it is refused. Parsed JSON is already
/// limited to 128 levels by serde_json; this bounds hand-built values too, so recursion
/// can never exhaust the stack.
pub const MAX_DEPTH: usize = 256;

/// Why a patch could not be applied. Each variant documents the status upstream's API
/// server answers with; `From<PatchError> for ApiError` maps them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch is not a patch of its type: a JSON patch that is not an array of operation
    /// objects, a strategic merge patch that is not an object, a malformed directive
    /// (`$retainKeys` not a list, `$setElementOrder` without a field name, ...). 400.
    #[error("{0}")]
    Malformed(String),
    /// A JSON patch operation did not apply: a missing path, an index out of range, a
    /// failed `test`, an unknown `op`. Upstream answers 422.
    #[error("{0}")]
    OperationFailed(String),
    /// More JSON patch operations than [`MAX_JSON_PATCH_OPERATIONS`]. 413, as upstream.
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations { max: usize, got: usize },
    /// A strategic merge patch put a list inside a list, which no built-in type has. 422,
    /// as upstream.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// Any other strategic merge patch failure: an item without its merge key, list items of
    /// different types, an unknown `$patch` value, an order list that contradicts the patch.
    /// Upstream passes these through unclassified (a 500 with reason `""`); they are the
    /// client's mistake, so skiff answers 400.
    #[error("{0}")]
    Invalid(String),
    /// The patch nests deeper than [`MAX_DEPTH`]. 400.
    #[error("patch nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl From<PatchError> for ApiError {
    fn from(err: PatchError) -> ApiError {
        match err {
            PatchError::OperationFailed(_) | PatchError::ListOfLists => {
                // Upstream's 422 here is a bare `Invalid` without a kind or name; keep the
                // reason and code clients branch on, and the detail as a cause on `patch`.
                let cause =
                    Cause { reason: "FieldValueInvalid".into(), message: err.to_string(), field: "patch".into() };
                ApiError::Invalid { target: Target::default(), kind: String::new(), causes: vec![cause] }
            }
            PatchError::TooManyOperations { .. } => ApiError::RequestEntityTooLarge(err.to_string()),
            PatchError::Malformed(_) | PatchError::Invalid(_) | PatchError::TooDeep => {
                ApiError::BadRequest(err.to_string())
            }
        }
    }
}

pub type Result<T, E = PatchError> = std::result::Result<T, E>;
