//! admissionregistration.k8s.io: webhook configurations
//! (`ValidateValidatingWebhookConfiguration`, `ValidateMutatingWebhookConfiguration`
//! and their updates) and validating admission policies and bindings.
//!
//! CEL is not compiled: match conditions, validations, variables and audit
//! annotations are checked for presence and form, not for whether their
//! expressions compile, so an expression upstream rejects for its CEL passes here.

mod policy;
mod url;

pub use policy::{binding, policy};

use std::collections::HashSet;

use serde_json::{json, Value};

use super::common::invalid_shown;
use super::common::{dns1123_subdomain, label_selector_lenient, qualified_name, selector_has_errors, set, text};
use super::gostr;
use super::rules::{dns1035_label, invalid_each};
use crate::Cause;

/// The AdmissionReview versions this server (as upstream's) can send.
const REVIEW_VERSIONS: [&str; 2] = ["v1", "v1beta1"];
const FAILURE_POLICIES: [&str; 2] = ["Fail", "Ignore"];
const MATCH_POLICIES: [&str; 2] = ["Equivalent", "Exact"];
const NO_SIDE_EFFECTS: [&str; 2] = ["None", "NoneOnDryRun"];
const SIDE_EFFECTS: [&str; 4] = ["None", "NoneOnDryRun", "Some", "Unknown"];
const OPERATIONS: [&str; 5] = ["*", "CONNECT", "CREATE", "DELETE", "UPDATE"];
const SCOPES: [&str; 3] = ["*", "Cluster", "Namespaced"];
const MAX_MATCH_CONDITIONS: usize = 64;

/// What an update tolerates because the stored object already had it; a create
/// tolerates nothing.
struct Options {
    ignore_match_conditions: bool,
    require_no_side_effects: bool,
    require_recognized_versions: bool,
    require_unique_names: bool,
    allow_invalid_label_values: bool,
}

fn hooks(obj: &Value) -> &[Value] {
    obj.get("webhooks").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn options(new: &Value, old: Option<&Value>) -> Options {
    let Some(old) = old else {
        return Options {
            ignore_match_conditions: false,
            require_no_side_effects: true,
            require_recognized_versions: true,
            require_unique_names: true,
            allow_invalid_label_values: false,
        };
    };
    let (new_hooks, old_hooks) = (hooks(new), hooks(old));
    let mut names = HashSet::new();
    Options {
        ignore_match_conditions: new_hooks.len() == old_hooks.len()
            && new_hooks
                .iter()
                .zip(old_hooks)
                .all(|(n, o)| set(Some(n), "matchConditions") == set(Some(o), "matchConditions")),
        require_no_side_effects: old_hooks
            .iter()
            .all(|h| text(Some(h), "sideEffects").is_some_and(|s| NO_SIDE_EFFECTS.contains(&s))),
        require_recognized_versions: old_hooks.iter().all(|h| {
            let versions = strings(h.get("admissionReviewVersions"));
            versions.is_empty() || versions.iter().any(|v| REVIEW_VERSIONS.contains(v))
        }),
        require_unique_names: old_hooks.iter().all(|h| names.insert(text(Some(h), "name").unwrap_or(""))),
        allow_invalid_label_values: old_hooks
            .iter()
            .any(|h| ["namespaceSelector", "objectSelector"].iter().any(|s| selector_has_errors(set(Some(h), s)))),
    }
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
}

/// A ValidatingWebhookConfiguration or (`mutating`) MutatingWebhookConfiguration.
pub fn webhook_configuration(mutating: bool, obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let opts = options(obj, old);
    let mut names = HashSet::new();
    for (i, hook) in hooks(obj).iter().enumerate() {
        let at = format!("webhooks[{i}]");
        webhook(mutating, hook, &opts, &at, causes);
        review_versions(hook.get("admissionReviewVersions"), opts.require_recognized_versions, &at, causes);
        let name = text(Some(hook), "name").unwrap_or("");
        if opts.require_unique_names && !name.is_empty() && !names.insert(name) {
            causes.push(Cause::duplicate(format!("{at}.name"), &json!(name)));
        }
    }
}

fn webhook(mutating: bool, hook: &Value, opts: &Options, at: &str, causes: &mut Vec<Cause>) {
    let h = Some(hook);
    fully_qualified_name(text(h, "name").unwrap_or(""), &format!("{at}.name"), causes);
    for (j, rule) in hook.get("rules").and_then(Value::as_array).into_iter().flatten().enumerate() {
        rule_with_operations(rule, &format!("{at}.rules[{j}]"), causes);
    }
    one_of(set(h, "failurePolicy"), &format!("{at}.failurePolicy"), &FAILURE_POLICIES, causes);
    one_of(set(h, "matchPolicy"), &format!("{at}.matchPolicy"), &MATCH_POLICIES, causes);
    let allowed: &[&str] = if opts.require_no_side_effects { &NO_SIDE_EFFECTS } else { &SIDE_EFFECTS };
    match set(h, "sideEffects") {
        None => causes.push(Cause::required_because(
            format!("{at}.sideEffects"),
            format!("must specify one of {}", allowed.join(", ")),
        )),
        some => one_of(some, &format!("{at}.sideEffects"), allowed, causes),
    }
    if let Some(t) = set(h, "timeoutSeconds").filter(|t| !super::int_in(t, 1, 30)) {
        causes.push(Cause::invalid(
            format!("{at}.timeoutSeconds"),
            t,
            "the timeout value must be between 1 and 30 seconds",
        ));
    }
    for field in ["namespaceSelector", "objectSelector"] {
        label_selector_lenient(set(h, field), &format!("{at}.{field}"), opts.allow_invalid_label_values, causes);
    }
    if mutating {
        one_of(set(h, "reinvocationPolicy"), &format!("{at}.reinvocationPolicy"), &["IfNeeded", "Never"], causes);
    }
    client_config(set(h, "clientConfig"), &format!("{at}.clientConfig"), causes);
    if !opts.ignore_match_conditions {
        match_conditions(hook.get("matchConditions"), &format!("{at}.matchConditions"), causes);
    }
}

/// NotSupported unless `v` (when set) is one of `supported`.
fn one_of(v: Option<&Value>, at: &str, supported: &[&str], causes: &mut Vec<Cause>) {
    if let Some(v) = v.filter(|v| !v.as_str().is_some_and(|s| supported.contains(&s))) {
        causes.push(Cause::not_supported(at, v, supported));
    }
}

/// `IsFullyQualifiedName`: a DNS subdomain of at least three labels.
fn fully_qualified_name(name: &str, at: &str, causes: &mut Vec<Cause>) {
    if name.is_empty() {
        causes.push(Cause::required(at));
        return;
    }
    let errs = dns1123_subdomain(name);
    if !errs.is_empty() {
        causes.push(Cause::invalid(at, &json!(name), errs.join(",")));
    } else if name.split('.').count() < 3 {
        causes.push(Cause::invalid(
            at,
            &json!(name),
            "should be a domain with at least three segments separated by dots",
        ));
    }
}

/// `validateRuleWithOperations` (subresources allowed).
fn rule_with_operations(rule: &Value, at: &str, causes: &mut Vec<Cause>) {
    let ops = rule.get("operations").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    if ops.is_empty() {
        causes.push(Cause::required(format!("{at}.operations")));
    }
    if ops.len() > 1 && ops.iter().any(|o| o.as_str() == Some("*")) {
        causes.push(invalid_shown(
            format!("{at}.operations"),
            gostr::strings("[]admissionregistration.OperationType", rule.get("operations")),
            "if '*' is present, must not specify other operations",
        ));
    }
    for (i, op) in ops.iter().enumerate() {
        one_of(Some(op), &format!("{at}.operations[{i}]"), &OPERATIONS, causes);
    }
    rule_groups_versions(rule, at, causes);
    resources(rule.get("resources"), &format!("{at}.resources"), causes);
    one_of(set(Some(rule), "scope"), &format!("{at}.scope"), &SCOPES, causes);
}

fn rule_groups_versions(rule: &Value, at: &str, causes: &mut Vec<Cause>) {
    for (field, what) in [("apiGroups", "API groups"), ("apiVersions", "API versions")] {
        let list = strings(rule.get(field));
        if list.is_empty() {
            causes.push(Cause::required(format!("{at}.{field}")));
        }
        if list.len() > 1 && list.contains(&"*") {
            causes.push(invalid_shown(
                format!("{at}.{field}"),
                gostr::strings("[]string", rule.get(field)),
                format!("if '*' is present, must not specify other {what}"),
            ));
        }
        if field == "apiVersions" {
            for (i, _) in list.iter().enumerate().filter(|(_, v)| v.is_empty()) {
                causes.push(Cause::required(format!("{at}.{field}[{i}]")));
            }
        }
    }
}

/// `validateResources`: `resource/subresource` with the wildcard rules.
fn resources(list: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    let items = strings(list);
    if items.is_empty() {
        causes.push(Cause::required(at));
    }
    let (mut with_wild_sub, mut with_wild_res) = (HashSet::new(), HashSet::new());
    let (mut double_wild, mut single_wild, mut plain) = (false, false, false);
    for (i, res_sub) in items.iter().enumerate() {
        if res_sub.is_empty() {
            causes.push(Cause::required(format!("{at}[{i}]")));
            continue;
        }
        double_wild |= *res_sub == "*/*";
        single_wild |= *res_sub == "*";
        let Some((res, sub)) = res_sub.split_once('/') else {
            // Upstream keeps only the last such entry's verdict.
            plain = *res_sub != "*";
            continue;
        };
        if with_wild_sub.contains(res) {
            causes.push(Cause::invalid(
                format!("{at}[{i}]"),
                &json!(res_sub),
                format!("if '{res}/*' is present, must not specify {res_sub}"),
            ));
        }
        if with_wild_res.contains(sub) {
            causes.push(Cause::invalid(
                format!("{at}[{i}]"),
                &json!(res_sub),
                format!("if '*/{sub}' is present, must not specify {res_sub}"),
            ));
        }
        if sub == "*" {
            with_wild_sub.insert(res);
        }
        if res == "*" {
            with_wild_res.insert(sub);
        }
    }
    let shown = || gostr::strings("[]string", list);
    if items.len() > 1 && double_wild {
        causes.push(invalid_shown(at, shown(), "if '*/*' is present, must not specify other resources"));
    }
    if single_wild && plain {
        causes.push(invalid_shown(
            at,
            shown(),
            "if '*' is present, must not specify other resources without subresources",
        ));
    }
}

/// `validateAdmissionReviewVersions`.
fn review_versions(versions: Option<&Value>, require_recognized: bool, hook_at: &str, causes: &mut Vec<Cause>) {
    let at = format!("{hook_at}.admissionReviewVersions");
    let list = strings(versions);
    if list.is_empty() {
        causes.push(Cause::required_because(&at, format!("must specify one of {}", REVIEW_VERSIONS.join(", "))));
        return;
    }
    let mut seen = HashSet::new();
    for (i, v) in list.iter().enumerate() {
        if !seen.insert(*v) {
            causes.push(Cause::invalid(format!("{at}[{i}]"), &json!(v), "duplicate version"));
            continue;
        }
        invalid_each(&format!("{at}[{i}]"), v, dns1035_label(v), causes);
    }
    if require_recognized && !list.iter().any(|v| REVIEW_VERSIONS.contains(v)) {
        causes.push(invalid_shown(
            &at,
            gostr::strings("[]string", versions),
            format!("must include at least one of {}", REVIEW_VERSIONS.join(", ")),
        ));
    }
}

fn client_config(cc: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    match (set(cc, "url"), set(cc, "service")) {
        (Some(url), None) => url::webhook_url(url.as_str().unwrap_or(""), &format!("{at}.url"), causes),
        (None, Some(service)) => webhook_service(service, &format!("{at}.service"), causes),
        _ => causes.push(Cause::required_because(at, "exactly one of url or service is required")),
    }
}

/// `ValidateWebhookService`, which upstream calls with the service's name and
/// namespace in each other's places: a missing namespace is reported on `name`.
fn webhook_service(service: &Value, at: &str, causes: &mut Vec<Cause>) {
    let s = Some(service);
    if text(s, "namespace").unwrap_or("").is_empty() {
        causes.push(Cause::required(format!("{at}.name")));
    }
    if text(s, "name").unwrap_or("").is_empty() {
        causes.push(Cause::required(format!("{at}.namespace")));
    }
    let port = set(s, "port").cloned().unwrap_or(json!(443));
    if !super::int_in(&port, 1, 65535) {
        causes.push(Cause::invalid(
            format!("{at}.port"),
            &port,
            format!("port is not valid: {}", super::rules::PORT_RANGE),
        ));
    }
    let Some(path) = text(s, "path") else { return };
    let path_at = format!("{at}.path");
    if path == "/" || path.is_empty() {
        return;
    }
    if path == "//" {
        causes.push(Cause::invalid(path_at, &json!(path), "segment[0] may not be empty"));
        return;
    }
    if !path.starts_with('/') {
        causes.push(Cause::invalid(&path_at, &json!(path), "must start with a '/'"));
    }
    let inner = &path[path.chars().next().map_or(0, char::len_utf8)..];
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    for (i, step) in inner.split('/').enumerate() {
        if step.is_empty() {
            causes.push(Cause::invalid(&path_at, &json!(path), format!("segment[{i}] may not be empty")));
            continue;
        }
        for msg in dns1123_subdomain(step) {
            causes.push(Cause::invalid(&path_at, &json!(path), format!("segment[{i}]: {msg}")));
        }
    }
}

/// `validateMatchConditions`: at most 64, each named (a qualified name, unique)
/// with an expression.
fn match_conditions(list: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    let items = list.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    if items.len() > MAX_MATCH_CONDITIONS {
        causes.push(Cause {
            reason: "FieldValueTooMany".into(),
            message: format!("Too many: {}: must have at most {MAX_MATCH_CONDITIONS} items", items.len()),
            field: at.into(),
        });
    }
    let mut names = HashSet::new();
    for (i, mc) in items.iter().enumerate() {
        let m = Some(mc);
        if text(m, "expression").unwrap_or("").trim().is_empty() {
            causes.push(Cause::required(format!("{at}[{i}].expression")));
        }
        let name = text(m, "name").unwrap_or("");
        if name.is_empty() {
            causes.push(Cause::required(format!("{at}[{i}].name")));
        } else {
            invalid_each(&format!("{at}[{i}].name"), name, qualified_name(name), causes);
            if !names.insert(name) {
                causes.push(Cause::duplicate(format!("{at}[{i}].name"), &json!(name)));
            }
        }
    }
}

#[cfg(test)]
mod tests;
