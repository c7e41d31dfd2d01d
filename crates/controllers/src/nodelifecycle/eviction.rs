//! Taint-based eviction (upstream's taint eviction controller): a pod on a
//! node with `NoExecute` taints is deleted at once if it does not tolerate one
//! of them, else when the shortest `tolerationSeconds` among the tolerations
//! it needs runs out (counted from the taint's `timeAdded`); tolerations
//! without `tolerationSeconds` tolerate forever.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Pod, Taint, Toleration};

/// Whether `toleration` tolerates `taint` (upstream's `ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration.effect.as_deref().is_some_and(|e| !e.is_empty() && e != taint.effect) {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            !key.is_empty() && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// When `pod` must go from a node with `taints`: `None` never, else the time
/// (possibly already past).
pub fn eviction_time(pod: &Pod, taints: &[Taint], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]);
    let mut at: Option<DateTime<Utc>> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let matching: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(now);
        }
        // Several tolerations for one taint: the shortest bound wins.
        let Some(seconds) = matching.iter().filter_map(|t| t.toleration_seconds).min() else { continue };
        let added = taint.time_added.as_ref().map_or(now, |t| t.0);
        let due = added + chrono::Duration::seconds(seconds.max(0));
        at = Some(at.map_or(due, |a| a.min(due)));
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn taint(key: &str, effect: &str, added: i64) -> Taint {
        Taint { key: key.into(), effect: effect.into(), value: None, time_added: Some(Time(t(added))) }
    }

    fn toleration(key: &str, op: &str, effect: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.into()),
            operator: Some(op.into()),
            effect: (!effect.is_empty()).then(|| effect.into()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    fn pod(tolerations: Vec<Toleration>) -> Pod {
        Pod { spec: Some(PodSpec { tolerations: Some(tolerations), ..Default::default() }), ..Default::default() }
    }

    #[test]
    fn eviction_times() {
        let unreachable = [taint("node.kubernetes.io/unreachable", "NoExecute", 100)];
        assert_eq!(eviction_time(&pod(vec![]), &unreachable, t(105)), Some(t(105)), "not tolerated: at once");
        let p = pod(vec![toleration("node.kubernetes.io/unreachable", "Exists", "NoExecute", Some(300))]);
        assert_eq!(eviction_time(&p, &unreachable, t(105)), Some(t(400)));
        let forever = pod(vec![toleration("", "Exists", "", None)]);
        assert_eq!(eviction_time(&forever, &unreachable, t(105)), None, "tolerates everything forever");
        let both = pod(vec![
            toleration("node.kubernetes.io/unreachable", "Exists", "NoExecute", Some(300)),
            toleration("node.kubernetes.io/unreachable", "Exists", "", Some(10)),
        ]);
        assert_eq!(eviction_time(&both, &unreachable, t(105)), Some(t(110)), "the shortest bound");
        let no_schedule = [taint("x", "NoSchedule", 0)];
        assert_eq!(eviction_time(&pod(vec![]), &no_schedule, t(5)), None, "only NoExecute evicts");
        let wrong_effect = pod(vec![toleration("node.kubernetes.io/unreachable", "Exists", "NoSchedule", None)]);
        assert_eq!(eviction_time(&wrong_effect, &unreachable, t(105)), Some(t(105)));
    }

    #[test]
    fn equal_tolerations_need_the_value() {
        let mut tainted = taint("dedicated", "NoExecute", 0);
        tainted.value = Some("gpu".into());
        let mut tol = toleration("dedicated", "Equal", "NoExecute", None);
        assert!(!tolerates(&tol, &tainted));
        tol.value = Some("gpu".into());
        assert!(tolerates(&tol, &tainted));
    }
}
