//! PersistentVolumeClaims: `ValidatePersistentVolumeClaimSpec`, and on update
//! `ValidatePersistentVolumeClaimUpdate`: the spec is fixed once created, except
//! that a volume name may be set once, a class may be given to a claim that had
//! none, and a bound claim's storage request may change (growing; shrinking only
//! while above the capacity the volume reached, as RecoverVolumeExpansionFailure,
//! on by default since 1.32, allows).

use std::cmp::Ordering;

use serde_json::{json, Value};

use super::super::common::{
    diff, dns1123_subdomain, invalid_shown, label_selector, positive, quantities_by_value, quantity_cmp, same, set,
    text,
};
use super::{access_modes, storage_class_name, volume_mode, volume_mode_update};
use crate::quantity::canonical;
use crate::Cause;

const STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// The spec's fields in upstream's struct order, for the diff in the message.
const FIELDS: [(&str, &str); 9] = [
    ("accessModes", "AccessModes"),
    ("selector", "Selector"),
    ("resources", "Resources"),
    ("volumeName", "VolumeName"),
    ("storageClassName", "StorageClassName"),
    ("volumeMode", "VolumeMode"),
    ("dataSource", "DataSource"),
    ("dataSourceRef", "DataSourceRef"),
    ("volumeAttributesClassName", "VolumeAttributesClassName"),
];

pub fn claim(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    claim_spec(obj.get("spec"), causes);
    if let Some(old) = old {
        claim_update(obj, old, causes);
    }
}

fn claim_spec(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    access_modes(spec, Some("at least 1 access mode is required"), causes);
    label_selector(set(spec, "selector"), "spec.selector", causes);
    // Upstream's path leaves out `requests`.
    let key = "spec.resources[storage]";
    match spec.and_then(|s| s.pointer("/resources/requests/storage")).and_then(Value::as_str) {
        None => causes.push(Cause::required(key)),
        Some(q) if !positive(q) => causes.push(Cause::invalid(key, &json!(canonical(q)), "must be greater than zero")),
        Some(_) => {}
    }
    storage_class_name(spec, causes);
    volume_mode(spec, causes);
    data_source(set(spec, "dataSource"), "spec.dataSource", causes);
    data_source(set(spec, "dataSourceRef"), "spec.dataSourceRef", causes);
    if let (Some(source), Some(reference)) = (set(spec, "dataSource"), set(spec, "dataSourceRef")) {
        let group = |v: &Value| set(Some(v), "apiGroup").cloned();
        let equal = group(source) == group(reference)
            && text(Some(source), "kind") == text(Some(reference), "kind")
            && text(Some(source), "name") == text(Some(reference), "name");
        if !equal {
            // Upstream's bad value here is the path itself, printed bare.
            causes.push(invalid_shown("spec", "spec.dataSource", "must match dataSourceRef"));
        }
    }
}

/// `validateDataSource` / `validateDataSourceRef`: a named object, a claim unless
/// an API group says otherwise.
fn data_source(source: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    let Some(source) = source else { return };
    let (name, kind) = (text(Some(source), "name").unwrap_or(""), text(Some(source), "kind").unwrap_or(""));
    if name.is_empty() {
        causes.push(Cause::required(format!("{at}.name")));
    }
    if kind.is_empty() {
        causes.push(Cause::required(format!("{at}.kind")));
    }
    let group = text(Some(source), "apiGroup").unwrap_or("");
    if group.is_empty() && kind != "PersistentVolumeClaim" {
        causes.push(Cause::invalid(
            at,
            &json!(kind),
            "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
        ));
    }
    for msg in if group.is_empty() { Vec::new() } else { dns1123_subdomain(group) } {
        causes.push(Cause::invalid(format!("{at}.apiGroup"), &json!(group), msg));
    }
}

fn claim_update(obj: &Value, old: &Value, causes: &mut Vec<Cause>) {
    let spec_of = |v: &Value| v.get("spec").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
    let (mut new_spec, mut old_spec) = (spec_of(obj), spec_of(old));
    if text(Some(&old_spec), "volumeName").unwrap_or("").is_empty() {
        old_spec["volumeName"] = new_spec.get("volumeName").cloned().unwrap_or(Value::Null);
    }
    class_update(obj, old, &mut new_spec, causes);
    let bound = obj.pointer("/status/phase").and_then(Value::as_str) == Some("Bound");
    if bound {
        let old_request = old_spec.pointer("/resources/requests/storage").cloned().unwrap_or(Value::Null);
        if let Some(requests) = new_spec.pointer_mut("/resources/requests").and_then(Value::as_object_mut) {
            requests.insert("storage".into(), old_request);
        }
    }
    new_spec["volumeAttributesClassName"] = old_spec.get("volumeAttributesClassName").cloned().unwrap_or(Value::Null);

    let comparable = |spec: &Value| {
        let mut spec = spec.clone();
        spec["volumeMode"] = json!(spec.get("volumeMode").and_then(Value::as_str).unwrap_or("Filesystem"));
        for list in ["requests", "limits"] {
            if let Some(q) = spec.pointer_mut(&format!("/resources/{list}")) {
                quantities_by_value(q);
            }
        }
        spec
    };
    let (new_cmp, old_cmp) = (comparable(&new_spec), comparable(&old_spec));
    let changed: Vec<&str> = FIELDS
        .iter()
        .map(|(json, _)| *json)
        .filter(|f| {
            // A class of "" (none) is not the same as no class (the default one).
            let presence = |s: &Value| set(Some(s), f).is_some();
            !same(old_cmp.get(*f), new_cmp.get(*f))
                || (*f == "storageClassName" && presence(&old_cmp) != presence(&new_cmp))
        })
        .collect();
    if !changed.is_empty() {
        let detail = diff("core.PersistentVolumeClaimSpec", &FIELDS, &old_spec, &new_spec, &changed);
        causes.push(Cause::forbidden(
            "spec",
            format!("spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{detail}"),
        ));
    }

    let size = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("0").to_string();
    let (new_size, old_size) =
        (size(obj, "/spec/resources/requests/storage"), size(old, "/spec/resources/requests/storage"));
    let capacity = size(old, "/status/capacity/storage");
    if quantity_cmp(&new_size, &old_size) == Ordering::Less && quantity_cmp(&new_size, &capacity) != Ordering::Greater {
        causes.push(Cause::forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"));
    }
    volume_mode_update(obj, old, causes);
}

/// The class may move from the beta annotation to `storageClassName`, or be set
/// on a claim that had none (the default class, given later); otherwise the
/// annotation is fixed. Allowed moves are undone in `new_spec` before comparing.
fn class_update(obj: &Value, old: &Value, new_spec: &mut Value, causes: &mut Vec<Cause>) {
    fn annotation(v: &Value) -> Option<&str> {
        v.pointer("/metadata/annotations").and_then(|a| a.get(STORAGE_CLASS_ANNOTATION)).and_then(Value::as_str)
    }
    fn class(v: &Value) -> Option<&str> {
        v.pointer("/spec/storageClassName").and_then(Value::as_str)
    }
    let (old_annotation, new_annotation) = (annotation(old), annotation(obj));
    let (old_class, new_class) = (class(old), class(obj));
    let from_annotation = old_annotation.is_some()
        && old_class.is_none()
        && new_class.is_some()
        && new_class == old_annotation
        && (new_annotation.is_none() || new_annotation == old_annotation);
    if !from_annotation {
        if new_annotation != old_annotation {
            causes.push(Cause::invalid(
                format!("metadata.annotations.{STORAGE_CLASS_ANNOTATION}"),
                &json!(new_annotation.unwrap_or("")),
                "field is immutable",
            ));
        }
        let from_nothing =
            new_class.is_some() && old_class.is_none() && (old_annotation.is_none() || new_class == old_annotation);
        if !from_nothing {
            return;
        }
    }
    if let Some(spec) = new_spec.as_object_mut() {
        spec.remove("storageClassName");
    }
}

#[cfg(test)]
mod tests {
    use super::super::summaries;
    use super::*;

    fn valid() -> Value {
        json!({"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        }})
    }

    fn with(patch: Value) -> Value {
        crate::validation::testing::with_spec(valid(), patch)
    }

    fn check(obj: &Value, old: Option<&Value>) -> Vec<String> {
        let mut causes = Vec::new();
        claim(obj, old, &mut causes);
        summaries(&causes)
    }

    #[test]
    fn a_valid_claim_passes() {
        assert_eq!(check(&valid(), None), Vec::<String>::new());
        let full = with(json!({
            "accessModes": ["ReadWriteOncePod"], "storageClassName": "fast", "volumeMode": "Block",
            "selector": {"matchLabels": {"tier": "db"}},
            "dataSource": {"kind": "PersistentVolumeClaim", "name": "src"},
            "dataSourceRef": {"kind": "PersistentVolumeClaim", "name": "src"},
        }));
        assert_eq!(check(&full, None), Vec::<String>::new());
        let snapshot =
            with(json!({"dataSource": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "s"}}));
        assert_eq!(check(&snapshot, None), Vec::<String>::new());
    }

    #[test]
    fn each_invalid_spec_gives_upstream_causes() {
        let cases = [
            (json!({"accessModes": []}), vec!["spec.accessModes: Required value: at least 1 access mode is required"]),
            (
                json!({"accessModes": ["ReadWriteSometimes"]}),
                vec![
                    r#"spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod""#,
                ],
            ),
            (
                json!({"accessModes": ["ReadWriteOncePod", "ReadOnlyMany"]}),
                vec!["spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes"],
            ),
            (json!({"resources": {}}), vec!["spec.resources[storage]: Required value"]),
            (json!({"resources": {"requests": {"cpu": "1"}}}), vec!["spec.resources[storage]: Required value"]),
            (
                json!({"resources": {"requests": {"storage": "0"}}}),
                vec![r#"spec.resources[storage]: Invalid value: "0": must be greater than zero"#],
            ),
            (
                json!({"resources": {"requests": {"storage": "-1024Mi"}}}),
                vec![r#"spec.resources[storage]: Invalid value: "-1Gi": must be greater than zero"#],
            ),
            (
                json!({"volumeMode": "Raw"}),
                vec![r#"spec.volumeMode: Unsupported value: "Raw": supported values: "Block", "Filesystem""#],
            ),
            (
                json!({"dataSource": {"kind": "VolumeSnapshot"}}),
                vec![
                    "spec.dataSource.name: Required value",
                    r#"spec.dataSource: Invalid value: "VolumeSnapshot": must be 'PersistentVolumeClaim' when referencing the default apiGroup"#,
                ],
            ),
            (
                json!({"dataSource": {"kind": "PersistentVolumeClaim", "name": "a"},
                       "dataSourceRef": {"kind": "PersistentVolumeClaim", "name": "b"}}),
                vec!["spec: Invalid value: spec.dataSource: must match dataSourceRef"],
            ),
        ];
        for (patch, want) in cases {
            assert_eq!(check(&with(patch.clone()), None), want, "{patch}");
        }
        assert_eq!(
            check(&with(json!({"storageClassName": "Fast_SSD"})), None),
            [format!(
                r#"spec.storageClassName: Invalid value: "Fast_SSD": {}"#,
                crate::names::DNS1123_SUBDOMAIN_MESSAGE
            )]
        );
        let mut nothing = valid();
        nothing["spec"] = json!({});
        assert_eq!(
            check(&nothing, None),
            [
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value"
            ]
        );
    }

    fn bound(storage: &str, capacity: &str) -> Value {
        let mut c = with(json!({"volumeName": "pv-1", "resources": {"requests": {"storage": storage}}}));
        c["status"] = json!({"phase": "Bound", "capacity": {"storage": capacity}});
        c
    }

    #[test]
    fn a_bound_claim_may_grow_but_not_shrink_below_its_capacity() {
        assert!(check(&bound("2Gi", "1Gi"), Some(&bound("1Gi", "1Gi"))).is_empty());
        assert!(
            check(&bound("1024Mi", "1Gi"), Some(&bound("1Gi", "1Gi"))).is_empty(),
            "the same size, written otherwise"
        );
        // An expansion that failed may be taken back while above the capacity reached.
        assert!(check(&bound("3Gi", "1Gi"), Some(&bound("5Gi", "1Gi"))).is_empty());
        assert_eq!(
            check(&bound("1Gi", "1Gi"), Some(&bound("2Gi", "1Gi"))),
            ["spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"]
        );
    }

    #[test]
    fn an_unbound_claim_is_immutable_but_may_get_a_volume_and_a_class() {
        let old = valid();
        let grown = with(json!({"resources": {"requests": {"storage": "2Gi"}}}));
        let got = check(&grown, Some(&old));
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0],
            "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n  core.PersistentVolumeClaimSpec{\n- \tResources: {\"requests\":{\"storage\":\"1Gi\"}},\n+ \tResources: {\"requests\":{\"storage\":\"2Gi\"}},\n  }\n"
        );
        assert!(check(&with(json!({"volumeName": "pv-1"})), Some(&old)).is_empty(), "volumeName, once");
        assert_eq!(check(&with(json!({"volumeName": "pv-2"})), Some(&with(json!({"volumeName": "pv-1"})))).len(), 1);
        assert!(check(&with(json!({"storageClassName": "standard"})), Some(&old)).is_empty(), "a class, for none");
        let other = with(json!({"storageClassName": "other"}));
        assert_eq!(check(&other, Some(&with(json!({"storageClassName": "standard"})))).len(), 1);
        assert_eq!(
            check(&old, Some(&with(json!({"storageClassName": ""})))).len(),
            1,
            "no class is not the default class"
        );
        assert!(check(&with(json!({"volumeMode": "Filesystem"})), Some(&old)).is_empty(), "the default, spelled out");
    }

    #[test]
    fn the_volume_mode_and_the_class_annotation_are_fixed() {
        let got = check(&with(json!({"volumeMode": "Block"})), Some(&valid()));
        assert_eq!(got.len(), 2);
        assert!(got[0].starts_with("spec: Forbidden: spec is immutable"));
        assert_eq!(got[1], r#"volumeMode: Invalid value: "Block": field is immutable"#);

        let annotated = |class: &str| {
            let mut c = valid();
            c["metadata"]["annotations"] = json!({STORAGE_CLASS_ANNOTATION: class});
            c
        };
        assert_eq!(
            check(&annotated("b"), Some(&annotated("a"))),
            [r#"metadata.annotations.volume.beta.kubernetes.io/storage-class: Invalid value: "b": field is immutable"#]
        );
        let mut moved = annotated("a");
        moved["spec"]["storageClassName"] = json!("a");
        assert!(check(&moved, Some(&annotated("a"))).is_empty(), "from the annotation to the field");
    }
}
