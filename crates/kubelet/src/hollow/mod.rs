//! Hollow nodes: many Nodes in one process, each with its own Node object,
//! Lease, status and pods, running on a [`FakeRuntime`] of its own (like
//! kubemark). No containerd, CNI, proxy, routes or cgroups; pod addresses come
//! from each node's podCIDR. What would cost per node in a real agent is
//! shared: one API client (one connection pool), one pod watch dispatched by
//! `spec.nodeName` and one Node watch for the podCIDRs ([`dispatch`]).

pub mod dispatch;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::node::{self, Heartbeat, Machine, Reserved};
use crate::pod::config::DnsConfig;
use crate::pod::events::Recorder;
use crate::pod::manager::{self, PodEvent};
use crate::pod::probe::HollowProber;
use crate::pod::worker::NodeContext;
use crate::runtime::{FakeConfig, FakeRuntime, RuntimeService};

/// The label every hollow Node carries (`kubectl get nodes -l node.skiff.dev/hollow`).
pub const HOLLOW_LABEL: &str = "node.skiff.dev/hollow";

/// Registrations in flight at once, so 1,000 nodes do not arrive as one burst.
const REGISTER_CONCURRENCY: usize = 16;

/// What the hollow nodes of one process share.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// One hollow node per name.
    pub names: Vec<String>,
    /// The InternalIP every hollow node reports (they all live on this machine).
    pub node_ip: String,
    /// Each node's fake runtime; node `i` draws its failures from `seed + i`.
    pub fake: FakeConfig,
    /// What each node reports as its capacity, kernel, OS.
    pub machine: Machine,
    pub reserved: Reserved,
    pub dns: DnsConfig,
    /// Per-node state (pod log and volume directories) goes under here.
    pub data_dir: PathBuf,
    /// How often each pod's worker looks at the fake runtime unasked.
    pub resync: Duration,
    /// How often each node compares its status with what it last wrote.
    pub status_check: Duration,
}

/// Hollow nodes of one process.
pub struct Fleet {
    config: FleetConfig,
    client: kube::Client,
}

/// What the node tasks share.
struct Shared {
    config: FleetConfig,
    client: kube::Client,
    version: crate::cri::VersionResponse,
    registering: Semaphore,
    running: AtomicUsize,
}

impl Fleet {
    /// Spawns nothing; [`Fleet::run`] does the work.
    pub fn new(config: FleetConfig, client: kube::Client) -> Fleet {
        Fleet { config, client }
    }

    /// Registers the nodes and runs them until `shutdown`. API errors are
    /// retried (a node that cannot register yet keeps trying); nothing here
    /// ends the fleet but `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let Fleet { config, client } = self;
        let version = FakeRuntime::new(FakeConfig::default()).version().await.unwrap_or_default();
        let mut tasks = JoinSet::new();
        let mut pod_senders = HashMap::new();
        let mut cidr_senders = HashMap::new();
        let mut per_node = Vec::new();
        for name in &config.names {
            let (ptx, prx) = mpsc::channel::<PodEvent>(1024);
            let (ctx_, crx) = watch::channel(None);
            pod_senders.insert(name.clone(), ptx);
            cidr_senders.insert(name.clone(), ctx_);
            per_node.push((name.clone(), prx, crx));
        }
        tasks.spawn(dispatch::watch_pod_cidrs(
            client.clone(),
            format!("{HOLLOW_LABEL}=true"),
            cidr_senders,
            shutdown.clone(),
        ));
        tasks.spawn(dispatch::dispatch_pods(client.clone(), pod_senders, shutdown.clone()));
        let shared = Arc::new(Shared {
            config,
            client,
            version,
            registering: Semaphore::new(REGISTER_CONCURRENCY),
            running: AtomicUsize::new(0),
        });
        for (i, (name, pods, cidr)) in per_node.into_iter().enumerate() {
            tasks.spawn(run_node(shared.clone(), i as u64, name, pods, cidr, shutdown.clone()));
        }
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                tracing::error!("hollow node task failed: {e}");
            }
        }
    }
}

/// The labels of hollow node `name`.
pub fn hollow_labels(name: &str) -> BTreeMap<String, String> {
    let mut labels = node::node_labels(name, false);
    labels.insert(HOLLOW_LABEL.into(), "true".into());
    labels
}

/// One hollow node: registers, waits for its podCIDR, then keeps its
/// heartbeat and runs its pods.
async fn run_node(
    shared: Arc<Shared>,
    index: u64,
    name: String,
    pods: mpsc::Receiver<PodEvent>,
    mut cidr: watch::Receiver<Option<String>>,
    shutdown: CancellationToken,
) {
    let cfg = &shared.config;
    let Some(registered) = register(&shared, &name, &shutdown).await else { return };
    let cidr = tokio::select! {
        _ = shutdown.cancelled() => return,
        c = cidr.wait_for(Option::is_some) => match c { Ok(c) => c.clone().unwrap_or_default(), Err(_) => return },
    };
    let fake = FakeConfig { seed: cfg.fake.seed.wrapping_add(index), ..cfg.fake.clone() };
    let runtime = Arc::new(FakeRuntime::new(fake));
    if let Err(e) = runtime.set_pod_cidr(&cidr) {
        tracing::warn!(node = %name, "hollow pods keep the fake's own addresses: {e}");
    }
    let dir = cfg.data_dir.join("hollow").join(&name);
    // Each hollow node limits its pods' requests as an upstream kubelet does
    // (its own 50 QPS, burst 100); its heartbeat is not limited. Both share
    // the process's connections and retry 429s after their Retry-After.
    // Warnings only: a hollow fleet's lifecycle events would be three
    // writes per pod, load a scale test does not mean to measure.
    let events =
        Recorder::start(crate::throttle::client(&shared.client, Some(crate::throttle::Limits::KUBELET)), &name, false);
    let ctx = Arc::new(NodeContext {
        runtime: runtime.clone(),
        client: crate::throttle::client(&shared.client, Some(crate::throttle::Limits::KUBELET)),
        node_name: name.clone(),
        host_ip: cfg.node_ip.clone(),
        log_root: dir.join("pods"),
        volume_root: dir.join("pod-volumes"),
        dns: cfg.dns.clone(),
        resync: cfg.resync,
        cgroups: false,
        prober: Arc::new(HollowProber),
        sources: Default::default(),
        events: events.clone(),
    });
    let heartbeat = Heartbeat {
        client: crate::throttle::client(&shared.client, None),
        node: registered,
        node_ip: cfg.node_ip.clone(),
        machine: cfg.machine.clone(),
        reserved: cfg.reserved.clone(),
        version: shared.version.clone(),
        runtime,
        check_every: cfg.status_check,
        events,
    };
    let total = cfg.names.len();
    if shared.running.fetch_add(1, Ordering::Relaxed) + 1 == total {
        eprintln!("skiff: agent: {total} hollow node(s) registered with their podCIDRs");
    }
    let mut tasks = JoinSet::new();
    tasks.spawn(heartbeat.run(shutdown.clone()));
    tasks.spawn(manager::run(ctx, pods, shutdown.clone()));
    while tasks.join_next().await.is_some() {}
}

/// Registers the Node, retrying with back-off (1 s doubling to 30 s) until it
/// works or `shutdown`.
async fn register(
    shared: &Shared,
    name: &str,
    shutdown: &CancellationToken,
) -> Option<k8s_openapi::api::core::v1::Node> {
    let mut wait = Duration::from_secs(1);
    loop {
        let result = {
            let _permit = shared.registering.acquire().await.ok()?;
            node::register(&shared.client, name, hollow_labels(name)).await
        };
        match result {
            Ok(n) => return Some(n),
            Err(e) => tracing::warn!(node = %name, "registering hollow node: {e}; retrying in {wait:?}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}
