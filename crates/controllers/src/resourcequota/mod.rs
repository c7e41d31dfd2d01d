//! The resource quota controller: keeps each ResourceQuota's `status.hard`
//! (the spec's) and `status.used` (what the namespace uses) current.
//! Enforcement at admission is the API server's job.

pub mod quantity;
pub mod usage;

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota, Secret, Service,
};
use kube::api::Patch;
use kube::Api;

use crate::replicaset::ignore_gone;
use crate::runtime::{key_of, Context, Controller, Informer, Outcome, Registration, SyncError, WorkQueue};

pub const RESOURCE_QUOTA: Registration =
    Registration { name: "resourcequota", workers: 2, build: |ctx, q| Arc::new(QuotaController::new(ctx, q)) };

/// Counts of one kind of object per namespace, for `count/...` quotas.
trait Counter: Send + Sync {
    fn names(&self) -> &'static [&'static str];
    fn count(&self, namespace: &str) -> usize;
}

/// The bounds the shared informers need.
trait Watched: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static {}
impl<K> Watched for K where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

struct Counted<K: Watched> {
    informer: Informer<K>,
    names: &'static [&'static str],
}

impl<K: Watched> Counter for Counted<K> {
    fn names(&self) -> &'static [&'static str] {
        self.names
    }

    fn count(&self, namespace: &str) -> usize {
        self.informer.list_namespace(namespace).len()
    }
}

pub struct QuotaController {
    ctx: Context,
    quotas: Informer<ResourceQuota>,
    pods: Informer<Pod>,
    services: Informer<Service>,
    claims: Informer<PersistentVolumeClaim>,
    counters: Vec<Box<dyn Counter>>,
}

/// Registers a handler on `informer` that syncs every quota of the changed
/// object's namespace.
fn requeue_quotas<K: Watched>(informer: &Informer<K>, quotas: &Informer<ResourceQuota>, queue: &WorkQueue<String>) {
    let (quotas, queue) = (quotas.clone(), queue.clone());
    informer.on_change(move |c| {
        let ns = c.object().meta().namespace.clone().unwrap_or_default();
        for q in quotas.list_namespace(&ns) {
            queue.add(key_of(q.as_ref()));
        }
    });
}

impl QuotaController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> QuotaController {
        let quotas = ctx.informers.informer::<ResourceQuota>();
        {
            let queue = queue.clone();
            quotas.on_change(move |c| queue.add(key_of(c.object().as_ref())));
        }
        let pods = ctx.informers.informer::<Pod>();
        let services = ctx.informers.informer::<Service>();
        let claims = ctx.informers.informer::<PersistentVolumeClaim>();
        requeue_quotas(&pods, &quotas, &queue);
        requeue_quotas(&services, &quotas, &queue);
        requeue_quotas(&claims, &quotas, &queue);
        macro_rules! counted {
            ($kind:ty, $names:expr) => {{
                let informer = ctx.informers.informer::<$kind>();
                requeue_quotas(&informer, &quotas, &queue);
                Box::new(Counted { informer, names: $names }) as Box<dyn Counter>
            }};
        }
        let counters = vec![
            counted!(ConfigMap, &["configmaps", "count/configmaps"]),
            counted!(Secret, &["secrets", "count/secrets"]),
            counted!(ReplicationController, &["replicationcontrollers", "count/replicationcontrollers"]),
            counted!(ResourceQuota, &["resourcequotas", "count/resourcequotas"]),
            counted!(Deployment, &["count/deployments.apps"]),
            counted!(ReplicaSet, &["count/replicasets.apps"]),
            counted!(StatefulSet, &["count/statefulsets.apps"]),
            counted!(DaemonSet, &["count/daemonsets.apps"]),
            counted!(Job, &["count/jobs.batch"]),
            counted!(CronJob, &["count/cronjobs.batch"]),
        ];
        QuotaController { ctx: ctx.clone(), quotas, pods, services, claims, counters }
    }
}

#[async_trait::async_trait]
impl Controller for QuotaController {
    async fn sync(&self, key: &str) -> Result<Outcome, SyncError> {
        let Some(quota) = self.quotas.get_key(key) else { return Ok(Outcome::Done) };
        let ns = quota.metadata.namespace.clone().unwrap_or_default();
        let hard = quota.spec.as_ref().and_then(|s| s.hard.clone()).unwrap_or_default();
        let mut counts = HashMap::new();
        for counter in &self.counters {
            let n = counter.count(&ns);
            for name in counter.names() {
                counts.insert(name.to_string(), n);
            }
        }
        let pods = self.pods.list_namespace(&ns);
        let services = self.services.list_namespace(&ns);
        let claims = self.claims.list_namespace(&ns);
        let pods: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let services: Vec<&Service> = services.iter().map(|s| s.as_ref()).collect();
        let claims: Vec<&PersistentVolumeClaim> = claims.iter().map(|c| c.as_ref()).collect();
        let namespace = usage::Namespace { pods: &pods, services: &services, claims: &claims, counts: &counts };
        let used = usage::usage(&hard, &namespace);
        let status = quota.status.clone().unwrap_or_default();
        if status.hard.as_ref() == Some(&hard) && status.used.as_ref() == Some(&used) {
            return Ok(Outcome::Done);
        }
        let api: Api<ResourceQuota> = Api::namespaced(self.ctx.client.clone(), &ns);
        // The whole maps replace the old ones (a merge patch would keep removed keys).
        let patch = serde_json::json!({"status": {"hard": null, "used": null}});
        let name = quota.metadata.name.as_deref().unwrap_or("");
        let pp = crate::runtime::patch_params();
        if status.hard.as_ref().is_some_and(|h| h.keys().any(|k| !hard.contains_key(k))) {
            ignore_gone(api.patch_status(name, &pp, &Patch::Merge(&patch)).await)?;
        }
        let patch = serde_json::json!({"status": {"hard": hard, "used": used}});
        ignore_gone(api.patch_status(name, &pp, &Patch::Merge(&patch)).await)?;
        Ok(Outcome::Done)
    }
}
