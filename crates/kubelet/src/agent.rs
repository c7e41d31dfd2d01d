//! The agent: registers the Node, keeps its Lease and status, runs the pods bound
//! to it. [`Agent::run`] brings the parts up in order: the runtime (its own
//! containerd unless given an endpoint), the Node and its podCIDR, the CNI
//! config, then the pod manager.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::containerd::{Containerd, ContainerdConfig};
use crate::image::gc::ImageGc;
use crate::node::{self, Heartbeat, Machine, Reserved};
use crate::pod::config::DnsConfig;
use crate::pod::events::Recorder;
use crate::pod::manager;
use crate::pod::probe::{HollowProber, NetProber};
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
    /// Static pod manifests (not read on a hollow node).
    pub pod_manifest_path: PathBuf,
    /// The cluster's pod range: pods' traffic leaving it is masqueraded.
    pub cluster_cidr: String,
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
        let mut fake = None;
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
            RuntimeChoice::Fake(f) => {
                let rt = Arc::new(FakeRuntime::new(f.clone()));
                fake = Some(rt.clone());
                (rt, None)
            }
        };
        let version = wait_for_runtime(runtime.as_ref(), &shutdown).await?;
        if matches!(cfg.runtime, RuntimeChoice::OwnContainerd) {
            let cc = ContainerdConfig::under(&cfg.data_dir.join("containerd"));
            let gc = ImageGc {
                runtime: runtime.clone(),
                image_fs: cc.root.clone(),
                policy: Default::default(),
                keep: vec![cc.sandbox_image.clone()],
            };
            tasks.spawn(gc.run(shutdown.clone()));
            let socket = cc.socket;
            let busybox = Path::new(crate::image::busybox::DEFAULT_BUSYBOX);
            match crate::image::builtin::ensure(runtime.as_ref(), &socket, busybox, &cfg.data_dir.join("images")).await
            {
                Ok(names) if names.is_empty() => {}
                Ok(names) => eprintln!("skiff: agent: imported the built-in images {}", names.join(", ")),
                Err(e) => eprintln!("skiff: agent: no built-in images (pods need images imported by hand): {e}"),
            }
        }
        // Pods' requests are rate-limited as upstream's kubelet's are; the
        // heartbeat is not (upstream's separate heartbeat client).
        let pods_client = crate::throttle::client(&self.client, Some(crate::throttle::Limits::KUBELET));
        let heartbeat_client = crate::throttle::client(&self.client, None);
        // Its own client, as upstream's recorder: events do not take the pods'
        // request budget.
        let events = Recorder::start(
            crate::throttle::client(&self.client, Some(crate::throttle::Limits::KUBELET)),
            &cfg.node_name,
            true,
        );
        let ctx = Arc::new(NodeContext {
            runtime: runtime.clone(),
            client: pods_client,
            node_name: cfg.node_name.clone(),
            host_ip: cfg.node_ip.clone(),
            log_root: cfg.data_dir.join("pods"),
            volume_root: cfg.data_dir.join("pod-volumes"),
            dns: cfg.dns.clone(),
            resync: worker::RESYNC,
            cgroups: !matches!(cfg.runtime, RuntimeChoice::Fake(_)),
            prober: match cfg.runtime {
                RuntimeChoice::Fake(_) => Arc::new(HollowProber),
                _ => Arc::new(NetProber),
            },
            sources: Default::default(),
            events: events.clone(),
        });
        // The pod manager starts before the Node is registered: static pods
        // run from their files whether or not the API server answers (a first
        // start has no pod network until the podCIDR comes, and retries).
        let (pod_tx, pod_rx) = mpsc::channel(256);
        tasks.spawn(manager::run(ctx, pod_rx, shutdown.clone()));
        if !matches!(cfg.runtime, RuntimeChoice::Fake(_)) {
            let source = crate::static_pods::source::StaticPodSource {
                dir: cfg.pod_manifest_path.clone(),
                node_name: cfg.node_name.clone(),
                client: self.client.clone(),
                tx: pod_tx.clone(),
            };
            tasks.spawn(source.run(shutdown.clone()));
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
            let (cidr, cluster, stop) = (cidr.clone(), cfg.cluster_cidr.clone(), shutdown.clone());
            tasks.spawn(async move { crate::masq::run(&crate::masq::IptablesNat, cidr, cluster, stop).await });
        }
        if let (Some(fake), Some(cidr)) = (&fake, &pod_cidr) {
            if let Err(e) = fake.set_pod_cidr(cidr) {
                tracing::warn!("hollow pods keep the fake's own addresses: {e}");
            }
        }
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
        let heartbeat = Heartbeat {
            client: heartbeat_client,
            node: registered,
            node_ip: cfg.node_ip.clone(),
            machine: Machine::detect(&cfg.data_dir),
            reserved: cfg.reserved.clone(),
            version,
            runtime: runtime.clone(),
            check_every: Duration::from_secs(2),
            events,
        };
        tasks.spawn(heartbeat.run(shutdown.clone()));
        tasks.spawn(manager::watch_node_pods(self.client.clone(), cfg.node_name.clone(), pod_tx, shutdown.clone()));
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
