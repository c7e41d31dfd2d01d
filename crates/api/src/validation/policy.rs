//! PodDisruptionBudgets (`ValidatePodDisruptionBudgetSpec`) and PriorityClasses
//! (`ValidatePriorityClass`, `ValidatePriorityClassUpdate`): the two objects
//! that decide which pods may be disrupted or preempted.

use serde_json::{json, Value};

use super::common::{invalid_shown, label_selector, set};
use crate::Cause;

pub(super) const PERCENT: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

pub fn disruption_budget(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    let (min, max) = (set(spec, "minAvailable"), set(spec, "maxUnavailable"));
    if min.is_some() && max.is_some() {
        // Upstream shows the whole spec (as Go prints a struct); here it is JSON.
        let shown = spec.cloned().unwrap_or(Value::Null);
        causes.push(Cause::invalid("spec", &shown, "minAvailable and maxUnavailable cannot be both set"));
    }
    for (field, value) in [("minAvailable", min), ("maxUnavailable", max)] {
        if let Some(v) = value {
            int_or_percent(v, &format!("spec.{field}"), causes);
        }
    }
    label_selector(set(spec, "selector"), "spec.selector", causes);
    if let Some(policy) = set(spec, "unhealthyPodEvictionPolicy") {
        if !matches!(policy.as_str(), Some("IfHealthyBudget" | "AlwaysAllow")) {
            causes.push(Cause::not_supported(
                "spec.unhealthyPodEvictionPolicy",
                policy,
                &["AlwaysAllow", "IfHealthyBudget"],
            ));
        }
    }
}

/// `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`. An int-or-string
/// prints bare in upstream's messages (its `String()`), quoted or not.
fn int_or_percent(v: &Value, at: &str, causes: &mut Vec<Cause>) {
    match v {
        Value::String(s) => match percent(s) {
            None => causes.push(invalid_shown(at, s, PERCENT)),
            Some(p) if p > 100 => causes.push(invalid_shown(at, s, "must not be greater than 100%")),
            Some(_) => {}
        },
        Value::Number(n) if n.as_f64().is_some_and(|f| f < 0.0) => {
            causes.push(invalid_shown(at, n, "must be greater than or equal to 0"))
        }
        _ => {}
    }
}

/// The number in `[0-9]+%`; too large to read counts as too large (Go's `Atoi`
/// gives its maximum).
pub(super) fn percent(s: &str) -> Option<u64> {
    let digits = s.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// The highest priority a class not named `system-...` may have.
const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;

/// The classes upstream creates itself, the only ones allowed the `system-` prefix.
const SYSTEM_CLASSES: [(&str, i64); 2] = [
    ("system-node-critical", 2 * HIGHEST_USER_PRIORITY + 1000),
    ("system-cluster-critical", 2 * HIGHEST_USER_PRIORITY),
];

pub fn priority_class(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let value = obj.get("value").and_then(Value::as_i64).unwrap_or(0);
    if name.starts_with("system-") {
        let global = obj.get("globalDefault").and_then(Value::as_bool).unwrap_or(false);
        let problem = match SYSTEM_CLASSES.iter().find(|(n, _)| *n == name) {
            None => Some(format!("{name} is not a known system priority class")),
            Some((n, v)) if *v != value => Some(format!("value of {n} PriorityClass must be {v}")),
            Some((n, _)) if global => Some(format!("globalDefault of {n} PriorityClass must be false")),
            Some(_) => None,
        };
        if let Some(problem) = problem {
            causes.push(Cause::forbidden(
                "metadata.name",
                format!(
                    "priority class names with 'system-' prefix are reserved for system use only. error: {problem}"
                ),
            ));
        }
    } else if value > HIGHEST_USER_PRIORITY {
        causes.push(Cause::forbidden(
            "value",
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
        ));
    }
    match set(Some(obj), "preemptionPolicy") {
        Some(p) if matches!(p.as_str(), Some("PreemptLowerPriority" | "Never")) => {}
        Some(p) if p.as_str() == Some("") => causes.push(Cause::required("preemptionPolicy")),
        Some(p) => causes.push(Cause::not_supported("preemptionPolicy", p, &["PreemptLowerPriority", "Never"])),
        None => {}
    }
    if let Some(old) = old {
        if old.get("value").and_then(Value::as_i64).unwrap_or(0) != value {
            causes.push(Cause::forbidden("value", "may not be changed in an update."));
        }
        // Upstream defaults the policy, so a class without one has the default.
        let policy =
            |v: &Value| v.get("preemptionPolicy").and_then(Value::as_str).unwrap_or("PreemptLowerPriority").to_string();
        if policy(obj) != policy(old) {
            causes.push(Cause::invalid("preemptionPolicy", &json!(policy(obj)), "field is immutable"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::validation::testing::summaries;

    fn budget(spec: Value) -> Vec<String> {
        let mut causes = Vec::new();
        disruption_budget(&json!({"metadata": {"name": "web"}, "spec": spec}), &mut causes);
        summaries(&causes)
    }

    #[test]
    fn valid_budgets_pass() {
        let selector = json!({"matchLabels": {"app": "web"}});
        for spec in [
            json!({"minAvailable": 2, "selector": selector}),
            json!({"minAvailable": "50%", "selector": selector}),
            json!({"maxUnavailable": 0, "selector": selector, "unhealthyPodEvictionPolicy": "AlwaysAllow"}),
            json!({"maxUnavailable": "100%"}),
            json!({}),
        ] {
            assert_eq!(budget(spec.clone()), Vec::<String>::new(), "{spec}");
        }
    }

    #[test]
    fn each_invalid_budget_gives_upstream_causes() {
        let cases = [
            (
                json!({"minAvailable": 1, "maxUnavailable": 1}),
                vec![r#"spec: Invalid value: {"maxUnavailable":1,"minAvailable":1}: minAvailable and maxUnavailable cannot be both set"#.to_string()],
            ),
            (json!({"minAvailable": -1}), vec!["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0".to_string()]),
            (json!({"maxUnavailable": "half"}), vec![format!("spec.maxUnavailable: Invalid value: half: {PERCENT}")]),
            (json!({"minAvailable": "5"}), vec![format!("spec.minAvailable: Invalid value: 5: {PERCENT}")]),
            (
                json!({"maxUnavailable": "120%"}),
                vec!["spec.maxUnavailable: Invalid value: 120%: must not be greater than 100%".to_string()],
            ),
            (
                json!({"unhealthyPodEvictionPolicy": "Sometimes"}),
                vec![r#"spec.unhealthyPodEvictionPolicy: Unsupported value: "Sometimes": supported values: "AlwaysAllow", "IfHealthyBudget""#.to_string()],
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(budget(spec.clone()), want, "{spec}");
        }
        let bad_selector = budget(json!({"selector": {"matchLabels": {"app": "-web-"}}}));
        assert_eq!(bad_selector.len(), 1);
        assert!(
            bad_selector[0].starts_with(r#"spec.selector.matchLabels: Invalid value: "-web-": a valid label must be "#),
            "{bad_selector:?}"
        );
    }

    fn class(obj: Value, old: Option<Value>) -> Vec<String> {
        let mut causes = Vec::new();
        priority_class(&obj, old.as_ref(), &mut causes);
        summaries(&causes)
    }

    fn pc(name: &str, value: i64) -> Value {
        json!({"metadata": {"name": name}, "value": value})
    }

    #[test]
    fn user_classes_stay_below_the_system_ones() {
        assert!(class(pc("high", 1_000_000_000), None).is_empty());
        assert!(class(pc("system-cluster-critical", 2_000_000_000), None).is_empty());
        assert!(class(pc("system-node-critical", 2_000_001_000), None).is_empty());
        assert_eq!(
            class(pc("high", 1_000_000_001), None),
            ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        );
        let reserved = "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: ";
        assert_eq!(
            class(pc("system-mine", 5), None),
            [format!("{reserved}system-mine is not a known system priority class")]
        );
        assert_eq!(
            class(pc("system-node-critical", 5), None),
            [format!("{reserved}value of system-node-critical PriorityClass must be 2000001000")]
        );
        let mut global = pc("system-cluster-critical", 2_000_000_000);
        global["globalDefault"] = json!(true);
        assert_eq!(
            class(global, None),
            [format!("{reserved}globalDefault of system-cluster-critical PriorityClass must be false")]
        );
    }

    #[test]
    fn the_preemption_policy_is_checked_and_with_the_value_fixed() {
        let mut never = pc("batch", 10);
        never["preemptionPolicy"] = json!("Never");
        assert!(class(never.clone(), None).is_empty());
        let mut bad = pc("batch", 10);
        bad["preemptionPolicy"] = json!("Sometimes");
        assert_eq!(
            class(bad, None),
            [r#"preemptionPolicy: Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never""#]
        );
        let mut empty = pc("batch", 10);
        empty["preemptionPolicy"] = json!("");
        assert_eq!(class(empty, None), ["preemptionPolicy: Required value"]);

        let mut described = pc("batch", 10);
        described["description"] = json!("batch jobs");
        assert!(class(described, Some(pc("batch", 10))).is_empty());
        let mut spelled = pc("batch", 10);
        spelled["preemptionPolicy"] = json!("PreemptLowerPriority");
        assert!(class(spelled, Some(pc("batch", 10))).is_empty(), "the default, spelled out");
        assert_eq!(
            class(never, Some(pc("batch", 20))),
            [
                "value: Forbidden: may not be changed in an update.",
                r#"preemptionPolicy: Invalid value: "Never": field is immutable"#,
            ]
        );
    }
}
