//! The runtime every controller shares. See docs/controllers.md for how to add
//! a controller.
//!
//! - [`InformerFactory`]: one watch per resource type, a shared in-memory store,
//!   and change handlers that controllers register to enqueue keys;
//! - [`WorkQueue`]: de-duplicating, one worker per key at a time, per-key
//!   exponential backoff;
//! - [`Expectations`]: no second create/delete round before the first one's
//!   writes are seen;
//! - [`Recorder`]: core/v1 Events;
//! - [`Controller`] + [`run_workers`]: the loop that takes keys and calls
//!   `sync`, requeueing failures with backoff.

pub mod claim;
pub mod discovery;
pub mod events;
pub mod expectations;
pub mod factory;
pub mod informer;
pub mod lean;
pub mod owner;
pub mod queue;
pub mod selector;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

pub use events::{object_ref, EventType, Recorder};
pub use expectations::Expectations;
pub use factory::InformerFactory;
pub use informer::{Change, Informer, MetaInformer};
pub use queue::WorkQueue;
pub use store::{key, key_of, split_key};

/// The field manager of every write the controllers make (upstream's
/// controller manager shows up in `managedFields` under this name).
pub const FIELD_MANAGER: &str = "kube-controller-manager";

/// Patch options naming [`FIELD_MANAGER`].
pub fn patch_params() -> kube::api::PatchParams {
    kube::api::PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() }
}

/// Create/replace options naming [`FIELD_MANAGER`].
pub fn post_params() -> kube::api::PostParams {
    kube::api::PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() }
}

/// Wall-clock time for decisions (minReadySeconds, progress deadlines);
/// injected so tests and reconcilers do not read the system clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock moved by a number of seconds read from a file at every
/// call (none or unreadable: 0). For whole-system tests that need time to
/// pass (CronJob schedules) without waiting: `--test-clock-offset-file`.
pub struct OffsetFileClock {
    pub path: std::path::PathBuf,
}

impl Clock for OffsetFileClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = std::fs::read_to_string(&self.path).ok().and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(0);
        Utc::now() + chrono::Duration::seconds(offset)
    }
}

/// What a controller is built from.
#[derive(Clone)]
pub struct Context {
    pub client: kube::Client,
    pub informers: InformerFactory,
    /// Record events with `recorder.with_component("<name>-controller")`.
    pub recorder: Recorder,
    pub clock: Arc<dyn Clock>,
    /// The cluster CA (PEM), when known.
    pub root_ca: Option<Arc<str>>,
    /// Where the local-path provisioner puts volumes (its default when `None`).
    pub local_path_dir: Option<Arc<std::path::Path>>,
    /// How long a node may go without a heartbeat before it is Unknown.
    pub node_monitor_grace_period: Duration,
    /// Finished pods kept before the oldest are deleted (0: never).
    pub terminated_pod_gc_threshold: usize,
    /// The CA that signs CertificateSigningRequests, when there is one.
    pub csr_signing: Option<Arc<crate::certificates::Signing>>,
}

/// What to do with a key after a successful sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing more until the next change.
    Done,
    /// Sync again after this long even without a change (deadlines,
    /// minReadySeconds).
    RequeueAfter(Duration),
}

/// Why a sync failed; the key is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("API request failed")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Other(String),
}

/// One controller: turns one key's observed state into API writes.
#[async_trait::async_trait]
pub trait Controller: Send + Sync + 'static {
    /// Brings the object with `key` (`namespace/name` or `name`) towards its
    /// desired state. Called with a key by at most one worker at a time.
    ///
    /// # Errors
    /// Any failure; the key is retried after its backoff.
    async fn sync(&self, key: &str) -> Result<Outcome, SyncError>;

    /// Runs once before informers are awaited and workers start: for
    /// controllers that must ask the API something (discovery) before they
    /// know which informers they need. Retries its own failures.
    async fn prepare(&self, _shutdown: &CancellationToken) {}
}

/// How the manager builds a controller: its name (for `--disable-controllers`),
/// how many keys it syncs at once, and its constructor, which registers
/// informer handlers feeding `queue` and must not spawn.
pub struct Registration {
    pub name: &'static str,
    pub workers: usize,
    pub build: fn(&Context, WorkQueue<String>) -> Arc<dyn Controller>,
}

/// Takes keys from `queue` with `workers` concurrent syncs until `shutdown`.
pub async fn run_workers(
    name: &'static str,
    controller: Arc<dyn Controller>,
    queue: WorkQueue<String>,
    workers: usize,
    shutdown: CancellationToken,
) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers.max(1) {
        let (controller, queue) = (controller.clone(), queue.clone());
        set.spawn(async move {
            while let Some(key) = queue.get().await {
                match controller.sync(&key).await {
                    Ok(Outcome::Done) => queue.forget(&key),
                    Ok(Outcome::RequeueAfter(after)) => {
                        queue.forget(&key);
                        queue.add_after(key.clone(), after);
                    }
                    Err(e) => {
                        let failures = queue.failures(&key);
                        tracing::warn!(controller = name, %key, failures, error = %e, cause = ?std::error::Error::source(&e), "sync failed; retrying");
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        });
    }
    shutdown.cancelled().await;
    queue.shut_down();
    while set.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Fails each key's first sync; records how many syncs of a key overlap.
    #[derive(Default)]
    struct Flaky {
        calls: Mutex<HashMap<String, u32>>,
        running: Mutex<HashMap<String, u32>>,
        max_overlap: Mutex<u32>,
    }

    #[async_trait::async_trait]
    impl Controller for Flaky {
        async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
            {
                let mut running = self.running.lock().unwrap();
                let n = running.entry(key.into()).or_default();
                *n += 1;
                let mut max = self.max_overlap.lock().unwrap();
                *max = (*max).max(*n);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            *self.running.lock().unwrap().get_mut(key).unwrap() -= 1;
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(key.into()).or_default();
            *n += 1;
            if *n == 1 {
                Err(SyncError::Other("first time fails".into()))
            } else {
                Ok(Outcome::Done)
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failed_syncs_are_retried_and_a_key_never_runs_twice_at_once() {
        let controller = Arc::new(Flaky::default());
        let queue = WorkQueue::new();
        let shutdown = CancellationToken::new();
        let workers = tokio::spawn(run_workers("flaky", controller.clone(), queue.clone(), 4, shutdown.clone()));
        for _ in 0..5 {
            queue.add("a".to_string());
            queue.add("b".to_string());
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        shutdown.cancel();
        workers.await.unwrap();
        let calls = controller.calls.lock().unwrap();
        assert!(calls["a"] >= 2 && calls["b"] >= 2, "each key failed once and was retried: {calls:?}");
        assert_eq!(*controller.max_overlap.lock().unwrap(), 1, "four workers, yet one sync per key at a time");
        assert_eq!(queue.failures(&"a".to_string()), 0, "success forgets the backoff");
    }
}
