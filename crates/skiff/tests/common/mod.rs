//! A `skiff server` started for one test, and kubectl pointed at it: a temporary
//! data directory, a free loopback port, a fresh kubectl cache per command.

#![allow(dead_code)]

pub mod kubelet;
pub mod node;
pub mod ports;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const SKIFF: &str = env!("CARGO_BIN_EXE_skiff");

/// kubectl to use: `SKIFF_TEST_KUBECTL` or `/usr/bin/kubectl`.
pub fn kubectl_binary() -> String {
    std::env::var("SKIFF_TEST_KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into())
}

pub struct Cluster {
    child: Child,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub port: u16,
    /// Lines the server printed to stderr while starting.
    pub startup: Vec<String>,
    /// The network namespace the server (and so kubectl) runs in, if any.
    pub netns: Option<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program`, run inside network namespace `netns` when given (only the network
/// namespace changes, through nsenter).
fn in_netns(netns: Option<&str>, program: &str) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{ns}")).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    }
}

pub use ports::free_port;

impl Cluster {
    /// Starts a server on a new data directory and waits until it is ready.
    pub fn start() -> Cluster {
        Cluster::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        Cluster::start_in(dir, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Cluster {
        let (child, kubeconfig, port, startup) = Cluster::spawn(dir.path(), extra, None);
        Cluster { child, dir, kubeconfig, port, startup, netns: None }
    }

    /// Starts a server inside the network namespace `netns` (made by the test);
    /// kubectl then runs there too.
    pub fn start_in_netns(netns: &str, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let (child, kubeconfig, port, startup) = Cluster::spawn(dir.path(), extra, Some(netns));
        Cluster { child, dir, kubeconfig, port, startup, netns: Some(netns.to_string()) }
    }

    /// Starts a server on an existing data directory that the caller keeps.
    pub fn start_in_path(path: &Path, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let (child, kubeconfig, port, startup) = Cluster::spawn(path, extra, None);
        Cluster { child, dir, kubeconfig, port, startup, netns: None }
    }

    /// Starts `skiff server`. Its local agent (containerd, CNI, proxy rules) runs only
    /// when the test asks for it with `--agent`, in a network namespace of its own.
    fn spawn(data_dir: &Path, extra: &[&str], netns: Option<&str>) -> (Child, PathBuf, u16, Vec<String>) {
        let port = free_port();
        let mut command = in_netns(netns, SKIFF);
        command.arg("server");
        // Loopback unless the test serves other machines (two-node tests).
        if !extra.contains(&"--bind-address") {
            command.args(["--bind-address", "127.0.0.1"]);
        }
        command
            .args(["--https-listen-port", &port.to_string(), "--data-dir"])
            .arg(data_dir)
            .args(extra)
            // Test nodes have no kubelet renewing their Lease: unless a test is
            // about node lifecycle (and passes --node-monitor-grace-period), they
            // must not go Unknown and get tainted half-way through it.
            .env("SKIFF_NODE_MONITOR_GRACE_PERIOD", "1h");
        if !extra.contains(&"--agent") {
            command.arg("--disable-agent");
        }
        // Cluster DNS only where a test asks for it, on the address it picks
        // (the default, the node IP's port 53, is one per machine).
        if !extra.iter().any(|a| a.starts_with("--dns-listen") || *a == "--disable-dns") {
            command.arg("--disable-dns");
        }
        let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("SKIFF_TEST_SERVER_LOG").is_some() {
                    eprintln!("server: {line}");
                }
                let _ = tx.send(line);
            }
        });
        let mut startup = Vec::new();
        loop {
            let line = match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    panic!("skiff server did not become ready: {startup:?}");
                }
            };
            let ready = line.contains("ready; stop with");
            startup.push(line);
            if ready {
                break;
            }
        }
        (child, data_dir.join("admin.kubeconfig"), port, startup)
    }

    /// Kills the server (SIGKILL, as a crash) and starts it again on the same
    /// data directory and network namespace; the kubeconfig is rewritten.
    pub fn restart(&mut self, extra: &[&str]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, kubeconfig, port, startup) = Cluster::spawn(self.dir.path(), extra, self.netns.as_deref());
        self.child = child;
        self.kubeconfig = kubeconfig;
        self.port = port;
        self.startup = startup;
    }

    /// Runs kubectl with a fresh cache directory.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_env(args, &[])
    }

    pub fn kubectl_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let cache = tempfile::tempdir().unwrap();
        let mut cmd = in_netns(self.netns.as_deref(), &kubectl_binary());
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).arg("--cache-dir").arg(cache.path()).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run kubectl")
    }

    /// Runs kubectl as the holder of bearer `token` alone (no client
    /// certificate: a kubeconfig with only the server and the cluster CA).
    pub fn kubectl_with_token(&self, token: &str, args: &[&str]) -> Output {
        let cache = tempfile::tempdir().unwrap();
        let config = cache.path().join("config");
        std::fs::write(&config, "apiVersion: v1\nkind: Config\n").unwrap();
        let mut cmd = in_netns(self.netns.as_deref(), &kubectl_binary());
        cmd.arg("--kubeconfig")
            .arg(&config)
            .arg("--cache-dir")
            .arg(cache.path())
            .arg(format!("--server=https://127.0.0.1:{}", self.port))
            .arg(format!("--certificate-authority={}", self.data_dir().join("tls/ca.crt").display()))
            .arg(format!("--token={token}"))
            .args(args);
        cmd.output().expect("run kubectl")
    }

    /// Runs kubectl and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs kubectl and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(!out.status.success(), "kubectl {args:?} should have failed: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8(out.stderr).unwrap()
    }

    /// Writes a manifest into the test's directory and returns its path.
    pub fn manifest(&self, name: &str, yaml: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, yaml).unwrap();
        path.display().to_string()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A small Deployment of busybox `httpd` used by several end-to-end tests.
pub const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: httpd
        image: busybox:1.36
        command: ["httpd", "-f", "-p", "8080"]
        ports:
        - containerPort: 8080
"#;
