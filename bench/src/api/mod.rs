//! The API server benchmark: the real `skiff server` binary as a child process,
//! driven over HTTPS/HTTP/2 with the admin client certificate, as kubectl and
//! client-go drive it. No reference API server runs here (none is installed), so
//! each figure is compared with its target from docs/targets (or the upstream SLO)
//! in a `"kind": "target"` line.
//!
//! Cases, in order (later ones reuse what earlier ones stored):
//! 1. `creates`: 1 KiB ConfigMaps from concurrent clients (creates/s, p50, p99);
//! 2. `list`: all ConfigMaps, from the store, the watch cache, and paginated;
//! 3. `watch`: fan-out of one event to thousands of watchers.
//!
//! Also the server's idle RSS right after start and its peak RSS during each case.

mod client;
mod cpu;
mod creates;
mod list;
mod server;
mod watch;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::json;

use crate::report::{emit, round, target, Better};

/// The `data` of every benchmark ConfigMap.
const PAYLOAD_BYTES: usize = 1024;
/// From docs/targets: idle `skiff server` (with its agent) ≤ 60 MiB, ready ≤ 1 s.
const TARGET_IDLE_RSS_MIB: f64 = 60.0;
const TARGET_READY_SECONDS: f64 = 1.0;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Case {
    Creates,
    List,
    Watch,
}

#[derive(Args)]
pub struct ApiArgs {
    /// The skiff binary (default: `skiff` next to this benchmark's binary).
    #[arg(long)]
    skiff: Option<PathBuf>,
    /// Where the server keeps its data for the run (a temporary dir inside).
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
    /// Which cases to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "creates,list,watch")]
    cases: Vec<Case>,
    /// Smaller sizes that run in a few minutes (3 s of creates, 10,000 objects to
    /// list, 1,000 watchers); explicit flags still win.
    #[arg(long)]
    quick: bool,
    /// How long the creates case runs [default: 10, quick: 3].
    #[arg(long)]
    seconds: Option<u64>,
    /// Concurrent clients in the creates case (and to fill the store for the list case).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// HTTP/2 connections those clients share [default: one per client].
    #[arg(long)]
    connections: Option<usize>,
    /// ConfigMaps stored for the list case [default: 100000, quick: 10000].
    #[arg(long)]
    list_objects: Option<u64>,
    /// Times each kind of list runs (the median and the slowest are reported).
    #[arg(long, default_value_t = 3)]
    list_repeats: usize,
    /// Concurrent watchers in the watch case [default: 10000, quick: 1000].
    #[arg(long)]
    watchers: Option<usize>,
    /// Watch streams per HTTP/2 connection, capped at what the server allows.
    #[arg(long, default_value_t = 100)]
    streams_per_connection: usize,
    /// Events (one create each, 0.5 s apart) every watcher must receive.
    #[arg(long, default_value_t = 3)]
    watch_events: usize,
}

/// What every case needs: the running server and a client for it.
pub struct Env {
    server: server::SkiffServer,
    client: client::Client,
}

impl Env {
    fn cpu(&self) -> anyhow::Result<cpu::CpuSample> {
        cpu::CpuSample::take(self.server.pid)
    }
}

pub async fn run(args: ApiArgs) -> anyhow::Result<()> {
    let pick = |given: Option<u64>, full: u64, quick: u64| given.unwrap_or(if args.quick { quick } else { full });
    let seconds = pick(args.seconds, 10, 3);
    let list_objects = pick(args.list_objects, 100_000, 10_000);
    let watchers = pick(args.watchers.map(|w| w as u64), 10_000, 1_000) as usize;

    let binary = server::binary(args.skiff.clone())?;
    eprintln!("api: starting {} server", binary.display());
    let server = server::SkiffServer::start(&binary, &args.dir).await?;
    // A moment for start-up allocations to settle; nothing has been asked of it yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = server.memory()?;
    let ready = server.ready_after.as_secs_f64();
    let rss_met = target("api", "idle", "rss_mib", server::mib(idle.rss_kib), TARGET_IDLE_RSS_MIB, Better::Lower);
    let ready_met = target("api", "idle", "ready_seconds", ready, TARGET_READY_SECONDS, Better::Lower);
    emit(json!({
        "bench": "api", "case": "idle", "ready_seconds": round(ready),
        "rss_mib": server::mib(idle.rss_kib), "peak_rss_mib": server::mib(idle.peak_kib),
        // What the footprint covers: the server's own account of what it started
        // (the target counts the local agent too, which skiff does not run yet).
        "server_started": server.started,
        "target": {"rss_mib": TARGET_IDLE_RSS_MIB, "ready_seconds": TARGET_READY_SECONDS}, "met": rss_met && ready_met,
    }));

    let env = Env { client: client::Client::admin(server.data_dir.path(), server.addr)?, server };
    let mut stored = 0;
    for case in &args.cases {
        match case {
            Case::Creates => {
                let connections = args.connections.unwrap_or(args.clients);
                stored += creates::run(&env, seconds, args.clients, connections).await?;
            }
            Case::List => list::run(&env, list_objects, stored, args.clients, args.list_repeats).await?,
            Case::Watch => {
                let watch = watch::WatchArgs {
                    watchers,
                    streams_per_connection: args.streams_per_connection,
                    events: args.watch_events,
                };
                watch::run(&env, &watch).await?;
            }
        }
    }
    env.server.stop().await
}
