//! Storage kinds: PersistentVolumeClaims, PersistentVolumes and StorageClasses,
//! as upstream's `ValidatePersistentVolumeClaim`, `ValidatePersistentVolume` and
//! `ValidateStorageClass` (and their `...Update`) check them; the CSI kinds in `csi`.
//!
//! Upstream defaults some fields before validating (a volume's mode to
//! `Filesystem`, a class's reclaim policy to `Delete`); skiff stores objects as
//! sent, so comparisons on update read a missing field as its default.

mod claim;
mod class;
mod csi;
mod volume;

pub use claim::claim;
pub use class::class;
pub use csi::{csi_driver, csi_node, storage_capacity, volume_attachment};
pub use volume::volume;

use serde_json::{json, Value};

use super::common::{dns1123_subdomain, text};
use crate::Cause;

const ACCESS_MODES: [&str; 4] = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];

/// `spec.accessModes`: at least one (`required` is the detail upstream gives, if
/// any), each supported, and `ReadWriteOncePod` alone.
fn access_modes(spec: Option<&Value>, required: Option<&str>, causes: &mut Vec<Cause>) {
    let modes = spec.and_then(|s| s.get("accessModes")).and_then(Value::as_array);
    if modes.is_none_or(Vec::is_empty) {
        causes.push(match required {
            Some(detail) => Cause::required_because("spec.accessModes", detail),
            None => Cause::required("spec.accessModes"),
        });
    }
    let (mut once_pod, mut others) = (false, false);
    for mode in modes.into_iter().flatten() {
        match mode.as_str() {
            Some("ReadWriteOncePod") => once_pod = true,
            Some(m) if ACCESS_MODES.contains(&m) => others = true,
            _ => causes.push(Cause::not_supported("spec.accessModes", mode, &ACCESS_MODES)),
        }
    }
    if once_pod && others {
        causes.push(Cause::forbidden("spec.accessModes", "may not use ReadWriteOncePod with other access modes"));
    }
}

/// `spec.storageClassName`, when not empty, names a class (`ValidateClassName`).
fn storage_class_name(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    if let Some(name) = text(spec, "storageClassName").filter(|n| !n.is_empty()) {
        for msg in dns1123_subdomain(name) {
            causes.push(Cause::invalid("spec.storageClassName", &json!(name), msg));
        }
    }
}

/// `spec.volumeMode`: `Block` or `Filesystem`.
fn volume_mode(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    if let Some(mode) = spec.and_then(|s| s.get("volumeMode")).filter(|m| !m.is_null()) {
        if !matches!(mode.as_str(), Some("Block" | "Filesystem")) {
            causes.push(Cause::not_supported("spec.volumeMode", mode, &["Block", "Filesystem"]));
        }
    }
}

/// The volume mode, as upstream's defaulting leaves it.
fn mode_of(obj: &Value) -> &str {
    obj.pointer("/spec/volumeMode").and_then(Value::as_str).unwrap_or("Filesystem")
}

/// A volume's mode never changes. Upstream names the field `volumeMode`, without
/// `spec.`.
fn volume_mode_update(obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
    if mode_of(obj) != mode_of(old) {
        causes.push(Cause::invalid("volumeMode", &json!(mode_of(obj)), "field is immutable"));
    }
}

#[cfg(test)]
use super::testing::summaries;
