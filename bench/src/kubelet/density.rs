//! Hollow-node density: a control plane (`skiff server --disable-agent`) and
//! `skiff agent --runtime fake --nodes N` as two processes; pods bound straight
//! to the nodes (`spec.nodeName`, so the figures are the kubelet's and not the
//! scheduler's). Hollow nodes make no network state; everything they send goes
//! to the server on loopback.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::{load_average, wait_running, watch_running, KubeletArgs, Running};
use crate::report::{emit, round};
use crate::scheduler::server::{cpu_seconds, status_mib, Server};

const NAMESPACE: &str = "density";

/// The hollow agent as a child process.
struct HollowAgent {
    _child: Child,
    pid: String,
    _data_dir: tempfile::TempDir,
}

impl HollowAgent {
    fn start(skiff: &Path, server: &Server, nodes: usize, parent: &Path) -> anyhow::Result<HollowAgent> {
        let data_dir = tempfile::tempdir_in(parent)?;
        let mut child = Command::new(skiff)
            .args(["agent", "--runtime", "fake", "--nodes", &nodes.to_string(), "--kubeconfig"])
            .arg(&server.kubeconfig)
            .arg("--data-dir")
            .arg(data_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the hollow agent")?;
        let pid = child.id().context("the agent exited at once")?.to_string();
        let mut lines = BufReader::new(child.stderr.take().context("no stderr")?).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("WARN") || line.contains("ERROR") || line.contains("hollow node(s)") {
                    eprintln!("agent: {line}");
                }
            }
        });
        Ok(HollowAgent { _child: child, pid, _data_dir: data_dir })
    }

    fn cpu(&self) -> f64 {
        cpu_seconds(&self.pid)
    }

    fn memory(&self) -> serde_json::Value {
        json!({"rss_mib": round(status_mib(&self.pid, "VmRSS:")), "peak_mib": round(status_mib(&self.pid, "VmHWM:"))})
    }
}

fn server_memory(server: &Server) -> serde_json::Value {
    let pid = server.pid.to_string();
    json!({"rss_mib": round(status_mib(&pid, "VmRSS:")), "peak_mib": round(status_mib(&pid, "VmHWM:"))})
}

pub async fn run(args: &KubeletArgs, skiff: &Path) -> anyhow::Result<()> {
    let (n_nodes, n_pods) = (args.nodes, args.nodes * args.pods_per_node);
    // A /24 per node: the default 10.42.0.0/16 holds only 256 nodes.
    let server =
        Server::start_with(skiff, &args.dir, &["--disable-agent", "--disable-dns", "--cluster-cidr", "10.128.0.0/9"])
            .await?;
    let client = skiff_scheduler::shell::client_from_kubeconfig(&server.kubeconfig, "skiff-bench").await?;
    let bench_cpu0 = cpu_seconds("self");

    // Phase 1: the nodes register and go Ready.
    eprintln!("kubelet/density: starting {n_nodes} hollow nodes");
    let (server_cpu0, load0) = (server.cpu_seconds(), load_average());
    let started = Instant::now();
    let agent = HollowAgent::start(skiff, &server, n_nodes, &args.dir)?;
    wait_nodes_ready(&client, n_nodes, Duration::from_secs(900)).await?;
    let nodes_ready = started.elapsed();
    emit(json!({
        "bench": "kubelet", "case": "density_nodes", "nodes": n_nodes,
        "all_ready_s": round(nodes_ready.as_secs_f64()),
        "agent_cpu_seconds": round(agent.cpu()), "server_cpu_seconds": round(server.cpu_seconds() - server_cpu0),
        "agent": agent.memory(), "server": server_memory(&server), "load1_before": load0, "load1_after": load_average(),
    }));

    // Phase 2: every pod, bound to its node, runs.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?)
        .await?;
    let running: Running = Arc::default();
    let stop = CancellationToken::new();
    tokio::spawn(watch_running(client.clone(), NAMESPACE.into(), running.clone(), stop.clone()));
    let (agent_cpu0, server_cpu0, load0) = (agent.cpu(), server.cpu_seconds(), load_average());
    eprintln!("kubelet/density: creating {n_pods} pods ({} per node)", args.pods_per_node);
    let started = Instant::now();
    let throttled = create_pods(&client, args.nodes, args.pods_per_node, args.clients).await?;
    let created = started.elapsed();
    let mut last = 0;
    let deadline = Instant::now() + Duration::from_secs(1800);
    while !wait_running(&running, n_pods, Duration::from_secs(10)).await {
        let now = running.lock().unwrap().len();
        eprintln!("kubelet/density: {now}/{n_pods} Running after {:.0} s", started.elapsed().as_secs_f64());
        if Instant::now() > deadline || (now == last && started.elapsed() > Duration::from_secs(600)) {
            bail!("only {now} of {n_pods} pods ran");
        }
        last = now;
    }
    let all_running = started.elapsed();
    let (agent_cpu, server_cpu) = (agent.cpu() - agent_cpu0, server.cpu_seconds() - server_cpu0);
    emit(json!({
        "bench": "kubelet", "case": "density_pods", "nodes": n_nodes, "pods": n_pods,
        "created_s": round(created.as_secs_f64()), "all_running_s": round(all_running.as_secs_f64()),
        "creates_retried_after_429": throttled,
        "pods_per_s": round(n_pods as f64 / all_running.as_secs_f64()),
        "agent_cpu_seconds": round(agent_cpu), "agent_cpu_ms_per_pod": round(agent_cpu * 1000.0 / n_pods as f64),
        "server_cpu_seconds": round(server_cpu), "server_cpu_ms_per_pod": round(server_cpu * 1000.0 / n_pods as f64),
        "agent": agent.memory(), "server": server_memory(&server), "load1_before": load0, "load1_after": load_average(),
    }));

    // Phase 3: the idle cost of N nodes and their pods (heartbeats, resyncs).
    let (agent_cpu0, server_cpu0, load0) = (agent.cpu(), server.cpu_seconds(), load_average());
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.steady_seconds)).await;
    let secs = t0.elapsed().as_secs_f64();
    emit(json!({
        "bench": "kubelet", "case": "density_idle", "nodes": n_nodes, "pods": n_pods, "seconds": round(secs),
        "agent_cores": round((agent.cpu() - agent_cpu0) / secs), "server_cores": round((server.cpu_seconds() - server_cpu0) / secs),
        "agent": agent.memory(), "server": server_memory(&server), "load1_before": load0, "load1_after": load_average(),
        "bench_cpu_seconds": round(cpu_seconds("self") - bench_cpu0),
    }));
    stop.cancel();
    Ok(())
}

/// Waits until `n` hollow Nodes report Ready.
async fn wait_nodes_ready(client: &kube::Client, n: usize, timeout: Duration) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let lp = ListParams::default().labels("node.skiff.dev/hollow=true");
    let deadline = Instant::now() + timeout;
    let mut last = usize::MAX;
    while Instant::now() < deadline {
        let ready = nodes
            .list(&lp)
            .await?
            .items
            .iter()
            .filter(|n| {
                let conds = n.status.as_ref().and_then(|s| s.conditions.as_ref());
                conds.into_iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True")
            })
            .count();
        if ready >= n {
            return Ok(());
        }
        if ready != last {
            eprintln!("kubelet/density: {ready}/{n} nodes Ready");
            last = ready;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    bail!("not all {n} hollow nodes were Ready within {timeout:?}")
}

/// `per_node` pods bound to each of `nodes` hollow nodes, by `clients` at once.
/// Creates the pods from `clients` concurrent clients; returns how many
/// creates were answered 429 and sent again. A 429 (the server's in-flight
/// cap) is retried after its `Retry-After` second, up to 10 times, as
/// client-go does.
async fn create_pods(client: &kube::Client, nodes: usize, per_node: usize, clients: usize) -> anyhow::Result<u64> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let throttled = Arc::new(std::sync::atomic::AtomicU64::new(0));
    futures::stream::iter(0..nodes * per_node)
        .map(|i| {
            let (pods, throttled) = (pods.clone(), throttled.clone());
            async move {
                let pod: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("density-{i}"), "labels": {"bench": "density"}},
                    "spec": {
                        "nodeName": format!("hollow-{}", i / per_node),
                        "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]
                    }
                }))?;
                let mut tries = 0;
                loop {
                    match pods.create(&PostParams::default(), &pod).await {
                        Err(kube::Error::Api(e)) if e.code == 429 && tries < 10 => {
                            tries += 1;
                            throttled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        result => break result.map(|_| ())?,
                    }
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(clients)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(throttled.load(std::sync::atomic::Ordering::Relaxed))
}
