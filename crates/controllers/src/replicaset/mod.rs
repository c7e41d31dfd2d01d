//! The ReplicaSet and ReplicationController controllers: keep `replicas` pods
//! matching the selector, adopting orphans and releasing pods that stopped
//! matching, and report the counts in status.

mod kind;
pub mod pods;
pub mod reconcile;

use std::marker::PhantomData;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, Preconditions};
use kube::Api;

pub use kind::{Counts, Replicated};
use reconcile::{reconcile, Plan};

use crate::runtime::{
    key, key_of, object_ref, owner, split_key, Change, Context, Controller, Expectations, Informer, Outcome, Recorder,
    Registration, SyncError, WorkQueue,
};

pub const REPLICASET: Registration =
    Registration { name: "replicaset", workers: 5, build: |ctx, q| Arc::new(SetController::<ReplicaSet>::new(ctx, q)) };

pub const REPLICATION_CONTROLLER: Registration = Registration {
    name: "replicationcontroller",
    workers: 5,
    build: |ctx, q| Arc::new(SetController::<ReplicationController>::new(ctx, q)),
};

pub struct SetController<R> {
    ctx: Context,
    sets: Informer<R>,
    pods: Informer<Pod>,
    expectations: Expectations,
    recorder: Recorder,
    _kind: PhantomData<R>,
}

/// The key of the set of kind `R` that controls `meta`, if one is stored.
fn owner_key<R: Replicated>(sets: &Informer<R>, meta: &ObjectMeta) -> Option<String> {
    let r = owner::controller_of(meta)?;
    if r.kind != R::kind(&()) {
        return None;
    }
    let ns = meta.namespace.as_deref().unwrap_or("");
    let set = sets.get(ns, &r.name)?;
    (set.meta().uid.as_deref() == Some(r.uid.as_str())).then(|| key(Some(ns), &r.name))
}

/// Keys of the sets whose selector matches an orphan pod.
fn matching_sets<R: Replicated>(sets: &Informer<R>, pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    sets.list_namespace(ns)
        .iter()
        .filter(|s| s.selector().matches(pod.metadata.labels.as_ref()))
        .map(|s| key_of(s.as_ref()))
        .collect()
}

impl<R: Replicated> SetController<R> {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> SetController<R> {
        let sets = ctx.informers.informer::<R>();
        let pods = ctx.informers.informer::<Pod>();
        let expectations = Expectations::new();
        {
            let (queue, expectations) = (queue.clone(), expectations.clone());
            sets.on_change(move |change| {
                let k = key_of(change.object().as_ref());
                if let Change::Deleted(_) = change {
                    expectations.delete(&k);
                }
                queue.add(k);
            });
        }
        {
            let (queue, expectations, sets) = (queue.clone(), expectations.clone(), sets.clone());
            pods.on_change(move |change| match change {
                Change::Added(pod) => {
                    if let Some(k) = owner_key(&sets, &pod.metadata) {
                        if pod.metadata.deletion_timestamp.is_some() {
                            expectations.deletion_observed(&k, pod.metadata.uid.as_deref().unwrap_or(""));
                        } else {
                            expectations.creation_observed(&k);
                        }
                        queue.add(k);
                    } else if owner::controller_of(&pod.metadata).is_none() {
                        matching_sets(&sets, pod).into_iter().for_each(|k| queue.add(k));
                    }
                }
                Change::Updated { old, new } => {
                    let new_owner = owner_key(&sets, &new.metadata);
                    if let Some(k) = &new_owner {
                        if new.metadata.deletion_timestamp.is_some() && old.metadata.deletion_timestamp.is_none() {
                            expectations.deletion_observed(k, new.metadata.uid.as_deref().unwrap_or(""));
                        }
                        queue.add(k.clone());
                    }
                    let old_owner = owner_key(&sets, &old.metadata);
                    if old_owner.is_some() && old_owner != new_owner {
                        queue.add(old_owner.unwrap_or_default());
                    }
                    let relabeled = old.metadata.labels != new.metadata.labels;
                    if owner::controller_of(&new.metadata).is_none()
                        && (relabeled || owner::controller_of(&old.metadata).is_some())
                    {
                        matching_sets(&sets, new).into_iter().for_each(|k| queue.add(k));
                    }
                }
                Change::Deleted(pod) => {
                    if let Some(k) = owner_key(&sets, &pod.metadata) {
                        expectations.deletion_observed(&k, pod.metadata.uid.as_deref().unwrap_or(""));
                        queue.add(k);
                    }
                }
            });
        }
        let recorder = ctx.recorder.with_component(R::COMPONENT);
        SetController { ctx: ctx.clone(), sets, pods, expectations, recorder, _kind: PhantomData }
    }

    async fn perform(&self, set: &R, key: &str, plan: &Plan) -> Result<(), SyncError> {
        let ns = set.meta().namespace.clone().unwrap_or_default();
        let set_uid = set.meta().uid.clone().unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let patch_params = crate::runtime::patch_params();
        for p in &plan.adopt {
            let patch = owner::adopt_patch(&owner::controller_ref(set), &p.uid);
            ignore_gone(pods.patch(&p.name, &patch_params, &Patch::Strategic(&patch)).await)?;
        }
        for p in &plan.release {
            let patch = owner::release_patch(&set_uid, &p.uid);
            ignore_gone(pods.patch(&p.name, &patch_params, &Patch::Strategic(&patch)).await)?;
        }
        let mut first_error = None;
        if plan.create > 0 {
            self.expectations.expect(key, plan.create, []);
            let template = pod_from_template(set);
            // Slow start (1, 2, 4, ...): a set whose pods all fail to create
            // (quota, admission) fails after one request, not hundreds.
            let (mut done, mut batch) = (0, 1);
            while done < plan.create {
                let n = batch.min(plan.create - done);
                let post = crate::runtime::post_params();
                let results = futures::future::join_all((0..n).map(|_| pods.create(&post, &template))).await;
                let mut failed = false;
                for result in results {
                    match result {
                        Ok(pod) => self.recorder.normal(
                            object_ref(set),
                            "SuccessfulCreate",
                            format!("Created pod: {}", pod.metadata.name.unwrap_or_default()),
                        ),
                        Err(e) => {
                            self.expectations.creation_observed(key);
                            self.recorder.warning(object_ref(set), "FailedCreate", format!("Error creating: {e}"));
                            failed = true;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                done += n;
                if failed {
                    // The rest will not be created: stop expecting them.
                    for _ in done..plan.create {
                        self.expectations.creation_observed(key);
                    }
                    break;
                }
                batch *= 2;
            }
        }
        if !plan.delete.is_empty() {
            self.expectations.expect(key, 0, plan.delete.iter().map(|p| p.uid.clone()));
            let results = futures::future::join_all(plan.delete.iter().map(|p| {
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid: Some(p.uid.clone()), resource_version: None }),
                    ..Default::default()
                };
                let pods = pods.clone();
                async move { (p, pods.delete(&p.name, &params).await) }
            }))
            .await;
            for (p, result) in results {
                match result {
                    Ok(_) => {
                        self.recorder.normal(object_ref(set), "SuccessfulDelete", format!("Deleted pod: {}", p.name))
                    }
                    Err(e) => {
                        self.expectations.deletion_observed(key, &p.uid);
                        if !is_gone(&e) {
                            self.recorder.warning(object_ref(set), "FailedDelete", format!("Error deleting: {e}"));
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        if let Some(counts) = &plan.status {
            let api: Api<R> = Api::namespaced(self.ctx.client.clone(), &ns);
            let name = set.meta().name.clone().unwrap_or_default();
            ignore_gone(api.patch_status(&name, &patch_params, &Patch::Merge(R::status_patch(counts))).await)?;
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

/// The pod a set creates: the template's labels, annotations, finalizers and
/// spec, named `<set>-<random>`, controlled by the set.
pub fn pod_from_template<R: Replicated>(set: &R) -> Pod {
    let template = set.template().cloned().unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", set.meta().name.as_deref().unwrap_or(""))),
            namespace: set.meta().namespace.clone(),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner::controller_ref(set)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

pub(crate) fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || (s.code == 409 && s.reason == "Conflict" && s.message.contains("Precondition")))
}

/// A write to an object that is gone (or was replaced) is not an error: the
/// informer will tell the controller what happened.
pub(crate) fn ignore_gone<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_gone(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

#[async_trait::async_trait]
impl<R: Replicated> Controller for SetController<R> {
    async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
        let Some(set) = self.sets.get_key(key) else {
            self.expectations.delete(key);
            return Ok(Outcome::Done);
        };
        let (ns, _) = split_key(key);
        let pods = self.pods.list_namespace(ns);
        let pods: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let satisfied = self.expectations.satisfied(key);
        let plan = reconcile(set.as_ref(), &pods, satisfied, self.ctx.clock.now());
        self.perform(set.as_ref(), key, &plan).await?;
        Ok(plan.requeue_after.map_or(Outcome::Done, Outcome::RequeueAfter))
    }
}
