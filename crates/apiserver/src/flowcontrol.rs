//! Priority levels for requests in flight, a small explicit version of
//! upstream's API Priority and Fairness. Upstream puts the nodes' own writes
//! (their Node, its status, their Leases in `kube-node-lease`) in the
//! `system-node-high` level, so heartbeats get through while workload
//! requests are throttled: otherwise a burst of pod writes makes the server
//! answer lease renewals 429, and the node lifecycle controller marks healthy
//! nodes NotReady. Here each level has its own pool of in-flight slots;
//! [`classify`] is the pure part.
//!
//! A request that finds its pool full waits up to [`QUEUE_WAIT`] for a slot
//! (upstream queues too) before it gets 429 with `Retry-After`: a short burst
//! is absorbed instead of bouncing every client for a second.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::request::{ResourceRequest, Verb};

/// Workload requests handled at once (watches and other long-running requests excluded).
pub const WORKLOAD_SLOTS: usize = 600;
/// Node heartbeat requests handled at once.
pub const NODE_SLOTS: usize = 100;
/// How long a request waits for a slot before it is answered 429.
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);

/// The namespace of node Leases.
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// Which pool a request takes its slot from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// A node's heartbeat: reading or writing one Node (and its status) or
    /// one Lease in `kube-node-lease` (upstream's `system-node-high`).
    NodeHeartbeat,
    /// Everything else.
    Workload,
}

/// The level of a resource request. Lists and watches of nodes are not
/// heartbeats (a list of 5,000 nodes is no cheap request).
pub fn classify(req: &ResourceRequest) -> Level {
    let single = matches!(req.verb, Verb::Get | Verb::Create | Verb::Update | Verb::Patch);
    let node = req.group.is_empty() && req.resource == "nodes" && matches!(req.subresource.as_str(), "" | "status");
    let lease = req.group == "coordination.k8s.io"
        && req.resource == "leases"
        && req.namespace == NODE_LEASE_NAMESPACE
        && req.subresource.is_empty();
    if single && (node || lease) {
        Level::NodeHeartbeat
    } else {
        Level::Workload
    }
}

/// The in-flight pools.
pub struct FlowControl {
    workload: Semaphore,
    node: Semaphore,
}

/// Every slot of a level is taken and none came free within [`QUEUE_WAIT`].
#[derive(Debug, thiserror::Error)]
#[error("every in-flight slot of level {0:?} is taken")]
pub struct Rejected(pub Level);

impl Default for FlowControl {
    fn default() -> Self {
        FlowControl::new(WORKLOAD_SLOTS, NODE_SLOTS)
    }
}

impl FlowControl {
    pub fn new(workload: usize, node: usize) -> FlowControl {
        FlowControl { workload: Semaphore::new(workload), node: Semaphore::new(node) }
    }

    /// A slot of `level`'s pool, held until the permit drops.
    ///
    /// # Errors
    /// [`Rejected`] when none came free within `wait`.
    pub async fn admit(&self, level: Level, wait: Duration) -> Result<SemaphorePermit<'_>, Rejected> {
        let pool = match level {
            Level::NodeHeartbeat => &self.node,
            Level::Workload => &self.workload,
        };
        if let Ok(permit) = pool.try_acquire() {
            return Ok(permit);
        }
        match tokio::time::timeout(wait, pool.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Rejected(level)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(verb: Verb, group: &str, namespace: &str, resource: &str, name: &str, sub: &str) -> ResourceRequest {
        ResourceRequest {
            verb,
            group: group.into(),
            version: "v1".into(),
            namespace: namespace.into(),
            resource: resource.into(),
            name: name.into(),
            subresource: sub.into(),
        }
    }

    #[test]
    fn node_writes_and_node_leases_are_heartbeats() {
        for r in [
            req(Verb::Patch, "", "", "nodes", "n1", "status"),
            req(Verb::Update, "", "", "nodes", "n1", "status"),
            req(Verb::Get, "", "", "nodes", "n1", ""),
            req(Verb::Create, "", "", "nodes", "", ""),
            req(Verb::Update, "coordination.k8s.io", "kube-node-lease", "leases", "n1", ""),
            req(Verb::Create, "coordination.k8s.io", "kube-node-lease", "leases", "", ""),
        ] {
            assert_eq!(classify(&r), Level::NodeHeartbeat, "{r:?}");
        }
    }

    #[test]
    fn lists_other_leases_and_pods_are_workload() {
        for r in [
            req(Verb::List, "", "", "nodes", "", ""),
            req(Verb::Watch, "", "", "nodes", "", ""),
            req(Verb::Delete, "", "", "nodes", "n1", ""),
            req(Verb::Update, "coordination.k8s.io", "kube-system", "leases", "kube-scheduler", ""),
            req(Verb::List, "coordination.k8s.io", "kube-node-lease", "leases", "", ""),
            req(Verb::Patch, "", "default", "pods", "p", "status"),
            req(Verb::Get, "", "", "nodes", "n1", "proxy"),
        ] {
            assert_eq!(classify(&r), Level::Workload, "{r:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_pool_waits_then_rejects_and_leaves_the_other_pool_alone() {
        let fc = FlowControl::new(1, 1);
        let held = fc.admit(Level::Workload, QUEUE_WAIT).await.unwrap();
        assert!(fc.admit(Level::Workload, QUEUE_WAIT).await.is_err());
        // Heartbeats still get through.
        let beat = fc.admit(Level::NodeHeartbeat, QUEUE_WAIT).await.unwrap();
        drop(beat);
        // A slot freed while a request waits goes to it.
        let free_later = async move {
            tokio::time::sleep(QUEUE_WAIT / 2).await;
            drop(held);
        };
        let (waited, ()) = tokio::join!(fc.admit(Level::Workload, QUEUE_WAIT), free_later);
        assert!(waited.is_ok());
    }
}
