//! Errors of the scheduler's I/O shell.

use std::path::PathBuf;

/// Why the scheduler could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be read or understood.
    #[error("cannot use kubeconfig {path}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The API client could not be built (TLS material, server URL).
    #[error("cannot build the API client")]
    Client(#[source] kube::Error),
    /// The scheduler configuration file could not be read.
    #[error("cannot read the scheduler configuration {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The scheduler configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A watch ended for good (the shell retries transient watch errors itself).
    #[error("the {0} watch ended")]
    WatchEnded(&'static str),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
