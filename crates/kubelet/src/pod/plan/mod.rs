//! The pod sync core: from the desired pod and what the runtime has, the next
//! actions. Pure — no I/O, time passed in — so every rule is unit-tested.
//!
//! Order as upstream: a ready sandbox first; init containers one at a time, each
//! to successful completion; then every app container. Restarts follow
//! `restartPolicy` with exponential back-off (10 s doubling to 5 min). A pod being
//! deleted has its containers stopped within its grace period, then its sandbox,
//! and finally its API object removed.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use super::observed::{ContainerPhase, Observed};

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

/// Computes what to do next. `phase` is the phase the status core computes from
/// the same observation; `failures` are start failures the worker remembers.
pub fn plan(pod: &Pod, observed: &Observed, phase: &str, failures: &BTreeMap<String, StartFailure>, now: i64) -> Plan {
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
    for c in spec.init_containers.iter().flatten() {
        match observed.latest(&sandbox.id, &c.name) {
            None => {
                start_or_wait(&mut out, &c.name, true, 0, None, failures, now);
                return out;
            }
            Some(o) if o.phase == ContainerPhase::Exited && o.exit_code == 0 => continue,
            Some(o) if o.phase == ContainerPhase::Exited => {
                if policy != "Never" {
                    start_or_wait(
                        &mut out,
                        &c.name,
                        true,
                        o.attempt + 1,
                        Some((o.finished_at, o.attempt)),
                        failures,
                        now,
                    );
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
                start_or_wait(&mut out, &c.name, false, o.attempt + 1, Some((o.finished_at, o.attempt)), failures, now)
            }
            Some(_) => {}
        }
    }
    out
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
                        "back-off {}s restarting failed container={name}",
                        backoff(exited_attempt).as_secs()
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
