//! The agent: registers the Node, keeps its Lease and status, runs the pods bound
//! to it. [`Agent::run`] brings the parts up in order: the runtime (its own
//! containerd unless given an endpoint), the Node and its podCIDR, the CNI
//! config, then the pod manager.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::containerd::{Containerd, ContainerdConfig};
use crate::node::{self, Machine, Reserved};
use crate::pod::config::DnsConfig;
use crate::pod::observed::LABEL_POD_UID;
use crate::pod::worker::{self, NodeContext};
use crate::runtime::{CriRuntime, FakeConfig, FakeRuntime, Runtime};

/// Which runtime the agent drives.
#[derive(Debug, Clone)]
pub enum RuntimeChoice {
    /// Start and supervise containerd with a generated config under the data dir.
    OwnContainerd,
    /// An existing CRI endpoint (`unix:///run/containerd/containerd.sock`); its
    /// CNI config directory is `cni_conf_dir`.
    Endpoint { endpoint: String, cni_conf_dir: PathBuf },
    /// In-memory containers (hollow node).
    Fake(FakeConfig),
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub node_name: String,
    pub node_ip: String,
    pub data_dir: PathBuf,
    pub runtime: RuntimeChoice,
    pub reserved: Reserved,
    pub dns: DnsConfig,
    /// Label the node as control plane (the server's own agent).
    pub control_plane: bool,
    /// The cluster CA (PEM) that callers of the kubelet's HTTPS server
    /// (`kubectl logs` through the API server) must be certified by; without
    /// it the server is not started.
    pub client_ca_pem: Option<String>,
    /// The kubelet's HTTPS port.
    pub kubelet_port: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Containerd(#[from] crate::containerd::Error),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::Error),
    #[error("registering node {node}: {source}")]
    Register {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing the CNI config in {dir}: {source}")]
    Cni {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

pub struct Agent {
    config: AgentConfig,
    client: kube::Client,
}

impl Agent {
    /// Spawns nothing; [`Agent::run`] does the work.
    pub fn new(config: AgentConfig, client: kube::Client) -> Agent {
        Agent { config, client }
    }

    /// Runs until `shutdown`. Pods keep running when the agent stops (as with
    /// upstream's kubelet); a restarted agent adopts them.
    ///
    /// # Errors
    /// When the runtime cannot be started or the Node cannot be registered.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let cfg = self.config;
        let mut tasks = JoinSet::new();
        let (runtime, cni_dir): (Arc<dyn Runtime>, Option<PathBuf>) = match &cfg.runtime {
            RuntimeChoice::OwnContainerd => {
                let dir = cfg.data_dir.join("containerd");
                let cc = ContainerdConfig::under(&dir);
                let socket = cc.socket.display().to_string();
                let cni = cc.cni_conf_dir.clone();
                let supervisor = Containerd::new(cc, &dir).start(shutdown.clone()).await?;
                tasks.spawn(supervisor);
                eprintln!("skiff: agent: containerd running at {socket}");
                (Arc::new(CriRuntime::connect_lazy(&socket)?), Some(cni))
            }
            RuntimeChoice::Endpoint { endpoint, cni_conf_dir } => {
                (Arc::new(CriRuntime::connect_lazy(endpoint)?), Some(cni_conf_dir.clone()))
            }
            RuntimeChoice::Fake(f) => (Arc::new(FakeRuntime::new(f.clone())), None),
        };
        let version = wait_for_runtime(runtime.as_ref(), &shutdown).await?;
        if matches!(cfg.runtime, RuntimeChoice::OwnContainerd) {
            let socket = ContainerdConfig::under(&cfg.data_dir.join("containerd")).socket;
            let busybox = Path::new(crate::image::busybox::DEFAULT_BUSYBOX);
            match crate::image::builtin::ensure(runtime.as_ref(), &socket, busybox, &cfg.data_dir.join("images")).await
            {
                Ok(names) if names.is_empty() => {}
                Ok(names) => eprintln!("skiff: agent: imported the built-in images {}", names.join(", ")),
                Err(e) => eprintln!("skiff: agent: no built-in images (pods need images imported by hand): {e}"),
            }
        }
        let labels = node::node_labels(&cfg.node_name, cfg.control_plane);
        let registered = node::register(&self.client, &cfg.node_name, labels)
            .await
            .map_err(|source| Error::Register { node: cfg.node_name.clone(), source })?;
        eprintln!("skiff: agent: node {} registered", cfg.node_name);
        let pod_cidr = wait_for_pod_cidr(&self.client, &cfg.node_name, &shutdown).await;
        if let (Some(dir), Some(cidr)) = (&cni_dir, &pod_cidr) {
            crate::cni::write(dir, cidr, &cfg.data_dir.join("cni/ipam"))
                .map_err(|source| Error::Cni { dir: dir.display().to_string(), source })?;
            eprintln!("skiff: agent: pod network {cidr} on cni0");
        }
        let ctx = Arc::new(NodeContext {
            runtime: runtime.clone(),
            client: self.client.clone(),
            node_name: cfg.node_name.clone(),
            host_ip: cfg.node_ip.clone(),
            log_root: cfg.data_dir.join("pods"),
            volume_root: cfg.data_dir.join("pod-volumes"),
            dns: cfg.dns.clone(),
        });
        if let Some(ca) = &cfg.client_ca_pem {
            let addr = std::net::SocketAddr::from(([0, 0, 0, 0], cfg.kubelet_port));
            let names = vec![cfg.node_name.clone(), cfg.node_ip.clone()];
            match crate::server::KubeletServer::bind(addr, ca, names, runtime.clone()).await {
                Ok(server) => {
                    tasks.spawn(server.run(shutdown.clone()));
                }
                Err(e) => eprintln!("skiff: agent: no kubelet server (kubectl logs will not work): {e}"),
            }
        }
        // Routes to the other nodes' pods; a hollow node has no pods to reach.
        if !matches!(cfg.runtime, RuntimeChoice::Fake(_)) {
            let (client, name, stop) = (self.client.clone(), cfg.node_name.clone(), shutdown.clone());
            tasks.spawn(async move { crate::routes::run(client, name, &crate::routes::IpRouteTable, stop).await });
        }
        let machine = Machine::detect(&cfg.data_dir);
        tasks.spawn(node_loop(
            self.client.clone(),
            registered,
            cfg.clone(),
            machine,
            version,
            runtime.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(pod_manager(ctx, shutdown.clone()));
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                tracing::error!("agent task failed: {e}");
            }
        }
        Ok(())
    }
}

async fn wait_for_runtime(
    rt: &dyn Runtime,
    shutdown: &CancellationToken,
) -> Result<crate::cri::VersionResponse, Error> {
    let mut last = None;
    for _ in 0..300 {
        match rt.version().await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    Err(last.map(Error::Runtime).unwrap_or(Error::Runtime(crate::runtime::Error::Unavailable("stopped".into()))))
}

/// Waits until the server has given the node a podCIDR (None on shutdown).
async fn wait_for_pod_cidr(client: &kube::Client, name: &str, shutdown: &CancellationToken) -> Option<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut said = false;
    loop {
        if let Ok(n) = nodes.get(name).await {
            if let Some(c) = n.spec.and_then(|s| s.pod_cidr) {
                return Some(c);
            }
        }
        if !said {
            eprintln!("skiff: agent: waiting for the server to assign a podCIDR to node {name}");
            said = true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Lease every 10 s; node status when it changes, and at least every minute.
async fn node_loop(
    client: kube::Client,
    mut node: Node,
    cfg: AgentConfig,
    machine: Machine,
    version: crate::cri::VersionResponse,
    rt: Arc<dyn Runtime>,
    shutdown: CancellationToken,
) {
    let nodes: Api<Node> = Api::all(client.clone());
    let mut last_status_write = tokio::time::Instant::now() - Duration::from_secs(3600);
    let mut lease_due = tokio::time::Instant::now();
    loop {
        let now = tokio::time::Instant::now();
        if now >= lease_due {
            if let Err(e) = node::renew_lease(&client, &node).await {
                tracing::warn!("renewing the node lease: {e}");
            }
            lease_due = now + node::LEASE_RENEW;
        }
        let ready = match rt.status().await {
            Ok(st) => {
                let bad: Vec<_> = st
                    .conditions
                    .iter()
                    .filter(|c| !c.status)
                    .map(|c| format!("{}: {}", c.r#type, c.message))
                    .collect();
                if bad.is_empty() {
                    Ok(())
                } else {
                    Err(bad.join("; "))
                }
            }
            Err(e) => Err(e.to_string()),
        };
        let images = rt.list_images().await.unwrap_or_default();
        let status = node::node_status(
            &cfg.node_name,
            &cfg.node_ip,
            &machine,
            &cfg.reserved,
            &version,
            ready,
            &images,
            node.status.as_ref(),
        );
        let stale = now.duration_since(last_status_write) >= Duration::from_secs(60);
        if stale || node.status.as_ref().is_none_or(|old| node::changed(old, &status)) {
            let patch = serde_json::json!({"status": status});
            match nodes.patch_status(&cfg.node_name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(n) => {
                    node = n;
                    last_status_write = now;
                }
                Err(e) => tracing::warn!("writing the node status: {e}"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Watches the pods bound to this node and keeps one worker per pod; removes
/// sandboxes of pods the API no longer has.
async fn pod_manager(ctx: Arc<NodeContext>, shutdown: CancellationToken) {
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.node_name));
    let mut stream = Box::pin(watcher(pods, cfg).default_backoff());
    let mut workers: HashMap<String, watch::Sender<Option<Pod>>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut init_seen: Option<HashSet<String>> = None;
    let mut orphan_check = tokio::time::interval(Duration::from_secs(10));
    // Orphans are judged only against a complete list of the node's pods.
    let mut listed = false;
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = orphan_check.tick(), if listed => {
                workers.retain(|_, tx| !tx.is_closed());
                remove_orphans(&ctx, &workers).await;
                continue;
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            e = stream.next() => match e { Some(e) => e, None => break },
        };
        let mut deliver = |pod: Pod, workers: &mut HashMap<String, watch::Sender<Option<Pod>>>| {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            if let Some(tx) = workers.get(&uid).filter(|tx| !tx.is_closed()) {
                let _ = tx.send(Some(pod));
                return uid;
            }
            let (tx, rx) = watch::channel(Some(pod));
            workers.insert(uid.clone(), tx);
            tasks.spawn(worker::run(ctx.clone(), rx, shutdown.clone()));
            uid
        };
        match event {
            Ok(watcher::Event::Init) => init_seen = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(p)) => {
                let uid = deliver(p, &mut workers);
                init_seen.get_or_insert_with(HashSet::new).insert(uid);
            }
            Ok(watcher::Event::InitDone) => {
                // A re-list: pods that vanished meanwhile are gone.
                let seen = init_seen.take().unwrap_or_default();
                listed = true;
                for (uid, tx) in &workers {
                    if !seen.contains(uid) {
                        let _ = tx.send(None);
                    }
                }
            }
            Ok(watcher::Event::Apply(p)) => {
                deliver(p, &mut workers);
            }
            Ok(watcher::Event::Delete(p)) => {
                if let Some(tx) = workers.get(p.metadata.uid.as_deref().unwrap_or("")) {
                    let _ = tx.send(None);
                }
            }
            Err(e) => tracing::warn!("pod watch: {e}"),
        }
    }
    tasks.shutdown().await;
}

/// Stops and removes sandboxes labelled with a pod uid that has no worker (pods
/// deleted while the agent was down).
async fn remove_orphans(ctx: &NodeContext, workers: &HashMap<String, watch::Sender<Option<Pod>>>) {
    let Ok(sandboxes) = ctx.runtime.list_pod_sandbox(None).await else { return };
    let orphans: BTreeMap<String, String> = sandboxes
        .into_iter()
        .filter_map(|s| s.labels.get(LABEL_POD_UID).cloned().map(|uid| (s.id, uid)))
        .filter(|(_, uid)| !workers.contains_key(uid))
        .collect();
    for (id, uid) in orphans {
        tracing::info!(%uid, "removing sandbox {id} of a pod that no longer exists");
        let _ = ctx.runtime.stop_pod_sandbox(&id).await;
        if ctx.runtime.remove_pod_sandbox(&id).await.is_ok() {
            crate::pod::cgroups::remove_pod_cgroups(&uid);
        }
    }
}
