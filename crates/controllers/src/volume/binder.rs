//! PersistentVolume binding as pure functions (upstream's `pv_controller`):
//! which volume a claim gets, and what one claim or one volume sync writes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::runtime::selector::Selector;

pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
pub const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
pub const BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
pub const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// A quantity in bytes (binary and decimal suffixes; fractions rounded up).
pub fn bytes(q: &Quantity) -> Option<u128> {
    let s = q.0.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let factor: u128 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    (value >= 0.0).then(|| (value * factor as f64).ceil() as u128)
}

pub fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    claim.spec.as_ref().and_then(|s| s.storage_class_name.as_deref()).unwrap_or("")
}

pub fn volume_class(pv: &PersistentVolume) -> &str {
    pv.spec.as_ref().and_then(|s| s.storage_class_name.as_deref()).unwrap_or("")
}

pub fn claim_request(claim: &PersistentVolumeClaim) -> u128 {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .and_then(bytes)
        .unwrap_or(0)
}

pub fn volume_capacity(pv: &PersistentVolume) -> u128 {
    pv.spec.as_ref().and_then(|s| s.capacity.as_ref()).and_then(|c| c.get("storage")).and_then(bytes).unwrap_or(0)
}

fn mode(m: Option<&String>) -> &str {
    m.map_or("Filesystem", String::as_str)
}

pub fn annotation<'a>(a: &'a Option<BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    a.as_ref()?.get(key).map(String::as_str)
}

/// Whether `pv`'s claimRef names `claim` (by namespace and name, and by uid
/// when the reference has one).
pub fn refers_to(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else { return false };
    r.name == claim.metadata.name
        && r.namespace == claim.metadata.namespace
        && r.uid.as_deref().is_none_or(|u| u.is_empty() || Some(u) == claim.metadata.uid.as_deref())
}

/// Whether `pv` can hold `claim`: not being deleted, free or pre-bound to
/// it, same class and volume mode, every requested access mode, enough
/// capacity, labels matching the claim's selector.
pub fn matches(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let (Some(vs), Some(cs)) = (pv.spec.as_ref(), claim.spec.as_ref()) else { return false };
    if pv.metadata.deletion_timestamp.is_some() {
        return false;
    }
    if vs.claim_ref.is_some() && !refers_to(pv, claim) {
        return false;
    }
    if vs.claim_ref.is_none() && pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released") {
        return false;
    }
    if volume_class(pv) != claim_class(claim) || mode(vs.volume_mode.as_ref()) != mode(cs.volume_mode.as_ref()) {
        return false;
    }
    let offered = vs.access_modes.as_deref().unwrap_or(&[]);
    if !cs.access_modes.iter().flatten().all(|m| offered.contains(m)) {
        return false;
    }
    if let Some(selector) = &cs.selector {
        if !Selector::from_label_selector(Some(selector)).matches(pv.metadata.labels.as_ref()) {
            return false;
        }
    }
    volume_capacity(pv) >= claim_request(claim)
}

/// The volume `claim` should bind to: one pre-bound to it, else the smallest
/// that matches (upstream's `findBestMatchForClaim`).
pub fn best_volume<'a>(
    claim: &PersistentVolumeClaim,
    volumes: &[&'a PersistentVolume],
) -> Option<&'a PersistentVolume> {
    let candidates: Vec<&PersistentVolume> = volumes.iter().copied().filter(|pv| matches(pv, claim)).collect();
    if let Some(pre) = candidates.iter().find(|pv| refers_to(pv, claim)) {
        return Some(pre);
    }
    candidates.into_iter().min_by_key(|pv| (volume_capacity(pv), pv.metadata.name.clone()))
}

/// The default class (annotated `is-default-class: "true"`; the newest wins
/// when there are several, as upstream).
pub fn default_class<'a>(classes: &[&'a StorageClass]) -> Option<&'a StorageClass> {
    classes
        .iter()
        .copied()
        .filter(|c| annotation(&c.metadata.annotations, DEFAULT_CLASS) == Some("true"))
        .max_by_key(|c| (c.metadata.creation_timestamp.as_ref().map(|t| t.0), c.metadata.name.clone()))
}

pub fn waits_for_consumer(class: Option<&StorageClass>) -> bool {
    class.and_then(|c| c.volume_binding_mode.as_deref()) == Some("WaitForFirstConsumer")
}

/// A reference to `claim` for a volume's `claimRef`.
pub fn claim_ref(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        name: claim.metadata.name.clone(),
        namespace: claim.metadata.namespace.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
