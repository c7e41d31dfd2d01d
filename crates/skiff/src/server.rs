//! `skiff server`: brings the control plane up in order and runs it until told to
//! stop. Each component prints one progress line as it becomes ready.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use skiff_apiserver::pki::ServingNames;
use skiff_apiserver::ApiServer;
use skiff_store::{CompactionPolicy, Compactor, RedbStore, Store};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::api_client::ApiAccess;
use crate::cli::ServerArgs;

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Before anything else, so a stop request during start-up is not lost.
    let stop = stop_signals()?;
    // Every part writes under it: a directory skiff may not create is said plainly.
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|source| crate::exit::DataDirError { dir: args.data_dir.clone(), source })?;
    // Checked first: a machine that cannot run the local agent is told so at once.
    let agent_config = match args.disable_agent {
        true => None,
        false => Some(local_agent_config(&args).context("cannot start the local agent")?),
    };
    let store = open_store(&args).await?;
    let revision = store.current_revision().await.context("reading the store revision")?;
    progress(started, &format!("store ready at revision {revision}"));

    let shutdown = CancellationToken::new();
    let apiserver = ApiServer::start(apiserver_config(&args), store.clone(), shutdown.clone())
        .await
        .context("cannot start the API server")?;
    progress(started, &format!("API server listening on {}", apiserver.url));
    let kubeconfig = apiserver.kubeconfig.clone();
    let access = match args.components_over_https {
        true => ApiAccess::Kubeconfig(kubeconfig.clone()),
        false => ApiAccess::InProcess(apiserver.loopback()),
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(apiserver.run());
    let policy = match args.compaction_revisions {
        Some(n) => CompactionPolicy::Revisions(n),
        None => CompactionPolicy::Age(args.compaction_age),
    };
    tasks.spawn(Compactor::new(store.clone(), policy, args.compaction_interval).run(shutdown.clone()));
    if !args.disable_scheduler {
        let client = access.client(crate::scheduler::COMPONENT).await?;
        let scheduler = crate::scheduler::build(client, args.scheduler_config.as_deref(), shutdown.clone())?;
        tasks.spawn(async move {
            if let Err(e) = scheduler.await {
                eprintln!("skiff: {e:#}");
            }
        });
        progress(started, "scheduler started");
    }
    let storage = args.default_local_storage_path.clone().unwrap_or_else(|| args.data_dir.join("storage"));
    // The cluster CA, published to every namespace and trusted by the local agent.
    let ca_pem = std::fs::read_to_string(args.data_dir.join("tls/ca.crt")).ok();
    // One client for the controller manager, node IPAM included (upstream's
    // kube-controller-manager is one process, one identity).
    let manager_client = access.client(skiff_controllers::runtime::FIELD_MANAGER).await?;
    // The cluster CA signs CertificateSigningRequests (the API server made it).
    let tls = args.data_dir.join("tls");
    let signing = crate::controllers::load_signing(
        &tls.join("ca.crt"),
        &tls.join("ca.key"),
        args.controller_tuning.cluster_signing_duration,
    )?;
    let manager = crate::controllers::build(
        manager_client.clone(),
        ca_pem.clone(),
        Some(signing),
        &args.disable_controllers,
        Some(storage),
        &args.controller_tuning,
        shutdown.clone(),
    )?;
    tasks.spawn(manager);
    progress(started, "controller manager started");
    if !args.disable_dns {
        if let Some(addr) = crate::dns::start(&args, &access, &mut tasks, shutdown.clone()).await? {
            progress(started, &format!("cluster DNS listening on {addr} (udp, tcp)"));
        }
    }
    let cidr = args.node.cluster_cidr.parse().map_err(|e: String| anyhow::anyhow!("--cluster-cidr: {e}"))?;
    // Node IPAM is part of upstream's controller manager.
    let client = manager_client;
    tasks.spawn({
        let shutdown = shutdown.clone();
        async move {
            if let Err(e) = skiff_kubelet::node_ipam::run(client, cidr, shutdown).await {
                eprintln!("skiff: node IPAM stopped: {e}");
            }
        }
    });
    if !args.disable_servicelb {
        let client = access.client("servicelb").await?;
        let lb = skiff_proxy::servicelb::ServiceLb::new(client, args.servicelb_pool.clone());
        tasks.spawn(lb.run(shutdown.clone()));
    }
    if let Some(mut config) = agent_config {
        config.client_ca_pem = ca_pem;
        let client = access.client(crate::agent::COMPONENT).await?;
        let ip = config.node_ip.parse().unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        crate::proxy::start(&args.node, &config.node_name, ip, client.clone(), &shutdown, &mut tasks).await?;
        let agent = skiff_kubelet::agent::Agent::new(config, client);
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = agent.run(shutdown).await {
                eprintln!("skiff: agent: {e:#} (the control plane keeps running; --disable-agent runs it without one)");
            }
        });
        progress(started, "agent started");
    }
    eprintln!("skiff: admin kubeconfig written to {}", kubeconfig.display());
    eprintln!("skiff: to use kubectl, run:  export KUBECONFIG={}", kubeconfig.display());
    progress(started, "ready; stop with SIGTERM or Ctrl-C");

    stop.await;
    eprintln!("skiff: stopping");
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    drop(store);
    eprintln!("skiff: stopped");
    Ok(())
}

fn local_agent_config(args: &ServerArgs) -> anyhow::Result<skiff_kubelet::agent::AgentConfig> {
    let dir = args.agent_data_dir.clone().unwrap_or_else(|| args.data_dir.join("agent"));
    let ip = args.node_ip.first().copied().unwrap_or_else(crate::node_ip::detect);
    crate::agent::config(&args.node, dir, ip, "containerd", true)
}

async fn open_store(args: &ServerArgs) -> anyhow::Result<Arc<dyn Store>> {
    if args.datastore_endpoint.is_empty() {
        let dir = args.data_dir.join("db");
        let store = tokio::task::spawn_blocking(move || RedbStore::open(&dir)).await??;
        eprintln!("skiff: store: embedded, {}", store.path().display());
        Ok(Arc::new(store))
    } else {
        let endpoints = args.datastore_endpoint.join(",");
        let store = skiff_store::EtcdStore::connect(&args.datastore_endpoint)
            .await
            .with_context(|| format!("cannot use the etcd datastore at {endpoints}"))?;
        eprintln!("skiff: store: etcd at {endpoints}");
        Ok(Arc::new(store))
    }
}

fn apiserver_config(args: &ServerArgs) -> skiff_apiserver::Config {
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let mut names = ServingNames::new(host_name);
    names.node_ips = args.node_ip.clone();
    names.extra_sans = args.tls_san.clone();
    skiff_apiserver::Config {
        bind_address: args.bind_address,
        port: args.https_listen_port,
        data_dir: args.data_dir.clone(),
        token_file: args.token_file.clone(),
        serving_names: names,
    }
}

fn progress(started: Instant, what: &str) {
    eprintln!("skiff: {what} ({} ms)", started.elapsed().as_millis());
}

/// Installs the SIGTERM and SIGINT handlers; the future completes on either.
pub(crate) fn stop_signals() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
