//! Rows of volumes, claims, classes and CSI objects.

use serde_json::{json, Value};

use crate::table::printers::testing::{ago, column_names, row};

#[test]
fn persistent_volume_rows() {
    assert_eq!(
        column_names("", "PersistentVolume"),
        [
            "Name",
            "Capacity",
            "Access Modes",
            "Reclaim Policy",
            "Status",
            "Claim",
            "StorageClass",
            "VolumeAttributesClass",
            "Reason",
            "Age",
            "VolumeMode*"
        ]
    );
    let bound = json!({"metadata": {"name": "pv-1", "creationTimestamp": ago(3 * 3600)},
        "spec": {"capacity": {"storage": "10240Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "db", "name": "data-pg-0"},
            "storageClassName": "fast", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}});
    assert_eq!(
        Value::from(row("", "PersistentVolume", &bound)),
        json!([
            "pv-1",
            "10Gi",
            "RWO,RWX",
            "Retain",
            "Bound",
            "db/data-pg-0",
            "fast",
            "<unset>",
            "",
            "3h",
            "Filesystem"
        ])
    );
    let releasing = json!({"metadata": {"name": "pv-2", "deletionTimestamp": ago(1),
            "annotations": {"volume.beta.kubernetes.io/storage-class": "legacy"}},
        "spec": {"storageClassName": "fast", "volumeAttributesClassName": "gold"},
        "status": {"phase": "Released", "reason": "Reclaiming"}});
    assert_eq!(
        Value::from(row("", "PersistentVolume", &releasing)),
        json!(["pv-2", "0", "", "", "Terminating", "", "legacy", "gold", "Reclaiming", "<unknown>", "<unset>"])
    );
}

#[test]
fn persistent_volume_claim_rows() {
    let bound = json!({"metadata": {"name": "data-pg-0", "creationTimestamp": ago(300)},
        "spec": {"volumeName": "pv-1", "storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}},
            "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"]}});
    assert_eq!(
        Value::from(row("", "PersistentVolumeClaim", &bound)),
        json!(["data-pg-0", "Bound", "pv-1", "10Gi", "RWO", "fast", "<unset>", "5m", "Filesystem"])
    );
    let pending = json!({"metadata": {"name": "p"}, "spec": {"resources": {"requests": {"storage": "5Gi"}}},
        "status": {"phase": "Pending"}});
    assert_eq!(
        Value::from(row("", "PersistentVolumeClaim", &pending)),
        json!(["p", "Pending", "", "", "", "", "<unset>", "<unknown>", "<unset>"])
    );
}

#[test]
fn storage_class_rows() {
    let default = json!({"metadata": {"name": "standard",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        Value::from(row("storage.k8s.io", "StorageClass", &default)),
        json!(["standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", false, "<unknown>"])
    );
    let fast = json!({"metadata": {"name": "fast"}, "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Retain",
        "allowVolumeExpansion": true});
    assert_eq!(
        Value::from(row("storage.k8s.io", "StorageClass", &fast)),
        json!(["fast", "ebs.csi.aws.com", "Retain", "Immediate", true, "<unknown>"])
    );
}

#[test]
fn csi_rows() {
    let driver = json!({"metadata": {"name": "ebs.csi.aws.com"}, "spec": {"attachRequired": false,
        "tokenRequests": [{"audience": "sts"}, {"audience": "vault"}], "volumeLifecycleModes": ["Persistent", "Ephemeral"]}});
    assert_eq!(
        Value::from(row("storage.k8s.io", "CSIDriver", &driver)),
        json!(["ebs.csi.aws.com", false, false, false, "sts,vault", false, "Persistent,Ephemeral", "<unknown>"])
    );
    let bare = json!({"metadata": {"name": "d"}, "spec": {}});
    assert_eq!(
        Value::from(row("storage.k8s.io", "CSIDriver", &bare)),
        json!(["d", true, false, false, "<unset>", false, "<none>", "<unknown>"])
    );
    let node = json!({"metadata": {"name": "node-a"}, "spec": {"drivers": [{"name": "a"}, {"name": "b"}]}});
    assert_eq!(Value::from(row("storage.k8s.io", "CSINode", &node)), json!(["node-a", 2, "<unknown>"]));
    let capacity = json!({"metadata": {"name": "csisc-1"}, "storageClassName": "fast", "capacity": "1073741824"});
    assert_eq!(
        Value::from(row("storage.k8s.io", "CSIStorageCapacity", &capacity)),
        json!(["csisc-1", "fast", "1073741824"])
    );
    let unknown = json!({"metadata": {"name": "csisc-2"}, "storageClassName": "fast"});
    assert_eq!(row("storage.k8s.io", "CSIStorageCapacity", &unknown)[2], "<unset>");
}

#[test]
fn volume_attachment_rows() {
    assert_eq!(
        column_names("storage.k8s.io", "VolumeAttachment"),
        ["Name", "Attacher", "PV", "Node", "Attached", "Age"]
    );
    let va = json!({"metadata": {"name": "csi-123", "creationTimestamp": ago(20)},
        "spec": {"attacher": "ebs.csi.aws.com", "nodeName": "node-a", "source": {"persistentVolumeName": "pv-1"}},
        "status": {"attached": true}});
    assert_eq!(
        Value::from(row("storage.k8s.io", "VolumeAttachment", &va)),
        json!(["csi-123", "ebs.csi.aws.com", "pv-1", "node-a", true, "20s"])
    );
}
