//! Where the node's CPU goes while pods start, without a profiler.
//!
//! The benchmark moves itself into a cgroup of its own before it starts
//! `skiff server`, so everything the server starts inherits it: its containerd,
//! every shim, and each run of runc and the CNI plugins. Those short-lived
//! helpers cannot be read one by one, but the cgroup's total counts them. A
//! container's own processes are counted under `kubepods` once runc has moved
//! them there.
//!
//! A round's split is server, containerd, shim daemons, helpers (what is left of
//! the cgroup: runc, `runc init` until it joins the pod's cgroup, the CNI
//! plugins, the shims' `start` runs) and the pods. The sum divided by the cores
//! is the least wall time the round's work can take here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{json, Value};

use crate::report::round;
use crate::scheduler::server::cpu_seconds;

/// The accounting cgroup; left (moved out of and removed) on drop.
pub struct NodeCpu {
    dir: PathBuf,
    /// The hierarchy's root (`/sys/fs/cgroup/cpuacct` on v1, `/sys/fs/cgroup` on v2).
    root: PathBuf,
    v2: bool,
}

/// Cumulative CPU seconds at one moment.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    total: f64,
    pods: f64,
    bench: f64,
    server: f64,
    /// Long-lived processes in the cgroup by pid: (command, CPU seconds).
    procs: HashMap<u32, (String, f64)>,
}

impl NodeCpu {
    /// Makes the cgroup and moves this process (every thread) into it.
    pub fn enter() -> anyhow::Result<NodeCpu> {
        let v1 = Path::new("/sys/fs/cgroup/cpuacct");
        let (root, v2) = if v1.join("cpuacct.usage").exists() {
            (v1.to_path_buf(), false)
        } else {
            (PathBuf::from("/sys/fs/cgroup"), true)
        };
        let dir = root.join(format!("skiff-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
            .with_context(|| format!("moving the benchmark into {}", dir.display()))?;
        Ok(NodeCpu { dir, root, v2 })
    }

    /// Cumulative CPU now; `server` is the server's pid.
    pub fn sample(&self, server: u32) -> Sample {
        let mut procs = HashMap::new();
        let listed = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        for pid in listed.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            procs.insert(pid, (comm.trim().to_string(), cpu_seconds(&pid.to_string())));
        }
        Sample {
            total: self.usage(&self.dir),
            pods: self.usage(&self.root.join("kubepods")),
            bench: cpu_seconds("self"),
            server: cpu_seconds(&server.to_string()),
            procs,
        }
    }

    /// CPU seconds used in cgroup `dir` and below (0 when it is not there).
    fn usage(&self, dir: &Path) -> f64 {
        if self.v2 {
            let stat = std::fs::read_to_string(dir.join("cpu.stat")).unwrap_or_default();
            let usec =
                stat.lines().find_map(|l| l.strip_prefix("usage_usec ")).and_then(|v| v.trim().parse::<f64>().ok());
            usec.unwrap_or(0.0) / 1e6
        } else {
            let ns = std::fs::read_to_string(dir.join("cpuacct.usage")).unwrap_or_default();
            ns.trim().parse::<f64>().unwrap_or(0.0) / 1e9
        }
    }
}

impl Drop for NodeCpu {
    fn drop(&mut self) {
        let _ = std::fs::write(self.root.join("cgroup.procs"), std::process::id().to_string());
        // The server's containerd may take a moment to exit; an empty cgroup
        // left behind is harmless.
        for _ in 0..20 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// The CPU seconds each part used between two samples, per pod in ms, and the
/// least wall time that work takes on `cores`.
pub fn split(before: &Sample, after: &Sample, pods: usize, cores: usize) -> Value {
    let (containerd, shims) = long_lived(before, after);
    let server = after.server - before.server;
    let bench = after.bench - before.bench;
    let total = after.total - before.total;
    // The cgroup's rest: everything that came and went (runc, CNI plugins, shim starts).
    let helpers = (total - server - bench - containerd - shims).max(0.0);
    let pods_cpu = after.pods - before.pods;
    let node = total - bench + pods_cpu;
    let per_pod = |s: f64| round(s * 1000.0 / pods.max(1) as f64);
    json!({
        "cpu_seconds": {
            "server": round(server), "containerd": round(containerd), "shims": round(shims),
            "helpers": round(helpers), "pods": round(pods_cpu), "node": round(node), "bench": round(bench),
        },
        "cpu_ms_per_pod": {
            "server": per_pod(server), "containerd": per_pod(containerd), "shims": per_pod(shims),
            "helpers": per_pod(helpers), "pods": per_pod(pods_cpu), "node": per_pod(node),
        },
        "node_cpu_floor_ms": round(node * 1000.0 / cores.max(1) as f64),
    })
}

/// CPU of containerd and of the shim daemons between the samples (a process
/// that appeared in between counts from zero).
fn long_lived(before: &Sample, after: &Sample) -> (f64, f64) {
    let (mut containerd, mut shims) = (0.0, 0.0);
    for (pid, (comm, cpu)) in &after.procs {
        let was = before.procs.get(pid).filter(|(c, _)| c == comm).map(|(_, s)| *s).unwrap_or(0.0);
        match comm.as_str() {
            "containerd" => containerd += cpu - was,
            c if c.starts_with("containerd-shim") => shims += cpu - was,
            _ => {}
        }
    }
    (containerd, shims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(total: f64, pods: f64, server: f64, procs: &[(u32, &str, f64)]) -> Sample {
        Sample {
            total,
            pods,
            bench: 1.0,
            server,
            procs: procs.iter().map(|(p, c, s)| (*p, (c.to_string(), *s))).collect(),
        }
    }

    #[test]
    fn the_cgroups_rest_is_the_helpers() {
        let a = sample(10.0, 2.0, 3.0, &[(1, "containerd", 4.0), (2, "containerd-shim", 0.5)]);
        // Server +0.3, containerd +0.4, shim 2 +0.1, a new shim 0.2; the cgroup +2.0.
        let b =
            sample(12.0, 2.6, 3.3, &[(1, "containerd", 4.4), (2, "containerd-shim", 0.6), (3, "containerd-shim", 0.2)]);
        let v = split(&a, &b, 10, 2);
        assert_eq!(v["cpu_seconds"]["containerd"], 0.4);
        assert_eq!(v["cpu_seconds"]["shims"], 0.3);
        assert_eq!(v["cpu_seconds"]["helpers"], 1.0);
        assert_eq!(v["cpu_seconds"]["node"], 2.6);
        assert_eq!(v["cpu_ms_per_pod"]["node"], 260.0);
        assert_eq!(v["node_cpu_floor_ms"], 1300.0);
    }

    #[test]
    fn a_reused_pid_counts_from_zero() {
        let a = sample(1.0, 0.0, 0.0, &[(7, "runc", 0.5)]);
        let b = sample(2.0, 0.0, 0.0, &[(7, "containerd-shim", 0.2)]);
        assert_eq!(long_lived(&a, &b), (0.0, 0.2));
    }
}
