//! Building the kube-rs client from a kubeconfig (client certificates, tokens
//! and the cluster CA as kubectl reads them), and the configuration file.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::error::{Error, Result};
use crate::config::SchedulerConfig;

/// A client for the cluster of the kubeconfig's current context, as `component`
/// (`kube-scheduler`, `kubelet`, ...).
///
/// The component names itself in the User-Agent, as upstream's components do: the
/// API server derives the field manager of a write from it, so a status written by
/// this client is owned by `kube-scheduler`, not `unknown`.
///
/// # Errors
/// [`Error::Kubeconfig`] when the file is missing or malformed, [`Error::Client`]
/// when its TLS material or server cannot be used.
pub async fn client_from_kubeconfig(path: &Path, component: &str) -> Result<kube::Client> {
    let kubeconfig =
        Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig { path: path.to_path_buf(), source })?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|source| Error::Kubeconfig { path: path.to_path_buf(), source })?;
    client_from_config(config, component)
}

/// A client for `config`, as `component` (see [`client_from_kubeconfig`]).
///
/// # Errors
/// [`Error::Client`] when its TLS material or server cannot be used.
pub fn client_from_config(mut config: kube::Config, component: &str) -> Result<kube::Client> {
    config.headers.push((http::header::USER_AGENT, user_agent(component)));
    kube::Client::try_from(config).map_err(Error::Client)
}

/// A client whose requests go through `service` instead of a connection (the API
/// server's in-process transport, `skiff_apiserver::loopback`), as `component`
/// (see [`client_from_kubeconfig`]). Request URIs are paths, as kube-rs makes them.
pub fn client_from_service<S, B>(service: S, component: &str) -> kube::Client
where
    S: tower::Service<http::Request<kube::client::Body>, Response = http::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tower::BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
{
    let agent = user_agent(component);
    let service = tower::ServiceBuilder::new()
        .map_request(move |mut req: http::Request<kube::client::Body>| {
            req.headers_mut().insert(http::header::USER_AGENT, agent.clone());
            req
        })
        .service(service);
    kube::Client::new(service, "default")
}

/// Upstream's form, `kube-scheduler/v1.32.0 (linux/amd64) kubernetes/<commit>`, with
/// skiff's version.
fn user_agent(component: &str) -> http::HeaderValue {
    let agent = format!(
        "{component}/v1.32.0-skiff.{} ({}/{}) skiff",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        go_arch(std::env::consts::ARCH)
    );
    http::HeaderValue::from_str(&agent).unwrap_or_else(|_| http::HeaderValue::from_static("skiff"))
}

/// Go's name for an architecture (what upstream's User-Agents carry).
fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The configuration in `path`, or the defaults (one `default-scheduler`
/// profile with upstream's plugins) without one.
///
/// # Errors
/// [`Error::ReadConfig`] or [`Error::Config`].
pub fn load_config(path: Option<&Path>) -> Result<SchedulerConfig> {
    let Some(path) = path else { return Ok(SchedulerConfig::default()) };
    let text =
        std::fs::read_to_string(path).map_err(|source| Error::ReadConfig { path: path.to_path_buf(), source })?;
    Ok(SchedulerConfig::parse(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_starts_with_the_component_as_upstream_spells_it() {
        let agent = user_agent("kube-scheduler");
        let agent = agent.to_str().unwrap();
        assert!(agent.starts_with("kube-scheduler/v1.32.0-skiff."), "{agent}");
        assert!(agent.contains(&format!("({}/", std::env::consts::OS)), "{agent}");
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
    }
}
