//! Exit codes, so scripts and systemd can tell failures apart. Documented in
//! docs/cli.md.

use std::process::ExitCode;

/// Generic failure.
pub const FAILURE: u8 = 1;
/// The data store is corrupt or unreadable; skiff refuses to start over it.
pub const DATA_CORRUPT: u8 = 3;
/// The data store (embedded file or etcd) cannot be reached or opened.
pub const DATA_UNAVAILABLE: u8 = 4;

/// The API server's port is taken or needs privileges skiff does not have.
pub const PORT_UNAVAILABLE: u8 = 5;
/// The node lacks what the agent needs (root, containerd, runc, CNI plugins, busybox).
pub const NODE_PREREQUISITE: u8 = 6;

/// The data directory cannot be created: exit 4, as for a store that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the data directory {}", dir.display())]
pub struct DataDirError {
    pub dir: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Prints the error chain and returns the exit code that matches its cause.
pub fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("skiff: error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if error.downcast_ref::<skiff_kubelet::preflight::Missing>().is_some() {
        eprintln!("  (`skiff server --disable-agent` runs the control plane without a local agent)");
        return ExitCode::from(NODE_PREREQUISITE);
    }
    let denied = error
        .chain()
        .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied));
    if denied {
        eprintln!("  (skiff writes its data directory: run it as root, or choose a directory you own with --data-dir)");
    }
    if error.downcast_ref::<DataDirError>().is_some() {
        return ExitCode::from(DATA_UNAVAILABLE);
    }
    use skiff_apiserver::StartError;
    if let Some(StartError::PortInUse(_) | StartError::PortPermission(_)) = error.downcast_ref::<StartError>() {
        return ExitCode::from(PORT_UNAVAILABLE);
    }
    let code = match error.downcast_ref::<skiff_store::Error>() {
        Some(skiff_store::Error::Corrupt { .. }) => DATA_CORRUPT,
        Some(skiff_store::Error::Backend { .. } | skiff_store::Error::Closed) => DATA_UNAVAILABLE,
        _ => FAILURE,
    };
    ExitCode::from(code)
}
