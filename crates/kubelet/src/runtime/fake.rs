//! [`FakeRuntime`]: sandboxes and containers that "run" in memory. Used by unit
//! tests and by hollow nodes (many nodes simulated in one process), so it keeps
//! the whole CRI state machine, not just canned answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::{Error, ImageService, Result, RuntimeService};
use crate::cri;

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct FakeConfig {
    /// How long `run_pod_sandbox` takes.
    pub sandbox_delay: Duration,
    /// How long `start_container` takes.
    pub start_delay: Duration,
    /// Images present from the start.
    pub images: Vec<String>,
    /// Containers of these images fail to start (`start_container` errors and the
    /// container is left exited with code 128, like a missing binary in runc).
    pub failing_images: BTreeSet<String>,
    /// `pull_image` succeeds for any image (as if a registry had it). When false,
    /// pulls of absent images fail.
    pub pull_anything: bool,
}

#[derive(Debug, Clone)]
struct Sandbox {
    config: cri::PodSandboxConfig,
    ready: bool,
    created_at: i64,
    ip: String,
}

#[derive(Debug, Clone)]
struct Container {
    sandbox_id: String,
    config: cri::ContainerConfig,
    image_ref: String,
    state: cri::ContainerState,
    created_at: i64,
    started_at: i64,
    finished_at: i64,
    exit_code: i32,
    reason: String,
}

#[derive(Default)]
struct State {
    next_id: u64,
    sandboxes: BTreeMap<String, Sandbox>,
    containers: BTreeMap<String, Container>,
    images: BTreeSet<String>,
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:016x}", self.next_id)
    }
}

pub struct FakeRuntime {
    config: FakeConfig,
    state: Mutex<State>,
}

fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// Image names as CRI reports them: `busybox` is `docker.io/library/busybox:latest`.
pub fn normalize_image(image: &str) -> String {
    let (name, tag) = match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_string(), t.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let name = if has_registry {
        name
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{name}:{tag}")
}

impl FakeRuntime {
    /// A fake with the given behaviour; spawns nothing.
    pub fn new(config: FakeConfig) -> FakeRuntime {
        let images = config.images.iter().map(|i| normalize_image(i)).collect();
        FakeRuntime { config, state: Mutex::new(State { images, ..State::default() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent maps; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes a running container exit, as if its process ended with `code`.
    pub fn exit_container(&self, id: &str, code: i32) -> Result<()> {
        let mut st = self.lock();
        let c = st.containers.get_mut(id).ok_or_else(|| Error::NotFound(id.to_string()))?;
        if c.state == cri::ContainerState::ContainerRunning {
            c.state = cri::ContainerState::ContainerExited;
            c.finished_at = now_nanos();
            c.exit_code = code;
            c.reason = if code == 0 { "Completed".into() } else { "Error".into() };
        }
        Ok(())
    }

    /// Adds an image, as `skiff image import` would.
    pub fn add_image(&self, image: &str) {
        self.lock().images.insert(normalize_image(image));
    }
}

fn matches_labels(
    labels: &std::collections::HashMap<String, String>,
    selector: &std::collections::HashMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[async_trait]
impl RuntimeService for FakeRuntime {
    async fn version(&self) -> Result<cri::VersionResponse> {
        Ok(cri::VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "fake".into(),
            runtime_version: "0.1.0".into(),
            runtime_api_version: "v1".into(),
        })
    }

    async fn status(&self) -> Result<cri::RuntimeStatus> {
        let cond = |t: &str| cri::RuntimeCondition {
            r#type: t.into(),
            status: true,
            reason: String::new(),
            message: String::new(),
        };
        Ok(cri::RuntimeStatus { conditions: vec![cond("RuntimeReady"), cond("NetworkReady")] })
    }

    async fn run_pod_sandbox(&self, config: cri::PodSandboxConfig) -> Result<String> {
        if !self.config.sandbox_delay.is_zero() {
            tokio::time::sleep(self.config.sandbox_delay).await;
        }
        let mut st = self.lock();
        let id = st.id("sb");
        let n = st.next_id;
        let ip = format!("10.88.{}.{}", (n >> 8) & 0xff, (n & 0xff).max(2));
        st.sandboxes.insert(id.clone(), Sandbox { config, ready: true, created_at: now_nanos(), ip });
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut st = self.lock();
        let now = now_nanos();
        for c in st.containers.values_mut().filter(|c| c.sandbox_id == id) {
            if c.state == cri::ContainerState::ContainerRunning {
                c.state = cri::ContainerState::ContainerExited;
                c.finished_at = now;
                c.exit_code = 137;
                c.reason = "Error".into();
            }
        }
        if let Some(sb) = st.sandboxes.get_mut(id) {
            sb.ready = false;
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut st = self.lock();
        st.containers.retain(|_, c| c.sandbox_id != id);
        st.sandboxes.remove(id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<cri::PodSandboxStatus> {
        let st = self.lock();
        let sb = st.sandboxes.get(id).ok_or_else(|| Error::NotFound(id.to_string()))?;
        let state = if sb.ready { cri::PodSandboxState::SandboxReady } else { cri::PodSandboxState::SandboxNotready };
        Ok(cri::PodSandboxStatus {
            id: id.to_string(),
            metadata: sb.config.metadata.clone(),
            state: state as i32,
            created_at: sb.created_at,
            network: Some(cri::PodSandboxNetworkStatus { ip: sb.ip.clone(), additional_ips: vec![] }),
            labels: sb.config.labels.clone(),
            annotations: sb.config.annotations.clone(),
            ..Default::default()
        })
    }

    async fn list_pod_sandbox(&self, filter: Option<cri::PodSandboxFilter>) -> Result<Vec<cri::PodSandbox>> {
        let st = self.lock();
        let filter = filter.unwrap_or_default();
        Ok(st
            .sandboxes
            .iter()
            .filter(|(id, _)| filter.id.is_empty() || **id == filter.id)
            .filter(|(_, sb)| {
                filter.state.as_ref().is_none_or(|s| (s.state == cri::PodSandboxState::SandboxReady as i32) == sb.ready)
            })
            .filter(|(_, sb)| matches_labels(&sb.config.labels, &filter.label_selector))
            .map(|(id, sb)| cri::PodSandbox {
                id: id.clone(),
                metadata: sb.config.metadata.clone(),
                state: if sb.ready { cri::PodSandboxState::SandboxReady } else { cri::PodSandboxState::SandboxNotready }
                    as i32,
                created_at: sb.created_at,
                labels: sb.config.labels.clone(),
                annotations: sb.config.annotations.clone(),
                runtime_handler: String::new(),
            })
            .collect())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: cri::ContainerConfig,
        _sandbox_config: cri::PodSandboxConfig,
    ) -> Result<String> {
        let mut st = self.lock();
        if !st.sandboxes.contains_key(sandbox_id) {
            return Err(Error::NotFound(format!("sandbox {sandbox_id}")));
        }
        let image = normalize_image(&config.image.as_ref().map(|i| i.image.clone()).unwrap_or_default());
        if !st.images.contains(&image) {
            return Err(Error::ImageNotFound(image));
        }
        let id = st.id("ct");
        let c = Container {
            sandbox_id: sandbox_id.to_string(),
            config,
            image_ref: format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(image.as_bytes()))),
            state: cri::ContainerState::ContainerCreated,
            created_at: now_nanos(),
            started_at: 0,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
        };
        st.containers.insert(id.clone(), c);
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        if !self.config.start_delay.is_zero() {
            tokio::time::sleep(self.config.start_delay).await;
        }
        let mut st = self.lock();
        let c = st.containers.get_mut(id).ok_or_else(|| Error::NotFound(id.to_string()))?;
        if c.state != cri::ContainerState::ContainerCreated {
            return Err(Error::Failed {
                op: "StartContainer",
                message: format!("container {id} is not in created state"),
            });
        }
        let image = normalize_image(&c.config.image.as_ref().map(|i| i.image.clone()).unwrap_or_default());
        let now = now_nanos();
        if self.config.failing_images.iter().any(|i| normalize_image(i) == image) {
            c.state = cri::ContainerState::ContainerExited;
            c.started_at = now;
            c.finished_at = now;
            c.exit_code = 128;
            c.reason = "StartError".into();
            return Err(Error::Failed { op: "StartContainer", message: format!("fake: image {image} is set to fail") });
        }
        c.state = cri::ContainerState::ContainerRunning;
        c.started_at = now;
        Ok(())
    }

    async fn stop_container(&self, id: &str, timeout_seconds: i64) -> Result<()> {
        let mut st = self.lock();
        if let Some(c) = st.containers.get_mut(id) {
            if c.state == cri::ContainerState::ContainerRunning {
                c.state = cri::ContainerState::ContainerExited;
                c.finished_at = now_nanos();
                // A process that honours SIGTERM exits 0; a kill is 137.
                (c.exit_code, c.reason) =
                    if timeout_seconds > 0 { (0, "Completed".into()) } else { (137, "Error".into()) };
            }
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let mut st = self.lock();
        if let Some(c) = st.containers.get(id) {
            if c.state == cri::ContainerState::ContainerRunning {
                return Err(Error::Failed { op: "RemoveContainer", message: format!("container {id} is running") });
            }
        }
        st.containers.remove(id);
        Ok(())
    }

    async fn list_containers(&self, filter: Option<cri::ContainerFilter>) -> Result<Vec<cri::Container>> {
        let st = self.lock();
        let filter = filter.unwrap_or_default();
        Ok(st
            .containers
            .iter()
            .filter(|(id, _)| filter.id.is_empty() || **id == filter.id)
            .filter(|(_, c)| filter.pod_sandbox_id.is_empty() || c.sandbox_id == filter.pod_sandbox_id)
            .filter(|(_, c)| filter.state.as_ref().is_none_or(|s| s.state == c.state as i32))
            .filter(|(_, c)| matches_labels(&c.config.labels, &filter.label_selector))
            .map(|(id, c)| cri::Container {
                id: id.clone(),
                pod_sandbox_id: c.sandbox_id.clone(),
                metadata: c.config.metadata.clone(),
                image: c.config.image.clone(),
                image_ref: c.image_ref.clone(),
                state: c.state as i32,
                created_at: c.created_at,
                labels: c.config.labels.clone(),
                annotations: c.config.annotations.clone(),
                ..Default::default()
            })
            .collect())
    }

    async fn container_status(&self, id: &str) -> Result<cri::ContainerStatus> {
        let st = self.lock();
        let c = st.containers.get(id).ok_or_else(|| Error::NotFound(id.to_string()))?;
        Ok(cri::ContainerStatus {
            id: id.to_string(),
            metadata: c.config.metadata.clone(),
            state: c.state as i32,
            created_at: c.created_at,
            started_at: c.started_at,
            finished_at: c.finished_at,
            exit_code: c.exit_code,
            image: c.config.image.clone(),
            image_ref: c.image_ref.clone(),
            reason: c.reason.clone(),
            labels: c.config.labels.clone(),
            annotations: c.config.annotations.clone(),
            log_path: c.config.log_path.clone(),
            ..Default::default()
        })
    }

    async fn exec_sync(&self, id: &str, _cmd: Vec<String>, _timeout_seconds: i64) -> Result<cri::ExecSyncResponse> {
        let st = self.lock();
        let c = st.containers.get(id).ok_or_else(|| Error::NotFound(id.to_string()))?;
        if c.state != cri::ContainerState::ContainerRunning {
            return Err(Error::Failed { op: "ExecSync", message: format!("container {id} is not running") });
        }
        Ok(cri::ExecSyncResponse { stdout: vec![], stderr: vec![], exit_code: 0 })
    }

    // Hollow containers have no processes to stream to: the fake says so rather
    // than pretending (the kubelet answers the caller with that message).
    async fn exec(&self, req: cri::ExecRequest) -> Result<String> {
        self.no_streaming("Exec", &req.container_id)
    }

    async fn attach(&self, req: cri::AttachRequest) -> Result<String> {
        self.no_streaming("Attach", &req.container_id)
    }

    async fn port_forward(&self, req: cri::PortForwardRequest) -> Result<String> {
        let st = self.lock();
        if !st.sandboxes.contains_key(&req.pod_sandbox_id) {
            return Err(Error::NotFound(req.pod_sandbox_id));
        }
        Err(Error::Failed { op: "PortForward", message: "the fake runtime has no streaming server".into() })
    }
}

impl FakeRuntime {
    fn no_streaming(&self, op: &'static str, id: &str) -> Result<String> {
        if !self.lock().containers.contains_key(id) {
            return Err(Error::NotFound(id.to_string()));
        }
        Err(Error::Failed { op, message: "the fake runtime has no streaming server".into() })
    }
}

#[async_trait]
impl ImageService for FakeRuntime {
    async fn list_images(&self) -> Result<Vec<cri::Image>> {
        Ok(self.lock().images.iter().map(|i| fake_image(i)).collect())
    }

    async fn image_status(&self, image: &str) -> Result<Option<cri::Image>> {
        let image = normalize_image(image);
        Ok(self.lock().images.contains(&image).then(|| fake_image(&image)))
    }

    async fn pull_image(&self, image: &str) -> Result<String> {
        let image = normalize_image(image);
        let mut st = self.lock();
        if !st.images.contains(&image) {
            if !self.config.pull_anything {
                return Err(Error::Failed { op: "PullImage", message: format!("fake: no registry serves {image}") });
            }
            st.images.insert(image.clone());
        }
        Ok(fake_image(&image).id)
    }

    async fn remove_image(&self, image: &str) -> Result<()> {
        self.lock().images.remove(&normalize_image(image));
        Ok(())
    }
}

fn fake_image(name: &str) -> cri::Image {
    cri::Image {
        id: format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(name.as_bytes()))),
        repo_tags: vec![name.to_string()],
        size: 1 << 20,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_are_normalized_like_containerd() {
        assert_eq!(normalize_image("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(normalize_image("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(normalize_image("me/app"), "docker.io/me/app:latest");
        assert_eq!(normalize_image("skiff.local/pause:3.10"), "skiff.local/pause:3.10");
        assert_eq!(normalize_image("localhost:5000/x"), "localhost:5000/x:latest");
    }

    #[tokio::test]
    async fn fake_runtime_passes_the_conformance_suite() {
        let rt = FakeRuntime::new(FakeConfig {
            images: vec![super::super::testing::TEST_IMAGE.into()],
            ..Default::default()
        });
        super::super::testing::conformance(&rt, &super::super::testing::Env::fake()).await;
    }
}
