//! The real `skiff server` binary as a child process on a temporary data dir, so the
//! benchmark measures what users run (TLS, authentication, the embedded store with
//! fsync), and its memory from /proc.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What the server prints once it serves.
const READY_LINE: &str = "ready; stop with";

pub struct SkiffServer {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    /// Until the server printed its ready line, as the bench saw it.
    pub ready_after: Duration,
    /// Holds `tls/` with the admin client certificate; removed on drop.
    pub data_dir: tempfile::TempDir,
    /// The server's start-up progress lines ("store ready ...", "scheduler started"),
    /// which say what this build runs besides the API server.
    pub started: Vec<String>,
}

/// Memory of a process, from /proc/<pid>/status.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub rss_kib: u64,
    /// VmHWM: the peak RSS since start or since the last [`SkiffServer::reset_peak`].
    pub peak_kib: u64,
}

impl SkiffServer {
    /// Starts `binary server` with its data under `parent` on a free loopback port and
    /// waits for its ready line.
    pub async fn start(binary: &Path, parent: &Path) -> anyhow::Result<SkiffServer> {
        let data_dir =
            tempfile::tempdir_in(parent).with_context(|| format!("creating a data dir in {}", parent.display()))?;
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(["server", "--disable-agent"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["--bind-address", "127.0.0.1", "--https-listen-port", &port.to_string()])
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
                let done = line.contains(READY_LINE);
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
        let ready_after = started.elapsed();
        // Keep draining stderr so the server never blocks on a full pipe; show only
        // warnings and errors, which would explain odd figures.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("server: {line}");
                }
            }
        });
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = seen.iter().filter_map(|line| progress(line)).collect();
        Ok(SkiffServer { child, pid, addr, ready_after, data_dir, started })
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} in status"))?;
            Ok(line[name.len()..].trim().trim_end_matches("kB").trim().parse()?)
        };
        Ok(Memory { rss_kib: field("VmRSS:")?, peak_kib: field("VmHWM:")? })
    }

    /// Resets the peak (VmHWM) to the current RSS, so that each case reports its own
    /// peak (`echo 5 > /proc/<pid>/clear_refs`, Linux ≥ 4.0). Returns false where the
    /// kernel refuses; the peak then covers the whole run so far.
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    /// Stops the server with SIGTERM, as an operator would, and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().await?;
        if status.success() && tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await.is_ok() {
            return Ok(());
        }
        self.child.kill().await?;
        Ok(())
    }
}

/// `skiff: scheduler started (12 ms)` → `scheduler started`; other lines → None.
fn progress(line: &str) -> Option<String> {
    let text = line.strip_prefix("skiff: ")?;
    let (text, timing) = text.rsplit_once(" (")?;
    timing.ends_with(" ms)").then(|| text.to_string())
}

/// `skiff` next to the running bench binary (both are built into the same target
/// directory), unless given.
pub fn binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(path) => Ok(path),
        None => Ok(std::env::current_exe()?.with_file_name("skiff")),
    }
}

pub fn mib(kib: u64) -> f64 {
    crate::report::round(kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_lose_prefix_and_timing() {
        assert_eq!(progress("skiff: scheduler started (12 ms)").as_deref(), Some("scheduler started"));
        assert_eq!(progress("skiff: admin kubeconfig written to /x"), None);
        assert_eq!(progress("2026-11-27T00:00:00Z WARN something (1 ms)"), None);
    }
}
