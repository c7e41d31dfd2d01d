//! What the pod garbage collector removes (upstream's `PodGCController`), as a
//! pure function of the pods, which nodes exist, and `now`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Node, Pod};

/// How long a node must be missing before its pods count as orphaned (a node
/// being re-registered, or an informer that has not seen it yet).
pub const QUARANTINE: Duration = Duration::from_secs(40);
/// Upstream's `--terminated-pod-gc-threshold` default.
pub const DEFAULT_TERMINATED_THRESHOLD: usize = 12_500;
const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// Why a pod is removed; each maps to upstream's handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Too many finished pods: plain delete, oldest first.
    Terminated,
    /// Bound to a node that no longer exists: marked Failed, force-deleted.
    Orphaned { node: String },
    /// Being deleted but never scheduled: force-deleted.
    UnscheduledTerminating,
    /// Being deleted on a node that is out of service: force-deleted.
    OutOfService,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collect {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub reason: Reason,
}

fn collect(pod: &Pod, reason: Reason) -> Collect {
    Collect {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        reason,
    }
}

fn node_name(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("")
}

fn is_terminated(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

fn out_of_service(node: &Node) -> bool {
    let tainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|ts| ts.iter().any(|t| t.key == OUT_OF_SERVICE && t.effect == "NoExecute"));
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    tainted && !ready
}

/// Tracks since when each node some pod is bound to has been missing.
/// Returns the nodes missing for at least [`QUARANTINE`].
pub fn update_missing(
    missing_since: &mut HashMap<String, DateTime<Utc>>,
    pods: &[&Pod],
    nodes: &HashMap<String, &Node>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut still = HashMap::new();
    for pod in pods {
        let node = node_name(pod);
        if node.is_empty() || nodes.contains_key(node) {
            continue;
        }
        let since = missing_since.get(node).copied().unwrap_or(now);
        still.insert(node.to_string(), since);
    }
    *missing_since = still;
    let quarantine = chrono::Duration::from_std(QUARANTINE).unwrap_or_default();
    let mut due: Vec<String> =
        missing_since.iter().filter(|(_, since)| now - **since >= quarantine).map(|(n, _)| n.clone()).collect();
    due.sort();
    due
}

/// The pods to remove. `confirmed_missing` are nodes missing past the
/// quarantine (and confirmed gone by the shell).
pub fn plan(
    pods: &[&Pod],
    nodes: &HashMap<String, &Node>,
    confirmed_missing: &[String],
    threshold: usize,
) -> Vec<Collect> {
    let mut out = Vec::new();
    if threshold > 0 {
        let mut terminated: Vec<&Pod> =
            pods.iter().copied().filter(|p| is_terminated(p) && p.metadata.deletion_timestamp.is_none()).collect();
        if terminated.len() > threshold {
            terminated.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
            let surplus = terminated.len() - threshold;
            out.extend(terminated.iter().take(surplus).map(|p| collect(p, Reason::Terminated)));
        }
    }
    for pod in pods {
        let node = node_name(pod);
        let deleting = pod.metadata.deletion_timestamp.is_some();
        if !node.is_empty() && confirmed_missing.iter().any(|n| n == node) {
            out.push(collect(pod, Reason::Orphaned { node: node.to_string() }));
        } else if node.is_empty() && deleting {
            out.push(collect(pod, Reason::UnscheduledTerminating));
        } else if deleting && nodes.get(node).is_some_and(|n| out_of_service(n)) {
            out.push(collect(pod, Reason::OutOfService));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use k8s_openapi::api::core::v1::{NodeSpec, PodSpec, PodStatus, Taint};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn pod(name: &str, node: &str, phase: &str, created: i64, deleting: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(name.into()),
                creation_timestamp: Some(Time(t(created))),
                deletion_timestamp: deleting.then(|| Time(t(created))),
                ..Default::default()
            },
            spec: Some(PodSpec { node_name: (!node.is_empty()).then(|| node.into()), ..Default::default() }),
            status: Some(PodStatus { phase: Some(phase.into()), ..Default::default() }),
        }
    }

    fn names(c: &[Collect]) -> Vec<&str> {
        c.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn terminated_pods_beyond_the_threshold_go_oldest_first() {
        let pods = [
            pod("new", "n", "Succeeded", 30, false),
            pod("old", "n", "Failed", 10, false),
            pod("mid", "n", "Succeeded", 20, false),
            pod("running", "n", "Running", 0, false),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let node = Node::default();
        let nodes: HashMap<String, &Node> = [("n".to_string(), &node)].into();
        assert_eq!(names(&plan(&refs, &nodes, &[], 1)), ["old", "mid"]);
        assert!(plan(&refs, &nodes, &[], 3).is_empty());
    }

    #[test]
    fn orphans_wait_out_the_quarantine() {
        let pods = [pod("a", "gone", "Running", 0, false), pod("b", "here", "Running", 0, false)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let node = Node::default();
        let nodes: HashMap<String, &Node> = [("here".to_string(), &node)].into();
        let mut missing = HashMap::new();
        assert!(update_missing(&mut missing, &refs, &nodes, t(0)).is_empty());
        assert!(update_missing(&mut missing, &refs, &nodes, t(39)).is_empty());
        let due = update_missing(&mut missing, &refs, &nodes, t(40));
        assert_eq!(due, ["gone"]);
        let out = plan(&refs, &nodes, &due, 100);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].reason, Reason::Orphaned { node: "gone".into() });
        // The node came back: forgotten.
        let nodes: HashMap<String, &Node> = [("here".to_string(), &node), ("gone".to_string(), &node)].into();
        assert!(update_missing(&mut missing, &refs, &nodes, t(41)).is_empty());
        assert!(missing.is_empty());
    }

    #[test]
    fn stuck_terminating_pods_are_forced() {
        let out_of_service = Node {
            spec: Some(NodeSpec {
                taints: Some(vec![Taint {
                    key: OUT_OF_SERVICE.into(),
                    effect: "NoExecute".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let healthy = Node::default();
        let nodes: HashMap<String, &Node> = [("oos".to_string(), &out_of_service), ("ok".to_string(), &healthy)].into();
        let pods = [
            pod("unscheduled", "", "Pending", 0, true),
            pod("on-oos", "oos", "Running", 0, true),
            pod("on-ok", "ok", "Running", 0, true),
            pod("alive-on-oos", "oos", "Running", 0, false),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let out = plan(&refs, &nodes, &[], 100);
        assert_eq!(names(&out), ["unscheduled", "on-oos"]);
        assert_eq!(out[0].reason, Reason::UnscheduledTerminating);
        assert_eq!(out[1].reason, Reason::OutOfService);
    }
}
