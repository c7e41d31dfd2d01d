//! The apps kinds as upstream's `ValidateDeployment`, `ValidateReplicaSet`,
//! `ValidateStatefulSet` and `ValidateDaemonSet` (with their updates and the
//! selector immutability their apps/v1 strategies add), `ValidateControllerRevision`,
//! and core's `ValidateReplicationController`, in upstream's order of causes.
//!
//! A StatefulSet's pod template is not validated as a pod spec (upstream leaves it
//! to pod creation), nor are its volume claim templates (upstream 1.32 does not
//! check them; 1.34 does). `updateStrategy.rollingUpdate.maxUnavailable` is not
//! checked: upstream 1.32 drops it (MaxUnavailableStatefulSet is off) before
//! validating.

use serde_json::{json, Value};

use super::common::{invalid_shown, same, set, text};
use super::gostr;
use super::policy::{percent, PERCENT};
use super::rules::labels;
use crate::selector::LabelSelector;
use crate::Cause;

const NEGATIVE: &str = "must be greater than or equal to 0";

pub fn workload(kind: &str, obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    match kind {
        "Deployment" => {
            replicas(spec, causes);
            selector_and_template(kind, spec, causes);
            deployment_strategy(spec, causes);
            non_negative(spec, "minReadySeconds", causes);
            non_negative(spec, "revisionHistoryLimit", causes);
            if let Some(deadline) = set(spec, "progressDeadlineSeconds") {
                non_negative(spec, "progressDeadlineSeconds", causes);
                let min_ready = set(spec, "minReadySeconds").and_then(Value::as_i64).unwrap_or(0);
                if deadline.as_i64().is_some_and(|d| d <= min_ready) {
                    causes.push(Cause::invalid(
                        "spec.progressDeadlineSeconds",
                        deadline,
                        "must be greater than minReadySeconds",
                    ));
                }
            }
        }
        "ReplicaSet" => {
            replicas(spec, causes);
            non_negative(spec, "minReadySeconds", causes);
            selector_and_template(kind, spec, causes);
        }
        "StatefulSet" => {
            stateful_set_policies(spec, causes);
            replicas(spec, causes);
            non_negative(spec, "minReadySeconds", causes);
            if let Some(start) = spec.and_then(|s| s.pointer("/ordinals/start")).filter(|s| is_negative(s)) {
                causes.push(Cause::invalid("spec.ordinals.start", start, NEGATIVE));
            }
            selector_and_template(kind, spec, causes);
        }
        "DaemonSet" => {
            selector_and_template(kind, spec, causes);
            non_negative(spec, "minReadySeconds", causes);
            daemon_set_strategy(spec, causes);
            non_negative(spec, "revisionHistoryLimit", causes);
        }
        _ => {}
    }
    let Some(old) = old else { return };
    if kind == "StatefulSet" {
        stateful_set_update(spec, old.get("spec"), causes);
    } else if !same(set(spec, "selector"), set(old.get("spec"), "selector")) {
        causes.push(invalid_shown("spec.selector", gostr::label_selector(set(spec, "selector")), "field is immutable"));
    }
}

fn is_negative(v: &Value) -> bool {
    v.as_i64().is_some_and(|n| n < 0)
}

fn non_negative(spec: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    if let Some(v) = set(spec, field).filter(|v| is_negative(v)) {
        causes.push(Cause::invalid(format!("spec.{field}"), v, NEGATIVE));
    }
}

fn replicas(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    if let Some(r) = set(spec, "replicas").filter(|r| !super::int_in(r, 0, i32::MAX as i64)) {
        causes.push(Cause::invalid("spec.replicas", r, NEGATIVE));
    }
}

/// An Unsupported cause whose value Go prints with `%#v`.
fn not_supported_shown(field: &str, shown: &str, supported: &[&str]) -> Cause {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    Cause {
        reason: "FieldValueNotSupported".into(),
        message: format!("Unsupported value: {shown}: supported values: {}", list.join(", ")),
        field: field.into(),
    }
}

/// The selector (required, well formed, not empty) and the pod template it must
/// select, with each kind's differences in what is checked and in which order.
fn selector_and_template(kind: &str, spec: Option<&Value>, causes: &mut Vec<Cause>) {
    let sel = set(spec, "selector");
    let parsed = sel.map(LabelSelector::from_structured);
    let empty = sel.is_some_and(|s| {
        let count = |k| s.get(k).and_then(|v| v.as_object().map(|m| m.len()).or(v.as_array().map(Vec::len)));
        count("matchLabels").unwrap_or(0) + count("matchExpressions").unwrap_or(0) == 0
    });
    let empty_cause = |what: &str| {
        invalid_shown("spec.selector", gostr::label_selector(sel), format!("empty selector is invalid for {what}"))
    };
    if kind == "DaemonSet" {
        super::common::label_selector(sel, "spec.selector", causes);
        if !parsed.as_ref().is_some_and(Result::is_err) {
            template_match(spec, causes);
        }
        if empty {
            causes.push(empty_cause("daemonset"));
        }
        template(kind, spec, causes);
        return;
    }
    match sel {
        None => causes.push(Cause::required("spec.selector")),
        Some(sel) => {
            super::rules::label_selector(sel, "spec.selector", causes);
            if empty {
                causes.push(empty_cause(if kind == "StatefulSet" { "statefulset" } else { "deployment" }));
            }
        }
    }
    if parsed.as_ref().is_some_and(Result::is_err) {
        let shown = gostr::label_selector(sel);
        causes.push(match kind {
            // Upstream gives no detail here.
            "StatefulSet" => Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {shown}"),
                field: "spec.selector".into(),
            },
            _ => invalid_shown("spec.selector", &shown, "invalid label selector"),
        });
        return;
    }
    template_match(spec, causes);
    template(kind, spec, causes);
}

/// The template's labels must be selected (a missing selector selects nothing; an
/// empty one everything, or, outside DaemonSets, is not checked).
fn template_match(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    let labels = spec.and_then(|s| s.pointer("/template/metadata/labels")).filter(|l| !l.is_null());
    let matches = match set(spec, "selector").map(LabelSelector::from_structured) {
        None => false,
        Some(Ok(s)) if s.is_empty() => true,
        Some(Ok(s)) => s.matches_object(&json!({"metadata": {"labels": labels.cloned().unwrap_or(json!({}))}})),
        Some(Err(_)) => true,
    };
    if !matches {
        causes.push(invalid_shown(
            "spec.template.metadata.labels",
            gostr::string_map(labels),
            "`selector` does not match template `labels`",
        ));
    }
}

/// The template itself: its labels, its pod spec (not for StatefulSets), and a
/// restart policy of `Always` with no active deadline.
fn template(kind: &str, spec: Option<&Value>, causes: &mut Vec<Cause>) {
    if let Some(l) = spec.and_then(|s| s.pointer("/template/metadata/labels")).filter(|l| !l.is_null()) {
        labels(l, "spec.template.labels", causes);
    }
    let pod = spec.and_then(|s| s.pointer("/template/spec"));
    if kind != "StatefulSet" {
        super::pod::pod_spec(pod, "spec.template.spec", causes);
    }
    restart_always(pod, "spec.template.spec", causes);
    if set(pod, "activeDeadlineSeconds").is_some() {
        let owner = match kind {
            "Deployment" => "ReplicaSet",
            other => other,
        };
        causes.push(Cause::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            format!("activeDeadlineSeconds in {owner} is not Supported"),
        ));
    }
}

fn restart_always(pod: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    let policy = text(pod, "restartPolicy").unwrap_or("");
    if policy != "Always" {
        causes.push(Cause::not_supported(format!("{at}.restartPolicy"), &json!(policy), &["Always"]));
    }
}

/// An int-or-string's value as upstream's `getIntOrPercentValue` reads it; a bad
/// string counts as what Go's `Atoi` makes of it (usually 0).
fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) => percent(s).map_or_else(|| s.parse().unwrap_or(0), |p| p as i64),
        Some(n) => n.as_i64().unwrap_or(0),
        None => 0,
    }
}

/// How Go prints an int-or-string (its `String()`): bare.
fn shown(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(n) => n.to_string(),
        None => "0".into(),
    }
}

/// `ValidatePositiveIntOrPercent`.
fn positive_int_or_percent(v: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    match v {
        Some(Value::String(s)) if percent(s).is_none() => causes.push(invalid_shown(at, s, PERCENT)),
        Some(n) if is_negative(n) => causes.push(invalid_shown(at, n, NEGATIVE)),
        _ => {}
    }
}

/// `IsNotMoreThan100Percent`.
fn at_most_100_percent(v: Option<&Value>, at: &str, causes: &mut Vec<Cause>) {
    if let Some(Value::String(s)) = v {
        if percent(s).is_some_and(|p| p > 100) {
            causes.push(invalid_shown(at, s, "must not be greater than 100%"));
        }
    }
}

fn deployment_strategy(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    let strategy = set(spec, "strategy");
    let rolling = set(strategy, "rollingUpdate");
    match text(strategy, "type").unwrap_or("") {
        "Recreate" if rolling.is_some() => causes.push(Cause::forbidden(
            "spec.strategy.rollingUpdate",
            "may not be specified when strategy `type` is 'Recreate'",
        )),
        "Recreate" => {}
        "RollingUpdate" => match rolling {
            None => causes.push(Cause::required_because(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let (unavailable, surge) = (set(Some(ru), "maxUnavailable"), set(Some(ru), "maxSurge"));
                let at = "spec.strategy.rollingUpdate";
                positive_int_or_percent(unavailable, &format!("{at}.maxUnavailable"), causes);
                positive_int_or_percent(surge, &format!("{at}.maxSurge"), causes);
                if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
                    causes.push(invalid_shown(
                        format!("{at}.maxUnavailable"),
                        shown(unavailable),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                at_most_100_percent(unavailable, &format!("{at}.maxUnavailable"), causes);
            }
        },
        t => causes.push(not_supported_shown(
            "spec.strategy",
            &format!(
                "apps.DeploymentStrategy{{Type:{t:?}, RollingUpdate:{}}}",
                gostr::pointer("apps.RollingUpdateDeployment", rolling.is_some())
            ),
            &["Recreate", "RollingUpdate"],
        )),
    }
}

fn daemon_set_strategy(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    let strategy = set(spec, "updateStrategy");
    let rolling = set(strategy, "rollingUpdate");
    let at = "spec.updateStrategy.rollingUpdate";
    match text(strategy, "type").unwrap_or("") {
        "OnDelete" => {}
        "RollingUpdate" => {
            let Some(ru) = rolling else {
                causes.push(Cause::required(at));
                return;
            };
            let (unavailable, surge) = (set(Some(ru), "maxUnavailable"), set(Some(ru), "maxSurge"));
            positive_int_or_percent(unavailable, &format!("{at}.maxUnavailable"), causes);
            positive_int_or_percent(surge, &format!("{at}.maxSurge"), causes);
            at_most_100_percent(unavailable, &format!("{at}.maxUnavailable"), causes);
            at_most_100_percent(surge, &format!("{at}.maxSurge"), causes);
            match (int_or_percent_value(unavailable) != 0, int_or_percent_value(surge) != 0) {
                (true, true) => causes.push(invalid_shown(
                    format!("{at}.maxSurge"),
                    shown(surge),
                    "may not be set when maxUnavailable is non-zero",
                )),
                (false, false) => causes
                    .push(Cause::required_because(format!("{at}.maxUnavailable"), "cannot be 0 when maxSurge is 0")),
                _ => {}
            }
        }
        t => causes.push(not_supported_shown(
            "spec.updateStrategy",
            &format!(
                "apps.DaemonSetUpdateStrategy{{Type:{t:?}, RollingUpdate:{}}}",
                gostr::pointer("apps.RollingUpdateDaemonSet", rolling.is_some())
            ),
            &["RollingUpdate", "OnDelete"],
        )),
    }
}

/// Pod management, update strategy and claim retention of a StatefulSet.
fn stateful_set_policies(spec: Option<&Value>, causes: &mut Vec<Cause>) {
    match text(spec, "podManagementPolicy").unwrap_or("") {
        "" => causes.push(Cause::required("spec.podManagementPolicy")),
        "OrderedReady" | "Parallel" => {}
        p => causes.push(Cause::invalid("spec.podManagementPolicy", &json!(p), "must be 'OrderedReady' or 'Parallel'")),
    }
    let strategy = set(spec, "updateStrategy");
    let rolling = set(strategy, "rollingUpdate");
    let rolling_shown = || {
        format!(
            "apps.RollingUpdateStatefulSetStrategy{{Partition:{}, MaxUnavailable:(*intstr.IntOrString)(nil)}}",
            rolling.and_then(|r| r.get("partition")).and_then(Value::as_i64).unwrap_or(0)
        )
    };
    match text(strategy, "type").unwrap_or("") {
        "" => causes.push(Cause::required("spec.updateStrategy")),
        "OnDelete" if rolling.is_some() => causes.push(invalid_shown(
            "spec.updateStrategy.rollingUpdate",
            rolling_shown(),
            "only allowed for updateStrategy 'RollingUpdate'",
        )),
        "OnDelete" => {}
        "RollingUpdate" => {
            if let Some(p) = rolling.and_then(|r| r.get("partition")).filter(|p| is_negative(p)) {
                causes.push(Cause::invalid("spec.updateStrategy.rollingUpdate.partition", p, NEGATIVE));
            }
        }
        t => causes.push(invalid_shown(
            "spec.updateStrategy",
            format!(
                "apps.StatefulSetUpdateStrategy{{Type:{t:?}, RollingUpdate:{}}}",
                gostr::pointer("apps.RollingUpdateStatefulSetStrategy", rolling.is_some())
            ),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = set(spec, "persistentVolumeClaimRetentionPolicy") {
        for field in ["whenDeleted", "whenScaled"] {
            let value = text(Some(policy), field).unwrap_or("");
            if !matches!(value, "Retain" | "Delete") {
                causes.push(Cause::not_supported(
                    format!("spec.persistentVolumeClaimRetentionPolicy.{field}"),
                    &json!(value),
                    &["Retain", "Delete"],
                ));
            }
        }
    }
}

/// Only replicas, ordinals, the template, the update strategy, claim retention and
/// minReadySeconds of a StatefulSet may change.
fn stateful_set_update(new: Option<&Value>, old: Option<&Value>, causes: &mut Vec<Cause>) {
    const MUTABLE: [&str; 6] = [
        "replicas",
        "ordinals",
        "template",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
        "minReadySeconds",
    ];
    let rest = |spec: Option<&Value>| {
        let mut spec = spec.cloned().unwrap_or(json!({}));
        if let Some(m) = spec.as_object_mut() {
            m.retain(|k, _| !MUTABLE.contains(&k.as_str()));
        }
        spec
    };
    if !same(Some(&rest(new)), Some(&rest(old))) {
        causes.push(Cause::forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
}

/// A ReplicationController (`ValidateReplicationControllerSpec`): its selector is a
/// plain map, required and not empty, and may change.
pub fn replication_controller(obj: &Value, causes: &mut Vec<Cause>) {
    let spec = obj.get("spec");
    non_negative(spec, "minReadySeconds", causes);
    let selector = set(spec, "selector").and_then(Value::as_object).filter(|s| !s.is_empty());
    if selector.is_none() {
        causes.push(Cause::required("spec.selector"));
    }
    replicas(spec, causes);
    let Some(template) = set(spec, "template") else {
        causes.push(Cause::required("spec.template"));
        return;
    };
    let labels_of = template.pointer("/metadata/labels").filter(|l| !l.is_null());
    if let Some(selector) = selector {
        let has = |k: &String, v: &Value| labels_of.and_then(|l| l.get(k)).is_some_and(|l| l == v);
        if !selector.iter().all(|(k, v)| has(k, v)) {
            causes.push(invalid_shown(
                "spec.template.metadata.labels",
                gostr::string_map(labels_of),
                "`selector` does not match template `labels`",
            ));
        }
    }
    if let Some(l) = labels_of {
        labels(l, "spec.template.labels", causes);
    }
    let pod = template.get("spec");
    super::pod::pod_spec(pod, "spec.template.spec", causes);
    restart_always(pod, "spec.template.spec", causes);
    if set(pod, "activeDeadlineSeconds").is_some() {
        causes.push(Cause::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicationController is not Supported",
        ));
    }
}

/// A ControllerRevision: data required and fixed, a revision number of at least 0.
pub fn controller_revision(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let data = set(Some(obj), "data");
    if data.is_none() {
        causes.push(Cause::required_because("data", "data is mandatory"));
    }
    if let Some(r) = set(Some(obj), "revision").filter(|r| is_negative(r)) {
        causes.push(Cause::invalid("revision", r, NEGATIVE));
    }
    if let Some(old) = old {
        if data != set(Some(old), "data") {
            causes.push(invalid_shown("data", go_unknown(data), "field is immutable"));
        }
    }
}

/// The generated `String()` of the `*runtime.Unknown` that holds a revision's data.
fn go_unknown(data: Option<&Value>) -> String {
    let Some(data) = data else { return "null".into() };
    let raw: Vec<String> = serde_json::to_vec(data).unwrap_or_default().iter().map(u8::to_string).collect();
    format!(
        "&Unknown{{TypeMeta:TypeMeta{{APIVersion:,Kind:,}},Raw:*[{}],ContentEncoding:,ContentType:application/json,}}",
        raw.join(" ")
    )
}

#[cfg(test)]
mod tests;
