//! RuntimeClasses (`ValidateRuntimeClass`, `ValidateRuntimeClassUpdate`): a handler
//! named as a DNS label and fixed once created, pod overhead checked as container
//! limits are, and scheduling constraints as a pod's.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::common::invalid_shown;
use super::common::{dns1123_label, qualified_name, set, text};
use super::gostr;
use super::rules::{invalid_each, label_value, labels};
use crate::Cause;

const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

pub fn runtime_class(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let handler = text(Some(obj), "handler").unwrap_or("");
    invalid_each("handler", handler, dns1123_label(handler), causes);
    if let Some(pod_fixed) = obj.pointer("/overhead/podFixed").filter(|p| !p.is_null()) {
        // Upstream reuses container resource checks, so the path says `limits`.
        super::resources::requirements(Some(&json!({"limits": pod_fixed})), "overhead", causes);
    }
    if let Some(scheduling) = set(Some(obj), "scheduling") {
        if let Some(selector) = set(Some(scheduling), "nodeSelector") {
            labels(selector, "scheduling.nodeSelector", causes);
        }
        let list = scheduling.get("tolerations");
        tolerations(list, "scheduling.tolerations", causes);
        let mut seen = HashSet::new();
        for (i, t) in list.and_then(Value::as_array).into_iter().flatten().enumerate() {
            let key: Vec<&str> =
                ["key", "operator", "value", "effect"].iter().map(|k| text(Some(t), k).unwrap_or("")).collect();
            if !seen.insert(key) {
                causes.push(duplicate_shown(format!("scheduling.tolerations[{i}]"), &go_toleration(t)));
            }
        }
    }
    if let Some(old) = old {
        if text(Some(old), "handler").unwrap_or("") != handler {
            causes.push(Cause::invalid("handler", &json!(handler), "field is immutable"));
        }
    }
}

/// A Duplicate cause whose value Go prints with `%#v`.
fn duplicate_shown(field: String, shown: &str) -> Cause {
    Cause { reason: "FieldValueDuplicate".into(), message: format!("Duplicate value: {shown}"), field }
}

/// `%#v` of a `core.Toleration`.
fn go_toleration(t: &Value) -> String {
    let f = |k| format!("{:?}", text(Some(t), k).unwrap_or(""));
    format!(
        "core.Toleration{{Key:{}, Operator:{}, Value:{}, Effect:{}, TolerationSeconds:{}}}",
        f("key"),
        f("operator"),
        f("value"),
        f("effect"),
        gostr::pointer("int64", set(Some(t), "tolerationSeconds").is_some())
    )
}

/// `ValidateTolerations`: keys as label keys, an empty key only with `Exists`,
/// values as label values (none with `Exists`), and known effects.
pub(super) fn tolerations(list: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    for (i, t) in list.and_then(Value::as_array).into_iter().flatten().enumerate() {
        let idx = format!("{at}[{i}]");
        let get = |k| text(Some(t), k).unwrap_or("");
        let (key, operator, value, effect) = (get("key"), get("operator"), get("value"), get("effect"));
        if !key.is_empty() {
            invalid_each(&format!("{idx}.key"), key, qualified_name(key), causes);
        }
        if key.is_empty() && operator != "Exists" {
            causes.push(Cause::invalid(
                format!("{idx}.operator"),
                &json!(operator),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if set(Some(t), "tolerationSeconds").is_some() && effect != "NoExecute" {
            causes.push(Cause::invalid(
                format!("{idx}.effect"),
                &json!(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let errs = label_value(value);
                if !errs.is_empty() {
                    causes.push(Cause::invalid(format!("{idx}.operator"), &json!(value), errs.join(";")));
                }
            }
            "Exists" if !value.is_empty() => causes.push(invalid_shown(
                format!("{idx}.operator"),
                go_toleration(t),
                "value must be empty when `operator` is 'Exists'",
            )),
            "Exists" => {}
            _ => causes.push(Cause::not_supported(format!("{idx}.operator"), &json!(operator), &["Equal", "Exists"])),
        }
        if !effect.is_empty() && !EFFECTS.contains(&effect) {
            causes.push(Cause::not_supported(format!("{idx}.effect"), &json!(effect), &EFFECTS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::DNS1123_LABEL_MESSAGE;

    fn valid() -> Value {
        json!({"metadata": {"name": "gvisor"}, "handler": "runsc",
            "overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}},
            "scheduling": {"nodeSelector": {"runtime": "gvisor"},
                "tolerations": [{"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "zone", "value": "a", "effect": "NoExecute", "tolerationSeconds": 30},
                    {"operator": "Exists"}]}})
    }

    fn check(obj: &Value, old: Option<&Value>) -> Vec<String> {
        let mut causes = Vec::new();
        runtime_class(obj, old, &mut causes);
        causes.iter().map(Cause::summary).collect()
    }

    fn with(patch: Value) -> Value {
        let mut obj = valid();
        for (k, v) in patch.as_object().unwrap() {
            obj[k] = v.clone();
        }
        obj
    }

    #[test]
    fn valid_runtime_classes_pass() {
        assert_eq!(check(&valid(), None), Vec::<String>::new());
        assert_eq!(check(&json!({"metadata": {"name": "runc"}, "handler": "runc"}), None), Vec::<String>::new());
        assert_eq!(check(&valid(), Some(&valid())), Vec::<String>::new());
    }

    #[test]
    fn each_invalid_runtime_class_gives_upstream_causes() {
        let label_value = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
        let cases: Vec<(Value, Vec<String>)> = vec![
            (json!({"handler": ""}), vec![format!(r#"handler: Invalid value: "": {DNS1123_LABEL_MESSAGE}"#)]),
            (json!({"handler": "run.sc"}), vec![r#"handler: Invalid value: "run.sc": must not contain dots"#.into()]),
            (
                json!({"overhead": {"podFixed": {"cpu": "-1", "nvidia.com/gpu": "1"}}}),
                vec![
                    r#"overhead.limits[cpu]: Invalid value: "-1": must be greater than or equal to 0"#.into(),
                ],
            ),
            (
                json!({"scheduling": {"nodeSelector": {"bad key!": "v"}}}),
                vec![r#"scheduling.nodeSelector: Invalid value: "bad key!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"#.into()],
            ),
            (
                json!({"scheduling": {"tolerations": [
                    {"operator": "Equal", "value": "x"},
                    {"key": "k", "operator": "Exists", "value": "v", "tolerationSeconds": 5, "effect": "NoSchedule"},
                    {"key": "k", "operator": "Lt", "effect": "Never"},
                    {"key": "k", "value": "a b"},
                    {"key": "k", "value": "a b"}]}}),
                vec![
                    r#"scheduling.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys""#.into(),
                    r#"scheduling.tolerations[1].effect: Invalid value: "NoSchedule": effect must be 'NoExecute' when `tolerationSeconds` is set"#.into(),
                    r#"scheduling.tolerations[1].operator: Invalid value: core.Toleration{Key:"k", Operator:"Exists", Value:"v", Effect:"NoSchedule", TolerationSeconds:(*int64)(0xc000000000)}: value must be empty when `operator` is 'Exists'"#.into(),
                    r#"scheduling.tolerations[2].operator: Unsupported value: "Lt": supported values: "Equal", "Exists""#.into(),
                    r#"scheduling.tolerations[2].effect: Unsupported value: "Never": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute""#.into(),
                    format!(r#"scheduling.tolerations[3].operator: Invalid value: "a b": {label_value}"#),
                    format!(r#"scheduling.tolerations[4].operator: Invalid value: "a b": {label_value}"#),
                    r#"scheduling.tolerations[4]: Duplicate value: core.Toleration{Key:"k", Operator:"", Value:"a b", Effect:"", TolerationSeconds:(*int64)(nil)}"#.into(),
                ],
            ),
        ];
        for (patch, want) in cases {
            assert_eq!(check(&with(patch.clone()), None), want, "{patch}");
        }
    }

    #[test]
    fn the_handler_is_fixed() {
        assert_eq!(
            check(&with(json!({"handler": "kata"})), Some(&valid())),
            [r#"handler: Invalid value: "kata": field is immutable"#]
        );
    }
}
