//! The built-in local-path provisioner (like k3s's): the default StorageClass
//! `local-path` (`WaitForFirstConsumer`), and for each of its claims, once the
//! scheduler chose a node (`volume.kubernetes.io/selected-node`), a hostPath
//! PersistentVolume `pvc-<claim uid>` under the storage directory, pinned to
//! that node and pre-bound to the claim. The kubelet creates the directory
//! (`DirectoryOrCreate`). A released volume with the Delete policy has its
//! directory removed when that is safe, then is deleted.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolume,
    PersistentVolumeClaim, PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::binder::{annotation, claim_ref, DEFAULT_CLASS, PROVISIONED_BY, SELECTED_NODE};

pub const PROVISIONER: &str = "rancher.io/local-path";
pub const CLASS: &str = "local-path";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The default StorageClass created at start.
pub fn default_class() -> StorageClass {
    StorageClass {
        metadata: ObjectMeta {
            name: Some(CLASS.into()),
            annotations: Some(BTreeMap::from([(DEFAULT_CLASS.to_string(), "true".to_string())])),
            ..Default::default()
        },
        provisioner: PROVISIONER.into(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some("WaitForFirstConsumer".into()),
        ..Default::default()
    }
}

/// The name of the volume provisioned for a claim.
pub fn volume_name(claim: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", claim.metadata.uid.as_deref().unwrap_or(""))
}

/// Whether this provisioner should make a volume for `claim` now: unbound,
/// of a class it provisions, and (delayed binding) a node chosen.
pub fn wants_volume(claim: &PersistentVolumeClaim, class: Option<&StorageClass>) -> bool {
    let Some(class) = class.filter(|c| c.provisioner == PROVISIONER) else { return false };
    let unbound = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()).unwrap_or("").is_empty();
    let delayed = class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer");
    unbound
        && claim.metadata.deletion_timestamp.is_none()
        && (!delayed || annotation(&claim.metadata.annotations, SELECTED_NODE).is_some())
}

/// The volume for `claim` on `node` (its `kubernetes.io/hostname` label, as
/// k3s pins them; the node name when it has none), under `base`.
pub fn provision(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: Option<&Node>,
    selected: &str,
    base: &Path,
) -> PersistentVolume {
    let ns = claim.metadata.namespace.as_deref().unwrap_or("");
    let name = claim.metadata.name.as_deref().unwrap_or("");
    let volume = volume_name(claim);
    let path = base.join(format!("{volume}_{ns}_{name}"));
    let hostname = node.and_then(|n| n.metadata.labels.as_ref()).and_then(|l| l.get(HOSTNAME_LABEL)).cloned();
    let term = match hostname {
        Some(h) => NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: HOSTNAME_LABEL.into(),
                operator: "In".into(),
                values: Some(vec![h]),
            }]),
            ..Default::default()
        },
        None => NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".into(),
                operator: "In".into(),
                values: Some(vec![selected.into()]),
            }]),
            ..Default::default()
        },
    };
    let spec = claim.spec.clone().unwrap_or_default();
    let storage = spec.resources.as_ref().and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage")).cloned();
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(volume),
            annotations: Some(BTreeMap::from([
                (PROVISIONED_BY.to_string(), PROVISIONER.to_string()),
                ("local.path.provisioner/selected-node".to_string(), selected.to_string()),
            ])),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            access_modes: spec.access_modes.clone(),
            capacity: storage.map(|s| BTreeMap::from([("storage".to_string(), s)])),
            claim_ref: Some(claim_ref(claim)),
            host_path: Some(HostPathVolumeSource {
                path: path.display().to_string(),
                type_: Some("DirectoryOrCreate".into()),
            }),
            node_affinity: Some(VolumeNodeAffinity {
                required: Some(NodeSelector { node_selector_terms: vec![term] }),
            }),
            persistent_volume_reclaim_policy: Some(class.reclaim_policy.clone().unwrap_or_else(|| "Delete".into())),
            storage_class_name: class.metadata.name.clone(),
            volume_mode: spec.volume_mode.clone(),
            ..Default::default()
        }),
        status: None,
    }
}

/// Whether the provisioner may delete the released volume `pv` now: made by
/// it, Delete policy, Released (its claim is gone).
pub fn should_delete(pv: &PersistentVolume) -> bool {
    let spec = pv.spec.as_ref();
    annotation(&pv.metadata.annotations, PROVISIONED_BY) == Some(PROVISIONER)
        && spec.and_then(|s| s.persistent_volume_reclaim_policy.as_deref()) == Some("Delete")
        && pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released")
        && pv.metadata.deletion_timestamp.is_none()
}

/// The directory of a volume, if removing it is safe: a plain absolute path
/// (no `..`) strictly inside `base`, named like the volumes this provisioner
/// makes (`pvc-...`). Anything else — a volume edited to point elsewhere — is
/// left alone.
pub fn removable_dir(pv: &PersistentVolume, base: &Path) -> Option<PathBuf> {
    let path = PathBuf::from(&pv.spec.as_ref()?.host_path.as_ref()?.path);
    let plain = path.is_absolute() && path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let name = path.file_name()?.to_str()?;
    (plain && path.parent() == Some(base) && name.starts_with("pvc-")).then_some(path)
}

/// Where volume directories live on this machine.
pub trait VolumeDirs: Send + Sync {
    /// Removes a volume directory and what it holds; a missing one is not an error.
    ///
    /// # Errors
    /// The directory exists and could not be removed.
    fn remove(&self, path: &Path) -> std::io::Result<()>;
}

/// The real file system.
pub struct HostDirs;

impl VolumeDirs for HostDirs {
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, PersistentVolumeStatus, VolumeResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn claim(selected: Option<&str>) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim {
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                storage_class_name: Some(CLASS.into()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([("storage".to_string(), Quantity("1Gi".into()))])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        c.metadata.name = Some("data".into());
        c.metadata.namespace = Some("default".into());
        c.metadata.uid = Some("u1".into());
        if let Some(n) = selected {
            c.metadata.annotations = Some(BTreeMap::from([(SELECTED_NODE.to_string(), n.to_string())]));
        }
        c
    }

    #[test]
    fn volumes_are_made_once_a_node_is_chosen() {
        let class = default_class();
        let cases = [
            ("no node yet", claim(None), Some(&class), false),
            ("node chosen", claim(Some("n1")), Some(&class), true),
            ("another provisioner", claim(Some("n1")), None, false),
        ];
        for (name, c, class, want) in cases {
            assert_eq!(wants_volume(&c, class), want, "{name}");
        }
        let mut bound = claim(Some("n1"));
        bound.spec.as_mut().unwrap().volume_name = Some("pvc-u1".into());
        assert!(!wants_volume(&bound, Some(&class)), "already bound");
    }

    #[test]
    fn provisioned_volume_is_pinned_prebound_and_under_the_base() {
        let mut node = Node::default();
        node.metadata.name = Some("n1".into());
        node.metadata.labels = Some(BTreeMap::from([(HOSTNAME_LABEL.to_string(), "host-1".to_string())]));
        let pv =
            provision(&claim(Some("n1")), &default_class(), Some(&node), "n1", Path::new("/var/lib/skiff/storage"));
        let spec = pv.spec.as_ref().unwrap();
        assert_eq!(pv.metadata.name.as_deref(), Some("pvc-u1"));
        assert_eq!(spec.host_path.as_ref().unwrap().path, "/var/lib/skiff/storage/pvc-u1_default_data");
        assert_eq!(spec.claim_ref.as_ref().unwrap().uid.as_deref(), Some("u1"));
        assert_eq!(spec.capacity.as_ref().unwrap()["storage"].0, "1Gi");
        assert_eq!(spec.persistent_volume_reclaim_policy.as_deref(), Some("Delete"));
        let term = &spec.node_affinity.as_ref().unwrap().required.as_ref().unwrap().node_selector_terms[0];
        assert_eq!(term.match_expressions.as_ref().unwrap()[0].values, Some(vec!["host-1".to_string()]));
        let without_label = provision(&claim(Some("n1")), &default_class(), None, "n1", Path::new("/s"));
        let term = &without_label.spec.unwrap().node_affinity.unwrap().required.unwrap().node_selector_terms[0];
        assert_eq!(term.match_fields.as_ref().unwrap()[0].key, "metadata.name");
    }

    #[test]
    fn only_safe_directories_are_removed() {
        let base = Path::new("/data/storage");
        let pv_at = |path: &str| PersistentVolume {
            spec: Some(PersistentVolumeSpec {
                host_path: Some(HostPathVolumeSource { path: path.into(), type_: None }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let cases = [
            ("/data/storage/pvc-1_default_data", true),
            ("/data/storage", false),
            ("/data/storage/../etc/pvc-1", false),
            ("/data/storage/x/pvc-1", false),
            ("/data/storage/mine", false),
            ("/etc/pvc-1", false),
            ("data/storage/pvc-1", false),
        ];
        for (path, want) in cases {
            assert_eq!(removable_dir(&pv_at(path), base).is_some(), want, "{path}");
        }
        let mut released = provision(&claim(Some("n1")), &default_class(), None, "n1", base);
        assert!(!should_delete(&released), "bound volumes stay");
        released.status = Some(PersistentVolumeStatus { phase: Some("Released".into()), ..Default::default() });
        assert!(should_delete(&released));
        released.spec.as_mut().unwrap().persistent_volume_reclaim_policy = Some("Retain".into());
        assert!(!should_delete(&released), "Retain keeps it");
    }
}
