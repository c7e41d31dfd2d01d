//! The Job controller: runs pods to completion (completions, parallelism,
//! Indexed mode), retries failures up to `backoffLimit` with upstream's
//! back-off, applies `podFailurePolicy` and `activeDeadlineSeconds`,
//! suspends and resumes, counts pods through the tracking finalizer, and
//! deletes finished Jobs after `ttlSecondsAfterFinished`.

pub mod indexes;
pub mod policy;
pub mod reconcile;
pub mod template;

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, Preconditions, PropagationPolicy};
use kube::Api;

use reconcile::{reconcile, Plan, TRACKING_FINALIZER};

use crate::replicaset::{ignore_gone, is_gone};
use crate::runtime::{
    key, key_of, object_ref, owner, split_key, Change, Context, Controller, Expectations, Informer, Outcome, Recorder,
    Registration, SyncError, WorkQueue,
};

pub const JOB: Registration =
    Registration { name: "job", workers: 5, build: |ctx, q| Arc::new(JobController::new(ctx, q)) };

/// Queue keys of pods that hold the tracking finalizer without a Job.
const ORPHAN_PREFIX: &str = "pod:";

pub struct JobController {
    ctx: Context,
    jobs: Informer<Job>,
    pods: Informer<Pod>,
    expectations: Expectations,
    recorder: Recorder,
}

/// The key of the stored Job controlling `meta`.
fn job_of(jobs: &Informer<Job>, meta: &ObjectMeta) -> Option<String> {
    let r = owner::controller_of(meta)?;
    if r.kind != "Job" || !r.api_version.starts_with("batch/") {
        return None;
    }
    let ns = meta.namespace.as_deref().unwrap_or("");
    let job = jobs.get(ns, &r.name)?;
    (job.metadata.uid.as_deref() == Some(r.uid.as_str())).then(|| key(Some(ns), &r.name))
}

impl JobController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> JobController {
        let jobs = ctx.informers.informer::<Job>();
        let pods = ctx.informers.informer::<Pod>();
        let expectations = Expectations::new();
        {
            let (queue, expectations) = (queue.clone(), expectations.clone());
            jobs.on_change(move |change| {
                let k = key_of(change.object().as_ref());
                if let Change::Deleted(_) = change {
                    expectations.delete(&k);
                }
                queue.add(k);
            });
        }
        {
            let (queue, expectations, jobs) = (queue.clone(), expectations.clone(), jobs.clone());
            pods.on_change(move |change| {
                let pod = change.object();
                let Some(k) = job_of(&jobs, &pod.metadata) else {
                    // Its Job is gone: nobody else will remove the finalizer.
                    if reconcile::has_finalizer(pod) && !matches!(change, Change::Deleted(_)) {
                        queue.add(format!("{ORPHAN_PREFIX}{}", key_of(pod.as_ref())));
                    }
                    return;
                };
                let uid = pod.metadata.uid.as_deref().unwrap_or("");
                match change {
                    Change::Added(_) if pod.metadata.deletion_timestamp.is_none() => expectations.creation_observed(&k),
                    Change::Added(_) | Change::Deleted(_) => expectations.deletion_observed(&k, uid),
                    Change::Updated { old, new } => {
                        if new.metadata.deletion_timestamp.is_some() && old.metadata.deletion_timestamp.is_none() {
                            expectations.deletion_observed(&k, uid);
                        }
                    }
                }
                queue.add(k);
            });
        }
        let recorder = ctx.recorder.with_component("job-controller");
        JobController { ctx: ctx.clone(), jobs, pods, expectations, recorder }
    }

    async fn perform(&self, job: &Job, key: &str, plan: Plan) -> Result<(), SyncError> {
        let ns = job.metadata.namespace.clone().unwrap_or_default();
        let name = job.metadata.name.clone().unwrap_or_default();
        let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), &ns);
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        if let Some(status) = plan.status {
            // At the resourceVersion read: a stale cache must not count a pod
            // twice (the write conflicts and the sync is retried).
            let mut updated = job.clone();
            updated.status = Some(status);
            let body = serde_json::to_vec(&updated).map_err(|e| SyncError::Other(e.to_string()))?;
            match jobs.replace_status(&name, &crate::runtime::post_params(), body).await {
                Err(e) if is_gone(&e) => return Ok(()),
                other => {
                    other?;
                }
            }
        }
        for event in &plan.events {
            if event.warning {
                self.recorder.warning(object_ref(job), event.reason, event.message.clone());
            } else {
                self.recorder.normal(object_ref(job), event.reason, event.message.clone());
            }
        }
        for p in &plan.release {
            let finalizers: Vec<String> = self
                .pods
                .get(&ns, &p.name)
                .and_then(|pod| pod.metadata.finalizers.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|f| f != TRACKING_FINALIZER)
                .collect();
            // JSON merge patch of the whole list, guarded by the pod's uid.
            let finalizers = (!finalizers.is_empty()).then_some(finalizers);
            let patch = serde_json::json!({"metadata": {"uid": p.uid, "finalizers": finalizers}});
            ignore_gone(pods.patch(&p.name, &crate::runtime::patch_params(), &Patch::Merge(&patch)).await)?;
        }
        let mut first_error = None;
        if !plan.delete.is_empty() {
            self.expectations.expect(key, 0, plan.delete.iter().map(|p| p.uid.clone()));
            for p in &plan.delete {
                let params = DeleteParams {
                    preconditions: Some(Preconditions { uid: Some(p.uid.clone()), resource_version: None }),
                    ..Default::default()
                };
                match pods.delete(&p.name, &params).await {
                    Ok(_) => {
                        self.recorder.normal(object_ref(job), "SuccessfulDelete", format!("Deleted pod: {}", p.name))
                    }
                    Err(e) => {
                        self.expectations.deletion_observed(key, &p.uid);
                        if !is_gone(&e) {
                            self.recorder.warning(object_ref(job), "FailedDelete", format!("Error deleting: {e}"));
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        if !plan.create.is_empty() {
            self.expectations.expect(key, plan.create.len(), []);
            let post = crate::runtime::post_params();
            let templates: Vec<Pod> = plan.create.iter().map(|i| template::pod_for(job, *i)).collect();
            let results = futures::future::join_all(templates.iter().map(|pod| pods.create(&post, pod))).await;
            for result in results {
                match result {
                    Ok(pod) => self.recorder.normal(
                        object_ref(job),
                        "SuccessfulCreate",
                        format!("Created pod: {}", pod.metadata.name.unwrap_or_default()),
                    ),
                    Err(e) => {
                        self.expectations.creation_observed(key);
                        self.recorder.warning(object_ref(job), "FailedCreate", format!("Error creating: {e}"));
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        if plan.delete_job {
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                preconditions: Some(Preconditions { uid: job.metadata.uid.clone(), resource_version: None }),
                ..Default::default()
            };
            ignore_gone(jobs.delete(&name, &params).await)?;
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

impl JobController {
    /// Removes the tracking finalizer from a pod whose Job is gone (deleted
    /// in the background, or orphaning its pods).
    async fn release_orphan(&self, pod_key: &str) -> Result<Outcome, SyncError> {
        let Some(pod) = self.pods.get_key(pod_key) else { return Ok(Outcome::Done) };
        if !reconcile::has_finalizer(&pod) || job_of(&self.jobs, &pod.metadata).is_some() {
            return Ok(Outcome::Done);
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let name = pod.metadata.name.as_deref().unwrap_or("");
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), ns);
        // A Job the cache does not show yet is checked live before letting go.
        if let Some(r) = owner::controller_of(&pod.metadata).filter(|r| r.kind == "Job") {
            let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), ns);
            if let Some(job) = jobs.get_opt(&r.name).await? {
                if job.metadata.uid.as_deref() == Some(r.uid.as_str()) {
                    return Ok(Outcome::Done);
                }
            }
        }
        let finalizers: Vec<&String> =
            pod.metadata.finalizers.iter().flatten().filter(|f| *f != TRACKING_FINALIZER).collect();
        let finalizers = (!finalizers.is_empty()).then_some(finalizers);
        let patch = serde_json::json!({"metadata": {"uid": pod.metadata.uid, "finalizers": finalizers}});
        ignore_gone(pods.patch(name, &crate::runtime::patch_params(), &Patch::Merge(&patch)).await)?;
        Ok(Outcome::Done)
    }
}

#[async_trait::async_trait]
impl Controller for JobController {
    async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
        if let Some(pod_key) = key.strip_prefix(ORPHAN_PREFIX) {
            return self.release_orphan(pod_key).await;
        }
        let Some(job) = self.jobs.get_key(key) else {
            self.expectations.delete(key);
            return Ok(Outcome::Done);
        };
        let (ns, _) = split_key(key);
        let uid = job.metadata.uid.as_deref().unwrap_or("");
        let pods = self.pods.list_namespace(ns);
        let pods: Vec<&Pod> =
            pods.iter().map(|p| p.as_ref()).filter(|p| owner::is_controlled_by(&p.metadata, uid)).collect();
        let satisfied = self.expectations.satisfied(key);
        let plan = reconcile(job.as_ref(), &pods, self.ctx.clock.now(), satisfied);
        let requeue = plan.requeue_after;
        self.perform(job.as_ref(), key, plan).await?;
        Ok(requeue.map_or(Outcome::Done, Outcome::RequeueAfter))
    }
}
