//! Pod spec validation.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::resources;
use crate::names::is_dns1123_label;
use crate::Cause;

pub fn pod_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(spec) = spec else {
        causes.push(Cause::required(format!("{path}.containers")));
        return;
    };
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(Vec::is_empty) {
        causes.push(Cause::required(format!("{path}.containers")));
    }
    let mut names = HashSet::new();
    for field in ["initContainers", "containers"] {
        for (i, c) in spec.get(field).and_then(Value::as_array).into_iter().flatten().enumerate() {
            let at = format!("{path}.{field}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                None | Some("") => causes.push(Cause::required(format!("{at}.name"))),
                Some(n) if !is_dns1123_label(n) => causes.push(Cause::invalid(
                    format!("{at}.name"),
                    &json!(n),
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                )),
                Some(n) if !names.insert(n.to_string()) => causes.push(Cause::duplicate(format!("{at}.name"), &json!(n))),
                _ => {}
            }
            if c.get("image").and_then(Value::as_str).is_none_or(|i| i.trim().is_empty()) {
                causes.push(Cause::required(format!("{at}.image")));
            }
            for (j, p) in c.get("ports").and_then(Value::as_array).into_iter().flatten().enumerate() {
                if let Some(cp) = p.get("containerPort") {
                    if !super::int_in(cp, 1, 65535) {
                        causes.push(Cause::invalid(
                            format!("{at}.ports[{j}].containerPort"),
                            cp,
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                } else {
                    causes.push(Cause::required(format!("{at}.ports[{j}].containerPort")));
                }
                if let Some(proto) = p.get("protocol") {
                    if !matches!(proto.as_str(), Some("TCP" | "UDP" | "SCTP")) {
                        causes.push(Cause::not_supported(
                            format!("{at}.ports[{j}].protocol"),
                            proto,
                            &["SCTP", "TCP", "UDP"],
                        ));
                    }
                }
            }
            for field in ["livenessProbe", "readinessProbe", "startupProbe"] {
                if let Some(p) = c.get(field).filter(|p| p.is_object()) {
                    probe(p, &format!("{at}.{field}"), field != "readinessProbe", causes);
                }
            }
            resources::requirements(c.get("resources"), &format!("{at}.resources"), causes);
            container_restart_policy(c, field == "initContainers", &at, causes);
            if let Some(policy) = c.get("imagePullPolicy") {
                if !matches!(policy.as_str(), Some("Always" | "IfNotPresent" | "Never")) {
                    causes.push(Cause::not_supported(
                        format!("{at}.imagePullPolicy"),
                        policy,
                        &["Always", "IfNotPresent", "Never"],
                    ));
                }
            }
        }
    }
    if let Some(policy) = spec.get("restartPolicy") {
        if !matches!(policy.as_str(), Some("Always" | "OnFailure" | "Never")) {
            causes.push(Cause::not_supported(
                format!("{path}.restartPolicy"),
                policy,
                &["Always", "OnFailure", "Never"],
            ));
        }
    }
    if let Some(policy) = spec.get("dnsPolicy") {
        if !matches!(policy.as_str(), Some("ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None")) {
            causes.push(Cause::not_supported(
                format!("{path}.dnsPolicy"),
                policy,
                &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
            ));
        }
    }
    resources::overhead(spec.get("overhead").and_then(Value::as_object), &format!("{path}.overhead"), causes);
    for (i, c) in spec.get("topologySpreadConstraints").and_then(Value::as_array).into_iter().flatten().enumerate() {
        topology_spread_constraint(c, &format!("{path}.topologySpreadConstraints[{i}]"), causes);
    }
    let mut volumes = HashSet::new();
    for (i, v) in spec.get("volumes").and_then(Value::as_array).into_iter().flatten().enumerate() {
        match v.get("name").and_then(Value::as_str) {
            None | Some("") => causes.push(Cause::required(format!("{path}.volumes[{i}].name"))),
            Some(n) if !volumes.insert(n.to_string()) => {
                causes.push(Cause::duplicate(format!("{path}.volumes[{i}].name"), &json!(n)))
            }
            _ => {}
        }
    }
}

/// A container's own `restartPolicy`: only `Always`, only on init containers
/// (sidecars); probes and lifecycle hooks only on app containers and sidecars.
fn container_restart_policy(c: &Value, init: bool, at: &str, causes: &mut Vec<Cause>) {
    let policy = c.get("restartPolicy").filter(|p| !p.is_null());
    match policy {
        Some(_) if !init => {
            causes.push(Cause::forbidden(format!("{at}.restartPolicy"), "may not be set for non-init containers"))
        }
        Some(p) if p.as_str() != Some("Always") => {
            causes.push(Cause::not_supported(format!("{at}.restartPolicy"), p, &["Always"]))
        }
        _ => {}
    }
    if init && policy.is_none() {
        for field in ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"] {
            if c.get(field).is_some_and(|v| !v.is_null()) {
                causes.push(Cause::forbidden(
                    format!("{at}.{field}"),
                    "may not be set for init containers without restartPolicy=Always",
                ));
            }
        }
    }
}

/// Upstream's `validateProbe`: one handler, no negative timings, and (for
/// liveness and startup probes, `once`) a success threshold of 1.
fn probe(p: &Value, at: &str, once: bool, causes: &mut Vec<Cause>) {
    let handlers = ["exec", "httpGet", "tcpSocket", "grpc"].iter().filter(|h| p.get(**h).is_some_and(|v| !v.is_null()));
    match handlers.count() {
        0 => causes.push(Cause::required_because(at, "must specify a handler type")),
        1 => {}
        _ => causes.push(Cause::forbidden(at, "may not specify more than 1 handler type")),
    }
    for field in ["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"] {
        if let Some(v) = p.get(field).filter(|v| v.as_i64().is_some_and(|n| n < 0)) {
            causes.push(Cause::invalid(format!("{at}.{field}"), v, "must be greater than or equal to 0"));
        }
    }
    if let Some(v) = p.get("terminationGracePeriodSeconds").filter(|v| v.as_i64().is_some_and(|n| n <= 0)) {
        causes.push(Cause::invalid(format!("{at}.terminationGracePeriodSeconds"), v, "must be greater than 0"));
    }
    if once {
        if let Some(v) = p.get("successThreshold").filter(|v| v.as_i64().is_some_and(|n| n != 1)) {
            causes.push(Cause::invalid(format!("{at}.successThreshold"), v, "must be 1"));
        }
    }
}

/// Upstream's checks of one constraint that the scheduler relies on.
fn topology_spread_constraint(c: &Value, at: &str, causes: &mut Vec<Cause>) {
    match c.get("maxSkew") {
        None => causes.push(Cause::required(format!("{at}.maxSkew"))),
        Some(v) if !super::int_in(v, 1, i64::from(i32::MAX)) => {
            causes.push(Cause::invalid(format!("{at}.maxSkew"), v, "must be greater than zero"))
        }
        _ => {}
    }
    if c.get("topologyKey").and_then(Value::as_str).is_none_or(str::is_empty) {
        causes.push(Cause::required(format!("{at}.topologyKey")));
    }
    match c.get("whenUnsatisfiable") {
        Some(Value::String(w)) if w == "DoNotSchedule" || w == "ScheduleAnyway" => {}
        Some(w) => causes.push(Cause::not_supported(
            format!("{at}.whenUnsatisfiable"),
            w,
            &["DoNotSchedule", "ScheduleAnyway"],
        )),
        None => causes.push(Cause::required(format!("{at}.whenUnsatisfiable"))),
    }
    if let Some(m) = c.get("minDomains") {
        if !super::int_in(m, 1, i64::from(i32::MAX)) {
            causes.push(Cause::invalid(format!("{at}.minDomains"), m, "must be greater than zero"));
        }
    }
}

/// Upstream allows changing only images, activeDeadlineSeconds, added tolerations
/// and terminationGracePeriodSeconds of an existing pod's spec.
pub fn pod_update(new: &Value, old: &Value, causes: &mut Vec<Cause>) {
    let mutable_removed = |spec: Option<&Value>| -> Value {
        let mut s = spec.cloned().unwrap_or(json!({}));
        if let Some(m) = s.as_object_mut() {
            m.remove("activeDeadlineSeconds");
            m.remove("tolerations");
            m.remove("terminationGracePeriodSeconds");
            m.remove("nodeName"); // set once through the binding subresource
            m.remove("schedulingGates");
        }
        for field in ["containers", "initContainers", "ephemeralContainers"] {
            for c in s.get_mut(field).and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(m) = c.as_object_mut() {
                    m.remove("image");
                }
            }
        }
        s
    };
    if mutable_removed(new.get("spec")) != mutable_removed(old.get("spec")) {
        causes.push(Cause::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
    let old_node = old.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    let new_node = new.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    if !old_node.is_empty() && old_node != new_node {
        causes.push(Cause::forbidden("spec.nodeName", "field is immutable"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_need_containers_with_images() {
        let mut c = Vec::new();
        pod_spec(Some(&json!({"containers": [{"name": "a"}, {"name": "a", "image": "x"}]})), "spec", &mut c);
        let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.containers[0].image", "spec.containers[1].name"]);
        let mut c = Vec::new();
        pod_spec(Some(&json!({})), "spec", &mut c);
        assert_eq!(c[0].field, "spec.containers");
    }

    #[test]
    fn only_init_containers_may_be_sidecars() {
        let mut c = Vec::new();
        let spec = json!({
            "initContainers": [
                {"name": "s", "image": "x", "restartPolicy": "Always", "startupProbe": {"exec": {"command": ["true"]}}},
                {"name": "i", "image": "x", "restartPolicy": "OnFailure"},
                {"name": "j", "image": "x", "readinessProbe": {"exec": {"command": ["true"]}}}],
            "containers": [{"name": "a", "image": "x", "restartPolicy": "Always"}]});
        pod_spec(Some(&spec), "spec", &mut c);
        let got: Vec<(&str, &str)> = c.iter().map(|c| (c.field.as_str(), c.reason.as_str())).collect();
        assert_eq!(
            got,
            [
                ("spec.initContainers[1].restartPolicy", "FieldValueNotSupported"),
                ("spec.initContainers[2].readinessProbe", "FieldValueForbidden"),
                ("spec.containers[0].restartPolicy", "FieldValueForbidden"),
            ]
        );
    }

    #[test]
    fn probes_need_one_handler_and_sane_timings() {
        let mut c = Vec::new();
        let spec = json!({"containers": [{
            "name": "a", "image": "x",
            "livenessProbe": {"httpGet": {"port": 80}, "periodSeconds": -1, "successThreshold": 2},
            "readinessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}, "successThreshold": 3},
            "startupProbe": {"failureThreshold": 3, "terminationGracePeriodSeconds": 0}}]});
        pod_spec(Some(&spec), "spec", &mut c);
        let got: Vec<String> = c.iter().map(Cause::summary).collect();
        assert_eq!(
            got,
            [
                "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe: Forbidden: may not specify more than 1 handler type",
                "spec.containers[0].startupProbe: Required value: must specify a handler type",
                "spec.containers[0].startupProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0",
            ]
        );
    }

    #[test]
    fn topology_spread_constraints_are_checked() {
        let spec = |c: Value| json!({"containers": [{"name": "a", "image": "x"}], "topologySpreadConstraints": [c]});
        let mut c = Vec::new();
        pod_spec(
            Some(&spec(json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}))),
            "spec",
            &mut c,
        );
        assert!(c.is_empty());
        pod_spec(
            Some(&spec(json!({"maxSkew": 0, "topologyKey": "", "whenUnsatisfiable": "Sometimes"}))),
            "spec",
            &mut c,
        );
        let got: Vec<(&str, &str)> = c.iter().map(|c| (c.field.as_str(), c.reason.as_str())).collect();
        assert_eq!(
            got,
            [
                ("spec.topologySpreadConstraints[0].maxSkew", "FieldValueInvalid"),
                ("spec.topologySpreadConstraints[0].topologyKey", "FieldValueRequired"),
                ("spec.topologySpreadConstraints[0].whenUnsatisfiable", "FieldValueNotSupported"),
            ]
        );
    }

    #[test]
    fn container_resources_are_checked_in_every_container_list() {
        let mut c = Vec::new();
        let spec = json!({
            "initContainers": [{"name": "i", "image": "x", "resources": {"requests": {"cpu": "-1"}}}],
            "containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}],
            "overhead": {"memory": "-1"}});
        pod_spec(Some(&spec), "spec.template.spec", &mut c);
        let fields: Vec<&str> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.template.spec.initContainers[0].resources.requests[cpu]",
                "spec.template.spec.containers[0].resources.requests",
                "spec.template.spec.overhead[memory]",
            ]
        );
    }

    #[test]
    fn pod_updates_only_change_mutable_fields() {
        let old = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        let mut c = Vec::new();
        pod_update(&json!({"spec": {"containers": [{"name": "a", "image": "y"}]}}), &old, &mut c);
        assert!(c.is_empty());
        pod_update(&json!({"spec": {"containers": [{"name": "b", "image": "x"}]}}), &old, &mut c);
        assert_eq!(c.len(), 1);
    }
}
