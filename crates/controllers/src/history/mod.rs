//! ControllerRevision history shared by the StatefulSet and DaemonSet
//! controllers (upstream's `controller/history`).
//!
//! A revision stores the parent's pod template as the strategic-merge patch
//! `{"spec":{"template":{..., "$patch":"replace"}}}` — exactly what `kubectl
//! rollout history --revision` applies to show a template and what `kubectl
//! rollout undo` sends back to the parent. Revisions are named
//! `<parent>-<hash>`, numbered upward; going back to an old template renumbers
//! its revision instead of creating a copy, and old revisions no pod uses are
//! deleted beyond `revisionHistoryLimit`.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::Resource;
use serde_json::{json, Value};

use crate::runtime::owner;

/// Label every revision carries with its hash (upstream's
/// `controller.kubernetes.io/hash`).
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// Pod label naming the revision a pod was made from: the revision's name for
/// StatefulSet pods, its hash for DaemonSet pods (as upstream).
pub const POD_REVISION_LABEL: &str = "controller-revision-hash";

/// The revision data of a template: a patch that replaces the parent's template.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut t {
        m.insert("$patch".into(), Value::from("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The template stored in a revision's data (the inverse of [`template_patch`]).
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Value::Object(m) = &mut t {
        m.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// FNV-1a (32 bit) of the data and the collision count, spelled in upstream's
/// vowel-free `SafeEncodeString` alphabet.
pub fn hash(data: &Value, collision_count: Option<i32>) -> String {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    feed(data.to_string().as_bytes());
    if let Some(c) = collision_count {
        feed(&c.to_le_bytes());
    }
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string().bytes().map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char).collect()
}

/// `<parent>-<hash>`, the prefix cut so the name stays a valid object name.
pub fn revision_name(parent: &str, hash: &str) -> String {
    let prefix: String = parent.chars().take(223).collect();
    format!("{prefix}-{hash}")
}

pub fn data(revision: &ControllerRevision) -> Option<&Value> {
    revision.data.as_ref().map(|d| &d.0)
}

/// Sorted by revision number, then name (upstream's `SortControllerRevisions`).
pub fn sorted<'a>(revisions: &[&'a ControllerRevision]) -> Vec<&'a ControllerRevision> {
    let mut v = revisions.to_vec();
    v.sort_by(|a, b| a.revision.cmp(&b.revision).then_with(|| a.metadata.name.cmp(&b.metadata.name)));
    v
}

/// What the history needs for the parent's template as it is now.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The newest revision already holds it.
    Current,
    /// An older revision holds it: it becomes the newest under this number
    /// (a rollback).
    Renumber { name: String, revision: i64 },
    /// No revision holds it: create this one.
    Create(Box<ControllerRevision>),
}

/// The update revision for `data` among `revisions` (the parent's own), and
/// the step that makes it exist as the newest revision.
pub fn next<K: Resource<DynamicType = ()>>(
    parent: &K,
    template_labels: Option<&BTreeMap<String, String>>,
    revisions: &[&ControllerRevision],
    data: Value,
    collision_count: Option<i32>,
) -> (ControllerRevision, Step) {
    let sorted = sorted(revisions);
    let newest = sorted.last().map_or(0, |r| r.revision);
    if let Some(equal) = sorted.iter().rev().find(|r| self::data(r) == Some(&data)) {
        let mut update = (*equal).clone();
        if equal.revision == newest {
            return (update, Step::Current);
        }
        update.revision = newest + 1;
        let name = update.metadata.name.clone().unwrap_or_default();
        return (update, Step::Renumber { name, revision: newest + 1 });
    }
    let h = hash(&data, collision_count);
    let mut labels = template_labels.cloned().unwrap_or_default();
    labels.insert(HASH_LABEL.into(), h.clone());
    let meta = parent.meta();
    let revision = ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(meta.name.as_deref().unwrap_or(""), &h)),
            namespace: meta.namespace.clone(),
            labels: Some(labels),
            // The parent's annotations, so `kubernetes.io/change-cause` shows
            // in `kubectl rollout history`.
            annotations: meta.annotations.clone().map(|mut a| {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
                a
            }),
            owner_references: Some(vec![owner::controller_ref(parent)]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision: newest + 1,
    };
    (revision.clone(), Step::Create(Box::new(revision)))
}

/// Revisions to delete: the oldest of those no pod uses (`live`: names of
/// revisions in use, the current and update revisions among them) beyond
/// `limit`. Returns `(name, uid)` pairs.
pub fn to_truncate(revisions: &[&ControllerRevision], live: &HashSet<String>, limit: i32) -> Vec<(String, String)> {
    let old: Vec<&ControllerRevision> =
        sorted(revisions).into_iter().filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or(""))).collect();
    let excess = old.len().saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
    old.iter()
        .take(excess)
        .map(|r| (r.metadata.name.clone().unwrap_or_default(), r.metadata.uid.clone().unwrap_or_default()))
        .collect()
}
