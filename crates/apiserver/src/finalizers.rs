//! What deleting an object does to its finalizers (upstream's
//! `deletionFinalizersForGarbageCollection` and the namespace registry), and when
//! an object being deleted may finally go. Pure, so the delete and update
//! handlers share one definition.
//!
//! The garbage collector (crates/controllers) acts on the two finalizers set
//! here: `orphan` (remove this owner from its dependents' `ownerReferences`, then
//! drop the finalizer) and `foregroundDeletion` (delete the dependents first).

use serde_json::{json, Value};
use skiff_api::{meta, Resource};

pub const ORPHAN: &str = "orphan";
pub const FOREGROUND: &str = "foregroundDeletion";

/// Whether a delete without `propagationPolicy`/`orphanDependents` orphans the
/// dependents: upstream keeps this for core/v1 ReplicationControllers and
/// batch/v1 Jobs for backwards compatibility; everything else is Background.
fn orphans_by_default(res: &Resource) -> bool {
    matches!((res.group, res.kind), ("", "ReplicationController") | ("batch", "Job"))
}

/// The finalizers an object gets when deleted with `policy` (`None`: the caller
/// said nothing). Both GC finalizers are removed first and added back as the
/// policy asks; without a policy, a GC finalizer already on the object decides
/// (a second delete does not change the first one's choice), then the default.
pub fn deletion_finalizers(res: &Resource, current: &[String], policy: Option<&str>) -> Vec<String> {
    let (orphan, foreground) = match policy {
        Some(p) => (p == "Orphan", p == "Foreground"),
        None => match current.iter().find(|f| *f == ORPHAN || *f == FOREGROUND) {
            Some(f) => (f == ORPHAN, f == FOREGROUND),
            None => (orphans_by_default(res), false),
        },
    };
    let mut out: Vec<String> = current.iter().filter(|f| *f != ORPHAN && *f != FOREGROUND).cloned().collect();
    if orphan {
        out.push(ORPHAN.into());
    }
    if foreground {
        out.push(FOREGROUND.into());
    }
    out
}

/// `spec.finalizers` of a Namespace (the `kubernetes` finalizer the namespace
/// controller removes once the namespace is empty); empty for other kinds.
pub fn spec_finalizers(res: &Resource, obj: &Value) -> Vec<String> {
    if !(res.group.is_empty() && res.kind == "Namespace") {
        return Vec::new();
    }
    meta::path(obj, &["spec", "finalizers"])
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// An object being deleted whose last finalizer is gone: it is removed now.
pub fn deletion_finished(res: &Resource, obj: &Value) -> bool {
    meta::deletion_timestamp(obj).is_some() && meta::finalizers(obj).is_empty() && spec_finalizers(res, obj).is_empty()
}

/// `namespaces/{name}/finalize` changes only `spec.finalizers`.
pub fn prepare_finalize(new: &mut Value, old: &Value) {
    let finalizers = meta::path(new, &["spec", "finalizers"]).cloned().unwrap_or_else(|| json!([]));
    let mut merged = old.clone();
    merged["spec"]["finalizers"] = finalizers;
    *new = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(group: &str, plural: &str) -> &'static Resource {
        skiff_api::registry::find(group, "v1", plural).unwrap()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn propagation_policy_sets_exactly_one_gc_finalizer() {
        let rs = res("apps", "replicasets");
        let table: &[(&[&str], Option<&str>, &[&str])] = &[
            (&[], None, &[]),
            (&[], Some("Background"), &[]),
            (&[], Some("Orphan"), &["orphan"]),
            (&[], Some("Foreground"), &["foregroundDeletion"]),
            (&["x"], Some("Foreground"), &["x", "foregroundDeletion"]),
            (&["orphan", "x"], Some("Foreground"), &["x", "foregroundDeletion"]),
            (&["foregroundDeletion"], Some("Orphan"), &["orphan"]),
            (&["foregroundDeletion"], Some("Background"), &[]),
            (&["foregroundDeletion"], None, &["foregroundDeletion"]),
            (&["orphan"], None, &["orphan"]),
        ];
        for (current, policy, want) in table {
            assert_eq!(deletion_finalizers(rs, &s(current), *policy), s(want), "{current:?} {policy:?}");
        }
    }

    #[test]
    fn replication_controllers_and_jobs_orphan_by_default() {
        assert_eq!(deletion_finalizers(res("", "replicationcontrollers"), &[], None), s(&["orphan"]));
        assert_eq!(deletion_finalizers(res("batch", "jobs"), &[], None), s(&["orphan"]));
        assert!(deletion_finalizers(res("batch", "jobs"), &[], Some("Background")).is_empty());
    }

    #[test]
    fn namespace_stays_until_spec_finalizers_are_gone() {
        let ns = res("", "namespaces");
        let mut obj =
            json!({"metadata": {"name": "a", "deletionTimestamp": "x"}, "spec": {"finalizers": ["kubernetes"]}});
        assert!(!deletion_finished(ns, &obj));
        let mut finalized =
            json!({"metadata": {"name": "b"}, "spec": {"finalizers": []}, "status": {"phase": "Active"}});
        prepare_finalize(&mut finalized, &obj);
        assert_eq!(finalized["metadata"]["name"], "a", "finalize changes only spec.finalizers");
        obj = finalized;
        assert!(deletion_finished(ns, &obj));
    }
}
