//! The pod status the kubelet writes, computed from the pod and what the runtime
//! has — pure, as upstream's `generateAPIPodStatus`: phase, conditions,
//! container statuses, pod IPs, host IP, start time.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::observed::{ContainerObs, ContainerPhase, Observed};
use super::plan::{is_sidecar, should_restart, Waiting};

/// What the probes say about one running container (by container id); a
/// container without an entry is ready and started as soon as it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeView {
    pub ready: bool,
    pub started: bool,
}

/// The runtime prefix of container ids in statuses.
pub const RUNTIME_SCHEME: &str = "containerd://";

fn time(nanos: i64) -> Option<Time> {
    (nanos > 0).then(|| Time(Utc.timestamp_nanos(nanos)))
}

fn terminated(o: &ContainerObs) -> ContainerStateTerminated {
    let reason = if !o.reason.is_empty() {
        o.reason.clone()
    } else if o.exit_code == 0 {
        "Completed".into()
    } else {
        "Error".into()
    };
    ContainerStateTerminated {
        exit_code: o.exit_code,
        reason: Some(reason),
        message: (!o.message.is_empty()).then(|| o.message.clone()),
        started_at: time(o.started_at),
        finished_at: time(o.finished_at),
        container_id: Some(format!("{RUNTIME_SCHEME}{}", o.id)),
        signal: None,
    }
}

fn waiting_state(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.into()),
            message: message.filter(|m| !m.is_empty()),
        }),
        ..Default::default()
    }
}

struct Ctx<'a> {
    observed: &'a Observed,
    sandbox: Option<&'a str>,
    waiting: &'a BTreeMap<String, Waiting>,
    policy: &'a str,
    probes: &'a BTreeMap<String, ProbeView>,
}

impl Ctx<'_> {
    fn latest(&self, name: &str) -> Option<&ContainerObs> {
        match self.sandbox {
            Some(sb) => self.observed.latest(sb, name).or_else(|| self.observed.latest_anywhere(name)),
            None => self.observed.latest_anywhere(name),
        }
    }

    fn previous(&self, o: &ContainerObs) -> Option<&ContainerObs> {
        self.observed
            .containers
            .iter()
            .filter(|c| {
                c.name == o.name && c.id != o.id && c.phase == ContainerPhase::Exited && c.created_at <= o.created_at
            })
            .max_by_key(|c| (c.created_at, c.attempt))
    }

    fn status(&self, c: &Container, default_waiting: &str) -> ContainerStatus {
        let latest = self.latest(&c.name);
        let held = self.waiting.get(&c.name);
        let (state, last) = match latest {
            Some(o) if o.phase == ContainerPhase::Running => (
                ContainerState {
                    running: Some(ContainerStateRunning { started_at: time(o.started_at) }),
                    ..Default::default()
                },
                self.previous(o).map(terminated),
            ),
            Some(o) if o.phase == ContainerPhase::Exited => match held {
                // Waiting to restart: upstream shows Waiting with the exit as lastState.
                Some(w) => (waiting_state(&w.reason, Some(w.message.clone())), Some(terminated(o))),
                None => (
                    ContainerState { terminated: Some(terminated(o)), ..Default::default() },
                    self.previous(o).map(terminated),
                ),
            },
            Some(o) => {
                let (reason, message) =
                    held.map(|w| (w.reason.as_str(), Some(w.message.clone()))).unwrap_or(("ContainerCreating", None));
                (waiting_state(reason, message), self.previous(o).map(terminated))
            }
            None => {
                let (reason, message) =
                    held.map(|w| (w.reason.as_str(), Some(w.message.clone()))).unwrap_or((default_waiting, None));
                (waiting_state(reason, message), None)
            }
        };
        let running = state.running.is_some();
        ContainerStatus {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            image_id: latest.map(|o| o.image_ref.clone()).unwrap_or_default(),
            container_id: latest.map(|o| format!("{RUNTIME_SCHEME}{}", o.id)),
            restart_count: latest.map(|o| o.attempt as i32).unwrap_or(0),
            ready: running && latest.and_then(|o| self.probes.get(&o.id)).is_none_or(|p| p.ready),
            started: Some(running && latest.and_then(|o| self.probes.get(&o.id)).is_none_or(|p| p.started)),
            state: Some(state),
            last_state: Some(
                last.map(|t| ContainerState { terminated: Some(t), ..Default::default() }).unwrap_or_default(),
            ),
            ..Default::default()
        }
    }
}

/// Whether the pod is initialized: every regular init container completed
/// successfully and every sidecar started (once the app containers began,
/// a sidecar restarting does not undo it).
fn initialized(pod: &Pod, ctx: &Ctx<'_>) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return true };
    let apps_began = spec.containers.iter().any(|c| ctx.latest(&c.name).is_some());
    spec.init_containers.iter().flatten().all(|c| match ctx.latest(&c.name) {
        Some(o) if is_sidecar(c) => {
            apps_began
                || o.phase == ContainerPhase::Exited
                || (o.phase == ContainerPhase::Running && ctx.probes.get(&o.id).is_none_or(|p| p.started))
        }
        Some(o) => o.phase == ContainerPhase::Exited && o.exit_code == 0,
        None => false,
    })
}

/// The phase, by upstream's rules (`getPhase`).
fn phase(pod: &Pod, ctx: &Ctx<'_>, init_statuses: &[ContainerStatus], statuses: &[ContainerStatus]) -> &'static str {
    // A sidecar that exits is restarted whatever the pod's policy: only regular
    // init containers fail a pod.
    let sidecar = |name: &str| {
        pod.spec.iter().flat_map(|s| s.init_containers.iter().flatten()).any(|c| c.name == name && is_sidecar(c))
    };
    let failed_init = init_statuses.iter().any(|s| {
        !sidecar(&s.name) && s.state.as_ref().and_then(|st| st.terminated.as_ref()).is_some_and(|t| t.exit_code != 0)
    });
    if failed_init && ctx.policy == "Never" {
        return "Failed";
    }
    if !initialized(pod, ctx) {
        return "Pending";
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in statuses {
        let st = s.state.as_ref();
        if st.and_then(|s| s.running.as_ref()).is_some() {
            running += 1;
        } else if let Some(t) = st.and_then(|s| s.terminated.as_ref()) {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if s.last_state.as_ref().and_then(|l| l.terminated.as_ref()).is_some() {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        return match ctx.policy {
            "Always" => "Running",
            "OnFailure" if succeeded < stopped => "Running",
            _ if succeeded == stopped => "Succeeded",
            _ => "Failed",
        };
    }
    "Pending"
}

fn condition(type_: &str, ok: bool, reason: Option<&str>, old: &PodStatus, now: &Time) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let previous = old.conditions.iter().flatten().find(|c| c.type_ == type_);
    let transition = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Some(now.clone()),
    };
    PodCondition {
        type_: type_.into(),
        status: status.into(),
        reason: if ok { None } else { reason.map(String::from) },
        last_transition_time: transition,
        ..Default::default()
    }
}

/// The status to write. `waiting` holds containers the sync core is holding
/// back (back-off, image pull errors); `now` stamps condition transitions and
/// the first `startTime`.
pub fn pod_status(
    pod: &Pod,
    observed: &Observed,
    waiting: &BTreeMap<String, Waiting>,
    probes: &BTreeMap<String, ProbeView>,
    host_ip: &str,
    now: DateTime<Utc>,
) -> PodStatus {
    let old = pod.status.clone().unwrap_or_default();
    let now = Time(now);
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let sandbox = observed.current_sandbox().filter(|s| s.ready);
    let ctx = Ctx { observed, sandbox: sandbox.map(|s| s.id.as_str()), waiting, policy, probes };
    let inited = initialized(pod, &ctx);
    let init_statuses: Vec<_> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            let mut s = ctx.status(c, "PodInitializing");
            if !is_sidecar(c) {
                // As upstream: a regular init container is ready once it completed.
                s.ready = s.state.as_ref().and_then(|st| st.terminated.as_ref()).is_some_and(|t| t.exit_code == 0);
            }
            s
        })
        .collect();
    let app_waiting = if inited { "ContainerCreating" } else { "PodInitializing" };
    let statuses: Vec<_> = spec.containers.iter().map(|c| ctx.status(c, app_waiting)).collect();
    let mut phase = phase(pod, &ctx, &init_statuses, &statuses);
    // Once terminal, always terminal: a pod never comes back from Succeeded/Failed.
    if let Some(old_phase) = old.phase.as_deref().filter(|p| super::plan::is_terminal(p)) {
        phase = if old_phase == "Failed" { "Failed" } else { "Succeeded" };
    }
    // Sidecars count for readiness like app containers (upstream 1.29+).
    let sidecars_ready =
        spec.init_containers.iter().flatten().zip(&init_statuses).all(|(c, s)| !is_sidecar(c) || s.ready);
    let all_ready = statuses.iter().all(|s| s.ready) && sidecars_ready;
    let not_ready = if phase == "Succeeded" || phase == "Failed" { "PodCompleted" } else { "ContainersNotReady" };
    let scheduled =
        old.conditions.iter().flatten().find(|c| c.type_ == "PodScheduled").cloned().unwrap_or(PodCondition {
            type_: "PodScheduled".into(),
            status: "True".into(),
            last_transition_time: Some(now.clone()),
            ..Default::default()
        });
    let conditions = vec![
        condition("PodReadyToStartContainers", sandbox.is_some(), None, &old, &now),
        condition("Initialized", inited, Some("ContainersNotInitialized"), &old, &now),
        condition("Ready", all_ready && sandbox.is_some(), Some(not_ready), &old, &now),
        condition("ContainersReady", all_ready && sandbox.is_some(), Some(not_ready), &old, &now),
        scheduled,
    ];
    let ip = sandbox.map(|s| s.ip.clone()).filter(|ip| !ip.is_empty()).or_else(|| old.pod_ip.clone());
    let host = (!host_ip.is_empty()).then(|| host_ip.to_string());
    PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conditions),
        host_ip: host.clone(),
        host_ips: host.map(|ip| vec![HostIP { ip }]),
        pod_ip: ip.clone(),
        pod_ips: ip.map(|ip| vec![PodIP { ip }]),
        start_time: old.start_time.clone().or(Some(now)),
        container_statuses: Some(statuses),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        qos_class: old.qos_class.clone(),
        ..Default::default()
    }
}

/// Whether a container status says its container will not run again.
pub fn finished(policy: &str, s: &ContainerStatus) -> bool {
    s.state.as_ref().and_then(|st| st.terminated.as_ref()).is_some_and(|t| !should_restart(policy, t.exit_code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::observed::SandboxObs;

    fn obs(containers: &[(&str, ContainerPhase, i32)]) -> Observed {
        Observed {
            sandboxes: vec![SandboxObs {
                id: "sb".into(),
                attempt: 0,
                ready: true,
                ip: "10.42.0.5".into(),
                created_at: 1,
            }],
            containers: containers
                .iter()
                .map(|(name, phase, exit_code)| ContainerObs {
                    id: name.to_string(),
                    sandbox_id: "sb".into(),
                    name: name.to_string(),
                    attempt: 0,
                    phase: *phase,
                    exit_code: *exit_code,
                    reason: String::new(),
                    message: String::new(),
                    created_at: 1,
                    started_at: 1,
                    finished_at: 2,
                    image: "busybox".into(),
                    image_ref: "sha256:x".into(),
                })
                .collect(),
        }
    }

    fn condition_of(st: &PodStatus, type_: &str) -> String {
        st.conditions.iter().flatten().find(|c| c.type_ == type_).map(|c| c.status.clone()).unwrap_or_default()
    }

    #[test]
    fn sidecars_count_in_init_statuses_and_readiness() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"restartPolicy": "Never",
                     "initContainers": [{"name": "i", "image": "b"}, {"name": "s", "image": "b", "restartPolicy": "Always"}],
                     "containers": [{"name": "a", "image": "b"}]}
        }))
        .unwrap();
        let none: BTreeMap<String, Waiting> = BTreeMap::new();
        let no_probes: BTreeMap<String, ProbeView> = BTreeMap::new();
        let now = Utc::now();
        // The sidecar runs but its startup probe has not passed: not initialized.
        let o = obs(&[("i", ContainerPhase::Exited, 0), ("s", ContainerPhase::Running, 0)]);
        let probing = BTreeMap::from([("s".to_string(), ProbeView { ready: false, started: false })]);
        let st = pod_status(&pod, &o, &none, &probing, "", now);
        assert_eq!(condition_of(&st, "Initialized"), "False");
        let inits = st.init_container_statuses.clone().unwrap();
        assert_eq!((inits[0].ready, inits[1].started, inits[1].ready), (true, Some(false), false));
        // Started: initialized; the app runs but the unready sidecar keeps the pod unready.
        let o = obs(&[
            ("i", ContainerPhase::Exited, 0),
            ("s", ContainerPhase::Running, 0),
            ("a", ContainerPhase::Running, 0),
        ]);
        let unready = BTreeMap::from([("s".to_string(), ProbeView { ready: false, started: true })]);
        let st = pod_status(&pod, &o, &none, &unready, "", now);
        assert_eq!((st.phase.as_deref(), condition_of(&st, "Initialized")), (Some("Running"), "True".into()));
        assert_eq!(condition_of(&st, "Ready"), "False");
        assert_eq!(condition_of(&pod_status(&pod, &o, &none, &no_probes, "", now), "Ready"), "True");
        // The app finished; a sidecar killed on the way out does not fail the pod.
        let o = obs(&[
            ("i", ContainerPhase::Exited, 0),
            ("s", ContainerPhase::Exited, 137),
            ("a", ContainerPhase::Exited, 0),
        ]);
        assert_eq!(pod_status(&pod, &o, &none, &no_probes, "", now).phase.as_deref(), Some("Succeeded"));
    }
}
