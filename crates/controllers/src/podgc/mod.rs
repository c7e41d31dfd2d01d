//! The pod garbage collector: removes finished pods beyond
//! `--terminated-pod-gc-threshold` (oldest first), force-deletes pods bound
//! to nodes that no longer exist (after a quarantine and a live check),
//! pods being deleted that were never scheduled, and pods being deleted on
//! out-of-service nodes. Runs every 20 s and when a node goes away.

pub mod plan;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, Preconditions};
use kube::Api;

use plan::{plan, update_missing, Reason};

use crate::replicaset::{ignore_gone, is_gone};
use crate::runtime::{Change, Context, Controller, Informer, Outcome, Registration, SyncError, WorkQueue};

pub const POD_GC: Registration =
    Registration { name: "podgc", workers: 1, build: |ctx, q| Arc::new(PodGc::new(ctx, q)) };

/// Upstream's `gcCheckPeriod`.
const PERIOD: Duration = Duration::from_secs(20);
/// The one key this controller syncs.
const KEY: &str = "podgc";

pub struct PodGc {
    ctx: Context,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    missing_since: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl PodGc {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> PodGc {
        let pods = ctx.informers.informer::<Pod>();
        let nodes = ctx.informers.informer::<Node>();
        {
            let queue = queue.clone();
            nodes.on_change(move |c| {
                if let Change::Deleted(_) = c {
                    queue.add(KEY.to_string());
                }
            });
        }
        // The first pass, as soon as the workers start.
        queue.add(KEY.to_string());
        PodGc { ctx: ctx.clone(), pods, nodes, missing_since: Mutex::default() }
    }

    /// Whether `node` is really gone (the informer may lag): a live GET.
    async fn node_gone(&self, node: &str) -> Result<bool, SyncError> {
        let api: Api<Node> = Api::all(self.ctx.client.clone());
        Ok(api.get_opt(node).await?.is_none())
    }
}

#[async_trait::async_trait]
impl Controller for PodGc {
    async fn sync(&self, _key: &str) -> Result<Outcome, SyncError> {
        let pods = self.pods.list();
        let pods: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let nodes = self.nodes.list();
        let by_name: HashMap<String, &Node> =
            nodes.iter().map(|n| (n.metadata.name.clone().unwrap_or_default(), n.as_ref())).collect();
        let due = {
            let mut missing = self.missing_since.lock().expect("podgc lock");
            update_missing(&mut missing, &pods, &by_name, self.ctx.clock.now())
        };
        let mut confirmed = Vec::new();
        for node in due {
            if self.node_gone(&node).await? {
                confirmed.push(node);
            }
        }
        let threshold = self.ctx.terminated_pod_gc_threshold;
        for c in plan(&pods, &by_name, &confirmed, threshold) {
            let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &c.namespace);
            let force = c.reason != Reason::Terminated;
            if let Reason::Orphaned { node } = &c.reason {
                // Upstream marks the pod Failed first, so its controller counts it.
                let status = serde_json::json!({"status": {"phase": "Failed", "conditions": [{
                    "type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                    "message": format!("PodGC: node {node} no longer exists"),
                    "lastTransitionTime": self.ctx.clock.now(),
                }]}});
                ignore_gone(
                    api.patch_status(&c.name, &crate::runtime::patch_params(), &Patch::Strategic(&status)).await,
                )?;
            }
            let params = DeleteParams {
                grace_period_seconds: force.then_some(0),
                preconditions: Some(Preconditions { uid: Some(c.uid.clone()), resource_version: None }),
                ..Default::default()
            };
            match api.delete(&c.name, &params).await {
                Ok(_) => {
                    tracing::info!(namespace = %c.namespace, pod = %c.name, reason = ?c.reason, "pod GC deleted pod")
                }
                Err(e) if is_gone(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Outcome::RequeueAfter(PERIOD))
    }
}
