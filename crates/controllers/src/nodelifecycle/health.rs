//! Node health as upstream's node lifecycle controller judges it: a node is
//! alive while its kubelet renews its Lease or posts status; after the grace
//! period without either, its conditions become `Unknown`; its Ready condition
//! decides the `not-ready` / `unreachable` taints.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";

/// What the controller remembers of a node between syncs: when it last saw a
/// sign of life (by its own clock, as upstream, so clock skew between node and
/// control plane does not matter) and the signs it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub probe_time: DateTime<Utc>,
    heartbeat: Option<DateTime<Utc>>,
    lease_renewed: Option<DateTime<Utc>>,
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

/// Advances `previous` with what `node` and its `lease` show at `now`: any
/// new heartbeat or lease renewal moves the probe time to `now`.
pub fn observe(previous: Option<&Health>, node: &Node, lease: Option<&Lease>, now: DateTime<Utc>) -> Health {
    let heartbeat = ready_condition(node).and_then(|c| c.last_heartbeat_time.as_ref()).map(|t| t.0);
    let lease_renewed = lease.and_then(|l| l.spec.as_ref()?.renew_time.as_ref()).map(|t| t.0);
    match previous {
        Some(p) if p.heartbeat == heartbeat && p.lease_renewed == lease_renewed => p.clone(),
        _ => Health { probe_time: now, heartbeat, lease_renewed },
    }
}

/// What to write for one node.
#[derive(Debug, Default, PartialEq)]
pub struct NodePlan {
    /// New conditions (all of them) when they went Unknown.
    pub conditions: Option<Vec<NodeCondition>>,
    /// The new taint list when it changed.
    pub taints: Option<Vec<Taint>>,
    /// Whether the node just became not ready/unknown (its pods are marked not ready).
    pub mark_pods_not_ready: bool,
    pub requeue_after: Option<Duration>,
}

/// The conditions a node without a kubelet goes Unknown on.
const WATCHED: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Decides the node's conditions and taints at `now`.
pub fn decide(node: &Node, health: &Health, now: DateTime<Utc>, grace: Duration) -> NodePlan {
    let mut plan = NodePlan::default();
    let deadline = health.probe_time + chrono::Duration::from_std(grace).unwrap_or_default();
    let mut conditions = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    // A node that has not reported Ready yet (just registered, or made by hand) is
    // left alone until its grace period runs out, as upstream: tainting it at once
    // would keep every pod off it.
    let mut ready = ready_condition(node).map(|c| c.status.clone());
    if now >= deadline {
        let mut changed = false;
        for type_ in WATCHED {
            match conditions.iter_mut().find(|c| c.type_ == type_) {
                Some(c) if c.status == "Unknown" => {}
                Some(c) => {
                    c.status = "Unknown".into();
                    c.reason = Some("NodeStatusUnknown".into());
                    c.message = Some("Kubelet stopped posting node status.".into());
                    c.last_transition_time = Some(Time(now));
                    changed = true;
                }
                None => {
                    conditions.push(NodeCondition {
                        type_: type_.into(),
                        status: "Unknown".into(),
                        reason: Some("NodeStatusNeverUpdated".into()),
                        message: Some("Kubelet never posted node status.".into()),
                        last_heartbeat_time: Some(Time(health.probe_time)),
                        last_transition_time: Some(Time(now)),
                    });
                    changed = true;
                }
            }
        }
        if changed {
            plan.mark_pods_not_ready = ready.as_deref() == Some("True");
            plan.conditions = Some(conditions);
        }
        ready = Some("Unknown".into());
    } else {
        plan.requeue_after = Some((deadline - now).to_std().unwrap_or_default());
    }
    let Some(ready) = ready else { return plan };
    let old_taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let wanted = match ready.as_str() {
        "True" => None,
        "False" => Some(NOT_READY),
        _ => Some(UNREACHABLE),
    };
    let mut taints: Vec<Taint> = old_taints
        .iter()
        .filter(|t| !(t.key == UNREACHABLE || t.key == NOT_READY) || Some(t.key.as_str()) == wanted)
        .cloned()
        .collect();
    if let Some(key) = wanted {
        for effect in ["NoSchedule", "NoExecute"] {
            if !taints.iter().any(|t| t.key == key && t.effect == effect) {
                taints.push(Taint {
                    key: key.into(),
                    effect: effect.into(),
                    value: None,
                    time_added: (effect == "NoExecute").then_some(Time(now)),
                });
            }
        }
    }
    if taints != old_taints {
        plan.taints = Some(taints);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::api::core::v1::{NodeSpec, NodeStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn node(ready: &str, taints: Vec<Taint>) -> Node {
        Node {
            metadata: Default::default(),
            spec: Some(NodeSpec { taints: Some(taints), ..Default::default() }),
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    last_heartbeat_time: Some(Time(t(0))),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn lease(renewed: i64) -> Lease {
        Lease {
            metadata: Default::default(),
            spec: Some(LeaseSpec { renew_time: Some(MicroTime(t(renewed))), ..Default::default() }),
        }
    }

    const GRACE: Duration = Duration::from_secs(40);

    #[test]
    fn lease_renewals_keep_a_node_alive() {
        let n = node("True", vec![]);
        let h = observe(None, &n, Some(&lease(0)), t(100));
        assert_eq!(h.probe_time, t(100), "first sight counts as a probe");
        let same = observe(Some(&h), &n, Some(&lease(0)), t(130));
        assert_eq!(same.probe_time, t(100));
        let renewed = observe(Some(&h), &n, Some(&lease(10)), t(130));
        assert_eq!(renewed.probe_time, t(130));
        let plan = decide(&n, &renewed, t(150), GRACE);
        assert_eq!(plan, NodePlan { requeue_after: Some(Duration::from_secs(20)), ..Default::default() });
    }

    #[test]
    fn a_silent_node_goes_unknown_and_unreachable() {
        let n =
            node("True", vec![Taint { key: "dedicated".into(), effect: "NoSchedule".into(), ..Default::default() }]);
        let h = observe(None, &n, None, t(0));
        let plan = decide(&n, &h, t(40), GRACE);
        let conditions = plan.conditions.unwrap();
        let ready = conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("Unknown", Some("NodeStatusUnknown")));
        assert_eq!(ready.last_heartbeat_time, Some(Time(t(0))), "the heartbeat stays what the kubelet said");
        let memory = conditions.iter().find(|c| c.type_ == "MemoryPressure").unwrap();
        assert_eq!(memory.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert!(plan.mark_pods_not_ready);
        let taints = plan.taints.unwrap();
        let keys: Vec<(&str, &str)> = taints.iter().map(|t| (t.key.as_str(), t.effect.as_str())).collect();
        assert_eq!(keys, [("dedicated", "NoSchedule"), (UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]);
        assert_eq!(taints[2].time_added, Some(Time(t(40))));
    }

    #[test]
    fn taints_follow_the_ready_condition() {
        let h = observe(None, &node("False", vec![]), None, t(0));
        let plan = decide(&node("False", vec![]), &h, t(1), GRACE);
        let taints = plan.taints.unwrap();
        let keys: Vec<&str> = taints.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, [NOT_READY, NOT_READY]);
        // Ready again: the taints go.
        let tainted =
            node("True", vec![Taint { key: UNREACHABLE.into(), effect: "NoExecute".into(), ..Default::default() }]);
        let plan = decide(&tainted, &h, t(1), GRACE);
        assert_eq!(plan.taints, Some(vec![]));
        // Already Unknown and tainted: nothing to write.
        let mut gone = node("Unknown", vec![]);
        let taints = decide(&gone, &h, t(100), GRACE).taints.unwrap();
        gone.spec.as_mut().unwrap().taints = Some(taints);
        for c in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
            gone.status.as_mut().unwrap().conditions.as_mut().unwrap().push(NodeCondition {
                type_: c.into(),
                status: "Unknown".into(),
                ..Default::default()
            });
        }
        assert_eq!(decide(&gone, &h, t(101), GRACE), NodePlan::default());
    }
}
