//! `postStart` and `preStop` lifecycle hooks: exec (CRI ExecSync in the
//! container), httpGet (from the agent to the pod IP, as probes), sleep. What a
//! failed hook means is the caller's: a failed postStart kills the container
//! (`FailedPostStartHook`), a failed preStop is logged and termination goes on.

use std::time::Duration;

use tokio::time::Instant;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Probe};

use super::probe::{self, Prober};
use crate::runtime::RuntimeService;

/// Upstream's floor for the SIGTERM → SIGKILL wait after a preStop hook.
pub const MIN_GRACE_AFTER_HOOK: i64 = 2;

/// Which hook of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    PostStart,
    PreStop,
}

/// The container's handler for `hook`, if it has one.
pub fn handler(c: &Container, hook: Hook) -> Option<&LifecycleHandler> {
    let l = c.lifecycle.as_ref()?;
    match hook {
        Hook::PostStart => l.post_start.as_ref(),
        Hook::PreStop => l.pre_stop.as_ref(),
    }
}

/// The seconds left for SIGTERM → SIGKILL once a preStop hook took `spent` of
/// the pod's `grace` (never less than upstream's 2 s floor).
pub fn grace_after_hook(grace: i64, spent: Duration) -> i64 {
    (grace - spent.as_secs() as i64).max(MIN_GRACE_AFTER_HOOK)
}

/// Runs one hook, waiting at most `timeout`.
///
/// # Errors
/// What failed: the command's exit code or output, the HTTP answer, a timeout.
pub async fn run(
    rt: &dyn RuntimeService,
    net: &dyn Prober,
    container_id: &str,
    c: &Container,
    h: &LifecycleHandler,
    pod_ip: &str,
    timeout: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    if let Some(e) = &h.exec {
        let cmd = e.command.clone().unwrap_or_default();
        let secs = timeout.as_secs().max(1) as i64;
        return match rt.exec_sync(container_id, cmd.clone(), secs).await {
            Ok(r) if r.exit_code == 0 => Ok(()),
            Ok(r) => Err(format!(
                "command {cmd:?} exited with {}: {}",
                r.exit_code,
                String::from_utf8_lossy(if r.stderr.is_empty() { &r.stdout } else { &r.stderr }).trim()
            )),
            Err(e) => Err(format!("command {cmd:?}: {e}")),
        };
    }
    if let Some(get) = &h.http_get {
        // The same request a probe makes; a hook's answer must be 2xx/3xx too.
        let p = Probe {
            http_get: Some(get.clone()),
            timeout_seconds: Some(timeout.as_secs().max(1) as i32),
            ..Default::default()
        };
        return if probe::run_probe(rt, net, container_id, c, &p, pod_ip).await.is_ok() {
            Ok(())
        } else {
            Err(format!("HTTP GET {} on port {:?} failed", get.path.as_deref().unwrap_or("/"), get.port))
        };
    }
    if let Some(s) = &h.sleep {
        let want = Duration::from_secs(s.seconds.max(0) as u64).min(timeout.saturating_sub(started.elapsed()));
        tokio::time::sleep(want).await;
        return Ok(());
    }
    Err("no handler (exec, httpGet or sleep) in the hook".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{FakeConfig, FakeRuntime};
    use k8s_openapi::api::core::v1::{ExecAction, Lifecycle, SleepAction};

    #[test]
    fn grace_left_after_the_hook_has_a_floor() {
        assert_eq!(grace_after_hook(30, Duration::from_secs(10)), 20);
        assert_eq!(grace_after_hook(5, Duration::from_secs(10)), 2);
    }

    #[test]
    fn handlers_by_hook() {
        let h = LifecycleHandler { sleep: Some(SleepAction { seconds: 1 }), ..Default::default() };
        let c = Container {
            lifecycle: Some(Lifecycle { pre_stop: Some(h.clone()), ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(handler(&c, Hook::PreStop), Some(&h));
        assert_eq!(handler(&c, Hook::PostStart), None);
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_is_bounded_by_the_timeout_and_exec_needs_a_container() {
        let rt = FakeRuntime::new(FakeConfig::default());
        let c = Container::default();
        let h = LifecycleHandler { sleep: Some(SleepAction { seconds: 600 }), ..Default::default() };
        let before = tokio::time::Instant::now();
        assert_eq!(run(&rt, &probe::HollowProber, "x", &c, &h, "", Duration::from_secs(5)).await, Ok(()));
        assert_eq!(tokio::time::Instant::now() - before, Duration::from_secs(5));
        let exec =
            LifecycleHandler { exec: Some(ExecAction { command: Some(vec!["true".into()]) }), ..Default::default() };
        assert!(run(&rt, &probe::HollowProber, "missing", &c, &exec, "", Duration::from_secs(5))
            .await
            .unwrap_err()
            .contains("not found"));
    }
}
