//! StorageClasses: `ValidateStorageClass` and `ValidateStorageClassUpdate`. What
//! a class provisions (provisioner, parameters, reclaim policy, binding mode) is
//! fixed once volumes may have been made from it.

use serde_json::{json, Value};

use super::super::common::{qualified_name, same, text};
use crate::Cause;

/// Upstream's defaults for the two policies it never leaves unset.
const RECLAIM_DEFAULT: &str = "Delete";
const BINDING_DEFAULT: &str = "Immediate";

pub fn class(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let c = Some(obj);
    match text(c, "provisioner").unwrap_or("") {
        "" => causes.push(Cause::required("provisioner")),
        p => {
            let lower = p.to_lowercase();
            for msg in qualified_name(&lower) {
                causes.push(Cause::invalid("provisioner", &json!(lower), msg));
            }
        }
    }
    let params = obj.get("parameters").and_then(Value::as_object);
    if params.is_some_and(|p| p.contains_key("")) {
        causes.push(Cause::invalid("parameters", &json!(""), "field can not be empty."));
    }
    if let Some(policy) = obj.get("reclaimPolicy").filter(|p| !p.is_null() && p.as_str() != Some("")) {
        if !matches!(policy.as_str(), Some("Delete" | "Retain")) {
            causes.push(Cause::not_supported("reclaimPolicy", policy, &["Delete", "Retain"]));
        }
    }
    if let Some(mode) = obj.get("volumeBindingMode").filter(|m| !m.is_null()) {
        if !matches!(mode.as_str(), Some("Immediate" | "WaitForFirstConsumer")) {
            causes.push(Cause::not_supported("volumeBindingMode", mode, &["Immediate", "WaitForFirstConsumer"]));
        }
    }
    if let Some(old) = old {
        if !same(old.get("parameters"), obj.get("parameters")) {
            causes.push(Cause::forbidden("parameters", "updates to parameters are forbidden."));
        }
        if text(c, "provisioner") != text(Some(old), "provisioner") {
            causes.push(Cause::forbidden("provisioner", "updates to provisioner are forbidden."));
        }
        let policy = |v: &Value| text(Some(v), "reclaimPolicy").unwrap_or(RECLAIM_DEFAULT).to_string();
        if policy(obj) != policy(old) {
            causes.push(Cause::forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."));
        }
        let mode = |v: &Value| text(Some(v), "volumeBindingMode").unwrap_or(BINDING_DEFAULT).to_string();
        if mode(obj) != mode(old) {
            causes.push(Cause::invalid("volumeBindingMode", &json!(mode(obj)), "field is immutable"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::summaries;
    use super::*;

    fn valid() -> Value {
        json!({"metadata": {"name": "fast"}, "provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"},
            "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"})
    }

    fn with(patch: Value) -> Value {
        let mut obj = valid();
        for (k, v) in patch.as_object().unwrap() {
            obj[k] = v.clone();
        }
        obj
    }

    fn check(obj: &Value, old: Option<&Value>) -> Vec<String> {
        let mut causes = Vec::new();
        class(obj, old, &mut causes);
        summaries(&causes)
    }

    #[test]
    fn valid_classes_pass() {
        assert_eq!(check(&valid(), None), Vec::<String>::new());
        let minimal = json!({"metadata": {"name": "local-path"}, "provisioner": "rancher.io/local-path"});
        assert_eq!(check(&minimal, None), Vec::<String>::new());
        assert_eq!(check(&with(json!({"provisioner": "kubernetes.io/no-provisioner"})), None), Vec::<String>::new());
    }

    #[test]
    fn each_invalid_class_gives_upstream_causes() {
        let name_part = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        let cases = [
            (json!({"provisioner": ""}), vec!["provisioner: Required value".to_string()]),
            (
                json!({"provisioner": "Example.com/My Driver!"}),
                vec![format!(r#"provisioner: Invalid value: "example.com/my driver!": {name_part}"#)],
            ),
            (
                json!({"parameters": {"": "x"}}),
                vec![r#"parameters: Invalid value: "": field can not be empty."#.to_string()],
            ),
            (
                json!({"reclaimPolicy": "Recycle"}),
                vec![r#"reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain""#.to_string()],
            ),
            (
                json!({"volumeBindingMode": "Later"}),
                vec![
                    r#"volumeBindingMode: Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer""#
                        .to_string(),
                ],
            ),
        ];
        for (patch, want) in cases {
            assert_eq!(check(&with(patch.clone()), None), want, "{patch}");
        }
    }

    #[test]
    fn what_a_class_provisions_is_fixed() {
        let old = valid();
        assert!(check(&with(json!({"allowVolumeExpansion": true, "mountOptions": ["ro"]})), Some(&old)).is_empty());
        let changed = with(json!({"provisioner": "other.example.com", "parameters": {"type": "io2"},
            "reclaimPolicy": "Retain", "volumeBindingMode": "Immediate"}));
        assert_eq!(
            check(&changed, Some(&old)),
            [
                "parameters: Forbidden: updates to parameters are forbidden.",
                "provisioner: Forbidden: updates to provisioner are forbidden.",
                "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
                r#"volumeBindingMode: Invalid value: "Immediate": field is immutable"#,
            ]
        );
        let bare = json!({"metadata": {"name": "x"}, "provisioner": "p.example.com"});
        let spelled = json!({"metadata": {"name": "x"}, "provisioner": "p.example.com", "parameters": {},
            "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"});
        assert!(check(&spelled, Some(&bare)).is_empty(), "upstream's defaults, spelled out");
    }
}
