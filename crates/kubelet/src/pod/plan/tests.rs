use super::*;
use crate::pod::observed::{ContainerObs, SandboxObs};

fn pod(yaml: serde_json::Value) -> Pod {
    serde_json::from_value(yaml).unwrap()
}

fn simple(policy: &str) -> Pod {
    pod(serde_json::json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": {"restartPolicy": policy, "initContainers": [{"name": "i1", "image": "busybox"}, {"name": "i2", "image": "busybox"}],
                 "containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]}
    }))
}

fn sandbox() -> SandboxObs {
    SandboxObs { id: "sb".into(), attempt: 0, ready: true, ip: "10.42.0.5".into(), created_at: 1 }
}

fn ctr(name: &str, attempt: u32, phase: ContainerPhase, exit_code: i32, finished_at: i64) -> ContainerObs {
    ContainerObs {
        id: format!("{name}-{attempt}"),
        sandbox_id: "sb".into(),
        name: name.into(),
        attempt,
        phase,
        exit_code,
        reason: String::new(),
        message: String::new(),
        created_at: attempt as i64 + 1,
        started_at: 1,
        finished_at,
        image: "busybox".into(),
        image_ref: "sha256:x".into(),
    }
}

const SEC: i64 = 1_000_000_000;

#[test]
fn a_pod_without_a_sandbox_gets_one() {
    let p = plan(&simple("Always"), &Observed::default(), "Pending", &BTreeMap::new(), 0);
    assert_eq!(p.actions, vec![Action::CreateSandbox { attempt: 0 }]);
}

#[test]
fn a_dead_sandbox_is_replaced_with_the_next_attempt() {
    let mut sb = sandbox();
    sb.ready = false;
    let obs = Observed { sandboxes: vec![sb], containers: vec![] };
    let p = plan(&simple("Always"), &obs, "Running", &BTreeMap::new(), 0);
    assert_eq!(
        p.actions,
        vec![Action::RemoveSandboxes { ids: vec!["sb".into()] }, Action::CreateSandbox { attempt: 1 }]
    );
}

#[test]
fn init_containers_run_one_at_a_time_in_order() {
    let mut obs = Observed { sandboxes: vec![sandbox()], containers: vec![] };
    let p = plan(&simple("Always"), &obs, "Pending", &BTreeMap::new(), 0);
    assert_eq!(p.actions, vec![Action::StartContainer { name: "i1".into(), init: true, attempt: 0 }]);
    obs.containers.push(ctr("i1", 0, ContainerPhase::Running, 0, 0));
    assert!(plan(&simple("Always"), &obs, "Pending", &BTreeMap::new(), 0).actions.is_empty(), "waits for i1");
    obs.containers[0] = ctr("i1", 0, ContainerPhase::Exited, 0, SEC);
    let p = plan(&simple("Always"), &obs, "Pending", &BTreeMap::new(), 2 * SEC);
    assert_eq!(p.actions, vec![Action::StartContainer { name: "i2".into(), init: true, attempt: 0 }]);
    obs.containers.push(ctr("i2", 0, ContainerPhase::Exited, 0, SEC));
    let p = plan(&simple("Always"), &obs, "Pending", &BTreeMap::new(), 2 * SEC);
    assert_eq!(
        p.actions,
        vec![
            Action::StartContainer { name: "a".into(), init: false, attempt: 0 },
            Action::StartContainer { name: "b".into(), init: false, attempt: 0 },
        ]
    );
}

#[test]
fn a_failed_init_container_fails_a_never_restarting_pod() {
    let obs = Observed { sandboxes: vec![sandbox()], containers: vec![ctr("i1", 0, ContainerPhase::Exited, 1, SEC)] };
    assert!(plan(&simple("Never"), &obs, "Failed", &BTreeMap::new(), 100 * SEC)
        .actions
        .iter()
        .all(|a| matches!(a, Action::KillPod { .. })));
    let p = plan(&simple("OnFailure"), &obs, "Pending", &BTreeMap::new(), 100 * SEC);
    assert_eq!(p.actions, vec![Action::StartContainer { name: "i1".into(), init: true, attempt: 1 }]);
}

fn app_only(policy: &str) -> Pod {
    pod(
        serde_json::json!({"metadata": {"name": "p", "uid": "u"}, "spec": {"restartPolicy": policy, "containers": [{"name": "a", "image": "busybox"}]}}),
    )
}

#[test]
fn restarts_back_off_exponentially() {
    let obs =
        Observed { sandboxes: vec![sandbox()], containers: vec![ctr("a", 0, ContainerPhase::Exited, 1, 10 * SEC)] };
    let held = plan(&app_only("Always"), &obs, "Running", &BTreeMap::new(), 15 * SEC);
    assert!(held.actions.is_empty());
    assert_eq!(held.waiting["a"].reason, "CrashLoopBackOff");
    assert_eq!(held.requeue_after, Some(Duration::from_secs(5)));
    let go = plan(&app_only("Always"), &obs, "Running", &BTreeMap::new(), 20 * SEC);
    assert_eq!(go.actions, vec![Action::StartContainer { name: "a".into(), init: false, attempt: 1 }]);
    let obs3 =
        Observed { sandboxes: vec![sandbox()], containers: vec![ctr("a", 3, ContainerPhase::Exited, 1, 10 * SEC)] };
    let held = plan(&app_only("Always"), &obs3, "Running", &BTreeMap::new(), 10 * SEC);
    assert_eq!(held.requeue_after, Some(Duration::from_secs(80)));
    // Go's duration, as upstream's message prints it.
    assert_eq!(held.waiting["a"].message, "back-off 1m20s restarting failed container=a pod=p_default(u)");
    assert_eq!(backoff(10), BACKOFF_MAX);
}

#[test]
fn restart_policy_decides_who_runs_again() {
    let exited = |code| Observed {
        sandboxes: vec![sandbox()],
        containers: vec![ctr("a", 0, ContainerPhase::Exited, code, SEC)],
    };
    let later = 1000 * SEC;
    assert!(plan(&app_only("Never"), &exited(1), "Failed", &BTreeMap::new(), later)
        .actions
        .iter()
        .all(|a| matches!(a, Action::KillPod { .. })));
    assert!(plan(&app_only("OnFailure"), &exited(0), "Succeeded", &BTreeMap::new(), later)
        .actions
        .iter()
        .all(|a| matches!(a, Action::KillPod { .. })));
    assert_eq!(plan(&app_only("OnFailure"), &exited(2), "Running", &BTreeMap::new(), later).actions.len(), 1);
    assert_eq!(plan(&app_only("Always"), &exited(0), "Running", &BTreeMap::new(), later).actions.len(), 1);
}

#[test]
fn a_deleted_pod_is_stopped_with_its_grace_period_then_finalized() {
    let mut p = app_only("Always");
    p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(chrono::Utc::now()));
    p.metadata.deletion_grace_period_seconds = Some(7);
    let obs = Observed { sandboxes: vec![sandbox()], containers: vec![ctr("a", 0, ContainerPhase::Running, 0, 0)] };
    let got = plan(&p, &obs, "Running", &BTreeMap::new(), 0);
    assert_eq!(got.actions, vec![Action::KillPod { grace_seconds: 7 }, Action::Finalize]);
    let got = plan(&p, &Observed::default(), "Running", &BTreeMap::new(), 0);
    assert_eq!(got.actions, vec![Action::Finalize]);
}

#[test]
fn failed_image_pulls_back_off() {
    let obs = Observed { sandboxes: vec![sandbox()], containers: vec![] };
    let failures = BTreeMap::from([(
        "a".to_string(),
        StartFailure { reason: "ErrImagePull".into(), message: "no registry".into(), at: 0, count: 1 },
    )]);
    let p = plan(&app_only("Always"), &obs, "Pending", &failures, 5 * SEC);
    assert!(p.actions.is_empty());
    assert_eq!(p.waiting["a"].reason, "ImagePullBackOff");
    let p = plan(&app_only("Always"), &obs, "Pending", &failures, 11 * SEC);
    assert_eq!(p.actions.len(), 1);
}

fn with_sidecars(policy: &str) -> Pod {
    pod(serde_json::json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": {"restartPolicy": policy, "initContainers": [
                    {"name": "i1", "image": "busybox"},
                    {"name": "s1", "image": "busybox", "restartPolicy": "Always"},
                    {"name": "i2", "image": "busybox"},
                    {"name": "s2", "image": "busybox", "restartPolicy": "Always"}],
                 "containers": [{"name": "a", "image": "busybox"}]}
    }))
}

fn start(name: &str, init: bool, attempt: u32) -> Action {
    Action::StartContainer { name: name.into(), init, attempt }
}

#[test]
fn sidecars_start_in_order_and_the_next_waits_until_they_started() {
    let p = with_sidecars("Never");
    let none = BTreeMap::new();
    let mut obs =
        Observed { sandboxes: vec![sandbox()], containers: vec![ctr("i1", 0, ContainerPhase::Exited, 0, SEC)] };
    assert_eq!(plan(&p, &obs, "Pending", &none, 2 * SEC).actions, vec![start("s1", true, 0)]);
    obs.containers.push(ctr("s1", 0, ContainerPhase::Created, 0, 0));
    assert!(plan(&p, &obs, "Pending", &none, 2 * SEC).actions.is_empty(), "waits for s1 to run");
    obs.containers[1] = ctr("s1", 0, ContainerPhase::Running, 0, 0);
    // Its startup probe has not passed yet: i2 waits.
    let probing = BTreeMap::from([("s1-0".to_string(), ProbeView { ready: false, started: false })]);
    assert!(plan_with_probes(&p, &obs, "Pending", &none, &probing, 2 * SEC).actions.is_empty());
    let started = BTreeMap::from([("s1-0".to_string(), ProbeView { ready: false, started: true })]);
    assert_eq!(plan_with_probes(&p, &obs, "Pending", &none, &started, 2 * SEC).actions, vec![start("i2", true, 0)]);
    obs.containers.push(ctr("i2", 0, ContainerPhase::Exited, 0, SEC));
    assert_eq!(plan(&p, &obs, "Pending", &none, 2 * SEC).actions, vec![start("s2", true, 0)]);
    obs.containers.push(ctr("s2", 0, ContainerPhase::Running, 0, 0));
    assert_eq!(plan(&p, &obs, "Pending", &none, 2 * SEC).actions, vec![start("a", false, 0)]);
}

#[test]
fn an_exited_sidecar_restarts_with_back_off_whatever_the_pods_policy() {
    let p = with_sidecars("Never");
    let none = BTreeMap::new();
    let obs = Observed {
        sandboxes: vec![sandbox()],
        containers: vec![
            ctr("i1", 0, ContainerPhase::Exited, 0, SEC),
            ctr("s1", 0, ContainerPhase::Exited, 0, 10 * SEC),
            ctr("i2", 0, ContainerPhase::Exited, 0, SEC),
            ctr("s2", 0, ContainerPhase::Running, 0, 0),
            ctr("a", 0, ContainerPhase::Running, 0, 0),
        ],
    };
    let held = plan(&p, &obs, "Running", &none, 15 * SEC);
    assert!(held.actions.is_empty());
    assert_eq!(held.waiting["s1"].reason, "CrashLoopBackOff");
    assert_eq!(plan(&p, &obs, "Running", &none, 21 * SEC).actions, vec![start("s1", true, 1)]);
    // Once the pod finished, sidecars are stopped, not restarted.
    let done = plan(&p, &obs, "Succeeded", &none, 21 * SEC);
    assert!(done.actions.iter().all(|a| matches!(a, Action::KillPod { .. })));
}

#[test]
fn sidecars_stop_after_the_app_containers_in_reverse_order() {
    let p = with_sidecars("Always");
    let waits = termination_waits(&p, &["s1", "s2", "a"]);
    assert_eq!(waits["a"], Vec::<String>::new());
    assert_eq!(waits["s2"], vec!["a".to_string()]);
    assert_eq!(waits["s1"], vec!["a".to_string(), "s2".to_string()]);
    // A sidecar that is not running is not waited for.
    let waits = termination_waits(&p, &["s1", "a"]);
    assert_eq!(waits["s1"], vec!["a".to_string()]);
}

#[test]
fn a_failed_sandbox_is_retried_with_back_off() {
    let failures = BTreeMap::from([(
        SANDBOX.to_string(),
        StartFailure { reason: "FailedCreatePodSandBox".into(), message: "no pause".into(), at: 0, count: 2 },
    )]);
    let p = plan(&simple("Always"), &Observed::default(), "Pending", &failures, 5 * SEC);
    assert!(p.actions.is_empty());
    assert_eq!(p.requeue_after, Some(Duration::from_secs(15)), "the second failure waits 20 s");
    let p = plan(&simple("Always"), &Observed::default(), "Pending", &failures, 20 * SEC);
    assert_eq!(p.actions, vec![Action::CreateSandbox { attempt: 0 }]);
}
