//! The container runtime boundary, shaped like CRI v1: the kubelet only ever talks
//! to a runtime through these two traits. The messages are CRI's own (generated in
//! [`crate::cri`]) so the real implementation is a thin translation and the fake
//! speaks the same language.
//!
//! # Failure contract (both implementations)
//! - An id that does not exist is [`Error::NotFound`] for status/start/exec; stop and
//!   remove of a missing sandbox or container succeed (CRI says they are idempotent).
//! - Removing a sandbox removes its containers.
//! - `stop_container` waits up to `timeout` seconds after SIGTERM, then kills.
//! - A container whose image is not present fails `create_container` with
//!   [`Error::ImageNotFound`].

mod cri_runtime;
mod fake;
pub mod testing;

pub use cri_runtime::CriRuntime;
pub use fake::{FakeConfig, FakeRuntime};

use async_trait::async_trait;

use crate::cri;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to a runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sandbox, container or image does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The image a container needs is not present.
    #[error("image not found: {0}")]
    ImageNotFound(String),
    /// The runtime cannot be reached (socket missing, connection refused).
    #[error("runtime unavailable: {0}")]
    Unavailable(String),
    /// The runtime refused or failed the call.
    #[error("{op}: {message}")]
    Failed { op: &'static str, message: String },
}

impl Error {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_) | Error::ImageNotFound(_))
    }
}

/// Sandboxes and containers (CRI `RuntimeService`).
#[async_trait]
pub trait RuntimeService: Send + Sync {
    /// Runtime name and version (`nodeInfo.containerRuntimeVersion`).
    async fn version(&self) -> Result<cri::VersionResponse>;
    /// Whether the runtime and its network are ready.
    async fn status(&self) -> Result<cri::RuntimeStatus>;

    /// Creates and starts a sandbox; returns its id once it is ready.
    async fn run_pod_sandbox(&self, config: cri::PodSandboxConfig) -> Result<String>;
    async fn stop_pod_sandbox(&self, id: &str) -> Result<()>;
    async fn remove_pod_sandbox(&self, id: &str) -> Result<()>;
    async fn pod_sandbox_status(&self, id: &str) -> Result<cri::PodSandboxStatus>;
    async fn list_pod_sandbox(&self, filter: Option<cri::PodSandboxFilter>) -> Result<Vec<cri::PodSandbox>>;

    /// Creates a container in a sandbox; returns its id.
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: cri::ContainerConfig,
        sandbox_config: cri::PodSandboxConfig,
    ) -> Result<String>;
    async fn start_container(&self, id: &str) -> Result<()>;
    /// SIGTERM, then SIGKILL after `timeout_seconds` (0 = kill at once).
    async fn stop_container(&self, id: &str, timeout_seconds: i64) -> Result<()>;
    async fn remove_container(&self, id: &str) -> Result<()>;
    async fn list_containers(&self, filter: Option<cri::ContainerFilter>) -> Result<Vec<cri::Container>>;
    async fn container_status(&self, id: &str) -> Result<cri::ContainerStatus>;
    /// Runs a command in a running container and waits for it.
    async fn exec_sync(&self, id: &str, cmd: Vec<String>, timeout_seconds: i64) -> Result<cri::ExecSyncResponse>;

    /// Prepares an interactive exec (CRI `Exec`): the URL of the runtime's
    /// streaming server that serves it once (SPDY or WebSocket, as the kubelet's
    /// own endpoints). A runtime without a streaming server fails with
    /// [`Error::Failed`].
    async fn exec(&self, req: cri::ExecRequest) -> Result<String>;
    /// Prepares an attach to a running container's stdio (CRI `Attach`), as `exec`.
    async fn attach(&self, req: cri::AttachRequest) -> Result<String>;
    /// Prepares port forwarding into a sandbox's network (CRI `PortForward`), as `exec`.
    async fn port_forward(&self, req: cri::PortForwardRequest) -> Result<String>;
}

/// Images (CRI `ImageService`).
#[async_trait]
pub trait ImageService: Send + Sync {
    async fn list_images(&self) -> Result<Vec<cri::Image>>;
    /// `None` when the image is not present.
    async fn image_status(&self, image: &str) -> Result<Option<cri::Image>>;
    /// Pulls an image; returns its reference (id). There is no registry here, so
    /// for containerd this fails unless the image can be fetched.
    async fn pull_image(&self, image: &str) -> Result<String>;
    async fn remove_image(&self, image: &str) -> Result<()>;
}

/// Both halves, as the kubelet holds them.
pub trait Runtime: RuntimeService + ImageService {}
impl<T: RuntimeService + ImageService> Runtime for T {}

pub fn image_spec(image: &str) -> cri::ImageSpec {
    cri::ImageSpec { image: image.to_string(), ..Default::default() }
}
