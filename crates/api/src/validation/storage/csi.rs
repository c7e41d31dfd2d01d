//! The CSI kinds of storage.k8s.io: CSIDrivers, CSINodes, VolumeAttachments and
//! CSIStorageCapacities, as upstream's `ValidateCSIDriver`, `ValidateCSINode`,
//! `ValidateVolumeAttachment` (and its v1 additions) and `ValidateCSIStorageCapacity`
//! check them, with their `...Update`s.
//!
//! Upstream's update strategies for CSINodes and VolumeAttachments run the create
//! checks twice (once directly, once inside the update checks), so each problem
//! is reported twice on update; that is kept.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::super::common::invalid_shown;
use super::super::common::{
    dns1123_subdomain, label_selector_lenient, qualified_name, quantity_cmp, same, selector_has_errors, set, text,
};
use super::super::gostr;
use super::super::rules::invalid_each;
use crate::quantity::canonical;
use crate::Cause;

const FS_GROUP_POLICIES: [&str; 3] = ["File", "None", "ReadWriteOnceWithFSType"];
const LIFECYCLE_MODES: [&str; 2] = ["Persistent", "Ephemeral"];
const NODE_ID_MAX: usize = 256;
const MAX_ATTACHED_METADATA: usize = 256 * 1024;
const MAX_ERROR_MESSAGE: usize = 1024;

/// `ValidateCSIDriverName` (for names inside objects): a DNS subdomain, lower
/// case or not, of at most 63 characters.
fn csi_driver_name(name: &str, at: &str, causes: &mut Vec<Cause>) {
    if name.is_empty() {
        causes.push(Cause::required(at));
    }
    if name.len() > 63 {
        causes.push(Cause::too_long(at, &json!(""), 63));
    }
    invalid_each(at, name, dns1123_subdomain(&name.to_lowercase()), causes);
}

pub fn csi_driver(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    // Upstream's path has this spelling.
    for (field, path) in [
        ("attachRequired", "spec.attachedRequired"),
        ("podInfoOnMount", "spec.podInfoOnMount"),
        ("storageCapacity", "spec.storageCapacity"),
    ] {
        if set(spec, field).is_none() {
            causes.push(Cause::required(path));
        }
    }
    if let Some(policy) =
        set(spec, "fsGroupPolicy").filter(|p| !p.as_str().is_some_and(|p| FS_GROUP_POLICIES.contains(&p)))
    {
        causes.push(Cause::not_supported("spec.fsGroupPolicy", policy, &FS_GROUP_POLICIES));
    }
    token_requests(spec, causes);
    for mode in spec.and_then(|s| s.get("volumeLifecycleModes")).and_then(Value::as_array).into_iter().flatten() {
        if !mode.as_str().is_some_and(|m| LIFECYCLE_MODES.contains(&m)) {
            causes.push(Cause::not_supported("spec.volumeLifecycleModes", mode, &LIFECYCLE_MODES));
        }
    }
    // SELinuxMountReadWriteOncePod is on by default in 1.32, which makes this required.
    if set(spec, "seLinuxMount").is_none() {
        causes.push(Cause::required("spec.seLinuxMount"));
    }
    let Some(old) = old else { return };
    let old_spec = old.get("spec");
    if set(spec, "attachRequired") != set(old_spec, "attachRequired") {
        let shown = set(spec, "attachRequired").cloned().unwrap_or(Value::Null);
        causes.push(Cause::invalid("spec.attachedRequired", &shown, "field is immutable"));
    }
    let modes = |s: Option<&Value>| set(s, "volumeLifecycleModes").cloned();
    if !same(modes(spec).as_ref(), modes(old_spec).as_ref()) {
        causes.push(invalid_shown(
            "spec.volumeLifecycleModes",
            gostr::strings("[]storage.VolumeLifecycleMode", modes(spec).as_ref()),
            "field is immutable",
        ));
    }
}

/// `validateTokenRequests`: distinct audiences, expirations of 10 minutes to 2^32 seconds.
fn token_requests(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    let mut audiences = HashSet::new();
    for (i, request) in
        spec.and_then(|s| s.get("tokenRequests")).and_then(Value::as_array).into_iter().flatten().enumerate()
    {
        let at = format!("spec.tokenRequests[{i}]");
        let audience = text(Some(request), "audience").unwrap_or("");
        if !audiences.insert(audience) {
            causes.push(Cause::duplicate(format!("{at}.audience"), &json!(audience)));
            continue;
        }
        let Some(seconds) = set(Some(request), "expirationSeconds") else { continue };
        let n = seconds.as_i64().unwrap_or(0);
        if n < 600 {
            causes.push(Cause::invalid(
                format!("{at}.expirationSeconds"),
                seconds,
                "may not specify a duration less than 10 minutes",
            ));
        }
        if n > 1 << 32 {
            causes.push(Cause::invalid(
                format!("{at}.expirationSeconds"),
                seconds,
                "may not specify a duration larger than 2^32 seconds",
            ));
        }
    }
}

fn drivers(obj: &Value) -> &[Value] {
    obj.pointer("/spec/drivers").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

pub fn csi_node(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    csi_node_spec(obj, causes);
    let Some(old) = old else { return };
    csi_node_spec(obj, causes);
    for old_driver in drivers(old) {
        for new_driver in drivers(obj) {
            if text(Some(old_driver), "name") == text(Some(new_driver), "name")
                && !same(Some(old_driver), Some(new_driver))
            {
                causes.push(invalid_shown("CSINodeDriver", go_node_driver(new_driver), "field is immutable"));
            }
        }
    }
}

fn csi_node_spec(obj: &Value, causes: &mut Vec<Cause>) {
    let mut names = HashSet::new();
    for (i, driver) in drivers(obj).iter().enumerate() {
        let at = format!("spec.drivers[{i}]");
        let d = Some(driver);
        let name = text(d, "name").unwrap_or("");
        csi_driver_name(name, &format!("{at}.name"), causes);
        let node_id = text(d, "nodeID").unwrap_or("");
        if node_id.is_empty() {
            causes.push(Cause::required(format!("{at}.nodeID")));
        }
        if node_id.len() > NODE_ID_MAX {
            causes.push(Cause::invalid(
                format!("{at}.nodeID"),
                &json!(node_id),
                format!("must be {NODE_ID_MAX} characters or less"),
            ));
        }
        if let Some(count) = driver.pointer("/allocatable/count").filter(|c| c.as_i64().is_some_and(|c| c < 0)) {
            causes.push(Cause::invalid(format!("{at}.allocatable.count"), count, "must be greater than or equal to 0"));
        }
        if !names.insert(name) {
            causes.push(Cause::duplicate(format!("{at}.name"), &json!(name)));
        }
        let mut keys = HashSet::new();
        for key in driver.get("topologyKeys").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
        {
            if key.is_empty() {
                causes.push(Cause::required(&at));
            }
            if !keys.insert(key) {
                causes.push(Cause::duplicate(&at, &json!(key)));
            }
            invalid_each(&at, key, qualified_name(key), causes);
        }
    }
}

/// `%#v` of a `storage.CSINodeDriver`.
fn go_node_driver(d: &Value) -> String {
    format!(
        "storage.CSINodeDriver{{Name:{:?}, NodeID:{:?}, TopologyKeys:{}, Allocatable:{}}}",
        text(Some(d), "name").unwrap_or(""),
        text(Some(d), "nodeID").unwrap_or(""),
        gostr::strings("[]string", set(Some(d), "topologyKeys")),
        gostr::pointer("storage.VolumeNodeResources", set(Some(d), "allocatable").is_some())
    )
}

pub fn volume_attachment(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    attachment(obj, causes);
    let spec = obj.get("spec");
    let Some(old) = old else {
        // What the v1 API added for new objects.
        csi_driver_name(text(spec, "attacher").unwrap_or(""), "spec.attacher", causes);
        if let Some(pv) = spec.and_then(|s| s.pointer("/source/persistentVolumeName")).and_then(Value::as_str) {
            invalid_each("spec.source.persistentVolumeName", pv, dns1123_subdomain(pv), causes);
        }
        return;
    };
    attachment(obj, causes);
    if !same(spec, old.get("spec")) {
        causes.push(invalid_shown("spec", go_attachment_spec(spec), "field is immutable"));
    }
}

fn attachment(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    if text(spec, "attacher").unwrap_or("").is_empty() {
        causes.push(Cause::required("spec.attacher"));
    }
    let source = spec.and_then(|s| s.get("source"));
    const ONE: &str = "must specify exactly one of inlineVolumeSpec and persistentVolumeName";
    match (set(source, "persistentVolumeName"), set(source, "inlineVolumeSpec")) {
        (None, None) => causes.push(Cause::required_because("spec.source", ONE)),
        (Some(_), Some(_)) => causes.push(Cause::forbidden("spec.source", ONE)),
        (Some(pv), None) if pv.as_str() == Some("") => causes.push(Cause::required_because(
            "spec.source.persistentVolumeName",
            "must specify non empty persistentVolumeName",
        )),
        _ => {}
    }
    let node = text(spec, "nodeName").unwrap_or("");
    invalid_each("spec.nodeName", node, dns1123_subdomain(node), causes);
    let status = obj.get("status");
    let metadata_size: usize = set(status, "attachmentMetadata")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if metadata_size > MAX_ATTACHED_METADATA {
        causes.push(Cause::too_long("status.attachmentMetadata", &json!(""), MAX_ATTACHED_METADATA));
    }
    for field in ["attachError", "detachError"] {
        if text(set(status, field), "message").is_some_and(|m| m.len() > MAX_ERROR_MESSAGE) {
            // Upstream reports the metadata limit here, not the message's.
            causes.push(Cause::too_long(format!("status.{field}.message"), &json!(""), MAX_ATTACHED_METADATA));
        }
    }
}

/// `%#v` of a `storage.VolumeAttachmentSpec`.
fn go_attachment_spec(spec: Option<&Value>) -> String {
    let source = spec.and_then(|s| s.get("source"));
    format!(
        "storage.VolumeAttachmentSpec{{Attacher:{:?}, Source:storage.VolumeAttachmentSource{{PersistentVolumeName:{}, InlineVolumeSpec:{}}}, NodeName:{:?}}}",
        text(spec, "attacher").unwrap_or(""),
        gostr::pointer("string", set(source, "persistentVolumeName").is_some()),
        gostr::pointer("core.PersistentVolumeSpec", set(source, "inlineVolumeSpec").is_some()),
        text(spec, "nodeName").unwrap_or("")
    )
}

pub fn storage_capacity(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let topology = set(Some(obj), "nodeTopology");
    let lenient = old.is_some_and(|o| selector_has_errors(set(Some(o), "nodeTopology")));
    label_selector_lenient(topology, "nodeTopology", lenient, causes);
    let class = text(Some(obj), "storageClassName").unwrap_or("");
    invalid_each("storageClassName", class, dns1123_subdomain(class), causes);
    if let Some(q) = text(Some(obj), "capacity").filter(|q| quantity_cmp(q, "0").is_lt()) {
        causes.push(Cause::invalid("capacity", &json!(canonical(q)), "must be greater than or equal to 0"));
    }
    let Some(old) = old else { return };
    if !same(topology, set(Some(old), "nodeTopology")) {
        causes.push(invalid_shown("nodeTopology", gostr::label_selector(topology), "field is immutable"));
    }
    if text(Some(old), "storageClassName").unwrap_or("") != class {
        causes.push(Cause::invalid("storageClassName", &json!(class), "field is immutable"));
    }
}

#[cfg(test)]
mod tests;
