//! Fixtures for tests that run the real thing: a network namespace made by the
//! test (loopback only, no route out, so no packet can leave the machine) and a
//! containerd inside it with its own directories. Tests that need root, ip,
//! containerd or runc fail with a message naming what is missing — never skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::containerd::ContainerdConfig;
use crate::runtime::{CriRuntime, RuntimeService};

/// Panics naming the first missing prerequisite of a whole-node test: those of an
/// agent with its own containerd, and the tools that make network namespaces.
pub fn require_node_prerequisites() {
    if let Err(missing) = crate::preflight::check() {
        panic!("this test cannot run: {missing}; run it as root after scripts/deps, as CI does");
    }
    for (tool, package) in [("ip", "iproute2"), ("nsenter", "util-linux")] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            panic!("this test needs `{tool}` (Debian package {package}; scripts/deps installs it)");
        }
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A network namespace with only loopback up. Dropping it kills every process
/// left inside and deletes it.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn create(prefix: &str) -> NetNs {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run(Command::new("ip").args(["netns", "add", &name]));
        run(Command::new("ip").args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"]));
        NetNs { name }
    }

    /// `program` run inside the namespace. Only the network namespace changes:
    /// `ip netns exec` would also remount /sys, hiding the cgroup mounts runc needs.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.name)).arg("--").arg(program);
        c
    }

    fn pids(&self) -> Vec<i32> {
        let out = Command::new("ip").args(["netns", "pids", &self.name]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        for pid in self.pids() {
            // SAFETY: kill(2) with a pid from `ip netns pids`; at worst it is gone.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(200));
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// A containerd started by the test inside `netns`, with its own config, state,
/// socket and CNI directories under `dir`. Dropping it removes every sandbox it
/// runs (so no container outlives the test), then stops it.
pub struct TestContainerd {
    child: Child,
    pub config: ContainerdConfig,
    pub dir: PathBuf,
}

impl TestContainerd {
    /// Starts containerd and writes a CNI config for `pod_cidr` (None = leave the
    /// CNI directory empty, e.g. for the agent to write).
    pub fn start(netns: &NetNs, dir: &Path, pod_cidr: Option<&str>) -> TestContainerd {
        let config = ContainerdConfig::under(dir);
        let config_path = dir.join("containerd.toml");
        config.write(&config_path).expect("write containerd config");
        if let Some(cidr) = pod_cidr {
            crate::cni::write(&config.cni_conf_dir, cidr, &dir.join("cni/ipam")).expect("write CNI config");
        }
        let log = std::fs::File::create(dir.join("containerd.log")).expect("containerd log");
        let child = netns
            .command("containerd")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        let mut me = TestContainerd { child, config, dir: dir.to_path_buf() };
        for _ in 0..300 {
            if std::os::unix::net::UnixStream::connect(&me.config.socket).is_ok() {
                return me;
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("containerd exited ({status}): {}", me.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("containerd did not open its socket: {}", me.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    pub fn runtime(&self) -> CriRuntime {
        CriRuntime::connect_lazy(&self.config.socket.display().to_string()).expect("cri endpoint")
    }

    /// Builds the busybox and pause images from /bin/busybox and imports them.
    pub fn import_test_images(&self) {
        let busybox = Path::new(crate::image::busybox::DEFAULT_BUSYBOX);
        for (name, layout) in [
            ("busybox.tar", crate::image::busybox::busybox_image(busybox).expect("busybox image")),
            ("pause.tar", crate::image::busybox::pause_image(busybox).expect("pause image")),
        ] {
            let path = self.dir.join(name);
            std::fs::write(&path, layout.to_tar().expect("image tar")).expect("write image tar");
            let out = Command::new("ctr")
                .arg("--address")
                .arg(&self.config.socket)
                .args(["-n", "k8s.io", "images", "import"])
                .arg(&path)
                .output()
                .expect("run ctr");
            assert!(out.status.success(), "ctr import {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    /// Stops and removes every sandbox (and so every container) this containerd runs.
    pub fn remove_all_sandboxes(&self) {
        remove_all_sandboxes(&self.config.socket);
    }
}

/// Removes every sandbox of the containerd at its socket when dropped, even
/// when a test or benchmark fails, so no container outlives it.
pub struct Sandboxes(pub PathBuf);

impl Drop for Sandboxes {
    fn drop(&mut self) {
        if self.0.exists() {
            remove_all_sandboxes(&self.0);
        }
    }
}

/// Stops and removes every sandbox (and so every container) of the containerd at
/// `socket`, and the pod-level cgroups the kubelet would have removed (runc
/// removes only the containers'). Blocking; safe to call from `Drop`, inside or
/// outside a tokio runtime.
pub fn remove_all_sandboxes(socket: &Path) {
    {
        let endpoint = socket.display().to_string();
        // Drop may run inside a test's tokio runtime; use a thread with its own
        // (the gRPC channel must be made inside a runtime too).
        let _ = std::thread::spawn(move || {
            let Ok(tokio_rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            tokio_rt.block_on(async {
                let Ok(rt) = CriRuntime::connect_lazy(&endpoint) else { return };
                let Ok(Ok(sandboxes)) = tokio::time::timeout(Duration::from_secs(10), rt.list_pod_sandbox(None)).await
                else {
                    return;
                };
                for sb in sandboxes {
                    let _ = tokio::time::timeout(Duration::from_secs(20), rt.stop_pod_sandbox(&sb.id)).await;
                    let _ = tokio::time::timeout(Duration::from_secs(20), rt.remove_pod_sandbox(&sb.id)).await;
                    if let Some(uid) = sb.labels.get(crate::pod::observed::LABEL_POD_UID) {
                        crate::pod::cgroups::remove_pod_cgroups(uid);
                    }
                }
            })
        })
        .join();
    }
}

impl Drop for TestContainerd {
    fn drop(&mut self) {
        self.remove_all_sandboxes();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
