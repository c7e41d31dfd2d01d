//! The disruption controller: keeps each PodDisruptionBudget's status
//! (`expectedPods`, `currentHealthy`, `desiredHealthy`, `disruptionsAllowed`,
//! `disruptedPods`, the `DisruptionAllowed` condition) current, so the
//! eviction subresource can refuse evictions that would break a budget.

pub mod reconcile;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;

use reconcile::{reconcile, ControllerRef};

use crate::replicaset::is_gone;
use crate::runtime::selector::Selector;
use crate::runtime::{
    key_of, owner, split_key, Change, Context, Controller, Informer, Outcome, Registration, SyncError, WorkQueue,
};

pub const DISRUPTION: Registration =
    Registration { name: "disruption", workers: 2, build: |ctx, q| Arc::new(DisruptionController::new(ctx, q)) };

pub struct DisruptionController {
    ctx: Context,
    budgets: Informer<PodDisruptionBudget>,
    pods: Informer<Pod>,
    replica_sets: Informer<ReplicaSet>,
    deployments: Informer<Deployment>,
    controllers: Informer<ReplicationController>,
    stateful_sets: Informer<StatefulSet>,
}

/// policy/v1: an empty selector selects every pod of the namespace.
fn selector(pdb: &PodDisruptionBudget) -> Selector {
    Selector::from_label_selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
}

impl DisruptionController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> DisruptionController {
        let budgets = ctx.informers.informer::<PodDisruptionBudget>();
        let pods = ctx.informers.informer::<Pod>();
        {
            let queue = queue.clone();
            budgets.on_change(move |c| queue.add(key_of(c.object().as_ref())));
        }
        {
            let (queue, budgets) = (queue.clone(), budgets.clone());
            pods.on_change(move |c| {
                let mut labels = vec![c.object().metadata.labels.as_ref()];
                if let Change::Updated { old, .. } = c {
                    labels.push(old.metadata.labels.as_ref());
                }
                let ns = c.object().metadata.namespace.as_deref().unwrap_or("");
                for pdb in budgets.list_namespace(ns) {
                    let s = selector(&pdb);
                    if labels.iter().any(|l| s.matches(*l)) {
                        queue.add(key_of(pdb.as_ref()));
                    }
                }
            });
        }
        DisruptionController {
            ctx: ctx.clone(),
            budgets,
            pods,
            replica_sets: ctx.informers.informer(),
            deployments: ctx.informers.informer(),
            controllers: ctx.informers.informer(),
            stateful_sets: ctx.informers.informer(),
        }
    }

    /// The desired replicas of a pod's controller, resolving a ReplicaSet to
    /// the Deployment that controls it (upstream's finders).
    fn scale(&self, ns: &str, c: &ControllerRef) -> Option<i32> {
        let matches = |uid: Option<&String>| uid.map(String::as_str) == Some(c.uid.as_str());
        match c.kind.as_str() {
            "ReplicaSet" => {
                let rs = self.replica_sets.get(ns, &c.name).filter(|r| matches(r.metadata.uid.as_ref()))?;
                if let Some(d) = owner::controller_of(&rs.metadata).filter(|o| o.kind == "Deployment") {
                    let d = self
                        .deployments
                        .get(ns, &d.name)
                        .filter(|x| x.metadata.uid.as_deref() == Some(d.uid.as_str()))?;
                    return Some(d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1));
                }
                Some(rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
            }
            "ReplicationController" => {
                let rc = self.controllers.get(ns, &c.name).filter(|r| matches(r.metadata.uid.as_ref()))?;
                Some(rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
            }
            "StatefulSet" => {
                let ss = self.stateful_sets.get(ns, &c.name).filter(|r| matches(r.metadata.uid.as_ref()))?;
                Some(ss.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
            }
            _ => None,
        }
    }
}

#[async_trait::async_trait]
impl Controller for DisruptionController {
    async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
        let Some(pdb) = self.budgets.get_key(key) else { return Ok(Outcome::Done) };
        let (ns, name) = split_key(key);
        let s = selector(&pdb);
        let pods = self.pods.list_namespace(ns);
        let pods: Vec<&Pod> =
            pods.iter().map(|p| p.as_ref()).filter(|p| s.matches(p.metadata.labels.as_ref())).collect();
        let controller_of = |p: &Pod| {
            owner::controller_of(&p.metadata).map(|r| ControllerRef {
                kind: r.kind.clone(),
                name: r.name.clone(),
                uid: r.uid.clone(),
            })
        };
        let out = reconcile(&pdb, &pods, controller_of, |c| self.scale(ns, c), self.ctx.clock.now());
        if let Some(status) = out.status {
            // At the resourceVersion read, so an eviction's decrement in between is not undone.
            let mut updated = (*pdb).clone();
            updated.status = Some(status);
            let body = serde_json::to_vec(&updated).map_err(|e| SyncError::Other(e.to_string()))?;
            let api: Api<PodDisruptionBudget> = Api::namespaced(self.ctx.client.clone(), ns);
            match api.replace_status(name, &crate::runtime::post_params(), body).await {
                Err(e) if is_gone(&e) => {}
                other => {
                    other?;
                }
            }
        }
        Ok(out.requeue_after.map_or(Outcome::Done, Outcome::RequeueAfter))
    }
}
