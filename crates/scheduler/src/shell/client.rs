//! Building the kube-rs client from a kubeconfig (client certificates, tokens
//! and the cluster CA as kubectl reads them), and the configuration file.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::error::{Error, Result};
use crate::config::SchedulerConfig;

/// A client for the cluster of the kubeconfig's current context.
///
/// # Errors
/// [`Error::Kubeconfig`] when the file is missing or malformed, [`Error::Client`]
/// when its TLS material or server cannot be used.
pub async fn client_from_kubeconfig(path: &Path) -> Result<kube::Client> {
    let kubeconfig =
        Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig { path: path.to_path_buf(), source })?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|source| Error::Kubeconfig { path: path.to_path_buf(), source })?;
    kube::Client::try_from(config).map_err(Error::Client)
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
