//! The Endpoints controller: for every Service with a selector, an Endpoints
//! object of the same name listing the selected pods' addresses (ready and not
//! ready) per port. Services without a selector are left alone: their
//! Endpoints belong to the user, or to the API server for `kubernetes`.

pub mod address;
pub mod reconcile;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{DeleteParams, PostParams};
use kube::Api;

use crate::replicaset::ignore_gone;
use crate::runtime::{
    key, key_of, object_ref, split_key, Change, Context, Controller, Informer, Outcome, Recorder, Registration,
    SyncError, WorkQueue,
};
use reconcile::{reconcile, Action};

pub const ENDPOINTS: Registration =
    Registration { name: "endpoints", workers: 5, build: |ctx, q| Arc::new(EndpointsController::new(ctx, q)) };

pub struct EndpointsController {
    ctx: Context,
    services: Informer<Service>,
    pods: Informer<Pod>,
    endpoints: Informer<Endpoints>,
    recorder: Recorder,
}

/// Queues every Service in the pod's namespace whose selector matches it (old
/// or new labels), so both the Service it joined and the one it left sync.
pub(crate) fn on_pod_change(services: &Informer<Service>, queue: &WorkQueue<String>, change: &Change<Pod>) {
    let pods: Vec<&Pod> = match change {
        Change::Added(p) | Change::Deleted(p) => vec![p.as_ref()],
        Change::Updated { old, new } => vec![old.as_ref(), new.as_ref()],
    };
    let ns = pods[0].metadata.namespace.as_deref().unwrap_or("");
    for svc in services.list_namespace(ns) {
        if !address::selected(&svc, &pods).is_empty() {
            queue.add(key_of(svc.as_ref()));
        }
    }
}

impl EndpointsController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> EndpointsController {
        let services = ctx.informers.informer::<Service>();
        let pods = ctx.informers.informer::<Pod>();
        let endpoints = ctx.informers.informer::<Endpoints>();
        {
            let queue = queue.clone();
            services.on_change(move |change| queue.add(key_of(change.object().as_ref())));
        }
        {
            let (queue, services) = (queue.clone(), services.clone());
            pods.on_change(move |change| on_pod_change(&services, &queue, change));
        }
        {
            // Someone else changed or deleted them: put them back.
            let queue = queue.clone();
            endpoints.on_change(move |change| queue.add(key_of(change.object().as_ref())));
        }
        let recorder = ctx.recorder.with_component("endpoint-controller");
        EndpointsController { ctx: ctx.clone(), services, pods, endpoints, recorder }
    }
}

#[async_trait::async_trait]
impl Controller for EndpointsController {
    async fn sync(&self, k: &str) -> Result<Outcome, SyncError> {
        let (ns, name) = split_key(k);
        let api: Api<Endpoints> = Api::namespaced(self.ctx.client.clone(), ns);
        let existing = self.endpoints.get_key(k);
        let Some(svc) = self.services.get_key(k) else {
            // The Service is gone: so are its Endpoints (as upstream).
            if existing.is_some() {
                ignore_gone(api.delete(name, &DeleteParams::default()).await)?;
            }
            return Ok(Outcome::Done);
        };
        let pods = self.pods.list_namespace(ns);
        let pods: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let result = match reconcile(&svc, &pods, existing.as_deref()) {
            None => return Ok(Outcome::Done),
            Some(Action::Create(e)) => api.create(&PostParams::default(), &e).await.map(|_| ()),
            // A replace at the resourceVersion read: a conflict means the
            // informer is behind, and the retry reads the newer object.
            Some(Action::Update(e)) => api.replace(name, &PostParams::default(), &e).await.map(|_| ()),
        };
        match result {
            Ok(()) => Ok(Outcome::Done),
            // Created meanwhile (informer behind): the retry updates it.
            Err(e) => {
                if !matches!(&e, kube::Error::Api(s) if s.code == 409 || s.code == 404) {
                    let reason = if existing.is_some() { "FailedToUpdateEndpoint" } else { "FailedToCreateEndpoint" };
                    self.recorder.warning(
                        object_ref(svc.as_ref()),
                        reason,
                        format!("Failed to write endpoint {}: {e}", key(Some(ns), name)),
                    );
                }
                Err(e.into())
            }
        }
    }
}
