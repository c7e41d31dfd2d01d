//! PersistentVolumes: `ValidatePersistentVolumeSpec`, and on update the volume
//! source and mode stay as created.

use serde_json::{json, Value};

use super::super::common::{diff, dns1123_subdomain, invalid_shown, positive, same, set, text};
use super::{access_modes, storage_class_name, volume_mode, volume_mode_update};
use crate::quantity::{canonical, parse_scaled};
use crate::Cause;

/// The volume sources, in the order upstream checks them: (JSON name, Go name).
/// A volume has exactly one.
const SOURCES: [(&str, &str); 22] = [
    ("hostPath", "HostPath"),
    ("gcePersistentDisk", "GCEPersistentDisk"),
    ("awsElasticBlockStore", "AWSElasticBlockStore"),
    ("glusterfs", "Glusterfs"),
    ("flocker", "Flocker"),
    ("nfs", "NFS"),
    ("rbd", "RBD"),
    ("quobyte", "Quobyte"),
    ("cephfs", "CephFS"),
    ("iscsi", "ISCSI"),
    ("cinder", "Cinder"),
    ("fc", "FC"),
    ("flexVolume", "FlexVolume"),
    ("azureFile", "AzureFile"),
    ("vsphereVolume", "VsphereVolume"),
    ("photonPersistentDisk", "PhotonPersistentDisk"),
    ("portworxVolume", "PortworxVolume"),
    ("azureDisk", "AzureDisk"),
    ("scaleIO", "ScaleIO"),
    ("local", "Local"),
    ("storageos", "StorageOS"),
    ("csi", "CSI"),
];

const HOST_PATH_TYPES: [&str; 8] =
    ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"];

pub fn volume(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    access_modes(spec, None, causes);
    capacity(set(spec, "capacity"), causes);
    if let Some(policy) = set(spec, "persistentVolumeReclaimPolicy").filter(|p| p.as_str() != Some("")) {
        if !matches!(policy.as_str(), Some("Delete" | "Recycle" | "Retain")) {
            causes.push(Cause::not_supported(
                "spec.persistentVolumeReclaimPolicy",
                policy,
                &["Delete", "Recycle", "Retain"],
            ));
        }
    }
    let affinity = set(spec, "nodeAffinity");
    if let Some(affinity) = affinity {
        match set(Some(affinity), "required") {
            None => causes
                .push(Cause::required_because("spec.nodeAffinity.required", "must specify required node constraints")),
            Some(required)
                if set(Some(required), "nodeSelectorTerms").and_then(Value::as_array).is_none_or(Vec::is_empty) =>
            {
                causes.push(Cause::required_because(
                    "spec.nodeAffinity.required.nodeSelectorTerms",
                    "must have at least one node selector term",
                ))
            }
            Some(_) => {}
        }
    }
    sources(spec, affinity.is_some(), causes);
    let host_path = text(set(spec, "hostPath"), "path");
    let recycled = text(spec, "persistentVolumeReclaimPolicy") == Some("Recycle");
    if recycled && host_path.is_some_and(|p| clean(p) == "/") {
        causes.push(Cause::forbidden(
            "spec.persistentVolumeReclaimPolicy",
            "may not be 'recycle' for a hostPath mount of '/'",
        ));
    }
    storage_class_name(spec, causes);
    volume_mode(spec, causes);
    if let Some(old) = old {
        volume_update(obj, old, causes);
    }
}

/// `spec.capacity`: exactly `storage`, and more than zero.
fn capacity(capacity: Option<&Value>, causes: &mut Vec<Cause>) {
    let map = capacity.and_then(Value::as_object);
    if map.is_none_or(|m| m.is_empty()) {
        causes.push(Cause::required("spec.capacity"));
    }
    if map.is_none_or(|m| !m.contains_key("storage") || m.len() > 1) {
        // Upstream shows the whole map as Go prints it; only the absent one prints
        // the same here, the others as JSON.
        let shown = match capacity {
            None => "core.ResourceList(nil)".to_string(),
            Some(c) => c.to_string(),
        };
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!("Unsupported value: {shown}: supported values: \"storage\""),
            field: "spec.capacity".into(),
        });
    }
    for (name, q) in map.into_iter().flatten() {
        let Some(q) = q.as_str() else { continue };
        let key = format!("spec.capacity[{name}]");
        let whole = parse_scaled(q, 0).unwrap_or(0);
        if whole < 0 {
            causes.push(invalid_shown(&key, whole, "must be a valid resource quantity"));
        }
        if !positive(q) {
            causes.push(Cause::invalid(&key, &json!(canonical(q)), "must be greater than zero"));
        }
    }
}

/// Exactly one source, and the chosen one's own required fields (for the
/// sources people use with skiff: hostPath, local, nfs, csi).
fn sources(spec: Option<&Value>, affinity: bool, causes: &mut Vec<Cause>) {
    let mut found = 0;
    for (name, _) in SOURCES {
        let Some(source) = set(spec, name) else { continue };
        // A flexVolume is counted but never refused as a second source.
        if found > 0 && name != "flexVolume" {
            let at = if name == "cephfs" { "cephFS" } else { name };
            causes.push(Cause::forbidden(format!("spec.{at}"), "may not specify more than 1 volume type"));
            continue;
        }
        found += 1;
        let at = format!("spec.{name}");
        match name {
            "hostPath" => host_path(source, &at, causes),
            "local" => {
                local_path(source, &at, causes);
                if !affinity {
                    causes.push(Cause::required_because("spec.nodeAffinity", "Local volume requires node affinity"));
                }
            }
            "nfs" => {
                if text(Some(source), "server").unwrap_or("").is_empty() {
                    causes.push(Cause::required(format!("{at}.server")));
                }
                let path = text(Some(source), "path").unwrap_or("");
                if path.is_empty() {
                    causes.push(Cause::required(format!("{at}.path")));
                }
                if !path.starts_with('/') {
                    causes.push(Cause::invalid(format!("{at}.path"), &json!(path), "must be an absolute path"));
                }
            }
            "csi" => {
                let driver = text(Some(source), "driver").unwrap_or("");
                if driver.is_empty() {
                    causes.push(Cause::required(format!("{at}.driver")));
                }
                for msg in dns1123_subdomain(&driver.to_lowercase()) {
                    causes.push(Cause::invalid(format!("{at}.driver"), &json!(driver), msg));
                }
                if text(Some(source), "volumeHandle").unwrap_or("").is_empty() {
                    causes.push(Cause::required(format!("{at}.volumeHandle")));
                }
            }
            _ => {}
        }
    }
    if found == 0 {
        causes.push(Cause::required_because("spec", "must specify a volume type"));
    }
}

fn host_path(source: &Value, at: &str, causes: &mut Vec<Cause>) {
    if !local_path(source, at, causes) {
        return;
    }
    if let Some(t) = set(Some(source), "type") {
        if !t.as_str().is_some_and(|t| HOST_PATH_TYPES.contains(&t)) {
            causes.push(Cause::not_supported(format!("{at}.type"), t, &HOST_PATH_TYPES));
        }
    }
}

/// A host path is given and does not climb out (`..`). Whether it was given.
fn local_path(source: &Value, at: &str, causes: &mut Vec<Cause>) -> bool {
    let path = text(Some(source), "path").unwrap_or("");
    if path.is_empty() {
        causes.push(Cause::required(format!("{at}.path")));
        return false;
    }
    if path.split('/').any(|part| part == "..") {
        causes.push(Cause::invalid(format!("{at}.path"), &json!(path), "must not contain '..'"));
    }
    true
}

/// Go's `path.Clean` for absolute paths, enough to tell whether one is `/`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

fn volume_update(obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
    let (Some(new_spec), Some(old_spec)) = (obj.get("spec"), old.get("spec")) else { return };
    let mut new_spec = new_spec.clone();
    // A CSI volume may gain the secret its controller needs to expand it.
    let old_csi = set(Some(old_spec), "csi");
    if old_csi.is_some_and(|c| set(Some(c), "controllerExpandSecretRef").is_none()) {
        if let Some(csi) = new_spec.get_mut("csi").and_then(Value::as_object_mut) {
            csi.remove("controllerExpandSecretRef");
        }
    }
    let changed: Vec<&str> =
        SOURCES.iter().map(|(json, _)| *json).filter(|s| !same(old_spec.get(*s), new_spec.get(*s))).collect();
    if !changed.is_empty() {
        let detail = diff("core.PersistentVolumeSource", &SOURCES, old_spec, &new_spec, &changed);
        causes.push(Cause::forbidden(
            "spec.persistentvolumesource",
            format!("spec.persistentvolumesource is immutable after creation\n{detail}"),
        ));
    }
    volume_mode_update(obj, old, causes);
}

#[cfg(test)]
mod tests {
    use super::super::summaries;
    use super::*;

    fn valid() -> Value {
        json!({"metadata": {"name": "pv-1"}, "spec": {
            "capacity": {"storage": "5Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": "/data/pv-1"},
        }})
    }

    fn with(patch: Value) -> Value {
        crate::validation::testing::with_spec(valid(), patch)
    }

    fn check(obj: &Value, old: Option<&Value>) -> Vec<String> {
        let mut causes = Vec::new();
        volume(obj, old, &mut causes);
        summaries(&causes)
    }

    #[test]
    fn valid_volumes_pass() {
        assert_eq!(check(&valid(), None), Vec::<String>::new());
        let local = with(json!({
            "hostPath": null, "local": {"path": "/mnt/disk"}, "volumeMode": "Filesystem", "storageClassName": "local",
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}},
        }));
        assert_eq!(check(&local, None), Vec::<String>::new());
        let csi = with(json!({"hostPath": null, "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"}}));
        assert_eq!(check(&csi, None), Vec::<String>::new());
        let nfs = with(json!({"hostPath": null, "nfs": {"server": "10.0.0.1", "path": "/exports"}}));
        assert_eq!(check(&nfs, None), Vec::<String>::new());
    }

    #[test]
    fn each_invalid_spec_gives_upstream_causes() {
        let cases = [
            (json!({"accessModes": null}), vec!["spec.accessModes: Required value"]),
            (
                json!({"capacity": null}),
                vec![
                    "spec.capacity: Required value",
                    r#"spec.capacity: Unsupported value: core.ResourceList(nil): supported values: "storage""#,
                ],
            ),
            (
                json!({"capacity": {"storage": "1Gi", "cpu": "1"}}),
                vec![r#"spec.capacity: Unsupported value: {"cpu":"1","storage":"1Gi"}: supported values: "storage""#],
            ),
            (json!({"capacity": {"storage": "0"}}), vec![r#"spec.capacity[storage]: Invalid value: "0": must be greater than zero"#]),
            (
                json!({"capacity": {"storage": "-1Ki"}}),
                vec![
                    "spec.capacity[storage]: Invalid value: -1024: must be a valid resource quantity",
                    r#"spec.capacity[storage]: Invalid value: "-1Ki": must be greater than zero"#,
                ],
            ),
            (
                json!({"persistentVolumeReclaimPolicy": "Keep"}),
                vec![r#"spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep": supported values: "Delete", "Recycle", "Retain""#],
            ),
            (json!({"hostPath": null}), vec!["spec: Required value: must specify a volume type"]),
            (
                json!({"nfs": {"server": "s", "path": "/x"}}),
                vec!["spec.nfs: Forbidden: may not specify more than 1 volume type"],
            ),
            (
                json!({"hostPath": null, "local": {"path": "/mnt"}}),
                vec!["spec.nodeAffinity: Required value: Local volume requires node affinity"],
            ),
            (
                json!({"nodeAffinity": {}}),
                vec!["spec.nodeAffinity.required: Required value: must specify required node constraints"],
            ),
            (
                json!({"nodeAffinity": {"required": {"nodeSelectorTerms": []}}}),
                vec!["spec.nodeAffinity.required.nodeSelectorTerms: Required value: must have at least one node selector term"],
            ),
            (json!({"hostPath": {"path": ""}}), vec!["spec.hostPath.path: Required value"]),
            (
                json!({"hostPath": {"path": "/data/../etc", "type": "Folder"}}),
                vec![
                    r#"spec.hostPath.path: Invalid value: "/data/../etc": must not contain '..'"#,
                    r#"spec.hostPath.type: Unsupported value: "Folder": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket""#,
                ],
            ),
            (
                json!({"hostPath": {"path": "/"}, "persistentVolumeReclaimPolicy": "Recycle"}),
                vec!["spec.persistentVolumeReclaimPolicy: Forbidden: may not be 'recycle' for a hostPath mount of '/'"],
            ),
            (
                json!({"hostPath": null, "nfs": {"path": "exports"}}),
                vec!["spec.nfs.server: Required value", r#"spec.nfs.path: Invalid value: "exports": must be an absolute path"#],
            ),
            (
                json!({"volumeMode": "Raw"}),
                vec![r#"spec.volumeMode: Unsupported value: "Raw": supported values: "Block", "Filesystem""#],
            ),
        ];
        for (patch, want) in cases {
            assert_eq!(check(&with(patch.clone()), None), want, "{patch}");
        }
        assert_eq!(
            check(&with(json!({"hostPath": null, "csi": {"driver": ""}})), None),
            [
                "spec.csi.driver: Required value".to_string(),
                format!(r#"spec.csi.driver: Invalid value: "": {}"#, crate::names::DNS1123_SUBDOMAIN_MESSAGE),
                "spec.csi.volumeHandle: Required value".to_string(),
            ]
        );
    }

    #[test]
    fn the_source_and_mode_are_fixed_but_binding_is_not() {
        let claimed = with(json!({"claimRef": {"namespace": "default", "name": "data"}}));
        assert!(check(&claimed, Some(&valid())).is_empty());
        let resized = with(json!({"capacity": {"storage": "10Gi"}, "persistentVolumeReclaimPolicy": "Delete"}));
        assert!(check(&resized, Some(&valid())).is_empty());
        let explicit = with(json!({"hostPath": {"path": "/data/pv-1", "type": ""}, "volumeMode": "Filesystem"}));
        assert!(check(&explicit, Some(&valid())).is_empty(), "defaults spelled out");

        let moved = with(json!({"hostPath": {"path": "/elsewhere"}}));
        assert_eq!(
            check(&moved, Some(&valid())),
            ["spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation\n  core.PersistentVolumeSource{\n- \tHostPath: {\"path\":\"/data/pv-1\"},\n+ \tHostPath: {\"path\":\"/elsewhere\"},\n  }\n"]
        );
        assert_eq!(
            check(&with(json!({"volumeMode": "Block"})), Some(&valid())),
            [r#"volumeMode: Invalid value: "Block": field is immutable"#]
        );

        let csi = |secret: bool| {
            let mut source = json!({"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"});
            if secret {
                source["controllerExpandSecretRef"] = json!({"name": "s", "namespace": "kube-system"});
            }
            with(json!({"hostPath": null, "csi": source}))
        };
        assert!(check(&csi(true), Some(&csi(false))).is_empty(), "the expansion secret may be added");
        assert_eq!(check(&csi(false), Some(&csi(true))).len(), 1, "but not taken away");
    }
}
