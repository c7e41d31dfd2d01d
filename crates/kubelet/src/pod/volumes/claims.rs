//! persistentVolumeClaim volumes: the claim → its bound PersistentVolume → a
//! directory on this node (`hostPath`, as the local-path provisioner makes
//! them, or `local.path`). Resolving is pure (the shell fetches the objects);
//! a claim that is missing, being deleted or not bound yet is an error the
//! worker reports as `FailedMount` while the pod waits, as upstream's volume
//! manager holds a pod back until every volume is mounted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};

/// Where one claim's volume lives on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    pub path: PathBuf,
    /// The kubelet makes the directory (hostPath `DirectoryOrCreate`, which the
    /// local-path provisioner's volumes carry); otherwise it must exist.
    pub create: bool,
    /// `persistentVolumeClaim.readOnly` of the pod's volume.
    pub read_only: bool,
}

/// The claims of a pod, by volume name.
pub type ClaimPaths = BTreeMap<String, ClaimPath>;

/// One persistentVolumeClaim volume of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimVolume {
    pub volume: String,
    pub claim: String,
    pub read_only: bool,
}

/// The pod's persistentVolumeClaim volumes, in spec order.
pub fn claim_volumes(pod: &Pod) -> Vec<ClaimVolume> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            let c = v.persistent_volume_claim.as_ref()?;
            Some(ClaimVolume {
                volume: v.name.clone(),
                claim: c.claim_name.clone(),
                read_only: c.read_only == Some(true),
            })
        })
        .collect()
}

/// The directory of `volume`'s claim, given the claim and (when it names one)
/// its volume as the API has them (`None`: not found).
///
/// # Errors
/// Upstream's messages: a missing or terminating claim, one not bound yet, a
/// missing volume, a volume bound to another claim, or a volume of a type this
/// kubelet cannot mount.
pub fn resolve(
    namespace: &str,
    volume: &ClaimVolume,
    pvc: Option<&PersistentVolumeClaim>,
    pv: Option<&PersistentVolume>,
) -> Result<ClaimPath, String> {
    let name = &volume.claim;
    let pvc = pvc.ok_or_else(|| format!("persistentvolumeclaim \"{name}\" not found"))?;
    if pvc.metadata.deletion_timestamp.is_some() {
        return Err(format!("can't start pod because PVC {namespace}/{name} is being deleted"));
    }
    let phase = pvc.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
    let pv_name = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).unwrap_or("");
    if phase != "Bound" || pv_name.is_empty() {
        return Err(format!("PVC {namespace}/{name} is not bound (phase {phase:?}, volumeName {pv_name:?})"));
    }
    let pv = pv.ok_or_else(|| format!("persistentvolume \"{pv_name}\" not found (bound to PVC {namespace}/{name})"))?;
    let spec = pv.spec.as_ref().ok_or_else(|| format!("persistentvolume \"{pv_name}\" has no spec"))?;
    let claim_uid = spec.claim_ref.as_ref().and_then(|r| r.uid.as_deref());
    if claim_uid.is_some() && claim_uid != pvc.metadata.uid.as_deref() {
        return Err(format!("found PV {pv_name}, but its claimRef UID does not match PVC {namespace}/{name}"));
    }
    let (path, create) = if let Some(h) = &spec.host_path {
        (h.path.clone(), h.type_.as_deref() == Some("DirectoryOrCreate"))
    } else if let Some(l) = &spec.local {
        (l.path.clone(), false)
    } else {
        return Err(format!("persistentvolume \"{pv_name}\" is neither hostPath nor local, which skiff cannot mount"));
    };
    if !Path::new(&path).is_absolute() {
        return Err(format!("persistentvolume \"{pv_name}\": path {path:?} is not absolute"));
    }
    Ok(ClaimPath { path: PathBuf::from(path), create, read_only: volume.read_only })
}

/// Makes the claims' directories exist (creating those whose volume says so).
///
/// # Errors
/// The first directory that cannot be made or is missing, as a message.
pub fn prepare(claims: &ClaimPaths) -> Result<(), String> {
    for (volume, c) in claims {
        if c.create {
            std::fs::create_dir_all(&c.path).map_err(|e| format!("volume {volume}: {}: {e}", c.path.display()))?;
        } else if !c.path.exists() {
            return Err(format!("volume {volume}: path {} does not exist on the node", c.path.display()));
        }
    }
    Ok(())
}

/// Upstream's `FailedMount` message for volumes that could not be set up.
pub fn failed_mount_message(volumes: &[String], why: &str) -> String {
    let list = volumes.join(" ");
    format!("Unable to attach or mount volumes: unmounted volumes=[{list}], unattached volumes=[{list}]: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(phase: &str, volume: &str) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "data", "namespace": "ns", "uid": "c1"},
            "spec": {"volumeName": volume},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    fn volume(source: serde_json::Value, claim_uid: &str) -> PersistentVolume {
        let mut spec = json!({"claimRef": {"name": "data", "namespace": "ns", "uid": claim_uid}});
        spec.as_object_mut().unwrap().extend(source.as_object().unwrap().clone());
        serde_json::from_value(json!({"metadata": {"name": "pv1"}, "spec": spec})).unwrap()
    }

    fn data(read_only: bool) -> ClaimVolume {
        ClaimVolume { volume: "v".into(), claim: "data".into(), read_only }
    }

    #[test]
    fn bound_host_path_claims_resolve_to_their_directory() {
        let pv = volume(json!({"hostPath": {"path": "/s/pvc-1", "type": "DirectoryOrCreate"}}), "c1");
        let got = resolve("ns", &data(true), Some(&claim("Bound", "pv1")), Some(&pv)).unwrap();
        assert_eq!(got, ClaimPath { path: "/s/pvc-1".into(), create: true, read_only: true });
        let local = volume(json!({"local": {"path": "/mnt/disk"}}), "c1");
        let got = resolve("ns", &data(false), Some(&claim("Bound", "pv1")), Some(&local)).unwrap();
        assert_eq!(got, ClaimPath { path: "/mnt/disk".into(), create: false, read_only: false });
    }

    #[test]
    fn unbound_missing_and_foreign_claims_wait_with_a_reason() {
        let pv = volume(json!({"hostPath": {"path": "/s/x"}}), "c1");
        let e = resolve("ns", &data(false), None, None).unwrap_err();
        assert_eq!(e, "persistentvolumeclaim \"data\" not found");
        let e = resolve("ns", &data(false), Some(&claim("Pending", "")), None).unwrap_err();
        assert!(e.contains("PVC ns/data is not bound"), "{e}");
        let e = resolve("ns", &data(false), Some(&claim("Bound", "pv1")), None).unwrap_err();
        assert!(e.contains("persistentvolume \"pv1\" not found"), "{e}");
        let other = volume(json!({"hostPath": {"path": "/s/x"}}), "someone-else");
        let e = resolve("ns", &data(false), Some(&claim("Bound", "pv1")), Some(&other)).unwrap_err();
        assert!(e.contains("claimRef UID does not match"), "{e}");
        let nfs = volume(json!({"nfs": {"server": "x", "path": "/"}}), "c1");
        assert!(resolve("ns", &data(false), Some(&claim("Bound", "pv1")), Some(&nfs)).is_err());
        assert!(resolve("ns", &data(false), Some(&claim("Bound", "pv1")), Some(&pv)).is_ok());
    }

    #[test]
    fn prepare_creates_only_what_the_volume_allows() {
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("pvc-a");
        let missing = dir.path().join("local-b");
        let create = ClaimPaths::from([("a".into(), ClaimPath { path: made.clone(), create: true, read_only: false })]);
        prepare(&create).unwrap();
        assert!(made.is_dir());
        let strict = ClaimPaths::from([("b".into(), ClaimPath { path: missing, create: false, read_only: false })]);
        assert!(prepare(&strict).unwrap_err().contains("does not exist"));
    }
}
