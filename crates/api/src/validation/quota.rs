//! ResourceQuotas (`ValidateResourceQuota`, `ValidateResourceQuotaUpdate`,
//! `ValidateResourceQuotaStatusUpdate`): tracked resource names and amounts, the
//! scopes and scope selector, and scopes that may not change.
//!
//! `validate` cannot tell a status update from a spec one, so both the spec and
//! the status are checked on every write; each write keeps the other half as it
//! was, so only an object stored before these checks could fail the half it did
//! not change.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::common::invalid_shown;
use super::common::set;
use super::gostr;
use super::resources::{quota_resources, standard_quota};
use crate::Cause;

const SCOPES_TYPE: &str = "[]core.ResourceQuotaScope";
const SELECTOR_AT: &str = "spec.scopeSelector.matchExpressions";
/// Pairs that would select nothing together.
const CONFLICTING: [(&str, &str); 2] = [("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")];

pub fn resource_quota(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    quota_resources(set(spec, "hard"), "spec.hard", causes);
    let hard: Vec<&str> =
        set(spec, "hard").and_then(Value::as_object).map_or(Vec::new(), |h| h.keys().map(String::as_str).collect());
    let scopes = set(spec, "scopes");
    scopes_fit(scopes, &hard, causes);
    if let Some(selector) = set(spec, "scopeSelector") {
        scope_selector(selector, scopes, &hard, causes);
    }
    let status = obj.get("status");
    quota_resources(set(status, "hard"), "status.hard", causes);
    quota_resources(set(status, "used"), "status.used", causes);
    if let Some(old) = old {
        if scope_set(scopes) != scope_set(old.pointer("/spec/scopes")) {
            causes.push(invalid_shown("spec.scopes", gostr::strings(SCOPES_TYPE, scopes), "field is immutable"));
        }
    }
}

fn scope_set(scopes: Option<&Value>) -> BTreeSet<&str> {
    scopes.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
}

/// Upstream's `IsStandardResourceQuotaScope`.
fn standard_scope(scope: &str) -> bool {
    matches!(
        scope,
        "Terminating"
            | "NotTerminating"
            | "BestEffort"
            | "NotBestEffort"
            | "PriorityClass"
            | "CrossNamespacePodAffinity"
    )
}

/// Upstream's `IsResourceQuotaScopeValidForResource`: pod scopes limit pod
/// resources only, and a BestEffort pod has only a count.
fn scope_fits(scope: &str, resource: &str) -> bool {
    const POD_COMPUTE: [&str; 6] = ["cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"];
    match scope {
        "Terminating" | "NotTerminating" | "NotBestEffort" | "PriorityClass" | "CrossNamespacePodAffinity" => {
            resource == "pods" || POD_COMPUTE.contains(&resource)
        }
        "BestEffort" => resource == "pods",
        _ => true,
    }
}

/// Standard hard resources the scope does not limit (`hard` is in name order).
fn misfits<'a>(scope: &'a str, hard: &'a [&'a str]) -> impl Iterator<Item = &'a str> + 'a {
    hard.iter().copied().filter(move |r| standard_quota(r) && !scope_fits(scope, r))
}

/// `validateResourceQuotaScopes`: every cause shows the whole list, as upstream's does.
fn scopes_fit(scopes: Option<&Value>, hard: &[&str], causes: &mut Vec<Cause>) {
    let list: Vec<&str> = scopes.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    if list.is_empty() {
        return;
    }
    let shown = gostr::strings(SCOPES_TYPE, scopes);
    for scope in &list {
        if !standard_scope(scope) {
            causes.push(invalid_shown("spec.scopes", &shown, "unsupported scope"));
        }
        for _ in misfits(scope, hard) {
            causes.push(invalid_shown("spec.scopes", &shown, "unsupported scope applied to resource"));
        }
    }
    conflicts(&list, &shown, "spec.scopes", causes);
}

fn conflicts(scopes: &[&str], shown: &str, at: &str, causes: &mut Vec<Cause>) {
    for (a, b) in CONFLICTING {
        if scopes.contains(&a) && scopes.contains(&b) {
            causes.push(invalid_shown(at, shown, "conflicting scopes"));
        }
    }
}

/// `validateScopedResourceSelectorRequirement`. Upstream reports these on
/// `matchExpressions` itself (no index), and a conflict shows `spec.scopes`.
fn scope_selector(selector: &Value, scopes: Option<&Value>, hard: &[&str], causes: &mut Vec<Cause>) {
    let exprs = selector.get("matchExpressions").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut seen = Vec::new();
    for req in exprs {
        let field = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or("");
        let (scope, op) = (field("scopeName"), field("operator"));
        let values = req.get("values").and_then(Value::as_array).map_or(0, Vec::len);
        if !standard_scope(scope) {
            causes.push(Cause::invalid(format!("{SELECTOR_AT}.scopeName"), &json!(scope), "unsupported scope"));
        }
        for _ in misfits(scope, hard) {
            causes.push(invalid_shown(SELECTOR_AT, go_selector(selector), "unsupported scope applied to resource"));
        }
        if matches!(
            scope,
            "BestEffort" | "NotBestEffort" | "Terminating" | "NotTerminating" | "CrossNamespacePodAffinity"
        ) && op != "Exists"
        {
            causes.push(Cause::invalid(
                format!("{SELECTOR_AT}.operator"),
                &json!(op),
                "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
            ));
        }
        match op {
            "In" | "NotIn" if values == 0 => causes.push(Cause::required_because(
                format!("{SELECTOR_AT}.values"),
                "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
            )),
            "Exists" | "DoesNotExist" if values > 0 => causes.push(invalid_shown(
                format!("{SELECTOR_AT}.values"),
                gostr::strings("[]string", req.get("values")),
                "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            _ => causes.push(Cause::invalid(
                format!("{SELECTOR_AT}.operator"),
                &json!(op),
                "not a valid selector operator",
            )),
        }
        seen.push(scope);
    }
    conflicts(&seen, &gostr::strings(SCOPES_TYPE, scopes), SELECTOR_AT, causes);
}

/// The selector as Go's `%#v` prints it.
fn go_selector(selector: &Value) -> String {
    let exprs = match selector.get("matchExpressions").and_then(Value::as_array) {
        None => "[]core.ScopedResourceSelectorRequirement(nil)".to_string(),
        Some(exprs) => {
            let items: Vec<String> = exprs
                .iter()
                .map(|r| {
                    let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
                    format!(
                        "core.ScopedResourceSelectorRequirement{{ScopeName:{:?}, Operator:{:?}, Values:{}}}",
                        field("scopeName"),
                        field("operator"),
                        gostr::strings("[]string", r.get("values"))
                    )
                })
                .collect();
            format!("[]core.ScopedResourceSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    format!("core.ScopeSelector{{MatchExpressions:{exprs}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: [String; 0] = [];

    fn check(spec: Value) -> Vec<String> {
        check_update(spec, None)
    }

    fn check_update(spec: Value, old: Option<Value>) -> Vec<String> {
        let mut causes = Vec::new();
        let old = old.map(|o| json!({"spec": o}));
        resource_quota(&json!({"metadata": {"name": "q"}, "spec": spec}), old.as_ref(), &mut causes);
        causes.iter().map(Cause::summary).collect()
    }

    #[test]
    fn valid_quotas_pass() {
        for spec in [
            json!({}),
            json!({"hard": {"pods": "10", "requests.cpu": "4", "count/deployments.apps": "5", "requests.storage": "100Gi"}}),
            json!({"hard": {"pods": "5", "cpu": "2"}, "scopes": ["NotBestEffort", "Terminating"]}),
            json!({"hard": {"pods": "5"}, "scopes": ["BestEffort"]}),
            json!({"hard": {"pods": "5", "example.com/gpu": "1"}, "scopeSelector": {"matchExpressions": [
                {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]},
                {"scopeName": "CrossNamespacePodAffinity", "operator": "Exists"}]}}),
        ] {
            assert_eq!(check(spec.clone()), NONE, "{spec}");
        }
        // What the quota controller writes back.
        let mut causes = Vec::new();
        let written =
            json!({"spec": {"hard": {"pods": "10"}}, "status": {"hard": {"pods": "10"}, "used": {"pods": "3"}}});
        resource_quota(&written, Some(&written), &mut causes);
        assert_eq!(causes, []);
    }

    #[test]
    fn scopes_are_known_fit_the_resources_and_do_not_conflict() {
        assert_eq!(
            check(json!({"hard": {"pods": "1"}, "scopes": ["Forever"]})),
            [r#"spec.scopes: Invalid value: []core.ResourceQuotaScope{"Forever"}: unsupported scope"#]
        );
        assert_eq!(
            check(json!({"hard": {"pods": "1", "requests.cpu": "1", "secrets": "2", "requests.storage": "1Gi"},
                "scopes": ["BestEffort"]})),
            [
                r#"spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied to resource"#,
                r#"spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied to resource"#,
                r#"spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied to resource"#,
            ]
        );
        assert_eq!(
            check(json!({"scopes": ["Terminating", "NotTerminating"]})),
            [
                r#"spec.scopes: Invalid value: []core.ResourceQuotaScope{"Terminating", "NotTerminating"}: conflicting scopes"#
            ]
        );
    }

    #[test]
    fn scope_selectors_are_checked() {
        let sel = |exprs: Value| check(json!({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": exprs}}));
        assert_eq!(
            sel(json!([{"scopeName": "BestEffort", "operator": "In", "values": ["x"]}])),
            [
                r#"spec.scopeSelector.matchExpressions.operator: Invalid value: "In": must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"#
            ]
        );
        assert_eq!(
            sel(json!([{"scopeName": "PriorityClass", "operator": "NotIn"},
                {"scopeName": "Other", "operator": "Exists", "values": ["a"]},
                {"scopeName": "PriorityClass", "operator": "Gt"}])),
            [
                "spec.scopeSelector.matchExpressions.values: Required value: must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                r#"spec.scopeSelector.matchExpressions.scopeName: Invalid value: "Other": unsupported scope"#,
                r#"spec.scopeSelector.matchExpressions.values: Invalid value: []string{"a"}: must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"#,
                r#"spec.scopeSelector.matchExpressions.operator: Invalid value: "Gt": not a valid selector operator"#,
            ]
        );
        assert_eq!(
            check(json!({"hard": {"services": "1"}, "scopes": ["BestEffort"],
                "scopeSelector": {"matchExpressions": [{"scopeName": "BestEffort", "operator": "Exists"},
                    {"scopeName": "NotBestEffort", "operator": "Exists"}]}})),
            [
                r#"spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied to resource"#,
                r#"spec.scopeSelector.matchExpressions: Invalid value: core.ScopeSelector{MatchExpressions:[]core.ScopedResourceSelectorRequirement{core.ScopedResourceSelectorRequirement{ScopeName:"BestEffort", Operator:"Exists", Values:[]string(nil)}, core.ScopedResourceSelectorRequirement{ScopeName:"NotBestEffort", Operator:"Exists", Values:[]string(nil)}}}: unsupported scope applied to resource"#,
                r#"spec.scopeSelector.matchExpressions: Invalid value: core.ScopeSelector{MatchExpressions:[]core.ScopedResourceSelectorRequirement{core.ScopedResourceSelectorRequirement{ScopeName:"BestEffort", Operator:"Exists", Values:[]string(nil)}, core.ScopedResourceSelectorRequirement{ScopeName:"NotBestEffort", Operator:"Exists", Values:[]string(nil)}}}: unsupported scope applied to resource"#,
                r#"spec.scopeSelector.matchExpressions: Invalid value: []core.ResourceQuotaScope{"BestEffort"}: conflicting scopes"#,
            ]
        );
    }

    #[test]
    fn resources_and_status_are_checked() {
        let mut causes = Vec::new();
        let q = json!({"spec": {"hard": {"pods": "-1"}}, "status": {"used": {"cpus": "1"}}});
        resource_quota(&q, None, &mut causes);
        let got: Vec<String> = causes.iter().map(Cause::summary).collect();
        assert_eq!(
            got,
            [
                r#"spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0"#,
                "status.used[cpus]: Invalid value: cpus: must be a standard resource type or fully qualified",
                "status.used[cpus]: Invalid value: cpus: must be a standard resource for quota",
            ]
        );
    }

    #[test]
    fn scopes_may_not_change() {
        assert_eq!(
            check_update(
                json!({"scopes": ["NotTerminating", "BestEffort"]}),
                Some(json!({"scopes": ["BestEffort", "NotTerminating"]}))
            ),
            NONE,
            "order does not matter"
        );
        assert_eq!(
            check_update(json!({"hard": {"pods": "2"}}), Some(json!({"scopes": ["BestEffort"]}))),
            ["spec.scopes: Invalid value: []core.ResourceQuotaScope(nil): field is immutable"]
        );
    }
}
