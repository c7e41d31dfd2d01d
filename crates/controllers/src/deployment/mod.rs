//! The Deployment controller: rolls ReplicaSets out (RollingUpdate with
//! maxSurge/maxUnavailable, or Recreate), keeps revisions and history, and
//! reports the status and conditions `kubectl rollout` reads.

pub mod reconcile;
pub mod util;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, Preconditions};
use kube::Api;

use reconcile::{reconcile, Action, Observed};

use crate::replicaset::ignore_gone;
use crate::runtime::selector::Selector;
use crate::runtime::{
    key, key_of, object_ref, owner, split_key, Change, Context, Controller, Informer, Outcome, Recorder, Registration,
    SyncError, WorkQueue,
};

pub const DEPLOYMENT: Registration =
    Registration { name: "deployment", workers: 5, build: |ctx, q| Arc::new(DeploymentController::new(ctx, q)) };

pub struct DeploymentController {
    ctx: Context,
    deployments: Informer<Deployment>,
    replica_sets: Informer<ReplicaSet>,
    pods: Informer<Pod>,
    recorder: Recorder,
}

/// The key of the Deployment controlling `meta`, if it is stored.
fn deployment_of(
    deployments: &Informer<Deployment>,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<String> {
    let r = owner::controller_of(meta)?;
    if r.kind != "Deployment" {
        return None;
    }
    let ns = meta.namespace.as_deref().unwrap_or("");
    let d = deployments.get(ns, &r.name)?;
    (d.metadata.uid.as_deref() == Some(r.uid.as_str())).then(|| key(Some(ns), &r.name))
}

impl DeploymentController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> DeploymentController {
        let deployments = ctx.informers.informer::<Deployment>();
        let replica_sets = ctx.informers.informer::<ReplicaSet>();
        let pods = ctx.informers.informer::<Pod>();
        {
            let queue = queue.clone();
            deployments.on_change(move |c| queue.add(key_of(c.object().as_ref())));
        }
        {
            let (queue, deployments) = (queue.clone(), deployments.clone());
            replica_sets.on_change(move |c| {
                let mut keys: Vec<String> = Vec::new();
                if let Change::Updated { old, .. } = c {
                    keys.extend(deployment_of(&deployments, &old.metadata));
                }
                let rs = c.object();
                match deployment_of(&deployments, &rs.metadata) {
                    Some(k) => keys.push(k),
                    None if owner::controller_of(&rs.metadata).is_none() && !matches!(c, Change::Deleted(_)) => {
                        let ns = rs.metadata.namespace.as_deref().unwrap_or("");
                        for d in deployments.list_namespace(ns) {
                            let selector = Selector::from_label_selector(d.spec.as_ref().map(|s| &s.selector));
                            if selector.matches(rs.metadata.labels.as_ref()) {
                                keys.push(key_of(d.as_ref()));
                            }
                        }
                    }
                    None => {}
                }
                keys.into_iter().for_each(|k| queue.add(k));
            });
        }
        {
            // Recreate waits for old pods to be gone: their deletion matters.
            let (queue, deployments, replica_sets) = (queue.clone(), deployments.clone(), replica_sets.clone());
            pods.on_change(move |c| {
                let Change::Deleted(pod) = c else { return };
                let Some(r) = owner::controller_of(&pod.metadata) else { return };
                let ns = pod.metadata.namespace.as_deref().unwrap_or("");
                if let Some(rs) = replica_sets.get(ns, &r.name) {
                    if let Some(k) = deployment_of(&deployments, &rs.metadata) {
                        queue.add(k);
                    }
                }
            });
        }
        DeploymentController {
            ctx: ctx.clone(),
            deployments,
            replica_sets,
            pods,
            recorder: ctx.recorder.with_component("deployment-controller"),
        }
    }

    async fn perform(&self, d: &Deployment, action: Action) -> Result<(), SyncError> {
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let name = d.metadata.name.clone().unwrap_or_default();
        let rss: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), &ns);
        let deployments: Api<Deployment> = Api::namespaced(self.ctx.client.clone(), &ns);
        let pp = crate::runtime::patch_params();
        match action {
            Action::Adopt(rs, uid) => {
                let patch = owner::adopt_patch(&owner::controller_ref(d), &uid);
                ignore_gone(rss.patch(&rs, &pp, &Patch::Strategic(&patch)).await)?;
            }
            Action::Release(rs, uid) => {
                let patch = owner::release_patch(d.metadata.uid.as_deref().unwrap_or(""), &uid);
                ignore_gone(rss.patch(&rs, &pp, &Patch::Strategic(&patch)).await)?;
            }
            Action::CreateReplicaSet(rs) => match rss.create(&crate::runtime::post_params(), &rs).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 && e.reason == "AlreadyExists" => {
                    let rs_name = rs.metadata.name.clone().unwrap_or_default();
                    let existing = rss.get(&rs_name).await?;
                    if !owner::is_controlled_by(&existing.metadata, d.metadata.uid.as_deref().unwrap_or("")) {
                        // A hash collision with someone else's set: the next
                        // name comes from a higher collision count.
                        let count = d.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0) + 1;
                        let patch = serde_json::json!({"status": {"collisionCount": count}});
                        deployments.patch_status(&name, &pp, &Patch::Merge(&patch)).await?;
                        return Err(SyncError::Other(format!("replica set {rs_name} exists and is not ours")));
                    }
                }
                Err(e) => return Err(e.into()),
            },
            Action::UpdateReplicaSet(rs) => {
                let rs_name = rs.metadata.name.clone().unwrap_or_default();
                ignore_gone(rss.replace(&rs_name, &crate::runtime::post_params(), &rs).await)?;
            }
            Action::DeleteReplicaSet(rs, uid) => {
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
                    ..Default::default()
                };
                ignore_gone(rss.delete(&rs, &params).await.map(|_| ()))?;
            }
            Action::SetRevision(rev) => {
                let patch = serde_json::json!({"metadata": {"annotations": {util::REVISION: rev}}});
                ignore_gone(deployments.patch(&name, &pp, &Patch::Merge(&patch)).await)?;
            }
            Action::UpdateStatus(status) => {
                let patch = serde_json::json!({"status": status});
                ignore_gone(deployments.patch_status(&name, &pp, &Patch::Merge(&patch)).await)?;
            }
            Action::Event(reason, message) => self.recorder.normal(object_ref(d), reason, message),
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Controller for DeploymentController {
    async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
        let Some(d) = self.deployments.get_key(key) else { return Ok(Outcome::Done) };
        let (ns, _) = split_key(key);
        let rss = self.replica_sets.list_namespace(ns);
        let mut running_pods: HashMap<String, usize> = HashMap::new();
        if util::is_recreate(&d) {
            for pod in self.pods.list_namespace(ns) {
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                if matches!(phase, Some("Succeeded" | "Failed")) {
                    continue;
                }
                if let Some(r) = owner::controller_of(&pod.metadata) {
                    *running_pods.entry(r.uid.clone()).or_default() += 1;
                }
            }
        }
        let observed = Observed {
            deployment: d.as_ref(),
            replica_sets: rss.iter().map(|r| r.as_ref()).collect(),
            running_pods,
            now: self.ctx.clock.now(),
        };
        let plan = reconcile(&observed);
        for action in plan.actions {
            self.perform(&d, action).await?;
        }
        Ok(plan.requeue_after.map_or(Outcome::Done, Outcome::RequeueAfter))
    }
}
