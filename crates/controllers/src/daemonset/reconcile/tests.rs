use super::*;

use k8s_openapi::api::apps::v1::{DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::api::core::v1::{Container, NodeSpec, PodCondition, PodSpec, PodStatus, PodTemplateSpec, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc)
}

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("app".to_string(), "agent".to_string())])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container { name: "c".into(), image: Some(image.into()), ..Default::default() }],
            ..Default::default()
        }),
    }
}

fn hash_of(image: &str) -> String {
    crate::history::hash(&crate::history::template_patch(&template(image)), None)
}

fn ds(image: &str, strategy: &str, surge: i32, unavailable: i32) -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            name: Some("agent".into()),
            namespace: Some("default".into()),
            uid: Some("ds-uid".into()),
            generation: Some(1),
            ..Default::default()
        },
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([("app".to_string(), "agent".to_string())])),
                ..Default::default()
            },
            template: template(image),
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some(strategy.into()),
                rolling_update: (strategy == "RollingUpdate").then_some(RollingUpdateDaemonSet {
                    max_surge: Some(IntOrString::Int(surge)),
                    max_unavailable: Some(IntOrString::Int(unavailable)),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

fn revision(d: &DaemonSet, image: &str, number: i64) -> ControllerRevision {
    let data = crate::history::template_patch(&template(image));
    let h = hash_of(image);
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(format!("agent-{h}")),
            uid: Some(format!("rev-{image}")),
            labels: Some(BTreeMap::from([(HASH_LABEL.to_string(), h)])),
            owner_references: Some(vec![owner::controller_ref(d)]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision: number,
    }
}

fn node(name: &str, taint: Option<&str>) -> Node {
    let mut n = Node::default();
    n.metadata.name = Some(name.into());
    n.spec = Some(NodeSpec {
        taints: taint
            .map(|effect| vec![Taint { key: "dedicated".into(), effect: effect.into(), ..Default::default() }]),
        ..Default::default()
    });
    n
}

/// A daemon pod `name` on `node` from `image`; `state`: "ready", "pending", "failed" or "terminating".
fn pod(name: &str, node: &str, image: &str, state: &str) -> Pod {
    let mut p = new_pod(&ds(image, "RollingUpdate", 0, 1), node, &hash_of(image));
    p.metadata.name = Some(name.into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p.spec.as_mut().unwrap().node_name = Some(node.into());
    if state == "terminating" {
        p.metadata.deletion_timestamp = Some(Time(now()));
    }
    p.status = Some(PodStatus {
        phase: Some(if state == "failed" { "Failed" } else { "Running" }.into()),
        conditions: Some(vec![PodCondition {
            type_: "Ready".into(),
            status: if state == "ready" { "True" } else { "False" }.into(),
            last_transition_time: Some(Time(now())),
            ..Default::default()
        }]),
        ..Default::default()
    });
    p
}

fn writes(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::CreatePod { node, pod } => {
                let h = &pod.metadata.labels.as_ref().unwrap()[POD_REVISION_LABEL];
                Some(format!("create on {node}@{}", if *h == hash_of("v1") { "v1" } else { "v2" }))
            }
            Action::DeletePod { name, .. } => Some(format!("delete {name}")),
            _ => None,
        })
        .collect()
}

fn plan_for(d: &DaemonSet, nodes: &[Node], pods: &[Pod], satisfied: bool) -> Plan {
    let revisions = [revision(d, "v1", 1), revision(d, "v2", 2)];
    reconcile(&Observed {
        ds: d,
        nodes: nodes.iter().collect(),
        pods: pods.iter().collect(),
        revisions: revisions.iter().collect(),
        expectations_satisfied: satisfied,
        now: now(),
    })
}

#[test]
fn one_pod_per_eligible_node() {
    let d = ds("v1", "RollingUpdate", 0, 1);
    type Case = (&'static str, Vec<Node>, Vec<Pod>, bool, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "a pod for each node",
            vec![node("n1", None), node("n2", None)],
            vec![],
            true,
            vec!["create on n1@v1", "create on n2@v1"],
        ),
        ("settled", vec![node("n1", None)], vec![pod("a", "n1", "v1", "ready")], true, vec![]),
        ("waits for its own writes", vec![node("n1", None), node("n2", None)], vec![], false, vec![]),
        (
            "new node gets one",
            vec![node("n1", None), node("n2", None)],
            vec![pod("a", "n1", "v1", "ready")],
            true,
            vec!["create on n2@v1"],
        ),
        (
            "removed node's pod goes",
            vec![node("n1", None)],
            vec![pod("a", "n1", "v1", "ready"), pod("b", "gone", "v1", "ready")],
            true,
            vec!["delete b"],
        ),
        (
            "extra pods go, oldest stays",
            vec![node("n1", None)],
            vec![pod("a", "n1", "v1", "ready"), pod("b", "n1", "v1", "ready")],
            true,
            vec!["delete b"],
        ),
        (
            "failed pod is replaced",
            vec![node("n1", None)],
            vec![pod("a", "n1", "v1", "failed")],
            true,
            vec!["delete a", "create on n1@v1"],
        ),
        ("NoSchedule taint: no new pod, old one stays", vec![node("n1", Some("NoSchedule"))], vec![], true, vec![]),
        (
            "NoSchedule taint keeps a running pod",
            vec![node("n1", Some("NoSchedule"))],
            vec![pod("a", "n1", "v1", "ready")],
            true,
            vec![],
        ),
        (
            "NoExecute taint evicts",
            vec![node("n1", Some("NoExecute"))],
            vec![pod("a", "n1", "v1", "ready")],
            true,
            vec!["delete a"],
        ),
    ];
    for (name, nodes, pods, satisfied, want) in cases {
        assert_eq!(writes(&plan_for(&d, &nodes, &pods, satisfied)), want, "{name}");
    }
}

#[test]
fn rolling_update_respects_max_unavailable_and_max_surge() {
    let nodes = vec![node("n1", None), node("n2", None), node("n3", None)];
    let old = |n: &str| pod(&format!("old-{n}"), n, "v1", "ready");
    let cases: Vec<(&str, DaemonSet, Vec<Pod>, Vec<&str>)> = vec![
        (
            "maxUnavailable 1: one old pod at a time",
            ds("v2", "RollingUpdate", 0, 1),
            vec![old("n1"), old("n2"), old("n3")],
            vec!["delete old-n1"],
        ),
        (
            "maxUnavailable 2",
            ds("v2", "RollingUpdate", 0, 2),
            vec![old("n1"), old("n2"), old("n3")],
            vec!["delete old-n1", "delete old-n2"],
        ),
        (
            "an unavailable new pod uses the budget",
            ds("v2", "RollingUpdate", 0, 1),
            vec![pod("new-n1", "n1", "v2", "pending"), old("n2"), old("n3")],
            vec![],
        ),
        (
            "next after the new one is available",
            ds("v2", "RollingUpdate", 0, 1),
            vec![pod("new-n1", "n1", "v2", "ready"), old("n2"), old("n3")],
            vec!["delete old-n2"],
        ),
        (
            "unavailable old pods are replaced at once",
            ds("v2", "RollingUpdate", 0, 1),
            vec![pod("old-n1", "n1", "v1", "pending"), pod("old-n2", "n2", "v1", "pending"), old("n3")],
            vec!["delete old-n1", "delete old-n2"],
        ),
        (
            "maxSurge 1: a new pod beside the old",
            ds("v2", "RollingUpdate", 1, 0),
            vec![old("n1"), old("n2"), old("n3")],
            vec!["create on n1@v2"],
        ),
        (
            "surge: old goes once new is available",
            ds("v2", "RollingUpdate", 1, 0),
            vec![old("n1"), pod("new-n1", "n1", "v2", "ready"), old("n2"), old("n3")],
            vec!["delete old-n1", "create on n2@v2"],
        ),
        (
            "surge: waits while the new pod is not available",
            ds("v2", "RollingUpdate", 1, 0),
            vec![old("n1"), pod("new-n1", "n1", "v2", "pending"), old("n2"), old("n3")],
            vec![],
        ),
        ("OnDelete replaces nothing", ds("v2", "OnDelete", 0, 0), vec![old("n1"), old("n2"), old("n3")], vec![]),
    ];
    for (name, d, pods, want) in cases {
        assert_eq!(writes(&plan_for(&d, &nodes, &pods, true)), want, "{name}");
    }
}

#[test]
fn status_counts_nodes() {
    let d = ds("v2", "RollingUpdate", 0, 1);
    let nodes = vec![node("n1", None), node("n2", None), node("n3", Some("NoSchedule")), node("n4", None)];
    let pods = vec![pod("a", "n1", "v2", "ready"), pod("b", "n2", "v1", "pending"), pod("c", "n3", "v1", "ready")];
    let p = plan_for(&d, &nodes, &pods, false);
    let Some(Action::UpdateStatus(s)) = p.actions.iter().find(|a| matches!(a, Action::UpdateStatus(_))) else {
        panic!("{:?}", p.actions)
    };
    assert_eq!(
        (s.desired_number_scheduled, s.current_number_scheduled, s.number_misscheduled, s.number_ready),
        (3, 2, 1, 1)
    );
    assert_eq!((s.number_available, s.number_unavailable, s.updated_number_scheduled), (Some(1), Some(2), Some(1)));
    assert_eq!(s.observed_generation, Some(1));
}

#[test]
fn daemon_pods_are_pinned_with_default_tolerations() {
    let d = ds("v1", "RollingUpdate", 0, 1);
    let p = new_pod(&d, "n9", "h");
    assert_eq!(target_node(&p), Some("n9"));
    let tolerations = p.spec.as_ref().unwrap().tolerations.as_ref().unwrap();
    assert!(tolerations.iter().any(|t| t.key.as_deref() == Some("node.kubernetes.io/unreachable")));
    assert_eq!(p.metadata.labels.as_ref().unwrap()[POD_REVISION_LABEL], "h");
    assert_eq!(p.metadata.generate_name.as_deref(), Some("agent-"));
}

#[test]
fn a_template_change_creates_a_revision_with_the_pod_hash_label() {
    let d = ds("v3", "RollingUpdate", 0, 1);
    let p = plan_for(&d, &[], &[], true);
    let Some(Action::CreateRevision(r)) = p.actions.first() else { panic!("{:?}", p.actions) };
    assert_eq!(r.revision, 3);
    assert_eq!(r.metadata.labels.as_ref().unwrap()[POD_REVISION_LABEL], hash_of("v3"));
}
