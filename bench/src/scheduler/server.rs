//! `skiff server --disable-scheduler` as a child process on a temporary data dir:
//! the benchmark fills the cluster first, then starts a scheduler (its own, or the
//! server's after a restart).

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Server {
    child: Child,
    pub pid: u32,
    pub kubeconfig: PathBuf,
    binary: PathBuf,
    port: u16,
    data_dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(binary: &Path, parent: &Path) -> anyhow::Result<Server> {
        Server::start_with(binary, parent, &["--disable-agent", "--disable-scheduler"]).await
    }

    /// `skiff server` with `extra` flags (it runs in this thread's network namespace).
    pub async fn start_with(binary: &Path, parent: &Path, extra: &[&str]) -> anyhow::Result<Server> {
        let data_dir = tempfile::tempdir_in(parent).with_context(|| format!("a data dir in {}", parent.display()))?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        Server::spawn(binary, data_dir, port, extra).await
    }

    /// Stops the server (SIGTERM; it exits once its store is closed) and starts it
    /// again on the same data dir and port, with `extra` flags this time: the
    /// kubeconfig written by the first start stays valid.
    pub async fn restart(mut self, extra: &[&str]) -> anyhow::Result<Server> {
        // SAFETY: kill has no memory-safety preconditions; the child is ours and not reaped yet.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .context("skiff server did not stop within 60 s of SIGTERM")??;
        if !status.success() {
            bail!("skiff server exited with {status} on SIGTERM");
        }
        Server::spawn(&self.binary, self.data_dir, self.port, extra).await
    }

    async fn spawn(binary: &Path, data_dir: tempfile::TempDir, port: u16, extra: &[&str]) -> anyhow::Result<Server> {
        let mut child = Command::new(binary)
            .args(["server", "--bind-address", "127.0.0.1", "--https-listen-port", &port.to_string()])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} (build it: cargo build --release -p skiff)", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let mut lines = BufReader::new(child.stderr.take().context("no stderr")?).lines();
        let mut seen = Vec::new();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                let done = line.contains("ready; stop with");
                seen.push(line);
                if done {
                    return anyhow::Ok(true);
                }
            }
            anyhow::Ok(false)
        })
        .await;
        if !matches!(ready, Ok(Ok(true))) {
            bail!("skiff server did not become ready; it said:\n{}", seen.join("\n"));
        }
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("server: {line}");
                }
            }
        });
        let kubeconfig = data_dir.path().join("admin.kubeconfig");
        Ok(Server { child, pid, kubeconfig, binary: binary.to_path_buf(), port, data_dir })
    }

    /// Resident memory in MiB, from /proc.
    pub fn rss_mib(&self) -> f64 {
        status_mib(&self.pid.to_string(), "VmRSS:")
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// CPU seconds the server has used so far (user + system).
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.pid.to_string())
    }
}

/// A memory field of /proc/<pid>/status (`VmRSS:`, `VmHWM:`) in MiB; 0 when unreadable.
pub fn status_mib(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU seconds (user + system) of a process (`self` for this one), from /proc.
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12].iter().filter_map(|i| fields.get(*i)).filter_map(|v| v.parse::<f64>().ok()).sum();
    // Clock ticks are 100 per second on Linux.
    ticks / 100.0
}
