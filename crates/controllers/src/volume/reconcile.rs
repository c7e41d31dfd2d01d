//! One claim sync and one volume sync of the PersistentVolume controller, as
//! pure functions from what was observed to the writes to make.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::binder::{
    annotation, best_volume, claim_class, claim_ref, default_class, refers_to, waits_for_consumer, BIND_COMPLETED,
    BOUND_BY_CONTROLLER, PROVISIONED_BY, SELECTED_NODE, STORAGE_PROVISIONER,
};

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Give a claim without `storageClassName` the default class (upstream's
    /// retroactive default class assignment).
    SetClaimClass(String),
    /// Ask `provisioner` for a volume (the annotation external provisioners watch).
    RequestProvisioning(String),
    /// Point the volume at the claim (`spec.claimRef`).
    BindVolume {
        volume: String,
        claim_ref: ObjectReference,
    },
    /// Point the claim at the volume (`spec.volumeName`) and mark it bound.
    BindClaim {
        volume: String,
    },
    ClaimPhase {
        phase: &'static str,
        capacity: Option<BTreeMap<String, Quantity>>,
        access_modes: Option<Vec<String>>,
    },
    VolumePhase {
        phase: &'static str,
        message: Option<String>,
    },
    /// Remove a controller-made `claimRef` whose claim went to another volume.
    UnbindVolume,
    DeleteVolume,
    Event {
        warning: bool,
        reason: &'static str,
        message: String,
    },
}

fn claim_phase(claim: &PersistentVolumeClaim) -> &str {
    claim.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn volume_phase(pv: &PersistentVolume) -> &str {
    pv.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn bound_claim_status(claim: &PersistentVolumeClaim, pv: &PersistentVolume) -> Option<Action> {
    let spec = pv.spec.as_ref();
    let capacity = spec.and_then(|s| s.capacity.clone());
    let access_modes = spec.and_then(|s| s.access_modes.clone());
    let status = claim.status.as_ref();
    let same = claim_phase(claim) == "Bound"
        && status.and_then(|s| s.capacity.clone()) == capacity
        && status.and_then(|s| s.access_modes.clone()) == access_modes;
    (!same).then_some(Action::ClaimPhase { phase: "Bound", capacity, access_modes })
}

/// One claim: bind it to its volume, find it one, ask for provisioning, or
/// say why it waits.
pub fn sync_claim(
    claim: &PersistentVolumeClaim,
    volumes: &[&PersistentVolume],
    classes: &[&StorageClass],
) -> Vec<Action> {
    let mut actions = Vec::new();
    if claim.metadata.deletion_timestamp.is_some() {
        return actions;
    }
    let spec = claim.spec.clone().unwrap_or_default();
    let volume_name = spec.volume_name.clone().unwrap_or_default();
    if volume_name.is_empty() {
        if spec.storage_class_name.is_none() {
            if let Some(class) = default_class(classes) {
                actions.push(Action::SetClaimClass(class.metadata.name.clone().unwrap_or_default()));
                return actions;
            }
        }
        let class_name = claim_class(claim);
        let class = classes.iter().copied().find(|c| c.metadata.name.as_deref() == Some(class_name));
        let delayed = waits_for_consumer(class);
        let selected = annotation(&claim.metadata.annotations, SELECTED_NODE);
        // A delayed claim binds only to a volume made or reserved for it, or
        // (once a node is chosen) to one without node affinity.
        let usable: Vec<&PersistentVolume> = volumes
            .iter()
            .copied()
            .filter(|pv| {
                !delayed
                    || refers_to(pv, claim)
                    || (selected.is_some() && pv.spec.as_ref().is_some_and(|s| s.node_affinity.is_none()))
            })
            .collect();
        if let Some(pv) = best_volume(claim, &usable) {
            let name = pv.metadata.name.clone().unwrap_or_default();
            let has_uid = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).and_then(|r| r.uid.as_ref()).is_some();
            if !has_uid {
                actions.push(Action::BindVolume { volume: name.clone(), claim_ref: claim_ref(claim) });
            }
            actions.push(Action::BindClaim { volume: name });
            actions.extend(bound_claim_status(claim, pv));
            return actions;
        }
        let provisioner = class.map(|c| c.provisioner.clone()).filter(|p| !p.is_empty());
        match provisioner {
            Some(_) if delayed && selected.is_none() => actions.push(Action::Event {
                warning: false,
                reason: "WaitForFirstConsumer",
                message: "waiting for first consumer to be created before binding".into(),
            }),
            Some(p) => {
                if annotation(&claim.metadata.annotations, STORAGE_PROVISIONER) != Some(p.as_str()) {
                    actions.push(Action::RequestProvisioning(p.clone()));
                    actions.push(Action::Event {
                        warning: false,
                        reason: "ExternalProvisioning",
                        message: format!(
                            "Waiting for a volume to be created either by the external provisioner '{p}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
                        ),
                    });
                }
            }
            None => actions.push(Action::Event {
                warning: false,
                reason: "FailedBinding",
                message: if class_name.is_empty() {
                    "no persistent volumes available for this claim and no storage class is set".into()
                } else {
                    format!("storageclass.storage.k8s.io \"{class_name}\" not found")
                },
            }),
        }
        if claim_phase(claim) != "Pending" {
            actions.push(Action::ClaimPhase { phase: "Pending", capacity: None, access_modes: None });
        }
        return actions;
    }
    let Some(pv) = volumes.iter().find(|pv| pv.metadata.name.as_deref() == Some(volume_name.as_str())) else {
        if claim_phase(claim) != "Lost" {
            actions.push(Action::ClaimPhase { phase: "Lost", capacity: None, access_modes: None });
            actions.push(Action::Event {
                warning: true,
                reason: "ClaimLost",
                message: "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!".into(),
            });
        }
        return actions;
    };
    let bound_elsewhere = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_some() && !refers_to(pv, claim);
    if bound_elsewhere {
        if claim_phase(claim) != "Lost" {
            actions.push(Action::ClaimPhase { phase: "Lost", capacity: None, access_modes: None });
            actions.push(Action::Event {
                warning: true,
                reason: "ClaimMisbound",
                message: "Two claims are bound to the same volume, this one is bound incorrectly".into(),
            });
        }
        return actions;
    }
    let ref_uid = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).and_then(|r| r.uid.clone());
    if ref_uid.is_none() {
        actions.push(Action::BindVolume { volume: volume_name.clone(), claim_ref: claim_ref(claim) });
    }
    if annotation(&claim.metadata.annotations, BIND_COMPLETED) != Some("yes") {
        actions.push(Action::BindClaim { volume: volume_name });
    }
    actions.extend(bound_claim_status(claim, pv));
    actions
}

/// What `sync_volume` needs to know about the claim a volume refers to.
pub enum ClaimLookup<'a> {
    /// The volume has no claimRef.
    NoRef,
    Found(&'a PersistentVolumeClaim),
    /// Confirmed gone (or replaced by a claim with another uid).
    Gone,
}

/// One volume: its phase from its claim, and the reclaim policy once the
/// claim is gone. Volumes made by `own_provisioner` are deleted by it (it
/// removes their storage first).
pub fn sync_volume(pv: &PersistentVolume, claim: ClaimLookup, own_provisioner: &str) -> Vec<Action> {
    let mut actions = Vec::new();
    if pv.metadata.deletion_timestamp.is_some() {
        return actions;
    }
    let phase = volume_phase(pv);
    let set_phase = |actions: &mut Vec<Action>, want: &'static str| {
        if phase != want {
            actions.push(Action::VolumePhase { phase: want, message: None });
        }
    };
    match claim {
        ClaimLookup::NoRef => set_phase(&mut actions, "Available"),
        ClaimLookup::Found(c) => {
            let claim_volume = c.spec.as_ref().and_then(|s| s.volume_name.as_deref()).unwrap_or("");
            if claim_volume == pv.metadata.name.as_deref().unwrap_or("") {
                set_phase(&mut actions, "Bound");
            } else if claim_volume.is_empty() {
                // Binding in progress, or a volume pre-bound to a claim that
                // has not chosen it yet.
                if phase != "Bound" {
                    set_phase(&mut actions, "Available");
                }
            } else if annotation(&pv.metadata.annotations, BOUND_BY_CONTROLLER) == Some("yes") {
                actions.push(Action::UnbindVolume);
                set_phase(&mut actions, "Available");
            }
        }
        ClaimLookup::Gone => {
            let policy =
                pv.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()).unwrap_or("Retain");
            let ours = annotation(&pv.metadata.annotations, PROVISIONED_BY) == Some(own_provisioner);
            match policy {
                "Delete" if !ours => actions.push(Action::DeleteVolume),
                "Delete" | "Retain" => set_phase(&mut actions, "Released"),
                other => {
                    if phase != "Failed" {
                        let message = format!("reclaim policy {other} is not supported");
                        actions.push(Action::VolumePhase { phase: "Failed", message: Some(message.clone()) });
                        actions.push(Action::Event { warning: true, reason: "VolumeFailedRecycle", message });
                    }
                }
            }
        }
    }
    actions
}
