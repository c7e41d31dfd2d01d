//! What the server does to an object on create and update, before validation and
//! storage (upstream's per-resource `RESTCreateStrategy`/`RESTUpdateStrategy`):
//! system metadata, status/spec separation, generation, and validation.

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value};
use skiff_api::names::NameRule;
use skiff_api::registry::Resource;
use skiff_api::{meta, selector, Cause};

/// Kinds whose `metadata.generation` counts spec changes (those with a controller
/// that reports `status.observedGeneration`).
fn tracks_generation(res: &Resource) -> bool {
    matches!(
        res.kind,
        "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "CronJob"
            | "ReplicationController"
            | "HorizontalPodAutoscaler"
            | "PodDisruptionBudget"
            | "Ingress"
            | "NetworkPolicy"
            | "PersistentVolumeClaim"
            | "ValidatingAdmissionPolicy"
            | "Service"
    )
}

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A random (version 4) UUID from the thread's CSPRNG (ChaCha, reseeded from the OS),
/// not `Uuid::new_v4`'s `getrandom` system call per object (~0.8 % of a create).
fn new_uid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// Sets what the server owns on a new object.
pub fn prepare_for_create(res: &Resource, obj: &mut Value) {
    let m = meta::metadata_mut(obj);
    m.insert("uid".into(), Value::String(new_uid().to_string()));
    m.insert("creationTimestamp".into(), Value::String(now()));
    for field in ["deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "resourceVersion"] {
        m.remove(field);
    }
    if tracks_generation(res) {
        m.insert("generation".into(), Value::from(1));
    } else {
        m.remove("generation");
    }
    if !res.namespaced {
        m.remove("namespace");
    }
    // Status is written through the status subresource; a create starts without it
    // (kinds with an initial status get it from defaulting).
    if res.has_status() {
        if let Some(map) = obj.as_object_mut() {
            map.remove("status");
        }
    }
    initial_status(res, obj);
    if res.group == "batch" && res.kind == "Job" {
        generate_job_selector(obj);
    }
}

/// Upstream's Job strategy: unless `spec.manualSelector` is true, the Job
/// selects its pods by its own uid, and the template carries the labels
/// (`batch.kubernetes.io/controller-uid`, `batch.kubernetes.io/job-name` and
/// the legacy `controller-uid`, `job-name`).
fn generate_job_selector(obj: &mut Value) {
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let uid = meta::meta_str(obj, "uid").to_string();
    let name = meta::name(obj).to_string();
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return };
    spec.insert("selector".into(), serde_json::json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
    let template = spec.entry("template").or_insert_with(|| serde_json::json!({}));
    let Some(template) = template.as_object_mut() else { return };
    let metadata = template.entry("metadata").or_insert_with(|| serde_json::json!({}));
    let Some(metadata) = metadata.as_object_mut() else { return };
    let labels = metadata.entry("labels").or_insert_with(|| serde_json::json!({}));
    if !labels.is_object() {
        *labels = serde_json::json!({});
    }
    if let Some(labels) = labels.as_object_mut() {
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            labels.insert(k.into(), Value::String(v.clone()));
        }
    }
}

fn initial_status(res: &Resource, obj: &mut Value) {
    let status = match res.kind {
        "Namespace" => serde_json::json!({"phase": "Active"}),
        "Pod" => serde_json::json!({"phase": "Pending", "qosClass": crate::pod::qos_class(obj)}),
        "PersistentVolumeClaim" | "PersistentVolume" => serde_json::json!({"phase": "Pending"}),
        "Service" => serde_json::json!({"loadBalancer": {}}),
        _ => return,
    };
    obj["status"] = status;
}

/// Carries over from `old` what an update of the main resource (`subresource` "")
/// or of `status` may not change, and bumps the generation on spec changes.
pub fn prepare_for_update(res: &Resource, subresource: &str, new: &mut Value, old: &Value) {
    if crate::csr::is_csr(res.group, res.kind) {
        crate::csr::prepare_for_update(subresource, new, old);
    } else if subresource == "status" {
        // Only the status changes; everything else stays as it was.
        let status = new.get("status").cloned();
        let mut merged = old.clone();
        match status {
            Some(s) => merged["status"] = s,
            None => {
                if let Some(m) = merged.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        *new = merged;
    } else if subresource == "finalize" {
        crate::finalizers::prepare_finalize(new, old);
    } else if res.has_status() {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    let old_meta = meta::metadata(old).cloned().unwrap_or_default();
    let new_meta = meta::metadata_mut(new);
    for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
        match old_meta.get(field) {
            Some(v) => {
                new_meta.insert(field.into(), v.clone());
            }
            None => {
                new_meta.remove(field);
            }
        }
    }
    new_meta.remove("selfLink");
    if tracks_generation(res) && spec_changed(new, old) {
        let generation = old_meta.get("generation").and_then(Value::as_i64).unwrap_or(0) + 1;
        meta::set_meta(new, "generation", generation);
    }
}

/// Whether anything but metadata and status differs.
fn spec_changed(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("metadata");
        m.remove("status");
        m
    };
    strip(new) != strip(old)
}

/// Validation every object gets: name, namespace, labels, annotations,
/// finalizers, ownerReferences.
pub fn validate_metadata(res: &Resource, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = meta::name(obj);
    if name.is_empty() {
        causes.push(Cause::required("metadata.name"));
    } else if let Some(msg) = NameRule::for_kind(res.kind).check(name) {
        causes.push(Cause::invalid("metadata.name", &Value::String(name.into()), msg));
    }
    if res.namespaced && meta::namespace(obj).is_empty() {
        causes.push(Cause::required("metadata.namespace"));
    }
    let m = meta::metadata(obj);
    if let Some(labels) = m.and_then(|m| m.get("labels")) {
        match labels.as_object() {
            Some(labels) => {
                for (k, v) in labels {
                    if let Err(e) = selector::validate_key(k) {
                        causes.push(Cause::invalid("metadata.labels", &Value::String(k.clone()), e.0));
                    }
                    match v.as_str() {
                        Some(s) => {
                            if let Err(e) = selector::validate_value(s) {
                                causes.push(Cause::invalid(format!("metadata.labels.{k}"), v, e.0));
                            }
                        }
                        None => causes.push(Cause::invalid(format!("metadata.labels.{k}"), v, "must be a string")),
                    }
                }
            }
            None if labels.is_null() => {}
            None => causes.push(Cause::invalid("metadata.labels", labels, "must be a map of strings")),
        }
    }
    if let Some(annotations) = m.and_then(|m| m.get("annotations")) {
        match annotations.as_object() {
            Some(a) => {
                let mut total = 0;
                for (k, v) in a {
                    total += k.len() + v.as_str().map_or(0, str::len);
                    if selector::validate_key(k).is_err() {
                        causes.push(Cause::invalid("metadata.annotations", &Value::String(k.clone()), "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
                    }
                    if !v.is_string() {
                        causes.push(Cause::invalid(format!("metadata.annotations.{k}"), v, "must be a string"));
                    }
                }
                if total > 256 * 1024 {
                    causes.push(Cause::too_long("metadata.annotations", &Value::String(String::new()), 256 * 1024));
                }
            }
            None if annotations.is_null() => {}
            None => causes.push(Cause::invalid("metadata.annotations", annotations, "must be a map of strings")),
        }
    }
    if let Some(refs) = m.and_then(|m| m.get("ownerReferences")).and_then(Value::as_array) {
        for (i, r) in refs.iter().enumerate() {
            for field in ["apiVersion", "kind", "name", "uid"] {
                if r.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
                    causes.push(Cause::required(format!("metadata.ownerReferences[{i}].{field}")));
                }
            }
        }
    }
    causes
}

/// Upstream's `generateName` suffix: five characters from an alphabet without
/// vowels or look-alikes.
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = [0u8; 5];
    let uuid = new_uid();
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = ALPHABET[uuid.as_bytes()[i] as usize % ALPHABET.len()];
    }
    let mut prefix = prefix.to_string();
    prefix.truncate(63 - 5);
    format!("{prefix}{}", String::from_utf8_lossy(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;
    use skiff_api::registry;

    #[test]
    fn uids_are_random_version_4_uuids() {
        let uids: std::collections::HashSet<uuid::Uuid> = (0..1000).map(|_| new_uid()).collect();
        assert_eq!(uids.len(), 1000);
        assert!(uids.iter().all(|u| u.get_version_num() == 4 && u.get_variant() == uuid::Variant::RFC4122));
    }

    #[test]
    fn create_sets_system_fields_and_drops_status() {
        let deploy = registry::find("apps", "v1", "deployments").unwrap();
        let mut obj = json!({"metadata": {"name": "d", "resourceVersion": "5"}, "spec": {}, "status": {"replicas": 3}});
        prepare_for_create(deploy, &mut obj);
        assert_eq!(obj["metadata"]["generation"], 1);
        assert!(obj["metadata"]["uid"].is_string());
        assert!(obj.get("status").is_none());
        assert!(obj["metadata"].get("resourceVersion").is_none());
    }

    #[test]
    fn jobs_select_their_pods_by_uid_unless_manual() {
        let jobs = registry::find("batch", "v1", "jobs").unwrap();
        let mut job = json!({"metadata": {"name": "pi"}, "spec": {"template": {"metadata": {"labels": {"a": "b"}}}}});
        prepare_for_create(jobs, &mut job);
        let uid = job["metadata"]["uid"].as_str().unwrap().to_string();
        assert_eq!(job["spec"]["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
        let labels = &job["spec"]["template"]["metadata"]["labels"];
        assert_eq!((labels["a"].as_str(), labels["job-name"].as_str()), (Some("b"), Some("pi")));
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], json!(uid));
        let manual = json!({"metadata": {"name": "m"}, "spec": {"manualSelector": true, "selector": {"matchLabels": {"x": "y"}}}});
        let mut m = manual.clone();
        prepare_for_create(jobs, &mut m);
        assert_eq!(m["spec"], manual["spec"]);
    }

    #[test]
    fn spec_updates_bump_generation_and_keep_status() {
        let deploy = registry::find("apps", "v1", "deployments").unwrap();
        let old = json!({"metadata": {"name": "d", "uid": "u", "generation": 1}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut new = json!({"metadata": {"name": "d"}, "spec": {"replicas": 2}, "status": {"replicas": 9}});
        prepare_for_update(deploy, "", &mut new, &old);
        assert_eq!(new["metadata"]["generation"], 2);
        assert_eq!(new["metadata"]["uid"], "u");
        assert_eq!(new["status"]["replicas"], 1);

        let mut status_write = json!({"metadata": {"name": "d"}, "spec": {"replicas": 7}, "status": {"replicas": 5}});
        prepare_for_update(deploy, "status", &mut status_write, &old);
        assert_eq!(status_write["spec"]["replicas"], 1);
        assert_eq!(status_write["status"]["replicas"], 5);
        assert_eq!(status_write["metadata"]["generation"], 1);
    }

    #[test]
    fn metadata_validation() {
        let cm = registry::find("", "v1", "configmaps").unwrap();
        let causes = validate_metadata(cm, &json!({"metadata": {"name": "Bad_Name", "labels": {"ok": "-bad"}}}));
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["metadata.name", "metadata.namespace", "metadata.labels.ok"]);
        assert!(generate_name("web-").starts_with("web-"));
        assert_eq!(generate_name("web-").len(), 9);
    }
}
