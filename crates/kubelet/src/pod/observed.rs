//! What the runtime has for one pod, reduced to what the sync core needs. Built
//! from CRI lists by [`observe`] (the only I/O here).

use std::collections::HashMap;

use crate::cri;
use crate::runtime::{Result, RuntimeService};

/// CRI labels skiff (like upstream's kubelet) puts on sandboxes and containers.
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxObs {
    pub id: String,
    pub attempt: u32,
    pub ready: bool,
    pub ip: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerPhase {
    Created,
    Running,
    Exited,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerObs {
    pub id: String,
    pub sandbox_id: String,
    pub name: String,
    pub attempt: u32,
    pub phase: ContainerPhase,
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    pub created_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub image: String,
    pub image_ref: String,
}

/// Everything the runtime runs for one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub sandboxes: Vec<SandboxObs>,
    pub containers: Vec<ContainerObs>,
}

impl Observed {
    /// The newest sandbox (highest attempt, then newest).
    pub fn current_sandbox(&self) -> Option<&SandboxObs> {
        self.sandboxes.iter().max_by_key(|s| (s.attempt, s.created_at))
    }

    /// The newest instance of container `name` in sandbox `sandbox_id`.
    pub fn latest(&self, sandbox_id: &str, name: &str) -> Option<&ContainerObs> {
        self.containers
            .iter()
            .filter(|c| c.sandbox_id == sandbox_id && c.name == name)
            .max_by_key(|c| (c.attempt, c.created_at))
    }

    /// The newest instance of `name` in any sandbox (for status after the
    /// sandbox is gone).
    pub fn latest_anywhere(&self, name: &str) -> Option<&ContainerObs> {
        self.containers.iter().filter(|c| c.name == name).max_by_key(|c| (c.created_at, c.attempt))
    }

    pub fn any_running(&self) -> bool {
        self.containers.iter().any(|c| c.phase == ContainerPhase::Running)
    }
}

fn phase_of(state: i32) -> ContainerPhase {
    match cri::ContainerState::try_from(state) {
        Ok(cri::ContainerState::ContainerCreated) => ContainerPhase::Created,
        Ok(cri::ContainerState::ContainerRunning) => ContainerPhase::Running,
        Ok(cri::ContainerState::ContainerExited) => ContainerPhase::Exited,
        _ => ContainerPhase::Unknown,
    }
}

/// Reads the sandboxes and containers labelled with `pod_uid`.
pub async fn observe(rt: &dyn RuntimeService, pod_uid: &str) -> Result<Observed> {
    let selector = HashMap::from([(LABEL_POD_UID.to_string(), pod_uid.to_string())]);
    let sandboxes = rt
        .list_pod_sandbox(Some(cri::PodSandboxFilter { label_selector: selector.clone(), ..Default::default() }))
        .await?;
    let mut out = Observed::default();
    for sb in sandboxes {
        let ready = sb.state == cri::PodSandboxState::SandboxReady as i32;
        let ip = if ready {
            match rt.pod_sandbox_status(&sb.id).await {
                Ok(st) => st.network.map(|n| n.ip).unwrap_or_default(),
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        } else {
            String::new()
        };
        out.sandboxes.push(SandboxObs {
            attempt: sb.metadata.as_ref().map(|m| m.attempt).unwrap_or(0),
            id: sb.id,
            ready,
            ip,
            created_at: sb.created_at,
        });
    }
    let containers =
        rt.list_containers(Some(cri::ContainerFilter { label_selector: selector, ..Default::default() })).await?;
    for c in containers {
        let st = match rt.container_status(&c.id).await {
            Ok(st) => st,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        out.containers.push(ContainerObs {
            id: c.id,
            sandbox_id: c.pod_sandbox_id,
            name: c.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default(),
            attempt: c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0),
            phase: phase_of(st.state),
            exit_code: st.exit_code,
            reason: st.reason,
            message: st.message,
            created_at: st.created_at,
            started_at: st.started_at,
            finished_at: st.finished_at,
            image: st.image.map(|i| i.image).unwrap_or_default(),
            image_ref: st.image_ref,
        });
    }
    Ok(out)
}
