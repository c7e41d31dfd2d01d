//! LimitRanges (`ValidateLimitRange`): each item's type and resource names, and
//! that its bounds are ordered: min ≤ defaultRequest ≤ default ≤ max, and a
//! limit/request ratio of at least 1 that max/min leaves room for.
//!
//! Upstream does not check the amounts' signs here (a negative min passes), and
//! compares resources in Go's map order; here they go in name order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{json, Value};

use super::common::{invalid_shown, quantity_cmp, text};
use super::resources::{container_resource_name, overcommit_allowed, resource_name};
use super::rules::{invalid_each, qualified_name};
use crate::quantity::{canonical, parse_scaled};
use crate::Cause;

/// resource name → quantity text, of one of an item's lists.
type List<'a> = BTreeMap<&'a str, &'a str>;

pub fn limit_range(obj: &Value, causes: &mut Vec<Cause>) {
    let items = obj.pointer("/spec/limits").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    let mut types = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("spec.limits[{i}]");
        let ty = text(Some(item), "type").unwrap_or("");
        type_name(ty, &format!("{at}.type"), causes);
        if !types.insert(ty) {
            causes.push(Cause::duplicate(format!("{at}.type"), &json!(ty)));
        }
        let mut keys = BTreeSet::new();
        let max = list(item, "max", ty, &at, &mut keys, causes);
        let min = list(item, "min", ty, &at, &mut keys, causes);
        let (default, default_request) = if ty == "Pod" {
            for field in ["default", "defaultRequest"] {
                if item.get(field).and_then(Value::as_object).is_some_and(|m| !m.is_empty()) {
                    causes.push(Cause::forbidden(format!("{at}.{field}"), "may not be specified when `type` is 'Pod'"));
                }
            }
            (List::new(), List::new())
        } else {
            let default = list(item, "default", ty, &at, &mut keys, causes);
            (default, list(item, "defaultRequest", ty, &at, &mut keys, causes))
        };
        if ty == "PersistentVolumeClaim" && !min.contains_key("storage") && !max.contains_key("storage") {
            causes.push(Cause::required_because(
                format!("{at}.limits"),
                "either minimum or maximum storage value is required, but neither was provided",
            ));
        }
        let ratio = list(item, "maxLimitRequestRatio", ty, &at, &mut keys, causes);
        let bounds = Bounds { min, max, default, default_request, ratio };
        for k in keys {
            bounds.check(k, &at, causes);
        }
    }
}

/// `validateLimitRangeTypeName`: Pod, Container, PersistentVolumeClaim or a
/// qualified name with a prefix.
fn type_name(ty: &str, at: &str, causes: &mut Vec<Cause>) {
    let errs = qualified_name(ty);
    if !errs.is_empty() {
        invalid_each(at, ty, errs, causes);
    } else if !ty.contains('/') && !matches!(ty, "Pod" | "Container" | "PersistentVolumeClaim") {
        causes.push(Cause::invalid(at, &json!(ty), "must be a standard limit type or fully qualified"));
    }
}

/// An item's list `field`, its names checked (container resources for Pod and
/// Container items, any resource otherwise) and added to `keys`.
fn list<'a>(
    item: &'a Value,
    field: &str,
    ty: &str,
    at: &str,
    keys: &mut BTreeSet<&'a str>,
    causes: &mut Vec<Cause>,
) -> List<'a> {
    let mut out = List::new();
    for (name, q) in item.get(field).and_then(Value::as_object).into_iter().flatten() {
        let key = format!("{at}.{field}[{name}]");
        if matches!(ty, "Pod" | "Container") {
            container_resource_name(name, &key, causes);
        } else {
            resource_name(name, &key, causes);
        }
        keys.insert(name.as_str());
        if let Some(q) = q.as_str() {
            out.insert(name.as_str(), q);
        }
    }
    out
}

struct Bounds<'a> {
    min: List<'a>,
    max: List<'a>,
    default: List<'a>,
    default_request: List<'a>,
    ratio: List<'a>,
}

impl<'a> Bounds<'a> {
    /// Upstream's checks of one resource, in its order. Each message names the
    /// quantities as Go prints them (canonical form); the value shown is the one
    /// upstream passes, which is not always the field's own.
    fn check(&self, k: &str, at: &str, causes: &mut Vec<Cause>) {
        let get = |l: &List<'a>| l.get(k).copied();
        let (min, max, default, request, ratio) =
            (get(&self.min), get(&self.max), get(&self.default), get(&self.default_request), get(&self.ratio));
        let greater = |a: Option<&str>, b: Option<&str>| match (a, b) {
            (Some(a), Some(b)) if quantity_cmp(a, b) == Ordering::Greater => Some((canonical(a), canonical(b))),
            _ => None,
        };
        let key = |field: &str| format!("{at}.{field}[{k}]");
        if let Some((mn, mx)) = greater(min, max) {
            causes.push(invalid_shown(key("min"), &mn, format!("min value {mn} is greater than max value {mx}")));
        }
        if let Some((mn, r)) = greater(min, request) {
            causes.push(invalid_shown(
                key("defaultRequest"),
                &r,
                format!("min value {mn} is greater than default request value {r}"),
            ));
        }
        if let Some((r, mx)) = greater(request, max) {
            causes.push(invalid_shown(
                key("defaultRequest"),
                &r,
                format!("default request value {r} is greater than max value {mx}"),
            ));
        }
        if let Some((r, d)) = greater(request, default) {
            causes.push(invalid_shown(
                key("defaultRequest"),
                &r,
                format!("default request value {r} is greater than default limit value {d}"),
            ));
        }
        if let Some((mn, d)) = greater(min, default) {
            causes.push(invalid_shown(
                key("default"),
                &mn,
                format!("min value {mn} is greater than default value {d}"),
            ));
        }
        if let Some((d, mx)) = greater(default, max) {
            causes.push(invalid_shown(
                key("default"),
                &mx,
                format!("default value {d} is greater than max value {mx}"),
            ));
        }
        if let Some(ratio) = ratio {
            let shown = canonical(ratio);
            if quantity_cmp(ratio, "1") == Ordering::Less {
                causes.push(invalid_shown(
                    key("maxLimitRequestRatio"),
                    &shown,
                    format!("ratio {shown} is less than 1"),
                ));
            }
            if let (Some(min), Some(max)) = (min, max) {
                let limit = ratio_limit(min, max);
                if ratio_value(ratio, min, max) > limit {
                    causes.push(invalid_shown(
                        key("maxLimitRequestRatio"),
                        &shown,
                        format!("ratio {shown} is greater than max/min = {limit:.6}"),
                    ));
                }
            }
        }
        if let (Some(d), Some(r)) = (default, request) {
            if !overcommit_allowed(k) && quantity_cmp(d, r) != Ordering::Equal {
                let (d, r) = (canonical(d), canonical(r));
                causes.push(invalid_shown(
                    key("defaultRequest"),
                    &r,
                    format!("default value {d} must equal to defaultRequest value {r} in {k}"),
                ));
            }
        }
    }
}

/// Upstream's `MaxMilliValue`: beyond it, milli-units overflow and whole units are used.
const MAX_MILLI: i64 = i64::MAX / 1000;

fn in_milli(qs: &[&str]) -> bool {
    qs.iter().all(|q| parse_scaled(q, 0).unwrap_or(0) < MAX_MILLI)
}

fn scaled(q: &str, milli: bool) -> i64 {
    parse_scaled(q, if milli { 3 } else { 0 }).unwrap_or(0)
}

/// max/min as a float (infinite or NaN for a zero min, as in Go: never exceeded).
fn ratio_limit(min: &str, max: &str) -> f64 {
    let milli = in_milli(&[min, max]);
    scaled(max, milli) as f64 / scaled(min, milli) as f64
}

fn ratio_value(ratio: &str, min: &str, max: &str) -> f64 {
    if in_milli(&[ratio, min, max]) {
        scaled(ratio, true) as f64 / 1000.0
    } else {
        scaled(ratio, false) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: [String; 0] = [];

    /// Validates `limits` as the server does: after upstream's defaulting.
    fn check(limits: Value) -> Vec<String> {
        let mut obj = json!({"metadata": {"name": "lr"}, "spec": {"limits": limits}});
        crate::defaults::apply("", "LimitRange", &mut obj);
        let mut causes = Vec::new();
        limit_range(&obj, &mut causes);
        causes.iter().map(Cause::summary).collect()
    }

    #[test]
    fn valid_limit_ranges_pass() {
        for limits in [
            json!([]),
            json!([{"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "100m"},
                "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "200m"}, "maxLimitRequestRatio": {"cpu": "10"}}]),
            json!([{"type": "Pod", "max": {"cpu": "4"}, "min": {"memory": "1Mi"}}]),
            json!([{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}]),
            json!([{"type": "Container", "default": {"example.com/gpu": "1", "hugepages-2Mi": "4Mi", "memory": "1Gi"}}]),
            json!([{"type": "example.com/custom", "max": {"example.com/foo": "3"}}]),
            json!([{"type": "Container", "min": {"cpu": "1"}, "max": {"cpu": "4"}, "maxLimitRequestRatio": {"cpu": "4"}}]),
        ] {
            assert_eq!(check(limits.clone()), NONE, "{limits}");
        }
    }

    #[test]
    fn types_are_standard_or_qualified_and_unique() {
        assert_eq!(
            check(json!([{"type": "Node"}, {"type": "Pod"}, {"type": "Pod"}])),
            [
                r#"spec.limits[0].type: Invalid value: "Node": must be a standard limit type or fully qualified"#,
                r#"spec.limits[2].type: Duplicate value: "Pod""#,
            ]
        );
        assert_eq!(
            check(json!([{"type": "a/b/c"}])),
            [format!("spec.limits[0].type: Invalid value: \"a/b/c\": {}", qualified_name("a/b/c")[0])]
        );
        assert_eq!(check(json!([{}])).len(), 2, "an empty type is neither non-empty nor a name");
    }

    #[test]
    fn resource_names_follow_the_item_type() {
        assert_eq!(
            check(json!([{"type": "Pod", "max": {"storage": "1Gi"}}])),
            ["spec.limits[0].max[storage]: Invalid value: storage: must be a standard resource for containers"]
        );
        assert_eq!(
            check(json!([{"type": "PersistentVolumeClaim", "max": {"storage": "1Gi", "disk": "1"}}])),
            ["spec.limits[0].max[disk]: Invalid value: disk: must be a standard resource type or fully qualified"]
        );
    }

    #[test]
    fn pod_items_have_no_defaults_and_claims_need_storage_bounds() {
        assert_eq!(
            check(json!([{"type": "Pod", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "1"}}])),
            [
                "spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'",
                "spec.limits[0].defaultRequest: Forbidden: may not be specified when `type` is 'Pod'",
            ]
        );
        assert_eq!(
            check(json!([{"type": "PersistentVolumeClaim", "max": {"requests.storage": "1Gi"}}])),
            ["spec.limits[0].limits: Required value: either minimum or maximum storage value is required, but neither was provided"]
        );
    }

    #[test]
    fn bounds_are_ordered() {
        // Defaulting copies max into default and default into defaultRequest, so
        // a min above max is also above both defaults.
        assert_eq!(
            check(json!([{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1000m"}}])),
            [
                "spec.limits[0].min[cpu]: Invalid value: 2: min value 2 is greater than max value 1",
                "spec.limits[0].defaultRequest[cpu]: Invalid value: 1: min value 2 is greater than default request value 1",
                "spec.limits[0].default[cpu]: Invalid value: 2: min value 2 is greater than default value 1",
            ]
        );
        assert_eq!(
            check(json!([{"type": "Container", "max": {"memory": "1Gi"}, "default": {"memory": "2Gi"},
                "defaultRequest": {"memory": "3Gi"}}])),
            [
                "spec.limits[0].defaultRequest[memory]: Invalid value: 3Gi: default request value 3Gi is greater than max value 1Gi",
                "spec.limits[0].defaultRequest[memory]: Invalid value: 3Gi: default request value 3Gi is greater than default limit value 2Gi",
                "spec.limits[0].default[memory]: Invalid value: 1Gi: default value 2Gi is greater than max value 1Gi",
            ]
        );
    }

    #[test]
    fn ratios_are_at_least_one_and_within_max_over_min() {
        assert_eq!(
            check(json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "500m"}}])),
            ["spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: 500m: ratio 500m is less than 1"]
        );
        assert_eq!(
            check(json!([{"type": "Pod", "min": {"memory": "1Gi"}, "max": {"memory": "3Gi"},
                "maxLimitRequestRatio": {"memory": "3500m"}}])),
            ["spec.limits[0].maxLimitRequestRatio[memory]: Invalid value: 3500m: ratio 3500m is greater than max/min = 3.000000"]
        );
    }

    #[test]
    fn resources_that_cannot_overcommit_need_equal_defaults() {
        assert_eq!(
            check(json!([{"type": "Container", "default": {"example.com/gpu": "2"},
                "defaultRequest": {"example.com/gpu": "1"}}])),
            ["spec.limits[0].defaultRequest[example.com/gpu]: Invalid value: 1: default value 2 must equal to defaultRequest value 1 in example.com/gpu"]
        );
    }
}
