//! The I/O shell: watches pods, nodes, PodDisruptionBudgets, namespaces,
//! PriorityClasses, PersistentVolumeClaims and PersistentVolumes through the API, feeds [`SchedulerCore`], and carries out its
//! actions (bindings, status, events, preemption) without blocking the next
//! decision.

mod actions;
mod client;
mod error;
mod events;
mod priority;
mod watch;
mod watched_pod;

pub use actions::ApiActions;
pub use client::{client_from_config, client_from_kubeconfig, client_from_service, load_config};
pub use error::{Error, Result};

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::runtime::watcher::Event;
use kube::Api;
use rand::SeedableRng;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, TokioClock};
use crate::config::SchedulerConfig;
use crate::core::{Action, SchedulerCore};
use crate::framework::Bind;
use crate::preemption::Pdb;
use crate::selector::Selector;
use events::{record, write_events, EventRecord, EVENT_QUEUE};
use priority::PriorityClasses;
use watch::{Input, Tracked};
use watched_pod::WatchedPod;

/// At most this many API writes (bindings, status, events) in flight. With 64, a
/// burst of bindings was held to ~4,000/s in `skiff server` by the bindings' round
/// trip (the store's group commits take what is waiting), not by the CPU. 256 bound
/// ~16 % more pods per second at ~12 % less server CPU per pod, 512 ~4 % more than
/// 256, and 1,024 fewer than 256 (docs/benchmarks.md, Scheduler, "Twelfth round").
const MAX_CONCURRENT_WRITES: usize = 512;
/// Decisions made before looking at new watch events again.
const BATCH: usize = 32;
/// How long shutdown waits for writes in flight.
const DRAIN: Duration = Duration::from_secs(5);

/// A finished binding.
struct BindDone {
    uid: String,
    ok: bool,
    permanent: bool,
}

/// The scheduler as a long-running component.
pub struct Scheduler {
    client: kube::Client,
    config: SchedulerConfig,
    clock: Arc<dyn Clock>,
    rng: Box<dyn rand::RngCore + Send>,
}

impl Scheduler {
    /// A scheduler for the cluster behind `client`. Starts nothing.
    pub fn new(client: kube::Client, config: SchedulerConfig) -> Scheduler {
        Scheduler { client, config, clock: Arc::new(TokioClock), rng: Box::new(rand::rngs::StdRng::from_entropy()) }
    }

    /// Uses this clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Scheduler {
        self.clock = clock;
        self
    }

    /// Uses this RNG for tie-breaks (deterministic runs).
    pub fn with_rng(mut self, rng: Box<dyn rand::RngCore + Send>) -> Scheduler {
        self.rng = rng;
        self
    }

    /// Schedules until `shutdown` is cancelled. Starts deciding once the first
    /// complete list of pods, nodes, PDBs, namespaces and PriorityClasses is in.
    ///
    /// # Errors
    /// Only if every watch ended, which a healthy client never does (watch
    /// errors are retried with backoff).
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let Scheduler { client, config, clock, rng } = self;
        let (tx, mut rx) = mpsc::channel::<Input>(1024);
        let mut watches = JoinSet::new();
        watch::spawn(
            &mut watches,
            Api::<PriorityClass>::all(client.clone()),
            tx.clone(),
            Input::PriorityClass,
            "priorityclasses",
        );
        watch::spawn(&mut watches, Api::<Namespace>::all(client.clone()), tx.clone(), Input::Namespace, "namespaces");
        watch::spawn(
            &mut watches,
            Api::<PodDisruptionBudget>::all(client.clone()),
            tx.clone(),
            Input::Pdb,
            "poddisruptionbudgets",
        );
        watch::spawn(
            &mut watches,
            Api::<PersistentVolumeClaim>::all(client.clone()),
            tx.clone(),
            |e| Input::Claim(Box::new(e)),
            "persistentvolumeclaims",
        );
        watch::spawn(
            &mut watches,
            Api::<PersistentVolume>::all(client.clone()),
            tx.clone(),
            |e| Input::Volume(Box::new(e)),
            "persistentvolumes",
        );
        watch::spawn(
            &mut watches,
            Api::<k8s_openapi::api::storage::v1::StorageClass>::all(client.clone()),
            tx.clone(),
            Input::StorageClass,
            "storageclasses",
        );
        watch::spawn(&mut watches, Api::<Node>::all(client.clone()), tx.clone(), |e| Input::Node(Box::new(e)), "nodes");
        watch::spawn(&mut watches, Api::<WatchedPod>::all(client.clone()), tx, pod_input, "pods");

        let actions = ApiActions::new(client);
        let (events, events_rx) = mpsc::channel::<EventRecord>(EVENT_QUEUE);
        let event_writer = tokio::spawn(write_events(actions.clone(), events_rx));
        let (done_tx, mut done_rx) = mpsc::channel::<BindDone>(1024);
        let limiter = Arc::new(Semaphore::new(MAX_CONCURRENT_WRITES));
        let mut work: JoinSet<()> = JoinSet::new();
        let mut shell = Shell { core: SchedulerCore::new(config, rng), ..Default::default() };
        let result = loop {
            while let Ok(input) = rx.try_recv() {
                shell.apply(input, clock.now());
            }
            while let Ok(done) = done_rx.try_recv() {
                shell.core.bind_finished(&done.uid, done.ok, done.permanent, clock.now());
            }
            while work.try_join_next().is_some() {}
            if shell.synced() {
                for _ in 0..BATCH {
                    let Some(action) = shell.core.schedule_next(clock.now()) else { break };
                    perform(action, &actions, &limiter, &done_tx, &events, &mut work);
                }
                if shell.core.has_ready() {
                    // More to do: give the watches and the writes a turn first.
                    tokio::task::yield_now().await;
                    continue;
                }
            }
            let wake = shell.core.next_wakeup().map(tokio::time::Instant::from_std);
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                input = rx.recv() => match input {
                    Some(input) => shell.apply(input, clock.now()),
                    None => break Err(Error::WatchEnded("every")),
                },
                Some(done) = done_rx.recv() => shell.core.bind_finished(&done.uid, done.ok, done.permanent, clock.now()),
                _ = tokio::time::sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)), if wake.is_some() => {}
                Some(_) = work.join_next(), if !work.is_empty() => {}
            }
        };
        watches.abort_all();
        // Let writes in flight land (a binding half done is retried by the next
        // scheduler anyway, but a finished one saves it the work).
        drop(events);
        let _ = tokio::time::timeout(DRAIN, async { while work.join_next().await.is_some() {} }).await;
        work.abort_all();
        let _ = tokio::time::timeout(DRAIN, event_writer).await;
        result
    }
}

/// A pods-watch event as the core takes it.
fn pod_input(event: Event<WatchedPod>) -> Input {
    Input::Pod(Box::new(match event {
        Event::Apply(p) => Event::Apply(p.0),
        Event::InitApply(p) => Event::InitApply(p.0),
        Event::Delete(p) => Event::Delete(p.0),
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
    }))
}

/// Starts the API writes for one action.
fn perform(
    action: Action,
    actions: &ApiActions,
    limiter: &Arc<Semaphore>,
    done: &mpsc::Sender<BindDone>,
    events: &mpsc::Sender<EventRecord>,
    work: &mut JoinSet<()>,
) {
    let (actions, limiter, done, events) = (actions.clone(), limiter.clone(), done.clone(), events.clone());
    match action {
        Action::Bind { pod, node } => {
            work.spawn(async move {
                let result = {
                    let Ok(_permit) = limiter.acquire_owned().await else { return };
                    actions.bind(&pod, &node).await
                };
                let (ok, permanent) = match &result {
                    Ok(()) => (true, false),
                    Err(e) => {
                        tracing::warn!(error = %e, "binding failed");
                        (false, e.permanent)
                    }
                };
                let _ = done.send(BindDone { uid: pod.uid.clone(), ok, permanent }).await;
                if ok {
                    let message = format!("Successfully assigned {} to {node}", pod.key());
                    let component = scheduler_name(&pod);
                    record(
                        &events,
                        EventRecord { pod, kind: "Normal", reason: "Scheduled", action: "Binding", message, component },
                    );
                }
            });
        }
        Action::Unschedulable { pod, message, nominated_node, victims } => {
            work.spawn(async move {
                let Ok(_permit) = limiter.acquire_owned().await else { return };
                let scheduler = scheduler_name(&pod);
                if let Some(node) = &nominated_node {
                    for victim in &victims {
                        actions.preempt(victim, &pod, node, &scheduler).await;
                    }
                }
                actions.mark_unschedulable(&pod, &message, nominated_node.as_deref()).await;
                let event = EventRecord {
                    pod,
                    kind: "Warning",
                    reason: "FailedScheduling",
                    action: "Scheduling",
                    message,
                    component: scheduler,
                };
                record(&events, event);
            });
        }
    }
}

fn scheduler_name(pod: &crate::pod_info::PodInfo) -> String {
    pod.spec().scheduler_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| crate::DEFAULT_SCHEDULER_NAME.into())
}

/// What the shell keeps besides the core: watch bookkeeping and priorities.
struct Shell {
    core: SchedulerCore,
    priorities: PriorityClasses,
    pods: Tracked,
    nodes: Tracked,
    pdbs: Tracked,
    namespaces: Tracked,
    priority_classes: Tracked,
    claims: Tracked,
    volumes: Tracked,
    classes: Tracked,
}

impl Default for Shell {
    fn default() -> Self {
        Shell {
            core: SchedulerCore::new(SchedulerConfig::default(), Box::new(rand::rngs::StdRng::seed_from_u64(0))),
            priorities: PriorityClasses::default(),
            pods: Tracked::default(),
            nodes: Tracked::default(),
            pdbs: Tracked::default(),
            namespaces: Tracked::default(),
            priority_classes: Tracked::default(),
            claims: Tracked::default(),
            volumes: Tracked::default(),
            classes: Tracked::default(),
        }
    }
}

fn claim_key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    crate::volumes::Volumes::claim_key(meta.namespace.as_deref().unwrap_or(""), meta.name.as_deref().unwrap_or(""))
}

fn pdb_key(pdb: &PodDisruptionBudget) -> String {
    format!("{}/{}", pdb.metadata.namespace.as_deref().unwrap_or(""), pdb.metadata.name.as_deref().unwrap_or(""))
}

fn to_pdb(pdb: &PodDisruptionBudget) -> Pdb {
    let selector = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
    let status = pdb.status.as_ref();
    Pdb {
        namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
        selector: Selector::from_label_selector(selector),
        disruptions_allowed: status.map_or(0, |s| s.disruptions_allowed),
        disrupted_pods: status
            .and_then(|s| s.disrupted_pods.as_ref())
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default(),
    }
}

impl Shell {
    fn synced(&self) -> bool {
        [
            &self.pods,
            &self.nodes,
            &self.pdbs,
            &self.namespaces,
            &self.priority_classes,
            &self.claims,
            &self.volumes,
            &self.classes,
        ]
        .iter()
        .all(|t| t.synced)
    }

    fn apply(&mut self, input: Input, now: std::time::Instant) {
        let name = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| m.name.clone().unwrap_or_default();
        match input {
            Input::Pod(ev) => match *ev {
                Event::Init => self.pods.init(),
                Event::InitApply(pod) | Event::Apply(pod) => {
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    self.pods.applied(&uid);
                    let priority = self.priorities.priority_of(&pod);
                    self.core.pod_upserted(Arc::new(pod), priority, now);
                }
                Event::Delete(pod) => {
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    self.pods.deleted(&uid);
                    self.core.pod_deleted(&uid, now);
                }
                Event::InitDone => {
                    for uid in self.pods.init_done() {
                        self.core.pod_deleted(&uid, now);
                    }
                }
            },
            Input::Node(ev) => match *ev {
                Event::Init => self.nodes.init(),
                Event::InitApply(node) | Event::Apply(node) => {
                    self.nodes.applied(&name(&node.metadata));
                    self.core.node_upserted(Arc::new(node), now);
                }
                Event::Delete(node) => {
                    self.nodes.deleted(&name(&node.metadata));
                    self.core.node_deleted(&name(&node.metadata));
                }
                Event::InitDone => {
                    for n in self.nodes.init_done() {
                        self.core.node_deleted(&n);
                    }
                }
            },
            Input::Pdb(ev) => match ev {
                Event::Init => self.pdbs.init(),
                Event::InitApply(pdb) | Event::Apply(pdb) => {
                    self.pdbs.applied(&pdb_key(&pdb));
                    self.core.pdb_upserted(&pdb_key(&pdb), to_pdb(&pdb));
                }
                Event::Delete(pdb) => {
                    self.pdbs.deleted(&pdb_key(&pdb));
                    self.core.pdb_deleted(&pdb_key(&pdb));
                }
                Event::InitDone => {
                    for k in self.pdbs.init_done() {
                        self.core.pdb_deleted(&k);
                    }
                }
            },
            Input::Namespace(ev) => match ev {
                Event::Init => self.namespaces.init(),
                Event::InitApply(ns) | Event::Apply(ns) => {
                    self.namespaces.applied(&name(&ns.metadata));
                    self.core.namespace_upserted(&name(&ns.metadata), Some(ns.metadata.labels.unwrap_or_default()));
                }
                Event::Delete(ns) => {
                    self.namespaces.deleted(&name(&ns.metadata));
                    self.core.namespace_upserted(&name(&ns.metadata), None);
                }
                Event::InitDone => {
                    for n in self.namespaces.init_done() {
                        self.core.namespace_upserted(&n, None);
                    }
                }
            },
            Input::Claim(ev) => match *ev {
                Event::Init => self.claims.init(),
                Event::InitApply(pvc) | Event::Apply(pvc) => {
                    let key = claim_key(&pvc.metadata);
                    self.claims.applied(&key);
                    self.core.claim_upserted(&pvc, now);
                }
                Event::Delete(pvc) => {
                    let key = claim_key(&pvc.metadata);
                    self.claims.deleted(&key);
                    self.core.claim_deleted(&key);
                }
                Event::InitDone => {
                    for k in self.claims.init_done() {
                        self.core.claim_deleted(&k);
                    }
                }
            },
            Input::Volume(ev) => match *ev {
                Event::Init => self.volumes.init(),
                Event::InitApply(pv) | Event::Apply(pv) => {
                    self.volumes.applied(&name(&pv.metadata));
                    self.core.volume_upserted(&pv, now);
                }
                Event::Delete(pv) => {
                    self.volumes.deleted(&name(&pv.metadata));
                    self.core.volume_deleted(&name(&pv.metadata));
                }
                Event::InitDone => {
                    for n in self.volumes.init_done() {
                        self.core.volume_deleted(&n);
                    }
                }
            },
            Input::StorageClass(ev) => match ev {
                Event::Init => self.classes.init(),
                Event::InitApply(sc) | Event::Apply(sc) => {
                    self.classes.applied(&name(&sc.metadata));
                    self.core.class_upserted(&sc, now);
                }
                Event::Delete(sc) => {
                    self.classes.deleted(&name(&sc.metadata));
                    self.core.class_deleted(&name(&sc.metadata));
                }
                Event::InitDone => {
                    for n in self.classes.init_done() {
                        self.core.class_deleted(&n);
                    }
                }
            },
            Input::PriorityClass(ev) => match ev {
                Event::Init => self.priority_classes.init(),
                Event::InitApply(pc) | Event::Apply(pc) => {
                    self.priority_classes.applied(&name(&pc.metadata));
                    self.priorities.upsert(&pc);
                }
                Event::Delete(pc) => {
                    self.priority_classes.deleted(&name(&pc.metadata));
                    self.priorities.remove(&name(&pc.metadata));
                }
                Event::InitDone => {
                    for n in self.priority_classes.init_done() {
                        self.priorities.remove(&n);
                    }
                }
            },
        }
    }
}
