//! The StatefulSet controller: pods `<set>-0..N-1` with stable names,
//! hostnames and claims, created and removed in ordinal order (OrderedReady) or
//! all at once (Parallel), rolled out from the highest ordinal down to the
//! partition, with ControllerRevision history and the claim retention policy.

pub mod identity;
pub mod reconcile;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, Preconditions};
use kube::Api;

use reconcile::{reconcile, Action, Observed};

use crate::replicaset::ignore_gone;
use crate::runtime::claim::{adopt_and_release, claim_pods};
use crate::runtime::selector::Selector;
use crate::runtime::{
    key, key_of, object_ref, owner, split_key, Context, Controller, Informer, Outcome, Recorder, Registration,
    SyncError, WorkQueue,
};

pub const STATEFULSET: Registration =
    Registration { name: "statefulset", workers: 5, build: |ctx, q| Arc::new(StatefulSetController::new(ctx, q)) };

pub struct StatefulSetController {
    ctx: Context,
    sets: Informer<StatefulSet>,
    pods: Informer<Pod>,
    revisions: Informer<ControllerRevision>,
    claims: Informer<PersistentVolumeClaim>,
    recorder: Recorder,
}

/// The key of the StatefulSet controlling `meta`, when `meta` names one.
pub(crate) fn owner_key(meta: &ObjectMeta, kind: &str) -> Option<String> {
    let r = owner::controller_of(meta)?;
    (r.kind == kind).then(|| key(meta.namespace.as_deref(), &r.name))
}

fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

impl StatefulSetController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> StatefulSetController {
        let sets = ctx.informers.informer::<StatefulSet>();
        let pods = ctx.informers.informer::<Pod>();
        let revisions = ctx.informers.informer::<ControllerRevision>();
        let claims = ctx.informers.informer::<PersistentVolumeClaim>();
        {
            let queue = queue.clone();
            sets.on_change(move |c| queue.add(key_of(c.object().as_ref())));
        }
        {
            let (queue, sets) = (queue.clone(), sets.clone());
            pods.on_change(move |c| {
                let pod = c.object();
                if let Some(k) = owner_key(&pod.metadata, "StatefulSet") {
                    queue.add(k);
                } else if owner::controller_of(&pod.metadata).is_none() {
                    // An orphan: the sets it matches may adopt it.
                    for set in sets.list_namespace(pod.metadata.namespace.as_deref().unwrap_or("")) {
                        let selector = Selector::from_label_selector(set.spec.as_ref().map(|s| &s.selector));
                        if selector.matches(pod.metadata.labels.as_ref()) {
                            queue.add(key_of(set.as_ref()));
                        }
                    }
                }
            });
        }
        {
            let queue = queue.clone();
            revisions.on_change(move |c| {
                if let Some(k) = owner_key(&c.object().metadata, "StatefulSet") {
                    queue.add(k);
                }
            });
        }
        StatefulSetController {
            ctx: ctx.clone(),
            sets,
            pods,
            revisions,
            claims,
            recorder: ctx.recorder.with_component("statefulset-controller"),
        }
    }

    async fn perform(&self, set: &StatefulSet, action: Action) -> Result<(), SyncError> {
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let set_name = set.metadata.name.clone().unwrap_or_default();
        let client = self.ctx.client.clone();
        let pp = crate::runtime::patch_params();
        let post = crate::runtime::post_params();
        let uid_guard = |uid: String| DeleteParams {
            preconditions: Some(Preconditions { uid: Some(uid), resource_version: None }),
            ..Default::default()
        };
        match action {
            Action::CreateRevision(r) => {
                let api: Api<ControllerRevision> = Api::namespaced(client, &ns);
                match api.create(&post, &r).await {
                    Ok(_) => {}
                    Err(e) if is_already_exists(&e) => {
                        let name = r.metadata.name.clone().unwrap_or_default();
                        let existing = api.get(&name).await?;
                        if existing.data != r.data {
                            // A hash collision: the next name comes from a
                            // higher collision count.
                            let count = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0) + 1;
                            let sets: Api<StatefulSet> = Api::namespaced(self.ctx.client.clone(), &ns);
                            let patch = serde_json::json!({"status": {"collisionCount": count}});
                            sets.patch_status(&set_name, &pp, &Patch::Merge(&patch)).await?;
                            return Err(SyncError::Other(format!("controller revision {name} collides")));
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Action::RenumberRevision { name, revision } => {
                let api: Api<ControllerRevision> = Api::namespaced(client, &ns);
                let patch = serde_json::json!({"revision": revision});
                ignore_gone(api.patch(&name, &pp, &Patch::Merge(&patch)).await)?;
            }
            Action::DeleteRevision { name, uid } => {
                let api: Api<ControllerRevision> = Api::namespaced(client, &ns);
                ignore_gone(api.delete(&name, &uid_guard(uid)).await)?;
            }
            Action::CreateClaim { claim, pod } => {
                let api: Api<PersistentVolumeClaim> = Api::namespaced(client, &ns);
                let name = claim.metadata.name.clone().unwrap_or_default();
                match api.create(&post, &claim).await {
                    Ok(_) => self.recorder.normal(
                        object_ref(set),
                        "SuccessfulCreate",
                        format!("create Claim {name} Pod {pod} in StatefulSet {set_name} success"),
                    ),
                    Err(e) if is_already_exists(&e) => {}
                    Err(e) => {
                        self.recorder.warning(
                            object_ref(set),
                            "FailedCreate",
                            format!("create Claim {name} for Pod {pod} in StatefulSet {set_name} failed error: {e}"),
                        );
                        return Err(e.into());
                    }
                }
            }
            Action::SetClaimOwners { name, uid, owners } => {
                let api: Api<PersistentVolumeClaim> = Api::namespaced(client, &ns);
                let patch = serde_json::json!({"metadata": {"uid": uid, "ownerReferences": owners}});
                ignore_gone(api.patch(&name, &pp, &Patch::Merge(&patch)).await)?;
            }
            Action::CreatePod(pod) => {
                let api: Api<Pod> = Api::namespaced(client, &ns);
                let name = pod.metadata.name.clone().unwrap_or_default();
                match api.create(&post, &pod).await {
                    Ok(_) => self.recorder.normal(
                        object_ref(set),
                        "SuccessfulCreate",
                        format!("create Pod {name} in StatefulSet {set_name} successful"),
                    ),
                    // A cache that does not show the pod yet: it exists.
                    Err(e) if is_already_exists(&e) => {}
                    Err(e) => {
                        self.recorder.warning(
                            object_ref(set),
                            "FailedCreate",
                            format!("create Pod {name} in StatefulSet {set_name} failed error: {e}"),
                        );
                        return Err(e.into());
                    }
                }
            }
            Action::DeletePod { name, uid } => {
                let api: Api<Pod> = Api::namespaced(client, &ns);
                match api.delete(&name, &uid_guard(uid)).await {
                    Ok(_) => self.recorder.normal(
                        object_ref(set),
                        "SuccessfulDelete",
                        format!("delete Pod {name} in StatefulSet {set_name} successful"),
                    ),
                    Err(e) => ignore_gone(Err::<(), _>(e))?,
                }
            }
            Action::UpdateStatus(status) => {
                let api: Api<StatefulSet> = Api::namespaced(client, &ns);
                let patch = serde_json::json!({"status": status});
                ignore_gone(api.patch_status(&set_name, &pp, &Patch::Merge(&patch)).await)?;
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Controller for StatefulSetController {
    async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
        let Some(set) = self.sets.get_key(key) else { return Ok(Outcome::Done) };
        let (ns, _) = split_key(key);
        let uid = set.metadata.uid.clone().unwrap_or_default();
        let pods = self.pods.list_namespace(ns);
        let revisions = self.revisions.list_namespace(ns);
        let claims = self.claims.list_namespace(ns);
        let all: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let selector = Selector::from_label_selector(set.spec.as_ref().map(|s| &s.selector));
        let name = identity::set_name(&set).to_string();
        let claimed = claim_pods(&uid, &selector, set.metadata.deletion_timestamp.is_some(), &all, |p| {
            identity::ordinal(&name, p.metadata.name.as_deref().unwrap_or("")).is_some()
        });
        adopt_and_release(&self.ctx.client, set.as_ref(), &claimed).await?;
        let observed = Observed {
            set: set.as_ref(),
            pods: claimed.owned,
            revisions: revisions
                .iter()
                .map(|r| r.as_ref())
                .filter(|r| owner::is_controlled_by(&r.metadata, &uid))
                .collect(),
            claims: claims
                .iter()
                .map(|c| (c.metadata.name.clone().unwrap_or_default(), c.as_ref()))
                .collect::<HashMap<_, _>>(),
            now: self.ctx.clock.now(),
        };
        let plan = reconcile(&observed);
        for action in plan.actions {
            self.perform(&set, action).await?;
        }
        Ok(plan.requeue_after.map_or(Outcome::Done, Outcome::RequeueAfter))
    }
}
