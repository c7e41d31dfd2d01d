//! The controller manager: inside `skiff server` (a client of its own API
//! server, like every component) or alone as `skiff controller-manager`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use skiff_controllers::certificates::Signing;
use skiff_controllers::{ControllerManager, ManagerConfig};
use tokio_util::sync::CancellationToken;

use skiff_controllers::runtime::OffsetFileClock;

use crate::cli::{ControllerManagerArgs, ControllerTuning};

/// Builds the controller manager on `client`, publishing `root_ca` (PEM) to every
/// namespace and signing CSRs with `csr_signing` (when given); the returned future
/// runs it until `shutdown`. An unknown controller name fails here, before anything
/// runs.
pub fn build(
    client: kube::Client,
    root_ca: Option<String>,
    csr_signing: Option<Arc<Signing>>,
    disabled: &[String],
    local_path_dir: Option<std::path::PathBuf>,
    tuning: &ControllerTuning,
    shutdown: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    let config = ManagerConfig {
        disabled: disabled.to_vec(),
        root_ca,
        local_path_dir,
        node_monitor_grace_period: Some(tuning.node_monitor_grace_period),
        terminated_pod_gc_threshold: Some(tuning.terminated_pod_gc_threshold),
        csr_signing,
    };
    let mut manager = ControllerManager::new(client, &config).context("invalid --disable-controllers")?;
    if let Some(path) = &tuning.test_clock_offset_file {
        manager = manager.with_clock(std::sync::Arc::new(OffsetFileClock { path: path.clone() }));
    }
    eprintln!("skiff: controllers: {}", manager.enabled().join(", "));
    Ok(manager.run(shutdown))
}

/// The CSR signing CA from a certificate and a key file, issuing certificates for at
/// most `duration`.
pub fn load_signing(cert: &Path, key: &Path, duration: std::time::Duration) -> anyhow::Result<Arc<Signing>> {
    let read = |path: &Path| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
    let signing = Signing::from_pem(&read(cert)?, &read(key)?, Some(duration))
        .with_context(|| format!("cannot sign certificates with {} and {}", cert.display(), key.display()))?;
    Ok(Arc::new(signing))
}

/// The CA of the kubeconfig's current cluster (what the API server's
/// certificate chains to), published to every namespace as `kube-root-ca.crt`.
fn cluster_ca(kubeconfig: &Path) -> Option<String> {
    use base64::Engine;
    let config = kube::config::Kubeconfig::read_from(kubeconfig).ok()?;
    let context_name = config.current_context.as_deref()?;
    let context = config.contexts.iter().find(|c| c.name == context_name)?.context.as_ref()?;
    let cluster = config.clusters.iter().find(|c| c.name == context.cluster)?.cluster.as_ref()?;
    if let Some(data) = &cluster.certificate_authority_data {
        let pem = base64::engine::general_purpose::STANDARD.decode(data.trim()).ok()?;
        return String::from_utf8(pem).ok();
    }
    std::fs::read_to_string(cluster.certificate_authority.as_ref()?).ok()
}

/// `skiff controller-manager`: runs until SIGTERM or Ctrl-C.
pub async fn run(args: ControllerManagerArgs) -> anyhow::Result<()> {
    let stop = crate::server::stop_signals()?;
    let shutdown = CancellationToken::new();
    let client =
        skiff_scheduler::shell::client_from_kubeconfig(&args.kubeconfig, skiff_controllers::runtime::FIELD_MANAGER)
            .await?;
    let root_ca = cluster_ca(&args.kubeconfig);
    // As upstream: no signing files, no signer.
    let signing = match (&args.cluster_signing_cert_file, &args.cluster_signing_key_file) {
        (Some(cert), Some(key)) => Some(load_signing(cert, key, args.tuning.cluster_signing_duration)?),
        _ => None,
    };
    let manager = build(client, root_ca, signing, &args.disable_controllers, None, &args.tuning, shutdown.clone())?;
    let task = tokio::spawn(manager);
    eprintln!("skiff: controller manager running against {}; stop with SIGTERM or Ctrl-C", args.kubeconfig.display());
    stop.await;
    shutdown.cancel();
    task.await.context("the controller manager task failed")
}
