//! [`CriRuntime`]: the CRI v1 gRPC API of a real runtime (containerd) over its unix
//! socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use super::{image_spec, Error, ImageService, Result, RuntimeService};
use crate::cri;
use crate::cri::image_service_client::ImageServiceClient;
use crate::cri::runtime_service_client::RuntimeServiceClient;

/// A CRI runtime reached over a unix socket. Cheap to clone (one shared HTTP/2
/// connection, re-established by tonic when it breaks).
#[derive(Clone)]
pub struct CriRuntime {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    socket: PathBuf,
}

impl CriRuntime {
    /// Connects lazily: no I/O happens until the first call, so this never fails
    /// for a runtime that is still starting. `endpoint` is a path or `unix://path`.
    ///
    /// # Errors
    /// Only for an endpoint that is not a unix socket.
    pub fn connect_lazy(endpoint: &str) -> Result<CriRuntime> {
        let socket = PathBuf::from(endpoint.strip_prefix("unix://").unwrap_or(endpoint));
        if endpoint.contains("://") && !endpoint.starts_with("unix://") {
            return Err(Error::Unavailable(format!("only unix:// endpoints are supported, not {endpoint}")));
        }
        let path = socket.clone();
        // The URI is a placeholder: the connector below ignores it.
        let channel = Endpoint::from_static("http://[::1]:50051")
            .connect_timeout(Duration::from_secs(5))
            .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
            }));
        let max = 16 * 1024 * 1024;
        Ok(CriRuntime {
            runtime: RuntimeServiceClient::new(channel.clone()).max_decoding_message_size(max),
            images: ImageServiceClient::new(channel).max_decoding_message_size(max),
            socket,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

fn map(op: &'static str) -> impl Fn(tonic::Status) -> Error {
    move |s: tonic::Status| match s.code() {
        tonic::Code::NotFound if op == "CreateContainer" && s.message().contains("image") => {
            Error::ImageNotFound(s.message().to_string())
        }
        tonic::Code::NotFound => Error::NotFound(s.message().to_string()),
        tonic::Code::Unavailable => Error::Unavailable(s.message().to_string()),
        _ => Error::Failed { op, message: s.message().to_string() },
    }
}

/// CRI says stop/remove are idempotent; containerd mostly agrees but answers
/// NotFound for ids it has already forgotten, which callers must not see.
fn ignore_not_found(r: Result<()>) -> Result<()> {
    match r {
        Err(Error::NotFound(_)) => Ok(()),
        other => other,
    }
}

#[async_trait]
impl RuntimeService for CriRuntime {
    async fn version(&self) -> Result<cri::VersionResponse> {
        let req = cri::VersionRequest { version: "v1".into() };
        Ok(self.runtime.clone().version(req).await.map_err(map("Version"))?.into_inner())
    }

    async fn status(&self) -> Result<cri::RuntimeStatus> {
        let req = cri::StatusRequest { verbose: false };
        let resp = self.runtime.clone().status(req).await.map_err(map("Status"))?.into_inner();
        Ok(resp.status.unwrap_or_default())
    }

    async fn run_pod_sandbox(&self, config: cri::PodSandboxConfig) -> Result<String> {
        let req = cri::RunPodSandboxRequest { config: Some(config), runtime_handler: String::new() };
        Ok(self.runtime.clone().run_pod_sandbox(req).await.map_err(map("RunPodSandbox"))?.into_inner().pod_sandbox_id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let req = cri::StopPodSandboxRequest { pod_sandbox_id: id.into() };
        ignore_not_found(self.runtime.clone().stop_pod_sandbox(req).await.map(drop).map_err(map("StopPodSandbox")))
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let req = cri::RemovePodSandboxRequest { pod_sandbox_id: id.into() };
        ignore_not_found(self.runtime.clone().remove_pod_sandbox(req).await.map(drop).map_err(map("RemovePodSandbox")))
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<cri::PodSandboxStatus> {
        let req = cri::PodSandboxStatusRequest { pod_sandbox_id: id.into(), verbose: false };
        let resp = self.runtime.clone().pod_sandbox_status(req).await.map_err(map("PodSandboxStatus"))?;
        resp.into_inner().status.ok_or_else(|| Error::NotFound(id.to_string()))
    }

    async fn list_pod_sandbox(&self, filter: Option<cri::PodSandboxFilter>) -> Result<Vec<cri::PodSandbox>> {
        let req = cri::ListPodSandboxRequest { filter };
        Ok(self.runtime.clone().list_pod_sandbox(req).await.map_err(map("ListPodSandbox"))?.into_inner().items)
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: cri::ContainerConfig,
        sandbox_config: cri::PodSandboxConfig,
    ) -> Result<String> {
        let req = cri::CreateContainerRequest {
            pod_sandbox_id: sandbox_id.into(),
            config: Some(config),
            sandbox_config: Some(sandbox_config),
        };
        Ok(self.runtime.clone().create_container(req).await.map_err(map("CreateContainer"))?.into_inner().container_id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let req = cri::StartContainerRequest { container_id: id.into() };
        self.runtime.clone().start_container(req).await.map(drop).map_err(map("StartContainer"))
    }

    async fn stop_container(&self, id: &str, timeout_seconds: i64) -> Result<()> {
        let req = cri::StopContainerRequest { container_id: id.into(), timeout: timeout_seconds };
        ignore_not_found(self.runtime.clone().stop_container(req).await.map(drop).map_err(map("StopContainer")))
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let req = cri::RemoveContainerRequest { container_id: id.into() };
        ignore_not_found(self.runtime.clone().remove_container(req).await.map(drop).map_err(map("RemoveContainer")))
    }

    async fn list_containers(&self, filter: Option<cri::ContainerFilter>) -> Result<Vec<cri::Container>> {
        let req = cri::ListContainersRequest { filter };
        Ok(self.runtime.clone().list_containers(req).await.map_err(map("ListContainers"))?.into_inner().containers)
    }

    async fn container_status(&self, id: &str) -> Result<cri::ContainerStatus> {
        let req = cri::ContainerStatusRequest { container_id: id.into(), verbose: false };
        let resp = self.runtime.clone().container_status(req).await.map_err(map("ContainerStatus"))?;
        resp.into_inner().status.ok_or_else(|| Error::NotFound(id.to_string()))
    }

    async fn exec_sync(&self, id: &str, cmd: Vec<String>, timeout_seconds: i64) -> Result<cri::ExecSyncResponse> {
        let req = cri::ExecSyncRequest { container_id: id.into(), cmd, timeout: timeout_seconds };
        Ok(self.runtime.clone().exec_sync(req).await.map_err(map("ExecSync"))?.into_inner())
    }

    async fn exec(&self, req: cri::ExecRequest) -> Result<String> {
        Ok(self.runtime.clone().exec(req).await.map_err(map("Exec"))?.into_inner().url)
    }

    async fn attach(&self, req: cri::AttachRequest) -> Result<String> {
        Ok(self.runtime.clone().attach(req).await.map_err(map("Attach"))?.into_inner().url)
    }

    async fn port_forward(&self, req: cri::PortForwardRequest) -> Result<String> {
        Ok(self.runtime.clone().port_forward(req).await.map_err(map("PortForward"))?.into_inner().url)
    }
}

#[async_trait]
impl ImageService for CriRuntime {
    async fn list_images(&self) -> Result<Vec<cri::Image>> {
        let req = cri::ListImagesRequest { filter: None };
        Ok(self.images.clone().list_images(req).await.map_err(map("ListImages"))?.into_inner().images)
    }

    async fn image_status(&self, image: &str) -> Result<Option<cri::Image>> {
        let req = cri::ImageStatusRequest { image: Some(image_spec(image)), verbose: false };
        Ok(self.images.clone().image_status(req).await.map_err(map("ImageStatus"))?.into_inner().image)
    }

    async fn pull_image(&self, image: &str) -> Result<String> {
        let req = cri::PullImageRequest { image: Some(image_spec(image)), auth: None, sandbox_config: None };
        Ok(self.images.clone().pull_image(req).await.map_err(map("PullImage"))?.into_inner().image_ref)
    }

    async fn remove_image(&self, image: &str) -> Result<()> {
        let req = cri::RemoveImageRequest { image: Some(image_spec(image)) };
        ignore_not_found(self.images.clone().remove_image(req).await.map(drop).map_err(map("RemoveImage")))
    }
}
