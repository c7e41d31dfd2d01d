//! Resource requirements (`resources.requests` and `limits`) and pod overhead, as
//! upstream's `ValidateResourceRequirements` and `validateOverhead` check them. The
//! quantities' syntax was checked when the body was decoded; here are their values.

use serde_json::{json, Map, Value};

use super::common::invalid_shown;
use super::rules::qualified_name;
use crate::names::is_qualified_name;
use crate::quantity::{canonical, parse_scaled};
use crate::Cause;

/// Checks a container's `resources` at `at` (`spec.containers[0].resources`).
pub fn requirements(resources: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    let list = |field| resources.and_then(|r| r.get(field)).and_then(Value::as_object);
    let (limits, requests) = (list("limits"), list("requests"));
    let (limits_at, requests_at) = (format!("{at}.limits"), format!("{at}.requests"));
    for (name, q) in limits.into_iter().flatten() {
        let key = format!("{limits_at}[{name}]");
        container_resource_name(name, &key, causes);
        quantity_value(name, q, &key, causes);
    }
    for (name, q) in requests.into_iter().flatten() {
        let key = format!("{requests_at}[{name}]");
        container_resource_name(name, &key, causes);
        quantity_value(name, q, &key, causes);
        let limit = limits.and_then(|l| l.get(name));
        let overcommit = overcommit_allowed(name);
        match (limit.and_then(text), text(q)) {
            (Some(limit), Some(request)) => {
                let (l, r) = (milli(limit), milli(request));
                let shown = json!(canonical(request));
                let limit = canonical(limit);
                if !overcommit && r != l {
                    causes.push(Cause::invalid(
                        &requests_at,
                        &shown,
                        format!("must be equal to {name} limit of {limit}"),
                    ));
                } else if r > l {
                    causes.push(Cause::invalid(
                        &requests_at,
                        &shown,
                        format!("must be less than or equal to {name} limit of {limit}"),
                    ));
                }
            }
            _ if limit.is_none() && !overcommit => {
                causes.push(Cause::required_because(&limits_at, "Limit must be set for non overcommitable resources"))
            }
            _ => {}
        }
    }
}

/// Checks a pod's `overhead` at `at` (`spec.overhead`).
pub fn overhead(overhead: Option<&Map<String, Value>>, at: &str, causes: &mut Vec<Cause>) {
    for (name, q) in overhead.into_iter().flatten() {
        let key = format!("{at}[{name}]");
        resource_name(name, &key, causes);
        quantity_value(name, q, &key, causes);
    }
}

/// Checks a quota's resource list at `at` (`spec.hard`, `status.used`): names a
/// quota can track (`ValidateResourceQuotaResourceName`) and their amounts.
pub fn quota_resources(list: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    for (name, q) in list.and_then(Value::as_object).into_iter().flatten() {
        let key = format!("{at}[{name}]");
        resource_name(name, &key, causes);
        if !name.contains('/') && !standard_quota(name) {
            causes.push(invalid_shown(&key, name, "must be a standard resource for quota"));
        }
        quantity_value(name, q, &key, causes);
    }
}

/// A quantity's text (the decoder turned numbers into strings).
fn text(q: &Value) -> Option<&str> {
    q.as_str()
}

fn milli(q: &str) -> i64 {
    parse_scaled(q, 3).unwrap_or(0)
}

/// `ValidateResourceQuantityValue`: not negative, and whole for integer resources.
/// Upstream shows the negative amount as a string but the fractional one as a
/// quantity (printed bare).
fn quantity_value(name: &str, q: &Value, key: &str, causes: &mut Vec<Cause>) {
    let Some(q) = text(q) else { return };
    let value = milli(q);
    if value < 0 {
        causes.push(Cause::invalid(key, &json!(canonical(q)), "must be greater than or equal to 0"));
    }
    if integer(name) && value % 1000 != 0 {
        causes.push(invalid_shown(key, canonical(q), "must be an integer"));
    }
}

/// `validateResourceName`: a qualified name, and a standard one when it has no
/// prefix. A resource name prints bare in upstream's messages (it has `String()`).
pub(super) fn resource_name(name: &str, key: &str, causes: &mut Vec<Cause>) -> bool {
    let errs = qualified_name(name);
    if !errs.is_empty() {
        causes.extend(errs.into_iter().map(|m| invalid_shown(key, name, m)));
        return false;
    }
    if !name.contains('/') && !standard(name) {
        causes.push(invalid_shown(key, name, "must be a standard resource type or fully qualified"));
        return false;
    }
    true
}

/// `validateContainerResourceName`: cpu, memory, ephemeral-storage, huge pages, or an
/// extended resource (`example.com/gpu`).
pub(super) fn container_resource_name(name: &str, key: &str, causes: &mut Vec<Cause>) {
    resource_name(name, key, causes);
    if !name.contains('/') {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !name.starts_with("hugepages-") {
            causes.push(invalid_shown(key, name, "must be a standard resource for containers"));
        }
    } else if !native(name) && !extended(name) {
        causes.push(invalid_shown(key, name, "doesn't follow extended resource name standard"));
    }
}

/// Upstream's `standardResources`: what a quota tracks, and plain `storage`.
fn standard(name: &str) -> bool {
    name == "storage" || standard_quota(name)
}

/// Upstream's `standardQuotaResources` and huge pages (plain `storage` is not one).
pub(super) fn standard_quota(name: &str) -> bool {
    const QUOTA: &[&str] = &[
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.storage",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "persistentvolumeclaims",
        "configmaps",
        "services.nodeports",
        "services.loadbalancers",
    ];
    QUOTA.contains(&name) || name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

/// Upstream's `IsIntegerResourceName`: object counts and extended resources.
fn integer(name: &str) -> bool {
    const COUNTS: &[&str] = &[
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    ];
    COUNTS.contains(&name) || extended(name)
}

/// A resource of Kubernetes itself: no prefix, or a `kubernetes.io/` one.
fn native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// An extended resource (`nvidia.com/gpu`): whole units only, requests equal limits.
fn extended(name: &str) -> bool {
    !native(name) && !name.starts_with("requests.") && is_qualified_name(&format!("requests.{name}"))
}

/// Whether a request may be below its limit: native resources except huge pages.
pub(super) fn overcommit_allowed(name: &str) -> bool {
    native(name) && !name.starts_with("hugepages-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(resources: Value) -> Vec<(String, String)> {
        let mut causes = Vec::new();
        requirements(Some(&resources), "spec.containers[0].resources", &mut causes);
        causes.into_iter().map(|c| (c.field, c.message)).collect()
    }

    fn one(field: &str, message: &str) -> Vec<(String, String)> {
        vec![(field.to_string(), message.to_string())]
    }

    #[test]
    fn valid_requirements_pass() {
        assert!(check(json!({})).is_empty());
        assert!(check(json!({
            "requests": {"cpu": "100m", "memory": "64Mi", "example.com/gpu": "1"},
            "limits": {"cpu": "1", "memory": "64Mi", "example.com/gpu": "1", "hugepages-2Mi": "2Mi"}
        }))
        .is_empty());
        assert!(check(json!({"requests": {"cpu": "1000m"}, "limits": {"cpu": "1"}})).is_empty());
    }

    #[test]
    fn negative_quantities_are_invalid() {
        assert_eq!(
            check(json!({"requests": {"cpu": "-1"}})),
            one(
                "spec.containers[0].resources.requests[cpu]",
                "Invalid value: \"-1\": must be greater than or equal to 0"
            )
        );
        assert_eq!(
            check(json!({"limits": {"memory": "-1024Mi"}})),
            one(
                "spec.containers[0].resources.limits[memory]",
                "Invalid value: \"-1Gi\": must be greater than or equal to 0"
            )
        );
    }

    #[test]
    fn requests_may_not_exceed_limits() {
        assert_eq!(
            check(json!({"requests": {"cpu": "2"}, "limits": {"cpu": "1000m"}})),
            one(
                "spec.containers[0].resources.requests",
                "Invalid value: \"2\": must be less than or equal to cpu limit of 1"
            )
        );
        assert_eq!(
            check(json!({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}})),
            one(
                "spec.containers[0].resources.requests",
                "Invalid value: \"2Gi\": must be less than or equal to memory limit of 1Gi"
            )
        );
    }

    #[test]
    fn extended_resources_are_whole_and_not_overcommitted() {
        assert_eq!(
            check(json!({"requests": {"example.com/gpu": "1"}, "limits": {"example.com/gpu": "2"}})),
            one(
                "spec.containers[0].resources.requests",
                "Invalid value: \"1\": must be equal to example.com/gpu limit of 2"
            )
        );
        assert_eq!(
            check(json!({"requests": {"example.com/gpu": "1"}})),
            one(
                "spec.containers[0].resources.limits",
                "Required value: Limit must be set for non overcommitable resources"
            )
        );
        assert_eq!(
            check(json!({"limits": {"example.com/gpu": "500m"}})),
            one("spec.containers[0].resources.limits[example.com/gpu]", "Invalid value: 500m: must be an integer")
        );
    }

    #[test]
    fn resource_names_are_checked() {
        assert_eq!(
            check(json!({"limits": {"pods": "1"}})),
            one(
                "spec.containers[0].resources.limits[pods]",
                "Invalid value: pods: must be a standard resource for containers"
            )
        );
        assert_eq!(
            check(json!({"limits": {"cpus": "1"}})),
            vec![
                (
                    "spec.containers[0].resources.limits[cpus]".to_string(),
                    "Invalid value: cpus: must be a standard resource type or fully qualified".to_string()
                ),
                (
                    "spec.containers[0].resources.limits[cpus]".to_string(),
                    "Invalid value: cpus: must be a standard resource for containers".to_string()
                ),
            ]
        );
    }

    fn quota(list: Value) -> Vec<String> {
        let mut causes = Vec::new();
        quota_resources(Some(&list), "spec.hard", &mut causes);
        causes.iter().map(Cause::summary).collect()
    }

    #[test]
    fn quota_resources_are_checked() {
        let ok = json!({"pods": "10", "requests.cpu": "1", "count/deployments.apps": "2",
            "requests.hugepages-2Mi": "1Gi", "example.com/gpu": "4", "services.loadbalancers": "0"});
        assert_eq!(quota(ok), Vec::<String>::new());
        assert_eq!(
            quota(json!({"requests.cpu": "-1"})),
            ["spec.hard[requests.cpu]: Invalid value: \"-1\": must be greater than or equal to 0"]
        );
        assert_eq!(
            quota(json!({"pods": "1500m", "example.com/gpu": "500m"})),
            [
                "spec.hard[example.com/gpu]: Invalid value: 500m: must be an integer",
                "spec.hard[pods]: Invalid value: 1500m: must be an integer",
            ]
        );
        assert_eq!(
            quota(json!({"storage": "1Gi", "cpus": "1"})),
            [
                "spec.hard[cpus]: Invalid value: cpus: must be a standard resource type or fully qualified",
                "spec.hard[cpus]: Invalid value: cpus: must be a standard resource for quota",
                "spec.hard[storage]: Invalid value: storage: must be a standard resource for quota",
            ]
        );
        assert_eq!(quota(json!({"/x": "1"})), ["spec.hard[/x]: Invalid value: /x: prefix part must be non-empty"]);
    }

    #[test]
    fn overhead_is_checked() {
        let mut causes = Vec::new();
        let o = json!({"cpu": "-250m", "memory": "120Mi"});
        overhead(o.as_object(), "spec.overhead", &mut causes);
        let got: Vec<(&str, &str)> = causes.iter().map(|c| (c.field.as_str(), c.message.as_str())).collect();
        assert_eq!(got, [("spec.overhead[cpu]", "Invalid value: \"-250m\": must be greater than or equal to 0")]);
    }
}
