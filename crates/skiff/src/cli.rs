//! The command line. Every flag can also be set from the environment
//! (`SKIFF_<FLAG>`), which is how the systemd units configure skiff, and, for
//! `server` and `agent`, from a config file (see `config`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "skiff", version, about = "Kubernetes in one small, fast binary", propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the control plane (the data store, API server, scheduler, controllers and
    /// cluster DNS) and an agent for this machine. Serves until SIGTERM or Ctrl-C,
    /// which leave the pods running.
    Server(Box<ServerArgs>),
    /// Run only the scheduler, against any Kubernetes API server.
    Scheduler(SchedulerArgs),
    /// Run only the controller manager, against any Kubernetes API server.
    ControllerManager(ControllerManagerArgs),
    /// Build and import container images without a registry.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Run a node agent (kubelet) that joins a cluster: registers this machine as
    /// a Node and runs the pods bound to it through containerd.
    Agent(Box<AgentArgs>),
}

/// Flags shared by `skiff agent` and the agent inside `skiff server`.
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// The cluster's pod range: nodes' pod CIDRs are /24s from it (server), pods'
    /// traffic leaving it is masqueraded, and the service proxy masquerades service
    /// traffic from outside it.
    #[arg(long, env = "SKIFF_CLUSTER_CIDR", default_value = "10.42.0.0/16")]
    pub cluster_cidr: String,

    /// How the service proxy programs Services: `iptables` (default), `nftables`,
    /// or `ipvs` (refuses to start where the kernel has no IPVS).
    #[arg(long, env = "SKIFF_PROXY_MODE", default_value = "iptables", value_parser = ["iptables", "nftables", "ipvs"])]
    pub proxy_mode: String,

    /// Do not run the service proxy on this node.
    #[arg(long, env = "SKIFF_DISABLE_PROXY")]
    pub disable_proxy: bool,

    /// Service and EndpointSlice changes closer together than this are applied in
    /// one sync.
    #[arg(long, env = "SKIFF_PROXY_MIN_SYNC_PERIOD", value_parser = humantime::parse_duration, default_value = "1s")]
    pub proxy_min_sync_period: Duration,

    /// The longest the service proxy goes without a sync (upstream's
    /// `--iptables-sync-period`); a sync with nothing changed writes nothing.
    /// All rules are rewritten once an hour.
    #[arg(long, env = "SKIFF_PROXY_SYNC_PERIOD", value_parser = humantime::parse_duration, default_value = "30s")]
    pub proxy_sync_period: Duration,

    /// Where the service proxy serves /metrics and /healthz (plain HTTP).
    #[arg(long, env = "SKIFF_PROXY_METRICS_BIND_ADDRESS", default_value = "127.0.0.1:10249")]
    pub proxy_metrics_bind_address: std::net::SocketAddr,

    /// Masquerade all service traffic, not only traffic from outside the pod range.
    #[arg(long, env = "SKIFF_MASQUERADE_ALL")]
    pub masquerade_all: bool,

    /// The Node's name (default: the host name, lowercased).
    #[arg(long, env = "SKIFF_NODE_NAME")]
    pub node_name: Option<String>,

    /// Use an existing CRI runtime (e.g. `unix:///run/containerd/containerd.sock`)
    /// instead of starting containerd.
    #[arg(long, env = "SKIFF_CONTAINER_RUNTIME_ENDPOINT")]
    pub container_runtime_endpoint: Option<String>,

    /// Where the CNI config goes when `--container-runtime-endpoint` is used (the
    /// runtime's CNI conf dir).
    #[arg(long, env = "SKIFF_CNI_CONF_DIR", default_value = "/etc/cni/net.d")]
    pub cni_conf_dir: PathBuf,

    /// The cluster DNS server written into pods' resolv.conf.
    #[arg(long, env = "SKIFF_CLUSTER_DNS", default_value = "10.43.0.10")]
    pub cluster_dns: String,

    /// The cluster domain.
    #[arg(long, env = "SKIFF_CLUSTER_DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,

    /// CPU held back from pods, in millicores.
    #[arg(long, env = "SKIFF_RESERVED_MILLICPU", default_value_t = 0)]
    pub reserved_millicpu: u64,

    /// The kubelet's HTTPS port (logs for `kubectl logs`, via the API server).
    #[arg(long, env = "SKIFF_KUBELET_PORT", default_value_t = 10250)]
    pub kubelet_port: u16,

    /// Memory held back from pods, in MiB.
    #[arg(long, env = "SKIFF_RESERVED_MEMORY_MIB", default_value_t = 0)]
    pub reserved_memory_mib: u64,

    /// A directory of static pod manifests (one v1 Pod per YAML or JSON file),
    /// run by the agent without the API server and shown there as mirror pods
    /// [default: the agent's data directory's `manifests/`].
    #[arg(long, env = "SKIFF_POD_MANIFEST_PATH", value_name = "DIR")]
    pub pod_manifest_path: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct AgentArgs {
    /// A YAML file whose keys are this command's long flags (`data-dir: /x`,
    /// `disable-controllers: [a, b]`, `disable-agent: true`); flags and environment
    /// variables win over it [default: /etc/skiff/config.yaml, when it exists].
    #[arg(long, env = "SKIFF_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The cluster to join (a kubeconfig with the server, its CA and credentials).
    #[arg(long, env = "KUBECONFIG", required_unless_present = "server")]
    pub kubeconfig: Option<PathBuf>,

    /// The API server URL, with `--token` and `--certificate-authority`, instead of
    /// a kubeconfig.
    #[arg(long, env = "SKIFF_SERVER", requires_all = ["token", "certificate_authority"])]
    pub server: Option<String>,

    /// A bearer token the server accepts (e.g. from its `--token-file`).
    #[arg(long, env = "SKIFF_TOKEN")]
    pub token: Option<String>,

    /// The cluster CA certificate (the server's `DATA_DIR/tls/ca.crt`).
    #[arg(long, env = "SKIFF_CERTIFICATE_AUTHORITY")]
    pub certificate_authority: Option<PathBuf>,

    /// Where the agent keeps its state (containerd, CNI IPAM, pod logs).
    #[arg(long, env = "SKIFF_AGENT_DATA_DIR", default_value = "/var/lib/skiff/agent")]
    pub data_dir: PathBuf,

    /// This node's IP (default: the IPv4 address of the default route's interface, else the
    /// first global IPv4 address that is up, never the pods' bridge; else 127.0.0.1 with a warning).
    #[arg(long, env = "SKIFF_NODE_IP")]
    pub node_ip: Option<std::net::IpAddr>,

    /// `containerd` (default) or `fake` (hollow node: containers run in memory).
    #[arg(long, env = "SKIFF_RUNTIME", default_value = "containerd", value_parser = ["containerd", "fake"])]
    pub runtime: String,

    #[command(flatten)]
    pub hollow: HollowArgs,

    #[command(flatten)]
    pub node: NodeArgs,
}

/// Hollow nodes (`skiff agent --runtime fake`): many simulated nodes in one
/// process, for tests, capacity planning and benchmarks.
#[derive(Args, Debug, Clone)]
pub struct HollowArgs {
    /// Run this many hollow nodes, named `<prefix>-0` … `<prefix>-<N-1>`
    /// (needs `--runtime fake`). Without it, `--runtime fake` runs one node
    /// named `--node-name`.
    #[arg(long, env = "SKIFF_NODES")]
    pub nodes: Option<usize>,

    /// The prefix of the hollow nodes' names.
    #[arg(long, env = "SKIFF_NODE_NAME_PREFIX", default_value = "hollow")]
    pub node_name_prefix: String,

    /// How long a hollow container takes to start.
    #[arg(long, env = "SKIFF_FAKE_START_DELAY", value_parser = humantime::parse_duration, default_value = "0s")]
    pub fake_start_delay: Duration,

    /// How long a hollow pod sandbox takes to create.
    #[arg(long, env = "SKIFF_FAKE_SANDBOX_DELAY", value_parser = humantime::parse_duration, default_value = "0s")]
    pub fake_sandbox_delay: Duration,

    /// The fraction (0–1) of hollow container starts that fail (exit 128,
    /// restarted by the pod's policy with back-off).
    #[arg(long, env = "SKIFF_FAKE_FAILURE_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    pub fake_failure_rate: f64,

    /// Seed of the failure draws (node i uses seed + i), so a run replays.
    #[arg(long, env = "SKIFF_FAKE_SEED", default_value_t = 1)]
    pub fake_seed: u64,

    /// How often a hollow pod's worker looks at its fake containers unasked
    /// (they never change on their own; a real node looks every second).
    #[arg(long, env = "SKIFF_HOLLOW_RESYNC_PERIOD", value_parser = humantime::parse_duration, default_value = "30s")]
    pub hollow_resync_period: Duration,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a fraction between 0 and 1")),
    }
}

#[derive(Args, Debug, Clone)]
pub struct ControllerManagerArgs {
    /// The cluster to manage.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,

    /// Controllers not to run (comma-separated names, e.g. `deployment,replicaset`).
    #[arg(long, env = "SKIFF_DISABLE_CONTROLLERS", value_delimiter = ',')]
    pub disable_controllers: Vec<String>,

    /// The CA certificate (PEM) that signs CertificateSigningRequests of the
    /// built-in `kubernetes.io/*` signers; without it (and the key) `csrsigning`
    /// does not run.
    #[arg(long, env = "SKIFF_CLUSTER_SIGNING_CERT_FILE", requires = "cluster_signing_key_file")]
    pub cluster_signing_cert_file: Option<PathBuf>,

    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1) of `--cluster-signing-cert-file`.
    #[arg(long, env = "SKIFF_CLUSTER_SIGNING_KEY_FILE", requires = "cluster_signing_cert_file")]
    pub cluster_signing_key_file: Option<PathBuf>,

    #[command(flatten)]
    pub tuning: ControllerTuning,
}

/// Settings of the controller manager shared by `server` and `controller-manager`.
#[derive(Args, Debug, Clone)]
pub struct ControllerTuning {
    /// How long a node may go without renewing its Lease or status before the
    /// node lifecycle controller marks it `Ready=Unknown` and taints it.
    #[arg(long, env = "SKIFF_NODE_MONITOR_GRACE_PERIOD", value_parser = humantime::parse_duration, default_value = "40s")]
    pub node_monitor_grace_period: Duration,

    /// Finished (Succeeded/Failed) pods kept before the pod garbage collector
    /// deletes the oldest; 0 keeps them all.
    #[arg(long, env = "SKIFF_TERMINATED_POD_GC_THRESHOLD", default_value_t = 12_500)]
    pub terminated_pod_gc_threshold: usize,

    /// The longest lifetime of a certificate the CSR signer issues (a request's
    /// `spec.expirationSeconds` may ask for less, not for more).
    #[arg(long, env = "SKIFF_CLUSTER_SIGNING_DURATION", value_parser = humantime::parse_duration, default_value = "8760h")]
    pub cluster_signing_duration: Duration,

    /// Tests only: the controllers' clock is the system clock plus the number
    /// of seconds in this file, re-read at every use.
    #[arg(long, env = "SKIFF_TEST_CLOCK_OFFSET_FILE", hide = true)]
    pub test_clock_offset_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Import an image tar (OCI layout or docker-archive) into containerd's `k8s.io`
    /// namespace, where pods find it.
    Import(ImageImportArgs),
    /// Build an image from the host's static busybox as an OCI tar: `busybox`
    /// (docker.io/library/busybox:latest and :1.36) or `pause` (skiff's sandbox image).
    Build(ImageBuildArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ImageImportArgs {
    /// The image tar(s).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// containerd's socket.
    #[arg(long, env = "SKIFF_CONTAINERD_ADDRESS", default_value = DEFAULT_CONTAINERD_SOCKET)]
    pub address: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct ImageBuildArgs {
    /// Which image: `busybox` or `pause`.
    #[arg(value_parser = ["busybox", "pause"])]
    pub image: String,
    /// Where to write the OCI tar.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The static busybox binary to build from (Debian: busybox-static).
    #[arg(long, default_value = "/bin/busybox")]
    pub busybox: PathBuf,
}

/// The socket of the containerd that the local agent of `skiff server` runs with
/// the default data directory.
pub const DEFAULT_CONTAINERD_SOCKET: &str = "/var/lib/skiff/agent/containerd/containerd.sock";

#[derive(Args, Debug, Clone)]
pub struct SchedulerArgs {
    /// The cluster to schedule for.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,

    /// A KubeSchedulerConfiguration file (profiles, plugins, weights).
    #[arg(long, env = "SKIFF_SCHEDULER_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// A YAML file whose keys are this command's long flags (`data-dir: /x`,
    /// `disable-controllers: [a, b]`, `disable-agent: true`); flags and environment
    /// variables win over it [default: /etc/skiff/config.yaml, when it exists].
    #[arg(long, env = "SKIFF_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where the server keeps its state (the embedded store, certificates, ...).
    #[arg(long, env = "SKIFF_DATA_DIR", default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,

    /// Use an etcd cluster instead of the embedded store: one or more endpoints,
    /// comma-separated, e.g. `http://127.0.0.1:2379`.
    #[arg(long, env = "SKIFF_DATASTORE_ENDPOINT", value_delimiter = ',')]
    pub datastore_endpoint: Vec<String>,

    /// Keep this much history before compacting it (e.g. `5m`, `1h`). Watches and
    /// paginated lists older than this get 410 Gone.
    #[arg(long, env = "SKIFF_COMPACTION_AGE", value_parser = humantime::parse_duration, default_value = "5m")]
    pub compaction_age: Duration,

    /// Keep at most this many revisions of history instead of compacting by age.
    #[arg(long, env = "SKIFF_COMPACTION_REVISIONS", conflicts_with = "compaction_age")]
    pub compaction_revisions: Option<i64>,

    /// The address the API server listens on.
    #[arg(long, env = "SKIFF_BIND_ADDRESS", default_value = "0.0.0.0")]
    pub bind_address: std::net::IpAddr,

    /// The API server's HTTPS port.
    #[arg(long, env = "SKIFF_HTTPS_LISTEN_PORT", default_value_t = 6443)]
    pub https_listen_port: u16,

    /// A static token file (`token,user,uid,"group1,group2"` per line) for bearer
    /// token authentication.
    #[arg(long, env = "SKIFF_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// This node's IP addresses, added to the serving certificate (comma-separated).
    #[arg(long, env = "SKIFF_NODE_IP", value_delimiter = ',')]
    pub node_ip: Vec<std::net::IpAddr>,

    /// Extra names or addresses for the serving certificate (comma-separated).
    #[arg(long, env = "SKIFF_TLS_SAN", value_delimiter = ',')]
    pub tls_san: Vec<String>,

    /// How often the compactor runs.
    #[arg(long, env = "SKIFF_COMPACTION_INTERVAL", value_parser = humantime::parse_duration, default_value = "1m")]
    pub compaction_interval: Duration,

    /// Do not run the built-in load balancer (LoadBalancer Services then wait for
    /// another implementation to set their ingress).
    #[arg(long, env = "SKIFF_DISABLE_SERVICELB")]
    pub disable_servicelb: bool,

    /// Addresses the built-in load balancer hands out as every LoadBalancer
    /// Service's ingress (comma-separated; default: the Ready nodes' addresses).
    #[arg(long, env = "SKIFF_SERVICELB_POOL", value_delimiter = ',')]
    pub servicelb_pool: Vec<std::net::Ipv4Addr>,

    /// Do not run the built-in scheduler (pods then wait for another one).
    #[arg(long, env = "SKIFF_DISABLE_SCHEDULER")]
    pub disable_scheduler: bool,

    /// Let the built-in components (scheduler, controllers, DNS, ServiceLB, the local
    /// agent) reach the API server over HTTPS with the admin kubeconfig, as separate
    /// processes would, instead of in-process.
    #[arg(long, env = "SKIFF_COMPONENTS_OVER_HTTPS")]
    pub components_over_https: bool,

    /// Controllers of the built-in controller manager not to run
    /// (comma-separated names, e.g. `deployment,garbagecollector`).
    #[arg(long, env = "SKIFF_DISABLE_CONTROLLERS", value_delimiter = ',')]
    pub disable_controllers: Vec<String>,

    #[command(flatten)]
    pub controller_tuning: ControllerTuning,

    /// Do not run a node agent for this machine (by default the server also
    /// registers this machine as a Node, starts its own containerd and runs pods,
    /// which needs root, containerd, runc and the CNI plugins).
    #[arg(long, env = "SKIFF_DISABLE_AGENT")]
    pub disable_agent: bool,

    /// Run the local agent (the default; kept so scripts that ask for it work).
    #[arg(long, hide = true, conflicts_with = "disable_agent")]
    pub agent: bool,

    /// The local agent's state directory (default: DATA_DIR/agent).
    #[arg(long, env = "SKIFF_AGENT_DATA_DIR")]
    pub agent_data_dir: Option<PathBuf>,

    /// Do not run the cluster DNS server (nor write the kube-dns Service).
    #[arg(long, env = "SKIFF_DISABLE_DNS")]
    pub disable_dns: bool,

    /// Where the cluster DNS server listens, UDP and TCP (default: the node IP,
    /// port 53). The kube-dns Service's endpoints point here.
    #[arg(long, env = "SKIFF_DNS_LISTEN")]
    pub dns_listen: Option<std::net::SocketAddr>,

    /// Resolvers for names outside the cluster domain, `IP:PORT`, comma-separated
    /// (default: the `nameserver` lines of /etc/resolv.conf).
    #[arg(long, env = "SKIFF_DNS_UPSTREAM", value_delimiter = ',')]
    pub dns_upstream: Vec<std::net::SocketAddr>,

    #[command(flatten)]
    pub node: NodeArgs,

    /// A KubeSchedulerConfiguration file for the built-in scheduler.
    #[arg(long, env = "SKIFF_SCHEDULER_CONFIG")]
    pub scheduler_config: Option<PathBuf>,

    /// Where the built-in local-path provisioner puts volumes (default:
    /// DATA_DIR/storage).
    #[arg(long, env = "SKIFF_DEFAULT_LOCAL_STORAGE_PATH")]
    pub default_local_storage_path: Option<PathBuf>,
}

/// `/var/lib/skiff/server` for root (like k3s's `/var/lib/rancher/k3s`), else
/// `~/.local/share/skiff/server`.
fn default_data_dir() -> PathBuf {
    let is_root = std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || std::env::var_os("HOME").is_some_and(|h| h == "/root");
    match std::env::var_os("HOME") {
        Some(home) if !is_root => PathBuf::from(home).join(".local/share/skiff/server"),
        _ => PathBuf::from("/var/lib/skiff/server"),
    }
}
