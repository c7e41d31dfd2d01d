use super::*;
use chrono::TimeZone;
use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentSpec, DeploymentStrategy, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some([("app".to_string(), "web".to_string())].into()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container { name: "c".into(), image: Some(image.into()), ..Default::default() }],
            ..Default::default()
        }),
    }
}

fn deployment(replicas: i32, image: &str) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            uid: Some("d-uid".into()),
            generation: Some(1),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some([("app".to_string(), "web".to_string())].into()),
                match_expressions: None,
            },
            template: template(image),
            strategy: Some(DeploymentStrategy { type_: Some("RollingUpdate".into()), rolling_update: None }),
            revision_history_limit: Some(10),
            progress_deadline_seconds: Some(600),
            ..Default::default()
        }),
        status: None,
    }
}

/// A ReplicaSet of `d` for `image` with `spec` replicas of which `available`
/// are available, at `revision`, created at `created`.
fn rs(d: &Deployment, image: &str, spec: i32, available: i32, revision: i64, created: i64) -> ReplicaSet {
    let hash = template_hash(&template(image), None);
    let mut tpl = template(image);
    tpl.metadata.as_mut().unwrap().labels.as_mut().unwrap().insert(HASH_LABEL.into(), hash.clone());
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("web-{hash}")),
            namespace: Some("ns".into()),
            uid: Some(format!("rs-{image}")),
            labels: tpl.metadata.as_ref().unwrap().labels.clone(),
            annotations: Some(
                [
                    (REVISION.to_string(), revision.to_string()),
                    (DESIRED_REPLICAS.to_string(), replicas(d).to_string()),
                    (MAX_REPLICAS.to_string(), (replicas(d) + max_surge(d)).to_string()),
                ]
                .into(),
            ),
            owner_references: Some(vec![OwnerReference {
                uid: "d-uid".into(),
                controller: Some(true),
                kind: "Deployment".into(),
                name: "web".into(),
                ..Default::default()
            }]),
            creation_timestamp: Some(Time(t(created))),
            generation: Some(1),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(spec),
            template: Some(tpl),
            selector: LabelSelector::default(),
            min_ready_seconds: None,
        }),
        status: Some(ReplicaSetStatus {
            replicas: spec,
            ready_replicas: Some(available),
            available_replicas: Some(available),
            observed_generation: Some(1),
            ..Default::default()
        }),
    }
}

fn plan(d: &Deployment, rss: &[ReplicaSet], now: i64) -> Plan {
    reconcile(&Observed {
        deployment: d,
        replica_sets: rss.iter().collect(),
        running_pods: HashMap::new(),
        now: t(now),
    })
}

/// The ReplicaSet writes of a plan as `name=replicas`.
fn scales(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::CreateReplicaSet(rs) | Action::UpdateReplicaSet(rs) => Some(format!(
                "{}={}",
                rs.metadata.name.as_deref().unwrap().split('-').next_back().unwrap_or(""),
                rs_replicas(rs)
            )),
            _ => None,
        })
        .collect()
}

fn status(p: &Plan) -> Option<&DeploymentStatus> {
    p.actions.iter().find_map(|a| if let Action::UpdateStatus(s) = a { Some(s.as_ref()) } else { None })
}

fn hash(image: &str) -> String {
    template_hash(&template(image), None)
}

#[test]
fn a_new_deployment_creates_its_first_replica_set() {
    let d = deployment(3, "v1");
    let p = plan(&d, &[], 0);
    assert_eq!(scales(&p), [format!("{}=3", hash("v1"))]);
    assert!(p.actions.contains(&Action::SetRevision("1".into())));
    let Some(Action::CreateReplicaSet(created)) = p.actions.iter().find(|a| matches!(a, Action::CreateReplicaSet(_)))
    else {
        panic!()
    };
    assert_eq!(created.metadata.name.as_deref(), Some(format!("web-{}", hash("v1")).as_str()));
    assert_eq!(revision(created), 1);
    let selector = &created.spec.as_ref().unwrap().selector;
    assert_eq!(selector.match_labels.as_ref().unwrap()[HASH_LABEL], hash("v1"));
    let progressing = condition(status(&p).unwrap(), PROGRESSING).unwrap();
    assert_eq!(progressing.reason.as_deref(), Some(NEW_RS_CREATED));
    assert!(p.actions.contains(&Action::Event(
        "ScalingReplicaSet",
        format!("Scaled up replica set web-{} from 0 to 3", hash("v1"))
    )));
}

#[test]
fn rolling_update_respects_max_surge_and_max_unavailable() {
    // 4 replicas: maxSurge 1, maxUnavailable 1.
    let mut d = deployment(4, "v2");
    d.metadata.annotations = Some([(REVISION.to_string(), "1".to_string())].into());
    let (v1, v2) = (hash("v1"), hash("v2"));
    struct Step {
        old: (i32, i32),
        new: Option<(i32, i32)>,
        want: Vec<String>,
    }
    let steps = [
        // The new set is created at the surge.
        Step { old: (4, 4), new: None, want: vec![format!("{v2}=1")] },
        // At the surge, one old replica may go while the new one is unavailable.
        Step { old: (4, 4), new: Some((1, 0)), want: vec![format!("{v1}=3")] },
        // Back under the surge: grow the new set.
        Step { old: (3, 3), new: Some((1, 0)), want: vec![format!("{v2}=2")] },
        // Availability at the floor (3 of 4): nothing may go.
        Step { old: (3, 3), new: Some((2, 0)), want: vec![] },
        // New pods available: old ones go.
        Step { old: (3, 3), new: Some((2, 2)), want: vec![format!("{v1}=1")] },
        // Unhealthy old replicas go first.
        Step { old: (3, 1), new: Some((2, 2)), want: vec![format!("{v1}=1")] },
    ];
    for (n, s) in steps.iter().enumerate() {
        let mut rss = vec![rs(&d, "v1", s.old.0, s.old.1, 1, 0)];
        if let Some((spec, avail)) = s.new {
            rss.push(rs(&d, "v2", spec, avail, 2, 10));
        }
        assert_eq!(scales(&plan(&d, &rss, 100)), s.want, "step {n}");
    }
}

#[test]
fn a_finished_rollout_reports_complete_and_available() {
    let d = deployment(2, "v1");
    let rss = [rs(&d, "v1", 2, 2, 1, 0)];
    let p = plan(&d, &rss, 100);
    let s = status(&p).unwrap();
    assert_eq!((s.replicas, s.updated_replicas, s.available_replicas), (Some(2), Some(2), Some(2)));
    assert_eq!(condition(s, PROGRESSING).unwrap().reason.as_deref(), Some(NEW_RS_AVAILABLE));
    assert_eq!(condition(s, AVAILABLE).unwrap().status, "True");
    assert!(p.actions.contains(&Action::SetRevision("1".into())));
}

#[test]
fn recreate_scales_old_to_zero_waits_for_pods_then_creates() {
    let mut d = deployment(2, "v2");
    d.spec.as_mut().unwrap().strategy =
        Some(DeploymentStrategy { type_: Some("Recreate".into()), rolling_update: None });
    let old = rs(&d, "v1", 2, 2, 1, 0);
    assert_eq!(scales(&plan(&d, std::slice::from_ref(&old), 0)), [format!("{}=0", hash("v1"))]);

    let mut drained = rs(&d, "v1", 0, 0, 1, 0);
    drained.status.as_mut().unwrap().replicas = 0;
    let mut running = HashMap::new();
    running.insert("rs-v1".to_string(), 1);
    let waiting =
        reconcile(&Observed { deployment: &d, replica_sets: vec![&drained], running_pods: running, now: t(0) });
    assert!(scales(&waiting).is_empty(), "old pods still run");
    assert_eq!(scales(&plan(&d, &[drained], 0)), [format!("{}=2", hash("v2"))]);
}

#[test]
fn scaling_mid_rollout_is_proportional() {
    // 10 replicas (surge 3): old 8, new 5 = 13; scaled to 20 (surge 5) → 25.
    let mut d = deployment(10, "v2");
    let old = rs(&d, "v1", 8, 8, 1, 0);
    let new = rs(&d, "v2", 5, 0, 2, 10);
    d.spec.as_mut().unwrap().replicas = Some(20);
    let p = plan(&d, &[old, new], 100);
    let mut got = scales(&p);
    got.sort();
    let mut want = vec![format!("{}=15", hash("v1")), format!("{}=10", hash("v2"))];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_stalled_rollout_exceeds_its_progress_deadline() {
    let mut d = deployment(1, "v2");
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(60);
    let since = Time(t(0));
    let stalled = DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(2),
        updated_replicas: Some(1),
        ready_replicas: Some(1),
        available_replicas: Some(1),
        unavailable_replicas: Some(1),
        conditions: Some(vec![DeploymentCondition {
            type_: PROGRESSING.into(),
            status: "True".into(),
            reason: Some(RS_UPDATED.into()),
            message: None,
            last_update_time: Some(since.clone()),
            last_transition_time: Some(since),
        }]),
        ..Default::default()
    };
    d.status = Some(stalled);
    let rss = [rs(&d, "v1", 1, 1, 1, 0), rs(&d, "v2", 1, 0, 2, 10)];
    let early = plan(&d, &rss, 30);
    assert_eq!(early.requeue_after, Some(Duration::from_secs(30)), "comes back at the deadline");
    let late = plan(&d, &rss, 61);
    let c = condition(status(&late).unwrap(), PROGRESSING).unwrap();
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some(TIMED_OUT)));
}

#[test]
fn paused_deployments_scale_but_do_not_roll_out() {
    let mut d = deployment(2, "v2");
    d.spec.as_mut().unwrap().paused = Some(true);
    let rss = [rs(&d, "v1", 2, 2, 1, 0)];
    let p = plan(&d, &rss, 0);
    assert!(scales(&p).is_empty(), "no new ReplicaSet while paused");
    let c = condition(status(&p).unwrap(), PROGRESSING).unwrap();
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("Unknown", Some(PAUSED)));
}

#[test]
fn history_beyond_the_limit_is_deleted_oldest_revision_first() {
    let mut d = deployment(1, "v4");
    d.spec.as_mut().unwrap().revision_history_limit = Some(1);
    let mut rss =
        vec![rs(&d, "v1", 0, 0, 1, 0), rs(&d, "v2", 0, 0, 2, 1), rs(&d, "v3", 0, 0, 3, 2), rs(&d, "v4", 1, 1, 4, 3)];
    for r in &mut rss[..3] {
        r.status.as_mut().unwrap().replicas = 0;
    }
    d.status = Some(DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(1),
        updated_replicas: Some(1),
        available_replicas: Some(1),
        ..Default::default()
    });
    let p = plan(&d, &rss, 0);
    let deleted: Vec<&str> = p
        .actions
        .iter()
        .filter_map(|a| if let Action::DeleteReplicaSet(_, uid) = a { Some(uid.as_str()) } else { None })
        .collect();
    assert_eq!(deleted, ["rs-v1", "rs-v2"]);
}

#[test]
fn undo_reuses_the_old_replica_set_with_a_new_revision() {
    // Template back at v1 while v2 (revision 2) is current.
    let mut d = deployment(1, "v1");
    d.metadata.annotations = Some([(REVISION.to_string(), "2".to_string())].into());
    let rss = [rs(&d, "v1", 0, 0, 1, 0), rs(&d, "v2", 1, 1, 2, 10)];
    let p = plan(&d, &rss, 0);
    assert!(p.actions.contains(&Action::SetRevision("3".into())));
    let updated = p
        .actions
        .iter()
        .find_map(|a| if let Action::UpdateReplicaSet(r) = a { Some(r) } else { None })
        .expect("the v1 set is updated");
    assert_eq!(revision(updated), 3);
    assert_eq!(rs_replicas(updated), 1, "and scaled up within the surge");
}
