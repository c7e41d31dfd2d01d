//! Importing an image tar (OCI layout or docker-archive) into containerd's `k8s.io`
//! namespace, where the CRI plugin finds it. Uses `ctr` (installed with Debian's
//! `containerd` package), which speaks containerd's own gRPC API and unpacks the
//! layers into the snapshotter.

use std::path::Path;

use super::{Error, Result};

/// The containerd namespace the CRI plugin uses.
pub const CRI_NAMESPACE: &str = "k8s.io";

/// Checks that `file` looks like an image tar: an OCI layout (`index.json` +
/// `oci-layout`) or a docker archive (`manifest.json`). Cheap: reads headers only.
pub fn check_archive(file: &Path) -> Result<()> {
    let shown = file.display().to_string();
    let f = std::fs::File::open(file).map_err(|source| Error::Read { path: shown.clone(), source })?;
    let mut archive = tar::Archive::new(f);
    let entries = archive.entries().map_err(|e| Error::NotAnImage { path: shown.clone(), why: e.to_string() })?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Error::NotAnImage { path: shown.clone(), why: e.to_string() })?;
        if let Ok(p) = e.path() {
            names.push(p.display().to_string().trim_start_matches("./").to_string());
        }
    }
    let has = |n: &str| names.iter().any(|x| x == n);
    if (has("index.json") && has("oci-layout")) || has("manifest.json") {
        Ok(())
    } else {
        Err(Error::NotAnImage { path: shown, why: "no index.json + oci-layout and no manifest.json".into() })
    }
}

/// Imports `file` through the containerd at `address` (its socket path); returns
/// what `ctr` printed (the imported names).
///
/// # Errors
/// The file is not an image tar, `ctr` is missing, or containerd refused it.
pub async fn import(address: &Path, file: &Path) -> Result<String> {
    check_archive(file)?;
    let mut cmd = tokio::process::Command::new("ctr");
    cmd.arg("--address").arg(address).args(["--namespace", CRI_NAMESPACE, "images", "import"]);
    // Docker archives name their images in manifest.json; OCI layouts from other
    // tools may carry only `org.opencontainers.image.ref.name`, which ctr combines
    // with a base name.
    cmd.arg(file);
    let shown = format!("ctr --address {} -n {CRI_NAMESPACE} images import {}", address.display(), file.display());
    let mut out = cmd.output().await.map_err(|source| Error::Spawn { cmd: shown.clone(), source })?;
    // Two imports of the same image at once (the agent importing its built-in
    // images while a user does too) race in containerd's image store: the loser
    // fails with "already exists". Importing an existing image succeeds, so once
    // more settles it.
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("already exists") {
        out = cmd.output().await.map_err(|source| Error::Spawn { cmd: shown.clone(), source })?;
    }
    if !out.status.success() {
        return Err(Error::Command { cmd: shown, stderr: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
