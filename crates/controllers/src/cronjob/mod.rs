//! The CronJob controller: starts a Job from `jobTemplate` at each time of
//! `schedule` (in `timeZone`), honouring `concurrencyPolicy`,
//! `startingDeadlineSeconds`, `suspend` and the history limits, and reports
//! `active`, `lastScheduleTime` and `lastSuccessfulTime`.

pub mod reconcile;
/// Cron schedules, shared with the API server's CronJob validation.
pub use skiff_api::cron as schedule;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, Preconditions, PropagationPolicy};
use kube::Api;

use reconcile::{job_name, job_ref, reconcile, Plan};
use schedule::Schedule;

use crate::replicaset::ignore_gone;
use crate::runtime::{
    key, key_of, object_ref, owner, split_key, Context, Controller, Informer, Outcome, Recorder, Registration,
    SyncError, WorkQueue,
};

pub const CRONJOB: Registration =
    Registration { name: "cronjob", workers: 5, build: |ctx, q| Arc::new(CronJobController::new(ctx, q)) };

/// The annotation upstream puts on a scheduled Job: its scheduled time.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

pub struct CronJobController {
    ctx: Context,
    cron_jobs: Informer<CronJob>,
    jobs: Informer<Job>,
    recorder: Recorder,
}

fn cron_job_of(meta: &ObjectMeta) -> Option<String> {
    let r = owner::controller_of(meta)?;
    (r.kind == "CronJob").then(|| key(meta.namespace.as_deref(), &r.name))
}

impl CronJobController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> CronJobController {
        let cron_jobs = ctx.informers.informer::<CronJob>();
        let jobs = ctx.informers.informer::<Job>();
        {
            let queue = queue.clone();
            cron_jobs.on_change(move |c| queue.add(key_of(c.object().as_ref())));
        }
        {
            let queue = queue.clone();
            jobs.on_change(move |c| {
                if let Some(k) = cron_job_of(&c.object().metadata) {
                    queue.add(k);
                }
            });
        }
        let recorder = ctx.recorder.with_component("cronjob-controller");
        CronJobController { ctx: ctx.clone(), cron_jobs, jobs, recorder }
    }

    /// The Job for `scheduled`: the template's metadata and spec, named
    /// upstream's way, controlled by the CronJob.
    fn job_for(cron: &CronJob, scheduled: DateTime<Utc>, tz_name: Option<&str>) -> Job {
        let template = cron.spec.as_ref().map(|s| s.job_template.clone()).unwrap_or_default();
        let tmeta = template.metadata.unwrap_or_default();
        let mut annotations = tmeta.annotations.unwrap_or_default();
        let stamp = match tz_name.and_then(|n| n.parse::<chrono_tz::Tz>().ok()) {
            // Go's RFC 3339 (what upstream writes): `Z` for a zero offset.
            Some(tz) => scheduled.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            None => scheduled.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        annotations.insert(SCHEDULED_TIMESTAMP.into(), stamp);
        Job {
            metadata: ObjectMeta {
                name: Some(job_name(cron.metadata.name.as_deref().unwrap_or(""), scheduled)),
                namespace: cron.metadata.namespace.clone(),
                labels: tmeta.labels,
                annotations: Some(annotations),
                owner_references: Some(vec![owner::controller_ref(cron)]),
                ..Default::default()
            },
            spec: template.spec,
            status: None,
        }
    }

    async fn perform(&self, cron: &CronJob, plan: Plan, tz_name: Option<&str>) -> Result<(), SyncError> {
        let ns = cron.metadata.namespace.clone().unwrap_or_default();
        let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), &ns);
        for event in &plan.events {
            if event.warning {
                self.recorder.warning(object_ref(cron), event.reason, event.message.clone());
            } else {
                self.recorder.normal(object_ref(cron), event.reason, event.message.clone());
            }
        }
        for (name, uid) in &plan.delete {
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                ..Default::default()
            };
            ignore_gone(jobs.delete(name, &params).await)?;
            self.recorder.normal(object_ref(cron), "SuccessfulDelete", format!("Deleted job {name}"));
        }
        let mut status = plan.status;
        if let Some(scheduled) = plan.start {
            let job = Self::job_for(cron, scheduled, tz_name);
            match jobs.create(&crate::runtime::post_params(), &job).await {
                Ok(created) => {
                    let name = created.metadata.name.clone().unwrap_or_default();
                    self.recorder.normal(object_ref(cron), "SuccessfulCreate", format!("Created job {name}"));
                    let status = status.get_or_insert_with(|| cron.status.clone().unwrap_or_default());
                    status.active.get_or_insert_with(Vec::new).push(job_ref(&created));
                }
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => {
                    self.recorder.warning(object_ref(cron), "FailedCreate", format!("Error creating job: {e}"));
                    return Err(e.into());
                }
            }
        }
        if let Some(status) = status {
            let api: Api<CronJob> = Api::namespaced(self.ctx.client.clone(), &ns);
            let name = cron.metadata.name.as_deref().unwrap_or("");
            let patch = serde_json::json!({"status": {
                "active": status.active,
                "lastScheduleTime": status.last_schedule_time,
                "lastSuccessfulTime": status.last_successful_time,
            }});
            ignore_gone(api.patch_status(name, &crate::runtime::patch_params(), &Patch::Merge(&patch)).await)?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Controller for CronJobController {
    async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
        let Some(cron) = self.cron_jobs.get_key(key) else { return Ok(Outcome::Done) };
        let Some(spec) = cron.spec.as_ref() else { return Ok(Outcome::Done) };
        let schedule = match Schedule::parse(&spec.schedule) {
            Ok(s) => s,
            Err(e) => {
                let message = format!("unparseable schedule: {:?} : {e}", spec.schedule);
                self.recorder.warning(object_ref(cron.as_ref()), "UnparseableSchedule", message);
                return Ok(Outcome::Done);
            }
        };
        let (ns, _) = split_key(key);
        let uid = cron.metadata.uid.as_deref().unwrap_or("");
        let jobs = self.jobs.list_namespace(ns);
        let jobs: Vec<&Job> =
            jobs.iter().map(|j| j.as_ref()).filter(|j| owner::is_controlled_by(&j.metadata, uid)).collect();
        let now = self.ctx.clock.now();
        let tz_name = spec.time_zone.as_deref();
        let plan = match tz_name {
            None => reconcile(cron.as_ref(), &jobs, &schedule, &Utc, now),
            Some(name) => match name.parse::<chrono_tz::Tz>() {
                Ok(tz) => reconcile(cron.as_ref(), &jobs, &schedule, &tz, now),
                Err(_) => {
                    let message = format!("invalid timeZone: {name:?}: unknown time zone {name}");
                    self.recorder.warning(object_ref(cron.as_ref()), "UnknownTimeZone", message);
                    return Ok(Outcome::Done);
                }
            },
        };
        let requeue = plan.requeue_after;
        self.perform(cron.as_ref(), plan, tz_name).await?;
        Ok(requeue.map_or(Outcome::Done, Outcome::RequeueAfter))
    }
}
