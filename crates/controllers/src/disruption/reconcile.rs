//! PodDisruptionBudget status as a pure function (upstream's disruption
//! controller `trySync`): the budget, the pods it selects, the scale of their
//! controllers and `now` in; the status out. The eviction subresource reads
//! `disruptionsAllowed` from it and answers 429 at zero.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::replicaset::pods::is_ready;

/// How long an eviction's entry in `disruptedPods` holds a pod out of the
/// healthy count if the pod is not deleted (upstream's `DeletionTimeout`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

/// A pod's controller, to look its scale up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ControllerRef {
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// What one sync decides.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// The new status, when it differs.
    pub status: Option<PodDisruptionBudgetStatus>,
    /// When to look again (a `disruptedPods` entry expires).
    pub requeue_after: Option<Duration>,
}

fn scaled(value: &IntOrString, total: i32) -> Result<i32, String> {
    match value {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let pct: i64 =
                s.strip_suffix('%').and_then(|p| p.parse().ok()).ok_or_else(|| format!("invalid value {s:?}"))?;
            // Rounded up, as upstream.
            Ok(((pct * i64::from(total) + 99) / 100) as i32)
        }
    }
}

/// Computes the budget's status. `scale_of` gives the desired replicas of a
/// controller (None: unknown or without a scale).
pub fn reconcile(
    pdb: &PodDisruptionBudget,
    pods: &[&Pod],
    controller_of: impl Fn(&Pod) -> Option<ControllerRef>,
    scale_of: impl Fn(&ControllerRef) -> Option<i32>,
    now: DateTime<Utc>,
) -> Outcome {
    let spec = pdb.spec.clone().unwrap_or_default();
    let old = pdb.status.clone().unwrap_or_default();
    let generation = pdb.metadata.generation;
    let mut requeue_after = None;

    // disruptedPods: evictions not yet seen as deletions, until they expire.
    let timeout = chrono::Duration::from_std(DELETION_TIMEOUT).unwrap_or_default();
    let mut disrupted: BTreeMap<String, Time> = BTreeMap::new();
    for (name, at) in old.disrupted_pods.clone().unwrap_or_default() {
        let pod = pods.iter().find(|p| p.metadata.name.as_deref() == Some(name.as_str()));
        let pending = pod.is_some_and(|p| p.metadata.deletion_timestamp.is_none());
        if pending && at.0 + timeout > now {
            let left = (at.0 + timeout - now).to_std().unwrap_or_default();
            requeue_after = Some(requeue_after.map_or(left, |d: Duration| d.min(left)));
            disrupted.insert(name, at);
        }
    }

    let current_healthy = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && is_ready(p))
        .filter(|p| !disrupted.contains_key(p.metadata.name.as_deref().unwrap_or("")))
        .count() as i32;

    let expected: Result<i32, String> = match (&spec.max_unavailable, &spec.min_available) {
        (None, Some(IntOrString::Int(_))) => Ok(pods.len() as i32),
        (None, None) => Ok(pods.len() as i32),
        _ => {
            let mut controllers: Vec<ControllerRef> = Vec::new();
            let mut unmanaged = false;
            for pod in pods {
                match controller_of(pod) {
                    Some(c) if !controllers.contains(&c) => controllers.push(c),
                    Some(_) => {}
                    None => unmanaged = true,
                }
            }
            let scales: Option<Vec<i32>> = controllers.iter().map(&scale_of).collect();
            match scales {
                Some(s) if !unmanaged => Ok(s.iter().sum()),
                _ => Err("found no controllers for pod(s) selected by this budget, or a controller without a scale"
                    .to_string()),
            }
        }
    };
    let desired: Result<(i32, i32), String> = expected.and_then(|expected| {
        let desired = match (&spec.max_unavailable, &spec.min_available) {
            (Some(max), _) => (expected - scaled(max, expected)?).max(0),
            (None, Some(min)) => scaled(min, expected)?,
            (None, None) => 0,
        };
        Ok((expected, desired))
    });

    let mut status = PodDisruptionBudgetStatus {
        observed_generation: generation,
        current_healthy,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        conditions: old.conditions.clone(),
        ..Default::default()
    };
    let (allowed, reason, message) = match desired {
        Ok((expected, desired)) => {
            status.expected_pods = expected;
            status.desired_healthy = desired;
            status.disruptions_allowed = (current_healthy - desired).max(0);
            if status.disruptions_allowed > 0 {
                ("True", "SufficientPods", String::new())
            } else {
                ("False", "InsufficientPods", String::new())
            }
        }
        Err(message) => ("False", "SyncFailed", message),
    };
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == "DisruptionAllowed") {
        Some(c) if c.status == allowed && c.reason == reason && c.message == message => {
            c.observed_generation = generation;
        }
        Some(c) => {
            if c.status != allowed {
                c.last_transition_time = Time(now);
            }
            c.status = allowed.into();
            c.reason = reason.into();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: "DisruptionAllowed".into(),
            status: allowed.into(),
            reason: reason.into(),
            message,
            observed_generation: generation,
            last_transition_time: Time(now),
        }),
    }
    Outcome { status: (status != old).then_some(status), requeue_after }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn pdb(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: ObjectMeta { name: Some("b".into()), generation: Some(2), ..Default::default() },
            spec: Some(PodDisruptionBudgetSpec { min_available: min, max_unavailable: max, ..Default::default() }),
            status: None,
        }
    }

    fn pod(name: &str, ready: bool) -> Pod {
        Pod {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: None,
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn rs(_: &Pod) -> Option<ControllerRef> {
        Some(ControllerRef { kind: "ReplicaSet".into(), name: "web".into(), uid: "u".into() })
    }

    fn run(b: &PodDisruptionBudget, pods: &[Pod], scale: Option<i32>) -> PodDisruptionBudgetStatus {
        let refs: Vec<&Pod> = pods.iter().collect();
        reconcile(b, &refs, rs, |_| scale, t(0)).status.expect("status changes from nothing")
    }

    #[test]
    fn budgets_by_count_and_percentage() {
        let pods = [pod("a", true), pod("b", true), pod("c", false)];
        let s = run(&pdb(Some(IntOrString::Int(1)), None), &pods, None);
        assert_eq!((s.expected_pods, s.desired_healthy, s.current_healthy, s.disruptions_allowed), (3, 1, 2, 1));
        let c = &s.conditions.unwrap()[0];
        assert_eq!((c.status.as_str(), c.reason.as_str(), c.observed_generation), ("True", "SufficientPods", Some(2)));
        // minAvailable 50% of the controller's 4 replicas rounds up to 2: none left to disrupt.
        let s = run(&pdb(Some(IntOrString::String("50%".into())), None), &pods, Some(4));
        assert_eq!((s.expected_pods, s.desired_healthy, s.disruptions_allowed), (4, 2, 0));
        assert_eq!(s.conditions.unwrap()[0].reason, "InsufficientPods");
        // maxUnavailable 1 of 3: 2 must stay healthy.
        let s = run(&pdb(None, Some(IntOrString::Int(1))), &pods, Some(3));
        assert_eq!((s.expected_pods, s.desired_healthy, s.disruptions_allowed), (3, 2, 0));
        let all_ready = [pod("a", true), pod("b", true), pod("c", true)];
        let s = run(&pdb(None, Some(IntOrString::String("34%".into()))), &all_ready, Some(3));
        assert_eq!((s.desired_healthy, s.disruptions_allowed), (1, 2), "34% of 3 rounds up to 2 unavailable");
        // A percentage without a scale to resolve it fails the sync.
        let s = run(&pdb(None, Some(IntOrString::Int(1))), &pods, None);
        assert_eq!(s.conditions.unwrap()[0].reason, "SyncFailed");
        assert_eq!(s.disruptions_allowed, 0);
    }

    #[test]
    fn disrupted_pods_do_not_count_until_they_expire() {
        let mut b = pdb(Some(IntOrString::Int(1)), None);
        b.status = Some(PodDisruptionBudgetStatus {
            disrupted_pods: Some([("a".to_string(), Time(t(-60))), ("gone".to_string(), Time(t(-1)))].into()),
            ..Default::default()
        });
        let pods = [pod("a", true), pod("b", true)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let out = reconcile(&b, &refs, rs, |_| None, t(0));
        let s = out.status.unwrap();
        assert_eq!((s.current_healthy, s.disruptions_allowed), (1, 0));
        assert_eq!(
            s.disrupted_pods.as_ref().unwrap().keys().collect::<Vec<_>>(),
            ["a"],
            "a pod that is gone is dropped"
        );
        assert_eq!(out.requeue_after, Some(Duration::from_secs(60)));
        let later = reconcile(&b, &refs, rs, |_| None, t(61)).status.unwrap();
        assert_eq!((later.current_healthy, later.disrupted_pods), (2, None));
    }
}
