//! ValidatingAdmissionPolicies and their bindings: the fields upstream requires
//! and the forms it checks. Their status (type-checking warnings, conditions) is
//! not checked.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::super::common::invalid_shown;
use super::super::common::{dns1123_subdomain, path_segment, qualified_name, set, text};
use super::super::rules::{dns1035_label, invalid_each, label_selector};
use super::{match_conditions, one_of, rule_with_operations, FAILURE_POLICIES, MATCH_POLICIES};
use crate::Cause;

const MAX_AUDIT_ANNOTATIONS: usize = 20;
const MAX_VALUE_EXPRESSION: usize = 5 * 1024;
const REASONS: [&str; 3] = ["Forbidden", "Invalid", "RequestEntityTooLarge"];
const ACTIONS: [&str; 3] = ["Audit", "Deny", "Warn"];
const CEL_RESERVED: [&str; 21] = [
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// A ValidatingAdmissionPolicy. On update, match conditions are not checked again
/// while neither they nor the param kind changed.
pub fn policy(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    let unchanged = |field: &str| old.is_some_and(|o| set(o.get("spec"), field) == set(spec, field));
    let ignore_match_conditions = unchanged("paramKind") && unchanged("matchConditions");
    match set(spec, "failurePolicy") {
        None => causes.push(Cause::required("spec.failurePolicy")),
        some => one_of(some, "spec.failurePolicy", &FAILURE_POLICIES, causes),
    }
    if let Some(kind) = set(spec, "paramKind") {
        param_kind(kind, causes);
    }
    match set(spec, "matchConstraints") {
        None => causes.push(Cause::required("spec.matchConstraints")),
        Some(mc) => {
            match_resources(mc, "spec.matchConstraints", causes);
            if mc.get("resourceRules").and_then(Value::as_array).is_none_or(Vec::is_empty) {
                causes.push(Cause::required("spec.matchConstraints.resourceRules"));
            }
        }
    }
    if !ignore_match_conditions {
        match_conditions(spec.and_then(|s| s.get("matchConditions")), "spec.matchConditions", causes);
    }
    for (i, variable) in list(spec, "variables").iter().enumerate() {
        let at = format!("spec.variables[{i}]");
        let name = text(Some(variable), "name").unwrap_or("");
        if name.trim().is_empty() {
            causes.push(Cause::required_because(format!("{at}.name"), "name is not specified"));
        } else if !cel_identifier(name) {
            causes.push(Cause::invalid(format!("{at}.name"), &json!(name), "name is not a valid CEL identifier"));
        }
        if text(Some(variable), "expression").unwrap_or("").trim().is_empty() {
            causes.push(Cause::required_because(format!("{at}.expression"), "expression is not specified"));
        }
    }
    let (validations, annotations) = (list(spec, "validations"), list(spec, "auditAnnotations"));
    if validations.is_empty() && annotations.is_empty() {
        for field in ["validations", "auditAnnotations"] {
            causes.push(Cause::required_because(
                format!("spec.{field}"),
                "validations or auditAnnotations must contain at least one item",
            ));
        }
        return;
    }
    for (i, v) in validations.iter().enumerate() {
        validation(v, &format!("spec.validations[{i}]"), causes);
    }
    if annotations.len() > MAX_AUDIT_ANNOTATIONS {
        let items: Vec<String> = annotations
            .iter()
            .map(|a| {
                let t = |k| format!("{:?}", text(Some(a), k).unwrap_or(""));
                format!(
                    "admissionregistration.AuditAnnotation{{Key:{}, ValueExpression:{}}}",
                    t("key"),
                    t("valueExpression")
                )
            })
            .collect();
        causes.push(invalid_shown(
            "spec.auditAnnotations",
            format!("[]admissionregistration.AuditAnnotation{{{}}}", items.join(", ")),
            format!("must not have more than {MAX_AUDIT_ANNOTATIONS} auditAnnotations"),
        ));
    }
    let policy_name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let mut keys = HashSet::new();
    for (i, a) in annotations.iter().enumerate() {
        let at = format!("spec.auditAnnotations[{i}]");
        let key = text(Some(a), "key").unwrap_or("");
        if policy_name.is_empty() {
            causes.push(Cause::invalid(format!("{at}.key"), &json!(key), "requires metadata.name be non-empty"));
        } else {
            let qualified = format!("{policy_name}/{key}");
            invalid_each(&format!("{at}.key"), &qualified, qualified_name(&qualified), causes);
        }
        let value = text(Some(a), "valueExpression").unwrap_or("").trim();
        if value.is_empty() {
            causes.push(Cause::required_because(format!("{at}.valueExpression"), "valueExpression is not specified"));
        } else if value.len() > MAX_VALUE_EXPRESSION {
            causes.push(Cause::required_because(
                format!("{at}.valueExpression"),
                format!("must not exceed {MAX_VALUE_EXPRESSION} bytes in length"),
            ));
        }
        if !keys.insert(key) {
            causes.push(Cause::duplicate(format!("{at}.key"), &json!(key)));
        }
    }
}

fn list<'a>(v: Option<&'a Value>, key: &str) -> &'a [Value] {
    v.and_then(|v| v.get(key)).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// CEL's `IDENT`: `[_a-zA-Z][_a-zA-Z0-9]*`, not a reserved word.
fn cel_identifier(name: &str) -> bool {
    let b = name.as_bytes();
    b.first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !CEL_RESERVED.contains(&name)
}

fn validation(v: &Value, at: &str, causes: &mut Vec<Cause>) {
    let t = |k| text(Some(v), k).unwrap_or("");
    if t("expression").trim().is_empty() {
        causes.push(Cause::required_because(format!("{at}.expression"), "expression is not specified"));
    }
    let message_expression = t("messageExpression");
    if !message_expression.is_empty() && message_expression.trim().is_empty() {
        causes.push(Cause::invalid(
            format!("{at}.messageExpression"),
            &json!(message_expression),
            "must be non-empty if specified",
        ));
    }
    let message = t("message");
    if !message.is_empty() && message.trim().is_empty() {
        causes.push(Cause::invalid(format!("{at}.message"), &json!(message), "message must be non-empty if specified"));
    } else if message.trim().contains(['\n', '\r']) {
        causes.push(Cause::invalid(format!("{at}.message"), &json!(message), "message must not contain line breaks"));
    }
    one_of(set(Some(v), "reason"), &format!("{at}.reason"), &REASONS, causes);
}

/// `validateParamKind`: a group/version (as APIService names them) and a kind.
fn param_kind(kind: &Value, causes: &mut Vec<Cause>) {
    let at = "spec.paramKind.apiVersion";
    let api_version = text(Some(kind), "apiVersion").unwrap_or("");
    if api_version.is_empty() {
        causes.push(Cause::required(at));
    } else {
        let parsed = match api_version.matches('/').count() {
            _ if api_version == "/" => Ok(("", "")),
            0 => Ok(("", api_version)),
            1 => Ok(api_version.split_once('/').expect("one slash")),
            _ => Err(format!("unexpected GroupVersion string: {api_version}")),
        };
        match parsed {
            Err(e) => causes.push(Cause::invalid(at, &json!(api_version), e)),
            Ok((group, version)) => {
                let errs = if group.is_empty() { Vec::new() } else { dns1123_subdomain(group) };
                if !errs.is_empty() {
                    causes.push(Cause::invalid(at, &json!(group), errs.join(",")));
                }
                if version.is_empty() {
                    causes.push(Cause::invalid(at, &json!(api_version), "version must be specified"));
                } else {
                    let errs = dns1035_label(version);
                    if !errs.is_empty() {
                        causes.push(Cause::invalid(at, &json!(version), errs.join(",")));
                    }
                }
            }
        }
    }
    let kind_name = text(Some(kind), "kind").unwrap_or("");
    if kind_name.is_empty() {
        causes.push(Cause::required("spec.paramKind.kind"));
    } else {
        let errs = dns1035_label(&kind_name.to_lowercase());
        if !errs.is_empty() {
            causes.push(Cause::invalid(
                "spec.paramKind.kind",
                &json!(kind_name),
                format!("may have mixed case, but should otherwise match: {}", errs.join(",")),
            ));
        }
    }
}

/// `validateMatchResources`: defaulted policy and selectors, and named rules.
fn match_resources(mc: &Value, at: &str, causes: &mut Vec<Cause>) {
    let m = Some(mc);
    match set(m, "matchPolicy") {
        None => causes.push(Cause::required(format!("{at}.matchPolicy"))),
        some => one_of(some, &format!("{at}.matchPolicy"), &MATCH_POLICIES, causes),
    }
    for field in ["namespaceSelector", "objectSelector"] {
        match set(m, field) {
            None => causes.push(Cause::required(format!("{at}.{field}"))),
            Some(sel) => label_selector(sel, &format!("{at}.{field}"), causes),
        }
    }
    for field in ["resourceRules", "excludeResourceRules"] {
        for (i, rule) in list(m, field).iter().enumerate() {
            let rule_at = format!("{at}.{field}[{i}]");
            let mut names = HashSet::new();
            for (j, name) in list(Some(rule), "resourceNames").iter().enumerate() {
                let name = name.as_str().unwrap_or("");
                let name_at = format!("{rule_at}.resourceNames[{j}]");
                invalid_each(&name_at, name, path_segment(name), causes);
                if !names.insert(name) {
                    causes.push(Cause::duplicate(name_at, &json!(name)));
                }
            }
            rule_with_operations(rule, &rule_at, causes);
        }
    }
}

/// A ValidatingAdmissionPolicyBinding.
pub fn binding(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    match text(spec, "policyName").unwrap_or("") {
        "" => causes.push(Cause::required("spec.policyName")),
        name => invalid_each("spec.policyName", name, dns1123_subdomain(name), causes),
    }
    if let Some(param_ref) = set(spec, "paramRef") {
        param_ref_checks(param_ref, causes);
    }
    // Upstream's path has this spelling.
    if let Some(mr) = set(spec, "matchResources") {
        match_resources(mr, "spec.matchResouces", causes);
    }
    validation_actions(spec.and_then(|s| s.get("validationActions")), causes);
}

fn param_ref_checks(pr: &Value, causes: &mut Vec<Cause>) {
    let p = Some(pr);
    let name = text(p, "name").unwrap_or("");
    let selector = set(p, "selector");
    const EXCLUSIVE: &str = "name and selector are mutually exclusive";
    if !name.is_empty() {
        invalid_each("spec.paramRef.name", name, path_segment(name), causes);
        if selector.is_some() {
            causes.push(Cause::forbidden("spec.paramRef.name", EXCLUSIVE));
        }
    }
    if let Some(sel) = selector {
        label_selector(sel, "spec.paramRef.selector", causes);
        if !name.is_empty() {
            causes.push(Cause::forbidden("spec.paramRef.selector", EXCLUSIVE));
        }
    }
    if name.is_empty() && selector.is_none() {
        causes.push(Cause::required_because("spec.paramRef", "one of name or selector must be specified"));
    }
    match set(p, "parameterNotFoundAction").filter(|a| a.as_str() != Some("")) {
        None => causes.push(Cause::required("spec.paramRef.parameterNotFoundAction")),
        Some(a) if !matches!(a.as_str(), Some("Deny" | "Allow")) => {
            causes.push(Cause::not_supported("spec.paramRef.parameterNotFoundAction", a, &["Deny", "Allow"]))
        }
        Some(_) => {}
    }
}

fn validation_actions(actions: Option<&Value>, causes: &mut Vec<Cause>) {
    let at = "spec.validationActions";
    let mut seen = HashSet::new();
    for (i, action) in actions.and_then(Value::as_array).into_iter().flatten().enumerate() {
        one_of(Some(action), &format!("{at}[{i}]"), &ACTIONS, causes);
        if !seen.insert(action.as_str().unwrap_or("")) {
            causes.push(Cause::duplicate(format!("{at}[{i}]"), action));
        }
    }
    if seen.contains("Deny") && seen.contains("Warn") {
        causes.push(invalid_shown(
            at,
            super::gostr::strings("[]admissionregistration.ValidationAction", actions),
            "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
        ));
    }
    if seen.is_empty() {
        causes.push(Cause::required_because(at, "at least one validation action is required"));
    }
}
