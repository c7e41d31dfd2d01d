//! The decision ceiling: the same nodes and pods fed straight into
//! `SchedulerCore`, no API server, every binding reported successful at once.

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::Pod;
use rand::SeedableRng;
use skiff_scheduler::{Action, SchedulerConfig, SchedulerCore};

use super::workload::{self, Shape};

/// What the pure core did.
pub struct CoreRun {
    pub decisions_per_s: f64,
    /// CPU time per decision: unlike the rate, barely moved by other load on the machine.
    pub cpu_us_per_decision: f64,
    pub placed: usize,
}

/// Runs the pure core over the workload.
pub fn run(nodes: usize, pods: usize, shape: Shape) -> anyhow::Result<CoreRun> {
    let mut core = SchedulerCore::new(SchedulerConfig::default(), Box::new(rand::rngs::StdRng::seed_from_u64(1)));
    let now = Instant::now();
    for i in 0..nodes {
        let mut node = workload::node(i);
        let status = workload::node_status();
        node.status = Some(serde_json::from_value(status["status"].clone())?);
        core.node_upserted(Arc::new(node), now);
    }
    for i in 0..pods {
        let mut pod: Pod = serde_json::from_value(workload::pod("core", i, shape))?;
        pod.metadata.uid = Some(format!("uid-{i}"));
        core.pod_upserted(Arc::new(pod), 0, now);
    }
    let started = Instant::now();
    let cpu_before = super::server::cpu_seconds("self");
    let mut placed = 0;
    while let Some(action) = core.schedule_next(Instant::now()) {
        if let Action::Bind { pod, .. } = action {
            core.bind_finished(&pod.uid, true, false, Instant::now());
            placed += 1;
        }
    }
    let cpu = super::server::cpu_seconds("self") - cpu_before;
    Ok(CoreRun {
        decisions_per_s: pods as f64 / started.elapsed().as_secs_f64(),
        cpu_us_per_decision: cpu * 1e6 / pods as f64,
        placed,
    })
}
