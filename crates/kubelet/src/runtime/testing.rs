//! The conformance suite every [`RuntimeService`] + [`ImageService`] must pass: run
//! against [`super::FakeRuntime`] in unit tests and against real containerd in
//! `tests/cri_containerd.rs`. It checks the failure contract written in
//! [`super`], so the kubelet can rely on it whichever runtime it drives.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{Error, ImageService, RuntimeService};
use crate::cri;

/// The image the suite runs (the busybox image `skiff image build` makes).
pub const TEST_IMAGE: &str = "docker.io/library/busybox:latest";

/// What the runtime under test can do beyond the contract.
pub struct Env {
    /// Containers really run their command (exit codes, output, logs).
    pub executes: bool,
    /// Where sandboxes put container logs; checked when `executes`.
    pub log_dir: Option<PathBuf>,
}

impl Env {
    pub fn fake() -> Env {
        Env { executes: false, log_dir: None }
    }
}

fn sandbox_config(name: &str, env: &Env) -> cri::PodSandboxConfig {
    let uid = format!("uid-{name}");
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            uid: uid.clone(),
            namespace: "conformance".into(),
            attempt: 0,
        }),
        hostname: name.into(),
        log_directory: env.log_dir.as_ref().map(|d| d.join(&uid).display().to_string()).unwrap_or_default(),
        labels: HashMap::from([("suite".to_string(), name.to_string())]),
        linux: Some(cri::LinuxPodSandboxConfig::default()),
        ..Default::default()
    }
}

fn container_config(name: &str, image: &str, script: &str) -> cri::ContainerConfig {
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata { name: name.into(), attempt: 0 }),
        image: Some(super::image_spec(image)),
        command: vec!["sh".into(), "-c".into()],
        args: vec![script.into()],
        log_path: format!("{name}/0.log"),
        labels: HashMap::from([("container".to_string(), name.to_string())]),
        linux: Some(cri::LinuxContainerConfig::default()),
        ..Default::default()
    }
}

async fn wait_state(rt: &dyn RuntimeService, id: &str, want: cri::ContainerState) -> cri::ContainerStatus {
    for _ in 0..300 {
        let st = rt.container_status(id).await.expect("container status");
        if st.state == want as i32 {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("container {id} never reached {want:?}");
}

/// Runs every check; panics with a message naming the broken guarantee.
pub async fn conformance<R: RuntimeService + ImageService>(rt: &R, env: &Env) {
    let v = rt.version().await.expect("version");
    assert_eq!(v.runtime_api_version, "v1", "runtime speaks CRI v1");
    let status = rt.status().await.expect("status");
    for cond in ["RuntimeReady", "NetworkReady"] {
        let c = status.conditions.iter().find(|c| c.r#type == cond);
        assert!(c.is_some_and(|c| c.status), "{cond} true in {status:?}");
    }

    // Images: the test image is present, an unknown one is not.
    assert!(rt.image_status(TEST_IMAGE).await.expect("image status").is_some(), "{TEST_IMAGE} present");
    assert!(rt.image_status("skiff.invalid/absent:1").await.expect("image status").is_none());
    assert!(rt.list_images().await.expect("list images").iter().any(|i| i.repo_tags.iter().any(|t| t == TEST_IMAGE)));

    // A sandbox is ready with an address and shows in filtered lists.
    let sb_config = sandbox_config("alpha", env);
    let sb = rt.run_pod_sandbox(sb_config.clone()).await.expect("run sandbox");
    let st = rt.pod_sandbox_status(&sb).await.expect("sandbox status");
    assert_eq!(st.state, cri::PodSandboxState::SandboxReady as i32);
    let ip = st.network.map(|n| n.ip).unwrap_or_default();
    assert!(ip.parse::<std::net::IpAddr>().is_ok(), "sandbox has an IP, got {ip:?}");
    let filter = cri::PodSandboxFilter {
        label_selector: HashMap::from([("suite".to_string(), "alpha".to_string())]),
        ..Default::default()
    };
    let listed = rt.list_pod_sandbox(Some(filter)).await.expect("list sandboxes");
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec![sb.as_str()]);

    // A container goes created → running → exited.
    let script = "echo hello; trap 'exit 0' TERM; while true; do sleep 1; done";
    let c = rt
        .create_container(&sb, container_config("main", TEST_IMAGE, script), sb_config.clone())
        .await
        .expect("create");
    assert_eq!(rt.container_status(&c).await.expect("status").state, cri::ContainerState::ContainerCreated as i32);
    rt.start_container(&c).await.expect("start");
    let running = wait_state(rt, &c, cri::ContainerState::ContainerRunning).await;
    assert!(running.started_at > 0, "started_at set");
    assert!(!running.image_ref.is_empty(), "image_ref set");
    let listed = rt
        .list_containers(Some(cri::ContainerFilter { pod_sandbox_id: sb.clone(), ..Default::default() }))
        .await
        .expect("list containers");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].metadata.as_ref().map(|m| m.name.as_str()), Some("main"));
    let out = rt.exec_sync(&c, vec!["echo".into(), "exec-ok".into()], 10).await.expect("exec");
    assert_eq!(out.exit_code, 0);
    if env.executes {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "exec-ok\n");
        let failing = rt.exec_sync(&c, vec!["sh".into(), "-c".into(), "exit 7".into()], 10).await.expect("exec");
        assert_eq!(failing.exit_code, 7);
    }
    rt.stop_container(&c, 5).await.expect("stop");
    let exited = wait_state(rt, &c, cri::ContainerState::ContainerExited).await;
    assert!(exited.finished_at >= exited.started_at);
    if env.executes {
        assert_eq!(exited.exit_code, 0, "the trap made SIGTERM a clean exit: {exited:?}");
        let log = std::fs::read_to_string(&exited.log_path).expect("container log file");
        assert!(log.lines().any(|l| l.ends_with(" stdout F hello")), "CRI log format: {log:?}");

        // A process that exits on its own reports its code.
        let c2 =
            rt.create_container(&sb, container_config("short", TEST_IMAGE, "exit 3"), sb_config.clone()).await.unwrap();
        rt.start_container(&c2).await.expect("start short");
        let done = wait_state(rt, &c2, cri::ContainerState::ContainerExited).await;
        assert_eq!(done.exit_code, 3);
        assert_eq!(done.reason, "Error");
    }

    // Missing things: typed errors, idempotent stop/remove.
    let missing =
        rt.create_container(&sb, container_config("x", "skiff.invalid/absent:1", "true"), sb_config.clone()).await;
    assert!(matches!(missing, Err(Error::ImageNotFound(_))), "missing image: {missing:?}");
    assert!(matches!(rt.container_status("0123456789abcdef").await, Err(Error::NotFound(_))));
    assert!(matches!(rt.pod_sandbox_status("0123456789abcdef").await, Err(Error::NotFound(_))));
    rt.stop_container("0123456789abcdef", 0).await.expect("stop of a missing container is ok");
    rt.remove_container("0123456789abcdef").await.expect("remove of a missing container is ok");
    rt.stop_pod_sandbox("0123456789abcdef").await.expect("stop of a missing sandbox is ok");
    rt.remove_pod_sandbox("0123456789abcdef").await.expect("remove of a missing sandbox is ok");

    // Stopping and removing a sandbox takes its containers with it.
    rt.stop_pod_sandbox(&sb).await.expect("stop sandbox");
    rt.stop_pod_sandbox(&sb).await.expect("stop sandbox twice");
    let st = rt.pod_sandbox_status(&sb).await.expect("sandbox status");
    assert_eq!(st.state, cri::PodSandboxState::SandboxNotready as i32);
    rt.remove_pod_sandbox(&sb).await.expect("remove sandbox");
    assert!(matches!(rt.container_status(&c).await, Err(Error::NotFound(_))), "containers go with their sandbox");
    let left =
        rt.list_containers(Some(cri::ContainerFilter { pod_sandbox_id: sb.clone(), ..Default::default() })).await;
    assert!(left.expect("list").is_empty());
    assert!(rt.list_pod_sandbox(None).await.expect("list").iter().all(|s| s.id != sb));
}
