//! The scheduler: inside `skiff server` (a client of its own API server, like any
//! other component) or alone as `skiff scheduler`.

use std::path::Path;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::cli::SchedulerArgs;

/// How this component names itself to the API server (User-Agent, hence field manager).
pub const COMPONENT: &str = "kube-scheduler";

/// Builds the scheduler on `client`; the returned future runs it until `shutdown`.
/// Configuration errors surface here, before anything runs.
pub fn build(
    client: kube::Client,
    config: Option<&Path>,
    shutdown: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
    let config = skiff_scheduler::shell::load_config(config)?;
    let names: Vec<&str> = config.profiles.iter().map(|p| p.scheduler_name.as_str()).collect();
    eprintln!("skiff: scheduler profiles: {}", names.join(", "));
    let scheduler = skiff_scheduler::Scheduler::new(client, config);
    Ok(async move { scheduler.run(shutdown).await.context("the scheduler stopped") })
}

/// `skiff scheduler`: runs until SIGTERM or Ctrl-C.
pub async fn run(args: SchedulerArgs) -> anyhow::Result<()> {
    let stop = crate::server::stop_signals()?;
    let shutdown = CancellationToken::new();
    let client = skiff_scheduler::shell::client_from_kubeconfig(&args.kubeconfig, COMPONENT).await?;
    let scheduler = build(client, args.config.as_deref(), shutdown.clone())?;
    let task = tokio::spawn(scheduler);
    eprintln!("skiff: scheduler running against {}; stop with SIGTERM or Ctrl-C", args.kubeconfig.display());
    stop.await;
    shutdown.cancel();
    task.await.context("the scheduler task failed")?
}
