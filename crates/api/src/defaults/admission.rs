//! Defaults of admissionregistration.k8s.io/v1 (upstream's `SetDefaults_ValidatingWebhook`,
//! `SetDefaults_MutatingWebhook`, `SetDefaults_Rule`, `SetDefaults_ServiceReference`,
//! `SetDefaults_ValidatingAdmissionPolicySpec` and `SetDefaults_MatchResources`).

use serde_json::{json, Value};

use super::set;

pub fn webhook_configuration(obj: &mut Value, mutating: bool) {
    for hook in obj.get_mut("webhooks").and_then(Value::as_array_mut).into_iter().flatten() {
        set(hook, &["failurePolicy"], json!("Fail"));
        set(hook, &["matchPolicy"], json!("Equivalent"));
        set(hook, &["namespaceSelector"], json!({}));
        set(hook, &["objectSelector"], json!({}));
        set(hook, &["timeoutSeconds"], json!(10));
        if mutating {
            set(hook, &["reinvocationPolicy"], json!("Never"));
        }
        if let Some(service) = hook.pointer_mut("/clientConfig/service").filter(|s| s.is_object()) {
            set(service, &["port"], json!(443));
        }
        rules(hook, "rules");
    }
}

/// Each rule's `scope` is `*` unless given.
fn rules(parent: &mut Value, field: &str) {
    for rule in parent.get_mut(field).and_then(Value::as_array_mut).into_iter().flatten() {
        set(rule, &["scope"], json!("*"));
    }
}

fn match_resources(mr: &mut Value) {
    set(mr, &["matchPolicy"], json!("Equivalent"));
    set(mr, &["namespaceSelector"], json!({}));
    set(mr, &["objectSelector"], json!({}));
    rules(mr, "resourceRules");
    rules(mr, "excludeResourceRules");
}

pub fn policy(obj: &mut Value) {
    set(obj, &["spec", "failurePolicy"], json!("Fail"));
    if let Some(mc) = obj.pointer_mut("/spec/matchConstraints").filter(|m| m.is_object()) {
        match_resources(mc);
    }
}

pub fn binding(obj: &mut Value) {
    if let Some(mr) = obj.pointer_mut("/spec/matchResources").filter(|m| m.is_object()) {
        match_resources(mr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_get_upstreams_defaults() {
        let mut c = json!({"webhooks": [
            {"name": "a.b.c", "clientConfig": {"service": {"name": "s", "namespace": "n"}},
                "rules": [{"operations": ["CREATE"]}]},
            {"name": "d.e.f", "clientConfig": {"url": "https://x"}, "timeoutSeconds": 5, "failurePolicy": "Ignore"}
        ]});
        webhook_configuration(&mut c, true);
        assert_eq!(
            c["webhooks"][0],
            json!({"name": "a.b.c", "clientConfig": {"service": {"name": "s", "namespace": "n", "port": 443}},
                "rules": [{"operations": ["CREATE"], "scope": "*"}], "failurePolicy": "Fail",
                "matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {}, "timeoutSeconds": 10,
                "reinvocationPolicy": "Never"})
        );
        assert_eq!(
            (c["webhooks"][1]["timeoutSeconds"].clone(), c["webhooks"][1]["failurePolicy"].clone()),
            (json!(5), json!("Ignore"))
        );
        assert!(c["webhooks"][1]["clientConfig"].get("service").is_none());
        let mut v = json!({"webhooks": [{"name": "a.b.c"}]});
        webhook_configuration(&mut v, false);
        assert!(v["webhooks"][0].get("reinvocationPolicy").is_none());
        assert!(v["webhooks"][0].get("sideEffects").is_none(), "v1 requires sideEffects; it has no default");
    }

    #[test]
    fn policies_and_bindings_get_upstreams_defaults() {
        let mut p = json!({"spec": {"matchConstraints": {"resourceRules": [{"operations": ["*"]}]}}});
        policy(&mut p);
        assert_eq!(
            p,
            json!({"spec": {"failurePolicy": "Fail", "matchConstraints": {"matchPolicy": "Equivalent",
                "namespaceSelector": {}, "objectSelector": {}, "resourceRules": [{"operations": ["*"], "scope": "*"}]}}})
        );
        let mut b = json!({"spec": {"policyName": "p"}});
        binding(&mut b);
        assert_eq!(b, json!({"spec": {"policyName": "p"}}));
        let mut b = json!({"spec": {"matchResources": {"matchPolicy": "Exact"}}});
        binding(&mut b);
        assert_eq!(b["spec"]["matchResources"]["matchPolicy"], "Exact");
        assert_eq!(b["spec"]["matchResources"]["objectSelector"], json!({}));
    }
}
