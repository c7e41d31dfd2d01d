use super::*;
use crate::pod_info::testing::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::time::Duration;

fn core() -> SchedulerCore {
    SchedulerCore::new(SchedulerConfig::default(), Box::new(StdRng::seed_from_u64(7)))
}

fn add_pod(c: &mut SchedulerCore, b: PodBuilder, now: Instant) {
    let priority = b.1;
    c.pod_upserted(Arc::new(b.0), priority, now);
}

fn bind_target(a: Option<Action>) -> (String, String) {
    match a {
        Some(Action::Bind { pod, node }) => (pod.name.clone(), node),
        other => panic!("expected a binding, got {other:?}"),
    }
}

#[test]
fn schedules_pending_pods_and_counts_them_at_once() {
    let t0 = Instant::now();
    let mut c = core();
    c.node_upserted(node("n1").alloc(&[("cpu", "1"), ("pods", "10")]).build(), t0);
    add_pod(&mut c, pod("a").req(&[("cpu", "600m")]), t0);
    add_pod(&mut c, pod("b").req(&[("cpu", "600m")]), t0);
    assert_eq!(bind_target(c.schedule_next(t0)), ("a".into(), "n1".into()));
    // a is assumed on n1: b no longer fits there.
    match c.schedule_next(t0) {
        Some(Action::Unschedulable { pod, message, .. }) => {
            assert_eq!(pod.name, "b");
            assert!(message.starts_with("0/1 nodes are available: 1 Insufficient cpu."), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(c.schedule_next(t0).is_none());
}

#[test]
fn unschedulable_pod_schedules_once_a_node_fits() {
    let t0 = Instant::now();
    let mut c = core();
    add_pod(&mut c, pod("a").req(&[("cpu", "2")]), t0);
    match c.schedule_next(t0) {
        Some(Action::Unschedulable { message, .. }) => assert_eq!(message, "no nodes available to schedule pods"),
        other => panic!("{other:?}"),
    }
    let t1 = t0 + Duration::from_secs(30);
    c.node_upserted(node("big").build(), t1);
    assert_eq!(bind_target(c.schedule_next(t1)), ("a".into(), "big".into()));
}

#[test]
fn failed_binding_is_forgotten_and_retried_after_backoff() {
    let t0 = Instant::now();
    let mut c = core();
    c.node_upserted(node("n1").build(), t0);
    add_pod(&mut c, pod("a").req(&[("cpu", "1")]), t0);
    bind_target(c.schedule_next(t0));
    assert_eq!(c.cache().node("n1").unwrap().requested.milli_cpu, 1000);
    c.bind_finished("uid-a", false, false, t0);
    assert_eq!(c.cache().node("n1").unwrap().requested.milli_cpu, 0);
    assert!(c.schedule_next(t0 + Duration::from_millis(500)).is_none(), "backing off");
    assert_eq!(bind_target(c.schedule_next(t0 + Duration::from_secs(1))).1, "n1");
    c.bind_finished("uid-a", true, false, t0 + Duration::from_secs(1));
    assert_eq!(c.queue_counts(), QueueCounts::default());
}

#[test]
fn confirmed_binding_keeps_the_pod_counted() {
    let t0 = Instant::now();
    let mut c = core();
    c.node_upserted(node("n1").build(), t0);
    add_pod(&mut c, pod("a").req(&[("cpu", "1")]), t0);
    bind_target(c.schedule_next(t0));
    // The informer sees the stale pending copy, then the bound one.
    add_pod(&mut c, pod("a").req(&[("cpu", "1")]), t0);
    add_pod(&mut c, pod("a").req(&[("cpu", "1")]).node("n1"), t0);
    c.bind_finished("uid-a", true, false, t0);
    assert_eq!(c.cache().node("n1").unwrap().requested.milli_cpu, 1000);
    assert!(!c.cache().is_assumed("uid-a"));
    assert!(c.schedule_next(t0).is_none());
}

#[test]
fn other_schedulers_gated_and_deleting_pods_are_left_alone() {
    let t0 = Instant::now();
    let mut c = core();
    c.node_upserted(node("n1").build(), t0);
    add_pod(&mut c, pod("custom").with_spec(|s| s.scheduler_name = Some("my-scheduler".into())), t0);
    add_pod(
        &mut c,
        pod("gated").with_spec(|s| {
            s.scheduling_gates = Some(vec![k8s_openapi::api::core::v1::PodSchedulingGate { name: "wait".into() }])
        }),
        t0,
    );
    let mut deleting = pod("deleting");
    deleting.0.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(chrono::Utc::now()));
    add_pod(&mut c, deleting, t0);
    assert!(c.schedule_next(t0).is_none());
    // Removing the gate makes the pod schedulable.
    add_pod(&mut c, pod("gated"), t0);
    assert_eq!(bind_target(c.schedule_next(t0)).0, "gated");
}

#[test]
fn preemption_nominates_and_names_victims() {
    let t0 = Instant::now();
    let mut c = core();
    c.node_upserted(node("n1").alloc(&[("cpu", "1"), ("pods", "10")]).build(), t0);
    add_pod(&mut c, pod("low").req(&[("cpu", "1")]).priority(1).node("n1"), t0);
    add_pod(&mut c, pod("vip").req(&[("cpu", "1")]).priority(1000), t0);
    match c.schedule_next(t0) {
        Some(Action::Unschedulable { pod, nominated_node, victims, message }) => {
            assert_eq!(pod.name, "vip");
            assert_eq!(nominated_node.as_deref(), Some("n1"));
            assert_eq!(victims.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["low"]);
            assert_eq!(message, "0/1 nodes are available: 1 Insufficient cpu.");
        }
        other => panic!("{other:?}"),
    }
    // The victim goes; the preemptor lands on the nominated node.
    c.pod_deleted("uid-low", t0 + Duration::from_secs(2));
    assert_eq!(bind_target(c.schedule_next(t0 + Duration::from_secs(2))), ("vip".into(), "n1".into()));
}

#[test]
fn failed_preemption_explains_itself() {
    let t0 = Instant::now();
    let mut c = core();
    c.node_upserted(node("n1").alloc(&[("cpu", "1"), ("pods", "10")]).build(), t0);
    add_pod(&mut c, pod("peer").req(&[("cpu", "1")]).priority(5).node("n1"), t0);
    add_pod(&mut c, pod("p").req(&[("cpu", "1")]).priority(5), t0);
    match c.schedule_next(t0) {
        Some(Action::Unschedulable { message, nominated_node: None, .. }) => assert_eq!(
            message,
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn finished_pods_free_their_room() {
    let t0 = Instant::now();
    let mut c = core();
    c.node_upserted(node("n1").alloc(&[("cpu", "1"), ("pods", "10")]).build(), t0);
    add_pod(&mut c, pod("job").req(&[("cpu", "1")]).node("n1"), t0);
    add_pod(&mut c, pod("p").req(&[("cpu", "1")]).with_spec(|s| s.preemption_policy = Some("Never".into())), t0);
    assert!(matches!(c.schedule_next(t0), Some(Action::Unschedulable { .. })));
    let mut done = pod("job").req(&[("cpu", "1")]).node("n1");
    done.0.status =
        Some(k8s_openapi::api::core::v1::PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
    add_pod(&mut c, done, t0 + Duration::from_secs(5));
    assert_eq!(bind_target(c.schedule_next(t0 + Duration::from_secs(5))).0, "p");
}

#[test]
fn own_status_writes_do_not_retry_an_unschedulable_pod() {
    let t0 = Instant::now();
    let mut c = core();
    c.node_upserted(node("n1").alloc(&[("cpu", "1"), ("pods", "10")]).build(), t0);
    add_pod(&mut c, pod("p").req(&[("cpu", "2")]), t0);
    assert!(matches!(c.schedule_next(t0), Some(Action::Unschedulable { .. })));
    let mut with_condition = pod("p").req(&[("cpu", "2")]);
    with_condition.0.status = Some(k8s_openapi::api::core::v1::PodStatus {
        conditions: Some(vec![k8s_openapi::api::core::v1::PodCondition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            ..Default::default()
        }]),
        ..Default::default()
    });
    add_pod(&mut c, with_condition, t0 + Duration::from_secs(1));
    assert!(c.schedule_next(t0 + Duration::from_secs(20)).is_none());
    assert_eq!(c.queue_counts().unschedulable, 1);
    // A spec change does retry it.
    add_pod(&mut c, pod("p").req(&[("cpu", "500m")]), t0 + Duration::from_secs(21));
    assert_eq!(bind_target(c.schedule_next(t0 + Duration::from_secs(21))).0, "p");
}

#[test]
fn the_bound_copy_of_an_assumed_pod_confirms_it_in_place() {
    let t0 = Instant::now();
    let mut c = core();
    c.node_upserted(node("n1").build(), t0);
    add_pod(&mut c, pod("a").req(&[("cpu", "1")]), t0);
    let assumed = match c.schedule_next(t0) {
        Some(Action::Bind { pod, .. }) => pod,
        other => panic!("{other:?}"),
    };
    // The assumed pod shares the pending pod's object: only `node_name` says where.
    assert_eq!(assumed.node_name, "n1");
    add_pod(&mut c, pod("a").req(&[("cpu", "1")]).node("n1"), t0);
    let pods = &c.cache().node("n1").unwrap().pods;
    assert!(pods.len() == 1 && Arc::ptr_eq(&pods[0], &assumed), "kept, not replaced");
    assert!(!c.cache().is_assumed("uid-a"));
}

#[test]
fn specs_are_compared_without_the_node_name() {
    let pending = pod("a").req(&[("cpu", "1")]).build();
    let bound = pod("a").req(&[("cpu", "1")]).node("n1").build();
    assert!(!spec_or_metadata_changed(&pending.pod, &bound.pod));
    let bigger = pod("a").req(&[("cpu", "2")]).node("n1").build();
    assert!(spec_or_metadata_changed(&pending.pod, &bigger.pod));
    let relabelled = pod("a").req(&[("cpu", "1")]).labels(&[("x", "y")]).build();
    assert!(spec_or_metadata_changed(&pending.pod, &relabelled.pod));
}
