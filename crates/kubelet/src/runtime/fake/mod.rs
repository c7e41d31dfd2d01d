//! [`FakeRuntime`]: sandboxes and containers that "run" in memory. Used by unit
//! tests and by hollow nodes (many nodes simulated in one process), so it keeps
//! the whole CRI state machine, not just canned answers. Pod addresses come
//! from the node's podCIDR once [`FakeRuntime::set_pod_cidr`] has given it one.

mod ipam;

pub use ipam::{Ipam, IpamError};

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
    /// The fraction (0–1) of container starts that fail as a failing image's do,
    /// drawn from a generator seeded with `seed`, so a run replays exactly.
    pub failure_rate: f64,
    pub seed: u64,
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
    /// Pod addresses, once the node has a podCIDR.
    ipam: Option<Ipam>,
    /// Container starts so far: the failure draw of the n-th start.
    starts: u64,
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

    /// Gives sandboxes created from now on addresses from `cidr` (the node's
    /// podCIDR), keeping those of existing sandboxes.
    ///
    /// # Errors
    /// When `cidr` is not an IPv4 range the fake can use.
    pub fn set_pod_cidr(&self, cidr: &str) -> Result<(), IpamError> {
        let mut ipam = Ipam::new(cidr)?;
        let mut st = self.lock();
        for sb in st.sandboxes.values() {
            ipam.reserve(&sb.ip);
        }
        st.ipam = Some(ipam);
        Ok(())
    }

    /// Whether the next container start is drawn to fail (`failure_rate`).
    fn draw_failure(&self, st: &mut State) -> bool {
        st.starts += 1;
        self.config.failure_rate > 0.0 && unit_draw(self.config.seed, st.starts) < self.config.failure_rate
    }

    /// Adds an image, as `skiff image import` would.
    pub fn add_image(&self, image: &str) {
        self.lock().images.insert(normalize_image(image));
    }
}

/// A uniform number in [0, 1) for draw `n` of generator `seed` (splitmix64:
/// stateless, so each draw depends only on its index).
fn unit_draw(seed: u64, n: u64) -> f64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
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
        let ip = match st.ipam.as_mut() {
            Some(ipam) => {
                ipam.allocate().map_err(|e| Error::Failed { op: "RunPodSandbox", message: e.to_string() })?.to_string()
            }
            None => format!("10.88.{}.{}", (n >> 8) & 0xff, (n & 0xff).max(2)),
        };
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
        if let Some(sb) = st.sandboxes.remove(id) {
            if let Some(ipam) = st.ipam.as_mut() {
                ipam.release(&sb.ip);
            }
        }
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
        let mut guard = self.lock();
        let st = &mut *guard;
        if !st.containers.contains_key(id) {
            return Err(Error::NotFound(id.to_string()));
        }
        let drawn = self.draw_failure(st);
        let c = st.containers.get_mut(id).ok_or_else(|| Error::NotFound(id.to_string()))?;
        if c.state != cri::ContainerState::ContainerCreated {
            return Err(Error::Failed {
                op: "StartContainer",
                message: format!("container {id} is not in created state"),
            });
        }
        let image = normalize_image(&c.config.image.as_ref().map(|i| i.image.clone()).unwrap_or_default());
        let now = now_nanos();
        if drawn || self.config.failing_images.iter().any(|i| normalize_image(i) == image) {
            c.state = cri::ContainerState::ContainerExited;
            c.started_at = now;
            c.finished_at = now;
            c.exit_code = 128;
            c.reason = "StartError".into();
            let why = if drawn { "drawn to fail (--fake-failure-rate)" } else { "set to fail" };
            return Err(Error::Failed { op: "StartContainer", message: format!("fake: image {image}: {why}") });
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

    /// By name or by id, as CRI's RemoveImage.
    async fn remove_image(&self, image: &str) -> Result<()> {
        let name = normalize_image(image);
        self.lock().images.retain(|i| *i != name && fake_image(i).id != image);
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

    fn sandbox(name: &str) -> cri::PodSandboxConfig {
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata { name: name.into(), uid: name.into(), ..Default::default() }),
            ..Default::default()
        }
    }

    fn container(image: &str) -> cri::ContainerConfig {
        cri::ContainerConfig { image: Some(super::super::image_spec(image)), ..Default::default() }
    }

    async fn ip_of(rt: &FakeRuntime, id: &str) -> String {
        rt.pod_sandbox_status(id).await.unwrap().network.unwrap().ip
    }

    #[tokio::test]
    async fn sandboxes_get_addresses_from_the_pod_cidr_and_give_them_back() {
        let rt = FakeRuntime::new(FakeConfig::default());
        let before = rt.run_pod_sandbox(sandbox("a")).await.unwrap();
        assert_eq!(ip_of(&rt, &before).await, "10.88.0.2", "no podCIDR yet: the fallback range");
        rt.set_pod_cidr("10.42.3.0/24").unwrap();
        let one = rt.run_pod_sandbox(sandbox("b")).await.unwrap();
        let two = rt.run_pod_sandbox(sandbox("c")).await.unwrap();
        assert_eq!(ip_of(&rt, &one).await, "10.42.3.2");
        assert_eq!(ip_of(&rt, &two).await, "10.42.3.3");
        rt.remove_pod_sandbox(&one).await.unwrap();
        let three = rt.run_pod_sandbox(sandbox("d")).await.unwrap();
        assert_eq!(ip_of(&rt, &three).await, "10.42.3.2", "a removed sandbox's address is reused");
        assert!(rt.set_pod_cidr("fd00::/64").is_err());
    }

    #[tokio::test]
    async fn a_full_pod_cidr_fails_the_sandbox() {
        let rt = FakeRuntime::new(FakeConfig::default());
        rt.set_pod_cidr("10.42.0.0/30").unwrap();
        rt.run_pod_sandbox(sandbox("a")).await.unwrap();
        let err = rt.run_pod_sandbox(sandbox("b")).await.unwrap_err();
        assert!(err.to_string().contains("no free address"), "{err}");
    }

    async fn failed_starts(rate: f64, seed: u64, n: usize) -> Vec<bool> {
        let rt = FakeRuntime::new(FakeConfig {
            images: vec!["busybox:1.36".into()],
            failure_rate: rate,
            seed,
            ..Default::default()
        });
        let sb = rt.run_pod_sandbox(sandbox("p")).await.unwrap();
        let mut out = Vec::new();
        for _ in 0..n {
            let id = rt.create_container(&sb, container("busybox:1.36"), sandbox("p")).await.unwrap();
            let failed = rt.start_container(&id).await.is_err();
            let st = rt.container_status(&id).await.unwrap();
            if failed {
                assert_eq!((st.state, st.exit_code), (cri::ContainerState::ContainerExited as i32, 128));
            } else {
                assert_eq!(st.state, cri::ContainerState::ContainerRunning as i32);
            }
            out.push(failed);
        }
        out
    }

    #[tokio::test]
    async fn the_failure_rate_fails_that_share_of_starts_and_replays_from_its_seed() {
        assert!(failed_starts(0.0, 1, 200).await.iter().all(|f| !f));
        assert!(failed_starts(1.0, 1, 50).await.iter().all(|f| *f));
        let a = failed_starts(0.25, 7, 400).await;
        let share = a.iter().filter(|f| **f).count() as f64 / a.len() as f64;
        assert!((0.15..0.35).contains(&share), "about a quarter fail: {share}");
        assert_eq!(a, failed_starts(0.25, 7, 400).await, "same seed, same failures");
        assert_ne!(a, failed_starts(0.25, 8, 400).await, "another seed, other failures");
    }
}
