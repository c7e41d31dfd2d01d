//! `skiff agent` and the agent inside `skiff server`: builds the kubelet's
//! configuration from the command line.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use skiff_kubelet::agent::{Agent, AgentConfig, RuntimeChoice};
use skiff_kubelet::hollow::{Fleet, FleetConfig};
use skiff_kubelet::node::{Machine, Reserved};
use skiff_kubelet::pod::config::DnsConfig;
use skiff_kubelet::runtime::FakeConfig;
use tokio_util::sync::CancellationToken;

use crate::cli::{AgentArgs, NodeArgs};

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .unwrap_or_else(|_| "localhost".into())
}

/// The agent configuration from the shared node flags.
pub fn config(
    node: &NodeArgs,
    data_dir: PathBuf,
    ip: IpAddr,
    runtime: &str,
    control_plane: bool,
) -> anyhow::Result<AgentConfig> {
    let runtime = match (runtime, &node.container_runtime_endpoint) {
        ("fake", _) => RuntimeChoice::Fake(Default::default()),
        (_, Some(endpoint)) => {
            RuntimeChoice::Endpoint { endpoint: endpoint.clone(), cni_conf_dir: node.cni_conf_dir.clone() }
        }
        (_, None) => {
            skiff_kubelet::preflight::check()?;
            RuntimeChoice::OwnContainerd
        }
    };
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // The default static pod directory is made, so there is a place to drop a
    // manifest (as k3s does); a directory named by the flag is the user's.
    let pod_manifest_path = match &node.pod_manifest_path {
        Some(dir) => dir.clone(),
        None => {
            let dir = data_dir.join("manifests");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            dir
        }
    };
    Ok(AgentConfig {
        node_name: node.node_name.clone().unwrap_or_else(host_name),
        node_ip: ip.to_string(),
        runtime,
        reserved: Reserved { millicpu: node.reserved_millicpu, memory_bytes: node.reserved_memory_mib << 20 },
        dns: DnsConfig { cluster_dns: vec![node.cluster_dns.clone()], cluster_domain: node.cluster_domain.clone() },
        control_plane,
        client_ca_pem: None,
        kubelet_port: node.kubelet_port,
        pod_manifest_path,
        data_dir,
        cluster_cidr: node.cluster_cidr.clone(),
    })
}

/// How the agent names itself to the API server (User-Agent, hence field manager).
pub const COMPONENT: &str = "kubelet";

async fn client(args: &AgentArgs) -> anyhow::Result<kube::Client> {
    if let Some(path) = &args.kubeconfig {
        return Ok(skiff_scheduler::shell::client_from_kubeconfig(path, COMPONENT).await?);
    }
    let server = args.server.as_deref().context("--server or --kubeconfig is required")?;
    let ca = args.certificate_authority.as_ref().context("--certificate-authority is required with --server")?;
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let mut config = kube::Config::new(server.parse().with_context(|| format!("bad --server {server}"))?);
    let certs = rustls_pemfile::certs(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>().context("parsing the CA")?;
    config.root_cert = Some(certs.into_iter().map(|c| c.to_vec()).collect());
    config.auth_info.token = args.token.clone().map(Into::into);
    Ok(skiff_scheduler::shell::client_from_config(config, COMPONENT)?)
}

/// The cluster CA: `--certificate-authority`, else the kubeconfig's cluster.
fn cluster_ca(args: &AgentArgs) -> anyhow::Result<Option<String>> {
    if let Some(path) = &args.certificate_authority {
        return Ok(Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?));
    }
    let Some(path) = &args.kubeconfig else { return Ok(None) };
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let cluster = kc.clusters.first().and_then(|c| c.cluster.as_ref());
    if let Some(data) = cluster.and_then(|c| c.certificate_authority_data.as_deref()) {
        use base64::Engine;
        let pem = base64::engine::general_purpose::STANDARD.decode(data.trim()).context("kubeconfig CA data")?;
        return Ok(Some(String::from_utf8_lossy(&pem).into_owned()));
    }
    match cluster.and_then(|c| c.certificate_authority.as_deref()) {
        Some(file) => Ok(Some(std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?)),
        None => Ok(None),
    }
}

/// The hollow nodes of `skiff agent --runtime fake`: `--nodes N` named
/// `<prefix>-<i>`, or one named `--node-name`.
fn fleet_config(args: &AgentArgs, ip: IpAddr) -> anyhow::Result<FleetConfig> {
    let h = &args.hollow;
    let names = match h.nodes {
        Some(0) => anyhow::bail!("--nodes must be at least 1"),
        Some(n) => (0..n).map(|i| format!("{}-{i}", h.node_name_prefix)).collect(),
        None => vec![args.node.node_name.clone().unwrap_or_else(host_name)],
    };
    let data_dir = args.data_dir.clone();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let node = &args.node;
    Ok(FleetConfig {
        names,
        node_ip: ip.to_string(),
        fake: FakeConfig {
            sandbox_delay: h.fake_sandbox_delay,
            start_delay: h.fake_start_delay,
            // As if every image were in a registry: hollow pods run any image.
            pull_anything: true,
            failure_rate: h.fake_failure_rate,
            seed: h.fake_seed,
            ..Default::default()
        },
        machine: Machine::detect(&data_dir),
        reserved: Reserved { millicpu: node.reserved_millicpu, memory_bytes: node.reserved_memory_mib << 20 },
        dns: DnsConfig { cluster_dns: vec![node.cluster_dns.clone()], cluster_domain: node.cluster_domain.clone() },
        data_dir,
        resync: h.hollow_resync_period,
        status_check: Duration::from_secs(10),
    })
}

/// `skiff agent --runtime fake`: hollow nodes until SIGTERM or Ctrl-C. No
/// containerd, CNI, service proxy, routes or kubelet server.
async fn run_hollow(args: AgentArgs) -> anyhow::Result<()> {
    let stop = crate::server::stop_signals()?;
    let client = client(&args).await?;
    let ip = args.node_ip.unwrap_or_else(crate::node_ip::detect);
    let fleet = Fleet::new(fleet_config(&args, ip)?, client);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(fleet.run(shutdown.clone()));
    eprintln!("skiff: agent running hollow nodes; stop with SIGTERM or Ctrl-C");
    tokio::select! {
        _ = stop => {}
        r = task => return r.context("the hollow nodes' task failed"),
    }
    shutdown.cancel();
    Ok(())
}

/// `skiff agent`: runs until SIGTERM or Ctrl-C.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    if args.runtime == "fake" {
        return run_hollow(args).await;
    }
    if args.hollow.nodes.is_some() {
        anyhow::bail!("--nodes runs hollow nodes: it needs --runtime fake");
    }
    let stop = crate::server::stop_signals()?;
    let client = client(&args).await?;
    let ip = args.node_ip.unwrap_or_else(crate::node_ip::detect);
    let mut config = config(&args.node, args.data_dir.clone(), ip, &args.runtime, false)?;
    config.client_ca_pem = cluster_ca(&args)?;
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    crate::proxy::start(&args.node, &config.node_name, ip, client.clone(), &shutdown, &mut tasks).await?;
    let agent = Agent::new(config, client);
    let task = tokio::spawn(agent.run(shutdown.clone()));
    eprintln!("skiff: agent running; stop with SIGTERM or Ctrl-C");
    tokio::select! {
        _ = stop => {}
        r = task => return Ok(r.context("the agent task failed")??),
    }
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(())
}
