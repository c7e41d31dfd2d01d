//! Pod volumes on the node: emptyDir (disk, or tmpfs for `medium: Memory`),
//! hostPath, configMap and secret (files written from the API objects, rewritten
//! when they change). The pure part says which directories and files a pod needs
//! and how each container mounts them; [`VolumeManager`] does the disk work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod api;
pub mod claims;
pub mod downward;
pub mod tokens;

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Pod, Secret, Volume};

use crate::cri;
pub use claims::ClaimPaths;

/// One file of a configMap/secret volume: relative path, content, mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFile {
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Why a volume cannot be set up (the container waits with
/// `CreateContainerConfigError` and this message).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("configmap \"{0}\" not found")]
    ConfigMapMissing(String),
    #[error("secret \"{0}\" not found")]
    SecretMissing(String),
    #[error("volume {volume}: {source}")]
    Io {
        volume: String,
        #[source]
        source: std::io::Error,
    },
    #[error("volume {volume}: {why}")]
    Source { volume: String, why: String },
    #[error("volume {0} has a type skiff does not support yet")]
    Unsupported(String),
    #[error("container {container} mounts volume {volume}, which the pod does not define")]
    NoSuchVolume { container: String, volume: String },
    #[error("hostPath {path}: {why}")]
    HostPath { path: String, why: String },
}

/// The files of a configMap or secret volume: every key, or just `items` (key →
/// path, optional per-item mode).
pub fn projected_files(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: u32,
) -> Result<Vec<VolumeFile>, String> {
    match items {
        None => {
            Ok(data.iter().map(|(k, v)| VolumeFile { path: k.clone(), data: v.clone(), mode: default_mode }).collect())
        }
        Some(items) => items
            .iter()
            .map(|i| {
                let data = data.get(&i.key).ok_or_else(|| format!("key {} not found", i.key))?;
                Ok(VolumeFile {
                    path: i.path.clone(),
                    data: data.clone(),
                    mode: i.mode.map(|m| m as u32).unwrap_or(default_mode),
                })
            })
            .collect(),
    }
}

fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> =
        cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    out.extend(cm.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())));
    out
}

fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    out.extend(s.string_data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())));
    out
}

/// Where volume `name` of pod `uid` lives on the node.
pub fn volume_dir(root: &Path, uid: &str, v: &Volume) -> PathBuf {
    let kind = if v.empty_dir.is_some() {
        "empty-dir"
    } else if v.config_map.is_some() {
        "configmap"
    } else if v.secret.is_some() {
        "secret"
    } else if v.downward_api.is_some() {
        "downward-api"
    } else if v.projected.is_some() {
        "projected"
    } else {
        "other"
    };
    root.join(uid).join("volumes").join(kind).join(&v.name)
}

/// The CRI mounts of container `name` (its `volumeMounts`, with `subPath`);
/// persistentVolumeClaim volumes come from `claims` (resolved by the shell).
pub fn container_mounts(pod: &Pod, name: &str, root: &Path, claims: &ClaimPaths) -> Result<Vec<cri::Mount>, Error> {
    let spec = pod.spec.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let Some(c) = spec.containers.iter().chain(spec.init_containers.iter().flatten()).find(|c| c.name == name) else {
        return Ok(vec![]);
    };
    let volumes = spec.volumes.unwrap_or_default();
    c.volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            let v = volumes
                .iter()
                .find(|v| v.name == m.name)
                .ok_or_else(|| Error::NoSuchVolume { container: name.into(), volume: m.name.clone() })?;
            let claim = claims.get(&v.name);
            let base = match (&v.host_path, claim) {
                (Some(h), _) => PathBuf::from(&h.path),
                (None, Some(c)) => c.path.clone(),
                (None, None) if v.persistent_volume_claim.is_some() => {
                    return Err(Error::Source { volume: v.name.clone(), why: "claim not resolved yet".into() })
                }
                (None, None) => volume_dir(root, &uid, v),
            };
            let host = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) => base.join(sub),
                None => base,
            };
            // configMap, secret, downwardAPI and projected volumes are read-only, as upstream.
            let readonly = m.read_only.unwrap_or(false)
                || claim.is_some_and(|c| c.read_only)
                || v.config_map.is_some()
                || v.secret.is_some()
                || v.downward_api.is_some()
                || v.projected.is_some();
            Ok(cri::Mount {
                container_path: m.mount_path.clone(),
                host_path: host.display().to_string(),
                readonly,
                ..Default::default()
            })
        })
        .collect()
}

/// Creates the directories `subPath` mounts of container `name` name that do
/// not exist yet, as upstream's kubelet does (a file a configMap writes
/// exists already and is left alone).
pub fn make_sub_paths(pod: &Pod, name: &str, mounts: &[cri::Mount]) -> std::io::Result<()> {
    let spec = pod.spec.as_ref();
    let c = spec.and_then(|s| s.containers.iter().chain(s.init_containers.iter().flatten()).find(|c| c.name == name));
    for m in c.iter().flat_map(|c| c.volume_mounts.iter().flatten()) {
        if m.sub_path.as_deref().unwrap_or("").is_empty() {
            continue;
        }
        for mount in mounts.iter().filter(|x| x.container_path == m.mount_path) {
            let host = Path::new(&mount.host_path);
            if std::fs::symlink_metadata(host).is_err() {
                std::fs::create_dir_all(host)?;
            }
        }
    }
    Ok(())
}

/// Sets volumes up on disk; the I/O half.
pub struct VolumeManager {
    pub root: PathBuf,
}

impl VolumeManager {
    /// Creates or refreshes every volume of `pod`. `get_cm`/`get_secret` return
    /// the object or `None` when it does not exist.
    pub fn setup(
        &self,
        pod: &Pod,
        config_maps: &BTreeMap<String, ConfigMap>,
        secrets: &BTreeMap<String, Secret>,
        tokens: &tokens::Tokens,
    ) -> Result<(), Error> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            let dir = volume_dir(&self.root, &uid, v);
            let io = |source| Error::Io { volume: v.name.clone(), source };
            if let Some(e) = &v.empty_dir {
                if !dir.exists() {
                    std::fs::create_dir_all(&dir).map_err(io)?;
                    if e.medium.as_deref() == Some("Memory") {
                        mount_tmpfs(&dir).map_err(io)?;
                    }
                }
            } else if let Some(h) = &v.host_path {
                let p = Path::new(&h.path);
                match h.type_.as_deref().unwrap_or("") {
                    "DirectoryOrCreate" => std::fs::create_dir_all(p).map_err(io)?,
                    "FileOrCreate" if !p.exists() => {
                        std::fs::write(p, b"").map_err(io)?;
                    }
                    "Directory" if !p.is_dir() => {
                        return Err(Error::HostPath { path: h.path.clone(), why: "is not a directory".into() })
                    }
                    "File" if !p.is_file() => {
                        return Err(Error::HostPath { path: h.path.clone(), why: "is not a file".into() })
                    }
                    _ => {}
                }
            } else if let Some(cmv) = &v.config_map {
                let name = cmv.name.clone();
                let data = match config_maps.get(&name) {
                    Some(cm) => config_map_data(cm),
                    None if cmv.optional == Some(true) => BTreeMap::new(),
                    None => return Err(Error::ConfigMapMissing(name)),
                };
                let mode = cmv.default_mode.unwrap_or(0o644) as u32;
                let files = projected_files(&data, cmv.items.as_ref(), mode)
                    .map_err(|why| Error::HostPath { path: name.clone(), why })?;
                write_files(&dir, &files).map_err(io)?;
            } else if let Some(sv) = &v.secret {
                let name = sv.secret_name.clone().unwrap_or_default();
                let data = match secrets.get(&name) {
                    Some(s) => secret_data(s),
                    None if sv.optional == Some(true) => BTreeMap::new(),
                    None => return Err(Error::SecretMissing(name)),
                };
                let mode = sv.default_mode.unwrap_or(0o644) as u32;
                let files = projected_files(&data, sv.items.as_ref(), mode)
                    .map_err(|why| Error::HostPath { path: name.clone(), why })?;
                write_files(&dir, &files).map_err(io)?;
            } else if let Some(d) = &v.downward_api {
                let mode = d.default_mode.unwrap_or(0o644) as u32;
                let files = downward::downward_files(pod, d.items.as_deref().unwrap_or(&[]), mode)
                    .map_err(|why| Error::Source { volume: v.name.clone(), why })?;
                write_files(&dir, &files).map_err(io)?;
            } else if let Some(p) = &v.projected {
                let files = downward::projected_volume_files(pod, p, config_maps, secrets, tokens)
                    .map_err(|why| Error::Source { volume: v.name.clone(), why })?;
                write_files(&dir, &files).map_err(io)?;
            } else if v.persistent_volume_claim.is_some() {
                // Resolved and prepared by the shell before the sandbox exists (claims.rs).
            } else {
                return Err(Error::Unsupported(v.name.clone()));
            }
        }
        Ok(())
    }

    /// Removes every volume of pod `uid` (unmounting tmpfs ones first).
    pub fn teardown(&self, uid: &str) {
        if uid.is_empty() {
            return;
        }
        let dir = self.root.join(uid);
        let empty = dir.join("volumes/empty-dir");
        if let Ok(entries) = std::fs::read_dir(&empty) {
            for e in entries.flatten() {
                let _ = unmount(&e.path());
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Writes `files` into `dir` as upstream's atomic writer does: a fresh timestamped
/// directory, then a `..data` symlink swapped to it, and per-file symlinks — so a
/// reader never sees a half-updated set. Unchanged contents are left alone.
fn write_files(dir: &Path, files: &[VolumeFile]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let data_link = dir.join("..data");
    if let Ok(current) = std::fs::read_link(&data_link) {
        let cur = dir.join(current);
        let same = files.iter().all(|f| std::fs::read(cur.join(&f.path)).ok().as_deref() == Some(f.data.as_slice()))
            && std::fs::read_dir(&cur).map(|d| d.count()).unwrap_or(0)
                == files
                    .iter()
                    .map(|f| f.path.split('/').next().unwrap_or(""))
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
        if same {
            return Ok(());
        }
    }
    let stamp = format!("..{}", chrono::Utc::now().format("%Y_%m_%d_%H_%M_%S.%f"));
    let target = dir.join(&stamp);
    std::fs::create_dir_all(&target)?;
    for f in files {
        let p = target.join(&f.path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&p, &f.data)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(f.mode & 0o7777))?;
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&stamp, &tmp)?;
    let old = std::fs::read_link(&data_link).ok();
    std::fs::rename(&tmp, &data_link)?;
    for f in files {
        let top = f.path.split('/').next().unwrap_or("");
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(top), &link)?;
        }
    }
    if let Some(old) = old {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

fn mount_tmpfs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: mount(2) with valid NUL-terminated strings.
    let rc = unsafe { libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn unmount(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: umount2(2) with a valid NUL-terminated path; failure is reported.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_pick_keys_and_modes() {
        let data = BTreeMap::from([("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())]);
        let all = projected_files(&data, None, 0o644).unwrap();
        assert_eq!(all.len(), 2);
        let items = vec![KeyToPath { key: "b".into(), path: "dir/b.txt".into(), mode: Some(0o600) }];
        let some = projected_files(&data, Some(&items), 0o644).unwrap();
        assert_eq!(some, vec![VolumeFile { path: "dir/b.txt".into(), data: b"2".to_vec(), mode: 0o600 }]);
        let bad = vec![KeyToPath { key: "zz".into(), path: "x".into(), mode: None }];
        assert!(projected_files(&data, Some(&bad), 0o644).is_err());
    }

    #[test]
    fn files_are_swapped_atomically_and_updated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("vol");
        write_files(&v, &[VolumeFile { path: "k".into(), data: b"one".to_vec(), mode: 0o644 }]).unwrap();
        assert_eq!(std::fs::read(v.join("k")).unwrap(), b"one");
        write_files(&v, &[VolumeFile { path: "k".into(), data: b"two".to_vec(), mode: 0o644 }]).unwrap();
        assert_eq!(std::fs::read(v.join("k")).unwrap(), b"two");
        let stamped = std::fs::read_dir(&v)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("..2"))
            .count();
        assert_eq!(stamped, 1, "the old generation is removed");
    }

    #[test]
    fn mounts_follow_volume_mounts_with_sub_paths() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"volumes": [{"name": "cache", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}},
                                 {"name": "host", "hostPath": {"path": "/srv"}}],
                     "containers": [{"name": "a", "volumeMounts": [
                        {"name": "cache", "mountPath": "/cache"},
                        {"name": "cfg", "mountPath": "/etc/app"},
                        {"name": "host", "mountPath": "/data", "subPath": "x"}]}]}
        }))
        .unwrap();
        let m = container_mounts(&pod, "a", Path::new("/v"), &ClaimPaths::new()).unwrap();
        assert_eq!(m[0].host_path, "/v/u/volumes/empty-dir/cache");
        assert!(!m[0].readonly);
        assert_eq!(m[1].host_path, "/v/u/volumes/configmap/cfg");
        assert!(m[1].readonly);
        assert_eq!(m[2].host_path, "/srv/x");
    }

    #[test]
    fn claims_mount_their_volume_directory_read_only_when_asked() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "c"}},
                                 {"name": "ro", "persistentVolumeClaim": {"claimName": "d", "readOnly": true}}],
                     "containers": [{"name": "a", "volumeMounts": [
                        {"name": "data", "mountPath": "/data", "subPath": "sub"},
                        {"name": "data", "mountPath": "/all", "readOnly": true},
                        {"name": "ro", "mountPath": "/ro"}]}]}
        }))
        .unwrap();
        assert!(container_mounts(&pod, "a", Path::new("/v"), &ClaimPaths::new()).is_err(), "unresolved claims");
        let at = |p: &str, read_only| claims::ClaimPath { path: p.into(), create: true, read_only };
        let claims = ClaimPaths::from([("data".into(), at("/s/pvc-1", false)), ("ro".into(), at("/s/pvc-2", true))]);
        let m = container_mounts(&pod, "a", Path::new("/v"), &claims).unwrap();
        let got: Vec<_> = m.iter().map(|m| (m.host_path.as_str(), m.readonly)).collect();
        assert_eq!(got, [("/s/pvc-1/sub", false), ("/s/pvc-1", true), ("/s/pvc-2", true)]);
    }
}
