//! The controller manager: inside `skiff server` (a client of its own API
//! server through the admin kubeconfig, like every component) or alone as
//! `skiff controller-manager`.

use std::path::Path;

use anyhow::Context;
use skiff_controllers::{ControllerManager, ManagerConfig};
use tokio_util::sync::CancellationToken;

use crate::cli::ControllerManagerArgs;

/// Builds the controller manager for the cluster of `kubeconfig`; the returned
/// future runs it until `shutdown`. An unknown controller name fails here,
/// before anything runs.
pub async fn build(
    kubeconfig: &Path,
    disabled: &[String],
    shutdown: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let config = ManagerConfig { disabled: disabled.to_vec() };
    let client = skiff_scheduler::shell::client_from_kubeconfig(kubeconfig).await?;
    let manager = ControllerManager::new(client, &config).context("invalid --disable-controllers")?;
    eprintln!("skiff: controllers: {}", manager.enabled().join(", "));
    Ok(manager.run(shutdown))
}

/// `skiff controller-manager`: runs until SIGTERM or Ctrl-C.
pub async fn run(args: ControllerManagerArgs) -> anyhow::Result<()> {
    let stop = crate::server::stop_signals()?;
    let shutdown = CancellationToken::new();
    let manager = build(&args.kubeconfig, &args.disable_controllers, shutdown.clone()).await?;
    let task = tokio::spawn(manager);
    eprintln!("skiff: controller manager running against {}; stop with SIGTERM or Ctrl-C", args.kubeconfig.display());
    stop.await;
    shutdown.cancel();
    task.await.context("the controller manager task failed")
}
