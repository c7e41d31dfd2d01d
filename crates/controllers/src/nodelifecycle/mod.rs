//! The node lifecycle controller: marks nodes whose kubelet went silent
//! `Ready=Unknown` after the grace period, keeps the `not-ready` /
//! `unreachable` taints in step with the Ready condition, marks the pods of a
//! lost node not ready, and evicts pods from `NoExecute`-tainted nodes when
//! their tolerations run out (upstream's node lifecycle and taint eviction
//! controllers).

pub mod eviction;
pub mod health;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, Preconditions};
use kube::Api;

use health::{decide, observe, Health};

use crate::replicaset::{ignore_gone, is_gone};
use crate::runtime::{
    object_ref, Context, Controller, Informer, Outcome, Recorder, Registration, SyncError, WorkQueue,
};

pub const NODE_LIFECYCLE: Registration =
    Registration { name: "nodelifecycle", workers: 2, build: |ctx, q| Arc::new(NodeLifecycleController::new(ctx, q)) };

/// Where kubelets keep their Leases.
const LEASE_NAMESPACE: &str = "kube-node-lease";

pub struct NodeLifecycleController {
    ctx: Context,
    nodes: Informer<Node>,
    leases: Informer<Lease>,
    pods: Informer<Pod>,
    health: Mutex<HashMap<String, Health>>,
    recorder: Recorder,
}

fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref().filter(|n| !n.is_empty())
}

fn has_no_execute(node: &Node) -> bool {
    node.spec.as_ref().and_then(|s| s.taints.as_ref()).is_some_and(|ts| ts.iter().any(|t| t.effect == "NoExecute"))
}

impl NodeLifecycleController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> NodeLifecycleController {
        let nodes = ctx.informers.informer::<Node>();
        let leases = ctx.informers.informer::<Lease>();
        let pods = ctx.informers.informer::<Pod>();
        {
            let queue = queue.clone();
            nodes.on_change(move |c| queue.add(c.object().metadata.name.clone().unwrap_or_default()));
        }
        {
            let queue = queue.clone();
            leases.on_change(move |c| {
                let lease = c.object();
                if lease.metadata.namespace.as_deref() == Some(LEASE_NAMESPACE) {
                    queue.add(lease.metadata.name.clone().unwrap_or_default());
                }
            });
        }
        {
            let (queue, nodes) = (queue.clone(), nodes.clone());
            pods.on_change(move |c| {
                // A pod landing on (or tolerating less on) a tainted node.
                if let Some(node) = node_name(c.object()) {
                    if nodes.get("", node).is_some_and(|n| has_no_execute(&n)) {
                        queue.add(node.to_string());
                    }
                }
            });
        }
        let recorder = ctx.recorder.with_component("node-controller");
        NodeLifecycleController { ctx: ctx.clone(), nodes, leases, pods, health: Mutex::default(), recorder }
    }

    /// Sets Ready=False on the node's ready pods (upstream's `MarkPodsNotReady`),
    /// so Services stop sending them traffic.
    async fn mark_pods_not_ready(&self, pods: &[Arc<Pod>]) -> Result<(), SyncError> {
        let now = self.ctx.clock.now();
        for pod in pods {
            let Some(mut conditions) = pod.status.as_ref().and_then(|s| s.conditions.clone()) else { continue };
            let Some(ready) = conditions.iter_mut().find(|c| c.type_ == "Ready" && c.status == "True") else {
                continue;
            };
            ready.status = "False".into();
            ready.last_transition_time = Some(Time(now));
            let api: Api<Pod> =
                Api::namespaced(self.ctx.client.clone(), pod.metadata.namespace.as_deref().unwrap_or(""));
            let patch = serde_json::json!({"status": {"conditions": conditions}});
            let name = pod.metadata.name.as_deref().unwrap_or("");
            ignore_gone(api.patch_status(name, &crate::runtime::patch_params(), &Patch::Merge(&patch)).await)?;
        }
        Ok(())
    }

    /// Deletes the pods whose tolerations of the node's `NoExecute` taints ran
    /// out; returns when the next one is due.
    async fn evict(&self, node: &Node, pods: &[Arc<Pod>]) -> Result<Option<Duration>, SyncError> {
        let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        let now = self.ctx.clock.now();
        let mut next: Option<Duration> = None;
        for pod in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
            let Some(at) = eviction::eviction_time(pod, &taints, now) else { continue };
            if at > now {
                let wait = (at - now).to_std().unwrap_or_default();
                next = Some(next.map_or(wait, |n| n.min(wait)));
                continue;
            }
            let ns = pod.metadata.namespace.as_deref().unwrap_or("");
            let name = pod.metadata.name.as_deref().unwrap_or("");
            let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), ns);
            let params = DeleteParams {
                preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
                ..Default::default()
            };
            match api.delete(name, &params).await {
                Ok(_) => self.recorder.normal(
                    object_ref(pod.as_ref()),
                    "TaintManagerEviction",
                    format!("Marking for deletion Pod {ns}/{name}"),
                ),
                Err(e) if is_gone(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(next)
    }
}

#[async_trait::async_trait]
impl Controller for NodeLifecycleController {
    async fn sync(&self, name: &str) -> Result<Outcome, SyncError> {
        let Some(node) = self.nodes.get("", name) else {
            self.health.lock().expect("health lock").remove(name);
            return Ok(Outcome::Done);
        };
        let now = self.ctx.clock.now();
        let lease = self.leases.get(LEASE_NAMESPACE, name);
        let health = {
            let mut map = self.health.lock().expect("health lock");
            let health = observe(map.get(name), &node, lease.as_deref(), now);
            map.insert(name.to_string(), health.clone());
            health
        };
        let plan = decide(&node, &health, now, self.ctx.node_monitor_grace_period);
        let api: Api<Node> = Api::all(self.ctx.client.clone());
        let pp = crate::runtime::patch_params();
        let mut node = (*node).clone();
        if let Some(taints) = &plan.taints {
            let patch = serde_json::json!({"spec": {"taints": taints}});
            ignore_gone(api.patch(name, &pp, &Patch::Merge(&patch)).await)?;
            node.spec.get_or_insert_with(Default::default).taints = Some(taints.clone());
        }
        if let Some(conditions) = &plan.conditions {
            let patch = serde_json::json!({"status": {"conditions": conditions}});
            ignore_gone(api.patch_status(name, &pp, &Patch::Merge(&patch)).await)?;
            self.recorder.normal(object_ref(&node), "NodeNotReady", format!("Node {name} status is now: NodeNotReady"));
        }
        let pods: Vec<Arc<Pod>> = self.pods.list().into_iter().filter(|p| node_name(p) == Some(name)).collect();
        if plan.mark_pods_not_ready {
            self.mark_pods_not_ready(&pods).await?;
        }
        let evict_next = self.evict(&node, &pods).await?;
        let next = match (plan.requeue_after, evict_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(next.map_or(Outcome::Done, Outcome::RequeueAfter))
    }
}
