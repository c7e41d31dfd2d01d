//! `skiff-bench scheduler`: hollow Nodes and pending pods through the real API
//! server, then skiff's scheduler (in this process, a client of the server like
//! `skiff server` runs it) places them all.
//!
//! Per shape (plain, zone spread, hostname anti-affinity) on a fresh server:
//! - `throughput`: all pods are created first (scheduler off), then the
//!   scheduler starts (on its own thread, so its CPU is measured apart); pods/s
//!   from the first to the last binding seen through a watch (scheduling
//!   throughput, as upstream's scheduler_perf collects it), and from its start
//!   (with the start-up lists);
//! - `core`: the decision ceiling, the same objects through `SchedulerCore`
//!   without the API (bindings acknowledged at once);
//! - `latency`: with the scheduler running, pods created one at a time at a
//!   steady rate; per pod, from the create's response to the binding seen on
//!   the watch (p50/p90/p99/max).
//!
//! No reference scheduler runs here (none installs from the registries this
//! project can reach), so a `target` line compares with targets.md; upstream's
//! published floors on the same shapes are 680–810 (plain), 460 (spread) and
//! 35–60 (anti-affinity) pods/s on 5,000 nodes.

mod core;
pub(crate) mod server;
mod thread;
mod watch;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::report::{emit, round};
use crate::stats::Latencies;
use watch::{watch_bindings, Bound};
use workload::Shape;

#[derive(clap::Args)]
pub struct SchedulerArgs {
    /// Hollow nodes per case.
    #[arg(long, default_value_t = 5000)]
    nodes: usize,
    /// Pods scheduled in the throughput phase.
    #[arg(long, default_value_t = 10000)]
    pods: usize,
    /// Pods created one by one in the latency phase.
    #[arg(long, default_value_t = 500)]
    latency_pods: usize,
    /// Creation rate in the latency phase (pods/s).
    #[arg(long, default_value_t = 100.0)]
    latency_rate: f64,
    /// Shapes to run: plain, spread, anti-affinity.
    #[arg(long, value_delimiter = ',', default_value = "plain,spread,anti-affinity")]
    cases: Vec<String>,
    /// Concurrent API clients filling the cluster.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// 500 nodes, 2,000 pods, 200 latency pods unless given.
    #[arg(long)]
    quick: bool,
    /// Only the decision ceiling (no server).
    #[arg(long)]
    core_only: bool,
    /// The skiff binary (default: next to this one).
    #[arg(long)]
    skiff: Option<PathBuf>,
    /// Where the servers' data dirs go.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

pub async fn run(mut args: SchedulerArgs) -> anyhow::Result<()> {
    if args.quick {
        args.nodes = args.nodes.min(500);
        args.pods = args.pods.min(2000);
        args.latency_pods = args.latency_pods.min(200);
    }
    let skiff = match &args.skiff {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("skiff"),
    };
    let shapes: Vec<Shape> = args
        .cases
        .iter()
        .map(|c| Shape::parse(c).with_context(|| format!("unknown case {c:?} (plain, spread, anti-affinity)")))
        .collect::<anyhow::Result<_>>()?;
    for shape in shapes {
        run_case(&args, &skiff, shape).await?;
    }
    Ok(())
}

async fn run_case(args: &SchedulerArgs, skiff: &std::path::Path, shape: Shape) -> anyhow::Result<()> {
    let case = shape.name();
    let core = core::run(args.nodes, args.pods, shape)?;
    emit(json!({
        "bench": "scheduler", "case": case, "kind": "core", "nodes": args.nodes, "pods": args.pods,
        "placed": core.placed, "placements_digest": core.placements_digest,
        "decisions_per_s": round(core.decisions_per_s),
        "cpu_us_per_decision": round(core.cpu_us_per_decision),
    }));
    if args.core_only {
        return Ok(());
    }
    let server = server::Server::start(skiff, &args.dir).await?;
    let client = skiff_scheduler::shell::client_from_kubeconfig(&server.kubeconfig, "skiff-bench").await?;
    eprintln!("scheduler/{case}: creating {} nodes", args.nodes);
    let fill_started = Instant::now();
    create_nodes(&client, args.nodes, args.clients).await?;
    eprintln!("scheduler/{case}: creating {} pods", args.pods);
    create_pods(&client, "bench", args.pods, shape, args.clients).await?;
    let fill = fill_started.elapsed();

    // Watch bindings before the scheduler starts, so none is missed.
    let bound: Bound = Arc::default();
    let stop = CancellationToken::new();
    let watch = tokio::spawn(watch_bindings(client.clone(), bound.clone(), stop.clone()));
    wait_for(&bound, 0, Duration::from_secs(5)).await; // the watch's initial list
    let started = Instant::now();
    let scheduler = thread::SchedulerThread::start(server.kubeconfig.clone())?;
    eprintln!("scheduler/{case}: scheduling");
    let cpu = |scheduler: &thread::SchedulerThread| {
        [server.cpu_seconds(), scheduler.cpu_seconds(), server::cpu_seconds("self")]
    };
    // CPU is counted from the first binding on: the start-up lists (every node
    // and pod decoded once) are not a per-pod cost.
    let deadline = started + Duration::from_secs(900);
    let mut at_first = None;
    loop {
        let n = bound.lock().unwrap().len();
        if n > 0 && at_first.is_none() {
            at_first = Some(cpu(&scheduler));
        }
        if n >= args.pods {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {n} of {} pods were bound", args.pods);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at_last = cpu(&scheduler);
    let at_first = at_first.unwrap_or(at_last);
    let per_pod_ms = |i: usize| round((at_last[i] - at_first[i]) * 1000.0 / args.pods.saturating_sub(1).max(1) as f64);
    let times: Vec<Instant> = bound.lock().unwrap().values().copied().collect();
    let first = times.iter().min().copied().unwrap_or(started);
    let last = times.iter().max().copied().unwrap_or(started);
    let steady = last.duration_since(first).as_secs_f64();
    // Scheduling throughput, as upstream's scheduler_perf collects it: pods
    // bound per second while the scheduler works, every pod pending before it
    // starts, from the first binding to the last.
    let pods_per_s = args.pods.saturating_sub(1) as f64 / steady.max(1e-9);
    emit(json!({
        "bench": "scheduler", "case": case, "kind": "throughput", "nodes": args.nodes, "pods": args.pods,
        "pods_per_s": round(pods_per_s),
        "pods_per_s_with_start": round(args.pods as f64 / last.duration_since(started).as_secs_f64()),
        "first_binding_ms": round(first.duration_since(started).as_secs_f64() * 1000.0),
        "fill_s": round(fill.as_secs_f64()), "server_rss_mib": round(server.rss_mib()),
        // Where the time goes, in CPU ms per pod between the first and the last
        // binding: the API server; the scheduler's thread alone; this whole
        // process (the scheduler plus the benchmark's own watch).
        "server_cpu_ms_per_pod": per_pod_ms(0),
        "scheduler_cpu_ms_per_pod": per_pod_ms(1),
        "scheduler_and_bench_cpu_ms_per_pod": per_pod_ms(2),
    }));
    emit(json!({
        "bench": "scheduler", "case": case, "kind": "target", "metric": "pods_per_s",
        "value": round(pods_per_s), "target": shape.target(), "met": pods_per_s >= shape.target(),
    }));

    eprintln!("scheduler/{case}: latency at {} pods/s", args.latency_rate);
    let mut latencies = latency_phase(&client, &bound, args, shape).await?;
    emit(json!({
        "bench": "scheduler", "case": case, "kind": "latency", "nodes": args.nodes,
        "pods": args.latency_pods, "rate_per_s": args.latency_rate,
        "p50_ms": latencies.quantile_ms(0.5), "p90_ms": latencies.quantile_ms(0.9),
        "p99_ms": latencies.quantile_ms(0.99), "max_ms": latencies.quantile_ms(1.0),
    }));
    scheduler.stop();
    stop.cancel();
    let _ = watch.await;
    Ok(())
}

/// Waits until at least `n` pods are bound (`n == 0`: a short settle); false on timeout.
async fn wait_for(bound: &Bound, n: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    if n == 0 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return true;
    }
    while Instant::now() < deadline {
        if bound.lock().unwrap().len() >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn create_nodes(client: &kube::Client, n: usize, clients: usize) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let status = workload::node_status();
    futures::stream::iter(0..n)
        .map(|i| {
            let (nodes, status) = (nodes.clone(), status.clone());
            async move {
                let node = workload::node(i);
                let name = node.metadata.name.clone().unwrap_or_default();
                nodes.create(&PostParams::default(), &node).await?;
                nodes.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(clients)
        .try_for_each(|_| async { Ok(()) })
        .await
}

async fn create_pods(
    client: &kube::Client,
    prefix: &str,
    n: usize,
    shape: Shape,
    clients: usize,
) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    futures::stream::iter(0..n)
        .map(|i| {
            let pods = pods.clone();
            async move {
                let pod: Pod = serde_json::from_value(workload::pod(prefix, i, shape))?;
                pods.create(&PostParams::default(), &pod).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(clients)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// Creates pods one at a time at `latency_rate`; per pod, the time from the
/// create's response to its binding on the watch.
async fn latency_phase(
    client: &kube::Client,
    bound: &Bound,
    args: &SchedulerArgs,
    shape: Shape,
) -> anyhow::Result<Latencies> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let interval = Duration::from_secs_f64(1.0 / args.latency_rate.max(0.001));
    let mut ticker = tokio::time::interval(interval);
    let mut created = Vec::with_capacity(args.latency_pods);
    // Indices continue after the throughput pods so groups stay the same size.
    for i in args.pods..args.pods + args.latency_pods {
        ticker.tick().await;
        let value = workload::pod("latency", i, shape);
        let name = value["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let pod: Pod = serde_json::from_value(value)?;
        pods.create(&PostParams::default(), &pod).await?;
        created.push((name, Instant::now()));
    }
    if !wait_for(bound, args.pods + args.latency_pods, Duration::from_secs(300)).await {
        bail!("latency pods were not all bound");
    }
    let bound = bound.lock().unwrap();
    let mut latencies = Latencies::default();
    for (name, at) in created {
        // A binding can be seen before the create's response arrives: count 0.
        latencies.record(bound[&name].saturating_duration_since(at));
    }
    Ok(latencies)
}
