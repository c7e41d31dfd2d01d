//! Persistent volumes and claims, storage classes, CSI drivers, nodes and
//! capacities, volume attachments.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age_cell, col, name, wide, Column, Printer, AGE, NAME};
use crate::table::fields::{arr_at, len_at, opt_bool, opt_str, str_at};
use skiff_api::quantity::canonical;

pub const PERSISTENT_VOLUME: Printer = Printer {
    columns: &[
        NAME,
        col("Capacity", "string"),
        col("Access Modes", "string"),
        col("Reclaim Policy", "string"),
        col("Status", "string"),
        col("Claim", "string"),
        col("StorageClass", "string"),
        col("VolumeAttributesClass", "string"),
        col("Reason", "string"),
        AGE,
        wide("VolumeMode", "string"),
    ],
    cells: pv_cells,
};

pub const PERSISTENT_VOLUME_CLAIM: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string"),
        col("Volume", "string"),
        col("Capacity", "string"),
        col("Access Modes", "string"),
        col("StorageClass", "string"),
        col("VolumeAttributesClass", "string"),
        AGE,
        wide("VolumeMode", "string"),
    ],
    cells: pvc_cells,
};

pub const STORAGE_CLASS: Printer = Printer {
    columns: &[
        NAME,
        col("Provisioner", "string"),
        col("ReclaimPolicy", "string"),
        col("VolumeBindingMode", "string"),
        col("AllowVolumeExpansion", "string"),
        AGE,
    ],
    cells: storage_class_cells,
};

pub const CSI_DRIVER: Printer = Printer {
    columns: &[
        NAME,
        col("AttachRequired", "boolean"),
        col("PodInfoOnMount", "boolean"),
        col("StorageCapacity", "boolean"),
        col("TokenRequests", "string"),
        col("RequiresRepublish", "boolean"),
        col("Modes", "string"),
        AGE,
    ],
    cells: csi_driver_cells,
};

pub const CSI_NODE: Printer = Printer { columns: &[NAME, col("Drivers", "integer"), AGE], cells: csi_node_cells };

pub const CSI_STORAGE_CAPACITY: Printer = Printer {
    columns: &[NAME, col("StorageClassName", "string"), col("Capacity", "string")],
    cells: csi_storage_capacity_cells,
};

pub const VOLUME_ATTACHMENT: Printer = Printer {
    columns: &[
        NAME,
        // Upstream marks this column as a name too.
        Column { format: "name", ..col("Attacher", "string") },
        col("PV", "string"),
        col("Node", "string"),
        col("Attached", "boolean"),
        AGE,
    ],
    cells: volume_attachment_cells,
};

/// Access modes abbreviated, always in the order RWO, ROX, RWX, RWOP.
fn access_modes(obj: &Value, pointer: &str) -> String {
    let modes: Vec<&str> = arr_at(obj, pointer).iter().filter_map(Value::as_str).collect();
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(mode, _)| modes.contains(mode))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

/// A storage quantity in canonical form; `0` when missing (a zero Quantity).
fn storage(obj: &Value, pointer: &str) -> String {
    opt_str(obj, pointer).map(canonical).unwrap_or_else(|| "0".into())
}

/// The beta storage-class annotation wins over the field.
fn storage_class(obj: &Value) -> &str {
    opt_str(obj, "/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .unwrap_or_else(|| str_at(obj, "/spec/storageClassName"))
}

fn phase(obj: &Value) -> &str {
    if obj.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null()) {
        "Terminating"
    } else {
        str_at(obj, "/status/phase")
    }
}

fn pv_cells(pv: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match pv.pointer("/spec/claimRef").filter(|c| !c.is_null()) {
        Some(c) => format!("{}/{}", str_at(c, "/namespace"), str_at(c, "/name")),
        None => String::new(),
    };
    vec![
        name(pv),
        json!(storage(pv, "/spec/capacity/storage")),
        json!(access_modes(pv, "/spec/accessModes")),
        json!(str_at(pv, "/spec/persistentVolumeReclaimPolicy")),
        json!(phase(pv)),
        json!(claim),
        json!(storage_class(pv)),
        json!(opt_str(pv, "/spec/volumeAttributesClassName").unwrap_or("<unset>")),
        json!(str_at(pv, "/status/reason")),
        age_cell(pv, now),
        json!(opt_str(pv, "/spec/volumeMode").unwrap_or("<unset>")),
    ]
}

/// Capacity and access modes come from the status once the claim is bound to a
/// volume, and are blank before.
fn pvc_cells(pvc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let volume = str_at(pvc, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (storage(pvc, "/status/capacity/storage"), access_modes(pvc, "/status/accessModes"))
    };
    vec![
        name(pvc),
        json!(phase(pvc)),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(storage_class(pvc)),
        json!(opt_str(pvc, "/spec/volumeAttributesClassName").unwrap_or("<unset>")),
        age_cell(pvc, now),
        json!(opt_str(pvc, "/spec/volumeMode").unwrap_or("<unset>")),
    ]
}

/// The default class's name reads `standard (default)`.
fn storage_class_cells(sc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let is_default =
        ["storageclass.kubernetes.io~1is-default-class", "storageclass.beta.kubernetes.io~1is-default-class"]
            .iter()
            .any(|a| str_at(sc, &format!("/metadata/annotations/{a}")) == "true");
    let name = str_at(sc, "/metadata/name");
    vec![
        json!(if is_default { format!("{name} (default)") } else { name.to_string() }),
        json!(str_at(sc, "/provisioner")),
        json!(opt_str(sc, "/reclaimPolicy").unwrap_or("Delete")),
        json!(opt_str(sc, "/volumeBindingMode").unwrap_or("Immediate")),
        json!(opt_bool(sc, "/allowVolumeExpansion").unwrap_or(false)),
        age_cell(sc, now),
    ]
}

fn csi_driver_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Stored objects drop empty lists, so an empty tokenRequests reads as unset.
    let audiences: Vec<&str> = arr_at(obj, "/spec/tokenRequests").iter().map(|t| str_at(t, "/audience")).collect();
    let tokens = if audiences.is_empty() { "<unset>".to_string() } else { audiences.join(",") };
    let modes: Vec<&str> = arr_at(obj, "/spec/volumeLifecycleModes").iter().filter_map(Value::as_str).collect();
    vec![
        name(obj),
        json!(opt_bool(obj, "/spec/attachRequired").unwrap_or(true)),
        json!(opt_bool(obj, "/spec/podInfoOnMount").unwrap_or(false)),
        json!(opt_bool(obj, "/spec/storageCapacity").unwrap_or(false)),
        json!(tokens),
        json!(opt_bool(obj, "/spec/requiresRepublish").unwrap_or(false)),
        json!(if modes.is_empty() { "<none>".to_string() } else { modes.join(",") }),
        age_cell(obj, now),
    ]
}

fn csi_node_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), json!(len_at(obj, "/spec/drivers")), age_cell(obj, now)]
}

fn csi_storage_capacity_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let capacity = opt_str(obj, "/capacity").map(canonical).unwrap_or_else(|| "<unset>".into());
    vec![name(obj), json!(str_at(obj, "/storageClassName")), json!(capacity)]
}

fn volume_attachment_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        json!(str_at(obj, "/spec/attacher")),
        json!(str_at(obj, "/spec/source/persistentVolumeName")),
        json!(str_at(obj, "/spec/nodeName")),
        json!(opt_bool(obj, "/status/attached").unwrap_or(false)),
        age_cell(obj, now),
    ]
}

#[cfg(test)]
mod tests;
