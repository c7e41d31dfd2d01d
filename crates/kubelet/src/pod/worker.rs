//! The pod worker: one task per pod, the thin shell around the pure core. Each
//! round: observe the runtime, plan, execute, observe again, write the status if
//! it changed. Wakes on pod changes, on a back-off ending, and every
//! [`RESYNC`] to notice containers that exited.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::config::{self, ConfigError, DnsConfig, EnvSources};
use super::events::messages::{self as said, Said};
use super::events::{Recorder, Subject};
use super::hooks::{self, Hook};
use super::observed::{self, ContainerPhase, Observed};
use super::plan::{self, Action, StartFailure, Waiting};
use super::probe::{self, ContainerProbes, Kind};
use super::status::{self, ProbeView};
use super::volumes::{self, VolumeManager};
use crate::runtime::{self, Runtime};

/// How often a worker looks at the runtime without being asked (upstream's PLEG
/// relists every second).
pub const RESYNC: Duration = Duration::from_secs(1);

/// What every worker of one node shares.
pub struct NodeContext {
    pub runtime: Arc<dyn Runtime>,
    pub client: kube::Client,
    pub node_name: String,
    pub host_ip: String,
    /// Root of the pods' log directories (`<ns>_<name>_<uid>/<container>/<n>.log`).
    pub log_root: PathBuf,
    /// Root of the pods' volumes (`<uid>/volumes/<kind>/<name>`).
    pub volume_root: PathBuf,
    pub dns: DnsConfig,
    /// How often a worker looks at the runtime without being asked: [`RESYNC`]
    /// for a real runtime; longer for hollow nodes, whose containers never
    /// change on their own.
    pub resync: Duration,
    /// Whether pods have cgroups to clean up (not on hollow nodes).
    pub cgroups: bool,
    /// How network probes and hooks reach pods ([`probe::NetProber`], or
    /// [`probe::HollowProber`] where pod addresses are not real).
    pub prober: Arc<dyn probe::Prober>,
    /// The ConfigMaps and Secrets the pods use.
    pub sources: super::sources::SourceCache,
    /// Events about the node's pods.
    pub events: Recorder,
}

/// How often a container waiting out a back-off is reported again (upstream's
/// syncs report it about this often, counted on one event).
const BACKOFF_EVENT_EVERY: Duration = Duration::from_secs(10);

/// How often configMap and secret volumes are re-read from the API and rewritten
/// when their source changed.
pub const VOLUME_REFRESH: Duration = Duration::from_secs(30);

/// How soon a failed ServiceAccount token renewal is tried again.
pub const TOKEN_RETRY: Duration = Duration::from_secs(5);

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

struct Worker {
    ctx: Arc<NodeContext>,
    failures: BTreeMap<String, StartFailure>,
    /// The last status written (and, for a static pod, the uid of the mirror
    /// pod it went to), so an unchanged one is not written again, and the next
    /// status is computed from it (as upstream's status manager's cache): the
    /// pod from the watch may not show our last write yet, and transition
    /// times computed against that older status would differ from the ones
    /// just written and make a needless write.
    written: Option<(PodStatus, Option<String>)>,
    volumes_refreshed: Option<tokio::time::Instant>,
    /// Probe state per running container instance (by container id).
    probes: std::collections::HashMap<String, ContainerProbes>,
    /// The pod's persistentVolumeClaim volumes once every claim resolved (a
    /// pod's claims stay bound to the same volumes, so once is enough).
    claims: Option<volumes::ClaimPaths>,
    /// The last `FailedMount` message recorded, so a waiting pod does not
    /// produce an event every round.
    mount_failure: Option<String>,
    /// The pod's ServiceAccount tokens (projected volumes).
    tokens: std::sync::Mutex<volumes::tokens::TokenCache>,
    /// When each container's back-off was last reported.
    backoffs_noted: BTreeMap<String, tokio::time::Instant>,
}

/// Runs the worker for one pod until the pod is gone (its object deleted and its
/// containers removed) or `shutdown`. `pod` carries the latest object; `None`
/// means the API no longer has it.
pub async fn run(ctx: Arc<NodeContext>, mut pod: watch::Receiver<Option<Pod>>, shutdown: CancellationToken) {
    let mut w = Worker {
        ctx,
        failures: BTreeMap::new(),
        written: None,
        volumes_refreshed: None,
        probes: Default::default(),
        claims: None,
        mount_failure: None,
        tokens: Default::default(),
        backoffs_noted: BTreeMap::new(),
    };
    let mut uid = String::new();
    // A static pod whose file changed or went away is stopped as a deleted
    // pod is (preStop hooks, its grace period); an API pod that vanished is not
    // waited for.
    let mut static_pod: Option<Pod> = None;
    loop {
        let current = pod.borrow_and_update().clone();
        let wait = match current {
            Some(p) => {
                uid = p.metadata.uid.clone().unwrap_or_default();
                static_pod = crate::static_pods::is_static(&p).then(|| p.clone());
                // Boxed: the round's state lives only while it runs, not in
                // every idle worker's task (30,000 on a hollow fleet).
                match Box::pin(w.sync(&p)).await {
                    Ok(Some(next)) => next,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(pod = ?p.metadata.name, "sync failed: {e}");
                        Duration::from_secs(2)
                    }
                }
            }
            None => {
                // The object is gone (deleted with grace 0, or by someone else):
                // nothing may keep running for it.
                let grace = static_pod.as_ref().map(plan::grace_seconds).unwrap_or(0);
                match w.remove_everything(&uid, static_pod.as_ref(), grace).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(%uid, "cleanup failed: {e}");
                        Duration::from_secs(2)
                    }
                }
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = pod.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    #[error("API: {0}")]
    Api(#[from] kube::Error),
}

impl Worker {
    fn pods(&self, pod: &Pod) -> Api<Pod> {
        Api::namespaced(self.ctx.client.clone(), pod.metadata.namespace.as_deref().unwrap_or("default"))
    }

    /// One round. Returns when to look again, or `None` once the pod is finished
    /// and removed.
    async fn sync(&mut self, pod: &Pod) -> Result<Option<Duration>, SyncError> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let ctx = self.ctx.clone();
        let rt = ctx.runtime.as_ref();
        let mut obs = observed::observe(rt, &uid).await?;
        // Probe results of the last round: whether sidecars have started.
        let views0 = self.probe_views(pod, &obs);
        let phase0 =
            status::pod_status(pod, &obs, &BTreeMap::new(), &views0, &self.ctx.host_ip, chrono::Utc::now()).phase;
        let phase0 = phase0.as_deref().unwrap_or("Pending");
        let mut plan = plan::plan_with_probes(pod, &obs, phase0, &self.failures, &views0, now_nanos());
        let starts = |a: &Action| matches!(a, Action::CreateSandbox { .. } | Action::StartContainer { .. });
        let mut held = false;
        if plan.actions.iter().any(starts) && !self.volumes_mounted(pod).await {
            // As upstream's volume manager: nothing starts until every volume is there.
            plan.actions.retain(|a| !starts(a));
            held = true;
        }
        let acted = !plan.actions.is_empty();
        for action in &plan.actions {
            match action {
                Action::KillPod { grace_seconds } => self.kill(Some(pod), &obs, *grace_seconds).await?,
                Action::RemoveSandboxes { ids } => {
                    for id in ids {
                        rt.stop_pod_sandbox(id).await?;
                        rt.remove_pod_sandbox(id).await?;
                    }
                }
                Action::CreateSandbox { attempt } => {
                    if *attempt > 0 {
                        self.ctx.events.record(&Subject::pod(pod), said::sandbox_changed());
                    }
                    let cfg = config::sandbox_config(pod, *attempt, &self.ctx.log_root, &self.ctx.dns);
                    match rt.run_pod_sandbox(cfg).await {
                        Ok(_) => {
                            self.failures.remove(plan::SANDBOX);
                        }
                        // Visible as upstream's event, retried with back-off; the
                        // status is still written (ContainerCreating).
                        Err(e) => {
                            let why = match e {
                                runtime::Error::Failed { message, .. } => message,
                                e => e.to_string(),
                            };
                            let (reason, message) = super::events::sandbox_failed(&why);
                            tracing::info!(pod = ?pod.metadata.name, "{message}");
                            self.ctx.events.record(&Subject::pod(pod), Said::warning(reason, message));
                            let count = self.failures.get(plan::SANDBOX).map(|f| f.count).unwrap_or(0) + 1;
                            let f = StartFailure { reason: reason.into(), message: why, at: now_nanos(), count };
                            self.failures.insert(plan::SANDBOX.to_string(), f);
                        }
                    }
                }
                Action::StartContainer { name, attempt, .. } => {
                    if let Err(f) = self.start(pod, &obs, name, *attempt).await {
                        tracing::info!(pod = ?pod.metadata.name, container = %name, "{}: {}", f.reason, f.message);
                        for said in super::events::start_failed(&f) {
                            self.ctx.events.record(&Subject::container(pod, name), said);
                        }
                        let count = self.failures.get(name).map(|p| p.count).unwrap_or(0) + 1;
                        self.failures.insert(name.clone(), StartFailure { count, at: now_nanos(), ..f });
                    } else {
                        self.failures.remove(name);
                    }
                }
                Action::Finalize => {
                    self.remove_everything(&uid, None, 0).await?;
                    let dp = DeleteParams {
                        grace_period_seconds: Some(0),
                        preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                        ..Default::default()
                    };
                    match self.pods(pod).delete(pod.metadata.name.as_deref().unwrap_or(""), &dp).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                        Err(e) => return Err(e.into()),
                    }
                    return Ok(None);
                }
            }
        }
        if acted {
            obs = observed::observe(rt, &uid).await?;
        }
        self.refresh_volumes(pod, &obs).await;
        if self.run_probes(pod, &obs).await {
            obs = observed::observe(rt, &uid).await?;
        }
        let views = self.probe_views(pod, &obs);
        self.note_backoffs(pod, &plan.waiting);
        let mut waiting = plan.waiting.clone();
        for (name, f) in self.failures.iter().filter(|(name, _)| name.as_str() != plan::SANDBOX) {
            waiting.entry(name.clone()).or_insert(Waiting { reason: f.reason.clone(), message: f.message.clone() });
        }
        // A static pod's status goes to its mirror pod; one recreated
        // (`kubectl delete`) needs it written again.
        let target = pod.metadata.annotations.as_ref().and_then(|a| a.get(crate::static_pods::MIRROR_UID)).cloned();
        let written = self.written.as_ref().filter(|(_, t)| *t == target).map(|(w, _)| w);
        let now = chrono::Utc::now();
        let st = match written {
            Some(w) if pod.status.as_ref() != Some(w) => {
                let base = Pod { status: Some(w.clone()), ..pod.clone() };
                status::pod_status(&base, &obs, &waiting, &views, &self.ctx.host_ip, now)
            }
            _ => status::pod_status(pod, &obs, &waiting, &views, &self.ctx.host_ip, now),
        };
        // The API keeps times to the second: a status equal once written is
        // equal as JSON (compared only when the typed ones differ).
        let same_as_api =
            || pod.status.as_ref().is_some_and(|cur| serde_json::to_value(cur).ok() == serde_json::to_value(&st).ok());
        if pod.status.as_ref() != Some(&st) && written != Some(&st) && !same_as_api() {
            let patch = serde_json::json!({"status": &st});
            let name = pod.metadata.name.as_deref().unwrap_or("");
            match self.pods(pod).patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => self.written = Some((st, target)),
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        let next = if acted {
            Duration::from_millis(100)
        } else if held {
            Duration::from_secs(2)
        } else {
            self.ctx.resync
        };
        Ok(Some(plan.requeue_after.map_or(next, |r| r.min(next))))
    }

    /// Runs the probes that are due on the pod's running containers; kills a
    /// container whose liveness or startup probe failed (the plan then restarts
    /// it by its restart policy). Returns whether it killed any.
    async fn run_probes(&mut self, pod: &Pod, obs: &Observed) -> bool {
        let ctx = self.ctx.clone();
        let rt = ctx.runtime.as_ref();
        let Some(sandbox) = obs.current_sandbox().filter(|s| s.ready) else {
            self.probes.clear();
            return false;
        };
        let running: Vec<_> = obs
            .containers
            .iter()
            .filter(|c| c.phase == ContainerPhase::Running && c.sandbox_id == sandbox.id)
            .collect();
        self.probes.retain(|id, _| running.iter().any(|c| &c.id == id));
        if pod.metadata.deletion_timestamp.is_some() {
            return false;
        }
        let spec = pod.spec.clone().unwrap_or_default();
        let mut killed = false;
        for o in running {
            let Some(c) = probed_container(&spec, &o.name) else { continue };
            if c.liveness_probe.is_none() && c.readiness_probe.is_none() && c.startup_probe.is_none() {
                continue;
            }
            let now = now_nanos();
            let state = self.probes.entry(o.id.clone()).or_default();
            for (kind, p) in probe::due_probes(c, state, o.started_at, now) {
                let result = probe::run_probe(rt, ctx.prober.as_ref(), &o.id, c, p, &sandbox.ip).await;
                if let Err(output) = &result {
                    ctx.events.record(&Subject::container(pod, &o.name), said::unhealthy(kind, output));
                }
                let ok = result.is_ok();
                let tracker = match kind {
                    Kind::Startup => &mut state.startup,
                    Kind::Liveness => &mut state.liveness,
                    Kind::Readiness => &mut state.readiness,
                };
                tracker.record(p, ok, now_nanos());
            }
            if state.failed() {
                tracing::info!(pod = ?pod.metadata.name, container = %o.name, "probe failed; restarting the container");
                let kind = if state.startup.result == Some(false) { Kind::Startup } else { Kind::Liveness };
                ctx.events.record(&Subject::container(pod, &o.name), said::probe_killing(&o.name, kind));
                let grace = plan::grace_seconds(pod);
                if let Err(e) = self.stop_container(Some(pod), &o.name, &o.id, &sandbox.ip, grace, None).await {
                    tracing::warn!("stopping {}: {e}", o.id);
                }
                self.probes.remove(&o.id);
                killed = true;
            }
        }
        killed
    }

    /// Whether the pod's persistentVolumeClaim volumes are resolved and their
    /// directories exist; while not, records `FailedMount` (once per reason).
    async fn volumes_mounted(&mut self, pod: &Pod) -> bool {
        if self.claims.is_some() || volumes::claims::claim_volumes(pod).is_empty() {
            return true;
        }
        let result = match volumes::api::fetch_claims(&self.ctx.client, pod).await {
            Ok(claims) => volumes::claims::prepare(&claims).map(|()| claims),
            Err(e) => Err(e),
        };
        match result {
            Ok(claims) => {
                self.claims = Some(claims);
                self.mount_failure = None;
                true
            }
            Err(why) => {
                if self.mount_failure.as_deref() != Some(why.as_str()) {
                    let names: Vec<String> =
                        volumes::claims::claim_volumes(pod).into_iter().map(|v| v.volume).collect();
                    let message = volumes::claims::failed_mount_message(&names, &why);
                    tracing::info!(pod = ?pod.metadata.name, "{message}");
                    self.ctx.events.record(&Subject::pod(pod), Said::warning("FailedMount", message));
                    self.mount_failure = Some(why);
                }
                false
            }
        }
    }

    /// Records `BackOff` for containers waiting out a restart or pull back-off,
    /// at most every [`BACKOFF_EVENT_EVERY`] for each.
    fn note_backoffs(&mut self, pod: &Pod, waiting: &BTreeMap<String, Waiting>) {
        let now = tokio::time::Instant::now();
        let backing_off = |w: &Waiting| matches!(w.reason.as_str(), "CrashLoopBackOff" | "ImagePullBackOff");
        self.backoffs_noted.retain(|name, _| waiting.get(name).is_some_and(backing_off));
        for (name, w) in waiting.iter().filter(|(_, w)| backing_off(w)) {
            if self.backoffs_noted.get(name).is_some_and(|t| now.duration_since(*t) < BACKOFF_EVENT_EVERY) {
                continue;
            }
            self.backoffs_noted.insert(name.clone(), now);
            let said = if w.reason == "CrashLoopBackOff" {
                vec![said::restart_backoff(name, pod)]
            } else {
                let spec = pod.spec.as_ref();
                let mut all =
                    spec.into_iter().flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()));
                let image = all.find(|c| &c.name == name).and_then(|c| c.image.as_deref());
                said::pull_backoff(image.unwrap_or("")).to_vec()
            };
            for s in said {
                self.ctx.events.record(&Subject::container(pod, name), s);
            }
        }
    }

    /// Readiness and started flags of running containers that have probes.
    fn probe_views(&self, pod: &Pod, obs: &Observed) -> BTreeMap<String, ProbeView> {
        let spec = pod.spec.clone().unwrap_or_default();
        obs.containers
            .iter()
            .filter_map(|o| {
                let c = probed_container(&spec, &o.name)?;
                if c.liveness_probe.is_none() && c.readiness_probe.is_none() && c.startup_probe.is_none() {
                    return None;
                }
                let p = self.probes.get(&o.id).cloned().unwrap_or_default();
                Some((o.id.clone(), ProbeView { ready: p.ready(c), started: p.started(c) }))
            })
            .collect()
    }

    /// Rewrites configMap/secret volumes whose source changed, every
    /// [`VOLUME_REFRESH`] while the pod runs.
    async fn refresh_volumes(&mut self, pod: &Pod, obs: &Observed) {
        let has = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .any(|v| v.config_map.is_some() || v.secret.is_some() || v.projected.is_some());
        let wanted = volumes::tokens::wanted(pod);
        let tokens_due = !self.lock_tokens().due(&wanted, chrono::Utc::now().timestamp()).is_empty();
        // A token due for renewal is asked for at once, but a failed request
        // (the API away, the ServiceAccount gone) is not repeated every second.
        let since = |d: Duration| self.volumes_refreshed.is_none_or(|t| t.elapsed() >= d);
        let due = (tokens_due && since(TOKEN_RETRY)) || since(VOLUME_REFRESH);
        // Before a container runs there is nothing to refresh: its start
        // reads the sources and writes the volumes.
        let running = obs.containers.iter().any(|c| c.phase == ContainerPhase::Running);
        if !has
            || !due
            || !running
            || !obs.sandboxes.iter().any(|s| s.ready)
            || pod.metadata.deletion_timestamp.is_some()
        {
            return;
        }
        self.volumes_refreshed = Some(tokio::time::Instant::now());
        let tokens = match self.tokens(pod).await {
            Ok(tokens) => tokens,
            Err(e) => {
                tracing::info!(pod = ?pod.metadata.name, "refreshing tokens: {e}");
                self.lock_tokens().tokens()
            }
        };
        if let Ok(sources) = self.env_sources(pod, VOLUME_REFRESH).await {
            let volumes = VolumeManager { root: self.ctx.volume_root.clone() };
            if let Err(e) = volumes.setup(pod, &sources.config_maps, &sources.secrets, &tokens) {
                tracing::info!(pod = ?pod.metadata.name, "refreshing volumes: {e}");
            }
        }
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, volumes::tokens::TokenCache> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tokens the pod's projected volumes need, asking the API for those
    /// missing or due for renewal.
    async fn tokens(&self, pod: &Pod) -> Result<volumes::tokens::Tokens, String> {
        let due = self.lock_tokens().due(&volumes::tokens::wanted(pod), chrono::Utc::now().timestamp());
        for key in due {
            let issued = volumes::api::request_token(&self.ctx.client, pod, &key).await?;
            self.lock_tokens().insert(key, issued);
        }
        Ok(self.lock_tokens().tokens())
    }

    /// Pulls if needed, builds the config, creates and starts one container.
    async fn start(&self, pod: &Pod, obs: &Observed, name: &str, attempt: u32) -> Result<(), StartFailure> {
        let fail = |reason: &str, message: String| StartFailure { reason: reason.into(), message, at: 0, count: 0 };
        let rt = self.ctx.runtime.as_ref();
        let sandbox = obs.current_sandbox().ok_or_else(|| fail("CreateContainerError", "no sandbox".into()))?;
        let spec = pod.spec.clone().unwrap_or_default();
        let c = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == name)
            .ok_or_else(|| fail("CreateContainerConfigError", format!("no container {name}")))?;
        let image = c.image.clone().unwrap_or_default();
        let subject = Subject::container(pod, name);
        self.ensure_image(&subject, &image, c.image_pull_policy.as_deref()).await?;
        let sources = self.env_sources(pod, Duration::ZERO).await.map_err(|e| fail("CreateContainerConfigError", e))?;
        let mut cfg = config::container_config(pod, name, attempt, &sources, &sandbox.ip, &self.ctx.host_ip)
            .map_err(|e: ConfigError| fail("CreateContainerConfigError", e.to_string()))?;
        let tokens = self.tokens(pod).await.map_err(|e| fail("CreateContainerConfigError", e))?;
        let volumes = VolumeManager { root: self.ctx.volume_root.clone() };
        volumes
            .setup(pod, &sources.config_maps, &sources.secrets, &tokens)
            .map_err(|e| fail("CreateContainerConfigError", e.to_string()))?;
        let claims = self.claims.clone().unwrap_or_default();
        cfg.mounts = volumes::container_mounts(pod, name, &self.ctx.volume_root, &claims)
            .map_err(|e| fail("CreateContainerConfigError", e.to_string()))?;
        volumes::make_sub_paths(pod, name, &cfg.mounts)
            .map_err(|e| fail("CreateContainerConfigError", format!("subPath: {e}")))?;
        let sb_cfg = config::sandbox_config(pod, sandbox.attempt, &self.ctx.log_root, &self.ctx.dns);
        let id = rt
            .create_container(&sandbox.id, cfg, sb_cfg)
            .await
            .map_err(|e| fail("CreateContainerError", e.to_string()))?;
        self.ctx.events.record(&subject, said::created(name));
        // A start failure leaves an exited container: the status shows it and the
        // restart back-off applies, as upstream.
        if let Err(e) = rt.start_container(&id).await {
            tracing::info!(container = %name, "start failed: {e}");
            let message = format!("Error: {e}");
            self.ctx.events.record(&Subject::container(pod, name), Said::warning("Failed", message));
            return Ok(());
        }
        self.ctx.events.record(&subject, said::started(name));
        // postStart runs before the container counts as started; when it fails
        // the container is killed and restarts by its policy, as upstream.
        if let Some(h) = hooks::handler(c, Hook::PostStart) {
            let grace = plan::grace_seconds(pod);
            let limit = Duration::from_secs(grace.max(30) as u64);
            if let Err(e) = hooks::run(rt, self.ctx.prober.as_ref(), &id, c, h, &sandbox.ip, limit).await {
                let _ = rt.stop_container(&id, grace).await;
                return Err(fail("PostStartHookError", e));
            }
        }
        Ok(())
    }

    /// `imagePullPolicy` as upstream: Never uses only what is present; IfNotPresent
    /// pulls when absent; Always pulls every time (default for `:latest`).
    async fn ensure_image(&self, subject: &Subject, image: &str, policy: Option<&str>) -> Result<(), StartFailure> {
        let fail = |reason: &str, message: String| StartFailure { reason: reason.into(), message, at: 0, count: 0 };
        let latest = !image.rsplit('/').next().unwrap_or(image).contains(':') || image.ends_with(":latest");
        let policy = policy.unwrap_or(if latest { "Always" } else { "IfNotPresent" });
        let present = self.ctx.runtime.image_status(image).await.map_err(|e| fail("ErrImagePull", e.to_string()))?;
        match (policy, present.is_some()) {
            ("Never", true) | ("IfNotPresent", true) => {
                self.ctx.events.record(subject, said::image_present(image));
                Ok(())
            }
            ("Never", false) => Err(fail(
                "ErrImageNeverPull",
                format!("Container image \"{image}\" is not present with pull policy of Never"),
            )),
            _ => match self.pull(subject, image).await {
                Ok(()) => Ok(()),
                Err(e) => Err(fail("ErrImagePull", format!("failed to pull image \"{image}\": {e}"))),
            },
        }
    }

    /// Pulls `image`, recording `Pulling` and `Pulled` as upstream.
    async fn pull(&self, subject: &Subject, image: &str) -> Result<(), runtime::Error> {
        self.ctx.events.record(subject, said::pulling(image));
        let began = std::time::Instant::now();
        self.ctx.runtime.pull_image(image).await?;
        let size = self.ctx.runtime.image_status(image).await.ok().flatten().map(|i| i.size);
        self.ctx.events.record(subject, said::pulled(image, began.elapsed(), size));
        Ok(())
    }

    /// The ConfigMaps and Secrets the pod's env and volumes refer to, read
    /// within `max_age` (zero: from the API now).
    async fn env_sources(&self, pod: &Pod, max_age: Duration) -> Result<EnvSources, String> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let mut out = EnvSources::default();
        let spec = pod.spec.clone().unwrap_or_default();
        let (mut cms, mut secrets) = (Vec::new(), Vec::new());
        for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
            for e in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
                cms.extend(e.config_map_key_ref.as_ref().map(|r| r.name.clone()));
                secrets.extend(e.secret_key_ref.as_ref().map(|r| r.name.clone()));
            }
            for f in c.env_from.iter().flatten() {
                cms.extend(f.config_map_ref.as_ref().map(|r| r.name.clone()));
                secrets.extend(f.secret_ref.as_ref().map(|r| r.name.clone()));
            }
        }
        for v in spec.volumes.iter().flatten() {
            cms.extend(v.config_map.as_ref().map(|c| c.name.clone()));
            secrets.extend(v.secret.as_ref().and_then(|s| s.secret_name.clone()));
            for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
                cms.extend(p.config_map.as_ref().map(|c| c.name.clone()));
                secrets.extend(p.secret.as_ref().map(|s| s.name.clone()));
            }
        }
        cms.sort();
        cms.dedup();
        secrets.sort();
        secrets.dedup();
        let (cache, client) = (&self.ctx.sources, &self.ctx.client);
        for name in cms {
            if let Some(cm) = cache.config_map(client, ns, &name, max_age).await.map_err(|e| e.to_string())? {
                out.config_maps.insert(name, cm);
            }
        }
        for name in secrets {
            if let Some(s) = cache.secret(client, ns, &name, max_age).await.map_err(|e| e.to_string())? {
                out.secrets.insert(name, s);
            }
        }
        Ok(out)
    }

    /// Stops every running container at once — each runs its preStop hook
    /// (when `pod` is given) within `grace`, then gets SIGTERM and the rest of
    /// `grace` before SIGKILL; sidecars get theirs only after the app containers
    /// and the sidecars declared after them stopped ([`plan::termination_waits`])
    /// — then every sandbox.
    async fn kill(&self, pod: Option<&Pod>, obs: &Observed, grace: i64) -> Result<(), runtime::Error> {
        let rt = self.ctx.runtime.as_ref();
        let ip = obs.current_sandbox().map(|s| s.ip.clone()).unwrap_or_default();
        let running: Vec<_> = obs.containers.iter().filter(|c| c.phase == ContainerPhase::Running).collect();
        let names: Vec<&str> = running.iter().map(|c| c.name.as_str()).collect();
        if let Some(pod) = pod {
            for name in &names {
                self.ctx.events.record(&Subject::container(pod, name), said::stopping(name));
            }
        }
        let waits = pod.map(|p| plan::termination_waits(p, &names)).unwrap_or_default();
        let (stopped, _) = watch::channel(BTreeSet::<String>::new());
        let ip = ip.as_str();
        let stops = running.iter().map(|c| {
            let turn = waits.get(&c.name).filter(|w| !w.is_empty()).map(|w| (stopped.subscribe(), w.clone()));
            let stopped = &stopped;
            async move {
                let result = self.stop_container(pod, &c.name, &c.id, ip, grace, turn).await;
                stopped.send_modify(|s| {
                    s.insert(c.name.clone());
                });
                result
            }
        });
        let results = futures::future::join_all(stops).await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        for sb in &obs.sandboxes {
            rt.stop_pod_sandbox(&sb.id).await?;
        }
        Ok(())
    }

    /// Stops one container: its preStop hook first (if `pod` has one for it),
    /// then — once `turn` says every container it waits for has stopped, or the
    /// grace period ran out — SIGTERM with what is left of `grace`, as
    /// upstream's killContainer.
    async fn stop_container(
        &self,
        pod: Option<&Pod>,
        name: &str,
        id: &str,
        pod_ip: &str,
        grace: i64,
        turn: Option<(watch::Receiver<BTreeSet<String>>, Vec<String>)>,
    ) -> Result<(), runtime::Error> {
        let rt = self.ctx.runtime.as_ref();
        let spec = pod.and_then(|p| p.spec.as_ref());
        let c =
            spec.and_then(|s| s.containers.iter().chain(s.init_containers.iter().flatten()).find(|c| c.name == name));
        let started = std::time::Instant::now();
        let limit = Duration::from_secs(grace.max(0) as u64);
        let mut waited = false;
        if let Some((c, h)) = c.and_then(|c| hooks::handler(c, Hook::PreStop).map(|h| (c, h))) {
            match tokio::time::timeout(limit, hooks::run(rt, self.ctx.prober.as_ref(), id, c, h, pod_ip, limit)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::info!(container = %name, "preStop hook failed: {e}"),
                Err(_) => tracing::info!(container = %name, "preStop hook did not finish within {grace}s"),
            }
            waited = true;
        }
        if let Some((mut rx, waits)) = turn {
            let left = limit.saturating_sub(started.elapsed());
            let _ = tokio::time::timeout(left, rx.wait_for(|done| waits.iter().all(|w| done.contains(w)))).await;
            waited = true;
        }
        let left = if waited { hooks::grace_after_hook(grace, started.elapsed()) } else { grace };
        rt.stop_container(id, left).await
    }

    /// Stops (as [`Self::kill`]) and removes every sandbox and container of
    /// pod `uid`.
    async fn remove_everything(&self, uid: &str, pod: Option<&Pod>, grace: i64) -> Result<(), runtime::Error> {
        if uid.is_empty() {
            return Ok(());
        }
        let obs = observed::observe(self.ctx.runtime.as_ref(), uid).await?;
        self.kill(pod, &obs, grace).await?;
        for sb in &obs.sandboxes {
            self.ctx.runtime.remove_pod_sandbox(&sb.id).await?;
        }
        if self.ctx.cgroups {
            super::cgroups::remove_pod_cgroups(uid);
        }
        VolumeManager { root: self.ctx.volume_root.clone() }.teardown(uid);
        Ok(())
    }
}

/// The container of `spec` named `name` that can have probes: an app container
/// or a sidecar.
fn probed_container<'a>(spec: &'a PodSpec, name: &str) -> Option<&'a Container> {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten().filter(|c| plan::is_sidecar(c)))
        .find(|c| c.name == name)
}
