//! Upstream's bridge between kubectl's client-side apply (the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation) and server-side apply,
//! for the manager `kubectl` only (`lastappliedmanager.go`, `lastappliedupdater.go`).

use serde_json::Value;

use super::compare::compare;
use super::fieldset::field_set;
use super::set::FieldSet;
use super::Scope;

/// The manager `kubectl apply --server-side` uses by default; others opt out of the bridge.
pub const KUBECTL: &str = "kubectl";

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The fields client-side apply last set that still have the value it set: `kubectl` may
/// take them over from the client-side apply manager without `--force-conflicts`.
/// `None` when `live` has no usable annotation for `api_version`.
pub fn allowed_conflicts(live: &Value, scope: &Scope, api_version: &str) -> Option<FieldSet> {
    let text = crate::meta::annotation(live, LAST_APPLIED).filter(|t| !t.is_empty())?;
    let last: Value = serde_json::from_str(text).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    let cmp = compare(Some(&last), Some(live), scope.root);
    Some(field_set(&last, scope.root).difference(&cmp.modified).difference(&cmp.added).difference(&cmp.removed))
}

/// Keeps an existing annotation equal to what was just applied (the configuration as
/// JSON, without the annotation itself), so a later client-side apply computes its patch
/// from it. Objects without the annotation are left alone.
pub fn sync(obj: &mut Value, config: &Value) {
    if crate::meta::annotation(obj, LAST_APPLIED).is_none() {
        return;
    }
    let mut last = config.clone();
    if let Some(annotations) = last.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.remove(LAST_APPLIED);
    }
    // Go's JSON encoder ends with a newline; kubectl's own annotation does too.
    let text = format!("{}\n", serde_json::to_string(&last).expect("a JSON value always serializes"));
    let annotations =
        crate::meta::metadata_mut(obj).entry("annotations").or_insert_with(|| Value::Object(Default::default()));
    if let Some(a) = annotations.as_object_mut() {
        a.insert(LAST_APPLIED.into(), Value::String(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allows_only_fields_still_as_last_applied() {
        let scope = Scope::new("", "v1", "ConfigMap");
        let last =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "1"}});
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {(LAST_APPLIED): last.to_string()}},
            "data": {"a": "1", "b": "changed", "c": "1"},
        });
        let allowed = allowed_conflicts(&live, &scope, "v1").unwrap();
        let f = |s: &str| super::super::path::PathElement::field(s);
        assert!(allowed.has(&[f("data"), f("a")]));
        assert!(!allowed.has(&[f("data"), f("b")]) && !allowed.has(&[f("data"), f("c")]));
        assert!(allowed_conflicts(&live, &scope, "v2").is_none());
        assert!(allowed_conflicts(&json!({"metadata": {}}), &scope, "v1").is_none());
    }

    #[test]
    fn sync_rewrites_an_existing_annotation_only() {
        let config =
            json!({"metadata": {"name": "c", "annotations": {(LAST_APPLIED): "x", "keep": "y"}}, "data": {"a": "2"}});
        let mut with = json!({"metadata": {"annotations": {(LAST_APPLIED): "old"}}});
        sync(&mut with, &config);
        let text = with["metadata"]["annotations"][LAST_APPLIED].as_str().unwrap();
        assert!(text.ends_with('\n'));
        let recorded: Value = serde_json::from_str(text).unwrap();
        assert_eq!(recorded, json!({"metadata": {"name": "c", "annotations": {"keep": "y"}}, "data": {"a": "2"}}));
        let mut without = json!({"metadata": {}});
        sync(&mut without, &config);
        assert_eq!(without, json!({"metadata": {}}));
    }
}
