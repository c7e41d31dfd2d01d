//! The pod-level cgroup directories runc leaves behind. Containers go under
//! `/kubepods[/burstable|/besteffort]/pod<uid>` (see `config::resources`); runc
//! removes each container's own cgroup but not the pod's, so the kubelet removes
//! that (empty) directory when the pod's last sandbox is gone, in every
//! mounted hierarchy (cgroup v1 controllers, or the v2 root).

use std::path::{Path, PathBuf};

/// Every directory that may hold pod `uid`'s cgroup under the mount `root`.
pub fn pod_cgroup_dirs(root: &Path, hierarchies: &[String], uid: &str) -> Vec<PathBuf> {
    let pod = format!("pod{uid}");
    let mut out = Vec::new();
    for h in hierarchies {
        for qos in ["", "burstable", "besteffort"] {
            let mut p = root.join(h).join("kubepods");
            if !qos.is_empty() {
                p.push(qos);
            }
            out.push(p.join(&pod));
        }
    }
    out
}

/// Removes pod `uid`'s cgroup directories under `/sys/fs/cgroup`; best effort
/// (a directory that is absent or still busy stays as it is).
pub fn remove_pod_cgroups(uid: &str) {
    if uid.is_empty() {
        return;
    }
    let root = Path::new("/sys/fs/cgroup");
    // v2: the root itself; v1: one directory per controller (symlinks such as
    // cpu → cpu,cpuacct lead to the same place and are harmless twice).
    let mut hierarchies = vec![String::new()];
    if let Ok(entries) = std::fs::read_dir(root) {
        hierarchies.extend(entries.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()));
    }
    for dir in pod_cgroup_dirs(root, &hierarchies, uid) {
        let _ = std::fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_qos_level_in_every_hierarchy() {
        let dirs = pod_cgroup_dirs(Path::new("/cg"), &["".into(), "memory".into()], "u1");
        assert_eq!(dirs.len(), 6);
        assert!(dirs.contains(&PathBuf::from("/cg/kubepods/podu1")));
        assert!(dirs.contains(&PathBuf::from("/cg/memory/kubepods/besteffort/podu1")));
    }
}
