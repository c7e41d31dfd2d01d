//! The DaemonSet controller: one pod on every eligible node (nodeSelector,
//! node affinity, taints against the pod's tolerations plus the DaemonSet
//! defaults), pinned by node affinity so the scheduler binds it; rolling
//! updates with maxUnavailable/maxSurge or OnDelete; ControllerRevisions.

pub mod node;
pub mod reconcile;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, Preconditions};
use kube::Api;

use reconcile::{reconcile, Action, Observed};

use crate::replicaset::{ignore_gone, is_gone};
use crate::runtime::claim::{adopt_and_release, claim_pods};
use crate::runtime::selector::Selector;
use crate::runtime::{
    key_of, object_ref, owner, split_key, Change, Context, Controller, Expectations, Informer, Outcome, Recorder,
    Registration, SyncError, WorkQueue,
};
use crate::statefulset::owner_key;

pub const DAEMONSET: Registration =
    Registration { name: "daemonset", workers: 2, build: |ctx, q| Arc::new(DaemonSetController::new(ctx, q)) };

pub struct DaemonSetController {
    ctx: Context,
    sets: Informer<DaemonSet>,
    nodes: Informer<Node>,
    pods: Informer<Pod>,
    revisions: Informer<ControllerRevision>,
    expectations: Expectations,
    recorder: Recorder,
}

/// Whether a node change can change where daemon pods belong.
fn node_changed(c: &Change<Node>) -> bool {
    match c {
        Change::Updated { old, new } => {
            old.metadata.labels != new.metadata.labels
                || old.spec.as_ref().map(|s| &s.taints) != new.spec.as_ref().map(|s| &s.taints)
        }
        _ => true,
    }
}

impl DaemonSetController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> DaemonSetController {
        let sets = ctx.informers.informer::<DaemonSet>();
        let nodes = ctx.informers.informer::<Node>();
        let pods = ctx.informers.informer::<Pod>();
        let revisions = ctx.informers.informer::<ControllerRevision>();
        let expectations = Expectations::new();
        {
            let (queue, expectations) = (queue.clone(), expectations.clone());
            sets.on_change(move |c| {
                let k = key_of(c.object().as_ref());
                if let Change::Deleted(_) = c {
                    expectations.delete(&k);
                }
                queue.add(k);
            });
        }
        {
            let (queue, sets) = (queue.clone(), sets.clone());
            nodes.on_change(move |c| {
                if node_changed(c) {
                    sets.list().iter().for_each(|ds| queue.add(key_of(ds.as_ref())));
                }
            });
        }
        {
            let (queue, expectations, sets) = (queue.clone(), expectations.clone(), sets.clone());
            pods.on_change(move |c| {
                let pod = c.object();
                let Some(k) = owner_key(&pod.metadata, "DaemonSet") else {
                    if owner::controller_of(&pod.metadata).is_none() {
                        // An orphan: the DaemonSets it matches may adopt it.
                        for ds in sets.list_namespace(pod.metadata.namespace.as_deref().unwrap_or("")) {
                            let selector = Selector::from_label_selector(ds.spec.as_ref().map(|s| &s.selector));
                            if selector.matches(pod.metadata.labels.as_ref()) {
                                queue.add(key_of(ds.as_ref()));
                            }
                        }
                    }
                    return;
                };
                let uid = pod.metadata.uid.as_deref().unwrap_or("");
                match c {
                    Change::Added(p) if p.metadata.deletion_timestamp.is_none() => expectations.creation_observed(&k),
                    Change::Updated { old, new }
                        if old.metadata.deletion_timestamp.is_none() && new.metadata.deletion_timestamp.is_some() =>
                    {
                        expectations.deletion_observed(&k, uid)
                    }
                    Change::Deleted(_) => expectations.deletion_observed(&k, uid),
                    _ => {}
                }
                queue.add(k);
            });
        }
        {
            let queue = queue.clone();
            revisions.on_change(move |c| {
                if let Some(k) = owner_key(&c.object().metadata, "DaemonSet") {
                    queue.add(k);
                }
            });
        }
        DaemonSetController {
            ctx: ctx.clone(),
            sets,
            nodes,
            pods,
            revisions,
            expectations,
            recorder: ctx.recorder.with_component("daemonset-controller"),
        }
    }

    async fn perform(&self, ds: &DaemonSet, key: &str, actions: Vec<Action>) -> Result<(), SyncError> {
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let name = ds.metadata.name.clone().unwrap_or_default();
        let client = self.ctx.client.clone();
        let pp = crate::runtime::patch_params();
        let post = crate::runtime::post_params();
        let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), &ns);
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let creates = actions.iter().filter(|a| matches!(a, Action::CreatePod { .. })).count();
        let deletes: Vec<String> = actions
            .iter()
            .filter_map(|a| if let Action::DeletePod { uid, .. } = a { Some(uid.clone()) } else { None })
            .collect();
        if creates > 0 || !deletes.is_empty() {
            self.expectations.expect(key, creates, deletes);
        }
        let mut first_error: Option<SyncError> = None;
        for action in actions {
            let result: Result<(), SyncError> = match action {
                Action::CreateRevision(r) => match revisions.create(&post, &r).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(e)) if e.code == 409 && e.reason == "AlreadyExists" => {
                        let rname = r.metadata.name.clone().unwrap_or_default();
                        let existing = revisions.get(&rname).await?;
                        if existing.data == r.data {
                            Ok(())
                        } else {
                            let count = ds.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0) + 1;
                            let api: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
                            let patch = serde_json::json!({"status": {"collisionCount": count}});
                            api.patch_status(&name, &pp, &Patch::Merge(&patch)).await?;
                            // Nothing else this round: pods would get the colliding hash.
                            return Err(SyncError::Other(format!("controller revision {rname} collides")));
                        }
                    }
                    Err(e) => return Err(e.into()),
                },
                Action::RenumberRevision { name, revision } => {
                    let patch = serde_json::json!({"revision": revision});
                    ignore_gone(revisions.patch(&name, &pp, &Patch::Merge(&patch)).await).map_err(Into::into)
                }
                Action::DeleteRevision { name, uid } => {
                    let params = DeleteParams {
                        preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
                        ..Default::default()
                    };
                    ignore_gone(revisions.delete(&name, &params).await).map_err(Into::into)
                }
                Action::CreatePod { node, pod } => match pods.create(&post, &pod).await {
                    Ok(p) => {
                        let pname = p.metadata.name.unwrap_or_default();
                        self.recorder.normal(object_ref(ds), "SuccessfulCreate", format!("Created pod: {pname}"));
                        Ok(())
                    }
                    Err(e) => {
                        self.expectations.creation_observed(key);
                        self.recorder.warning(
                            object_ref(ds),
                            "FailedCreate",
                            format!("Error creating: {e} (node {node})"),
                        );
                        Err(e.into())
                    }
                },
                Action::DeletePod { name: pname, uid } => {
                    let params = DeleteParams {
                        preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                        ..Default::default()
                    };
                    match pods.delete(&pname, &params).await {
                        Ok(_) => {
                            self.recorder.normal(object_ref(ds), "SuccessfulDelete", format!("Deleted pod: {pname}"));
                            Ok(())
                        }
                        Err(e) => {
                            self.expectations.deletion_observed(key, &uid);
                            if is_gone(&e) {
                                Ok(())
                            } else {
                                self.recorder.warning(object_ref(ds), "FailedDelete", format!("Error deleting: {e}"));
                                Err(e.into())
                            }
                        }
                    }
                }
                Action::UpdateStatus(status) => {
                    let api: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
                    let patch = serde_json::json!({"status": status});
                    ignore_gone(api.patch_status(&name, &pp, &Patch::Merge(&patch)).await).map_err(Into::into)
                }
            };
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[async_trait::async_trait]
impl Controller for DaemonSetController {
    async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
        let Some(ds) = self.sets.get_key(key) else {
            self.expectations.delete(key);
            return Ok(Outcome::Done);
        };
        let (ns, _) = split_key(key);
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let nodes = self.nodes.list();
        let pods = self.pods.list_namespace(ns);
        let revisions = self.revisions.list_namespace(ns);
        let all: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let selector = Selector::from_label_selector(ds.spec.as_ref().map(|s| &s.selector));
        let claimed = claim_pods(&uid, &selector, ds.metadata.deletion_timestamp.is_some(), &all, |_| true);
        adopt_and_release(&self.ctx.client, ds.as_ref(), &claimed).await?;
        let observed = Observed {
            ds: ds.as_ref(),
            nodes: nodes.iter().map(|n| n.as_ref()).collect(),
            pods: claimed.owned,
            revisions: revisions
                .iter()
                .map(|r| r.as_ref())
                .filter(|r| owner::is_controlled_by(&r.metadata, &uid))
                .collect(),
            expectations_satisfied: self.expectations.satisfied(key),
            now: self.ctx.clock.now(),
        };
        let plan = reconcile(&observed);
        self.perform(&ds, key, plan.actions).await?;
        Ok(plan.requeue_after.map_or(Outcome::Done, Outcome::RequeueAfter))
    }
}
