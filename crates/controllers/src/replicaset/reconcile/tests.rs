use super::*;
use chrono::TimeZone;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference, Time};
use std::collections::BTreeMap;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn labels(app: &str) -> Option<BTreeMap<String, String>> {
    Some([("app".to_string(), app.to_string())].into())
}

fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            uid: Some("rs-uid".into()),
            generation: Some(3),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: Some(min_ready),
            selector: LabelSelector { match_labels: labels("web"), match_expressions: None },
            template: Some(PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: labels("web"), ..Default::default() }),
                spec: Some(PodSpec::default()),
            }),
        }),
        status: Some(ReplicaSetStatus::default()),
    }
}

/// A pod: `owner` "rs" (ours), "other", or "" (orphan); `ready_at` seconds.
struct P {
    name: &'static str,
    app: &'static str,
    owner: &'static str,
    node: &'static str,
    phase: &'static str,
    ready_at: Option<i64>,
    created: i64,
}

const fn p(name: &'static str) -> P {
    P { name, app: "web", owner: "rs", node: "n1", phase: "Running", ready_at: Some(0), created: 0 }
}

fn pod(p: &P) -> Pod {
    let owner_references = match p.owner {
        "" => None,
        o => Some(vec![OwnerReference {
            uid: if o == "rs" { "rs-uid".into() } else { "other-uid".into() },
            controller: Some(true),
            kind: "ReplicaSet".into(),
            name: o.into(),
            ..Default::default()
        }]),
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(p.name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("{}-uid", p.name)),
            labels: labels(p.app),
            owner_references,
            creation_timestamp: Some(Time(t(p.created))),
            ..Default::default()
        },
        spec: Some(PodSpec { node_name: (!p.node.is_empty()).then(|| p.node.into()), ..Default::default() }),
        status: Some(PodStatus {
            phase: Some(p.phase.into()),
            conditions: p.ready_at.map(|at| {
                vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(t(at))),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }),
    }
}

fn names(refs: &[PodRef]) -> Vec<&str> {
    refs.iter().map(|r| r.name.as_str()).collect()
}

#[test]
fn replicas_are_created_adopted_released_and_deleted() {
    struct Case {
        name: &'static str,
        replicas: i32,
        pods: Vec<P>,
        create: usize,
        delete: &'static [&'static str],
        adopt: &'static [&'static str],
        release: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "empty set creates all",
            replicas: 3,
            pods: vec![],
            create: 3,
            delete: &[],
            adopt: &[],
            release: &[],
        },
        Case {
            name: "orphans are adopted and count",
            replicas: 2,
            pods: vec![P { owner: "", ..p("a") }, p("b")],
            create: 0,
            delete: &[],
            adopt: &["a"],
            release: &[],
        },
        Case {
            name: "pods of another controller are left alone",
            replicas: 1,
            pods: vec![P { owner: "other", ..p("a") }],
            create: 1,
            delete: &[],
            adopt: &[],
            release: &[],
        },
        Case {
            name: "ours that stopped matching are released and replaced",
            replicas: 1,
            pods: vec![P { app: "debug", ..p("a") }],
            create: 1,
            delete: &[],
            adopt: &[],
            release: &["a"],
        },
        Case {
            name: "finished pods do not count",
            replicas: 1,
            pods: vec![P { phase: "Failed", ..p("a") }],
            create: 1,
            delete: &[],
            adopt: &[],
            release: &[],
        },
        Case {
            name: "unscheduled before not ready before younger",
            replicas: 1,
            pods: vec![
                P { created: 1, ..p("old-ready") },
                P { created: 2, ..p("young-ready") },
                P { ready_at: None, ..p("not-ready") },
                P { node: "", phase: "Pending", ready_at: None, ..p("unscheduled") },
            ],
            create: 0,
            delete: &["unscheduled", "not-ready", "young-ready"],
            adopt: &[],
            release: &[],
        },
    ];
    for c in cases {
        let pods: Vec<Pod> = c.pods.iter().map(pod).collect();
        let refs: Vec<&Pod> = pods.iter().collect();
        let plan = reconcile(&rs(c.replicas, 0), &refs, true, t(100));
        assert_eq!(plan.create, c.create, "{}: create", c.name);
        assert_eq!(names(&plan.delete), c.delete, "{}: delete", c.name);
        assert_eq!(names(&plan.adopt), c.adopt, "{}: adopt", c.name);
        assert_eq!(names(&plan.release), c.release, "{}: release", c.name);
    }
}

#[test]
fn unmet_expectations_hold_creates_and_deletes_but_not_status() {
    let plan = reconcile(&rs(3, 0), &[], false, t(0));
    assert_eq!(plan.create, 0);
    assert_eq!(plan.status.map(|s| s.observed_generation), Some(3));
}

#[test]
fn status_counts_ready_and_available_after_min_ready_seconds() {
    let pods: Vec<Pod> = [
        P { ready_at: Some(0), ..p("a") },
        P { ready_at: Some(90), ..p("b") },
        P { ready_at: None, ..p("c") },
        P { app: "web", ..p("d") },
    ]
    .iter()
    .map(pod)
    .collect();
    let mut pods = pods;
    pods[3].metadata.labels.as_mut().unwrap().insert("extra".into(), "x".into());
    let refs: Vec<&Pod> = pods.iter().collect();
    let plan = reconcile(&rs(4, 30), &refs, true, t(100));
    let status = plan.status.unwrap();
    assert_eq!(status.replicas, 4);
    assert_eq!(status.fully_labeled_replicas, 4, "extra labels still carry the template's");
    assert_eq!(status.ready_replicas, 3);
    assert_eq!(status.available_replicas, 2, "b has been ready for 10 of 30 seconds");
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(20)));
}

#[test]
fn a_set_being_deleted_neither_creates_nor_adopts() {
    let mut set = rs(3, 0);
    set.metadata.deletion_timestamp = Some(Time(t(0)));
    let pods = [pod(&P { owner: "", ..p("a") })];
    let refs: Vec<&Pod> = pods.iter().collect();
    let plan = reconcile(&set, &refs, true, t(1));
    assert_eq!((plan.create, plan.adopt.len()), (0, 0));
}

#[test]
fn unchanged_status_is_not_written() {
    let mut set = rs(0, 0);
    set.status = Some(ReplicaSetStatus { observed_generation: Some(3), ..Default::default() });
    assert_eq!(reconcile(&set, &[], true, t(0)), Plan::default());
}
