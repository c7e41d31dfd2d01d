//! The controller manager: builds the enabled controllers on one shared
//! runtime and runs them until shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::runtime::{self, Clock, Context, InformerFactory, Registration, SystemClock, WorkQueue};

/// Every controller the manager knows, in start order. Adding a controller is
/// one line here (see docs/controllers.md).
pub const CONTROLLERS: &[Registration] = &[
    crate::replicaset::REPLICASET,
    crate::replicaset::REPLICATION_CONTROLLER,
    crate::deployment::DEPLOYMENT,
    crate::job::JOB,
    crate::cronjob::CRONJOB,
    crate::nodelifecycle::NODE_LIFECYCLE,
    crate::podgc::POD_GC,
    crate::disruption::DISRUPTION,
    crate::resourcequota::RESOURCE_QUOTA,
    crate::namespace::NAMESPACE,
    crate::serviceaccount::SERVICE_ACCOUNT,
    crate::serviceaccount::ROOT_CA_PUBLISHER,
    crate::endpoints::ENDPOINTS,
    crate::endpointslice::ENDPOINTSLICE,
    crate::statefulset::STATEFULSET,
    crate::daemonset::DAEMONSET,
    crate::volume::PERSISTENTVOLUME_BINDER,
    crate::volume::LOCAL_PATH_PROVISIONER,
    crate::certificates::CSR_SIGNING,
    crate::certificates::CSR_CLEANER,
    // After the controllers above, so it shares their typed informers.
    crate::gc::GARBAGE_COLLECTOR,
];

/// How long shutdown waits for syncs in flight.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--disable-controllers` named a controller that does not exist.
    #[error("unknown controller {name:?} (known: {known})")]
    UnknownController { name: String, known: String },
}

/// What the manager runs.
#[derive(Debug, Clone, Default)]
pub struct ManagerConfig {
    /// Names of controllers not to run.
    pub disabled: Vec<String>,
    /// The cluster CA (PEM) published as `kube-root-ca.crt` in every namespace.
    pub root_ca: Option<String>,
    /// The local-path provisioner's storage directory.
    pub local_path_dir: Option<std::path::PathBuf>,
    /// How long a node may go without heartbeats before it is `Ready=Unknown`
    /// (default [`DEFAULT_NODE_MONITOR_GRACE_PERIOD`]).
    pub node_monitor_grace_period: Option<Duration>,
    /// Finished pods kept before pod GC deletes the oldest (default 12500; 0 never).
    pub terminated_pod_gc_threshold: Option<usize>,
    /// The CA that signs CertificateSigningRequests; without one `csrsigning`
    /// does not run (as upstream without `--cluster-signing-*-file`).
    pub csr_signing: Option<Arc<crate::certificates::Signing>>,
}

/// Upstream's `--node-monitor-grace-period` default.
pub const DEFAULT_NODE_MONITOR_GRACE_PERIOD: Duration = Duration::from_secs(40);

pub struct ControllerManager {
    client: kube::Client,
    enabled: Vec<&'static Registration>,
    clock: Arc<dyn Clock>,
    root_ca: Option<Arc<str>>,
    local_path_dir: Option<Arc<std::path::Path>>,
    node_monitor_grace_period: Duration,
    terminated_pod_gc_threshold: usize,
    csr_signing: Option<Arc<crate::certificates::Signing>>,
}

impl ControllerManager {
    /// A manager for the cluster behind `client`. Starts nothing.
    ///
    /// # Errors
    /// [`Error::UnknownController`] when `config` disables a controller that
    /// does not exist.
    pub fn new(client: kube::Client, config: &ManagerConfig) -> Result<ControllerManager, Error> {
        for name in &config.disabled {
            if !CONTROLLERS.iter().any(|r| r.name == name) {
                let known = CONTROLLERS.iter().map(|r| r.name).collect::<Vec<_>>().join(", ");
                return Err(Error::UnknownController { name: name.clone(), known });
            }
        }
        let enabled = CONTROLLERS
            .iter()
            .filter(|r| !config.disabled.iter().any(|d| d == r.name))
            // Nothing to sign with.
            .filter(|r| r.name != crate::certificates::CSR_SIGNING.name || config.csr_signing.is_some())
            .collect();
        Ok(ControllerManager {
            client,
            enabled,
            clock: Arc::new(SystemClock),
            root_ca: config.root_ca.as_deref().map(Arc::from),
            local_path_dir: config.local_path_dir.as_deref().map(Arc::from),
            node_monitor_grace_period: config.node_monitor_grace_period.unwrap_or(DEFAULT_NODE_MONITOR_GRACE_PERIOD),
            terminated_pod_gc_threshold: config
                .terminated_pod_gc_threshold
                .unwrap_or(crate::podgc::plan::DEFAULT_TERMINATED_THRESHOLD),
            csr_signing: config.csr_signing.clone(),
        })
    }

    /// Uses this clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> ControllerManager {
        self.clock = clock;
        self
    }

    /// Names of the controllers that will run.
    pub fn enabled(&self) -> Vec<&'static str> {
        self.enabled.iter().map(|r| r.name).collect()
    }

    /// Runs every enabled controller until `shutdown`. Workers start once every
    /// informer has its first complete list, so no controller acts on a partial
    /// view (creating pods that exist but were not listed yet).
    pub async fn run(self, shutdown: CancellationToken) {
        let informers = InformerFactory::new(self.client.clone());
        let (events, writer) = runtime::events::channel(self.client.clone());
        let ctx = Context {
            client: self.client.clone(),
            informers: informers.clone(),
            recorder: runtime::Recorder::new("controller-manager", events),
            clock: self.clock.clone(),
            root_ca: self.root_ca.clone(),
            local_path_dir: self.local_path_dir.clone(),
            node_monitor_grace_period: self.node_monitor_grace_period,
            terminated_pod_gc_threshold: self.terminated_pod_gc_threshold,
            csr_signing: self.csr_signing.clone(),
        };
        let mut controllers = Vec::new();
        for registration in &self.enabled {
            let queue = WorkQueue::new();
            let controller = (registration.build)(&ctx, queue.clone());
            controllers.push((registration, controller, queue));
        }
        // Before the informers start, so handlers registered here see every
        // object from the first list on.
        for (_, controller, _) in &controllers {
            controller.prepare(&shutdown).await;
        }
        let mut background = JoinSet::new();
        background.spawn(informers.clone().run(shutdown.clone()));
        background.spawn(writer.run(shutdown.clone()));
        informers.wait_for_sync(&shutdown).await;
        let mut workers = JoinSet::new();
        for (registration, controller, queue) in controllers {
            workers.spawn(runtime::run_workers(
                registration.name,
                controller,
                queue,
                registration.workers,
                shutdown.clone(),
            ));
        }
        shutdown.cancelled().await;
        let _ = tokio::time::timeout(DRAIN, async { while workers.join_next().await.is_some() {} }).await;
        workers.abort_all();
        background.abort_all();
        while background.join_next().await.is_some() {}
    }
}
