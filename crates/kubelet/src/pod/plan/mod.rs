//! The pod sync core: from the desired pod and what the runtime has, the next
//! actions. Pure — no I/O, time passed in — so every rule is unit-tested.
//!
//! Order as upstream: a ready sandbox first; init containers one at a time, each
//! to successful completion; then every app container. Restarts follow
//! `restartPolicy` with exponential back-off (10 s doubling to 5 min). A pod being
//! deleted has its containers stopped within its grace period, then its sandbox,
//! and finally its API object removed.
//!
//! Sidecars (init containers with `restartPolicy: Always`, upstream's
//! SidecarContainers) start in their place among the init containers; the next
//! init container waits until the sidecar has started (its startup probe
//! passed), and they are restarted with back-off whenever they exit, whatever
//! the pod's policy, until the pod finishes.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::events::messages::{go_duration, pod_ref};
use super::observed::{ContainerObs, ContainerPhase, Observed};
use super::status::ProbeView;

/// The first restart waits this long; each further one doubles it.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// Restarts never wait longer than this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Stop every running container (SIGTERM, SIGKILL after `grace_seconds`), then
    /// every sandbox.
    KillPod {
        grace_seconds: i64,
    },
    /// Stop and forget sandboxes that are not the current one.
    RemoveSandboxes {
        ids: Vec<String>,
    },
    CreateSandbox {
        attempt: u32,
    },
    /// Pull if needed, create and start container `name` in the current sandbox.
    StartContainer {
        name: String,
        init: bool,
        attempt: u32,
    },
    /// Remove every sandbox and container, then the pod object (grace 0).
    Finalize,
}

/// A start that failed before a container existed (image pull, bad config); kept
/// by the worker so retries back off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFailure {
    pub reason: String,
    pub message: String,
    /// When it failed (unix nanos).
    pub at: i64,
    pub count: u32,
}

/// The key of the sandbox's own failures in the failures map (no container
/// can be named so): a failed RunPodSandbox is retried with the same back-off.
pub const SANDBOX: &str = "";

/// Why a container that should run is waiting, for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Sync again after this long even without news (a back-off ends).
    pub requeue_after: Option<Duration>,
    /// Containers held back, by name.
    pub waiting: BTreeMap<String, Waiting>,
}

/// `BACKOFF_INITIAL · 2^restarts`, at most `BACKOFF_MAX`.
pub fn backoff(restarts: u32) -> Duration {
    let factor = 1u64.checked_shl(restarts.min(16)).unwrap_or(u64::MAX);
    BACKOFF_INITIAL.saturating_mul(factor.min(u32::MAX as u64) as u32).min(BACKOFF_MAX)
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always")
}

/// Whether an exited container with `exit_code` is started again.
pub fn should_restart(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// The grace period for stopping: the deletion's, else the pod's, else 30 s.
pub fn grace_seconds(pod: &Pod) -> i64 {
    pod.metadata
        .deletion_grace_period_seconds
        .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30)
        .max(0)
}

/// Whether the pod has finished for good (its containers will not run again).
pub fn is_terminal(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed")
}

/// Whether `c` is a sidecar: an init container that keeps running
/// (`restartPolicy: Always`).
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Who waits for whom when the pod's running containers (`running`, by name)
/// are stopped together, as upstream's terminationOrdering: app containers wait
/// for nobody; each sidecar waits until every app container and every sidecar
/// declared after it has stopped (so sidecars stop last, in reverse order).
pub fn termination_waits(pod: &Pod, running: &[&str]) -> BTreeMap<String, Vec<String>> {
    let Some(spec) = pod.spec.as_ref() else { return BTreeMap::new() };
    let sidecars: Vec<&str> =
        spec.init_containers.iter().flatten().filter(|c| is_sidecar(c)).map(|c| c.name.as_str()).collect();
    let apps: Vec<&str> = running.iter().copied().filter(|n| !sidecars.contains(n)).collect();
    running
        .iter()
        .map(|&name| {
            let waits = match sidecars.iter().position(|s| *s == name) {
                None => Vec::new(),
                Some(i) => apps
                    .iter()
                    .chain(sidecars[i + 1..].iter().filter(|s| running.contains(*s)))
                    .map(|s| s.to_string())
                    .collect(),
            };
            (name.to_string(), waits)
        })
        .collect()
}

/// [`plan_with_probes`] for a pod whose running containers count as started.
pub fn plan(pod: &Pod, observed: &Observed, phase: &str, failures: &BTreeMap<String, StartFailure>, now: i64) -> Plan {
    plan_with_probes(pod, observed, phase, failures, &BTreeMap::new(), now)
}

/// Computes what to do next. `phase` is the phase the status core computes from
/// the same observation; `failures` are start failures the worker remembers;
/// `probes` (by container id) say whether a running sidecar has started — one
/// without an entry has started once it runs.
pub fn plan_with_probes(
    pod: &Pod,
    observed: &Observed,
    phase: &str,
    failures: &BTreeMap<String, StartFailure>,
    probes: &BTreeMap<String, ProbeView>,
    now: i64,
) -> Plan {
    let mut out = decide(pod, observed, phase, failures, probes, now);
    // Upstream's message names the pod too.
    let who = pod_ref(pod);
    for w in out.waiting.values_mut().filter(|w| w.reason == "CrashLoopBackOff") {
        w.message = format!("{} pod={who}", w.message);
    }
    out
}

fn decide(
    pod: &Pod,
    observed: &Observed,
    phase: &str,
    failures: &BTreeMap<String, StartFailure>,
    probes: &BTreeMap<String, ProbeView>,
    now: i64,
) -> Plan {
    let mut out = Plan::default();
    if pod.metadata.deletion_timestamp.is_some() {
        if observed.any_running() || observed.sandboxes.iter().any(|s| s.ready) {
            out.actions.push(Action::KillPod { grace_seconds: grace_seconds(pod) });
        }
        out.actions.push(Action::Finalize);
        return out;
    }
    if is_terminal(phase) {
        if observed.any_running() || observed.sandboxes.iter().any(|s| s.ready) {
            out.actions.push(Action::KillPod { grace_seconds: grace_seconds(pod) });
        }
        return out;
    }
    let spec = match &pod.spec {
        Some(s) => s,
        None => return out,
    };
    let sandbox = match observed.current_sandbox() {
        Some(sb) if sb.ready => sb,
        other => {
            // No sandbox, or it died: start over in a new one (upstream kills the
            // pod's containers first, since they lost their namespaces).
            let attempt = other.map(|s| s.attempt + 1).unwrap_or(0);
            if !observed.sandboxes.is_empty() {
                if observed.any_running() {
                    out.actions.push(Action::KillPod { grace_seconds: grace_seconds(pod) });
                }
                out.actions
                    .push(Action::RemoveSandboxes { ids: observed.sandboxes.iter().map(|s| s.id.clone()).collect() });
            }
            if let Some(f) = failures.get(SANDBOX) {
                let until = f.at + backoff(f.count.saturating_sub(1)).as_nanos() as i64;
                if now < until {
                    requeue(&mut out, until - now);
                    return out;
                }
            }
            out.actions.push(Action::CreateSandbox { attempt });
            return out;
        }
    };
    let stale: Vec<String> = observed.sandboxes.iter().filter(|s| s.id != sandbox.id).map(|s| s.id.clone()).collect();
    if !stale.is_empty() {
        out.actions.push(Action::RemoveSandboxes { ids: stale });
    }
    let policy = restart_policy(pod);
    // Init containers: one at a time, each must succeed. A failed one is retried
    // unless the pod never restarts (then the pod fails; the status says so).
    let apps_began = spec.containers.iter().any(|c| observed.latest(&sandbox.id, &c.name).is_some());
    for c in spec.init_containers.iter().flatten() {
        if is_sidecar(c) {
            match observed.latest(&sandbox.id, &c.name) {
                None => {
                    start_or_wait(&mut out, &c.name, true, 0, None, failures, now);
                    return out;
                }
                // It ran before, so later containers may already run: restart it
                // (with back-off) and go on.
                Some(o) if o.phase == ContainerPhase::Exited => restart(&mut out, o, true, failures, now),
                Some(o) if o.phase == ContainerPhase::Running && probes.get(&o.id).is_none_or(|p| p.started) => {}
                // Created, or its startup probe has not passed yet: what follows
                // waits, unless the pod was initialized before (a restart).
                Some(_) if !apps_began => return out,
                Some(_) => {}
            }
            continue;
        }
        match observed.latest(&sandbox.id, &c.name) {
            None => {
                start_or_wait(&mut out, &c.name, true, 0, None, failures, now);
                return out;
            }
            Some(o) if o.phase == ContainerPhase::Exited && o.exit_code == 0 => continue,
            Some(o) if o.phase == ContainerPhase::Exited => {
                if policy != "Never" {
                    restart(&mut out, o, true, failures, now);
                }
                return out;
            }
            // Created or running: wait for it.
            Some(_) => return out,
        }
    }
    for c in &spec.containers {
        match observed.latest(&sandbox.id, &c.name) {
            None => start_or_wait(&mut out, &c.name, false, 0, None, failures, now),
            Some(o) if o.phase == ContainerPhase::Exited && should_restart(policy, o.exit_code) => {
                restart(&mut out, o, false, failures, now)
            }
            Some(_) => {}
        }
    }
    out
}

/// Adds the next attempt of a container whose instance `o` exited, once its
/// back-off has passed.
fn restart(out: &mut Plan, o: &ContainerObs, init: bool, failures: &BTreeMap<String, StartFailure>, now: i64) {
    start_or_wait(out, &o.name, init, o.attempt + 1, Some((o.finished_at, o.attempt)), failures, now)
}

/// Adds a start, unless a back-off holds it: after an exit (`exited` = when, and
/// the attempt that exited) or after a failed start.
fn start_or_wait(
    out: &mut Plan,
    name: &str,
    init: bool,
    attempt: u32,
    exited: Option<(i64, u32)>,
    failures: &BTreeMap<String, StartFailure>,
    now: i64,
) {
    if let Some(f) = failures.get(name) {
        let until = f.at + backoff(f.count.saturating_sub(1)).as_nanos() as i64;
        if now < until {
            let reason = if f.reason == "ErrImagePull" { "ImagePullBackOff".to_string() } else { f.reason.clone() };
            out.waiting.insert(name.to_string(), Waiting { reason, message: f.message.clone() });
            requeue(out, until - now);
            return;
        }
    }
    if let Some((finished_at, exited_attempt)) = exited {
        let until = finished_at + backoff(exited_attempt).as_nanos() as i64;
        if now < until {
            let delay = Duration::from_nanos((until - now) as u64);
            out.waiting.insert(
                name.to_string(),
                Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: format!(
                        "back-off {} restarting failed container={name}",
                        go_duration(backoff(exited_attempt))
                    ),
                },
            );
            requeue(out, delay.as_nanos() as i64);
            return;
        }
    }
    out.actions.push(Action::StartContainer { name: name.to_string(), init, attempt });
}

fn requeue(out: &mut Plan, nanos: i64) {
    let d = Duration::from_nanos(nanos.max(0) as u64);
    out.requeue_after = Some(out.requeue_after.map_or(d, |r| r.min(d)));
}

#[cfg(test)]
mod tests;
