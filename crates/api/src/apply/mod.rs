//! Server-side apply and `managedFields`, as upstream's
//! `apimachinery/pkg/util/managedfields` and `sigs.k8s.io/structured-merge-diff` define
//! them, on objects held as `serde_json::Value`. Pure: the caller passes the clock.
//!
//! - [`FieldSet`]: sets of field paths and their `fieldsV1` form.
//! - [`ManagedFields`]: the `managedFields` entries of an object.
//! - [`apply()`]: merges an applied configuration into the live object, with ownership,
//!   pruning and conflicts.
//! - [`record_update`]: ownership after any other write ([`created_managed_fields`]:
//!   its fast form for a create that brought no `managedFields`).
//!
//! Where the schema is needed (list semantics, atomic structs and maps) it comes from the
//! patch tables, see [`Node`]; kinds without a built-in type are handled without one.

mod applier;
mod compare;
mod fieldset;
mod last_applied;
mod managed;
mod memo;
mod merge;
mod path;
mod schema;
mod set;
mod update;

#[cfg(test)]
mod tests;

pub use applier::apply;
pub use compare::{compare, Comparison};
pub use fieldset::field_set;
pub use last_applied::{KUBECTL, LAST_APPLIED};
pub use managed::{ManagedFields, ManagedFieldsEntry, Operation, Requested};
pub use path::{display as display_path, Path, PathElement};
pub use schema::Node;
pub use set::FieldSet;
pub use update::{created_managed_fields, record_update};

use serde_json::{Map, Value};

use crate::error::{ApiError, Cause};

/// How many `Update` entries an object keeps before the oldest are merged (upstream's
/// `DefaultMaxUpdateManagers`).
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// Fields no manager owns: identity and system metadata the server sets
/// (upstream's `stripMetaManager`). Removed exactly, not with what lies below.
const STRIPPED: &[&[&str]] = &[
    &["apiVersion"],
    &["kind"],
    &["metadata"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "creationTimestamp"],
    &["metadata", "selfLink"],
    &["metadata", "uid"],
    &["metadata", "clusterName"],
    &["metadata", "generation"],
    &["metadata", "managedFields"],
    &["metadata", "resourceVersion"],
];

/// The type of the object a write addresses, and the fields that write may not own.
#[derive(Clone, Debug)]
pub struct Scope {
    root: Node,
    strip: &'static FieldSet,
    ignored: FieldSet,
    /// Names the type and the ignored paths: what, besides an object's layout, decides
    /// the fields a create owns (see `memo`).
    memo_key: String,
}

/// [`STRIPPED`] as a field set, built once: every write needs it.
static STRIP: std::sync::LazyLock<FieldSet> = std::sync::LazyLock::new(|| {
    let paths: Vec<Path> = STRIPPED.iter().map(|p| p.iter().map(|f| PathElement::field(*f)).collect()).collect();
    FieldSet::from_paths(paths.iter().map(Vec::as_slice))
});

impl Scope {
    pub fn new(group: &str, version: &str, kind: &str) -> Scope {
        let memo_key = format!("{group}/{version}/{kind}");
        Scope { root: Node::root(group, version, kind), strip: &STRIP, ignored: FieldSet::new(), memo_key }
    }

    /// Excludes the field at `path` and everything below it from ownership, as upstream
    /// does with the fields a strategy resets (`status` written through the main resource,
    /// `spec` through `status`).
    pub fn ignoring(mut self, path: &[&str]) -> Scope {
        let path: Path = path.iter().map(|f| PathElement::field(*f)).collect();
        self.ignored.insert(&path);
        self.memo_key.push('|');
        self.memo_key.push_str(&path.iter().map(|pe| pe.encode()).collect::<Vec<_>>().join("."));
        self
    }
}

/// Who writes: a manager name, the resource version its fields are named in, and the
/// subresource it writes through (`""` for the main resource).
#[derive(Clone, Copy, Debug)]
pub struct Manager<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub subresource: &'a str,
}

/// One field another manager owns and an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager, as messages name it: `"kubectl-edit" using apps/v1`.
    pub manager: String,
    pub path: Path,
}

/// Why an apply failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change; 409 with a `FieldManagerConflict`
    /// cause per field.
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The configuration is not one a typed object can hold (a repeated list key); 400.
    #[error("{0}")]
    Invalid(String),
}

/// Upstream's message: one conflict on one line, several grouped by manager.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", one.manager, display_path(&one.path));
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflicts with {manager}:"));
        lines.extend(conflicts.iter().filter(|c| c.manager == manager).map(|c| format!("- {}", display_path(&c.path))));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

impl From<ApplyError> for ApiError {
    fn from(err: ApplyError) -> ApiError {
        match &err {
            ApplyError::Conflicts(conflicts) => ApiError::ApplyConflict {
                message: err.to_string(),
                causes: conflicts
                    .iter()
                    .map(|c| Cause {
                        reason: "FieldManagerConflict".into(),
                        message: format!("conflict with {}", c.manager),
                        field: display_path(&c.path),
                    })
                    .collect(),
            },
            ApplyError::Invalid(message) => ApiError::BadRequest(message.clone()),
        }
    }
}

/// The manager name of a write without `fieldManager`: the User-Agent up to its first `/`
/// (`kubectl/v1.32.4 (linux/amd64) ...` → `kubectl`), printable characters only, at most
/// 128 bytes, as upstream derives it; `unknown` when that leaves nothing.
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let mut out = String::new();
    for c in user_agent.split('/').next().unwrap_or("").chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        "unknown".into()
    } else {
        out
    }
}

/// What a new object is compared against when it is created: its structs, empty (the
/// zero value upstream compares with has them), so the creator's entry does not claim
/// `spec` or `metadata` themselves but does claim new maps and lists.
fn baseline(obj: &Value, node: Node) -> Value {
    let Value::Object(map) = obj else { return Value::Object(Map::new()) };
    let Node::Struct(_) = node else { return Value::Object(Map::new()) };
    let kept = map.iter().filter_map(|(key, child)| {
        let child_node = node.field(key);
        (matches!(child_node, Node::Struct(_)) && child.is_object()).then(|| (key.clone(), baseline(child, child_node)))
    });
    Value::Object(kept.collect())
}
