//! The EndpointSlice controller: for every Service with a selector,
//! `discovery.k8s.io/v1` EndpointSlices listing the selected pods with their
//! `ready` / `serving` / `terminating` conditions, at most 100 per slice,
//! labelled `kubernetes.io/service-name` and managed-by
//! `endpointslice-controller.k8s.io`, owned by the Service.

pub mod reconcile;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, PostParams};
use kube::Api;

use crate::endpoints::on_pod_change;
use crate::replicaset::{ignore_gone, is_gone};
use crate::runtime::{
    key, key_of, object_ref, split_key, Change, Context, Controller, Expectations, Informer, Outcome, Recorder,
    Registration, SyncError, WorkQueue,
};
use reconcile::{reconcile, CONTROLLER_NAME, MANAGED_BY, SERVICE_NAME};

pub const ENDPOINTSLICE: Registration =
    Registration { name: "endpointslice", workers: 5, build: |ctx, q| Arc::new(EndpointSliceController::new(ctx, q)) };

pub struct EndpointSliceController {
    ctx: Context,
    services: Informer<Service>,
    pods: Informer<Pod>,
    slices: Informer<EndpointSlice>,
    expectations: Expectations,
    recorder: Recorder,
}

/// The key of the Service a slice we manage belongs to.
fn service_key(slice: &EndpointSlice) -> Option<String> {
    let labels = slice.metadata.labels.as_ref()?;
    if labels.get(MANAGED_BY).map(String::as_str) != Some(CONTROLLER_NAME) {
        return None;
    }
    Some(key(slice.metadata.namespace.as_deref(), labels.get(SERVICE_NAME)?))
}

impl EndpointSliceController {
    pub fn new(ctx: &Context, queue: WorkQueue<String>) -> EndpointSliceController {
        let services = ctx.informers.informer::<Service>();
        let pods = ctx.informers.informer::<Pod>();
        let slices = ctx.informers.informer::<EndpointSlice>();
        let expectations = Expectations::new();
        {
            let (queue, expectations) = (queue.clone(), expectations.clone());
            services.on_change(move |change| {
                let k = key_of(change.object().as_ref());
                if let Change::Deleted(_) = change {
                    expectations.delete(&k);
                }
                queue.add(k);
            });
        }
        {
            let (queue, services) = (queue.clone(), services.clone());
            pods.on_change(move |change| on_pod_change(&services, &queue, change));
        }
        {
            let (queue, expectations) = (queue.clone(), expectations.clone());
            slices.on_change(move |change| {
                let Some(k) = service_key(change.object()) else { return };
                match change {
                    Change::Added(_) => expectations.creation_observed(&k),
                    Change::Deleted(s) => expectations.deletion_observed(&k, s.metadata.uid.as_deref().unwrap_or("")),
                    Change::Updated { .. } => {}
                }
                queue.add(k);
            });
        }
        let recorder = ctx.recorder.with_component("endpoint-slice-controller");
        EndpointSliceController { ctx: ctx.clone(), services, pods, slices, expectations, recorder }
    }
}

#[async_trait::async_trait]
impl Controller for EndpointSliceController {
    async fn sync(&self, k: &str) -> Result<Outcome, SyncError> {
        let (ns, name) = split_key(k);
        let Some(svc) = self.services.get_key(k) else {
            // Its slices are owned by it: the garbage collector removes them.
            self.expectations.delete(k);
            return Ok(Outcome::Done);
        };
        // Our own creates and deletes not seen yet: a sync now would make them
        // again. Their arrival queues the Service.
        if !self.expectations.satisfied(k) {
            return Ok(Outcome::Done);
        }
        let pods = self.pods.list_namespace(ns);
        let pods: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
        let slices = self.slices.list_namespace(ns);
        let slice_refs: Vec<&EndpointSlice> = slices.iter().map(|s| s.as_ref()).collect();
        let plan = reconcile(&svc, &pods, &slice_refs);
        if plan.is_empty() {
            return Ok(Outcome::Done);
        }
        let api: Api<EndpointSlice> = Api::namespaced(self.ctx.client.clone(), ns);
        let delete_uids = plan
            .delete
            .iter()
            .filter_map(|n| slices.iter().find(|s| s.metadata.name.as_deref() == Some(n)))
            .filter_map(|s| s.metadata.uid.clone());
        self.expectations.expect(k, plan.create.len(), delete_uids);
        let mut first_error: Option<kube::Error> = None;
        let post = PostParams::default();
        for slice in &plan.create {
            if let Err(e) = api.create(&post, slice).await {
                self.expectations.creation_observed(k);
                first_error.get_or_insert(e);
            }
        }
        for slice in &plan.update {
            let slice_name = slice.metadata.name.clone().unwrap_or_default();
            if let Err(e) = ignore_gone(api.replace(&slice_name, &post, slice).await) {
                first_error.get_or_insert(e);
            }
        }
        for n in &plan.delete {
            if let Err(e) = api.delete(n, &DeleteParams::default()).await {
                if let Some(uid) =
                    slices.iter().find(|s| s.metadata.name.as_deref() == Some(n)).and_then(|s| s.metadata.uid.clone())
                {
                    self.expectations.deletion_observed(k, &uid);
                }
                if !is_gone(&e) {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(Outcome::Done),
            Some(e) => {
                if !matches!(&e, kube::Error::Api(s) if s.code == 409) {
                    self.recorder.warning(
                        object_ref(svc.as_ref()),
                        "FailedToUpdateEndpointSlices",
                        format!("Error updating Endpoint Slices for Service {ns}/{name}: {e}"),
                    );
                }
                Err(e.into())
            }
        }
    }
}
