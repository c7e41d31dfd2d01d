//! Ingress and IngressClass validation, as upstream's `ValidateIngressSpec` and
//! `ValidateIngressClass`: hosts are DNS names (a wildcard only as `*.` in front),
//! paths are absolute and typed, every backend names exactly one service or
//! resource, and a class names its controller once and for all.

use serde_json::{json, Value};

use super::rules;
use crate::Cause;

const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

pub fn ingress(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let rule_list = present(spec, "rules").and_then(Value::as_array);
    let default_backend = present(spec, "defaultBackend");
    if rule_list.is_none_or(Vec::is_empty) && default_backend.is_none() {
        let rules_value = rule_list.map_or("[]networking.IngressRule(nil)", |_| "[]networking.IngressRule{}");
        causes.push(super::common::invalid_shown(
            "spec",
            rules_value,
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(backend) = default_backend {
        ingress_backend(backend, "spec.defaultBackend", causes);
    }
    // Upstream keeps accepting what an existing object already has: invalid rules
    // under a wildcard host, and invalid TLS secret names.
    let old_spec = old.and_then(|o| o.get("spec"));
    let lax_wildcards = old_spec
        .is_some_and(|s| items(s.get("rules")).any(|r| host(r).contains('*') && !rule_value_causes(r, "").is_empty()));
    for (i, rule) in rule_list.into_iter().flatten().enumerate() {
        let at = format!("spec.rules[{i}]");
        let h = host(rule);
        let wildcard = h.contains('*');
        if !h.is_empty() {
            if rules::parse_ip(h).is_some() {
                causes.push(Cause::invalid(format!("{at}.host"), &json!(h), "must be a DNS name, not an IP address"));
            }
            let messages = if wildcard { rules::wildcard_dns1123_subdomain(h) } else { rules::dns1123_subdomain(h) };
            rules::invalid_each(&format!("{at}.host"), h, messages, causes);
        }
        if !wildcard || !lax_wildcards {
            causes.extend(rule_value_causes(rule, &at));
        }
    }
    let lax_secrets = old_spec.is_some_and(|s| items(s.get("tls")).any(|t| !secret_name(t).is_empty()));
    for (i, tls) in items(spec.get("tls")).enumerate() {
        for (j, h) in items(tls.get("hosts")).enumerate() {
            let h = h.as_str().unwrap_or("");
            let messages =
                if h.contains('*') { rules::wildcard_dns1123_subdomain(h) } else { rules::dns1123_subdomain(h) };
            rules::invalid_each(&format!("spec.tls[{i}].hosts[{j}]"), h, messages, causes);
        }
        if !lax_secrets {
            let name = tls.get("secretName").and_then(Value::as_str).unwrap_or("");
            rules::invalid_each(&format!("spec.tls[{i}].secretName"), name, secret_name(tls), causes);
        }
    }
    let class = present(spec, "ingressClassName").and_then(Value::as_str);
    if let Some(class) = class {
        rules::invalid_each("spec.ingressClassName", class, rules::dns1123_subdomain(class), causes);
    }
    if old.is_none() {
        let annotation = obj.pointer("/metadata/annotations").and_then(|a| a.get(CLASS_ANNOTATION));
        if let (Some(annotation), Some(class)) = (annotation.and_then(Value::as_str), class) {
            if annotation != class {
                causes.push(Cause::invalid(
                    format!("annotations.{CLASS_ANNOTATION}"),
                    &json!(annotation),
                    "must match `ingressClassName` when both are specified",
                ));
            }
        }
    }
}

fn items(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

fn present<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|v| !v.is_null())
}

fn host(rule: &Value) -> &str {
    rule.get("host").and_then(Value::as_str).unwrap_or("")
}

fn secret_name(tls: &Value) -> Vec<String> {
    match tls.get("secretName").and_then(Value::as_str) {
        None | Some("") => Vec::new(),
        Some(name) => rules::dns1123_subdomain(name),
    }
}

/// A rule's `http` paths, under `at` (the rule's own path).
fn rule_value_causes(rule: &Value, at: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(http) = present(rule, "http") else { return causes };
    let paths: Vec<&Value> = items(http.get("paths")).collect();
    if paths.is_empty() {
        causes.push(Cause::required(format!("{at}.http.paths")));
    }
    for (k, path) in paths.into_iter().enumerate() {
        http_path(path, &format!("{at}.http.paths[{k}]"), &mut causes);
    }
    causes
}

fn http_path(p: &Value, at: &str, causes: &mut Vec<Cause>) {
    let path = p.get("path").and_then(Value::as_str).unwrap_or("");
    let field = format!("{at}.path");
    let invalid = |detail: String| Cause::invalid(&field, &json!(path), detail);
    match present(p, "pathType") {
        None => {
            causes.push(Cause::required_because(format!("{at}.pathType"), "pathType must be specified"));
            return;
        }
        Some(t) if matches!(t.as_str(), Some("Exact" | "Prefix")) => {
            if !path.starts_with('/') {
                causes.push(invalid("must be an absolute path".into()));
            }
            for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                if path.contains(seq) {
                    causes.push(invalid(format!("must not contain '{seq}'")));
                }
            }
            for suffix in ["/..", "/."] {
                if path.ends_with(suffix) {
                    causes.push(invalid(format!("cannot end with '{suffix}'")));
                }
            }
        }
        Some(t) if t.as_str() == Some("ImplementationSpecific") => {
            if !path.is_empty() && !path.starts_with('/') {
                causes.push(invalid("must be an absolute path".into()));
            }
        }
        Some(t) => causes.push(Cause::not_supported(
            format!("{at}.pathType"),
            t,
            &["Exact", "ImplementationSpecific", "Prefix"],
        )),
    }
    ingress_backend(p.get("backend").unwrap_or(&Value::Null), &format!("{at}.backend"), causes);
}

fn ingress_backend(b: &Value, at: &str, causes: &mut Vec<Cause>) {
    let empty = json!("");
    match (present(b, "service"), present(b, "resource")) {
        (Some(_), Some(_)) => causes.push(Cause::invalid(at, &empty, "cannot set both resource and service backends")),
        (None, Some(resource)) => object_reference(resource, &format!("{at}.resource"), causes),
        (Some(service), None) => {
            let name = service.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                causes.push(Cause::required(format!("{at}.service.name")));
            } else {
                rules::invalid_each(&format!("{at}.service.name"), name, rules::dns1035_label(name), causes);
            }
            let port = service.get("port").unwrap_or(&Value::Null);
            let port_name = port.get("name").and_then(Value::as_str).unwrap_or("");
            let number = port.get("number").filter(|n| n.as_i64() != Some(0) && !n.is_null());
            match (port_name.is_empty(), number) {
                (false, Some(_)) => causes.push(Cause::invalid(at, &empty, "cannot set both port name & port number")),
                (false, None) => rules::invalid_each(
                    &format!("{at}.service.port.name"),
                    port_name,
                    rules::port_name(port_name),
                    causes,
                ),
                (true, Some(n)) => {
                    if !super::int_in(n, 1, 65535) {
                        causes.push(Cause::invalid(format!("{at}.service.port.number"), n, rules::PORT_RANGE));
                    }
                }
                (true, None) => causes.push(Cause::required_because(at, "port name or number is required")),
            }
        }
        (None, None) => causes.push(Cause::invalid(at, &empty, "resource or service backend is required")),
    }
}

/// A `TypedLocalObjectReference` (a resource backend).
fn object_reference(r: &Value, at: &str, causes: &mut Vec<Cause>) {
    if let Some(group) = present(r, "apiGroup").and_then(Value::as_str) {
        rules::invalid_each(&format!("{at}.apiGroup"), group, rules::dns1123_subdomain(group), causes);
    }
    for field in ["kind", "name"] {
        match r.get(field).and_then(Value::as_str).unwrap_or("") {
            "" => causes.push(Cause::required(format!("{at}.{field}"))),
            v => rules::invalid_each(&format!("{at}.{field}"), v, rules::path_segment_name(v), causes),
        }
    }
}

pub fn ingress_class(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let controller = obj.pointer("/spec/controller").and_then(Value::as_str).unwrap_or("");
    if let Some(old) = old {
        let was = old.pointer("/spec/controller").and_then(Value::as_str).unwrap_or("");
        if was != controller {
            causes.push(Cause::invalid("spec.controller", &json!(controller), "field is immutable"));
        }
    }
    if controller.len() > 250 {
        causes.push(Cause::too_long("spec.controller", &json!(controller), 250));
    }
    domain_prefixed_path("spec.controller", controller, causes);
    if let Some(params) = obj.pointer("/spec/parameters").filter(|p| !p.is_null()) {
        parameters_reference(params, "spec.parameters", causes);
    }
}

/// Upstream's `IsDomainPrefixedPath` (`acme.io/foo`).
fn domain_prefixed_path(field: &str, s: &str, causes: &mut Vec<Cause>) {
    if s.is_empty() {
        causes.push(Cause::required(field));
        return;
    }
    let Some((host, path)) = s.split_once('/').filter(|(h, p)| !h.is_empty() && !p.is_empty()) else {
        causes.push(Cause::invalid(field, &json!(s), "must be a domain-prefixed path (such as \"acme.io/foo\")"));
        return;
    };
    rules::invalid_each(field, host, rules::dns1123_subdomain(host), causes);
    let http_path_char = |c: u8| c.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:".contains(&c);
    if !path.bytes().all(http_path_char) {
        causes.push(Cause::invalid(
            field,
            &json!(path),
            r"Invalid path (regex used for validation is '[A-Za-z0-9/\-._~%!$&'()*+,;=:]+')",
        ));
    }
}

fn parameters_reference(p: &Value, at: &str, causes: &mut Vec<Cause>) {
    object_reference(p, at, causes);
    let Some(scope) = present(p, "scope") else {
        causes.push(Cause::required(format!("{at}.scope")));
        return;
    };
    let namespace = present(p, "namespace");
    match scope.as_str() {
        Some("Namespace") => match namespace.and_then(Value::as_str) {
            None => causes
                .push(Cause::required_because(format!("{at}.namespace"), "`parameters.scope` is set to 'Namespace'")),
            Some(ns) => rules::invalid_each(&format!("{at}.namespace"), ns, rules::dns1123_label(ns), causes),
        },
        Some("Cluster") => {
            if namespace.is_some() {
                causes.push(Cause::forbidden(format!("{at}.namespace"), "`parameters.scope` is set to 'Cluster'"));
            }
        }
        _ => causes.push(Cause::not_supported(format!("{at}.scope"), scope, &["Cluster", "Namespace"])),
    }
}

#[cfg(test)]
mod tests;
