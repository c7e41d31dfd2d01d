//! Images without a registry: an OCI image layout written as a tar
//! ([`oci::ImageLayout`]), the busybox and pause images built from the host's static
//! busybox ([`busybox`]), and the import into containerd's `k8s.io` namespace
//! ([`import`]).

pub mod builtin;
pub mod busybox;
pub mod gc;
pub mod import;
pub mod oci;

/// What can go wrong building or importing an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not a static busybox (install Debian's busybox-static): {1}")]
    NotBusybox(String, String),
    #[error("running {cmd}: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{cmd} failed: {stderr}")]
    Command { cmd: String, stderr: String },
    #[error("{path} is not an OCI or docker-archive image tar: {why}")]
    NotAnImage { path: String, why: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
