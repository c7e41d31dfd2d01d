use super::*;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{Container, PodCondition, PodSpec, PodStatus, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;

use crate::history::{template_patch, POD_REVISION_LABEL};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc)
}

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container { name: "c".into(), image: Some(image.into()), ..Default::default() }],
            ..Default::default()
        }),
    }
}

struct SetOpts {
    replicas: i32,
    image: &'static str,
    parallel: bool,
    on_delete: bool,
    partition: i32,
    claims: bool,
    when_scaled_delete: bool,
}

impl Default for SetOpts {
    fn default() -> Self {
        SetOpts {
            replicas: 3,
            image: "v1",
            parallel: false,
            on_delete: false,
            partition: 0,
            claims: false,
            when_scaled_delete: false,
        }
    }
}

fn set(o: SetOpts) -> StatefulSet {
    let mut claim = PersistentVolumeClaim::default();
    claim.metadata.name = Some("data".into());
    StatefulSet {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("default".into()),
            uid: Some("set-uid".into()),
            generation: Some(2),
            ..Default::default()
        },
        spec: Some(StatefulSetSpec {
            replicas: Some(o.replicas),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                ..Default::default()
            },
            service_name: Some("web-svc".into()),
            pod_management_policy: Some(if o.parallel { "Parallel" } else { "OrderedReady" }.into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some(if o.on_delete { "OnDelete" } else { "RollingUpdate" }.into()),
                rolling_update: (!o.on_delete).then_some(RollingUpdateStatefulSetStrategy {
                    partition: Some(o.partition),
                    max_unavailable: None,
                }),
            }),
            template: template(o.image),
            volume_claim_templates: o.claims.then(|| vec![claim]),
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some("Retain".into()),
                when_scaled: Some(if o.when_scaled_delete { "Delete" } else { "Retain" }.into()),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

fn revision(s: &StatefulSet, image: &str, number: i64) -> ControllerRevision {
    let data = template_patch(&template(image));
    let name = crate::history::revision_name("web", &crate::history::hash(&data, None));
    let mut r = ControllerRevision {
        metadata: ObjectMeta { name: Some(name), uid: Some(format!("rev-{image}")), ..Default::default() },
        data: Some(RawExtension(data)),
        revision: number,
    };
    r.metadata.owner_references = Some(vec![crate::runtime::owner::controller_ref(s)]);
    r
}

fn rev_name(image: &str) -> String {
    crate::history::revision_name("web", &crate::history::hash(&template_patch(&template(image)), None))
}

/// A pod of the set at `ordinal`: `state` is "pending", "ready", "terminating" or "failed".
fn pod(ordinal: i32, image: &str, state: &str) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = Some(format!("web-{ordinal}"));
    p.metadata.uid = Some(format!("pod-{ordinal}"));
    p.metadata.labels = Some(BTreeMap::from([(POD_REVISION_LABEL.to_string(), rev_name(image))]));
    let (phase, ready) = match state {
        "ready" | "terminating" => ("Running", true),
        "failed" => ("Failed", false),
        _ => ("Pending", false),
    };
    if state == "terminating" {
        p.metadata.deletion_timestamp = Some(Time(now()));
    }
    p.status = Some(PodStatus {
        phase: Some(phase.into()),
        conditions: Some(vec![PodCondition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            last_transition_time: Some(Time(now())),
            ..Default::default()
        }]),
        ..Default::default()
    });
    p
}

/// The plan's pod/claim writes as short strings (revision and status steps left out).
fn writes(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::CreatePod(p) => Some(format!(
                "create {}@{}",
                p.metadata.name.as_deref().unwrap(),
                if p.metadata.labels.as_ref().unwrap()[POD_REVISION_LABEL] == rev_name("v1") { "v1" } else { "v2" }
            )),
            Action::DeletePod { name, .. } => Some(format!("delete {name}")),
            Action::CreateClaim { claim, .. } => Some(format!("claim {}", claim.metadata.name.as_deref().unwrap())),
            Action::SetClaimOwners { name, owners, .. } => Some(format!("own {name} by {}", owners.len())),
            _ => None,
        })
        .collect()
}

fn plan(s: &StatefulSet, revisions: &[ControllerRevision], pods: &[Pod], claims: &[PersistentVolumeClaim]) -> Plan {
    let observed = Observed {
        set: s,
        pods: pods.iter().collect(),
        revisions: revisions.iter().collect(),
        claims: claims.iter().map(|c| (c.metadata.name.clone().unwrap(), c)).collect(),
        now: now(),
    };
    reconcile(&observed)
}

#[test]
fn pods_are_created_and_deleted_in_ordinal_order() {
    struct Case {
        name: &'static str,
        opts: SetOpts,
        pods: Vec<Pod>,
        want: Vec<&'static str>,
    }
    let cases = [
        Case { name: "first pod", opts: SetOpts::default(), pods: vec![], want: vec!["create web-0@v1"] },
        Case {
            name: "waits for web-0 to be ready",
            opts: SetOpts::default(),
            pods: vec![pod(0, "v1", "pending")],
            want: vec![],
        },
        Case {
            name: "next after ready",
            opts: SetOpts::default(),
            pods: vec![pod(0, "v1", "ready")],
            want: vec!["create web-1@v1"],
        },
        Case {
            name: "parallel creates all",
            opts: SetOpts { parallel: true, ..Default::default() },
            pods: vec![pod(0, "v1", "pending")],
            want: vec!["create web-1@v1", "create web-2@v1"],
        },
        Case {
            name: "a failed pod is replaced",
            opts: SetOpts::default(),
            pods: vec![pod(0, "v1", "failed")],
            want: vec!["delete web-0"],
        },
        Case {
            name: "scale down removes the highest first",
            opts: SetOpts { replicas: 1, ..Default::default() },
            pods: vec![pod(0, "v1", "ready"), pod(1, "v1", "ready"), pod(2, "v1", "ready")],
            want: vec!["delete web-2"],
        },
        Case {
            name: "scale down waits for the terminating pod",
            opts: SetOpts { replicas: 1, ..Default::default() },
            pods: vec![pod(0, "v1", "ready"), pod(1, "v1", "ready"), pod(2, "v1", "terminating")],
            want: vec![],
        },
        Case {
            name: "scale down waits while a kept pod is unhealthy",
            opts: SetOpts { replicas: 1, ..Default::default() },
            pods: vec![pod(0, "v1", "pending"), pod(1, "v1", "ready")],
            want: vec![],
        },
        Case {
            name: "parallel scale down removes all at once",
            opts: SetOpts { replicas: 1, parallel: true, ..Default::default() },
            pods: vec![pod(0, "v1", "ready"), pod(1, "v1", "pending"), pod(2, "v1", "ready")],
            want: vec!["delete web-2", "delete web-1"],
        },
    ];
    for case in cases {
        let s = set(case.opts);
        let revs = [revision(&s, "v1", 1)];
        let got = writes(&plan(&s, &revs, &case.pods, &[]));
        assert_eq!(got, case.want, "{}", case.name);
    }
}

#[test]
fn rolling_update_goes_down_to_the_partition() {
    struct Case {
        name: &'static str,
        opts: SetOpts,
        pods: Vec<Pod>,
        want: Vec<&'static str>,
    }
    let all_v1 = || vec![pod(0, "v1", "ready"), pod(1, "v1", "ready"), pod(2, "v1", "ready")];
    let cases = [
        Case {
            name: "highest first",
            opts: SetOpts { image: "v2", ..Default::default() },
            pods: all_v1(),
            want: vec!["delete web-2"],
        },
        Case {
            name: "recreated at the update revision",
            opts: SetOpts { image: "v2", ..Default::default() },
            pods: vec![pod(0, "v1", "ready"), pod(1, "v1", "ready")],
            want: vec!["create web-2@v2"],
        },
        Case {
            name: "waits for the updated pod",
            opts: SetOpts { image: "v2", ..Default::default() },
            pods: vec![pod(0, "v1", "ready"), pod(1, "v1", "ready"), pod(2, "v2", "pending")],
            want: vec![],
        },
        Case {
            name: "then the next",
            opts: SetOpts { image: "v2", ..Default::default() },
            pods: vec![pod(0, "v1", "ready"), pod(1, "v1", "ready"), pod(2, "v2", "ready")],
            want: vec!["delete web-1"],
        },
        Case {
            name: "stops at the partition",
            opts: SetOpts { image: "v2", partition: 2, ..Default::default() },
            pods: vec![pod(0, "v1", "ready"), pod(1, "v1", "ready"), pod(2, "v2", "ready")],
            want: vec![],
        },
        Case {
            name: "below the partition pods are made at the current revision",
            opts: SetOpts { image: "v2", partition: 2, ..Default::default() },
            pods: vec![pod(1, "v1", "ready"), pod(2, "v2", "ready")],
            want: vec!["create web-0@v1"],
        },
        Case {
            name: "OnDelete replaces nothing",
            opts: SetOpts { image: "v2", on_delete: true, ..Default::default() },
            pods: all_v1(),
            want: vec![],
        },
        Case {
            name: "OnDelete recreates deleted pods at the update revision",
            opts: SetOpts { image: "v2", on_delete: true, ..Default::default() },
            pods: vec![pod(0, "v1", "ready"), pod(1, "v1", "ready")],
            want: vec!["create web-2@v2"],
        },
    ];
    for case in cases {
        let mut s = set(case.opts);
        let revs = [revision(&s, "v1", 1), revision(&s, "v2", 2)];
        s.status = Some(StatefulSetStatus { current_revision: Some(rev_name("v1")), ..Default::default() });
        let got = writes(&plan(&s, &revs, &case.pods, &[]));
        assert_eq!(got, case.want, "{}", case.name);
    }
}

#[test]
fn status_counts_and_completes_the_rollout() {
    let mut s = set(SetOpts { image: "v2", ..Default::default() });
    s.status = Some(StatefulSetStatus { current_revision: Some(rev_name("v1")), ..Default::default() });
    let revs = [revision(&s, "v1", 1), revision(&s, "v2", 2)];
    let status_of = |p: &Plan| {
        p.actions
            .iter()
            .find_map(|a| if let Action::UpdateStatus(st) = a { Some((**st).clone()) } else { None })
            .expect("status written")
    };
    let mid =
        status_of(&plan(&s, &revs, &[pod(0, "v1", "ready"), pod(1, "v1", "ready"), pod(2, "v2", "pending")], &[]));
    assert_eq!(
        (mid.replicas, mid.ready_replicas, mid.current_replicas, mid.updated_replicas),
        (3, Some(2), Some(2), Some(1))
    );
    assert_eq!(mid.current_revision, Some(rev_name("v1")));
    assert_eq!(mid.update_revision, Some(rev_name("v2")));
    assert_eq!(mid.observed_generation, Some(2));
    let done = status_of(&plan(&s, &revs, &[pod(0, "v2", "ready"), pod(1, "v2", "ready"), pod(2, "v2", "ready")], &[]));
    assert_eq!(done.current_revision, Some(rev_name("v2")), "all updated and ready: current follows update");
    assert_eq!((done.current_replicas, done.available_replicas), (Some(3), Some(3)));

    // Written only when it changed.
    s.status = Some(done);
    let again = plan(&s, &revs, &[pod(0, "v2", "ready"), pod(1, "v2", "ready"), pod(2, "v2", "ready")], &[]);
    assert!(again.actions.is_empty(), "{:?}", again.actions);
}

#[test]
fn revisions_are_created_renumbered_and_truncated() {
    let s = set(SetOpts::default());
    let first = plan(&s, &[], &[], &[]);
    assert!(matches!(&first.actions[0], Action::CreateRevision(r) if r.revision == 1));
    // Back to v1 after v2: v1's revision becomes number 3.
    let revs = [revision(&s, "v1", 1), revision(&s, "v2", 2)];
    let back = plan(&s, &revs, &[pod(0, "v2", "ready")], &[]);
    assert_eq!(back.actions[0], Action::RenumberRevision { name: rev_name("v1"), revision: 3 });
    // With a history limit of 0, an old revision no pod uses goes.
    let mut s0 = set(SetOpts { image: "v3", ..Default::default() });
    s0.spec.as_mut().unwrap().revision_history_limit = Some(0);
    s0.status = Some(StatefulSetStatus { current_revision: Some(rev_name("v2")), ..Default::default() });
    let revs = [revision(&s0, "v1", 1), revision(&s0, "v2", 2), revision(&s0, "v3", 3)];
    let p = plan(&s0, &revs, &[pod(0, "v2", "ready"), pod(1, "v3", "ready")], &[]);
    let deleted: Vec<&str> = p
        .actions
        .iter()
        .filter_map(|a| if let Action::DeleteRevision { name, .. } = a { Some(name.as_str()) } else { None })
        .collect();
    assert_eq!(deleted, vec![rev_name("v1").as_str()]);
}

#[test]
fn pods_get_their_identity_and_claims() {
    let s = set(SetOpts { claims: true, ..Default::default() });
    let p = plan(&s, &[revision(&s, "v1", 1)], &[], &[]);
    assert_eq!(writes(&p), vec!["claim data-web-0", "create web-0@v1"]);
    let Some(Action::CreatePod(pod)) = p.actions.iter().find(|a| matches!(a, Action::CreatePod(_))) else { panic!() };
    let labels = pod.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "web-0");
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "0");
    assert_eq!(labels["app"], "web");
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!((spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some("web-0"), Some("web-svc")));
    let volume = &spec.volumes.as_ref().unwrap()[0];
    assert_eq!(volume.persistent_volume_claim.as_ref().unwrap().claim_name, "data-web-0");
    assert_eq!(pod.metadata.owner_references.as_ref().unwrap()[0].uid, "set-uid");

    // An existing claim is kept, not created again, when the pod is recreated.
    let mut claim = PersistentVolumeClaim::default();
    claim.metadata.name = Some("data-web-0".into());
    let p = plan(&s, &[revision(&s, "v1", 1)], &[], &[claim]);
    assert_eq!(writes(&p), vec!["create web-0@v1"]);
}

#[test]
fn when_scaled_delete_hands_the_claim_to_the_condemned_pod() {
    let s = set(SetOpts { claims: true, replicas: 1, when_scaled_delete: true, ..Default::default() });
    let claim = |i: i32| {
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = Some(format!("data-web-{i}"));
        c.metadata.uid = Some(format!("claim-{i}"));
        c
    };
    let p = plan(&s, &[revision(&s, "v1", 1)], &[pod(0, "v1", "ready"), pod(1, "v1", "ready")], &[claim(0), claim(1)]);
    assert_eq!(writes(&p), vec!["own data-web-1 by 1", "delete web-1"]);
    let Action::SetClaimOwners { owners, .. } = &p.actions[0] else { panic!() };
    assert_eq!(owners[0].uid, "pod-1");
    assert_eq!(owners[0].kind, "Pod");
}
