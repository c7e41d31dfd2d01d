//! A StatefulSet pod's identity: its ordinal name, labels, hostname and
//! subdomain, and the claims of its `volumeClaimTemplates` (upstream's
//! `stateful_set_utils.go`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::history::POD_REVISION_LABEL;
use crate::runtime::owner;

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

pub fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or("")
}

pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0)
}

/// `spec.ordinals.start` (0 by default).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0)
}

/// The ordinal of a pod named `<set>-<ordinal>`, if the name has that shape.
pub fn ordinal(set: &str, pod: &str) -> Option<i32> {
    let rest = pod.strip_prefix(set)?.strip_prefix('-')?;
    if rest.is_empty() || (rest.len() > 1 && rest.starts_with('0')) {
        return None;
    }
    rest.parse().ok().filter(|n: &i32| *n >= 0)
}

pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set_name(set))
}

/// `<template>-<set>-<ordinal>`, the claim a pod's volume template gives it.
pub fn claim_name(template: &str, set: &StatefulSet, ordinal: i32) -> String {
    format!("{template}-{}-{ordinal}", set_name(set))
}

/// The pod's revision label (the revision's name).
pub fn pod_revision(pod: &Pod) -> &str {
    pod.metadata.labels.as_ref().and_then(|l| l.get(POD_REVISION_LABEL)).map_or("", String::as_str)
}

/// The claims the pod with `ordinal` needs: each volume claim template, named
/// for the pod, labelled with the set's `matchLabels` as upstream does.
pub fn claims(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let spec = set.spec.as_ref();
    let match_labels = spec.and_then(|s| s.selector.match_labels.clone()).unwrap_or_default();
    spec.and_then(|s| s.volume_claim_templates.as_ref())
        .into_iter()
        .flatten()
        .map(|t| {
            let tname = t.metadata.name.clone().unwrap_or_default();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(match_labels.clone());
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(&tname, set, ordinal)),
                    namespace: set.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    ..Default::default()
                },
                spec: t.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// The pod with `ordinal`, made from `template` at revision `revision`.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
    let name = pod_name(set, ordinal);
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = tmeta.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(POD_REVISION_LABEL.into(), revision.into());
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name.clone());
    if let Some(service) = set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty()) {
        spec.subdomain = Some(service);
    }
    let mut volumes: Vec<Volume> = spec.volumes.take().unwrap_or_default();
    for claim in set.spec.as_ref().and_then(|s| s.volume_claim_templates.as_ref()).into_iter().flatten() {
        let tname = claim.metadata.name.clone().unwrap_or_default();
        volumes.retain(|v| v.name != tname);
        volumes.push(Volume {
            name: tname.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&tname, set, ordinal),
                read_only: None,
            }),
            ..Default::default()
        });
    }
    if !volumes.is_empty() {
        spec.volumes = Some(volumes);
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner::controller_ref(set)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// `persistentVolumeClaimRetentionPolicy`: `(whenDeleted, whenScaled)` delete?
pub fn retention(set: &StatefulSet) -> (bool, bool) {
    let p = set.spec.as_ref().and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let delete = |v: Option<&String>| v.is_some_and(|v| v == "Delete");
    (delete(p.and_then(|p| p.when_deleted.as_ref())), delete(p.and_then(|p| p.when_scaled.as_ref())))
}

/// The owner references a claim should have under the retention policy: its
/// others untouched, the set's when `whenDeleted: Delete`, the pod's when
/// `whenScaled: Delete` and the pod is being scaled away (the garbage
/// collector then deletes the claim after its owner). `None` when they are
/// already right.
pub fn claim_owners(
    claim: &PersistentVolumeClaim,
    set: &StatefulSet,
    pod: Option<&Pod>,
    condemned: bool,
) -> Option<Vec<OwnerReference>> {
    let (when_deleted, when_scaled) = retention(set);
    let set_uid = set.metadata.uid.as_deref().unwrap_or("");
    let pod_uid = pod.and_then(|p| p.metadata.uid.as_deref()).unwrap_or("");
    let current: Vec<OwnerReference> = claim.metadata.owner_references.clone().unwrap_or_default();
    let mut want: Vec<OwnerReference> =
        current.iter().filter(|r| r.uid != set_uid && (pod_uid.is_empty() || r.uid != pod_uid)).cloned().collect();
    let non_controller = |mut r: OwnerReference| {
        r.controller = None;
        r
    };
    if when_deleted {
        want.push(non_controller(owner::controller_ref(set)));
    }
    // A pod scaled back up before it went loses its reference: the claim stays.
    if let Some(pod) = pod.filter(|_| when_scaled && condemned) {
        want.push(non_controller(owner::controller_ref(pod)));
    }
    let same = |a: &[OwnerReference], b: &[OwnerReference]| {
        a.len() == b.len() && a.iter().all(|r| b.iter().any(|s| s.uid == r.uid))
    };
    (!same(&current, &want)).then_some(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_parse_only_set_pod_names() {
        for (pod, want) in [
            ("web-0", Some(0)),
            ("web-12", Some(12)),
            ("web-01", None),
            ("web-", None),
            ("webx-1", None),
            ("web-a", None),
        ] {
            assert_eq!(ordinal("web", pod), want, "{pod}");
        }
        assert_eq!(ordinal("web-1", "web-1-3"), Some(3));
    }
}
