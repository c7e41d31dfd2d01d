//! What a node needs before its agent can run pods with its own containerd: root,
//! the container runtime's binaries, the CNI plugins and the static busybox the
//! built-in images come from. Checked at start so a missing piece is one plain
//! message instead of a failure deep inside containerd.

use std::path::{Path, PathBuf};

use crate::containerd::DEFAULT_CNI_BIN_DIR;
use crate::image::busybox::DEFAULT_BUSYBOX;

/// The first missing prerequisite.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    #[error("the agent needs root (it runs containerd and sets up pod networking)")]
    Root,
    #[error("the agent needs `{tool}` on PATH (Debian package {package}; scripts/deps installs it)")]
    Tool { tool: &'static str, package: &'static str },
    #[error("the agent needs the CNI plugin {0} (Debian package containernetworking-plugins)")]
    CniPlugin(PathBuf),
    #[error("the agent needs {0} to build its busybox and pause images (Debian package busybox-static)")]
    Busybox(PathBuf),
}

/// Binaries the agent's own containerd needs, with the Debian package of each.
const TOOLS: &[(&str, &str)] =
    &[("containerd", "containerd"), ("ctr", "containerd"), ("containerd-shim-runc-v2", "containerd"), ("runc", "runc")];
const CNI_PLUGINS: &[&str] = &["bridge", "host-local", "loopback", "portmap"];

/// What the checks look at, so they can run against a made-up machine in tests.
pub struct Machine<'a> {
    pub is_root: bool,
    pub path: &'a str,
    pub cni_bin_dir: &'a Path,
    pub busybox: &'a Path,
}

impl Machine<'_> {
    /// The first prerequisite this machine lacks for an agent with its own containerd.
    pub fn missing(&self) -> Option<Missing> {
        if !self.is_root {
            return Some(Missing::Root);
        }
        for &(tool, package) in TOOLS {
            if !std::env::split_paths(self.path).any(|d| d.join(tool).is_file()) {
                return Some(Missing::Tool { tool, package });
            }
        }
        for plugin in CNI_PLUGINS {
            let p = self.cni_bin_dir.join(plugin);
            if !p.is_file() {
                return Some(Missing::CniPlugin(p));
            }
        }
        (!self.busybox.is_file()).then(|| Missing::Busybox(self.busybox.to_path_buf()))
    }
}

/// Checks this machine.
///
/// # Errors
/// The first missing prerequisite.
pub fn check() -> Result<(), Missing> {
    let path = std::env::var("PATH").unwrap_or_default();
    // SAFETY: geteuid has no preconditions.
    let is_root = unsafe { libc::geteuid() } == 0;
    let machine = Machine {
        is_root,
        path: &path,
        cni_bin_dir: Path::new(DEFAULT_CNI_BIN_DIR),
        busybox: Path::new(DEFAULT_BUSYBOX),
    };
    machine.missing().map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine with every prerequisite, in a temporary directory.
    fn complete(dir: &Path) -> (String, PathBuf, PathBuf) {
        let bin = dir.join("bin");
        let cni = dir.join("cni");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&cni).unwrap();
        for (tool, _) in TOOLS {
            std::fs::write(bin.join(tool), "").unwrap();
        }
        for plugin in CNI_PLUGINS {
            std::fs::write(cni.join(plugin), "").unwrap();
        }
        std::fs::write(bin.join("busybox"), "").unwrap();
        (bin.display().to_string(), cni, bin.join("busybox"))
    }

    #[test]
    fn names_the_first_missing_piece() {
        let dir = tempfile::tempdir().unwrap();
        let (path, cni, busybox) = complete(dir.path());
        let machine = |is_root| Machine { is_root, path: &path, cni_bin_dir: &cni, busybox: &busybox };
        assert_eq!(machine(true).missing(), None);
        assert_eq!(machine(false).missing(), Some(Missing::Root));

        std::fs::remove_file(dir.path().join("bin/runc")).unwrap();
        let missing = machine(true).missing().unwrap();
        assert_eq!(missing, Missing::Tool { tool: "runc", package: "runc" });
        assert!(missing.to_string().contains("Debian package runc"));

        std::fs::write(dir.path().join("bin/runc"), "").unwrap();
        std::fs::remove_file(cni.join("portmap")).unwrap();
        assert_eq!(machine(true).missing(), Some(Missing::CniPlugin(cni.join("portmap"))));

        std::fs::write(cni.join("portmap"), "").unwrap();
        std::fs::remove_file(&busybox).unwrap();
        assert!(machine(true).missing().unwrap().to_string().contains("busybox-static"));
    }
}
