//! Pod startup on one real node. Everything runs inside a network namespace the
//! benchmark makes (loopback only, no route out): a thread enters it and runs
//! its own runtime, so the `skiff server` it starts — with the agent, its
//! containerd and every pod — lives there, and so does the benchmark's client.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use skiff_kubelet::runtime::{CriRuntime, RuntimeService};
use skiff_kubelet::testing::{NetNs, Sandboxes};
use tokio_util::sync::CancellationToken;

use super::node_cpu::{self, NodeCpu};
use super::{load_average, wait_running, watch_running, KubeletArgs, Running};
use crate::report::{emit, round, target, Better};
use crate::scheduler::server::Server;
use crate::stats::Latencies;

const NODE: &str = "bench-node";
const IMAGE: &str = "docker.io/library/busybox:1.36";

pub fn run(args: &KubeletArgs, skiff: &Path) -> anyhow::Result<()> {
    if let Err(missing) = skiff_kubelet::preflight::check() {
        bail!("the startup case needs a real node: {missing} (run as root after scripts/deps)");
    }
    let ns = NetNs::create("skiff-bench");
    let (name, args, skiff) = (ns.name.clone(), args.clone(), skiff.to_path_buf());
    let result = std::thread::spawn(move || -> anyhow::Result<()> {
        enter_netns(&name)?;
        // Threads and processes made from here on inherit the namespace.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(inside(&args, &skiff))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the startup case panicked"))?;
    drop(ns);
    result
}

/// Moves this thread into network namespace `name` (only the network namespace:
/// the cgroup and /sys mounts runc needs stay as they are).
fn enter_netns(name: &str) -> anyhow::Result<()> {
    let f = std::fs::File::open(format!("/run/netns/{name}")).with_context(|| format!("opening netns {name}"))?;
    // SAFETY: setns with a namespace fd we hold open; it changes only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns into {name}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

fn pod(name: &str) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"bench": "startup"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]
        }
    }))?)
}

async fn inside(args: &KubeletArgs, skiff: &Path) -> anyhow::Result<()> {
    // Before the server starts, so that it and all it starts are counted.
    let node_cpu = NodeCpu::enter().map_err(|e| eprintln!("kubelet/startup: no CPU split: {e:#}")).ok();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let server = Server::start_with(skiff, &args.dir, &["--node-name", NODE, "--disable-dns"]).await?;
    let socket = server.data_dir().join("agent/containerd/containerd.sock");
    let _cleanup = Sandboxes(socket.clone());
    let client = skiff_scheduler::shell::client_from_kubeconfig(&server.kubeconfig, "skiff-bench").await?;
    eprintln!("kubelet/startup: waiting for {NODE} to be Ready with the busybox image");
    wait_node_ready(&client, Duration::from_secs(180)).await?;
    let runtime = CriRuntime::connect_lazy(&socket.display().to_string())?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let running: Running = Arc::default();
    let stop = CancellationToken::new();
    tokio::spawn(watch_running(client.clone(), "default".into(), running.clone(), stop.clone()));

    // A first pod warms containerd up (snapshots of the pause and busybox layers).
    pods.create(&PostParams::default(), &pod("warmup")?).await?;
    if !wait_running(&running, 1, Duration::from_secs(120)).await {
        bail!("the warm-up pod did not run");
    }
    remove_pods(&pods, &runtime, &running, &["warmup".to_string()]).await?;

    let mut all = Latencies::default();
    for round_no in 0..args.rounds {
        let names: Vec<String> = (0..args.pods).map(|i| format!("startup-{round_no}-{i}")).collect();
        let (cpu0, load0) = (server.cpu_seconds(), load_average());
        let split0 = node_cpu.as_ref().map(|n| n.sample(server.pid));
        let creates = names.iter().map(|n| {
            let pods = pods.clone();
            async move {
                let p = pod(n)?;
                let sent = Instant::now();
                pods.create(&PostParams::default(), &p).await?;
                anyhow::Ok((n.clone(), sent))
            }
        });
        let sent: Vec<(String, Instant)> = futures::future::try_join_all(creates).await?;
        if !wait_running(&running, args.pods, Duration::from_secs(300)).await {
            bail!("round {round_no}: not every pod ran within 5 minutes");
        }
        let cpu = server.cpu_seconds() - cpu0;
        let split = match (&node_cpu, &split0) {
            (Some(n), Some(s0)) => node_cpu::split(s0, &n.sample(server.pid), args.pods, cores),
            _ => json!(null),
        };
        let mut lat = Latencies::default();
        {
            let seen = running.lock().unwrap();
            for (name, at) in &sent {
                let d = seen[name].saturating_duration_since(*at);
                lat.record(d);
                all.record(d);
            }
        }
        emit(json!({
            "bench": "kubelet", "case": "pod_startup", "round": round_no, "pods": args.pods,
            "p50_ms": lat.quantile_ms(0.5), "p90_ms": lat.quantile_ms(0.9), "p99_ms": lat.quantile_ms(0.99),
            "max_ms": lat.quantile_ms(1.0),
            "server_cpu_seconds": round(cpu), "server_cpu_ms_per_pod": round(cpu * 1000.0 / args.pods as f64),
            "load1_before": load0, "load1_after": load_average(), "node": split,
        }));
        remove_pods(&pods, &runtime, &running, &names).await?;
    }
    let p99 = all.quantile_ms(0.99);
    emit(json!({
        "bench": "kubelet", "case": "pod_startup_all", "rounds": args.rounds, "pods": all.len(),
        "p50_ms": all.quantile_ms(0.5), "p99_ms": p99, "max_ms": all.quantile_ms(1.0),
    }));
    target("kubelet", "pod_startup", "p99_ms", p99, 1000.0, Better::Lower);
    stop.cancel();
    Ok(())
}

/// Waits until the node is Ready and reports the busybox image (the agent
/// builds and imports it at start-up).
async fn wait_node_ready(client: &kube::Client, timeout: Duration) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(n)) = nodes.get_opt(NODE).await {
            let st = n.status.unwrap_or_default();
            let ready = st.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
            let image = st.images.iter().flatten().any(|i| i.names.iter().flatten().any(|n| n == IMAGE));
            if ready && image {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("{NODE} was not Ready with {IMAGE} within {timeout:?}")
}

/// Deletes the pods and waits until the API and containerd have none of them.
async fn remove_pods(pods: &Api<Pod>, rt: &CriRuntime, running: &Running, names: &[String]) -> anyhow::Result<()> {
    for n in names {
        let _ = pods.delete(n, &DeleteParams::default()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let listed = pods.list(&Default::default()).await?.items.len();
        let sandboxes = rt.list_pod_sandbox(None).await?.len();
        if listed == 0 && sandboxes == 0 {
            running.lock().unwrap().clear();
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("pods were not removed within 2 minutes")
}
