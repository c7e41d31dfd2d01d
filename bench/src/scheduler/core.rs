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
    /// FNV-1a over every (pod, node) binding in decision order: equal digests mean
    /// identical decisions, so a change to the core can be checked to move no pod.
    pub placements_digest: String,
}

fn fnv1a(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
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
    let mut digest = 0xcbf2_9ce4_8422_2325u64;
    while let Some(action) = core.schedule_next(Instant::now()) {
        if let Action::Bind { pod, node } = action {
            fnv1a(&mut digest, pod.name.as_bytes());
            fnv1a(&mut digest, b"\0");
            fnv1a(&mut digest, node.as_bytes());
            fnv1a(&mut digest, b"\n");
            core.bind_finished(&pod.uid, true, false, Instant::now());
            placed += 1;
        }
    }
    let cpu = super::server::cpu_seconds("self") - cpu_before;
    Ok(CoreRun {
        decisions_per_s: pods as f64 / started.elapsed().as_secs_f64(),
        cpu_us_per_decision: cpu * 1e6 / pods as f64,
        placed,
        placements_digest: format!("{digest:016x}"),
    })
}
