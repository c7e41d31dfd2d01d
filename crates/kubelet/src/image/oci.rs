//! An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`) built in
//! memory and written as one tar — the format `ctr images import` and
//! `docker load`-style tooling accept. Pure: bytes in, bytes out, deterministic
//! (every mtime is 0) so the same inputs give the same image id.

use serde_json::json;
use sha2::{Digest, Sha256};

/// One entry of a layer.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir { path: String, mode: u32 },
    File { path: String, mode: u32, data: Vec<u8> },
    Symlink { path: String, target: String },
}

/// The runtime configuration of an image (the `config` of the OCI config blob).
#[derive(Debug, Clone, Default)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
}

/// One single-layer image and the names it is imported under
/// (e.g. `docker.io/library/busybox:latest`).
pub struct ImageLayout {
    pub names: Vec<String>,
    pub config: ImageConfig,
    pub layer: Vec<Entry>,
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The OCI name of the machine's architecture.
pub fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn header(path: &str, size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    // Long paths fall back to GNU extensions inside `append_data`; set_path only
    // fails for paths that do not fit ustar, which append_data handles.
    let _ = h.set_path(path);
    h
}

/// Writes `entries` as an uncompressed tar.
pub fn tar_of(entries: &[Entry]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            Entry::Dir { path, mode } => {
                let mut h = header(path, 0, *mode, tar::EntryType::Directory);
                b.append_data(&mut h, format!("{}/", path.trim_end_matches('/')), std::io::empty())?;
            }
            Entry::File { path, mode, data } => {
                let mut h = header(path, data.len() as u64, *mode, tar::EntryType::Regular);
                b.append_data(&mut h, path, data.as_slice())?;
            }
            Entry::Symlink { path, target } => {
                let mut h = header(path, 0, 0o777, tar::EntryType::Symlink);
                b.append_link(&mut h, path, target)?;
            }
        }
    }
    b.into_inner()
}

impl ImageLayout {
    /// The whole layout as a tar, ready for `skiff image import`.
    pub fn to_tar(&self) -> std::io::Result<Vec<u8>> {
        let layer = tar_of(&self.layer)?;
        let layer_digest = digest(&layer);
        let mut cfg = serde_json::Map::new();
        if !self.config.entrypoint.is_empty() {
            cfg.insert("Entrypoint".into(), json!(self.config.entrypoint));
        }
        if !self.config.cmd.is_empty() {
            cfg.insert("Cmd".into(), json!(self.config.cmd));
        }
        if !self.config.env.is_empty() {
            cfg.insert("Env".into(), json!(self.config.env));
        }
        if !self.config.working_dir.is_empty() {
            cfg.insert("WorkingDir".into(), json!(self.config.working_dir));
        }
        let config = serde_json::to_vec(&json!({
            "architecture": oci_arch(),
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": cfg,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "skiff image build"}],
        }))?;
        let config_digest = digest(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
        }))?;
        let manifest_digest = digest(&manifest);
        // One index entry per name: containerd's importer creates one image per
        // entry, named by `io.containerd.image.name`.
        let manifests: Vec<_> = self
            .names
            .iter()
            .map(|name| {
                let tag = name.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
                json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": manifest.len(),
                    "platform": {"architecture": oci_arch(), "os": "linux"},
                    "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
                })
            })
            .collect();
        let index = serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}),
        )?;
        let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
        tar_of(&[
            Entry::File { path: "oci-layout".into(), mode: 0o644, data: br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec() },
            Entry::Dir { path: "blobs".into(), mode: 0o755 },
            Entry::Dir { path: "blobs/sha256".into(), mode: 0o755 },
            Entry::File { path: blob(&layer_digest), mode: 0o644, data: layer },
            Entry::File { path: blob(&config_digest), mode: 0o644, data: config },
            Entry::File { path: blob(&manifest_digest), mode: 0o644, data: manifest },
            Entry::File { path: "index.json".into(), mode: 0o644, data: index },
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn files(tar_bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
        let mut a = tar::Archive::new(tar_bytes);
        let mut out = std::collections::BTreeMap::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.insert(p, data);
        }
        out
    }

    #[test]
    fn layout_blobs_are_content_addressed_and_linked() {
        let img = ImageLayout {
            names: vec!["docker.io/library/t:1".into(), "docker.io/library/t:latest".into()],
            config: ImageConfig { cmd: vec!["sh".into()], ..Default::default() },
            layer: vec![
                Entry::Dir { path: "bin".into(), mode: 0o755 },
                Entry::File { path: "bin/x".into(), mode: 0o755, data: b"hi".to_vec() },
                Entry::Symlink { path: "bin/sh".into(), target: "x".into() },
            ],
        };
        let t = img.to_tar().unwrap();
        assert_eq!(t, img.to_tar().unwrap(), "deterministic");
        let f = files(&t);
        for (path, data) in &f {
            if let Some(d) = path.strip_prefix("blobs/sha256/") {
                if !d.is_empty() {
                    assert_eq!(digest(data), format!("sha256:{d}"), "{path} is named by its digest");
                }
            }
        }
        let index: serde_json::Value = serde_json::from_slice(&f["index.json"]).unwrap();
        let entries = index["manifests"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1]["annotations"]["io.containerd.image.name"], "docker.io/library/t:latest");
        let m = entries[0]["digest"].as_str().unwrap().trim_start_matches("sha256:");
        let manifest: serde_json::Value = serde_json::from_slice(&f[&format!("blobs/sha256/{m}")]).unwrap();
        let c = manifest["config"]["digest"].as_str().unwrap().trim_start_matches("sha256:");
        let config: serde_json::Value = serde_json::from_slice(&f[&format!("blobs/sha256/{c}")]).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], manifest["layers"][0]["digest"]);
        assert_eq!(config["config"]["Cmd"][0], "sh");
        let l = manifest["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:");
        let layer = files(&f[&format!("blobs/sha256/{l}")]);
        assert_eq!(layer["bin/x"], b"hi");
    }
}
