//! `skiff-bench scheduler`: hollow Nodes and pending pods through the real API
//! server, then skiff's scheduler places them all.
//!
//! Per shape (plain, zone spread, hostname anti-affinity), each scheduler on a
//! freshly filled server (all pods created first, scheduler off):
//! - `throughput`, `in-server`: the server restarts with its scheduler on, as
//!   `skiff server` runs it by default (on the in-process transport); pods/s
//!   from the first to the last binding seen through the benchmark's watch
//!   (scheduling throughput, as upstream's scheduler_perf collects it);
//! - `throughput`, `external`: skiff's scheduler in this process, an HTTPS
//!   client of the server as `skiff scheduler` is (on its own thread, so its CPU
//!   is measured apart); the same pods/s, and from its start (with the start-up
//!   lists);
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
    /// Which schedulers place the pods, each on a freshly filled server:
    /// `in-server` (the one `skiff server` runs, on its in-process transport;
    /// the server restarts with it on) and `external` (skiff's scheduler in this
    /// process, an HTTPS client of the server; then the latency phase).
    #[arg(long, value_delimiter = ',', default_value = "in-server,external")]
    schedulers: Vec<String>,
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
    for placement in &args.schedulers {
        match placement.as_str() {
            "in-server" => in_server(args, skiff, shape).await?,
            "external" => external(args, skiff, shape).await?,
            other => bail!("unknown scheduler {other:?} (in-server, external)"),
        }
    }
    Ok(())
}

/// A fresh server with the scheduler off, filled with the nodes and the pending
/// pods, and the client that filled it.
async fn filled_server(
    args: &SchedulerArgs,
    skiff: &std::path::Path,
    shape: Shape,
) -> anyhow::Result<(server::Server, kube::Client)> {
    let case = shape.name();
    let server = server::Server::start(skiff, &args.dir).await?;
    let client = skiff_scheduler::shell::client_from_kubeconfig(&server.kubeconfig, "skiff-bench").await?;
    eprintln!("scheduler/{case}: creating {} nodes", args.nodes);
    create_nodes(&client, args.nodes, args.clients).await?;
    eprintln!("scheduler/{case}: creating {} pods", args.pods);
    create_pods(&client, "bench", args.pods, shape, args.clients).await?;
    Ok((server, client))
}

/// The scheduler `skiff server` runs by default, on the server's in-process
/// transport: the filled server restarts with its scheduler on, and the
/// benchmark's watch times the bindings.
async fn in_server(args: &SchedulerArgs, skiff: &std::path::Path, shape: Shape) -> anyhow::Result<()> {
    let case = shape.name();
    let (server, _) = filled_server(args, skiff, shape).await?;
    eprintln!("scheduler/{case}: restarting the server with its scheduler");
    let restarted = Instant::now();
    let server = server.restart(&["--disable-agent"]).await?;
    let client = skiff_scheduler::shell::client_from_kubeconfig(&server.kubeconfig, "skiff-bench").await?;
    let bound: Bound = Arc::default();
    let stop = CancellationToken::new();
    let watch = tokio::spawn(watch_bindings(client, bound.clone(), stop.clone()));
    let run = measure(&bound, args.pods, || [server.cpu_seconds(), server::cpu_seconds("self")]).await?;
    stop.cancel();
    let _ = watch.await;
    emit(json!({
        "bench": "scheduler", "case": case, "kind": "throughput", "scheduler": "in-server",
        "nodes": args.nodes, "pods": args.pods,
        "pods_per_s": round(run.pods_per_s), "timed_pods": run.timed,
        // Bound before the benchmark's watch had listed the pods (their times are unknown).
        "bound_before_watch": run.listed,
        "restart_to_first_binding_ms": round(run.first.duration_since(restarted).as_secs_f64() * 1000.0),
        "server_rss_mib": round(server.rss_mib()),
        // The server's process: the API server and its scheduler (and its controllers).
        "server_cpu_ms_per_pod": run.cpu_ms_per_pod[0],
        "bench_cpu_ms_per_pod": run.cpu_ms_per_pod[1],
    }));
    emit_target(case, "in-server", run.pods_per_s, shape.target());
    Ok(())
}

/// skiff's scheduler in this process, a client of the server over HTTPS (as
/// `skiff scheduler` runs it), then the latency phase.
async fn external(args: &SchedulerArgs, skiff: &std::path::Path, shape: Shape) -> anyhow::Result<()> {
    let case = shape.name();
    let fill_started = Instant::now();
    let (server, client) = filled_server(args, skiff, shape).await?;
    let fill = fill_started.elapsed();

    // Watch bindings before the scheduler starts, so none is missed.
    let bound: Bound = Arc::default();
    let stop = CancellationToken::new();
    let watch = tokio::spawn(watch_bindings(client.clone(), bound.clone(), stop.clone()));
    listed(&bound).await?;
    let started = Instant::now();
    let scheduler = thread::SchedulerThread::start(server.kubeconfig.clone())?;
    eprintln!("scheduler/{case}: scheduling");
    let run =
        measure(&bound, args.pods, || [server.cpu_seconds(), scheduler.cpu_seconds(), server::cpu_seconds("self")])
            .await?;
    emit(json!({
        "bench": "scheduler", "case": case, "kind": "throughput", "scheduler": "external",
        "nodes": args.nodes, "pods": args.pods,
        "pods_per_s": round(run.pods_per_s),
        "pods_per_s_with_start": round(args.pods as f64 / run.last.duration_since(started).as_secs_f64()),
        "first_binding_ms": round(run.first.duration_since(started).as_secs_f64() * 1000.0),
        "fill_s": round(fill.as_secs_f64()), "server_rss_mib": round(server.rss_mib()),
        // Where the time goes, in CPU ms per pod between the first and the last
        // binding: the API server; the scheduler's thread alone; this whole
        // process (the scheduler plus the benchmark's own watch).
        "server_cpu_ms_per_pod": run.cpu_ms_per_pod[0],
        "scheduler_cpu_ms_per_pod": run.cpu_ms_per_pod[1],
        "scheduler_and_bench_cpu_ms_per_pod": run.cpu_ms_per_pod[2],
    }));
    emit_target(case, "external", run.pods_per_s, shape.target());

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

fn emit_target(case: &str, scheduler: &str, pods_per_s: f64, target: f64) {
    emit(json!({
        "bench": "scheduler", "case": case, "kind": "target", "scheduler": scheduler, "metric": "pods_per_s",
        "value": round(pods_per_s), "target": target, "met": pods_per_s >= target,
    }));
}

/// One throughput run, over the bindings the watch saw happen.
struct Run {
    /// Scheduling throughput, as upstream's scheduler_perf collects it: pods
    /// bound per second while the scheduler works, every pod pending before it
    /// starts, from the first timed binding to the last.
    pods_per_s: f64,
    first: Instant,
    last: Instant,
    /// Bindings with a time (seen as watch events).
    timed: usize,
    /// Bindings already done in the watch's initial list.
    listed: usize,
    /// CPU ms per timed pod between the first and the last timed binding, per
    /// process or thread measured.
    cpu_ms_per_pod: Vec<f64>,
}

/// Waits for all `pods` bindings, sampling `cpu` (CPU seconds of whatever the
/// caller measures) at the first and the last timed binding. CPU is counted from
/// the first binding on: the start-up lists (every node and pod decoded once)
/// are not a per-pod cost.
async fn measure<const N: usize>(bound: &Bound, pods: usize, cpu: impl Fn() -> [f64; N]) -> anyhow::Result<Run> {
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut at_first = None;
    loop {
        let (timed, n) = {
            let b = bound.lock().unwrap();
            (b.at.len(), b.len())
        };
        if timed > 0 && at_first.is_none() {
            at_first = Some(cpu());
        }
        if n >= pods {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {n} of {pods} pods were bound");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at_last = cpu();
    let at_first = at_first.unwrap_or(at_last);
    let b = bound.lock().unwrap();
    let timed = b.at.len();
    let intervals = timed.saturating_sub(1).max(1) as f64;
    let first = b.at.values().min().copied().unwrap_or_else(Instant::now);
    let last = b.at.values().max().copied().unwrap_or(first);
    let steady = last.duration_since(first).as_secs_f64();
    Ok(Run {
        pods_per_s: timed.saturating_sub(1) as f64 / steady.max(1e-9),
        first,
        last,
        timed,
        listed: b.listed.len(),
        cpu_ms_per_pod: (0..N).map(|i| round((at_last[i] - at_first[i]) * 1000.0 / intervals)).collect(),
    })
}

/// Waits for the watch's initial list.
async fn listed(bound: &Bound) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bound.lock().unwrap().listed_all {
        if Instant::now() > deadline {
            bail!("the benchmark's watch did not list the pods within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Waits until at least `n` pods are bound; false on timeout.
async fn wait_for(bound: &Bound, n: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
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
        latencies.record(bound.at[&name].saturating_duration_since(at));
    }
    Ok(latencies)
}
