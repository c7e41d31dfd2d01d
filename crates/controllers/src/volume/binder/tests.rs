use super::*;
use crate::volume::reconcile::{sync_claim, sync_volume, Action, ClaimLookup};

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimSpec, PersistentVolumeClaimStatus, PersistentVolumeSpec, PersistentVolumeStatus,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

fn claim(class: Option<&str>, size: &str, modes: &[&str]) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".into()),
            namespace: Some("default".into()),
            uid: Some("c1".into()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(modes.iter().map(|m| m.to_string()).collect()),
            storage_class_name: class.map(Into::into),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_string(), Quantity(size.into()))])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: Some(PersistentVolumeClaimStatus { phase: Some("Pending".into()), ..Default::default() }),
    }
}

fn volume(name: &str, class: &str, size: &str, modes: &[&str]) -> PersistentVolume {
    PersistentVolume {
        metadata: ObjectMeta { name: Some(name.into()), uid: Some(format!("uid-{name}")), ..Default::default() },
        spec: Some(PersistentVolumeSpec {
            access_modes: Some(modes.iter().map(|m| m.to_string()).collect()),
            capacity: Some(BTreeMap::from([("storage".to_string(), Quantity(size.into()))])),
            storage_class_name: Some(class.into()),
            persistent_volume_reclaim_policy: Some("Retain".into()),
            ..Default::default()
        }),
        status: Some(PersistentVolumeStatus { phase: Some("Available".into()), ..Default::default() }),
    }
}

fn class(name: &str, mode: &str, default: bool) -> StorageClass {
    StorageClass {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: default.then(|| BTreeMap::from([(DEFAULT_CLASS.to_string(), "true".to_string())])),
            ..Default::default()
        },
        provisioner: "rancher.io/local-path".into(),
        volume_binding_mode: Some(mode.into()),
        ..Default::default()
    }
}

#[test]
fn quantities_in_bytes() {
    for (q, want) in
        [("1Gi", Some(1u128 << 30)), ("500M", Some(500_000_000)), ("1.5Ki", Some(1536)), ("10", Some(10)), ("1X", None)]
    {
        assert_eq!(bytes(&Quantity(q.into())), want, "{q}");
    }
}

#[test]
fn the_smallest_matching_volume_is_chosen() {
    let c = claim(Some("fast"), "1Gi", &["ReadWriteOnce"]);
    let small = volume("small", "fast", "512Mi", &["ReadWriteOnce"]);
    let fit = volume("fit", "fast", "2Gi", &["ReadWriteOnce", "ReadOnlyMany"]);
    let big = volume("big", "fast", "10Gi", &["ReadWriteOnce"]);
    let other_class = volume("slow", "slow", "1Gi", &["ReadWriteOnce"]);
    let wrong_mode = volume("rox", "fast", "1Gi", &["ReadOnlyMany"]);
    let mut taken = volume("taken", "fast", "1Gi", &["ReadWriteOnce"]);
    taken.spec.as_mut().unwrap().claim_ref =
        Some(ObjectReference { name: Some("other".into()), namespace: Some("default".into()), ..Default::default() });
    let all = [&small, &fit, &big, &other_class, &wrong_mode, &taken];
    assert_eq!(best_volume(&c, &all).and_then(|v| v.metadata.name.as_deref()), Some("fit"));

    // A volume pre-bound to the claim wins over a smaller free one.
    let mut reserved = volume("reserved", "fast", "10Gi", &["ReadWriteOnce"]);
    reserved.spec.as_mut().unwrap().claim_ref =
        Some(ObjectReference { name: Some("data".into()), namespace: Some("default".into()), ..Default::default() });
    assert_eq!(best_volume(&c, &[&fit, &reserved]).and_then(|v| v.metadata.name.as_deref()), Some("reserved"));

    // A selector narrows the choice to labelled volumes.
    let mut selective = claim(Some("fast"), "1Gi", &["ReadWriteOnce"]);
    selective.spec.as_mut().unwrap().selector = Some(LabelSelector {
        match_labels: Some(BTreeMap::from([("tier".to_string(), "gold".to_string())])),
        ..Default::default()
    });
    let mut gold = volume("gold", "fast", "10Gi", &["ReadWriteOnce"]);
    gold.metadata.labels = Some(BTreeMap::from([("tier".to_string(), "gold".to_string())]));
    assert_eq!(best_volume(&selective, &[&fit, &gold]).and_then(|v| v.metadata.name.as_deref()), Some("gold"));
}

fn kinds(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::SetClaimClass(c) => format!("class {c}"),
            Action::RequestProvisioning(p) => format!("provision {p}"),
            Action::BindVolume { volume, .. } => format!("bind volume {volume}"),
            Action::BindClaim { volume } => format!("bind claim {volume}"),
            Action::ClaimPhase { phase, .. } => format!("claim {phase}"),
            Action::VolumePhase { phase, .. } => format!("volume {phase}"),
            Action::UnbindVolume => "unbind".into(),
            Action::DeleteVolume => "delete".into(),
            Action::Event { reason, .. } => format!("event {reason}"),
        })
        .collect()
}

#[test]
fn claim_syncs() {
    let immediate = class("fast", "Immediate", false);
    let delayed = class("local-path", "WaitForFirstConsumer", true);
    let free = volume("pv1", "fast", "1Gi", &["ReadWriteOnce"]);
    let mut bound_pv = free.clone();
    bound_pv.spec.as_mut().unwrap().claim_ref = Some(claim_ref(&claim(Some("fast"), "1Gi", &[])));
    let mut bound_claim = claim(Some("fast"), "1Gi", &["ReadWriteOnce"]);
    bound_claim.spec.as_mut().unwrap().volume_name = Some("pv1".into());
    let mut selected = claim(Some("local-path"), "1Gi", &["ReadWriteOnce"]);
    selected.metadata.annotations = Some(BTreeMap::from([(SELECTED_NODE.to_string(), "n1".to_string())]));
    let cases: Vec<(&str, PersistentVolumeClaim, Vec<&PersistentVolume>, Vec<&str>)> = vec![
        ("no class gets the default", claim(None, "1Gi", &["ReadWriteOnce"]), vec![], vec!["class local-path"]),
        (
            "binds to a matching volume",
            claim(Some("fast"), "1Gi", &["ReadWriteOnce"]),
            vec![&free],
            vec!["bind volume pv1", "bind claim pv1", "claim Bound"],
        ),
        ("finishes a half-done binding", bound_claim.clone(), vec![&bound_pv], vec!["bind claim pv1", "claim Bound"]),
        ("lost volume", bound_claim, vec![], vec!["claim Lost", "event ClaimLost"]),
        (
            "delayed claim waits for a consumer",
            claim(Some("local-path"), "1Gi", &["ReadWriteOnce"]),
            vec![],
            vec!["event WaitForFirstConsumer"],
        ),
        (
            "a chosen node asks the provisioner",
            selected,
            vec![],
            vec!["provision rancher.io/local-path", "event ExternalProvisioning"],
        ),
        (
            "no volume and no provisioner",
            claim(Some(""), "1Gi", &["ReadWriteOnce"]),
            vec![],
            vec!["event FailedBinding"],
        ),
    ];
    let classes = [&immediate, &delayed];
    for (name, c, volumes, want) in cases {
        assert_eq!(kinds(&sync_claim(&c, &volumes, &classes)), want, "{name}");
    }
}

#[test]
fn volume_syncs() {
    let c = claim(Some("fast"), "1Gi", &["ReadWriteOnce"]);
    let mut bound_claim = c.clone();
    bound_claim.spec.as_mut().unwrap().volume_name = Some("pv1".into());
    let mut pv = volume("pv1", "fast", "1Gi", &["ReadWriteOnce"]);
    pv.spec.as_mut().unwrap().claim_ref = Some(claim_ref(&c));
    let mut delete_pv = pv.clone();
    delete_pv.spec.as_mut().unwrap().persistent_volume_reclaim_policy = Some("Delete".into());
    let mut ours = delete_pv.clone();
    ours.metadata.annotations = Some(BTreeMap::from([(PROVISIONED_BY.to_string(), "me".to_string())]));
    let mut elsewhere = c.clone();
    elsewhere.spec.as_mut().unwrap().volume_name = Some("pv2".into());
    let mut by_controller = pv.clone();
    by_controller.metadata.annotations = Some(BTreeMap::from([(BOUND_BY_CONTROLLER.to_string(), "yes".to_string())]));
    let free = volume("pv1", "fast", "1Gi", &["ReadWriteOnce"]);
    let cases: Vec<(&str, &PersistentVolume, ClaimLookup, Vec<&str>)> = vec![
        ("free and already Available", &free, ClaimLookup::NoRef, vec![]),
        ("bound", &pv, ClaimLookup::Found(&bound_claim), vec!["volume Bound"]),
        ("Retain keeps a released volume", &pv, ClaimLookup::Gone, vec!["volume Released"]),
        ("Delete deletes it", &delete_pv, ClaimLookup::Gone, vec!["delete"]),
        ("its provisioner deletes its own", &ours, ClaimLookup::Gone, vec!["volume Released"]),
        ("the claim chose another volume", &by_controller, ClaimLookup::Found(&elsewhere), vec!["unbind"]),
    ];
    for (name, v, lookup, want) in cases {
        assert_eq!(kinds(&sync_volume(v, lookup, "me")), want, "{name}");
    }
}
