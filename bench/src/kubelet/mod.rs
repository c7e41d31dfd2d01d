//! `skiff-bench kubelet`: the node agent.
//! - `startup` (root): one real node — `skiff server` with its agent, its own
//!   containerd and CNI — inside a network namespace the benchmark creates;
//!   `--pods` (30) pods created at once, the image present; per pod, the time
//!   from sending its create to seeing it Running through a watch (p50/p99;
//!   target p99 ≤ 1 s, upstream's SLO is 5 s). Each round also says where the
//!   node's CPU went (`node_cpu`): server, containerd, shims, the short-lived
//!   helpers (runc, CNI plugins) and the pods, and the least wall time that
//!   work needs on this machine's cores.
//! - `density`: `skiff agent --runtime fake --nodes N` (1,000) next to a
//!   control plane; `--pods-per-node` (30) pods bound to each hollow node; the
//!   agent's and the server's CPU seconds and memory, the time until every node
//!   is Ready and every pod Running, and the idle cost once they run.

mod density;
mod node_cpu;
mod startup;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher::{self, watcher, Event};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Clone)]
pub struct KubeletArgs {
    /// Cases to run: startup (needs root, containerd, runc, the CNI plugins), density.
    #[arg(long, value_delimiter = ',', default_value = "startup,density")]
    cases: Vec<String>,
    /// Pods created at once in the startup case.
    #[arg(long, default_value_t = 30)]
    pods: usize,
    /// Rounds of the startup case (each creates `--pods`, then removes them).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Hollow nodes in the density case.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Pods bound to each hollow node.
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    /// How long the density case watches the idle cost once every pod runs.
    #[arg(long, default_value_t = 60)]
    steady_seconds: u64,
    /// Concurrent API clients creating the density pods.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// 100 hollow nodes and 20 s of idle unless given otherwise.
    #[arg(long)]
    quick: bool,
    /// The skiff binary (default: next to this one).
    #[arg(long)]
    skiff: Option<PathBuf>,
    /// Where the data dirs go.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

pub async fn run(mut args: KubeletArgs) -> anyhow::Result<()> {
    if args.quick {
        args.nodes = args.nodes.min(100);
        args.steady_seconds = args.steady_seconds.min(20);
    }
    let skiff = match &args.skiff {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("skiff"),
    };
    for case in args.cases.clone() {
        match case.as_str() {
            "startup" => startup::run(&args, &skiff)?,
            "density" => density::run(&args, &skiff).await?,
            other => anyhow::bail!("unknown case {other:?} (startup, density)"),
        }
    }
    Ok(())
}

/// When each pod of a namespace was first seen Running, by name.
type Running = Arc<Mutex<HashMap<String, Instant>>>;

/// Records, through a watch on `namespace`, when each pod is first seen in phase
/// Running; forgets pods when they are deleted. Until `stop`.
async fn watch_running(client: kube::Client, namespace: String, running: Running, stop: CancellationToken) {
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let mut stream = watcher(pods, watcher::Config::default()).boxed();
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = stream.next() => e,
        };
        match event {
            Some(Ok(Event::Apply(p) | Event::InitApply(p))) => {
                if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                    let now = Instant::now();
                    running.lock().unwrap().entry(p.metadata.name.unwrap_or_default()).or_insert(now);
                }
            }
            Some(Ok(Event::Delete(p))) => {
                running.lock().unwrap().remove(p.metadata.name.as_deref().unwrap_or(""));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => eprintln!("watch: {e}"),
            None => return,
        }
    }
}

/// Waits until at least `n` pods are Running (false after `timeout`).
async fn wait_running(running: &Running, n: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if running.lock().unwrap().len() >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The 1-minute load average: how busy the shared machine was.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}
