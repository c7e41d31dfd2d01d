//! `skiff-bench`: performance measurements for skiff. Every result is one JSON line
//! on stdout; where a reference implementation exists (etcd for the store) it runs
//! in the same invocation and a `ratio` line compares the two against our target;
//! where none does (the API server), a `target` line compares a figure with its target.
//! Progress goes to stderr. See bench/README.md.

mod api;
mod dns;
mod etcd;
mod kubelet;
mod proxy;
mod report;
mod scheduler;
mod stats;
mod store;

use clap::{Parser, Subcommand};

/// The allocator `skiff` uses. The API benchmark's client runs on the same cores as
/// the server it measures, so its own CPU per request matters: glibc's malloc was ~7%
/// of it per create.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "skiff-bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The store: embedded backend vs a real etcd started by the benchmark.
    Store(store::StoreArgs),
    /// The scheduler: hollow nodes and pending pods through the real API server,
    /// placed by skiff's scheduler (plain, topology spread, anti-affinity).
    Scheduler(scheduler::SchedulerArgs),
    /// The API server: the real `skiff server` driven over HTTPS (creates, lists,
    /// watch fan-out, memory) against our targets.
    Api(api::ApiArgs),
    /// The service proxy: EndpointSlice change → rules in the kernel, 1,000 and
    /// 10,000 Services, iptables and nftables, in a namespace it creates.
    Proxy(proxy::ProxyArgs),
    /// The cluster DNS: queries per second and latency over UDP on loopback
    /// against a trivial responder in the same run.
    Dns(dns::DnsArgs),
    /// The node agent: pod startup on one real node (in a namespace it
    /// creates), and the cost of 1,000 hollow nodes with 30 pods each.
    Kubelet(kubelet::KubeletArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Store(args) => store::run(args).await,
        Command::Scheduler(args) => scheduler::run(args).await,
        Command::Api(args) => api::run(args).await,
        Command::Proxy(args) => proxy::run(args).await,
        Command::Dns(args) => dns::run(args).await,
        Command::Kubelet(args) => kubelet::run(args).await,
    }
}
